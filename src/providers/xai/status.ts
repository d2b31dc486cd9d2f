import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, num, progress, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * Grok Imagine's request words (`GET /v1/videos/{request_id}`, upstreams.md §14): `pending`
 * (queued or generating; `progress` tells which), `done`, `failed`, `expired` (the request was
 * not served in time, or its result is gone). The other words are listed so that a synonym xAI
 * may add is read rightly. Case-insensitive; an unknown word is waiting (flagged).
 */
export const XAI_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  pending: 'waiting',
  queued: 'waiting',
  processing: 'running',
  in_progress: 'running',
  running: 'running',
  done: 'succeeded',
  completed: 'succeeded',
  succeeded: 'succeeded',
  failed: 'failed',
  error: 'failed',
  expired: 'expired',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};

/** `usage.cost_in_usd_ticks`: xAI bills in ticks of 1e-10 USD. */
export const USD_TICKS = 1e10;

const MODERATION = /moderat|content polic|safety|violat|inappropriate|prohibited|nsfw|blocked/i;
const AUTH = /api key|unauthori[sz]ed|forbidden|permission|not have access|no access/i;
const QUOTA = /credits|spending limit|billing|balance|quota|payment/i;
const RATE = /rate limit|too many requests/i;
const TIMEOUT = /time ?out|timed out|deadline/i;
const INVALID = /invalid|not supported|unsupported|must be|argument|too (large|long|small)|exceed/i;

/** What an xAI error (HTTP error or a failed request's `error`) is about, from its code and message. */
export function xaiFailureKind(code: string | undefined, message: string | undefined, status?: number): FailureKind {
  const text = `${code ?? ''} ${message ?? ''}`;
  if (MODERATION.test(text)) return 'moderation';
  if (status === 401 || status === 403 || /incorrect api key|invalid api key/i.test(text)) return QUOTA.test(text) ? 'quota' : 'auth';
  if (status === 402 || QUOTA.test(text)) return 'quota';
  if (status === 429 || RATE.test(text)) return 'rate_limit';
  if (TIMEOUT.test(text)) return 'timeout';
  if (AUTH.test(text)) return 'auth';
  if ((status !== undefined && status >= 400 && status < 500) || INVALID.test(text)) return 'invalid';
  return 'internal';
}

/** One request object of `GET /v1/videos/{request_id}`. */
export function parseXaiVideo(t: Json): UpstreamStatus {
  const video = asRecord(t.video);
  // A body without a status but with a video is done (older answers).
  const raw = str(t.status) ?? (str(video?.url) ? 'done' : '');
  const known = XAI_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const p = progress(t.progress);
  if (p !== undefined) out.progress = p;
  // `pending` covers the queue and the generation: progress says it has started.
  if (out.state === 'waiting' && p !== undefined && p > 0) out.state = 'running';
  const ticks = num(asRecord(t.usage)?.cost_in_usd_ticks);
  if (ticks !== undefined) out.cost = ticks / USD_TICKS;
  if (out.state === 'succeeded' && video?.respect_moderation === false) {
    // Made, but held back by xAI's moderation: there is nothing to deliver.
    out.state = 'failed';
    out.error = { code: 'respect_moderation', message: 'The video was blocked by xAI moderation (respect_moderation: false).', kind: 'moderation' };
    return out;
  }
  if (out.state === 'succeeded') {
    const url = str(video?.url);
    if (url) out.resultUrl = url;
    const seconds = num(video?.duration);
    if (seconds !== undefined && seconds > 0) out.deliveredSeconds = seconds;
  }
  if (out.state === 'failed' || out.state === 'expired' || out.state === 'cancelled') {
    const e = asRecord(t.error);
    const code = str(e?.code) ?? (typeof t.error === 'string' ? str(t.code) : undefined);
    const message = str(e?.message) ?? (typeof t.error === 'string' ? str(t.error) : undefined) ?? (out.state === 'expired' ? 'The video request expired before it was served.' : undefined);
    out.error = { ...(code ? { code } : {}), ...(message ? { message } : {}), kind: out.state === 'expired' ? 'timeout' : xaiFailureKind(code, message) };
  }
  return out;
}
