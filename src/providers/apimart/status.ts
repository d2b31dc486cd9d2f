import type { UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, firstUrl, jobError, num, progress, str, unixMs } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * apimart task words (apimart-apigo.md §3.2) plus the aliases a third-party apimart adaptor
 * accepts (upstreams.md §12: `queued`, `submitted`, `in_progress`, `running`, `success`,
 * `succeeded`, `failure`, `error`). Case-insensitive; an unknown word is treated as waiting and
 * flagged, so it is polled again and never reaches a client as an unknown status.
 */
export const APIMART_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  submitted: 'waiting',
  pending: 'waiting',
  queued: 'waiting',
  processing: 'running',
  in_progress: 'running',
  running: 'running',
  completed: 'succeeded',
  success: 'succeeded',
  succeeded: 'succeeded',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
  expired: 'expired',
};

/**
 * The result URL with every documented fallback (§3.5): `result.videos[].url` as an array or a
 * string, `result.video.url`, `result.video_url`, `result.url`, and a flat `url` / `video_url` on
 * the task itself (an older documentation-style sample).
 */
export function resultUrl(data: Json): { url?: string; expiresAtMs?: number } {
  const result = asRecord(data.result);
  const videos = Array.isArray(result?.videos) ? result.videos : [];
  for (const v of videos) {
    const entry = asRecord(v);
    const url = firstUrl(entry?.url);
    if (url) return { url, expiresAtMs: unixMs(entry?.expires_at) ?? unixMs(result?.expires_at) ?? unixMs(data.expires_at) };
  }
  const url =
    firstUrl(asRecord(result?.video)?.url) ??
    firstUrl(result?.video_url) ??
    firstUrl(result?.url) ??
    firstUrl(data.video_url) ??
    firstUrl(data.url);
  return url ? { url, expiresAtMs: unixMs(result?.expires_at) ?? unixMs(data.expires_at) } : {};
}

/** Read the `data` object of `GET /v1/tasks/{id}` (or of the older object-form submit answer). */
export function parseTask(data: Json): UpstreamStatus {
  const raw = str(data.status) ?? '';
  const known = APIMART_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const p = progress(data.progress);
  if (p !== undefined) out.progress = p;
  const estimated = num(data.estimated_time) ?? num(asRecord(data.task_info)?.estimated_time);
  if (estimated !== undefined && estimated > 0) out.estimatedSeconds = estimated;
  const created = unixMs(data.created);
  if (created !== undefined) out.createdAtMs = created;
  const completed = unixMs(data.completed);
  if (completed !== undefined) out.completedAtMs = completed;
  if (out.state === 'failed' || out.state === 'cancelled' || out.state === 'expired') {
    const error = jobError(data.error) ?? jobError(data.fail_reason) ?? jobError(data.message);
    if (error) out.error = error;
  }
  if (out.state === 'succeeded') {
    const r = resultUrl(data);
    if (r.url) out.resultUrl = r.url;
    if (r.expiresAtMs !== undefined) out.resultExpiresAtMs = r.expiresAtMs;
  }
  const cost = num(data.cost);
  if (cost !== undefined) out.cost = cost;
  return out;
}
