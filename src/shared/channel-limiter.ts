import { randomBytes } from 'node:crypto';
import { BUSY_RETRY_MS, ChannelLimiter } from '../channels/limiter.js';
import type { Acquired, ChannelLimits, LimiterView } from '../channels/limiter.js';
import type { SharedLink } from './link.js';
import type { RedisLink } from './redis.js';

/**
 * A channel's limits of channels/limiter.ts, kept in Redis for every node:
 * - requests in flight: a sorted set of leases scored by their expiry; a node renews the leases
 *   it holds every third of the lease time, so the slots of a node that died (SIGKILL, lost
 *   host) expire within one lease time;
 * - requests per minute: the same token bucket (ten seconds' worth, at least one);
 * - the pause an upstream's Retry-After asked for.
 * One script checks all three and takes a slot atomically. During a Redis outage the
 * in-process limiter applies (its slots are released there).
 */
export const ACQUIRE_SCRIPT = {
  keys: 3,
  lua: `
local now = tonumber(ARGV[1])
local conc = tonumber(ARGV[2])
local rpm = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local paused = tonumber(redis.call('GET', KEYS[3]) or '0')
if now < paused then return {0, paused} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if conc >= 0 and redis.call('ZCARD', KEYS[1]) >= conc then return {0, now + tonumber(ARGV[6])} end
if rpm >= 0 then
  local cap = math.max(1, math.ceil(rpm / 6))
  local b = redis.call('HMGET', KEYS[2], 't', 'a')
  local tokens = tonumber(b[1])
  local at = tonumber(b[2])
  if tokens == nil or at == nil then tokens = cap; at = now end
  if now > at then tokens = tokens + (now - at) * rpm / 60000; at = now end
  tokens = math.min(cap, tokens)
  local retry = 0
  if tokens < 1 then retry = now + math.ceil((1 - tokens) * 60000 / rpm) else tokens = tokens - 1 end
  redis.call('HSET', KEYS[2], 't', string.format('%.17g', tokens), 'a', string.format('%.17g', at))
  redis.call('PEXPIRE', KEYS[2], math.ceil(cap * 60000 / rpm) + 1000)
  if retry > 0 then return {0, retry} end
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
redis.call('PEXPIRE', KEYS[1], lease * 2)
return {1, 0}
`,
};

/** Pause until ARGV[1] unless already paused longer (the key outlives any pause; the time is compared, not the key's life). */
export const PAUSE_SCRIPT = {
  keys: 1,
  lua: `
local until_ = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > cur then redis.call('SET', KEYS[1], tostring(until_), 'PX', 86400000) end
return 1
`,
};

/** What the last refresh read from the shared store (for the operator's view). */
export interface Seen {
  inFlight: number;
  tokens: number | null;
  at: number;
  pausedUntil: number;
}

/** What a store answers to taking a slot: taken, or when to try again. */
export type Taken = { ok: true } | { ok: false; retryAt: number };

/**
 * A channel's limits kept in a store for every node (SharedChannelLimiter in Redis,
 * PgChannelLimiter in PostgreSQL), falling back on the in-process limiter while the link is not
 * usable (its slots are released there). The backend supplies only the three operations on the
 * store: take a slot under a new lease id, release a lease, pause.
 */
export abstract class StoredChannelLimiter implements ChannelLimits {
  private readonly local: ChannelLimiter;
  /** Leases this process holds (renewed until released). */
  readonly held = new Set<string>();
  private seen: Seen = { inFlight: 0, tokens: null, at: 0, pausedUntil: 0 };

  constructor(
    private readonly link: SharedLink,
    readonly channelId: string,
    protected concurrency: number | null,
    protected rpm: number | null,
    protected readonly leaseMs: number,
    now: number,
  ) {
    this.local = new ChannelLimiter(concurrency, rpm, now);
  }

  /** Check the pause, the concurrency and the rpm bucket, and take a slot under lease `id`, atomically for every node. */
  protected abstract take(now: number, id: string): Promise<Taken>;
  /** Give lease `id` back. */
  protected abstract release(id: string): Promise<unknown>;
  /** Pause until `until` unless already paused longer. */
  protected abstract storePause(until: number): Promise<unknown>;

  update(concurrency: number | null, rpm: number | null): void {
    this.concurrency = concurrency;
    this.rpm = rpm;
    this.local.update(concurrency, rpm);
  }

  tryAcquire(now: number): Acquired | Promise<Acquired> {
    if (!this.link.usable) return this.local.tryAcquire(now);
    const id = randomBytes(9).toString('base64url');
    return this.take(now, id).then(
      (r): Acquired => {
        if (!r.ok) return r;
        this.held.add(id);
        let released = false;
        return {
          ok: true,
          release: () => {
            if (released) return;
            released = true;
            this.held.delete(id);
            // A release that does not reach the store expires with its lease.
            if (this.link.usable) this.release(id).catch((err: unknown) => this.link.failed(err));
          },
        };
      },
      (err: unknown) => {
        this.link.failed(err);
        return this.local.tryAcquire(now);
      },
    );
  }

  pause(until: number): void {
    this.local.pause(until);
    if (!this.link.usable) return;
    this.storePause(until).catch((err: unknown) => this.link.failed(err));
  }

  /** Called by the refresh loop with what the store holds. */
  saw(seen: Seen): void {
    this.seen = seen;
  }

  view(now: number): LimiterView {
    if (!this.link.usable) return this.local.view(now);
    return sharedView(this.seen, this.concurrency, this.rpm, now);
  }
}

/** In Redis: a sorted set of leases, a hash for the bucket and a key for the pause, per channel; ACQUIRE_SCRIPT takes a slot. */
export class SharedChannelLimiter extends StoredChannelLimiter {
  readonly keys: { leases: string; bucket: string; pause: string };

  constructor(
    private readonly redis: RedisLink,
    channelId: string,
    concurrency: number | null,
    rpm: number | null,
    leaseMs: number,
    now: number,
  ) {
    super(redis, channelId, concurrency, rpm, leaseMs, now);
    // A hash tag keeps one channel's keys together on a Redis Cluster.
    const base = redis.key(`{ch:${channelId}}`);
    this.keys = { leases: `${base}:leases`, bucket: `${base}:bucket`, pause: `${base}:pause` };
  }

  protected async take(now: number, id: string): Promise<Taken> {
    const k = this.keys;
    const [ok, retryAt] = (await this.redis.run('vidgateAcquire', [k.leases, k.bucket, k.pause], [now, this.concurrency ?? -1, this.rpm ?? -1, this.leaseMs, id, BUSY_RETRY_MS])) as number[];
    return ok === 1 ? { ok: true } : { ok: false, retryAt: retryAt! };
  }

  protected release(id: string): Promise<unknown> {
    return this.redis.client.zrem(this.keys.leases, id);
  }

  protected storePause(until: number): Promise<unknown> {
    return this.redis.run('vidgatePause', [this.keys.pause], [until]);
  }
}

/** The operator's view of a channel's shared limits from what the last refresh read (Redis or PostgreSQL). */
export function sharedView(s: Seen, concurrency: number | null, rpm: number | null, now: number): LimiterView {
  const cap = rpm === null ? null : Math.max(1, Math.ceil(rpm / 6));
  const tokens = cap === null || rpm === null ? null : Math.floor(Math.min(cap, (s.tokens ?? cap) + (s.tokens === null ? 0 : Math.max(0, now - s.at) * rpm / 60_000)));
  return {
    in_flight: s.inFlight,
    concurrency,
    rpm,
    tokens,
    paused_until: s.pausedUntil > now ? s.pausedUntil : null,
    shared: true,
  };
}
