import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, jobError, num, str, unixMs } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * Seedance task words on Ark / ModelArk (upstreams.md §11, §14): `queued`, `running`,
 * `succeeded`, `failed`, `cancelled` (only a queued task can be), `expired` (not run within
 * `execution_expires_after`). Case-insensitive; an unknown word is waiting (flagged).
 */
export const ARK_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  queued: 'waiting',
  pending: 'waiting',
  running: 'running',
  processing: 'running',
  succeeded: 'succeeded',
  success: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
  expired: 'expired',
};

/** `content.video_url` is valid for 24 hours. */
export const ARK_RESULT_TTL_MS = 24 * 3_600_000;

/**
 * Ark's error codes (`InputTextSensitiveContentDetected`, `InvalidParameter`, `QuotaExceeded`, …),
 * read by what they are about.
 */
export function arkFailureKind(code: string | undefined, message?: string): FailureKind {
  const c = code ?? '';
  if (/Sensitive|ContentSecurity|Risk|Moderat|PolicyViolation|Copyright/i.test(c)) return 'moderation';
  if (/^(AuthenticationError|InvalidApiKey|AccessDenied|Unauthorized|ModelNotOpen|InvalidAccount|AccountSuspended)/i.test(c)) return 'auth';
  if (/QuotaExceeded|SetLimitExceeded|InsufficientBalance|AccountOverdue|Arrears/i.test(c)) return 'quota';
  if (/RateLimit|ServerOverloaded|TooManyRequests/i.test(c)) return 'rate_limit';
  if (/Timeout|TimedOut/i.test(c) || /time ?out/i.test(message ?? '')) return 'timeout';
  if (/^(Invalid|Missing|Unsupported|ModelNotFound|NotFound|BadRequest|OutOfRange)/i.test(c)) return 'invalid';
  return 'internal';
}

/** A task object (`GET /contents/generations/tasks/{id}`, the list's items, the callback body). */
export function parseArkTask(t: Json): UpstreamStatus {
  const raw = str(t.status) ?? '';
  const known = ARK_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const created = unixMs(t.created_at);
  if (created !== undefined) out.createdAtMs = created;
  const updated = unixMs(t.updated_at);
  if (out.state !== 'waiting' && out.state !== 'running' && updated !== undefined) out.completedAtMs = updated;
  if (out.state === 'failed' || out.state === 'cancelled' || out.state === 'expired') {
    const e = jobError(t.error);
    out.error = { ...(e ?? {}), kind: out.state === 'expired' ? 'timeout' : arkFailureKind(e?.code, e?.message) };
  }
  if (out.state === 'succeeded') {
    const url = str(asRecord(t.content)?.video_url);
    if (url) out.resultUrl = url;
    if (out.completedAtMs !== undefined) out.resultExpiresAtMs = out.completedAtMs + ARK_RESULT_TTL_MS;
    const seconds = num(t.duration);
    if (seconds !== undefined && seconds > 0) out.deliveredSeconds = seconds;
  }
  return out;
}
