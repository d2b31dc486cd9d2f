import type { FastifyBaseLogger } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { RateLimiter } from '../src/billing/rate-limit.js';
import type { RateDecision } from '../src/billing/rate-limit.js';
import { Breaker } from '../src/channels/breaker.js';
import type { ChannelBreaker } from '../src/channels/breaker.js';
import { ChannelLimiter } from '../src/channels/limiter.js';
import type { Acquired, ChannelLimits } from '../src/channels/limiter.js';
import { RedisLimits } from '../src/shared/index.js';
import type { SharedBreaker } from '../src/shared/breaker.js';
import { freePort } from './helpers/process.js';
import { SHARED_REDIS_URL, freshPrefix, redisMissing } from './helpers/redis.js';

/**
 * The Redis implementations against the in-process ones, call for call, with an injected clock:
 * two backends on one Redis stand for two nodes, and together they must answer exactly what one
 * in-process limiter or breaker answers.
 */
const skip = await redisMissing();
if (skip) console.warn(`shared-units.test.ts skipped: ${skip}`);

function logger(lines: string[]): FastifyBaseLogger {
  const log = {
    level: 'info',
    warn: (...a: unknown[]) => lines.push(a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')),
    info: () => {},
    error: () => {},
    debug: () => {},
    trace: () => {},
    fatal: () => {},
    silent: () => {},
    child: () => log,
  };
  return log as unknown as FastifyBaseLogger;
}

const backends: RedisLimits[] = [];
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

let clock = 1_000_000;
const now = () => clock;

/** Two backends on one Redis under a fresh prefix: two nodes. */
async function nodes(): Promise<[RedisLimits, RedisLimits]> {
  const prefix = freshPrefix();
  const make = () => {
    const b = new RedisLimits({ url: SHARED_REDIS_URL, prefix, leaseMs: 30_000, timeoutMs: 250 }, logger([]), now);
    backends.push(b);
    return b;
  };
  const pair: [RedisLimits, RedisLimits] = [make(), make()];
  const deadline = Date.now() + 5000;
  while (!pair.every((b) => b.health().ok)) {
    if (Date.now() > deadline) throw new Error('Redis did not become usable');
    await new Promise((r) => setTimeout(r, 10));
  }
  return pair;
}

const decision = async (d: RateDecision | Promise<RateDecision>) => await d;
const slot = async (a: Acquired | Promise<Acquired>) => {
  const s = await a;
  return s.ok ? { ok: true as const, release: s.release } : { ok: false as const, retryAt: s.retryAt };
};
const shape = (s: { ok: boolean; retryAt?: number }) => (s.ok ? 'ok' : `retry at +${s.retryAt! - clock}`);

describe.skipIf(!!skip)('shared limits against the in-process ones', () => {
  it('the per-key bucket: two nodes together answer what one process answers, headers included', async () => {
    const [a, b] = await nodes();
    const shared = [a.keyLimiter(), b.keyLimiter()];
    const local = new RateLimiter();
    const steps = [0, 0, 0, 0, 0, 5_000, 20_000, 20_001, 61_000, 61_000];
    for (const [i, t] of steps.entries()) {
      clock = 1_000_000 + t;
      const got = await decision(shared[i % 2]!.take('key_1', 3, clock));
      expect(got, `step ${i}`).toEqual(local.take('key_1', 3, clock));
    }
    // Another key has its own bucket.
    expect((await decision(shared[0]!.take('key_2', 3, clock))).remaining).toBe(2);
  });

  it('channel limits: concurrency, rpm and the Retry-After pause hold for both nodes, with the in-process answers', async () => {
    clock = 2_000_000;
    const [a, b] = await nodes();
    const shared: ChannelLimits[] = [a.channelLimiter('ch', 2, 60, clock), b.channelLimiter('ch', 2, 60, clock)];
    const local = new ChannelLimiter(2, 60, clock);
    const both = async (i: number) => {
      const s = await slot(shared[i % 2]!.tryAcquire(clock));
      const l = await slot(local.tryAcquire(clock));
      expect(shape(s)).toBe(shape(l));
      return [s, l] as const;
    };
    const [s1, l1] = await both(0);
    await both(1);
    // Full at two, from whichever node.
    await both(0);
    await both(1);
    if (s1.ok) s1.release();
    if (l1.ok) l1.release();
    await new Promise((r) => setTimeout(r, 50));
    await both(1);
    expect(shared[0]!.view(clock)).toMatchObject({ concurrency: 2, rpm: 60, shared: true });

    // rpm 60 = a bucket of 10; after the concurrency is lifted the bucket runs out at the same call.
    for (const l of [...shared, local]) l.update(null, 60);
    const answers: string[] = [];
    for (let i = 0; i < 10; i++) answers.push(shape((await both(i))[0]));
    expect(answers.filter((x) => x === 'ok').length).toBe(7);
    expect(answers.at(-1)).toBe('retry at +1000');
    clock += 1000;
    expect(shape((await both(0))[0])).toBe('ok');

    // A pause asked for on one node holds on the other.
    shared[0]!.pause(clock + 5000);
    local.pause(clock + 5000);
    await new Promise((r) => setTimeout(r, 50));
    expect(shape((await both(1))[0])).toBe('retry at +5000');
  });

  it('the breaker: the same transitions as one in-process breaker, failures from either node counted together', async () => {
    clock = 3_000_000;
    const [a, b] = await nodes();
    const opts = { failureThreshold: 3, cooldownMs: 1000, maxCooldownMs: 4000 };
    const shared = [a.breaker('flaky', opts), b.breaker('flaky', opts)] as [SharedBreaker & ChannelBreaker, SharedBreaker & ChannelBreaker];
    const local = new Breaker(opts);
    const settle = () => Promise.all(shared.map((s) => s.flush()));
    const same = async () => {
      await settle();
      // The other node's copy is refreshed on its own; the stored state is what counts.
      for (const s of shared) expect(await s.acquire(clock)).toBe(local.available(clock));
    };
    // Closed: two failures from node A, one from node B open it.
    shared[0].failure(clock, 'boom 1');
    shared[0].failure(clock, 'boom 2');
    local.failure(clock, 'boom 1');
    local.failure(clock, 'boom 2');
    await same();
    shared[1].failure(clock, 'boom 3');
    local.failure(clock, 'boom 3');
    await same();
    expect(local.state(clock)).toBe('open');

    // Cool-down over: both nodes race for the trial; exactly one gets it.
    clock += 1000;
    const wins = await Promise.all([shared[0].acquire(clock), shared[1].acquire(clock), shared[0].acquire(clock), shared[1].acquire(clock)]);
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(local.acquire(clock)).toBe(true);
    expect(local.acquire(clock)).toBe(false);
    // The trial fails: open again with twice the cool-down, for both.
    shared[1].failure(clock, 'trial failed');
    local.failure(clock, 'trial failed');
    await settle();
    await new Promise((r) => setTimeout(r, 600));
    for (const s of shared) expect(s.view(clock)).toEqual(local.view(clock));
    expect(local.view(clock)).toMatchObject({ state: 'open', opened_count: 2, retry_at: clock + 2000 });

    clock += 2000;
    expect(await shared[0].acquire(clock)).toBe(true);
    expect(local.acquire(clock)).toBe(true);
    shared[0].success();
    local.success();
    await settle();
    await new Promise((r) => setTimeout(r, 600));
    for (const s of shared) expect(s.view(clock)).toEqual(local.view(clock));
    expect(local.view(clock).state).toBe('closed');
  });

  it('without Redis: the in-process limits answer at once (no promise), one warning, health says so', async () => {
    const lines: string[] = [];
    const a = new RedisLimits({ url: `redis://127.0.0.1:${await freePort()}`, prefix: freshPrefix(), leaseMs: 30_000, timeoutMs: 250 }, logger(lines), now);
    backends.push(a);
    await new Promise((r) => setTimeout(r, 300));
    const limiter = a.keyLimiter();
    for (let i = 0; i < 5; i++) {
      const d = limiter.take('key_x', 3, clock);
      expect(d).not.toBeInstanceOf(Promise);
      expect((d as RateDecision).ok).toBe(i < 3);
    }
    const ch = a.channelLimiter('ch', 1, null, clock);
    expect(ch.tryAcquire(clock)).toMatchObject({ ok: true });
    expect(ch.view(clock)).toMatchObject({ in_flight: 1, shared: false });
    const br = a.breaker('ch', { failureThreshold: 1, cooldownMs: 1000, maxCooldownMs: 1000 });
    expect(br.acquire(clock)).toBe(true);
    expect(a.health()).toMatchObject({ backend: 'redis', ok: false });
    await new Promise((r) => setTimeout(r, 1500));
    expect(lines.filter((l) => l.includes('Redis is unreachable'))).toHaveLength(1);
  });
});
