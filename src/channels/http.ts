import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { randomBytes } from 'node:crypto';
import type { FormPart, UpstreamErrorDetail, UpstreamHttp, UpstreamRequest, UpstreamResponse } from '../providers/types.js';
import { UpstreamError } from '../providers/types.js';
import { asRecord, str } from '../providers/parse.js';
import type { Telemetry } from '../ops/telemetry.js';

/**
 * The HTTP client a channel's adapter talks through. The base URL is the operator's, so it is
 * trusted (no address policy); credentials come from the channel and go only to this origin.
 *
 * Errors are classified for the routing rules:
 * - the connection could not be made (refused, DNS, TLS, connect timeout) → `unreachable`, the
 *   request certainly did not reach the provider;
 * - anything after the request left (reset, timeout, a body cut short) → `unknown-outcome`;
 * - a non-2xx answer → `http` with the provider's code, message and Retry-After parsed out;
 * - a 2xx that is not JSON → `malformed`.
 * Submits use a fresh connection each (no keep-alive): a pooled socket the server already closed
 * would otherwise turn a harmless retry situation into an "outcome unknown".
 */
export interface HttpLimits {
  connectTimeoutMs: number;
  /** Status, probe: whole request. */
  requestTimeoutMs: number;
  /** Submit: whole request (uploads included). */
  submitTimeoutMs: number;
}

const MAX_JSON_BYTES = 4 * 1024 * 1024;

const CERTAIN_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EAI_NODATA',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 6; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

/** Transport failure → UpstreamError. */
export function classifyTransport(err: unknown, timedOut: boolean): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const codes = errorCodes(err);
  if (!timedOut && codes.some((c) => CERTAIN_CODES.has(c) || TLS_CODE.test(c))) {
    const what = codes.find((c) => CERTAIN_CODES.has(c) || TLS_CODE.test(c));
    return new UpstreamError('unreachable', `could not connect to the upstream (${what})`);
  }
  if (timedOut || codes.includes('UND_ERR_HEADERS_TIMEOUT') || codes.includes('UND_ERR_BODY_TIMEOUT')) {
    return new UpstreamError('unknown-outcome', 'the upstream did not answer in time');
  }
  return new UpstreamError('unknown-outcome', `the connection to the upstream failed (${codes[0] ?? 'closed'})`);
}

/** Retry-After (seconds or an HTTP date) or retry-after-ms, in ms, capped at an hour. */
export function retryAfterMs(headers: Record<string, string>, now = Date.now()): number | undefined {
  const ms = Number(headers['retry-after-ms']);
  if (headers['retry-after-ms'] !== undefined && Number.isFinite(ms) && ms >= 0) return Math.min(ms, 3_600_000);
  const ra = headers['retry-after'];
  if (ra === undefined) return undefined;
  const secs = Number(ra);
  if (ra.trim() !== '' && Number.isFinite(secs)) return Math.min(Math.max(0, secs * 1000), 3_600_000);
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.min(Math.max(0, date - now), 3_600_000);
}

/** The provider's reason out of whatever envelope it uses. */
export function parseErrorBody(text: string, contentType: string): Pick<UpstreamErrorDetail, 'code' | 'type' | 'param' | 'upstreamMessage'> {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[') || /json/i.test(contentType)) {
    try {
      const j = JSON.parse(trimmed) as unknown;
      const root = asRecord(j) ?? {};
      const e = asRecord(root.error);
      const detail = root.detail;
      const detailMsg = Array.isArray(detail)
        ? detail.map((d) => str(asRecord(d)?.msg)).filter(Boolean).join('; ')
        : str(detail);
      // OAuth token endpoints answer {error, error_description}; Google's envelope names its status word in error.status.
      const oauth = typeof root.error === 'string' && str(root.error_description) ? `${root.error}: ${str(root.error_description)}` : undefined;
      return {
        code: str(e?.code) ?? str(root.code) ?? str(root.error_code) ?? str(root.ErrCode),
        type: str(e?.type) ?? (typeof e?.status === 'string' ? e.status : undefined) ?? str(root.type) ?? str(root.error_type) ?? str(root.reason),
        param: str(e?.param) ?? str(root.param),
        upstreamMessage: str(e?.message) ?? oauth ?? str(root.error) ?? str(root.message) ?? str(root.msg) ?? str(root.ErrMsg) ?? detailMsg ?? undefined,
      };
    } catch {
      // fall through: not JSON after all
    }
  }
  if (/<html|<!doctype html/i.test(trimmed)) {
    const title = /<title>([^<]{1,120})<\/title>/i.exec(trimmed)?.[1]?.trim();
    return { upstreamMessage: `an HTML error page${title ? ` ("${title}")` : ''}` };
  }
  if (trimmed.startsWith('<?xml') || trimmed.startsWith('<Error')) {
    const code = /<Code>([^<]{1,80})<\/Code>/.exec(trimmed)?.[1];
    const message = /<Message>([^<]{1,300})<\/Message>/.exec(trimmed)?.[1];
    return { code, upstreamMessage: message ?? 'an XML error document' };
  }
  return trimmed ? { upstreamMessage: trimmed.slice(0, 300) } : {};
}

