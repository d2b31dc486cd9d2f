import { Breaker } from '../channels/breaker.js';
import type { BreakerOptions, BreakerState, BreakerView, ChannelBreaker } from '../channels/breaker.js';
import { CAS_ATTEMPTS, KEEP_MS, isFresh, parseBreakerState } from './breaker.js';
import type { PostgresLink } from './postgres.js';

/**
 * Compare-and-set of a channel's stored breaker state, in one statement: $2 the state the change
 * was computed from ('' for none), $3 the new one ('' to delete the row: a fresh, closed breaker is
 * no row), $4 its expiry. Only one of the three writes can apply; each re-checks the row it waited
 * for (READ COMMITTED), so of two nodes changing the same state only one succeeds. $2 = $3
 * changes nothing and only confirms that $2 is still the state. `state` is the stored state as
 * the statement began, for the next attempt when this one lost.
 */
export const BREAKER_CAS_SQL = `
WITH cur AS (SELECT state FROM shared_breakers WHERE channel_id = $1),
upd AS (UPDATE shared_breakers SET state = $3, expires_at = $4 WHERE channel_id = $1 AND state = $2 AND $3 <> '' AND $3 <> $2 RETURNING 1),
del AS (DELETE FROM shared_breakers WHERE channel_id = $1 AND state = $2 AND $3 = '' RETURNING 1),
ins AS (INSERT INTO shared_breakers (channel_id, state, expires_at) SELECT $1, $3, $4 WHERE $2 = '' AND $3 <> '' ON CONFLICT (channel_id) DO NOTHING RETURNING 1)
SELECT (SELECT count(*) FROM upd) + (SELECT count(*) FROM del) + (SELECT count(*) FROM ins) AS changed, COALESCE((SELECT state FROM cur), '') AS state`;

/**
 * A channel's circuit breaker shared by every node through PostgreSQL: SharedBreaker's
 * (breaker.ts) counterpart. The transitions are Breaker's own (channels/breaker.ts); only the
 * state lives in the database, as JSON in one row of shared_breakers. Each change applies the
 * transition to the state this node last saw and stores the result only if that is still the
 * stored state (compare-and-set in one statement; when it lost, the statement says what is
 * stored, and the change is computed again from that, a few times at most): two nodes racing for
 * the half-open trial cannot both get it. With an up-to-date copy a change is one round trip.
 *
 * Reads (state, available, retryAt, view) answer from a copy refreshed twice a second and after
 * each change from this node; taking permission to send always asks the database. Changes from
 * this node are applied in order. While the database is unreachable a local Breaker decides, and
 * the copy is replaced by the shared state when it answers again.
 */
export class PgBreaker implements ChannelBreaker {
  /** The shared state as last seen (reads), or this node's own during an outage. */
  private readonly copy: Breaker;
  /** The stored text `copy` was loaded from ('' for none): what the next change compares with. */
  private raw = '';
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly link: PostgresLink,
    readonly channelId: string,
    private readonly opts: BreakerOptions,
    private readonly clock: () => number,
  ) {
    this.copy = new Breaker(opts);
  }

  state(now: number): BreakerState {
    return this.copy.state(now);
  }

  available(now: number): boolean {
    return this.copy.available(now);
  }

  retryAt(now: number): number {
    return this.copy.retryAt(now);
  }

  view(now: number): BreakerView {
    return this.copy.view(now);
  }

  acquire(now: number): boolean | Promise<boolean> {
    if (!this.link.usable) return this.copy.acquire(now);
    return this.change((b) => b.acquire(now), false);
  }

  success(): void {
    void this.change((b) => b.success(), undefined);
  }

  failure(now: number, reason: string, immediate = false): void {
    void this.change((b) => b.failure(now, reason, immediate), undefined);
  }

  reset(): void {
    void this.change((b) => b.reset(), undefined);
  }

  /** Resolves once this node's changes so far are stored (or given up). */
  async flush(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  /** Called by the refresh loop with the stored state (null: none, a closed breaker). */
  saw(raw: string | null): void {
    if (!this.link.usable) return;
    this.raw = raw ?? '';
    this.copy.load(parseBreakerState(raw));
  }

  /** Apply one transition to the shared state, in this node's order; `busy` if it cannot be stored. */
  private change<T>(op: (b: Breaker) => T, busy: T): Promise<T> {
    const run = async (): Promise<T> => {
      if (!this.link.usable) return op(this.copy);
      try {
        let before = this.raw;
        for (let i = 0; i < CAS_ATTEMPTS; i++) {
          const b = new Breaker(this.opts);
          b.load(parseBreakerState(before || null));
          const result = op(b);
          const data = b.snapshot();
          const after = isFresh(data, this.opts.cooldownMs) ? '' : JSON.stringify(data);
          const [r] = await this.link.query<{ changed: number; state: string }>(BREAKER_CAS_SQL, [this.channelId, before, after, this.clock() + KEEP_MS], 'vidgate_breaker_cas');
          if (r!.changed === 1 || (after === before && r!.state === before)) {
            this.raw = after;
            this.copy.load(data);
            return result;
          }
          before = r!.state;
        }
        return busy;
      } catch (err) {
        this.link.failed(err);
        return op(this.copy);
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p;
    return p;
  }
}
