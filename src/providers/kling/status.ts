import type { FailureKind, UpstreamErrorDetail, UpstreamState, UpstreamStatus } from '../types.js';
import { UpstreamError } from '../types.js';
import { asRecord, num, str, unixMs } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * Kling's status words (upstreams.md §7, §14): the flat API says `submitted`, `processing`,
 * `succeed` (no "d") and `failed`; the path-versioned 3.x API `succeeded` instead of `succeed`.
 * The rest are listed so that a word Kling may add in the same spirit is read rightly rather
 * than polled until the deadline. Case-insensitive; an unknown word is waiting (flagged).
 */
export const KLING_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  submitted: 'waiting',
  queued: 'waiting',
  pending: 'waiting',
  processing: 'running',
  running: 'running',
  succeed: 'succeeded',
  succeeded: 'succeeded',
  success: 'succeeded',
  failed: 'failed',
  fail: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};

/** Result videos are deleted after 30 days. */
export const KLING_RETENTION_MS = 30 * 86_400_000;

/**
 * Kling's error codes (its API reference, upstreams.md §7): what they mean for routing, and the
 * HTTP status Kling pairs them with (some come as HTTP 200 with `code` ≠ 0).
 */
export function klingCode(code: number): { kind: FailureKind; status: number } {
  if (code >= 1000 && code <= 1004) return { kind: 'auth', status: 401 };
  if (code === 1100 || code === 1101 || code === 1102) return { kind: 'quota', status: 402 };
  if (code === 1103 || code === 1304) return { kind: 'auth', status: 403 };
  if (code === 1200 || code === 1201) return { kind: 'invalid', status: 400 };
  if (code === 1202 || code === 1203) return { kind: 'invalid', status: 404 };
  if (code === 1300 || code === 1301) return { kind: 'moderation', status: 400 };
  if (code === 1302 || code === 1303) return { kind: 'rate_limit', status: 429 };
  if (code === 5001) return { kind: 'internal', status: 503 };
  if (code === 5002) return { kind: 'timeout', status: 504 };
  return { kind: 'internal', status: 500 };
}

/** An error answer (HTTP error, or HTTP 200 with `code` ≠ 0) with Kling's code read. */
export function klingError(detail: UpstreamErrorDetail & { code?: string }, fallbackMessage: string): UpstreamError {
  const code = num(detail.code);
  const mapped = code === undefined ? undefined : klingCode(code);
  // A 429 from an exhausted resource pack (1102) is a quota problem, not a rate limit.
  const status = mapped && (detail.status === undefined || detail.status < 400 || mapped.kind === 'quota') ? mapped.status : detail.status;
  return new UpstreamError('http', detail.upstreamMessage ?? fallbackMessage, {
    ...detail,
    ...(status === undefined ? {} : { status }),
    ...(mapped ? { kind: mapped.kind } : {}),
  });
}

/** The envelope's `code` when it signals an error inside an HTTP 200. */
export function envelopeError(body: Json): UpstreamError | undefined {
  const code = num(body.code);
  if (code === undefined || code === 0) return undefined;
  return klingError({ code: String(code), upstreamMessage: str(body.message) ?? `Kling answered code ${code}` }, `Kling answered code ${code}`);
}

const MODERATION = /risk|sensitive|polic|violat|moderat|safety|inappropriate|prohibited|security/i;
const TIMEOUT = /time ?out|timed out/i;
const INVALID = /invalid|parameter|not support|unsupported|too (large|small|long)|resolution|aspect/i;

/** What a failed task's `task_status_msg` is about. */
export function failureKind(message: string | undefined): FailureKind {
  if (!message) return 'internal';
  if (MODERATION.test(message)) return 'moderation';
  if (TIMEOUT.test(message)) return 'timeout';
  if (INVALID.test(message)) return 'invalid';
  return 'internal';
}

/**
 * One task object of either API: the flat one (`task_id`, `task_status`, `task_status_msg`,
 * `task_result.videos[]`) or the 3.x one (`id`, `status`, `outputs[]`).
 */
export function parseKlingTask(t: Json): UpstreamStatus {
  const raw = str(t.task_status) ?? str(t.status) ?? '';
  const known = KLING_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const created = unixMs(t.created_at);
  if (created !== undefined) out.createdAtMs = created;
  const updated = unixMs(t.updated_at);
  if (out.state !== 'waiting' && out.state !== 'running' && updated !== undefined) out.completedAtMs = updated;
  if (out.state === 'failed' || out.state === 'cancelled') {
    const message = str(t.task_status_msg) ?? str(t.status_msg) ?? str(t.message) ?? str(asRecord(t.error)?.message);
    out.error = { ...(message ? { message } : {}), kind: failureKind(message) };
  }
  if (out.state === 'succeeded') {
    const videos = Array.isArray(asRecord(t.task_result)?.videos) ? (asRecord(t.task_result)!.videos as unknown[]) : [];
    const outputs = Array.isArray(t.outputs) ? t.outputs : [];
    const video = [...videos, ...outputs].map(asRecord).find((v) => v && str(v.url) && (v.type === undefined || v.type === 'video'));
    if (video) {
      out.resultUrl = str(video.url)!;
      const seconds = num(video.duration);
      if (seconds !== undefined && seconds > 0) out.deliveredSeconds = seconds;
    }
    if (out.completedAtMs !== undefined) out.resultExpiresAtMs = out.completedAtMs + KLING_RETENTION_MS;
  }
  const units = num(t.final_unit_deduction);
  if (units !== undefined) out.cost = units;
  return out;
}