/** An adapter's own reading of an error body (JSON only; a reader that throws is ignored). */
function adapterReading(read: NonNullable<UpstreamRequest['readError']>, text: string, status: number): Partial<UpstreamErrorDetail> {
  try {
    const out = read(JSON.parse(text) as unknown, status) ?? {};
    return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
  } catch {
    return {};
  }
}

/** multipart/form-data, RFC 7578. Names and file names are quoted with " and line breaks escaped. */
export function encodeMultipart(parts: FormPart[]): { body: Buffer; contentType: string } {
  const boundary = `----vidgate${randomBytes(12).toString('hex')}`;
  const q = (s: string) => s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${q(p.name)}"`;
    if ('data' in p) head += `; filename="${q(p.filename)}"\r\nContent-Type: ${p.contentType}`;
    chunks.push(Buffer.from(`${head}\r\n\r\n`), 'data' in p ? p.data : Buffer.from(p.value, 'utf8'), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export function headerMap(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

async function readLimited(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > max) {
      body.destroy();
      throw new UpstreamError('malformed', `the answer is larger than ${max} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** How an upstream call ended, as a metrics label: ok, http_4xx, http_5xx, unreachable, unknown_outcome, malformed. */
export function upstreamOutcome(err: unknown): string {
  if (!(err instanceof UpstreamError)) return 'error';
  if (err.kind === 'http') return `http_${Math.floor((err.detail.status ?? 0) / 100)}xx`;
  return err.kind.replace('-', '_');
}

/** Whose calls these are, for metrics and traces. */
export interface ChannelIdentity {
  channel: string;
  provider: string;
  telemetry: Telemetry;
}

/** What a channel's client needs besides its base URL. */
export interface ChannelHttpDeps {
  /** The adapter's authentication headers (may mint or exchange a token). */
  auth(): Promise<Record<string, string>>;
  /** The upstream answered 401: forget cached tokens; true when there were some (a retry may work). */
  unauthorized(): boolean;
  /** Keep-alive connections to the channel's origin. */
  pooled: Dispatcher;
  /** One-shot connections to the channel's origin (submits). */
  fresh: Dispatcher;
  /** Other origins the upstream named, under the outbound address policy. */
  guarded: Dispatcher;
  /** Other origins from the operator's configuration (`trusted`), e.g. a token endpoint. */
  direct: Dispatcher;
}

export class ChannelHttp implements UpstreamHttp {
  readonly origin: string;

  constructor(
    readonly baseUrl: string,
    private readonly deps: ChannelHttpDeps,
    private readonly limits: HttpLimits,
    private readonly who?: ChannelIdentity,
  ) {
    this.origin = new URL(baseUrl).origin;
  }

  /** Every call of every adapter passes here: timed by channel, purpose and outcome, and traced. */
  send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const who = this.who;
    if (!who?.telemetry.metrics && !who?.telemetry.tracing) return this.exchange(req);
    const { metrics, tracing } = who.telemetry;
    const timed = async () => {
      const started = performance.now();
      try {
        const res = await this.exchange(req);
        metrics?.upstreamRequest(who.channel, who.provider, req.purpose, 'ok', performance.now() - started);
        return res;
      } catch (err) {
        metrics?.upstreamRequest(who.channel, who.provider, req.purpose, upstreamOutcome(err), performance.now() - started);
        throw err;
      }
    };
    return tracing ? tracing.upstream({ channel: who.channel, provider: who.provider, purpose: req.purpose, method: req.method }, timed) : timed();
  }

  private async exchange(req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      return await this.once(req);
    } catch (err) {
      // A token the upstream no longer accepts (expired early, revoked, clock skew): mint a new one, once.
      if (err instanceof UpstreamError && err.kind === 'http' && err.detail.status === 401 && req.auth !== false && this.deps.unauthorized()) {
        return this.once(req);
      }
      throw err;
    }
  }

  private async credentials(): Promise<Record<string, string>> {
    try {
      return await this.deps.auth();
    } catch (err) {
      // Authentication happens before anything is sent: whatever went wrong, the request did not leave.
      const e = err instanceof UpstreamError ? err : undefined;
      const status = e?.kind === 'http' ? e.detail.status : undefined;
      throw new UpstreamError(status ? 'http' : 'unreachable', `could not authenticate to the upstream (${e?.message ?? (err as Error).message})`, {
        ...(e?.detail ?? {}),
        ...(status === 400 || status === 401 || status === 403 ? { kind: 'auth' as const, status: 401 } : {}),
      });
    }
  }

  private async once(req: UpstreamRequest): Promise<UpstreamResponse> {
    const url = new URL(req.url ?? this.baseUrl + (req.path ?? ''));
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const own = url.origin === this.origin;
    const long = req.purpose === 'submit' || req.purpose === 'upload';
    const timeoutMs = long ? this.limits.submitTimeoutMs : this.limits.requestTimeoutMs;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'vidgate',
      ...(own && req.auth !== false ? await this.credentials() : {}),
      ...(req.headers ?? {}),
    };
    let body: string | Buffer | undefined;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['content-type'] = 'application/json';
    } else if (req.form) {
      const encoded = encodeMultipart(req.form);
      body = encoded.body;
      headers['content-type'] = encoded.contentType;
    } else if (req.urlencoded) {
      body = new URLSearchParams(req.urlencoded).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const dispatcher = !own ? (req.trusted ? this.deps.direct : this.deps.guarded) : req.purpose === 'submit' ? this.deps.fresh : this.deps.pooled;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const abandon = () => controller.abort();
    req.signal?.addEventListener('abort', abandon, { once: true });
    let status: number;
    let resHeaders: Record<string, string>;
    let text: string;
    try {
      const res = await request(url, {
        method: req.method,
        headers,
        body,
        dispatcher,
        signal: controller.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = res.statusCode;
      resHeaders = headerMap(res.headers);
      text = await readLimited(res.body, req.maxBytes ?? MAX_JSON_BYTES);
    } catch (err) {
      const e = classifyTransport(err, timedOut);
      // Only the submit itself can have made a job; an upload or a read that failed made none.
      if (req.purpose !== 'submit' && e.kind === 'unknown-outcome') throw new UpstreamError('unreachable', e.message, e.detail);
      throw e;
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', abandon);
    }
    if (status < 200 || status > 299) {
      const parsed = { ...parseErrorBody(text, resHeaders['content-type'] ?? ''), ...(req.readError ? adapterReading(req.readError, text, status) : {}) };
      throw new UpstreamError('http', `the upstream answered HTTP ${status}`, { status, retryAfterMs: retryAfterMs(resHeaders), ...parsed });
    }
    if (text.trim() === '') return { status, headers: resHeaders, body: undefined };
    try {
      return { status, headers: resHeaders, body: JSON.parse(text) as unknown };
    } catch {
      throw new UpstreamError('malformed', `the upstream answered HTTP ${status} with a body that is not JSON`, { status, ...parseErrorBody(text, '') });
    }
  }
}

/** The two dispatchers of a channel: pooled keep-alive connections, and one-shot connections for submits. */
export function channelDispatchers(connections: number | null, connectTimeoutMs: number): { pooled: Agent; fresh: Agent } {
  return {
    pooled: new Agent({ connect: { timeout: connectTimeoutMs }, connections: connections ?? 64, keepAliveTimeout: 4_000 }),
    fresh: new Agent({ connect: { timeout: connectTimeoutMs }, pipelining: 0 }),
  };
}
