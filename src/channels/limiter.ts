/**
 * Per-channel request limits in this process: requests in flight at once (concurrency) and
 * requests per minute (a token bucket holding ten seconds' worth, at least one), plus a pause
 * set from an upstream's Retry-After. Never waits: tryAcquire says "now" or "not before T", and
 * the caller reschedules its task for T instead of holding a worker slot.
 */
export type Acquired = { ok: true; release: () => void } | { ok: false; retryAt: number };

export interface LimiterView {
  in_flight: number;
  concurrency: number | null;
  rpm: number | null;
  tokens: number | null;
  paused_until: number | null;
  /** Where the numbers live: this process, or Redis or PostgreSQL for every node. */
  shared: boolean;
}

/**
 * A channel's request limits as the provider uses them. Implementations: `ChannelLimiter`
 * (this process's memory), and `SharedChannelLimiter` (src/shared/channel-limiter.ts: leases,
 * bucket and pause in Redis) and `PgChannelLimiter` (src/shared/pg-channel-limiter.ts: in
 * PostgreSQL), for every node.
 */
export interface ChannelLimits {
  update(concurrency: number | null, rpm: number | null): void;
  tryAcquire(now: number): Acquired | Promise<Acquired>;
  pause(until: number): void;
  view(now: number): LimiterView;
}

/** When only the concurrency is exhausted there is no exact time; look again shortly. */
export const BUSY_RETRY_MS = 200;

export class ChannelLimiter implements ChannelLimits {
  private active = 0;
  private tokens: number;
  private refilledAt: number;
  private pausedUntil = 0;

  constructor(
    private concurrency: number | null,
    private rpm: number | null,
    now: number,
  ) {
    this.tokens = this.capacity();
    this.refilledAt = now;
  }

  private capacity(): number {
    return this.rpm === null ? Infinity : Math.max(1, Math.ceil(this.rpm / 6));
  }

  update(concurrency: number | null, rpm: number | null): void {
    this.concurrency = concurrency;
    if (rpm !== this.rpm) {
      this.rpm = rpm;
      this.tokens = Math.min(this.tokens, this.capacity());
    }
  }

  private refill(now: number): void {
    if (this.rpm === null) return;
    const elapsed = Math.max(0, now - this.refilledAt);
    this.tokens = Math.min(this.capacity(), this.tokens + (elapsed * this.rpm) / 60_000);
    this.refilledAt = now;
  }

  tryAcquire(now: number): Acquired {
    if (now < this.pausedUntil) return { ok: false, retryAt: this.pausedUntil };
    if (this.concurrency !== null && this.active >= this.concurrency) return { ok: false, retryAt: now + BUSY_RETRY_MS };
    this.refill(now);
    if (this.rpm !== null) {
      if (this.tokens < 1) return { ok: false, retryAt: now + Math.ceil(((1 - this.tokens) * 60_000) / this.rpm) };
      this.tokens -= 1;
    }
    this.active++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.active--;
      },
    };
  }

  /** No request before `until` (Retry-After). */
  pause(until: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  view(now: number): LimiterView {
    this.refill(now);
    return {
      in_flight: this.active,
      concurrency: this.concurrency,
      rpm: this.rpm,
      tokens: this.rpm === null ? null : Math.floor(this.tokens),
      paused_until: this.pausedUntil > now ? this.pausedUntil : null,
      shared: false,
    };
  }
}
