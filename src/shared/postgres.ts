import pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import { pgTypes } from '../store/sql.js';
import { SharedLink } from './link.js';

export interface PostgresLinkOptions {
  /** The gateway's database (VIDGATE_DATABASE_URL); migration 010 made the tables. */
  url: string;
  /** A statement slower than this counts as a failure (and starts an outage). */
  timeoutMs: number;
}

/** Connections of the limits' pool: each statement is one short round trip. */
const POOL_SIZE = 3;

/** Answers only when the server does and migration 010's tables are there (else every statement would fail). */
const CHECK_SQL = `SELECT (SELECT count(*) FROM shared_rate_buckets WHERE false) + (SELECT count(*) FROM shared_channel_limits WHERE false) + (SELECT count(*) FROM shared_breakers WHERE false) AS n`;

/**
 * The gateway's connection to PostgreSQL for state shared by every node when no Redis is
 * configured, and its health: RedisLink's counterpart (redis.ts), with the same rules.
 *
 * Nothing waits for the database for long: a small pool of its own (so the limits never queue
 * behind the store's queries), statements time out after `timeoutMs` on both ends (pg's
 * query_timeout here, statement_timeout on the server; a timed-out connection is dropped from
 * the pool), and taking a connection counts as failing after a second. While `usable` is false
 * the callers use their in-process limits instead, without trying the database at all; an
 * outage is logged once when it starts and once when it ends, and checked every second
 * (SharedLink, link.ts).
 */
export class PostgresLink extends SharedLink {
  readonly pool: pg.Pool;
  private checking = false;

  constructor(
    readonly opts: PostgresLinkOptions,
    log: FastifyBaseLogger,
  ) {
    super('PostgreSQL', 'postgres', ' for limits', log);
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: POOL_SIZE,
      connectionTimeoutMillis: Math.max(1000, opts.timeoutMs),
      query_timeout: opts.timeoutMs,
      statement_timeout: opts.timeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      types: pgTypes,
      application_name: 'vidgate-limits',
    });
    // An idle connection dropped by the server must not crash the process; the next statement
    // gets a new one, or reports the outage.
    this.pool.on('error', () => {});
    // Until the first statement answers, the local limits apply.
    void this.check();
  }

  /**
   * One statement on the limits' pool (callers check `usable` first and call `failed` on errors).
   * Named statements are prepared once per connection: planning these statements costs more
   * than running them (0.16 vs 0.07 ms for the key bucket), and they run on every request.
   */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[], name?: string): Promise<R[]> {
    return (await this.pool.query<R>(name ? { name, text, values } : { text, values })).rows;
  }

  /** The server answers and migration 010's tables are there; one check at a time (another one meanwhile is skipped). */
  protected async ping(): Promise<boolean> {
    if (this.checking) return false;
    this.checking = true;
    try {
      await this.pool.query(CHECK_SQL);
    } finally {
      this.checking = false;
    }
    return true;
  }

  protected async disconnect(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
