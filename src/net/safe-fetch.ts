/**
 * Downloads a user-supplied URL (e.g. a reference image) safely: http(s) only, every hop's host
 * and resolved addresses checked (see ssrf.ts), at most `maxRedirects` redirects, connect and
 * total timeouts, and the body streamed and cut at `maxBytes`. Failures are 400 ApiErrors whose
 * messages explain the problem in user terms and never reveal addresses or internal names.
 */
import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { ApiError, invalid } from '../core/errors.js';
import { IMAGE_MIME, sniffImageFormat } from '../media/reference-image.js';
import { checkUrl, findBlockedError, guardedAgent } from './ssrf.js';
import type { NetPolicy, Resolver, UrlRefusal } from './ssrf.js';

export interface FetchLimits {
  maxBytes: number;
  /** DNS resolution plus TCP/TLS connection, per hop. */
  connectTimeoutMs: number;
  /** Everything, redirects and body included. */
  totalTimeoutMs: number;
  maxRedirects: number;
}

export interface FetchOptions {
  /** DNS resolver for the default guarded agent (tests inject one). */
  resolver?: Resolver;
  /**
   * Dispatcher to use instead of a fresh guarded agent. It must itself be a
   * {@link guardedAgent}; URL-level checks are still applied to every hop.
   */
  agent?: Dispatcher;
  userAgent?: string;
}

export interface FetchedBytes {
  bytes: Buffer;
  finalUrl: string;
  /** The server's Content-Type header, for information only: never trust it. */
  headerContentType: string | null;
  /** MIME type sniffed from the bytes (JPEG, PNG, WebP), or null when not a supported image. */
  sniffedType: string | null;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

const notAllowed = (param: string, what: string): ApiError => invalid(param, `${param} ${what}`, 'url_not_allowed');
const failed = (param: string, why: string): ApiError =>
  invalid(param, `${param} could not be downloaded: ${why}`, 'url_fetch_failed');

/** Keeps the internal detail for server logs without making it enumerable (renderers never see it). */
function withCause(err: ApiError, cause: unknown): ApiError {
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false, configurable: true, writable: true });
  return err;
}

function refusalError(param: string, refusal: UrlRefusal, redirected: boolean): ApiError {
  const subject = redirected ? 'was redirected to' : 'points to';
  switch (refusal) {
    case 'scheme':
      return notAllowed(
        param,
        redirected
          ? 'was redirected to a URL that is not http or https, which is not allowed'
          : 'must be an http or https URL',
      );
    case 'credentials':
      return notAllowed(param, `${redirected ? 'was redirected to a URL that contains' : 'must not contain'} a user name or password`);
    case 'invalid':
      return invalid(param, `${param} ${redirected ? 'was redirected to an invalid URL' : 'is not a valid URL'}`, 'invalid_url');
    case 'loopback':
      return notAllowed(param, `${subject} localhost, which is not allowed`);
    case 'metadata':
      return notAllowed(param, `${subject} a cloud metadata service, which is not allowed`);
    default:
      return notAllowed(param, `${subject} a private or reserved network address, which is not allowed`);
  }
}

const MIB = 1024 * 1024;
const describeSize = (n: number): string =>
  n >= MIB ? `${Number.isInteger(n / MIB) ? n / MIB : (n / MIB).toFixed(1)} MB` : `${n} bytes`;

