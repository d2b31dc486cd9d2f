import { open } from 'node:fs/promises';
import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { checkUrl } from '../net/ssrf.js';
import type { NetPolicy } from '../net/ssrf.js';
import { headerMap, retryAfterMs } from './http.js';

/**
 * Copies an upstream result into a local file.
 *
 * - Credentials go only to the channel's own origin (and to an origin the adapter names, e.g. an
 *   object store read with the channel's token); a result URL on any other host (a CDN, a
 *   presigned bucket) is fetched without them and under the gateway's outbound address policy
 *   (VIDGATE_ALLOW_HOSTS / VIDGATE_ALLOW_CIDRS), because the upstream chose that URL, not the
 *   operator. Redirects are followed by hand and re-checked hop by hop.
 * - Size: a declared Content-Length over the cap fails at once; a body growing past it is cut.
 * - Time: no fixed whole-download timeout (new-api's 60 s cut off large files). A stalled body
 *   fails after `idleTimeoutMs`; the whole transfer may take `baseTimeoutMs` plus the size at
 *   `minBytesPerSecond`.
 * - A transfer that breaks off is resumed with Range (If-Range on the validator) when the server
 *   allows, else restarted; a body shorter than its Content-Length never counts as done.
 */
export interface DownloadTarget {
  channelOrigin: string;
  channelDispatcher: Dispatcher;
  authHeaders: () => Promise<Record<string, string>>;
  guarded: Dispatcher;
  net: NetPolicy;
  /** Also send the credentials to the URL's own origin (an object store the adapter addresses with the channel's token). */
  credentialsFor?: string;
}

export interface DownloadLimits {
  maxBytes: number;
  idleTimeoutMs: number;
  baseTimeoutMs: number;
  minBytesPerSecond: number;
  /** Tries within one call (resumptions included), this many ms apart (growing). */
  attempts: number;
  retryDelayMs: number;
}

export type DownloadErrorKind = 'gone' | 'too_large' | 'refused' | 'transient';

