import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { OpenAIVideosFake } from './fakes/index.js';
import { fault, startOpenAIVideosFake } from './fakes/index.js';
import type { RecordedRequest } from './fakes/index.js';
import { cli, spawnServer } from './helpers/process.js';
import type { ServerProcess } from './helpers/process.js';
import { RedisTestServer, SHARED_REDIS_URL, freshPrefix, redisMissing } from './helpers/redis.js';
import { SseClient } from './helpers/sse.js';
import { createVideo, waitAllTerminal } from './helpers/upstreams.js';

/**
 * Limits and circuit breakers shared by two real gateway processes (node dist/main.js) on one
 * data directory and one Redis: what one node takes, the other cannot take again.
 */
const skip = await redisMissing();
if (skip) console.warn(`shared-limits.test.ts skipped: ${skip}`);

const ADMIN = 'admin-token-for-shared-limits-test';
const METRICS = 'metrics-token-for-shared-limits-test';

interface Cluster {
  env: Record<string, string>;
  key: string;
  keyId: string;
  nodes: ServerProcess[];
  start(extra?: Record<string, string>): Promise<ServerProcess>;
}

const dirs: string[] = [];
const servers: ServerProcess[] = [];
const fakes: OpenAIVideosFake[] = [];
const redisServers: RedisTestServer[] = [];
afterAll(async () => {
  for (const s of servers) s.child.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.exited));
  await Promise.all(fakes.map((f) => f.close()));
  for (const r of redisServers) await r.down();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function cluster(redisUrl: string, config: Record<string, unknown>, extraEnv: Record<string, string> = {}): Promise<Cluster> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-shared-'));
  dirs.push(dataDir);
  const file = path.join(dataDir, 'vidgate.json');
  await writeFile(file, JSON.stringify({ net: { allowCidrs: ['127.0.0.1/32'] }, ...config }));
  const env = {
    VIDGATE_DATA_DIR: dataDir,
    VIDGATE_CONFIG: file,
    VIDGATE_REDIS_URL: redisUrl,
    VIDGATE_REDIS_PREFIX: freshPrefix(),
    VIDGATE_ADMIN_TOKEN: ADMIN,
    VIDGATE_METRICS_TOKEN: METRICS,
    // Generous on a loaded test machine, so that a slow answer is not taken for an outage (the outage test sets its own).
    VIDGATE_REDIS_TIMEOUT_MS: '2000',
    ...extraEnv,
  };
  const { stdout } = await cli(['key', 'create', '--name', 'shared', '--credit', '50', '--json'], env);
  const created = JSON.parse(stdout) as { id: string; key: string };
  const c: Cluster = {
    env,
    key: created.key,
    keyId: created.id,
    nodes: [],
    async start(extra = {}) {
      const s = await spawnServer({ ...env, ...extra });
      servers.push(s);
      c.nodes.push(s);
      // Serving starts before the first connection to Redis is up (the local limits apply meanwhile).
      await until('the node to reach Redis', async () => (await health(s)).shared_limits.ok, 10_000);
      return s;
    },
  };
  return c;
}

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function health(node: ServerProcess): Promise<{ status: string; shared_limits: { backend: string; ok: boolean; error?: string } }> {
  return (await (await fetch(`${node.url}/healthz`)).json()) as never;
}

