import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, isRecord, num, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * fal's queue words (`GET …/requests/{id}/status`, upstreams.md §5, §14): `IN_QUEUE` (with
 * `queue_position`), `IN_PROGRESS` (with `logs`), `COMPLETED` — which only says the request
 * ended: whether it made a video is learnt from the result (`response_url`), an error answer
 * there being the failure.
 */
export const FAL_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  in_queue: 'waiting',
  queued: 'waiting',
  in_progress: 'running',
  completed: 'succeeded',
};

/** What a fal error is about, from its `error_type` / `detail[].type` and message. */
export function falFailureKind(type: string | undefined, message: string | undefined, status?: number): FailureKind {
  const text = `${type ?? ''} ${message ?? ''}`;
  if (/content_policy|nsfw|safety|moderat|flagged|sensitive/i.test(text)) return 'moderation';
  if (status === 401 || status === 403) return /balance|locked|billing|credit/i.test(text) ? 'quota' : 'auth';
  if (status === 402 || /balance|billing|credit|exhausted/i.test(text)) return 'quota';
  if (status === 429 || /concurrent_requests_limit|rate/i.test(text)) return 'rate_limit';
  if (/timeout|timed out/i.test(text)) return 'timeout';
  if (status === 422 || (status !== undefined && status >= 400 && status < 500)) return 'invalid';
  return 'internal';
}

/** The status object. */
export function parseFalStatus(s: Json): UpstreamStatus {
  const raw = str(s.status) ?? '';
  const known = FAL_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  if (out.state === 'running' && Array.isArray(s.logs)) {
    // fal reports no percentage; many apps log one ("Generating: 42%", tqdm bars): the last wins.
    for (const line of [...s.logs].reverse()) {
      const m = /(\d{1,3})%/.exec(str(asRecord(line)?.message) ?? '');
      if (m && Number(m[1]) <= 100) {
        out.progress = Number(m[1]);
        break;
      }
    }
  }
  return out;
}

/** The reason out of an error body: `{detail: "…"}`, `{detail: [{loc, msg, type}]}`, with `error_type`. */
export function falErrorOf(body: unknown): { type?: string; message?: string } {
  const b = asRecord(body);
  if (!b) return {};
  const detail = b.detail;
  if (Array.isArray(detail)) {
    const items = detail.filter(isRecord);
    const message = items.map((d) => [Array.isArray(d.loc) ? d.loc.join('.') : undefined, str(d.msg)].filter(Boolean).join(': ')).filter(Boolean).join('; ');
    const type = items.map((d) => str(d.type)).find(Boolean);
    return { ...(type ? { type } : {}), ...(message ? { message } : {}) };
  }
  const type = str(b.error_type) ?? str(asRecord(b.error)?.type);
  const message = str(detail) ?? str(b.error) ?? str(asRecord(b.error)?.message) ?? str(b.message);
  return { ...(type ? { type } : {}), ...(message ? { message } : {}) };
}

/** The video of a result: `{video: {url, …}}` (or `{videos: [{url}]}`), and its length when said. */
export function falVideoOf(result: unknown): { url?: string; seconds?: number } {
  const r = asRecord(result);
  const video = asRecord(r?.video) ?? asRecord(Array.isArray(r?.videos) ? (r.videos as unknown[])[0] : undefined);
  const url = str(video?.url);
  const seconds = num(video?.duration) ?? num(r?.duration);
  return { ...(url && /^https?:\/\//.test(url) ? { url } : {}), ...(seconds !== undefined && seconds > 0 ? { seconds } : {}) };
}