export class DownloadError extends Error {
  constructor(
    readonly kind: DownloadErrorKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

interface Opened {
  status: number;
  headers: Record<string, string>;
  body: Dispatcher.ResponseData['body'];
}

async function openUrl(url: string, extra: Record<string, string>, t: DownloadTarget, limits: DownloadLimits, signal: AbortSignal): Promise<Opened> {
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const own = current.origin === t.channelOrigin;
    const authorised = own || current.origin === t.credentialsFor;
    if (!own) {
      const refusal = checkUrl(current, t.net);
      if (refusal) throw new DownloadError('refused', `the result URL is not allowed by the outbound address policy (${refusal})`);
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(current, {
        method: 'GET',
        dispatcher: own ? t.channelDispatcher : t.guarded,
        headers: { accept: '*/*', 'accept-encoding': 'identity', 'user-agent': 'vidgate', ...(authorised ? await t.authHeaders() : {}), ...extra },
        signal,
        headersTimeout: limits.idleTimeoutMs,
        bodyTimeout: limits.idleTimeoutMs,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      const blocked = (err as { code?: string; cause?: { code?: string } }).cause?.code === 'ERR_VIDGATE_ADDRESS_BLOCKED' || (err as { code?: string }).code === 'ERR_VIDGATE_ADDRESS_BLOCKED';
      if (blocked) throw new DownloadError('refused', 'the result URL points to an address the outbound policy refuses');
      throw new DownloadError('transient', `the download connection failed (${(err as { code?: string }).code ?? 'error'})`);
    }
    const headers = headerMap(res.headers);
    if (REDIRECTS.has(res.statusCode)) {
      discard(res.body);
      if (hop >= MAX_REDIRECTS || !headers.location) throw new DownloadError('transient', `too many or broken redirects (HTTP ${res.statusCode})`);
      current = new URL(headers.location, current);
      continue;
    }
    return { status: res.statusCode, headers, body: res.body };
  }
}

/** Download `url` into `file`; returns the byte count and the server's content type. */
export async function download(url: string, file: string, t: DownloadTarget, limits: DownloadLimits, signal: AbortSignal): Promise<{ bytes: number; contentType: string | null }> {
  let have = 0;
  let validator: string | undefined;
  let contentType: string | null = null;
  let last: DownloadError | undefined;
  const fh = await open(file, 'w');
  try {
    for (let attempt = 0; attempt < limits.attempts; attempt++) {
      const controller = new AbortController();
      const onAbort = () => controller.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      let timer: NodeJS.Timeout | undefined;
      const arm = (bytes: number) => {
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(new DownloadError('transient', 'the download took too long')), limits.baseTimeoutMs + (bytes * 1000) / limits.minBytesPerSecond);
      };
      arm(limits.maxBytes);
      try {
        const resume = have > 0 ? { range: `bytes=${have}-`, ...(validator ? { 'if-range': validator } : {}) } : {};
        const res = await openUrl(url, resume, t, limits, controller.signal);
        let total: number | undefined;
        if (res.status === 206 && have > 0) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
          if (!m || Number(m[1]) !== have) {
            discard(res.body);
            have = 0;
            await fh.truncate(0);
            throw new DownloadError('transient', 'the server answered a resumption with another range');
          }
          total = m[3] === '*' ? undefined : Number(m[3]);
        } else if (res.status >= 200 && res.status < 300) {
          if (have > 0) {
            have = 0;
            await fh.truncate(0);
          }
          const declared = Number(res.headers['content-length']);
          total = res.headers['content-length'] !== undefined && Number.isFinite(declared) ? declared : undefined;
          validator = res.headers.etag && !res.headers.etag.startsWith('W/') ? res.headers.etag : res.headers['last-modified'];
          contentType = res.headers['content-type'] ?? null;
        } else {
          discard(res.body);
          const s = res.status;
          if (s === 404 || s === 403 || s === 410) throw new DownloadError('gone', `the result is not available (HTTP ${s})`, s);
          if (s === 416) {
            have = 0;
            await fh.truncate(0);
          }
          throw new DownloadError('transient', `the result server answered HTTP ${s}`, s, retryAfterMs(res.headers));
        }
        if (total !== undefined && total > limits.maxBytes) {
          discard(res.body);
          throw new DownloadError('too_large', `the video is ${total} bytes, over the ${limits.maxBytes}-byte limit`);
        }
        arm(total ?? limits.maxBytes);
        try {
          for await (const chunk of res.body) {
            const buf = chunk as Buffer;
            if (have + buf.length > limits.maxBytes) {
              discard(res.body);
              throw new DownloadError('too_large', `the video is larger than the ${limits.maxBytes}-byte limit`);
            }
            await fh.write(buf, 0, buf.length, have);
            have += buf.length;
          }
        } catch (err) {
          if (err instanceof DownloadError) throw err;
          if (signal.aborted) throw err;
          const reason = controller.signal.reason;
          throw reason instanceof DownloadError ? reason : new DownloadError('transient', 'the download broke off');
        }
        if (total !== undefined && have !== total) throw new DownloadError('transient', `the download ended after ${have} of ${total} bytes`);
        await fh.truncate(have);
        return { bytes: have, contentType };
      } catch (e) {
        if (signal.aborted) throw e;
        let err: DownloadError;
        if (e instanceof DownloadError) err = e;
        else {
          const reason: unknown = controller.signal.reason;
          err = reason instanceof DownloadError ? reason : new DownloadError('transient', `the download failed (${(e as Error).message})`);
        }
        // Permanent problems, and waits longer than a moment, go back to the caller.
        if (err.kind !== 'transient' || (err.retryAfterMs ?? 0) > 2_000) throw err;
        last = err;
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      }
      await new Promise((r) => setTimeout(r, Math.min(2_000, limits.retryDelayMs * (attempt + 1) + (last?.retryAfterMs ?? 0))));
    }
    throw last ?? new DownloadError('transient', 'the download failed');
  } finally {
    await fh.close();
  }
}
