import type { FailureKind, UpstreamErrorDetail, UpstreamState, UpstreamStatus } from '../types.js';
import { UpstreamError } from '../types.js';
import { num, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * PixVerse's numeric `Resp.status` (`GET /openapi/v2/video/result/{id}`, upstreams.md via
 * models-and-parameters.md §2): 1 done, 5 generating, 7 failed moderation, 8 failed. A number
 * not in the table is waiting (flagged); the words some mirrors print are accepted too.
 */
export const PIXVERSE_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  '1': 'succeeded',
  '5': 'running',
  '7': 'failed',
  '8': 'failed',
  success: 'succeeded',
  generating: 'running',
  pending: 'waiting',
  failed: 'failed',
};

const MODERATION = /moderat|sensitive|violat|inappropriate|review|nsfw/i;
const AUTH = /api[ -]?key|unauthori[sz]ed|forbidden|permission/i;
const QUOTA = /credit|balance|insufficient|used up|subscription|plan/i;
const RATE = /concurren|too many|frequen|rate limit/i;
const TIMEOUT = /time ?out/i;

/** What a PixVerse `ErrCode` / `ErrMsg` is about (codes: 10005 key, 500043 credits, 500044 concurrency, 500054 / 500063 moderation, 400xxx parameters). */
export function pixverseFailureKind(code: number | undefined, message: string | undefined): FailureKind {
  const m = message ?? '';
  if (code === 500054 || code === 500063 || MODERATION.test(m)) return 'moderation';
  if (code === 10005 || code === 10002 || AUTH.test(m)) return 'auth';
  if (code === 500043 || QUOTA.test(m)) return 'quota';
  if (code === 500044 || RATE.test(m)) return 'rate_limit';
  if (TIMEOUT.test(m)) return 'timeout';
  if ((code !== undefined && code >= 400_000 && code < 500_000) || /invalid|parameter|not support|must/i.test(m)) return 'invalid';
  return 'internal';
}

const STATUS_OF: Record<FailureKind, number> = { auth: 401, quota: 402, rate_limit: 429, invalid: 400, moderation: 400, timeout: 504, internal: 500 };

/** `{ErrCode, ErrMsg, Resp}`: the error an envelope carries (inside an HTTP 200, or with an HTTP error). */
export function pixverseError(code: number, message: string | undefined, detail: UpstreamErrorDetail = {}): UpstreamError {
  const kind = pixverseFailureKind(code, message);
  const missing = /not (found|exist)/i.test(message ?? '');
  const status = detail.status !== undefined && detail.status >= 400 && kind !== 'quota' ? detail.status : missing ? 404 : STATUS_OF[kind];
  return new UpstreamError('http', message ?? `PixVerse answered ErrCode ${code}`, { ...detail, status, code: String(code), kind, upstreamMessage: message ?? `ErrCode ${code}` });
}

/** `Resp` of the result endpoint. */
export function parsePixverseVideo(t: Json): UpstreamStatus {
  const raw = str(t.status) ?? '';
  const known = PIXVERSE_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  if (out.state === 'failed') {
    const moderated = raw === '7';
    const message = str(t.ErrMsg) ?? str(t.fail_reason) ?? (moderated ? 'The video did not pass PixVerse content moderation (status 7).' : 'The generation failed on PixVerse (status 8).');
    out.error = { code: `status_${raw}`, message, kind: moderated ? 'moderation' : pixverseFailureKind(undefined, message) };
  }
  if (out.state === 'succeeded') {
    const url = str(t.url);
    if (url) out.resultUrl = url;
  }
  const credits = num(t.credits);
  if (credits !== undefined) out.cost = credits;
  return out;
}
