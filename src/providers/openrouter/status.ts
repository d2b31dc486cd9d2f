import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, num, progress, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * OpenRouter's video job words (`GET /api/v1/videos/{jobId}`): `pending`, `in_progress`,
 * `completed`, `failed`, `cancelled`, `expired`. Case-insensitive; an unknown word is waiting
 * (flagged).
 */
export const OPENROUTER_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  pending: 'waiting',
  queued: 'waiting',
  in_progress: 'running',
  processing: 'running',
  completed: 'succeeded',
  succeeded: 'succeeded',
  failed: 'failed',
  error: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
  expired: 'expired',
};

const MODERATION = /moderat|flagged|content polic|safety|violat|inappropriate|prohibited|nsfw/i;
const QUOTA = /credit|insufficient|balance|payment|billing|quota/i;
const TIMEOUT = /time ?out|timed out/i;
const INVALID = /invalid|not support|unsupported|must be|too (large|long|small)|exceed|out of range/i;

/** What an OpenRouter error is about (its HTTP code, or a failed job's `error` text). */
export function openrouterFailureKind(message: string | undefined, status?: number): FailureKind {
  const m = message ?? '';
  if (MODERATION.test(m)) return 'moderation';
  if (status === 401 || status === 403) return 'auth';
  if (status === 402 || QUOTA.test(m)) return 'quota';
  if (status === 429) return 'rate_limit';
  if (status === 408 || TIMEOUT.test(m)) return 'timeout';
  if ((status !== undefined && status >= 400 && status < 500) || INVALID.test(m)) return 'invalid';
  return 'internal';
}

/** A job object (status answer, or a callback's `data`). */
export function parseOpenrouterJob(t: Json): UpstreamStatus {
  const raw = str(t.status) ?? '';
  const known = OPENROUTER_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const p = progress(t.progress);
  if (p !== undefined) out.progress = p;
  const cost = num(asRecord(t.usage)?.cost);
  if (cost !== undefined) out.cost = cost;
  if (out.state === 'failed' || out.state === 'cancelled' || out.state === 'expired') {
    const e = asRecord(t.error);
    const message = str(t.error) ?? str(e?.message) ?? (out.state === 'expired' ? 'The video job expired on OpenRouter.' : out.state === 'cancelled' ? 'The video job was cancelled on OpenRouter.' : undefined);
    const code = str(e?.code);
    out.error = { ...(code ? { code } : {}), ...(message ? { message } : {}), kind: out.state === 'expired' ? 'timeout' : openrouterFailureKind(message) };
  }
  if (out.state === 'succeeded') {
    const urls = Array.isArray(t.unsigned_urls) ? t.unsigned_urls : [];
    const url = urls.find((u): u is string => typeof u === 'string' && u !== '');
    if (url) out.resultUrl = url;
  }
  return out;
}
