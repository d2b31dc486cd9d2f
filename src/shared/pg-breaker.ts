import type { BreakerOptions } from '../channels/breaker.js';
import { KEEP_MS, StoredBreaker } from './breaker.js';
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
 * the copy is replaced by the shared state when it answers again (StoredBreaker, breaker.ts).
 */
export class PgBreaker extends StoredBreaker {
  constructor(
    private readonly db: PostgresLink,
    channelId: string,
    opts: BreakerOptions,
    private readonly clock: () => number,
  ) {
    super(db, channelId, opts);
  }

  /** The state this node last saw: a change is one round trip while its copy is up to date. */
  protected read(): string {
    return this.raw;
  }

  protected async compareAndSet(before: string, after: string): Promise<string | null> {
    const [r] = await this.db.query<{ changed: number; state: string }>(BREAKER_CAS_SQL, [this.channelId, before, after, this.clock() + KEEP_MS], 'vidgate_breaker_cas');
    return r!.changed === 1 || (after === before && r!.state === before) ? null : r!.state;
  }
}
