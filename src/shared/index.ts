import type { FastifyBaseLogger } from 'fastify';
import { RateLimiter } from '../billing/rate-limit.js';
import type { KeyRateLimiter } from '../billing/rate-limit.js';
import { Breaker } from '../channels/breaker.js';
import type { BreakerOptions, ChannelBreaker } from '../channels/breaker.js';
import { ChannelLimiter } from '../channels/limiter.js';
import type { ChannelLimits } from '../channels/limiter.js';
import type { Config } from '../config.js';
import { configuredDatabase } from '../store/db.js';
import { CAS_SCRIPT, SharedBreaker } from './breaker.js';
import type { StoredBreaker } from './breaker.js';
import { ACQUIRE_SCRIPT, PAUSE_SCRIPT, SharedChannelLimiter } from './channel-limiter.js';
import { PgBreaker } from './pg-breaker.js';
import { PgChannelLimiter, RENEW_SQL } from './pg-channel-limiter.js';
import { PgRateLimiter } from './pg-rate-limit.js';
import { PostgresSignals } from './pg-signals.js';
import { PostgresLink } from './postgres.js';
import { RATE_SCRIPT, SharedRateLimiter } from './rate-limit.js';
import { RedisLink } from './redis.js';
import { localSignals, RedisSignals } from './signals.js';
import type { ClusterSignals } from './signals.js';
import type { SharedHealth, SharedLink } from './link.js';

export type { SharedHealth } from './link.js';

/**
 * Where limits and circuit breakers live: in this process (`memory`, the default with SQLite), in
 * Redis for every node (`VIDGATE_REDIS_URL`), or else in the gateway's PostgreSQL database for
 * every node (`VIDGATE_DATABASE_URL=postgres://…`). The gateway asks this for each limiter and
 * breaker and uses them through one interface per concept, whichever backend made them.
 */
export interface LimitsBackend {
  readonly kind: SharedHealth['backend'];
  keyLimiter(): KeyRateLimiter;
  channelLimiter(channelId: string, concurrency: number | null, rpm: number | null, now: number): ChannelLimits;
  breaker(channelId: string, opts: BreakerOptions): ChannelBreaker;
  /** The channel is gone from this process: stop refreshing its state. */
  forget(channelId: string): void;
  health(): SharedHealth;
  /** Outages since start (0 for memory). */
  outages(): number;
  /** Signals between nodes (signals.ts), on the same connection. */
  readonly signals: ClusterSignals;
  close(): Promise<void>;
}

export const memoryLimits: LimitsBackend = {
  kind: 'memory',
  keyLimiter: () => new RateLimiter(),
  channelLimiter: (_id, concurrency, rpm, now) => new ChannelLimiter(concurrency, rpm, now),
  breaker: (_id, opts) => new Breaker(opts),
  forget: () => {},
  health: () => ({ backend: 'memory', ok: true }),
  outages: () => 0,
  signals: localSignals,
  close: async () => {},
};

/** How often the breakers' copies and the limits' view are refreshed from Redis or PostgreSQL. */
const REFRESH_MS = 500;

/**
 * What RedisLimits and PostgresLimits share: this node's channel limiters and breakers (refreshed
 * from the store twice a second, their leases renewed every third of the lease time), health,
 * outages, and closing. Each backend supplies its link, signals, limiter and breaker classes and
 * its own refresh and renew (and any other timers).
 */
export abstract class SharedLimits<Link extends SharedLink, Limiter extends ChannelLimits, Br extends StoredBreaker> implements LimitsBackend {
  abstract readonly kind: 'redis' | 'postgres';
  protected readonly limiters = new Map<string, Limiter>();
  protected readonly breakers = new Map<string, Br>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    protected readonly link: Link,
    readonly signals: ClusterSignals,
    protected readonly leaseMs: number,
    protected readonly now: () => number,
  ) {
    this.every(REFRESH_MS, () => this.refresh());
    this.every(Math.max(250, Math.floor(leaseMs / 3)), () => this.renew());
  }

  abstract keyLimiter(): KeyRateLimiter;
  protected abstract newLimiter(channelId: string, concurrency: number | null, rpm: number | null, now: number): Limiter;
  protected abstract newBreaker(channelId: string, opts: BreakerOptions): Br;
  /** Read every breaker and limit of this node's channels (one round trip), into their `saw`. */
  protected abstract refresh(): Promise<void>;
  /** Extend the leases this node holds, so that only a dead node's slots expire. */
  protected abstract renew(): Promise<void>;

  /** Run `fn` every `ms` until close (the timer does not keep the process alive). */
  protected every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => void fn(), ms);
    t.unref();
    this.timers.push(t);
  }

  channelLimiter(channelId: string, concurrency: number | null, rpm: number | null, now: number): ChannelLimits {
    const l = this.newLimiter(channelId, concurrency, rpm, now);
    this.limiters.set(channelId, l);
    return l;
  }

  breaker(channelId: string, opts: BreakerOptions): ChannelBreaker {
    const b = this.newBreaker(channelId, opts);
    this.breakers.set(channelId, b);
    void this.refresh();
    return b;
  }

  forget(channelId: string): void {
    this.limiters.delete(channelId);
    this.breakers.delete(channelId);
  }

  health(): SharedHealth {
    return this.link.health();
  }

  outages(): number {
    return this.link.outages;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    // Breaker changes this node made on its way out (a last failure) still reach the others.
    await Promise.all([...this.breakers.values()].map((b) => b.flush()));
    await this.signals.close();
    await this.link.close();
  }
}

