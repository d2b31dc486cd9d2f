import { RateLimiter } from '../billing/rate-limit.js';
import type { KeyRateLimiter, RateDecision } from '../billing/rate-limit.js';
import type { RedisLink } from './redis.js';

/**
 * The per-key token bucket of billing/rate-limit.ts, kept in Redis (one hash per key, gone a
 * minute after its last use) and taken atomically by a script, so that every node draws from
 * the same bucket. Same capacity, refill and answers as the in-process one, which applies
 * during a Redis outage.
 */
export const RATE_SCRIPT = {
  keys: 1,
  lua: `
local cap = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local rate = cap / 60000
local b = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then tokens = cap; at = now end
if now > at then tokens = math.min(cap, tokens + (now - at) * rate); at = now end
tokens = math.min(cap, tokens)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'a', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], 61000)
local retry = 0
if ok == 0 then retry = math.ceil((1 - tokens) / rate) end
return {ok, math.floor(tokens), math.ceil((cap - tokens) / rate), retry}
`,
};

export class SharedRateLimiter implements KeyRateLimiter {
  private readonly local = new RateLimiter();

  constructor(private readonly link: RedisLink) {}

  take(id: string, perMinute: number, now: number): RateDecision | Promise<RateDecision> {
    if (!this.link.usable) return this.local.take(id, perMinute, now);
    return this.link.run('vidgateRate', [this.link.key('rl', id)], [perMinute, now]).then(
      (r) => {
        const [ok, remaining, resetMs, retryAfterMs] = r as number[];
        return { ok: ok === 1, limit: perMinute, remaining: remaining!, resetMs: resetMs!, retryAfterMs: retryAfterMs! };
      },
      (err: unknown) => {
        this.link.failed(err);
        return this.local.take(id, perMinute, now);
      },
    );
  }
}
