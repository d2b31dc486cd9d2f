import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { asRecord, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * Luma's generation states (`GET /v1/generations/{id}`, upstreams.md §9A, §14): `queued`,
 * `processing`, `completed`, `failed` (`failure_code`, `failure_reason`). No progress.
 */
export const LUMA_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  queued: 'waiting',
  pending: 'waiting',
  processing: 'running',
  dreaming: 'running',
  completed: 'succeeded',
  failed: 'failed',
};

/** Luma's `failure_code` enum, read. */
export const LUMA_FAILURE_KINDS: Readonly<Record<string, FailureKind>> = {
  content_moderated: 'moderation',
  generation_failed: 'internal',
  budget_exhausted: 'quota',
  output_not_found: 'internal',
  image_too_large: 'invalid',
  unsupported_format: 'invalid',
  corrupt_input: 'invalid',
  invalid_request: 'invalid',
  rate_limited: 'rate_limit',
};

/** What an HTTP error of Luma is about. */
export function lumaHttpKind(status: number | undefined, message: string | undefined): FailureKind {
  if (/moderat|content policy|safety/i.test(message ?? '')) return 'moderation';
  if (status === 401 || status === 403) return /budget|credit|billing/i.test(message ?? '') ? 'quota' : 'auth';
  if (status === 402 || /budget|insufficient|credit/i.test(message ?? '')) return 'quota';
  if (status === 429) return 'rate_limit';
  if (status !== undefined && status >= 400 && status < 500) return 'invalid';
  return 'internal';
}

/** One Generation object. */
export function parseLumaGeneration(g: Json): UpstreamStatus {
  const raw = str(g.state) ?? '';
  const known = LUMA_STATUS_TABLE[raw.toLowerCase()];
  const out: UpstreamStatus = { state: known ?? 'waiting', raw };
  if (!known) out.unrecognised = true;
  const created = Date.parse(str(g.created_at) ?? '');
  if (!Number.isNaN(created)) out.createdAtMs = created;
  if (out.state === 'succeeded') {
    const outputs = Array.isArray(g.output) ? g.output : [];
    const video = outputs.map(asRecord).find((o) => o && (o.type === 'video' || o.type === undefined) && typeof o.url === 'string');
    const url = str(video?.url);
    if (url) out.resultUrl = url;
  }
  if (out.state === 'failed') {
    const code = str(g.failure_code);
    const message = str(g.failure_reason) ?? (code ? `The generation failed (${code}).` : 'The generation failed.');
    out.error = { ...(code ? { code } : {}), message, kind: (code && LUMA_FAILURE_KINDS[code]) || 'internal' };
  }
  return out;
}
