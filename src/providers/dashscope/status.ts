import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { UpstreamError } from '../types.js';
import { asRecord, num, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * DashScope's task words (`output.task_status`), matched case-insensitively: `PENDING`,
 * `RUNNING`, `SUCCEEDED`, `FAILED`, `CANCELED`, and `UNKNOWN` — which DashScope answers for a task
 * id it does not know (never existed, or older than its 24 h), so it is read as "not found"
 * (status.ts throws a 404 for it and the gateway's not-found rule decides), never as a state.
 */
export const DASHSCOPE_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  pending: 'waiting',
  running: 'running',
  suspended: 'waiting',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'cancelled',
  cancelled: 'cancelled',
};

/** Task ids and result URLs live 24 h. */
export const DASHSCOPE_RESULT_TTL_MS = 24 * 3_600_000;

/** What a DashScope error code means (its error-code reference): routing and the caller's stable code. */
export function dashscopeKind(code: string | undefined, message?: string): FailureKind {
  const c = code ?? '';
  if (/DataInspection|InappropriateContent|IPInfringement|Sensitive|Green/i.test(c) || /inappropriate|sensitive|green net|moderation/i.test(message ?? '')) return 'moderation';
  if (/InvalidApiKey|AccessDenied|Unauthorized|Forbidden|NoPermission|Workspace/i.test(c)) return 'auth';
  // Throttling.RateQuota and Throttling.AllocationQuota are rate limits, not an empty account.
  if (/Throttling|RateLimit|TooMany/i.test(c)) return 'rate_limit';
  if (/Arrearage|Quota|Balance|FreeTier|Overdue|Billing/i.test(c)) return 'quota';
  if (/Timeout|TimeOut/i.test(c)) return 'timeout';
  if (/Invalid|Missing|NotFound|Unsupported|BadRequest|Parameter|URL|File|Model/i.test(c)) return 'invalid';
  return 'internal';
}

/** The HTTP status an error code stands for, when DashScope's own status says less. */
export function dashscopeError(err: UpstreamError): UpstreamError {
  const d = err.detail;
  const kind = dashscopeKind(d.code, d.upstreamMessage);
  return new UpstreamError('http', err.message, { ...d, kind });
}

/** A task answer `{request_id, output:{task_id, task_status, video_url, code, message, …}, usage}`. */
export function parseDashscopeTask(body: Json, nowMs: number): UpstreamStatus {
  const out0 = asRecord(body.output) ?? {};
  const raw = str(out0.task_status) ?? '';
  if (raw.toUpperCase() === 'UNKNOWN') {
    throw new UpstreamError('http', 'DashScope does not know this task (UNKNOWN)', { status: 404, code: 'UNKNOWN', upstreamMessage: 'The task is unknown to DashScope: it never existed or is older than 24 hours.' });
  }
  const known = DASHSCOPE_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  if (out.state === 'failed' || out.state === 'cancelled') {
    const code = str(out0.code);
    const message = str(out0.message) ?? (out.state === 'cancelled' ? 'The task was cancelled.' : 'DashScope reports that the generation failed.');
    out.error = { ...(code ? { code } : {}), message, kind: dashscopeKind(code, message) };
  }
  if (out.state === 'succeeded') {
    const url = str(out0.video_url);
    if (url) out.resultUrl = url;
    out.completedAtMs = nowMs;
    out.resultExpiresAtMs = nowMs + DASHSCOPE_RESULT_TTL_MS - 3_600_000;
    const usage = asRecord(body.usage);
    const seconds = num(usage?.output_video_duration) ?? num(usage?.video_duration) ?? num(usage?.duration);
    if (seconds !== undefined && seconds > 0) out.deliveredSeconds = seconds;
  }
  return out;
}
