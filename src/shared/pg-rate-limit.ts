import { RateLimiter } from '../billing/rate-limit.js';
import type { KeyRateLimiter, RateDecision } from '../billing/rate-limit.js';
import type { PostgresLink } from './postgres.js';

/**
 * The new bucket from the previous one (`t`, `a`: NULL for none), as a SELECT: billing/rate-limit.ts's
 * arithmetic, in the same order of operations, so that the answers are the in-process ones to the
 * last bit. $2 the capacity (the per-minute limit), $3 now.
 */
const next = (t: string, a: string) => `
  SELECT CASE WHEN s.t1 >= 1 THEN s.t1 - 1 ELSE s.t1 END, s.a1, CASE WHEN s.t1 >= 1 THEN 1 ELSE 0 END
    FROM (SELECT LEAST($2::float8, COALESCE(${t}, $2::float8) + GREATEST(0, $3::bigint - COALESCE(${a}, $3::bigint)) * ($2::float8 / 60000)) AS t1,
                 GREATEST(COALESCE(${a}, $3::bigint), $3::bigint) AS a1) s`;

/**
 * Take one token from a key's bucket: one statement, atomic across nodes. The INSERT path starts
 * from a full bucket; on conflict the row is locked and the new state computed from its latest
 * version (READ COMMITTED re-reads a row it waited for), so two nodes taking at once queue on the
 * row and each sees the other's take. `granted` records the outcome because RETURNING sees only
 * the new row.
 */
export const RATE_SQL = `
INSERT INTO shared_rate_buckets AS b (key_id, tokens, tokens_at, granted)
  SELECT $1, x.* FROM (${next('NULL::float8', 'NULL::bigint')}) x
ON CONFLICT (key_id) DO UPDATE SET (tokens, tokens_at, granted) = (${next('b.tokens', 'b.tokens_at')})
RETURNING tokens, granted`;

/**
 * The per-key token bucket of billing/rate-limit.ts, kept in PostgreSQL (one row per key, deleted
 * a minute after its last use, when it is full anyway) so that every node draws from the same
 * bucket. Same capacity, refill and answers as the in-process one, which applies while the
 * database is unreachable.
 */
export class PgRateLimiter implements KeyRateLimiter {
  private readonly local = new RateLimiter();

  constructor(private readonly link: PostgresLink) {}

  take(id: string, perMinute: number, now: number): RateDecision | Promise<RateDecision> {
    if (!this.link.usable) return this.local.take(id, perMinute, now);
    return this.link.query<{ tokens: number; granted: number }>(RATE_SQL, [id, perMinute, now], 'vidgate_key_rate').then(
      (rows) => {
        const { tokens, granted } = rows[0]!;
        const rate = perMinute / 60_000;
        const ok = granted === 1;
        return {
          ok,
          limit: perMinute,
          remaining: Math.floor(tokens),
          resetMs: Math.ceil((perMinute - tokens) / rate),
          retryAfterMs: ok ? 0 : Math.ceil((1 - tokens) / rate),
        };
      },
      (err: unknown) => {
        this.link.failed(err);
        return this.local.take(id, perMinute, now);
      },
    );
  }
}
