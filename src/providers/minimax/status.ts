import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { UpstreamError } from '../types.js';
import { asRecord, num, str, unixMs } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * MiniMax's status words (upstreams.md §8, §14), matched case-insensitively: V1 queries say
 * `Preparing`, `Queueing`, `Processing`, `Success`, `Fail` (capitalised); V1 callbacks say
 * `processing`, `success`, `failed`; V2 says `queued`, `running`, `succeeded`, `failed`,
 * `cancelled`. An unknown word is waiting (flagged).
 */
export const MINIMAX_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  preparing: 'waiting',
  queueing: 'waiting',
  queued: 'waiting',
  pending: 'waiting',
  processing: 'running',
  running: 'running',
  success: 'succeeded',
  succeeded: 'succeeded',
  fail: 'failed',
  failed: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};

/**
 * MiniMax's `base_resp.status_code` (upstreams.md §8): what it means for routing, and the HTTP
 * status it stands for (V1 reports errors inside HTTP 200).
 */
export function minimaxCode(code: number): { kind: FailureKind; status: number } {
  switch (code) {
    case 1001:
      return { kind: 'timeout', status: 504 };
    case 1002:
    case 1039:
      return { kind: 'rate_limit', status: 429 };
    case 1004:
    case 2049:
      return { kind: 'auth', status: 401 };
    case 2038:
      return { kind: 'auth', status: 403 };
    case 1008:
      return { kind: 'quota', status: 402 };
    case 1026:
    case 1027:
      return { kind: 'moderation', status: 400 };
    case 2013:
    case 2048:
      return { kind: 'invalid', status: 400 };
    default:
      return { kind: 'internal', status: 500 };
  }
}

/** A V1 answer's `base_resp` when it reports an error: the error, with MiniMax's code read. */
export function baseRespError(body: Json): UpstreamError | undefined {
  const b = asRecord(body.base_resp);
  const code = num(b?.status_code);
  if (code === undefined || code === 0) return undefined;
  const { kind, status } = minimaxCode(code);
  const message = str(b?.status_msg) ?? `MiniMax answered status_code ${code}`;
  return new UpstreamError('http', message, { status, code: String(code), kind, upstreamMessage: message });
}

/** V2 error `type`s (with the real HTTP status); a `(code)` at the end of the message is read like V1's. */
export function v2ErrorKind(type: string | undefined, message: string | undefined, status: number | undefined): FailureKind | undefined {
  const code = num(/\((\d{4})\)\s*$/.exec(message ?? '')?.[1]);
  if (code !== undefined) return minimaxCode(code).kind;
  switch (type) {
    case 'authorized_error':
      return 'auth';
    case 'insufficient_balance_error':
      return 'quota';
    case 'rate_limit_error':
      return 'rate_limit';
    case 'bad_request_error':
    case 'unprocessable_entity_error':
      return MODERATION.test(message ?? '') ? 'moderation' : 'invalid';
    case 'server_error':
      return 'internal';
    default:
      return status === 401 || status === 403 ? 'auth' : status === 402 ? 'quota' : status === 429 ? 'rate_limit' : undefined;
  }
}

const MODERATION = /sensitive|risk|moderat|safety|polic|violat|inappropriate|prohibited/i;

/** What a failed job is about, from its code (MiniMax's numbers) or else its words. */
export function failureKind(code: string | undefined, message: string | undefined): FailureKind {
  const n = num(code);
  if (n !== undefined && n !== 0) return minimaxCode(n).kind;
  if (MODERATION.test(message ?? '')) return 'moderation';
  if (/time ?out|timed out/i.test(message ?? '')) return 'timeout';
  if (/invalid|param|not support|unsupported/i.test(message ?? '')) return 'invalid';
  return 'internal';
}

/** The prefix of a V1 file id kept as the result location until `files/retrieve` gives the URL. */
export const FILE_REF = 'minimax-file:';

/** A V1 query answer (`{task_id, status, file_id, video_width, video_height, base_resp}`) or callback body. */
export function parseV1Task(t: Json): UpstreamStatus {
  const raw = str(t.status) ?? '';
  const known = MINIMAX_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  if (out.state === 'failed') {
    const b = asRecord(t.base_resp);
    const code = num(b?.status_code) ? String(num(b?.status_code)) : undefined;
    const message = str(t.error_message) ?? (code ? str(b?.status_msg) : undefined) ?? 'MiniMax reports that the generation failed.';
    out.error = { ...(code ? { code } : {}), message, kind: failureKind(code, message) };
  }
  if (out.state === 'succeeded') {
    const fileId = str(t.file_id);
    if (fileId) out.resultUrl = `${FILE_REF}${fileId}`;
  }
  return out;
}

/** A V2 task (`GET /v2/query/video_generation/{id}` → `{task:{…}}`). */
export function parseV2Task(t: Json): UpstreamStatus {
  const raw = str(t.status) ?? '';
  const known = MINIMAX_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const created = unixMs(t.created_at);
  if (created !== undefined) out.createdAtMs = created;
  const updated = unixMs(t.updated_at);
  if (out.state !== 'waiting' && out.state !== 'running' && updated !== undefined) out.completedAtMs = updated;
  if (out.state === 'failed' || out.state === 'cancelled') {
    const e = asRecord(t.error);
    const code = str(e?.code);
    const message = str(e?.message) ?? (out.state === 'cancelled' ? 'The task was cancelled.' : 'MiniMax reports that the generation failed.');
    out.error = { ...(code ? { code } : {}), message, kind: failureKind(code, message) };
  }
  if (out.state === 'succeeded') {
    const url = str(asRecord(t.content)?.url);
    if (url) out.resultUrl = url;
    const usage = asRecord(t.usage);
    const seconds = num(usage?.output_seconds) ?? num(t.duration);
    if (seconds !== undefined && seconds > 0) out.deliveredSeconds = seconds;
  }
  return out;
}
