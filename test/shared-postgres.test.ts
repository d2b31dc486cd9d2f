import { tmpdir } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter } from '../src/billing/rate-limit.js';
import type { RateDecision } from '../src/billing/rate-limit.js';
import { Breaker } from '../src/channels/breaker.js';
import type { ChannelBreaker } from '../src/channels/breaker.js';
import { ChannelLimiter } from '../src/channels/limiter.js';
import type { Acquired, ChannelLimits } from '../src/channels/limiter.js';
import { loadConfig } from '../src/config.js';
import { createLimits, memoryLimits, PostgresLimits } from '../src/shared/index.js';
import type { LimitsBackend } from '../src/shared/index.js';
import type { PgBreaker } from '../src/shared/pg-breaker.js';
import { migrateDatabase, openDatabaseUrl } from '../src/store/open.js';
import { freePort } from './helpers/process.js';
import { postgresMissing, testDatabases } from './helpers/postgres.js';

/**
 * The PostgreSQL implementations (src/shared/pg-*.ts) against the in-process ones, call for call,
 * with an injected clock: two PostgresLimits on one database stand for two nodes, and together
 * they must answer exactly what one in-process limiter or breaker answers (test/shared-units.test.ts
 * does the same for Redis). Then what only several nodes show: races for the last slot, token and
 * half-open trial, a killed node's leases, signals between nodes, and the database going away.
 */
const skip = await postgresMissing();
if (skip) console.warn(`shared-postgres.test.ts skipped: ${skip}`);

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

const dbs = testDatabases();
let url = '';
const backends: PostgresLimits[] = [];
beforeAll(async () => {
  if (skip) return;
  url = await dbs.create();
  const opened = await openDatabaseUrl(url);
  try {
    await migrateDatabase(opened);
  } finally {
    await opened.close();
  }
});
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
  if (!skip) await dbs.dropAll();
});

let clock = 1_000_000;
const now = () => clock;

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function node(opts: { leaseMs?: number; timeoutMs?: number; lines?: string[]; url?: string } = {}): PostgresLimits {
  const b = new PostgresLimits({ url: opts.url ?? url, leaseMs: opts.leaseMs ?? 30_000, timeoutMs: opts.timeoutMs ?? 250 }, logger(opts.lines ?? []), now);
  backends.push(b);
  return b;
}

/** Two backends on one database: two nodes. */
async function nodes(opts: { leaseMs?: number } = {}): Promise<[PostgresLimits, PostgresLimits]> {
  const pair: [PostgresLimits, PostgresLimits] = [node(opts), node(opts)];
  await until('PostgreSQL usable', () => pair.every((b) => b.health().ok));
  return pair;
}

/** A channel id no other test uses (they share the database). */
let n = 0;
const fresh = (name: string) => `${name}_${++n}`;

const decision = async (d: RateDecision | Promise<RateDecision>) => await d;
const slot = async (a: Acquired | Promise<Acquired>) => {
  const s = await a;
  return s.ok ? { ok: true as const, release: s.release } : { ok: false as const, retryAt: s.retryAt };
};
const shape = (s: { ok: boolean; retryAt?: number }) => (s.ok ? 'ok' : `retry at +${s.retryAt! - clock}`);

