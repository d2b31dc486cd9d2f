import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, unauthorized } from '../core/errors.js';
import type { KeyRateLimiter, RateDecision } from '../billing/rate-limit.js';
import { formatReset } from '../billing/rate-limit.js';
import type { ApiKey, KeyStore } from '../store/keys.js';
import { routeOf } from './types.js';

/** The bearer token of a request (Authorization: Bearer …, or the api-key header Azure clients send). */
export function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    return m ? m[1]!.trim() : undefined;
  }
  const apiKey = req.headers['api-key'];
  return typeof apiKey === 'string' && apiKey ? apiKey.trim() : undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether a presented token is the expected secret (admin token, metrics token), in constant time. */
export function sameToken(token: string | undefined, expected: string | undefined): boolean {
  return !!token && !!expected && timingSafeEqual(digest(token), digest(expected));
}

export interface AccessOptions {
  keys: KeyStore;
  adminToken: string | undefined;
  limiter: KeyRateLimiter;
  defaultRpm: number;
  now: () => number;
  /** Resolves a stream token to its key on routes with `config.streamToken` (undefined: not one). */
  streamAuth?: (token: string, req: FastifyRequest) => Promise<ApiKey | undefined> | undefined;
}

function queryToken(req: FastifyRequest): string | undefined {
  const value = (req.query as Record<string, unknown> | undefined)?.access_token;
  return typeof value === 'string' && value ? value : undefined;
}

/**
 * One hook in front of every route (synchronous unless the rate limit is kept in Redis: it runs on
 * every request):
 * - echoes the request id as x-request-id;
 * - routes not marked public need a valid, unrevoked API key, admin routes the admin token;
 * - requests per minute per key (the key's own limit, else the operator default): a 429 with
 *   Retry-After and OpenAI's x-ratelimit-* headers, which creates also carry.
 */
export function registerAccess(app: FastifyInstance, o: AccessOptions): void {
  app.decorateRequest('apiKey', null as never);
  app.decorateRequest('routeInfo', null);
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    let pending: Promise<void> | undefined;
    try {
      pending = authorize(req, reply, o);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (pending) pending.then(() => done(), (err: Error) => done(err));
    else done();
  });
}

/** Throws when refused; a promise only when the rate limit answers asynchronously (shared in Redis). */
function authorize(req: FastifyRequest, reply: FastifyReply, o: AccessOptions): Promise<void> | undefined {
  const route = routeOf(req);
  const config = route.config;
  if (config?.public || !route.url) return undefined;
  // Event-stream routes also take a short-lived stream token, in the header or as ?access_token=.
  const streamAuth = config?.streamToken ? o.streamAuth : undefined;
  const token = bearerToken(req) ?? (streamAuth ? queryToken(req) : undefined);
  if (config?.admin) {
    if (!o.adminToken) {
      throw new ApiError({ status: 403, type: 'permission_error', code: 'admin_disabled', message: 'The admin API is disabled: the operator has not set VIDGATE_ADMIN_TOKEN.' });
    }
    if (!sameToken(token, o.adminToken)) throw unauthorized('This route needs the admin token (Authorization: Bearer VIDGATE_ADMIN_TOKEN).');
    return undefined;
  }
  if (!token) {
    throw unauthorized(
      "You didn't provide an API key. Provide your vidgate API key in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).",
    );
  }
  // A key already in memory is checked without a promise; others are read from the database.
  const cached = o.keys.cached(token);
  if (cached) return admit(req, reply, o, cached);
  const lookup = streamAuth?.(token, req) ?? o.keys.authenticate(token);
  return lookup.then((key) => {
    if (!key) {
      const shown = token.length > 12 ? `${token.slice(0, 8)}…${token.slice(-4)}` : '***';
      throw unauthorized(`Incorrect API key provided: ${shown}. Create a key with \`npx vidgate key create\` or ask the operator of this gateway.`);
    }
    return admit(req, reply, o, key);
  });
}

/** The key is valid: take its rate limit. */
function admit(req: FastifyRequest, reply: FastifyReply, o: AccessOptions, key: ApiKey): Promise<void> | undefined {
  req.apiKey = key;
  const d = o.limiter.take(key.id, key.rpmLimit ?? o.defaultRpm, o.now());
  if (d instanceof Promise) return d.then((x) => limited(req, reply, x));
  limited(req, reply, d);
  return undefined;
}

function limited(req: FastifyRequest, reply: FastifyReply, d: RateDecision): void {
  if (req.method === 'POST' || !d.ok) {
    reply.headers({
      'x-ratelimit-limit-requests': String(d.limit),
      'x-ratelimit-remaining-requests': String(d.remaining),
      'x-ratelimit-reset-requests': formatReset(d.resetMs),
    });
  }
  if (!d.ok) {
    throw new ApiError({
      status: 429,
      type: 'rate_limit_error',
      code: 'rate_limit_exceeded',
      message: `Rate limit reached: this key may make ${d.limit} requests per minute. Try again in ${formatReset(d.retryAfterMs)}.`,
      headers: { 'retry-after': String(Math.ceil(d.retryAfterMs / 1000)), 'retry-after-ms': String(d.retryAfterMs) },
    });
  }
}
