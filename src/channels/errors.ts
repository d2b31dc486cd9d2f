import type { TaskFailure } from '../core/errors.js';
import type { UpstreamError, UpstreamStatus } from '../providers/types.js';

/**
 * Failures of upstream tasks: a stable code plus a sentence a caller can act on, with the
 * provider's own reason appended — parsed out of its envelope (never the raw body, cf.
 * new-api#2830), trimmed, and with secrets removed. Messages never name the channel: which
 * upstream serves a model is the operator's business.
 */
export const CODES = {
  moderation: 'moderation_blocked',
  invalidRequest: 'upstream_invalid_request',
  rejected: 'upstream_rejected',
  auth: 'upstream_auth_failed',
  quota: 'upstream_quota_exceeded',
  unavailable: 'upstream_unavailable',
  submitUnknown: 'upstream_submit_unknown',
  failed: 'upstream_failed',
  cancelled: 'upstream_cancelled',
  expired: 'upstream_expired',
  timeout: 'upstream_timeout',
  notFound: 'upstream_task_not_found',
  deadline: 'deadline_exceeded',
  downloadFailed: 'result_download_failed',
  resultExpired: 'result_expired',
  tooLarge: 'result_too_large',
  invalidResult: 'result_invalid',
  source: 'source_unavailable',
} as const;

const MAX_REASON = 500;

/** Remove credentials and signed-URL secrets from text that came from (or goes near) an upstream. */
export function scrub(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) {
    if (s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out
    .replace(/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, '$1 [redacted]')
    .replace(/\b(sk|pk|rk|key|api)[-_](?:[A-Za-z0-9]+[-_])*[A-Za-z0-9*]{8,}/g, '[redacted]')
    .replace(/([?&](?:key|api[-_]?key|access[-_]?token|token|sig|signature|x-amz-signature|x-amz-credential|x-goog-signature|expires|auth)=)[^&\s"'<>]+/gi, '$1[redacted]')
    .replace(/((?:"|')?(?:api[-_]?key|authorization|access[-_]?token|secret|password)(?:"|')?\s*[:=]\s*(?:"|')?)([^"'\s,}]+)/gi, (all, head: string, value: string) =>
      // Only values that look like tokens (a digit in them, or long): "api_key: Incorrect …" stays readable.
      value.length >= 8 && (/\d/.test(value) || value.length >= 20) ? `${head}[redacted]` : all,
    );
}

/**
 * An upstream status with its free text scrubbed (the status word, the error's code, type and
 * message), before it is logged, kept in the task's provider state or shown anywhere: an upstream
 * may echo the channel's key in any of them. Result URLs are kept as they are: they are where the
 * file is (signed query strings included) and are never shown outside the gateway.
 */
export function scrubStatus(status: UpstreamStatus, secrets: readonly string[]): UpstreamStatus {
  const out: UpstreamStatus = { ...status, raw: trimReason(scrub(status.raw, secrets)).slice(0, 100) };
  if (status.error) {
    const e: NonNullable<UpstreamStatus['error']> = { ...status.error };
    for (const f of ['code', 'type', 'message'] as const) {
      const v = e[f];
      if (typeof v === 'string') e[f] = trimReason(scrub(v, secrets));
    }
    out.error = e;
  }
  return out;
}

/**
 * Absolute file paths (of this server: scratch files, tools) taken out of text that may reach a
 * caller. URLs keep their paths (a path right after a host or a scheme is not matched).
 */
export function withoutPaths(text: string): string {
  return text.replace(/(^|[\s('"=,;[])\/(?:[\w.@+-]+\/)*[\w.@+-]+/g, '$1[path]');
}

/** One line, at most MAX_REASON characters. */
export function trimReason(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 1)}…` : line;
}

/** "HTTP 400, invalid_value, param seconds: Invalid value …" from a parsed upstream HTTP error. */
export function describeUpstreamError(err: UpstreamError, secrets: readonly string[]): string {
  const d = err.detail;
  const tags = [d.status ? `HTTP ${d.status}` : undefined, d.code, d.param ? `param ${d.param}` : undefined]
    .filter((t): t is string => !!t)
    .map((t) => scrub(t, secrets))
    .join(', ');
  const message = scrub(d.upstreamMessage ?? err.message, secrets);
  return trimReason(tags ? `${tags}: ${message}` : message);
}

const MODERATION = /moderat|content[_\s-]?(?:policy|safety|filter)|safety|sensitive|nsfw|inappropriate|prohibited|\brai\b|filtered|policy[_\s-]?violation/i;
const QUOTA = /insufficient[_\s-]?(?:quota|balance|credit|funds)|quota|balance|billing|payment|credit/i;

export function isModeration(e: { code?: string; type?: string; message?: string } | undefined): boolean {
  if (!e) return false;
  return MODERATION.test(e.code ?? '') || MODERATION.test(e.type ?? '') || MODERATION.test(e.message ?? '');
}

export function isQuota(err: UpstreamError): boolean {
  // The adapter's reading of its provider's code wins over words (DashScope's `Throttling.RateQuota` is a rate limit).
  if (err.detail.kind) return err.detail.kind === 'quota';
  return err.detail.status === 402 || QUOTA.test(err.detail.code ?? '') || QUOTA.test(err.detail.type ?? '');
}

/**
 * The failure of a job the upstream reports as failed, cancelled or expired: by the kind the
 * adapter read from the provider's code when it has one, else by the words of the reason.
 */
export function jobFailure(status: UpstreamStatus, secrets: readonly string[]): TaskFailure {
  const e = status.error;
  const reason = e?.message || e?.code ? trimReason(scrub(`${e?.message ?? ''}${e?.code && e.code !== e.message ? ` (${e.code})` : ''}`.trim(), secrets)) : '';
  const said = reason ? `: ${reason}` : '.';
  switch (status.state) {
    case 'cancelled':
      return { code: CODES.cancelled, message: `The upstream provider cancelled this video${said}` };
    case 'expired':
      return { code: CODES.expired, message: `The upstream provider let this job expire before it ran${said}` };
  }
  const kind = e?.kind ?? (isModeration(e) ? 'moderation' : undefined);
  switch (kind) {
    case 'moderation':
      return { code: CODES.moderation, message: `The upstream provider's moderation blocked this video${said}` };
    case 'invalid':
      return { code: CODES.invalidRequest, message: `The upstream provider could not make this video from this request${said}` };
    case 'quota':
      return { code: CODES.quota, message: `The upstream provider's account ran out of quota for this video${said}` };
    case 'timeout':
      return { code: CODES.timeout, message: `The upstream provider timed out making this video${said}` };
    default:
      return { code: CODES.failed, message: `The upstream provider failed to make this video${said}` };
  }
}

/** A submit the upstream refused for reasons of the request itself. */
export function rejectionFailure(err: UpstreamError, secrets: readonly string[]): TaskFailure {
  const reason = describeUpstreamError(err, secrets);
  const d = err.detail;
  if (d.kind === 'moderation' || (d.kind === undefined && isModeration({ code: d.code, type: d.type, message: d.upstreamMessage }))) {
    return { code: CODES.moderation, message: `The upstream provider's moderation refused this request (${reason}).` };
  }
  if (d.kind === 'invalid' || d.status === 400 || d.status === 422) {
    return { code: CODES.invalidRequest, message: `The upstream provider rejected the request as invalid (${reason}).` };
  }
  return { code: CODES.rejected, message: `The upstream provider refused the request (${reason}).` };
}
