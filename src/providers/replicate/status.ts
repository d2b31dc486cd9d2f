import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, firstUrl, isRecord, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * Replicate's prediction words (upstreams.md §4, §14): `starting` (booting or queued),
 * `processing`, `succeeded`, `failed` (`error`), `canceled`, `aborted` (ended before it ran).
 * No numeric progress: the last tqdm line of `logs` gives one when there is one.
 */
export const REPLICATE_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  starting: 'waiting',
  queued: 'waiting',
  processing: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'cancelled',
  cancelled: 'cancelled',
  aborted: 'failed',
};

const MODERATION = /nsfw|sensitive|safety|flagged|moderat|content policy/i;
const INVALID = /invalid|validation|must be|not supported|unsupported|too (large|long|small)|could not (load|read|download)|cannot identify image/i;
const TIMEOUT = /time ?out|timed out|deadline/i;
const QUOTA = /credit|billing|payment|insufficient|spend limit/i;

/** What a Replicate error string (a failed prediction's `error`, or an HTTP problem's detail) is about. */
export function replicateFailureKind(message: string | undefined, status?: number): FailureKind {
  const text = message ?? '';
  if (MODERATION.test(text)) return 'moderation';
  if (status === 401 || status === 403) return 'auth';
  if (status === 402 || QUOTA.test(text)) return 'quota';
  if (status === 429) return 'rate_limit';
  if (TIMEOUT.test(text)) return 'timeout';
  if ((status !== undefined && status >= 400 && status < 500) || INVALID.test(text)) return 'invalid';
  return 'internal';
}

/** The video URL of an output: a string, an array of them, or an object holding one. */
export function replicateOutputUrl(output: unknown): string | undefined {
  const direct = firstUrl(output);
  if (direct) return direct;
  if (Array.isArray(output)) {
    for (const o of output) {
      const u = replicateOutputUrl(o);
      if (u) return u;
    }
  }
  if (isRecord(output)) {
    for (const key of ['video', 'url', 'output']) {
      const u = replicateOutputUrl(output[key]);
      if (u) return u;
    }
  }
  return undefined;
}

/** One prediction object (`GET /v1/predictions/{id}`, or a webhook's body). */
export function parseReplicatePrediction(p: Json): UpstreamStatus {
  const raw = str(p.status) ?? '';
  const known = REPLICATE_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const created = Date.parse(str(p.created_at) ?? '');
  if (!Number.isNaN(created)) out.createdAtMs = created;
  const completed = Date.parse(str(p.completed_at) ?? '');
  if (!Number.isNaN(completed)) out.completedAtMs = completed;
  if (out.state === 'running' && typeof p.logs === 'string') {
    // tqdm: "…  42%|████      | 21/50 [00:10<00:14, …]"
    const all = [...p.logs.matchAll(/(\d{1,3})%\|/g)];
    const last = all.length > 0 ? Number(all[all.length - 1]![1]) : undefined;
    if (last !== undefined && last <= 100) out.progress = last;
  }
  if (out.state === 'succeeded') {
    const url = replicateOutputUrl(p.output);
    if (url) out.resultUrl = url;
    else if (p.data_removed === true) {
      // Replicate deletes an API prediction's files after an hour.
      out.state = 'expired';
      out.error = { code: 'data_removed', message: 'Replicate deleted the prediction’s output (data_removed: true).', kind: 'timeout' };
    }
  }
  if (out.state === 'failed' || out.state === 'cancelled') {
    const message = str(p.error) ?? str(asRecord(p.error)?.message) ?? (raw === 'aborted' ? 'The prediction was aborted before it ran.' : out.state === 'cancelled' ? 'The prediction was canceled at Replicate.' : undefined);
    out.error = { ...(raw === 'aborted' ? { code: 'aborted' } : {}), ...(message ? { message } : {}), kind: raw === 'aborted' ? 'timeout' : out.state === 'cancelled' ? 'internal' : replicateFailureKind(message) };
  }
  return out;
}
