/**
 * Small, liberal readers for upstream JSON, shared by the adapters. Upstreams differ in types
 * (numbers as strings, fractional progress, seconds vs milliseconds); these helpers accept what
 * is plausible and return undefined for the rest, never throwing.
 */

export type Json = Record<string, unknown>;

export const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export const asRecord = (v: unknown): Json | undefined => (isRecord(v) ? v : undefined);

/** A non-empty string (numbers are turned into strings). */
export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A finite number, also from a numeric string ("42", "42.5", "42%"). */
export function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s*%?\s*$/.exec(v);
    return m ? Number(m[1]) : undefined;
  }
  return undefined;
}

/** Progress 0–100 as an integer; a fraction in (0, 1] is read as a share (Runway-style). */
export function progress(v: unknown): number | undefined {
  const n = num(v);
  if (n === undefined || n < 0) return undefined;
  const pct = n > 0 && n < 1 && typeof v === 'number' && !Number.isInteger(v) ? n * 100 : n;
  return Math.max(0, Math.min(100, Math.round(pct)));
}

/** A Unix timestamp in seconds (or milliseconds when it is obviously that) → milliseconds. */
export function unixMs(v: unknown): number | undefined {
  const n = num(v);
  if (n === undefined || n <= 0) return undefined;
  return n > 1e12 ? Math.round(n) : Math.round(n * 1000);
}

/** The error object of a job: `{code, message, type}`, a bare string, or absent/empty. */
export function jobError(v: unknown): { code?: string; message?: string; type?: string } | undefined {
  if (typeof v === 'string') return v.trim() ? { message: v } : undefined;
  const e = asRecord(v);
  if (!e) return undefined;
  const out = { code: str(e.code), message: str(e.message) ?? str(e.msg) ?? str(e.detail), type: str(e.type) };
  return out.code || out.message || out.type ? out : undefined;
}

/** The first http(s) URL in a string, or in the first element of an array of strings. */
export function firstUrl(v: unknown): string | undefined {
  const candidate = Array.isArray(v) ? v.find((x) => typeof x === 'string' && x.trim() !== '') : v;
  if (typeof candidate !== 'string') return undefined;
  const s = candidate.trim();
  return /^https?:\/\//i.test(s) ? s : undefined;
}