const seconds = (ms: number): string => {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} second${s === 1 ? '' : 's'}`;
};

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

function errorCode(err: unknown): string {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  }
  return '';
}

/** Turns a transport failure into a user-facing error without internal details. */
function transportError(err: unknown, param: string, redirected: boolean, limits: FetchLimits, timedOut: boolean): ApiError {
  if (err instanceof ApiError) return err;
  const blocked = findBlockedError(err);
  if (blocked) return withCause(refusalError(param, blocked.reason, redirected), err);
  if (timedOut) {
    return withCause(
      invalid(param, `${param} could not be downloaded within ${seconds(limits.totalTimeoutMs)}`, 'url_timeout'),
      err,
    );
  }
  const code = errorCode(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return withCause(
      invalid(param, `${param} could not be downloaded: connecting to the server timed out`, 'url_timeout'),
      err,
    );
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return withCause(invalid(param, `${param} could not be downloaded: the server stopped responding`, 'url_timeout'), err);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'EAI_NODATA') {
    return withCause(failed(param, 'the host name could not be resolved'), err);
  }
  if (TLS_CODE.test(code)) return withCause(failed(param, "the server's TLS certificate could not be verified"), err);
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return withCause(failed(param, 'the server could not be reached'), err);
  }
  return withCause(failed(param, 'the connection failed'), err);
}

/** Drops a response body we will not read. Destroying an unread body emits an abort error; ignore it. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | null {
  const v = headers[name];
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}

/**
 * GETs `url` under `policy` and `limits` and returns the body bytes. Each redirect target is
 * re-checked (scheme, credentials, host and, at connect time, addresses).
 */
export async function fetchBytes(
  url: string,
  param: string,
  policy: NetPolicy,
  limits: FetchLimits,
  opts: FetchOptions = {},
): Promise<FetchedBytes> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw invalid(param, `${param} is not a valid URL`, 'invalid_url');
  }
  const owned = opts.agent
    ? null
    : guardedAgent(policy, { connectTimeoutMs: limits.connectTimeoutMs, resolver: opts.resolver });
  const dispatcher: Dispatcher = opts.agent ?? (owned as Dispatcher);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, limits.totalTimeoutMs);

  try {
    for (let redirects = 0; ; redirects++) {
      const redirected = redirects > 0;
      const refusal = checkUrl(current, policy);
      if (refusal) throw refusalError(param, refusal, redirected);

      let res: Dispatcher.ResponseData;
      try {
        res = await request(current, {
          dispatcher,
          method: 'GET',
          signal: controller.signal,
          headersTimeout: limits.totalTimeoutMs,
          bodyTimeout: limits.totalTimeoutMs,
          headers: {
            accept: 'image/jpeg, image/png, image/webp, */*;q=0.5',
            'accept-encoding': 'identity',
            'user-agent': opts.userAgent ?? 'vidgate',
          },
        });
      } catch (err) {
        throw transportError(err, param, redirected, limits, timedOut);
      }

      if (REDIRECT_STATUSES.has(res.statusCode)) {
        discard(res.body);
        const location = headerValue(res.headers, 'location');
        if (!location) throw failed(param, `the server answered ${res.statusCode} without a redirect location`);
        if (redirects >= limits.maxRedirects) {
          throw invalid(
            param,
            `${param} was redirected more than ${limits.maxRedirects} time${limits.maxRedirects === 1 ? '' : 's'}`,
            'url_fetch_failed',
          );
        }
        try {
          current = new URL(location, current);
        } catch {
          throw refusalError(param, 'invalid', true);
        }
        continue;
      }

      if (res.statusCode < 200 || res.statusCode > 299) {
        discard(res.body);
        throw failed(param, `the server answered ${res.statusCode}`);
      }

      const tooLarge = (): ApiError =>
        invalid(
          param,
          `${param} is larger than the ${describeSize(limits.maxBytes)} limit for downloaded files`,
          'url_too_large',
        );
      const declared = Number(headerValue(res.headers, 'content-length') ?? NaN);
      if (Number.isFinite(declared) && declared > limits.maxBytes) {
        discard(res.body);
        throw tooLarge();
      }

      const chunks: Buffer[] = [];
      let total = 0;
      try {
        for await (const chunk of res.body) {
          const buf = chunk as Buffer;
          total += buf.length;
          if (total > limits.maxBytes) {
            discard(res.body);
            throw tooLarge();
          }
          chunks.push(buf);
        }
      } catch (err) {
        throw transportError(err, param, redirected, limits, timedOut);
      }
      const bytes = Buffer.concat(chunks, total);
      const format = sniffImageFormat(bytes);
      return {
        bytes,
        finalUrl: current.href,
        headerContentType: headerValue(res.headers, 'content-type'),
        sniffedType: format ? IMAGE_MIME[format] : null,
      };
    }
  } finally {
    clearTimeout(timer);
    if (owned) void owned.destroy().catch(() => undefined);
  }
}
