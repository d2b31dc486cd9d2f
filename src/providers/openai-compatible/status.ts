import type { UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, firstUrl, jobError, num, progress, str, unixMs } from '../parse.js';

/**
 * Every status word OpenAI-style `/v1/videos` servers are known to send, and its class
 * (upstreams.md §14): OpenAI and Azure v1 (`queued`, `in_progress`, `completed`, `failed`, Batch
 * `expired`), apigo (`pending`; older docs `processing`), new-api (which may also answer
 * `submitted`, `not_start`, or `unknown` for a task it has not started — #5045), LiteLLM passing
 * through other providers' words (`running`, `succeeded`, `cancelled`). Matching is
 * case-insensitive. A word not listed is treated as still waiting (flagged `unrecognised`), so
 * the task keeps being polled until it finishes or reaches its deadline: no upstream word ever
 * becomes a status of ours that clients do not know.
 */
export const OPENAI_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  queued: 'waiting',
  pending: 'waiting',
  submitted: 'waiting',
  not_start: 'waiting',
  not_started: 'waiting',
  unknown: 'waiting',
  preprocessing: 'waiting',
  starting: 'waiting',
  in_queue: 'waiting',
  in_progress: 'running',
  processing: 'running',
  running: 'running',
  generating: 'running',
  completed: 'succeeded',
  succeeded: 'succeeded',
  success: 'succeeded',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
  expired: 'expired',
};

/** Read an OpenAI-style Video object (or a gateway's variant of it). */
export function parseVideo(body: unknown, headers: Record<string, string> = {}): UpstreamStatus {
  const v = asRecord(body) ?? {};
  const raw = str(v.status) ?? '';
  const known = OPENAI_STATUS_TABLE[raw.toLowerCase()];
  const state: UpstreamState = known ?? 'waiting';
  const out: UpstreamStatus = { state, raw };
  if (!known) out.unrecognised = true;
  const p = progress(v.progress);
  if (p !== undefined) out.progress = p;
  const created = unixMs(v.created_at);
  if (created !== undefined) out.createdAtMs = created;
  const completed = unixMs(v.completed_at);
  if (completed !== undefined) out.completedAtMs = completed;
  // apigo sends an all-empty error object on healthy jobs; only a failed job's error means anything.
  const error = jobError(v.error);
  if (error && state !== 'waiting' && state !== 'running' && state !== 'succeeded') out.error = error;
  // Older apigo: a flat result url on the video object.
  const url = firstUrl(v.url) ?? firstUrl(v.video_url);
  if (url) out.resultUrl = url;
  const expires = unixMs(v.expires_at);
  if (expires !== undefined) out.resultExpiresAtMs = expires;
  const pollAfter = num(headers['openai-poll-after-ms']);
  if (pollAfter !== undefined && pollAfter > 0) out.pollAfterMs = pollAfter;
  return out;
}
