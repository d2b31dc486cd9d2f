import pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import { errorText } from '../store/open.js';
import { pgTypes } from '../store/sql.js';
import type { SharedHealth } from './redis.js';

export interface PostgresLinkOptions {
  /** The gateway's database (VIDGATE_DATABASE_URL); migration 010 made the tables. */
  url: string;
  /** A statement slower than this counts as a failure (and starts an outage). */
  timeoutMs: number;
}

/** How often an outage checks whether PostgreSQL answers again. */
const RECOVER_EVERY_MS = 1000;
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
 * outage is logged once when it starts and once when it ends, and checked every second.
 */
export class PostgresLink {
  readonly pool: pg.Pool;
  private phase: 'connecting' | 'up' | 'down' = 'connecting';
  private failingSince: number | null = Date.now();
  private lastError = 'connecting';
  private recovering: NodeJS.Timeout | undefined;
  private checking = false;
  private closed = false;
  /** Outages seen since start (metrics). */
  outages = 0;

  constructor(
    readonly opts: PostgresLinkOptions,
    private readonly log: FastifyBaseLogger,
  ) {
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

  /** Whether to use the database now (false during an outage: use the local limits). */
  get usable(): boolean {
    return this.phase === 'up';
  }

  /**
   * One statement on the limits' pool (callers check `usable` first and call `failed` on errors).
   * Named statements are prepared once per connection: planning these statements costs more
   * than running them (0.16 vs 0.07 ms for the key bucket), and they run on every request.
   */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[], name?: string): Promise<R[]> {
    return (await this.pool.query<R>(name ? { name, text, values } : { text, values })).rows;
  }

  /** A statement failed or timed out: an outage starts (logged once), the local limits apply. */
  failed(err: unknown): void {
    if (this.closed) return;
    this.lastError = errorText(err).slice(0, 200);
    if (this.phase !== 'down') {
      if (this.phase === 'up') this.failingSince = Date.now();
      this.phase = 'down';
      this.outages++;
      this.log.warn({ err: this.lastError }, 'PostgreSQL is unreachable for limits: limits and breakers are kept per node until it answers again');
    }
    if (!this.recovering) {
      this.recovering = setInterval(() => void this.check(), RECOVER_EVERY_MS);
      this.recovering.unref();
    }
  }

  private async check(): Promise<void> {
    if (this.phase === 'up' || this.closed || this.checking) return;
    this.checking = true;
    try {
      await this.pool.query(CHECK_SQL);
    } catch (err) {
      this.failed(err);
      return;
    } finally {
      this.checking = false;
    }
    if (this.closed || (this.phase as string) === 'up') return;
    const wasOutage = this.phase === 'down';
    this.phase = 'up';
    this.failingSince = null;
    this.lastError = '';
    if (this.recovering) clearInterval(this.recovering);
    this.recovering = undefined;
    if (wasOutage) this.log.warn('PostgreSQL answers again: limits and breakers are shared by every node again');
  }

  health(): SharedHealth {
    if (this.phase === 'up') return { backend: 'postgres', ok: true };
    return { backend: 'postgres', ok: false, failing_since: new Date(this.failingSince ?? Date.now()).toISOString(), error: this.lastError };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.recovering) clearInterval(this.recovering);
    await this.pool.end().catch(() => {});
  }
}
