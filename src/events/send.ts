import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { checkUrl, findBlockedError } from '../net/ssrf.js';
import type { NetPolicy } from '../net/ssrf.js';

/** Response bytes kept with an attempt (enough to show a receiver's error message). */
export const RESPONSE_EXCERPT_BYTES = 1024;

export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  /** Why the attempt failed, in words safe to show the key's owner (no resolved addresses). */
  error: string | null;
  responseBody: string | null;
  durationMs: number;
  /** Retrying cannot help (refused by the address policy, not an http(s) URL). */
  permanent: boolean;
  /** The receiver asked to wait (Retry-After on 429/503), in ms. */
  retryAfterMs?: number;
}

function errorCode(err: unknown): string {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  }
  return '';
}

function describe(err: unknown, timedOut: boolean, timeoutMs: number): { error: string; permanent: boolean } {
  const blocked = findBlockedError(err);
  if (blocked) {
    const what = blocked.reason === 'loopback' ? 'localhost' : blocked.reason === 'metadata' ? 'a cloud metadata service' : 'a private or reserved network address';
    return { error: `refused: the URL points to ${what} (not allowed by the gateway's network policy)`, permanent: true };
  }
  if (timedOut) return { error: `timed out after ${timeoutMs} ms`, permanent: false };
  const code = errorCode(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return { error: 'connect timeout', permanent: false };
  if (code === 'ECONNREFUSED') return { error: 'connection refused', permanent: false };
  if (code === 'ECONNRESET' || code === 'UND_ERR_CLOSED' || code === 'EPIPE') return { error: 'connection reset by the receiver', permanent: false };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'EAI_NODATA') {
    return { error: 'the host name could not be resolved', permanent: false };
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { error: 'the receiver could not be reached', permanent: false };
  if (/^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code)) {
    return { error: "the receiver's TLS certificate could not be verified", permanent: false };
  }
  return { error: `connection failed${code ? ` (${code})` : ''}`, permanent: false };
}

function retryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Read at most `limit` bytes of a body as text and drop the rest. */
async function excerpt(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      chunks.push(buf);
      total += buf.length;
      if (total >= limit) break;
    }
  } catch {
    // A body cut short still tells us what we got.
  } finally {
    body.on('error', () => undefined);
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/**
 * POST one signed webhook: no redirects followed, through the SSRF-guarded agent, within
 * `timeoutMs` from connect to the end of the (trimmed) response. Never throws.
 */
export async function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: { agent: Dispatcher; policy: NetPolicy; timeoutMs: number; signal?: AbortSignal },
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, statusCode: null, error: 'not a valid URL', responseBody: null, durationMs: 0, permanent: true };
  }
  const refused = checkUrl(parsed, opts.policy);
  if (refused) {
    const what = refused === 'scheme' ? 'not an http or https URL' : refused === 'credentials' ? 'the URL contains credentials' : 'the URL points to an address the gateway may not contact';
    return { ok: false, statusCode: null, error: `refused: ${what}`, responseBody: null, durationMs: 0, permanent: true };
  }
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, opts.timeoutMs);
  const onAbort = () => controller.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await request(parsed, {
      method: 'POST',
      dispatcher: opts.agent,
      signal: controller.signal,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      headers: { 'content-type': 'application/json', 'user-agent': 'vidgate-webhooks/1', ...headers },
      body,
    });
    const text = await excerpt(res.body, RESPONSE_EXCERPT_BYTES);
    const code = res.statusCode;
    if (code >= 200 && code <= 299) return { ok: true, statusCode: code, error: null, responseBody: text, durationMs: elapsed(), permanent: false };
    let error = `the receiver answered HTTP ${code}`;
    if (code >= 300 && code <= 399) {
      const location = res.headers.location;
      error = `the receiver answered HTTP ${code} (redirects are not followed${location ? `; Location: ${String(location).slice(0, 200)}` : ''})`;
    }
    const wait = code === 429 || code === 503 ? retryAfter(res.headers['retry-after']) : undefined;
    return { ok: false, statusCode: code, error, responseBody: text, durationMs: elapsed(), permanent: false, retryAfterMs: wait };
  } catch (err) {
    const d = describe(err, timedOut, opts.timeoutMs);
    return { ok: false, statusCode: null, error: d.error, responseBody: null, durationMs: elapsed(), permanent: d.permanent };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