async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(!!skip)('limits in PostgreSQL against the in-process ones', () => {
  it('the per-key bucket: two nodes together answer what one process answers, headers included', async () => {
    clock = 1_000_000;
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
    const ch = fresh('ch');
    const shared: ChannelLimits[] = [a.channelLimiter(ch, 2, 60, clock), b.channelLimiter(ch, 2, 60, clock)];
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
    // Each node's view is refreshed from the database twice a second.
    await expect.poll(() => shared[0]!.view(clock), { timeout: 3000 }).toMatchObject({ in_flight: 2, concurrency: 2, rpm: 60, tokens: 7, shared: true });

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
    await expect.poll(() => shared[1]!.view(clock), { timeout: 3000 }).toMatchObject({ paused_until: clock + 5000 });
  });

  it('the breaker: the same transitions as one in-process breaker, failures from either node counted together', async () => {
    clock = 3_000_000;
    const [a, b] = await nodes();
    const ch = fresh('flaky');
    const opts = { failureThreshold: 3, cooldownMs: 1000, maxCooldownMs: 4000 };
    const shared = [a.breaker(ch, opts), b.breaker(ch, opts)] as [PgBreaker & ChannelBreaker, PgBreaker & ChannelBreaker];
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
    for (const s of shared) await expect.poll(() => s.view(clock), { timeout: 3000 }).toEqual(local.view(clock));
    expect(local.view(clock)).toMatchObject({ state: 'open', opened_count: 2, retry_at: clock + 2000 });

    clock += 2000;
    expect(await shared[0].acquire(clock)).toBe(true);
    expect(local.acquire(clock)).toBe(true);
    shared[0].success();
    local.success();
    await settle();
    for (const s of shared) await expect.poll(() => s.view(clock), { timeout: 3000 }).toEqual(local.view(clock));
    expect(local.view(clock).state).toBe('closed');
    // The row holds Breaker's own snapshot, JSON.
    const [row] = await sql<{ state: string }>('SELECT state FROM shared_breakers WHERE channel_id = $1', [ch]);
    expect(JSON.parse(row!.state)).toEqual(local.snapshot());
  });
});

