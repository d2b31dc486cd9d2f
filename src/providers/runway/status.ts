import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, firstUrl, progress, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * Runway's task words (`GET /v1/tasks/{id}`, upstreams.md §14): `PENDING`, `THROTTLED` (over the
 * account's concurrency: still waiting, not an error), `RUNNING` (with `progress` 0..1),
 * `SUCCEEDED`, `FAILED` (`failure`, `failureCode`), `CANCELLED`. Case-insensitive; an unknown
 * word is waiting (flagged).
 */
export const RUNWAY_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  pending: 'waiting',
  throttled: 'waiting',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};

/**
 * What a Runway `failureCode` is about (docs.dev.runwayml.com/errors/task-failures):
 * `SAFETY.INPUT.*` / `SAFETY.OUTPUT.*` (and `INPUT_PREPROCESSING.SAFETY.*`) are moderation,
 * `INPUT_PREPROCESSING.*` and `ASSET.INVALID` bad input, `INTERNAL.*` (`INTERNAL.BAD_OUTPUT.*`)
 * Runway's own trouble.
 */
export function runwayFailureKind(code: string | undefined, message?: string, status?: number): FailureKind {
  const c = (code ?? '').toUpperCase();
  if (c.includes('SAFETY') || /content moderation|safety/i.test(message ?? '')) return 'moderation';
  if (status === 401 || status === 403) return 'auth';
  if (status === 429 || /daily|rate limit|too many/i.test(message ?? '')) return 'rate_limit';
  if (/credit|insufficient|billing/i.test(message ?? '')) return 'quota';
  if (c.startsWith('INPUT_PREPROCESSING') || c.startsWith('ASSET') || c.includes('INVALID')) return 'invalid';
  if (c.includes('TIMEOUT')) return 'timeout';
  if (status !== undefined && status >= 400 && status < 500) return 'invalid';
  return 'internal';
}

/** One task of `GET /v1/tasks/{id}`. */
export function parseRunwayTask(t: Json): UpstreamStatus {
  const raw = str(t.status) ?? '';
  const known = RUNWAY_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  if (out.state === 'running') {
    const p = progress(t.progress);
    if (p !== undefined) out.progress = p;
  }
  const created = Date.parse(str(t.createdAt) ?? '');
  if (!Number.isNaN(created)) out.createdAtMs = created;
  if (out.state === 'succeeded') {
    const url = firstUrl(t.output);
    if (url) out.resultUrl = url;
  }
  if (out.state === 'failed' || out.state === 'cancelled') {
    const code = str(t.failureCode);
    const message = str(t.failure) ?? (out.state === 'cancelled' ? 'The task was cancelled at Runway.' : undefined);
    out.error = { ...(code ? { code } : {}), ...(message ? { message } : {}), kind: out.state === 'cancelled' ? 'internal' : runwayFailureKind(code, message) };
  }
  return out;
}

/** A task object is recognisable by its id and status. */
export const isRunwayTask = (v: unknown): v is Json => typeof asRecord(v)?.status === 'string';