async function channelHealth(node: ServerProcess, id: string): Promise<{ breaker: { state: string; opened_count: number; retry_at: number | null; last_failure: { at: number } | null }; counters: { submits: number; submit_failures: number }; limits: { shared: boolean } }> {
  const res = await fetch(`${node.url}/admin/v1/channels/${id}/health`, { headers: auth(ADMIN) });
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The most requests the fake was answering at one moment (request received → response ended). */
function maxOverlap(reqs: RecordedRequest[]): number {
  const edges: Array<[number, number]> = [];
  for (const r of reqs) {
    edges.push([r.at, 1]);
    edges.push([r.response?.endedAt ?? Date.now(), -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (n += d));
  return max;
}

describe('VIDGATE_REDIS_URL', () => {
  it('must be a redis:// or rediss:// URL, named in the error', () => {
    expect(() => loadConfig({ VIDGATE_REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/VIDGATE_REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => loadConfig({ VIDGATE_REDIS_URL: 'not a url' })).toThrow(/VIDGATE_REDIS_URL/);
    expect(loadConfig({ VIDGATE_REDIS_URL: 'rediss://user:pw@redis.example.com:6380/2' }).redis.url).toBe('rediss://user:pw@redis.example.com:6380/2');
    expect(loadConfig({}).redis.url).toBeUndefined();
  });
});

describe.skipIf(!!skip)('two gateway nodes sharing one Redis', () => {
  it('a key limited to N requests a minute gets N in total across both nodes, then 429 in each dialect on either node', async () => {
    const c = await cluster(SHARED_REDIS_URL, {});
    await cli(['key', 'limits', c.keyId, '--rpm', '6'], c.env);
    const [a, b] = [await c.start(), await c.start()];
    expect((await health(a)).shared_limits).toEqual({ backend: 'redis', ok: true });
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const node = i % 2 ? b : a;
      const res = await fetch(`${node!.url}/v1/videos`, { headers: auth(c.key) });
      codes.push(res.status);
    }
    expect(codes.filter((s) => s === 200)).toHaveLength(6);
    expect(codes.slice(6).every((s) => s === 429)).toBe(true);

    const openai = await fetch(`${a.url}/v1/videos`, { headers: auth(c.key) });
    expect(openai.status).toBe(429);
    expect(Number(openai.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(openai.headers.get('x-ratelimit-limit-requests')).toBe('6');
    expect(openai.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(((await openai.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');

    const apimart = await fetch(`${b.url}/v1/tasks`, { headers: auth(c.key) });
    expect(apimart.status).toBe(429);
    expect(Number(apimart.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await apimart.json()) as unknown).toMatchObject({ code: 429, error: { code: 'rate_limit_exceeded', type: 'rate_limit_error' } });
  });

  it('a channel with concurrency 2 never has more than 2 requests in flight across both nodes; a channel rpm holds across nodes', async () => {
    const busy = await startOpenAIVideosFake({ script: { queuedMs: 100, runMs: 300 }, latencyMs: 150, cdnLatencyMs: 150 });
    const slow = await startOpenAIVideosFake({ script: { queuedMs: 100, runMs: 300 } });
    fakes.push(busy, slow);
    const c = await cluster(SHARED_REDIS_URL, {
      upstream: { poll: { minMs: 50, maxMs: 300, firstMs: 50 } },
      channels: [
        { id: 'busy', type: 'openai-compatible', base_url: busy.baseURL, api_key: 'sk-test', models: ['sora-2'], concurrency: 2 },
        { id: 'slow', type: 'openai-compatible', base_url: slow.baseURL, api_key: 'sk-test', models: ['sora-2-pro'], rpm: 12 },
      ],
    });
    const [a, b] = [await c.start(), await c.start()];
    expect((await channelHealth(a, 'busy')).limits.shared).toBe(true);

    // rpm 12: a bucket of two requests, one more every five seconds, for both nodes together.
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) expect((await createVideo(i % 2 ? b : a, c.key, { model: 'sora-2-pro', prompt: `rpm ${i}` })).status).toBe(200);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await createVideo(i % 2 ? b : a, c.key, { model: 'sora-2', prompt: `concurrency ${i}` });
      expect(r.status).toBe(200);
      ids.push(r.json.id as string);
    }
    const done = await waitAllTerminal(a, c.key, ids, 90_000);
    expect([...done.values()].map((v) => v.status)).toEqual(ids.map(() => 'completed'));
    // The cap covers submits and status checks (downloads have their own limit).
    const limited = busy.requests.filter((r) => r.route === 'submit' || r.route === 'status');
    expect(limited.length).toBeGreaterThan(16);
    expect(maxOverlap(limited)).toBe(2);

    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 4000 - Date.now())));
    const early = slow.requests.filter((r) => r.at < t0 + 4000).length;
    // Two nodes with a bucket each would have sent four at once.
    expect(early).toBeGreaterThanOrEqual(1);
    expect(early).toBeLessThanOrEqual(2);
  });

  it('a breaker opened by failures on one node keeps the other from submitting, with exactly one half-open trial across both', async () => {
    const up = await startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 200 } });
    fakes.push(up);
    const c = await cluster(SHARED_REDIS_URL, {
      upstream: { poll: { minMs: 50, maxMs: 300, firstMs: 50 }, breaker: { failures: 2, cooldownMs: 3000, maxCooldownMs: 60_000 } },
      channels: [{ id: 'flaky', type: 'openai-compatible', base_url: up.baseURL, api_key: 'sk-test', models: ['sora-2'] }],
    });
    const [a, b] = [await c.start(), await c.start()];
    const failing = [up.faults.add({ route: 'submit', action: fault.error(500) }), up.faults.add({ route: 'list', action: fault.error(500) })];
    const ids: string[] = [];
    for (const node of [a, b]) {
      const r = await createVideo(node, c.key, { model: 'sora-2', prompt: 'breaker' });
      expect(r.status).toBe(200);
      ids.push(r.json.id as string);
    }
    // Two failed submits (threshold 2) open the breaker, whichever nodes saw them.
    await until('the breaker to open', async () => (await channelHealth(a, 'flaky')).breaker.opened_count >= 1);
    const openedAt = Date.now();
    const sent = up.requests.length;
    const [ha, hb] = [await channelHealth(a, 'flaky'), await channelHealth(b, 'flaky')];
    // Two at least; a third when one node's submit left before it had read the opened breaker (it
    // refreshes its copy every 500 ms): after that, neither submits (below).
    const failures = ha.counters.submit_failures + hb.counters.submit_failures;
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(failures).toBeLessThanOrEqual(3);
    await until('node B to see it open', async () => (await channelHealth(b, 'flaky')).breaker.state !== 'closed');
    // Neither node takes new videos for the channel while it is open.
    for (const node of [a, b]) {
      const r = await createVideo(node, c.key, { model: 'sora-2', prompt: 'while open' });
      expect(r.status).toBe(503);
      expect((r.json.error as { code: string }).code).toBe('upstream_unavailable');
    }

    // After the 3 s cool-down, one trial (a probe or a submit) from one of the nodes; it fails, and the breaker opens again for 6 s.
    await until('the half-open trial', () => up.requests.length > sent, 15_000);
    const trialAt = Date.now();
    expect(trialAt - openedAt).toBeGreaterThanOrEqual(2000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(up.requests.length - sent).toBe(1);
    const views = [await channelHealth(a, 'flaky'), await channelHealth(b, 'flaky')];
    for (const v of views) {
      expect(v.breaker.opened_count).toBe(2);
      expect(v.breaker.state).toBe('open');
      expect(v.breaker.retry_at! - v.breaker.last_failure!.at).toBe(6000);
    }

    // The upstream recovers: the next trial closes the breaker and both videos are made.
    for (const f of failing) f.remove();
    const done = await waitAllTerminal(a, c.key, ids, 60_000);
    expect([...done.values()].map((v) => v.status)).toEqual(['completed', 'completed']);
  });

  it('the slot of a node killed with SIGKILL while holding it comes back within the lease time', async () => {
    const up = await startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 200 } });
    fakes.push(up);
    const c = await cluster(
      SHARED_REDIS_URL,
      {
        upstream: { poll: { minMs: 50, maxMs: 300, firstMs: 50 }, submitTimeoutMs: 120_000 },
        channels: [{ id: 'one', type: 'openai-compatible', base_url: up.baseURL, api_key: 'sk-test', models: ['sora-2'], concurrency: 1 }],
      },
      { VIDGATE_REDIS_LEASE_MS: '3000', VIDGATE_LEASE_MS: '3000' },
    );
    const a = await c.start();
    up.faults.add({ route: 'submit', times: 1, action: fault.hang() });
    const first = await createVideo(a, c.key, { model: 'sora-2', prompt: 'held' });
    expect(first.status).toBe(200);
    await until('the hanging submit', () => up.requestsFor('submit').length === 1);
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      const leases = `${c.env.VIDGATE_REDIS_PREFIX}{ch:one}:leases`;
      const held = () => redis.zcount(leases, `(${Date.now()}`, '+inf');
      expect(await held()).toBe(1);
      // Held past its first lease time: it is renewed while the node lives.
      await new Promise((r) => setTimeout(r, 4000));
      expect(await held()).toBe(1);
      a.child.kill('SIGKILL');
      await a.exited;
      const killedAt = Date.now();
      await until('the slot to come back', async () => (await held()) === 0, 10_000);
      expect(Date.now() - killedAt).toBeLessThanOrEqual(3000 + 500);
    } finally {
      redis.disconnect();
    }
    const b = await c.start();
    const second = await createVideo(b, c.key, { model: 'sora-2', prompt: 'after the kill' });
    expect(second.status).toBe(200);
    const done = await waitAllTerminal(b, c.key, [second.json.id as string], 60_000);
    expect([...done.values()][0]!.status).toBe('completed');
  });

  it('an event committed on one node reaches the Server-Sent Event streams of the other at once, not at its next poll', async () => {
    // Streams poll the database every 30 s here: only the signal through Redis can be this quick.
    const c = await cluster(SHARED_REDIS_URL, {}, { VIDGATE_SSE_POLL_MS: '30000' });
    // Node A runs no worker, so nothing it commits itself can wake its streams.
    const a = await c.start({ VIDGATE_WORKER: 'false' });
    const b = await c.start();
    const stream = await SseClient.open(`${a.url}/v1/events`, auth(c.key));
    try {
      expect(stream.status).toBe(200);
      await stream.waitFor((s) => s.comments.includes('connected'), 10_000, 'stream connected');
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const res = await fetch(`${b.url}/v1/videos`, {
          method: 'POST',
          headers: { ...auth(c.key), 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'sora-2', prompt: `a harbour at night, take ${i}`, seconds: '4' }),
        });
        expect(res.status).toBe(200);
        const video = (await res.json()) as { id: string };
        await stream.waitFor((s) => s.events.some((e) => e.id === video.id), 5_000, `the event of ${video.id} on node A`);
        expect(Date.now() - started).toBeLessThan(3_000);
      }
    } finally {
      stream.close();
    }
  });

  it('Redis hanging or stopped mid-run: local limits without waiting, /healthz and metrics say so, one warning per outage; Redis back: shared limits again', async () => {
    const redis = await RedisTestServer.start();
    redisServers.push(redis);
    const c = await cluster(redis.url, {}, { VIDGATE_REDIS_TIMEOUT_MS: '500' });
    await cli(['key', 'limits', c.keyId, '--rpm', '4'], c.env);
    // A second key for the second outage (the first one's per-node buckets were spent in the first).
    const second = JSON.parse((await cli(['key', 'create', '--name', 'second', '--json'], c.env)).stdout) as { id: string; key: string };
    await cli(['key', 'limits', second.id, '--rpm', '4'], c.env);
    const [a, b] = [await c.start(), await c.start()];
    let key = c.key;
    const take = async (node: ServerProcess, n: number) => {
      const codes: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = Date.now();
        const res = await fetch(`${node.url}/v1/videos`, { headers: auth(key) });
        // Nothing waits for Redis longer than VIDGATE_REDIS_TIMEOUT_MS (500 ms here).
        expect(Date.now() - started).toBeLessThan(1500);
        codes.push(res.status);
      }
      return codes.filter((s) => s === 200).length;
    };
    const bothHealthy = async (ok: boolean) => (await health(a)).shared_limits.ok === ok && (await health(b)).shared_limits.ok === ok;

    // Shared: one bucket of 4 for both nodes.
    expect((await take(a, 3)) + (await take(b, 3))).toBe(4);

    // 1. Redis hangs (SIGSTOP): the first command times out, then each node counts on its own.
    redis.hang();
    try {
      expect(await take(a, 6)).toBe(4);
      expect(await take(b, 6)).toBe(4);
      expect(await bothHealthy(false)).toBe(true);
      const ha = await health(a);
      expect(ha.status).toBe('degraded');
      expect(ha.shared_limits).toMatchObject({ backend: 'redis', ok: false });
      const metrics = await (await fetch(`${a.url}/metrics`, { headers: auth(METRICS) })).text();
      expect(metrics).toMatch(/vidgate_shared_limits_up\{backend="redis"\} 0/);
    } finally {
      redis.resume();
    }
    await until('both nodes to use Redis again', () => bothHealthy(true), 15_000);
    expect((await health(a)).status).toBe('ok');

    // 2. Redis is killed: connections refused; again local limits at once.
    key = second.key;
    await redis.down();
    await until('both nodes to notice', () => bothHealthy(false), 10_000);
    expect(await take(a, 6)).toBe(4);
    expect(await take(b, 6)).toBe(4);
    await redis.up();
    await until('both nodes to use Redis again', () => bothHealthy(true), 15_000);
    // The restarted Redis kept nothing: one fresh bucket of 4 for both nodes together.
    key = c.key;
    expect((await take(a, 3)) + (await take(b, 3))).toBe(4);
    const metrics = await (await fetch(`${a.url}/metrics`, { headers: auth(METRICS) })).text();
    expect(metrics).toMatch(/vidgate_shared_limits_up\{backend="redis"\} 1/);
    expect(metrics).toMatch(/vidgate_shared_limits_outages 2/);
    // One warning when each outage began and one when it ended, however many requests came meanwhile.
    for (const node of [a, b]) {
      expect(node.output().match(/Redis is unreachable/g)).toHaveLength(2);
      expect(node.output().match(/Redis answers again/g)).toHaveLength(2);
    }
  });
});