describe.skipIf(!!skip)('several nodes on PostgreSQL', () => {
  it('races: the last slots, tokens and the half-open trial go to exactly as many callers as there are, across nodes', async () => {
    clock = 4_000_000;
    const [a, b, c] = [...(await nodes()), node()];
    await until('third node usable', () => c.health().ok);
    const all = [a, b, c];

    // 60 callers at once for a concurrency of 5.
    const ch = fresh('busy');
    const limiters = all.map((x) => x.channelLimiter(ch, 5, null, clock));
    const got = await Promise.all(Array.from({ length: 60 }, (_, i) => slot(limiters[i % 3]!.tryAcquire(clock))));
    expect(got.filter((s) => s.ok)).toHaveLength(5);
    expect(new Set(got.filter((s) => !s.ok).map(shape))).toEqual(new Set(['retry at +200']));

    // 60 callers for a channel's rpm of 120: a bucket of 20.
    const ch2 = fresh('rpm');
    const rpm = all.map((x) => x.channelLimiter(ch2, null, 120, clock));
    const got2 = await Promise.all(Array.from({ length: 60 }, (_, i) => slot(rpm[i % 3]!.tryAcquire(clock))));
    expect(got2.filter((s) => s.ok)).toHaveLength(20);
    for (const s of got2) if (s.ok) s.release();

    // 90 requests at once with a key's limit of 30 per minute.
    const keys = all.map((x) => x.keyLimiter());
    const taken = await Promise.all(Array.from({ length: 90 }, (_, i) => decision(keys[i % 3]!.take('key_race', 30, clock))));
    expect(taken.filter((d) => d.ok)).toHaveLength(30);
    expect(taken.filter((d) => !d.ok).every((d) => d.retryAfterMs === 2000 && d.remaining === 0)).toBe(true);

    // 30 acquisitions of a half-open breaker from three nodes: one trial.
    const br = fresh('trial');
    const opts = { failureThreshold: 1, cooldownMs: 1000, maxCooldownMs: 8000 };
    const breakers = all.map((x) => x.breaker(br, opts) as PgBreaker);
    breakers[0]!.failure(clock, 'down');
    await breakers[0]!.flush();
    clock += 1000;
    const wins = await Promise.all(Array.from({ length: 30 }, (_, i) => breakers[i % 3]!.acquire(clock)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    for (const s of got) if (s.ok) s.release();
  });

  it('a killed node’s slots come back after the lease time; a live node keeps its own by renewing them', async () => {
    clock = 5_000_000;
    const leaseMs = 1000;
    const [a, b] = await nodes({ leaseMs });
    const ch = fresh('leases');
    const la = a.channelLimiter(ch, 2, null, clock);
    const lb = b.channelLimiter(ch, 2, null, clock);
    expect((await slot(la.tryAcquire(clock))).ok).toBe(true);
    expect((await slot(lb.tryAcquire(clock))).ok).toBe(true);
    expect(shape(await slot(lb.tryAcquire(clock)))).toBe('retry at +200');
    /** The stored leases' expiries, as offsets from the clock. */
    const leases = async () => {
      const [row] = await sql<{ leases: string }>('SELECT leases FROM shared_channel_limits WHERE channel_id = $1', [ch]);
      return Object.values(JSON.parse(row!.leases) as Record<string, number>).map((t) => t - clock).sort((x, y) => x - y);
    };
    /** Wait for the nodes' renewal timers (every third of the lease) to extend `count` leases to a full lease from now. */
    const renewed = async (count: number) => {
      const deadline = Date.now() + 5000;
      while ((await leases()).filter((t) => t === leaseMs).length < count) {
        if (Date.now() > deadline) throw new Error(`leases not renewed: ${JSON.stringify(await leases())}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    // Time passes beyond one lease time while both nodes run: their renewals keep both slots.
    for (let i = 0; i < 3; i++) {
      clock += 600;
      await renewed(2);
    }
    expect(shape(await slot(lb.tryAcquire(clock)))).toBe('retry at +200');

    // Node A dies without releasing anything (no renewals from now on). Within one lease time its
    // slot is still held; after it, node B can take it, and only that one.
    await a.close();
    clock += 600;
    await renewed(1);
    expect(await leases()).toEqual([400, leaseMs]);
    expect(shape(await slot(lb.tryAcquire(clock)))).toBe('retry at +200');
    clock += 600;
    await renewed(1);
    expect((await slot(lb.tryAcquire(clock))).ok).toBe(true);
    expect(shape(await slot(lb.tryAcquire(clock)))).toBe('retry at +200');
    // The row holds only the live leases: the dead node's is gone.
    expect(await leases()).toEqual([leaseMs, leaseMs]);
  });

  it('rows nobody uses any more are deleted: a full bucket, an old breaker, a channel untouched for a day', async () => {
    clock = 6_000_000;
    const [a] = await nodes();
    await decision(a.keyLimiter().take('key_sweep', 10, clock));
    const ch = fresh('sweep');
    const br = a.breaker(ch, { failureThreshold: 1, cooldownMs: 1000, maxCooldownMs: 1000 }) as PgBreaker;
    br.failure(clock, 'x');
    await br.flush();
    a.channelLimiter(ch, 1, 10, clock).pause(clock + 1000);
    await new Promise((r) => setTimeout(r, 100));
    const count = async () =>
      (
        await sql<{ n: number }>(
          `SELECT (SELECT count(*) FROM shared_rate_buckets WHERE key_id = 'key_sweep') + (SELECT count(*) FROM shared_breakers WHERE channel_id = $1)
                + (SELECT count(*) FROM shared_channel_limits WHERE channel_id = $1) AS n`,
          [ch],
        )
      )[0]!.n;
    expect(Number(await count())).toBe(3);
    const sweep = (a as unknown as { sweep(): Promise<void> }).sweep.bind(a);
    clock += 60_000;
    await sweep();
    expect(Number(await count())).toBe(3);
    clock = 6_000_000 + 8 * 86_400_000;
    await sweep();
    expect(Number(await count())).toBe(0);
  });

  it('signals: events committed on one node wake the others at once, not itself, one signal per turn; the listener comes back after losing its connection', async () => {
    const [a, b] = await nodes();
    await until('listening', () => a.signals.listening && b.signals.listening);
    const seen = { a: 0, b: 0 };
    a.signals.onRemoteEvents(() => seen.a++);
    b.signals.onRemoteEvents(() => seen.b++);
    a.signals.eventsCommitted();
    a.signals.eventsCommitted();
    a.signals.eventsCommitted();
    await until('b woken', () => seen.b > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual({ a: 0, b: 1 });

    // The server drops the listeners' connections: they connect and LISTEN again, wake their
    // streams once (signals may have been lost meanwhile), and signals flow again.
    await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'vidgate-signals' AND datname = current_database()`);
    await until('listeners back', () => seen.a === 1 && seen.b === 2 && a.signals.listening && b.signals.listening);
    b.signals.eventsCommitted();
    await until('a woken', () => seen.a === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual({ a: 2, b: 2 });
  });
});

describe.skipIf(!!skip)('when PostgreSQL is unreachable or slow', () => {
  it('nothing listening: the in-process limits answer at once (no promise), one warning, health says so', async () => {
    const lines: string[] = [];
    const a = node({ url: `postgres://postgres@127.0.0.1:${await freePort()}/vidgate`, lines });
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
    a.signals.eventsCommitted();
    expect(a.health()).toMatchObject({ backend: 'postgres', ok: false, error: expect.stringContaining('ECONNREFUSED') });
    await new Promise((r) => setTimeout(r, 1500));
    expect(lines.filter((l) => l.includes('PostgreSQL is unreachable'))).toHaveLength(1);
    expect(a.outages()).toBe(1);
  });

  it('a statement slower than the timeout: the local limits take over after it, without waiting again, until the database answers', async () => {
    clock = 7_000_000;
    const lines: string[] = [];
    const a = node({ lines, timeoutMs: 200 });
    await until('usable', () => a.health().ok);
    const limiter = a.keyLimiter();
    expect(await decision(limiter.take('key_slow', 100, clock))).toMatchObject({ ok: true, remaining: 99 });

    // Another session holds the table: statements on it wait, longer than the timeout.
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE shared_rate_buckets IN ACCESS EXCLUSIVE MODE');
    try {
      const started = Date.now();
      const slow = await decision(limiter.take('key_slow', 100, clock));
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(150);
      expect(took).toBeLessThan(1500);
      // The local bucket answered (it starts full).
      expect(slow).toMatchObject({ ok: true, remaining: 99 });
      expect(a.health()).toMatchObject({ backend: 'postgres', ok: false });
      const next = limiter.take('key_slow', 100, clock);
      expect(next).not.toBeInstanceOf(Promise);
      await new Promise((r) => setTimeout(r, 1200));
      expect(a.health().ok).toBe(false);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    await until('usable again', () => a.health().ok, 5000);
    expect(await decision(limiter.take('key_slow', 100, clock))).toMatchObject({ ok: true, remaining: 98 });
    expect(lines.filter((l) => l.includes('PostgreSQL is unreachable'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('PostgreSQL answers again'))).toHaveLength(1);
    expect(a.outages()).toBe(1);
  });

  it('connections dropped by the server: an outage, then the limits are shared again', async () => {
    const lines: string[] = [];
    const a = node({ lines });
    await until('usable', () => a.health().ok);
    await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'vidgate-limits' AND datname = current_database()`);
    // The first statement on a dropped connection fails; the answer comes from the local limiter.
    const d = await decision(a.keyLimiter().take('key_drop', 5, clock));
    expect(d.ok).toBe(true);
    await until('usable again', () => a.health().ok, 5000);
    expect(await decision(a.keyLimiter().take('key_drop', 5, clock))).toMatchObject({ ok: true });
  });
});

describe('createLimits', () => {
  const close: LimitsBackend[] = [];
  afterAll(async () => {
    await Promise.all(close.map((b) => b.close()));
  });

  it('Redis when VIDGATE_REDIS_URL is set; else PostgreSQL when the database is; else memory', () => {
    const log = logger([]);
    const dataDir = tmpdir();
    const make = (env: Record<string, string>) => {
      const b = createLimits(loadConfig({ VIDGATE_DATA_DIR: dataDir, ...env }), log, now);
      close.push(b);
      return b.kind;
    };
    const pgUrl = 'postgres://postgres@127.0.0.1:1/none';
    expect(make({})).toBe('memory');
    expect(make({ VIDGATE_DATABASE_URL: `sqlite:${dataDir}/x.db` })).toBe('memory');
    expect(make({ VIDGATE_DATABASE_URL: pgUrl })).toBe('postgres');
    expect(make({ VIDGATE_DATABASE_URL: pgUrl, VIDGATE_REDIS_URL: 'redis://127.0.0.1:1' })).toBe('redis');
    expect(make({ VIDGATE_REDIS_URL: 'redis://127.0.0.1:1' })).toBe('redis');
    expect(createLimits(loadConfig({ VIDGATE_DATA_DIR: dataDir }), log, now)).toBe(memoryLimits);
  });
});
