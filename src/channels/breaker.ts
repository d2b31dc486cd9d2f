/**
 * A circuit breaker per channel: "may new jobs be sent here?".
 *
 * closed ──(failureThreshold consecutive submit failures, or one auth/quota failure)──► open
 * open ──(cool-down elapsed)──► half-open: exactly one trial (a real submit or an active probe)
 * half-open ──trial succeeds──► closed;  ──trial fails──► open again with twice the cool-down
 *
 * Only the submit path and probes move it; polling jobs already running on a channel goes on
 * whatever its state. Times are gateway milliseconds (injected clock).
 */
export interface BreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  maxCooldownMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerView {
  state: BreakerState;
  consecutive_failures: number;
  opened_count: number;
  retry_at: number | null;
  last_failure: { at: number; reason: string } | null;
}

/**
 * A channel's breaker as the router and the submit path use it. Implementations: `Breaker`
 * (this process's memory), and `SharedBreaker` (src/shared/breaker.ts: the same transitions,
 * the state kept in Redis) and `PgBreaker` (src/shared/pg-breaker.ts: in PostgreSQL), for every
 * node. Reads are synchronous (the shared ones answer from a copy refreshed twice a second);
 * taking the half-open trial may wait for the shared store.
 */
export interface ChannelBreaker {
  state(now: number): BreakerState;
  available(now: number): boolean;
  retryAt(now: number): number;
  view(now: number): BreakerView;
  /** Permission to send: always when closed; the single trial (across nodes) when half-open. */
  acquire(now: number): boolean | Promise<boolean>;
  success(): void;
  failure(now: number, reason: string, immediate?: boolean): void;
  reset(): void;
}

/** Everything a breaker remembers, as stored in Redis or PostgreSQL (JSON). */
export interface BreakerData {
  state: BreakerState;
  failures: number;
  cooldown: number;
  until: number;
  trialSince: number | null;
  lastFailure: { at: number; reason: string } | null;
  opened: number;
}

/** A trial that never reported back (its worker died) is forgotten after this long. */
const TRIAL_TIMEOUT_MS = 120_000;
/** While a trial runs (here or, with shared breakers, on another node), look again this soon: it usually ends within seconds. */
const TRIAL_RECHECK_MS = 2_000;

export class Breaker implements ChannelBreaker {
  private stateValue: BreakerState = 'closed';
  private failures = 0;
  private cooldown: number;
  private until = 0;
  private trialSince: number | null = null;
  private lastFailure: { at: number; reason: string } | null = null;
  private opened = 0;

  constructor(private readonly opts: BreakerOptions) {
    this.cooldown = opts.cooldownMs;
  }

  state(now: number): BreakerState {
    if (this.stateValue === 'open' && now >= this.until) return 'half_open';
    return this.stateValue;
  }

  /** Whether a submit may go here now, without taking the half-open trial. */
  available(now: number): boolean {
    const s = this.state(now);
    if (s === 'closed') return true;
    if (s === 'open') return false;
    return this.trialSince === null || now - this.trialSince > TRIAL_TIMEOUT_MS;
  }

  /** Take permission to send: always when closed; the single trial when half-open. */
  acquire(now: number): boolean {
    if (!this.available(now)) return false;
    if (this.state(now) !== 'closed') {
      this.stateValue = 'half_open';
      this.trialSince = now;
    }
    return true;
  }

  /** When a submit could be tried here again (now when available). */
  retryAt(now: number): number {
    if (this.available(now)) return now;
    if (this.trialSince === null) return this.until;
    return Math.max(this.until, Math.min(this.trialSince + TRIAL_TIMEOUT_MS, now + TRIAL_RECHECK_MS));
  }

  success(): void {
    this.stateValue = 'closed';
    this.failures = 0;
    this.cooldown = this.opts.cooldownMs;
    this.trialSince = null;
  }

  /** A failure that says something about the channel. `immediate` opens at once (bad key, no quota). */
  failure(now: number, reason: string, immediate = false): void {
    this.lastFailure = { at: now, reason };
    const wasTrial = this.stateValue === 'half_open';
    this.trialSince = null;
    this.failures++;
    if (wasTrial) {
      this.cooldown = Math.min(this.opts.maxCooldownMs, this.cooldown * 2);
      this.open(now);
    } else if (this.stateValue === 'closed' && (immediate || this.failures >= this.opts.failureThreshold)) {
      this.open(now);
    } else if (this.stateValue === 'open') {
      this.until = Math.max(this.until, now + this.cooldown);
    }
  }

  private open(now: number): void {
    this.stateValue = 'open';
    this.until = now + this.cooldown;
    this.opened++;
  }

  /** Forget everything (operator re-enabled the channel or changed it). */
  reset(): void {
    this.success();
    this.lastFailure = null;
  }

  /** The state, to store elsewhere (SharedBreaker). */
  snapshot(): BreakerData {
    return {
      state: this.stateValue,
      failures: this.failures,
      cooldown: this.cooldown,
      until: this.until,
      trialSince: this.trialSince,
      lastFailure: this.lastFailure,
      opened: this.opened,
    };
  }

  /** Take over a stored state (null: a fresh, closed breaker). */
  load(d: BreakerData | null): void {
    this.stateValue = d?.state ?? 'closed';
    this.failures = d?.failures ?? 0;
    this.cooldown = d?.cooldown ?? this.opts.cooldownMs;
    this.until = d?.until ?? 0;
    this.trialSince = d?.trialSince ?? null;
    this.lastFailure = d?.lastFailure ?? null;
    this.opened = d?.opened ?? 0;
  }

  view(now: number): BreakerView {
    const state = this.state(now);
    return {
      state,
      consecutive_failures: this.failures,
      opened_count: this.opened,
      retry_at: state === 'closed' ? null : this.retryAt(now),
      last_failure: this.lastFailure ? { at: this.lastFailure.at, reason: this.lastFailure.reason } : null,
    };
  }
}