export class RedisLimits extends SharedLimits<RedisLink, SharedChannelLimiter, SharedBreaker> {
  readonly kind = 'redis';

  constructor(
    opts: { url: string; prefix: string; leaseMs: number; timeoutMs: number },
    log: FastifyBaseLogger,
    now: () => number,
  ) {
    const link = new RedisLink(opts, log, { vidgateRate: RATE_SCRIPT, vidgateAcquire: ACQUIRE_SCRIPT, vidgatePause: PAUSE_SCRIPT, vidgateCas: CAS_SCRIPT });
    super(link, new RedisSignals(link, log), opts.leaseMs, now);
  }

  keyLimiter(): KeyRateLimiter {
    return new SharedRateLimiter(this.link);
  }

  protected newLimiter(channelId: string, concurrency: number | null, rpm: number | null, now: number): SharedChannelLimiter {
    return new SharedChannelLimiter(this.link, channelId, concurrency, rpm, this.leaseMs, now);
  }

  protected newBreaker(channelId: string, opts: BreakerOptions): SharedBreaker {
    return new SharedBreaker(this.link, channelId, opts);
  }

  protected async refresh(): Promise<void> {
    if (!this.link.usable) return;
    const breakers = [...this.breakers.values()];
    const limiters = [...this.limiters.values()];
    if (breakers.length + limiters.length === 0) return;
    const now = this.now();
    const p = this.link.client.pipeline();
    for (const b of breakers) p.get(b.key);
    for (const l of limiters) {
      p.zcount(l.keys.leases, `(${now}`, '+inf');
      p.hmget(l.keys.bucket, 't', 'a');
      p.get(l.keys.pause);
    }
    let out: Array<[Error | null, unknown]> | null;
    try {
      out = await p.exec();
    } catch (err) {
      this.link.failed(err);
      return;
    }
    if (!out) return;
    let i = 0;
    for (const b of breakers) b.saw((out[i++]![1] as string | null) ?? null);
    for (const l of limiters) {
      const inFlight = Number(out[i++]![1] ?? 0);
      const [t, a] = (out[i++]![1] as Array<string | null> | null) ?? [null, null];
      const paused = Number(out[i++]![1] ?? 0);
      l.saw({ inFlight, tokens: t == null ? null : Number(t), at: a == null ? now : Number(a), pausedUntil: paused });
    }
  }

  protected async renew(): Promise<void> {
    if (!this.link.usable) return;
    const until = this.now() + this.leaseMs;
    const p = this.link.client.pipeline();
    let n = 0;
    for (const l of this.limiters.values()) {
      if (l.held.size === 0) continue;
      const args: Array<string | number> = [];
      for (const id of l.held) args.push(until, id);
      p.zadd(l.keys.leases, 'XX', ...args);
      p.pexpire(l.keys.leases, this.leaseMs * 2);
      n++;
    }
    if (n === 0) return;
    try {
      await p.exec();
    } catch (err) {
      this.link.failed(err);
    }
  }
}

/** How often each node deletes the shared rows nobody uses any more (full buckets, old breakers). */
const SWEEP_MS = 60_000;

/** Every breaker and limit of this node's channels, in one round trip. */
const REFRESH_SQL = `
SELECT i.id, b.state AS breaker, l.leases, l.tokens, l.tokens_at, l.paused_until
  FROM unnest($1::text[]) AS i(id)
  LEFT JOIN shared_breakers b ON b.channel_id = i.id
  LEFT JOIN shared_channel_limits l ON l.channel_id = i.id`;

/**
 * Rows that carry no state any more, in one statement: a key's bucket unused for a minute is full
 * (as absent), a channel's row untouched for a day has no live lease, a full bucket and no pause
 * Redis would still keep (its pause key lives a day), and a breaker past its keep time is forgotten.
 */
