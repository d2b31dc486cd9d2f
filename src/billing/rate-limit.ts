/**
 * Requests per minute per key, as a token bucket (capacity = the per-minute limit, refilled
 * continuously).
 */
export interface RateDecision {
  ok: boolean;
  limit: number;
  remaining: number;
  /** Until the bucket is full again. */
  resetMs: number;
  /** Until the next request would be allowed (0 when ok). */
  retryAfterMs: number;
}

/**
 * Per-key request rate as the access hook uses it. Implementations: `RateLimiter` (this
 * process's memory, answers synchronously), and `SharedRateLimiter` (src/shared/rate-limit.ts:
 * the bucket in Redis) and `PgRateLimiter` (src/shared/pg-rate-limit.ts: in PostgreSQL), for
 * every node, which answer with a promise.
 */
export interface KeyRateLimiter {
  take(id: string, perMinute: number, now: number): RateDecision | Promise<RateDecision>;
}

export class RateLimiter implements KeyRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  take(id: string, perMinute: number, now: number): RateDecision {
    const rate = perMinute / 60_000;
    const b = this.buckets.get(id) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + (now - b.at) * rate);
    b.at = now;
    this.buckets.set(id, b);
    if (this.buckets.size > 10_000) this.prune(now);
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    return {
      ok,
      limit: perMinute,
      remaining: Math.floor(b.tokens),
      resetMs: Math.ceil((perMinute - b.tokens) / rate),
      retryAfterMs: ok ? 0 : Math.ceil((1 - b.tokens) / rate),
    };
  }

  /** Forget buckets that have refilled (they carry no state). */
  private prune(now: number): void {
    for (const [id, b] of this.buckets) if (now - b.at > 60_000) this.buckets.delete(id);
  }
}

/** OpenAI's duration format for x-ratelimit-reset-*: "1s", "6m0s", "250ms". */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.ceil(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}
