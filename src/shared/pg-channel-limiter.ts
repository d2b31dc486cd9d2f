import { BUSY_RETRY_MS } from '../channels/limiter.js';
import { StoredChannelLimiter } from './channel-limiter.js';
import type { Taken } from './channel-limiter.js';
import type { PostgresLink } from './postgres.js';

/**
 * The channel's new state from its previous one, as a SELECT of (leases, tokens, tokens_at,
 * paused_until, updated_at): the checks of channel-limiter.ts's ACQUIRE_SCRIPT in the same order.
 * Leases past their expiry are dropped; paused, or as many live leases as the concurrency: no
 * slot, the bucket untouched; else the rpm bucket (ten seconds' worth, at least one, refilled as
 * channels/limiter.ts does) gives a token or not; a slot taken adds lease $6 until now + $5.
 * $2 now, $3 concurrency (-1: none), $4 rpm (-1: none).
 */
const next = (leases: string, tokens: string, at: string, paused: string) => `
  SELECT CASE WHEN s.ok THEN (s.live || jsonb_build_object($6::text, $2::bigint + $5::bigint))::text ELSE s.live::text END,
         CASE WHEN s.stop OR $4::float8 < 0 THEN s.tokens ELSE s.t1 - CASE WHEN s.ok THEN 1 ELSE 0 END END,
         CASE WHEN s.stop OR $4::float8 < 0 THEN s.tokens_at ELSE s.a1 END,
         s.paused_until, $2::bigint
    FROM (SELECT r.*, NOT r.stop AND ($4::float8 < 0 OR r.t1 >= 1) AS ok
            FROM (SELECT q.*, ($2::bigint < q.paused_until OR ($3::int >= 0 AND q.n >= $3::int)) AS stop,
                         LEAST(q.cap, COALESCE(q.tokens, q.cap) + (GREATEST(0, $2::bigint - COALESCE(q.tokens_at, $2::bigint)) * $4::float8) / 60000) AS t1,
                         GREATEST(COALESCE(q.tokens_at, $2::bigint), $2::bigint) AS a1
                    FROM (SELECT p.*, (SELECT count(*) FROM jsonb_object_keys(p.live)) AS n, GREATEST(1, ceil($4::float8 / 6)) AS cap
                            FROM (SELECT ${tokens} AS tokens, ${at} AS tokens_at, ${paused} AS paused_until,
                                         COALESCE((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each((${leases})::jsonb) e WHERE (e.value)::bigint > $2::bigint), '{}'::jsonb) AS live) p) q) r) s`;

/**
 * Take a slot on a channel: one statement, atomic across nodes. The channel's whole state is one
 * row; INSERT starts from a fresh one, and on conflict the row is locked and the new state
 * computed from its latest version (READ COMMITTED re-reads a row it waited for), so nodes taking
 * slots at once queue on the row and each sees the slots and tokens the others took. RETURNING
 * says whether lease $6 is in, and what the caller needs for the time to retry.
 */
export const ACQUIRE_SQL = `
INSERT INTO shared_channel_limits AS c (channel_id, leases, tokens, tokens_at, paused_until, updated_at)
  SELECT $1, x.* FROM (${next(`'{}'`, 'NULL::float8', 'NULL::bigint', '0::bigint')}) x
ON CONFLICT (channel_id) DO UPDATE SET (leases, tokens, tokens_at, paused_until, updated_at) = (${next('c.leases', 'c.tokens', 'c.tokens_at', 'c.paused_until')})
RETURNING leases::jsonb ? $6::text AS ok, (SELECT count(*) FROM jsonb_object_keys(leases::jsonb)) AS n, tokens, paused_until`;

/** Pause until $2 unless already paused longer. */
export const PAUSE_SQL = `
INSERT INTO shared_channel_limits AS c (channel_id, paused_until, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (channel_id) DO UPDATE SET paused_until = GREATEST(c.paused_until, EXCLUDED.paused_until), updated_at = EXCLUDED.updated_at`;

export const RELEASE_SQL = `UPDATE shared_channel_limits SET leases = (leases::jsonb - $2::text)::text WHERE channel_id = $1`;

/** Extend the leases $2 (on channels $1) to $3; leases already gone (expired, released) stay gone. */
export const RENEW_SQL = `
UPDATE shared_channel_limits
   SET leases = COALESCE((SELECT jsonb_object_agg(e.key, CASE WHEN e.key = ANY($2::text[]) THEN to_jsonb($3::bigint) ELSE e.value END)
                            FROM jsonb_each(leases::jsonb) e), '{}'::jsonb)::text,
       updated_at = $4
 WHERE channel_id = ANY($1::text[])`;

/**
 * A channel's limits of channels/limiter.ts, kept in PostgreSQL for every node (one row per
 * channel in shared_channel_limits):
 * - requests in flight: leases with their expiry; a node renews the leases it holds every third
 *   of the lease time, so the slots of a node that died (SIGKILL, lost host) expire within one
 *   lease time;
 * - requests per minute: the same token bucket (ten seconds' worth, at least one);
 * - the pause an upstream's Retry-After asked for.
 * One statement checks all three and takes a slot atomically. While the database is unreachable
 * the in-process limiter applies (its slots are released there; StoredChannelLimiter, channel-limiter.ts).
 */
export class PgChannelLimiter extends StoredChannelLimiter {
  constructor(
    private readonly db: PostgresLink,
    channelId: string,
    concurrency: number | null,
    rpm: number | null,
    leaseMs: number,
    now: number,
    /** The gateway's clock, for the times pause() writes. */
    private readonly clock: () => number,
  ) {
    super(db, channelId, concurrency, rpm, leaseMs, now);
  }

  protected async take(now: number, id: string): Promise<Taken> {
    const conc = this.concurrency;
    const rpm = this.rpm;
    const [r] = await this.db.query<{ ok: boolean; n: number; tokens: number | null; paused_until: number }>(ACQUIRE_SQL, [this.channelId, now, conc ?? -1, rpm ?? -1, this.leaseMs, id], 'vidgate_channel_acquire');
    if (r!.ok) return { ok: true };
    if (now < r!.paused_until) return { ok: false, retryAt: r!.paused_until };
    if (conc !== null && r!.n >= conc) return { ok: false, retryAt: now + BUSY_RETRY_MS };
    return { ok: false, retryAt: now + Math.ceil(((1 - (r!.tokens ?? 0)) * 60_000) / rpm!) };
  }

  protected release(id: string): Promise<unknown> {
    return this.db.query(RELEASE_SQL, [this.channelId, id], 'vidgate_channel_release');
  }

  protected storePause(until: number): Promise<unknown> {
    return this.db.query(PAUSE_SQL, [this.channelId, until, this.clock()], 'vidgate_channel_pause');
  }
}