const SWEEP_SQL = `
WITH a AS (DELETE FROM shared_rate_buckets WHERE tokens_at < $1::bigint - 61000 RETURNING 1),
     b AS (DELETE FROM shared_channel_limits WHERE updated_at < $1::bigint - 86400000 RETURNING 1),
     c AS (DELETE FROM shared_breakers WHERE expires_at < $1::bigint RETURNING 1)
SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) + (SELECT count(*) FROM c) AS n`;

/**
 * Limits and breakers shared by every node through the gateway's PostgreSQL database (when no
 * Redis is configured): RedisLimits' counterpart, with the same semantics and the same fallback.
 * Each acquisition is one statement (pg-rate-limit.ts, pg-channel-limiter.ts, pg-breaker.ts) on a
 * small pool of its own (postgres.ts); signals are LISTEN/NOTIFY (pg-signals.ts). Timers refresh
 * this node's view twice a second, renew the leases it holds every third of the lease time, and
 * delete unused rows every minute.
 */
export class PostgresLimits extends SharedLimits<PostgresLink, PgChannelLimiter, PgBreaker> {
  readonly kind = 'postgres';
  declare readonly signals: PostgresSignals;

  constructor(
    opts: { url: string; leaseMs: number; timeoutMs: number },
    log: FastifyBaseLogger,
    now: () => number,
  ) {
    const link = new PostgresLink({ url: opts.url, timeoutMs: opts.timeoutMs }, log);
    super(link, new PostgresSignals(link, log), opts.leaseMs, now);
    this.every(SWEEP_MS, () => this.sweep());
  }

  keyLimiter(): KeyRateLimiter {
    return new PgRateLimiter(this.link);
  }

  protected newLimiter(channelId: string, concurrency: number | null, rpm: number | null, now: number): PgChannelLimiter {
    return new PgChannelLimiter(this.link, channelId, concurrency, rpm, this.leaseMs, now, this.now);
  }

  protected newBreaker(channelId: string, opts: BreakerOptions): PgBreaker {
    return new PgBreaker(this.link, channelId, opts, this.now);
  }

  protected async refresh(): Promise<void> {
    if (!this.link.usable) return;
    const ids = [...new Set([...this.breakers.keys(), ...this.limiters.keys()])];
    if (ids.length === 0) return;
    const now = this.now();
    type Row = { id: string; breaker: string | null; leases: string | null; tokens: number | null; tokens_at: number | null; paused_until: number | null };
    let rows: Row[];
    try {
      rows = await this.link.query<Row>(REFRESH_SQL, [ids], 'vidgate_limits_refresh');
    } catch (err) {
      this.link.failed(err);
      return;
    }
    for (const r of rows) {
      this.breakers.get(r.id)?.saw(r.breaker);
      const leases = r.leases ? (JSON.parse(r.leases) as Record<string, number>) : {};
      this.limiters.get(r.id)?.saw({
        inFlight: Object.values(leases).filter((until) => until > now).length,
        tokens: r.tokens,
        at: r.tokens_at ?? now,
        pausedUntil: r.paused_until ?? 0,
      });
    }
  }

  protected async renew(): Promise<void> {
    if (!this.link.usable) return;
    const channels: string[] = [];
    const ids: string[] = [];
    for (const l of this.limiters.values()) {
      if (l.held.size === 0) continue;
      channels.push(l.channelId);
      ids.push(...l.held);
    }
    if (channels.length === 0) return;
    const now = this.now();
    try {
      await this.link.query(RENEW_SQL, [channels, ids, now + this.leaseMs, now], 'vidgate_limits_renew');
    } catch (err) {
      this.link.failed(err);
    }
  }

  private async sweep(): Promise<void> {
    if (!this.link.usable) return;
    try {
      await this.link.query(SWEEP_SQL, [this.now()], 'vidgate_limits_sweep');
    } catch (err) {
      this.link.failed(err);
    }
  }
}

/**
 * The backend the configuration asks for: Redis when VIDGATE_REDIS_URL is set; else the gateway's
 * database when it is PostgreSQL (the nodes share it anyway); else this process's memory.
 */
export function createLimits(config: Config, log: FastifyBaseLogger, now: () => number): LimitsBackend {
  const r = config.redis;
  if (r.url) return new RedisLimits({ url: r.url, prefix: r.prefix, leaseMs: r.leaseMs, timeoutMs: r.timeoutMs }, log, now);
  const db = configuredDatabase(config);
  if (db.kind === 'postgres') return new PostgresLimits({ url: db.url, leaseMs: r.leaseMs, timeoutMs: r.timeoutMs }, log, now);
  return memoryLimits;
}
