import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, num, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * Vidu's task states (`GET /ent/v2/tasks/{id}/creations`, upstreams.md §14 via
 * models-and-parameters.md §2): `created`, `queueing`, `processing`, `success`, `failed`.
 * Case-insensitive; an unknown word is waiting (flagged).
 */
export const VIDU_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  created: 'waiting',
  queueing: 'waiting',
  queued: 'waiting',
  pending: 'waiting',
  processing: 'running',
  running: 'running',
  success: 'succeeded',
  succeeded: 'succeeded',
  failed: 'failed',
  failure: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};

/** Creations are downloadable for 24 hours (a margin is kept). */
export const VIDU_RESULT_TTL_MS = 23 * 3_600_000;

/** What Vidu's named codes (error-code page) mean. */
const CODES: Record<string, { kind: FailureKind; message: string }> = {
  TaskPromptPolicyViolation: { kind: 'moderation', message: 'The prompt triggered the safety review.' },
  AuditSubmitIllegal: { kind: 'moderation', message: 'The input did not pass the safety review.' },
  CreationPolicyViolation: { kind: 'moderation', message: 'The generated content triggered a policy violation.' },
  CreditInsufficient: { kind: 'quota', message: 'Insufficient credits.' },
  QuotaExceeded: { kind: 'rate_limit', message: 'The concurrency limit is exceeded.' },
  TooManyRequests: { kind: 'rate_limit', message: 'Requests are too frequent.' },
  SystemThrottling: { kind: 'rate_limit', message: 'The system is throttling.' },
  Unauthorized: { kind: 'auth', message: 'Unauthorized.' },
  Forbidden: { kind: 'auth', message: 'The request is forbidden.' },
  ModelUnavailable: { kind: 'invalid', message: 'The requested model is unavailable.' },
  ImageDownloadFailure: { kind: 'invalid', message: 'An image URL could not be downloaded.' },
  ImageFormatInvalid: { kind: 'invalid', message: 'An image format is not accepted.' },
  PageSizeOutOfRange: { kind: 'invalid', message: 'An image is too large or its aspect ratio is beyond 1:4 / 4:1.' },
  UserCancelled: { kind: 'internal', message: 'The task was cancelled on Vidu.' },
  InternalServiceFailure: { kind: 'internal', message: 'Vidu had an internal failure.' },
};

export function viduFailureKind(code: string | undefined, status?: number): FailureKind {
  if (code && CODES[code]) return CODES[code]!.kind;
  if (code && /^(BadRequest|Field|Image)/.test(code)) return 'invalid';
  if (status === 401 || status === 403) return 'auth';
  if (status === 429) return 'rate_limit';
  if (status !== undefined && status >= 400 && status < 500) return 'invalid';
  return 'internal';
}

/** A task object (the creations answer, or a callback body). */
export function parseViduTask(t: Json, nowMs: number): UpstreamStatus {
  const raw = str(t.state) ?? str(t.status) ?? '';
  const known = VIDU_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const credits = num(t.credits);
  if (credits !== undefined) out.cost = credits;
  if (out.state === 'failed' || out.state === 'cancelled') {
    const code = str(t.err_code);
    out.error = { ...(code ? { code } : {}), message: code ? `${code}: ${CODES[code]?.message ?? 'the generation failed.'}` : 'The generation failed.', kind: viduFailureKind(code) };
  }
  if (out.state === 'succeeded') {
    const creation = (Array.isArray(t.creations) ? t.creations : []).map(asRecord).find((c) => c && str(c.url));
    if (creation) {
      out.resultUrl = str(creation.url)!;
      const seconds = num(asRecord(creation.video)?.duration);
      if (seconds !== undefined && seconds > 0) out.deliveredSeconds = seconds;
    }
    out.resultExpiresAtMs = nowMs + VIDU_RESULT_TTL_MS;
  }
  return out;
}
