/**
 * Shared limits: what one acquisition costs when limits and breakers live in PostgreSQL
 * (PostgresLimits, src/shared/pg-*.ts) and in Redis (RedisLimits), two nodes (two backends in
 * this process, each with its own connections) on one store, closed loop at 1 and 8 callers at
 * once. Baselines in the same run: the bare round trip of each store (`SELECT 1` on a pg.Pool of
 * three connections, as the limits' own pool; `PING` on one ioredis connection, as RedisLimits').
 *
 *   npm run bench limits
 *   npx tsx bench/limits.ts [--ops 4000]
 *
 * Needs PostgreSQL at 127.0.0.1:5432 (or VIDGATE_TEST_POSTGRES_URL) and Redis at 127.0.0.1:6379
 * (or VIDGATE_TEST_REDIS_URL); it makes and drops a database of its own.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PostgresLimits, RedisLimits } from '../src/shared/index.js';
import type { LimitsBackend } from '../src/shared/index.js';
import { migrateDatabase, openDatabaseUrl } from '../src/store/open.js';
import { fmt, machine, percentile } from './lib.js';

const PG_ADMIN = process.env.VIDGATE_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS = process.env.VIDGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const quiet = { warn: () => {}, info: () => {}, error: () => {}, debug: () => {}, trace: () => {}, fatal: () => {}, child: () => quiet } as unknown as FastifyBaseLogger;

interface Result {
  rps: number;
  p50: number;
  p99: number;
}

async function closedLoop(total: number, callers: number, fn: (i: number) => Promise<unknown>): Promise<Result> {
  const lat: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        await fn(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rps: total / elapsed, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

async function ready(nodes: LimitsBackend[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!nodes.every((n) => n.health().ok)) {
    if (Date.now() > deadline) throw new Error(`${nodes[0]!.kind} did not become usable: ${JSON.stringify(nodes[0]!.health())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The operations, each through one of two nodes in turn. */
function operations(nodes: LimitsBackend[]): Array<[string, (i: number) => Promise<unknown>]> {
  const keys = nodes.map((n) => n.keyLimiter());
  const channels = nodes.map((n) => n.channelLimiter('bench', 1000, null, Date.now()));
  const breakers = nodes.map((n) => n.breaker('bench', { failureThreshold: 5, cooldownMs: 1000, maxCooldownMs: 60_000 }));
  return [
    ['key bucket, one key', (i) => Promise.resolve(keys[i % 2]!.take('key_one', 1e9, Date.now()))],
    ['key bucket, 1,000 keys', (i) => Promise.resolve(keys[i % 2]!.take(`key_${i % 1000}`, 1e9, Date.now()))],
    [
      'channel slot: take and release',
      async (i) => {
        const s = await channels[i % 2]!.tryAcquire(Date.now());
        if (s.ok) s.release();
      },
    ],
    ['breaker permission (closed)', (i) => Promise.resolve(breakers[i % 2]!.acquire(Date.now()))],
  ];
}

export async function limitsBench(opts: { ops: number }): Promise<string> {
  const name = `vidgate_bench_limits_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  const rows: string[] = [];
  const backends: LimitsBackend[] = [];
  try {
    const opened = await openDatabaseUrl(url.toString());
    await migrateDatabase(opened);
    await opened.close();
    const now = () => Date.now();
    const pgNodes = [0, 1].map(() => new PostgresLimits({ url: url.toString(), leaseMs: 30_000, timeoutMs: 1000 }, quiet, now));
    const prefix = `vidgate-bench:${randomBytes(4).toString('hex')}:`;
    const redisNodes = [0, 1].map(() => new RedisLimits({ url: REDIS, prefix, leaseMs: 30_000, timeoutMs: 1000 }, quiet, now));
    backends.push(...pgNodes, ...redisNodes);
    await ready(pgNodes);
    await ready(redisNodes);

    const pgPool = new pg.Pool({ connectionString: url.toString(), max: 3 });
    const redis = new Redis(REDIS);
    const baselines: Array<[string, string, (i: number) => Promise<unknown>]> = [
      ['round trip (baseline)', 'postgres', () => pgPool.query('SELECT 1')],
      ['round trip (baseline)', 'redis', () => redis.ping()],
    ];
    const table: Array<[string, string, (i: number) => Promise<unknown>]> = [...baselines];
    const pgOps = operations(pgNodes);
    const redisOps = operations(redisNodes);
    for (let k = 0; k < pgOps.length; k++) {
      table.push([pgOps[k]![0], 'postgres', pgOps[k]![1]]);
      table.push([redisOps[k]![0], 'redis', redisOps[k]![1]]);
    }
    rows.push('| Operation | Store | 1 caller: ops/s | p50 ms | p99 ms | 8 callers: ops/s | p50 ms | p99 ms |', '|---|---|---|---|---|---|---|---|');
    for (const [label, store, fn] of table) {
      await closedLoop(Math.min(200, opts.ops), 2, fn); // warm-up
      const one = await closedLoop(opts.ops, 1, fn);
      const eight = await closedLoop(opts.ops, 8, fn);
      rows.push(`| ${label} | ${store} | ${fmt(one.rps)} | ${fmt(one.p50, 2)} | ${fmt(one.p99, 2)} | ${fmt(eight.rps)} | ${fmt(eight.p50, 2)} | ${fmt(eight.p99, 2)} |`);
    }
    await pgPool.end();
    redis.disconnect();
    const outages = backends.map((b) => b.outages()).reduce((a, b) => a + b, 0);
    rows.push('', `Two nodes per store (two backends in one process, each with its own connections), ${fmt(opts.ops)} operations per cell; outages during the run: ${outages}.`);
  } finally {
    await Promise.all(backends.map((b) => b.close()));
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
  return rows.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { ops: { type: 'string', default: '4000' } } });
  console.log(`Machine: ${machine()}\n`);
  console.log(await limitsBench({ ops: Number(values.ops) }));
}
