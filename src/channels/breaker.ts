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

/** A trial that never reported back (its worker died) is forgotten after this long. */
const TRIAL_TIMEOUT_MS = 120_000;

export class Breaker {
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
    return this.trialSince === null ? this.until : Math.max(this.until, this.trialSince + TRIAL_TIMEOUT_MS);
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

  view(now: number) {
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
