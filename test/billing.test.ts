import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import { cli, spawnServer } from './helpers/process.js';
import { checkContract } from './helpers/contract.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const ADMIN = 'billing-admin-token-0123456789';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({
    adminToken: ADMIN,
    billing: { sandboxPricing: 'catalogue' },
    sandbox: { queueMs: 30, msPerVideoSecond: 40, longQueueMs: 1500, concurrency: 2 },
  });
});
afterAll(async () => gw?.close());

const admin = async (method: string, p: string, body?: unknown) => {
  const res = await fetch(`${gw.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
};

/** A new key with `usd` of credit, through the admin API. */
async function fundedKey(usd: number, extra: Record<string, unknown> = {}) {
  const k = (await admin('POST', '/admin/v1/keys', { name: `k${Math.random()}`, ...(usd ? { credit_usd: usd } : {}), ...extra })) as { id: string; key: string };
  return k;
}

const create = (key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}/v1/videos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

const balanceOf = async (id: string) => (await admin('GET', `/admin/v1/keys/${id}`)) as { balance_usd: number; held_usd: number };
const ledgerOf = async (id: string) =>
  (await admin('GET', `/admin/v1/keys/${id}/ledger?limit=1000`)) as {
    data: { kind: string; amount_usd: number; balance_after_usd: number; task_id: string | null }[];
    balance_usd: number;
    recomputed_balance_usd: number;
  };

async function waitDone(key: string, id: string) {
  return waitForVideo(new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 }), id, 60_000);
}

describe('credit holds', () => {
  it('100 concurrent creates against credit for exactly 50: 50 accepted, the rest 402, balance never below zero', async () => {
    const k = await fundedKey(20); // sora-2, 4 s × $0.10 = $0.40 → 50 videos
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => create(k.key, { prompt: `sandbox:long-queue race ${i}`, seconds: '4' })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBe(50);
    expect(statuses.filter((s) => s === 402).length).toBe(50);
    const refused = (await results.find((r) => r.status === 402)!.json()) as { error: { type: string; code: string; message: string } };
    expect(refused.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(refused.error.message).toContain('$0.40');
    expect((await balanceOf(k.id)).balance_usd).toBeCloseTo(0, 6);
    // Nothing was created for refused requests.
    const list = (await (await fetch(`${gw.url}/v1/videos?limit=100`, { headers: { authorization: `Bearer ${k.key}` } })).json()) as { data: { id: string }[] };
    expect(list.data.length).toBe(50);

    // Cancel them all at once: every hold comes back exactly once.
    await Promise.all(list.data.map((v) => fetch(`${gw.url}/v1/videos/${v.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${k.key}` } })));
    const ledger = await ledgerOf(k.id);
    expect(Math.min(...ledger.data.map((e) => e.balance_after_usd))).toBeGreaterThanOrEqual(0);
    expect(ledger.data.filter((e) => e.kind === 'release').length).toBe(50);
    expect(ledger.balance_usd).toBeCloseTo(20, 6);
    expect(ledger.recomputed_balance_usd).toBeCloseTo(ledger.balance_usd, 6);
  });

  it('completion settles at the quoted price; the apimart cost and usage report agree', async () => {
    const k = await fundedKey(5);
    const res = await create(k.key, { prompt: 'a settled video', model: 'sora-2-pro', size: '1792x1024', seconds: '4' });
    const v = (await res.json()) as { id: string };
    expect((await balanceOf(k.id)).held_usd).toBeCloseTo(2, 6); // 4 s × $0.50
    await waitDone(k.key, v.id);
    const b = await balanceOf(k.id);
    expect(b.balance_usd).toBeCloseTo(3, 6);
    expect(b.held_usd).toBe(0);
    const usage = (await (await fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${k.key}` } })).json()) as {
      totals: { videos: number; seconds: number; cost_usd: number };
      by_model: { model: string; cost_usd: number }[];
    };
    expect(usage.totals).toMatchObject({ videos: 1, seconds: 4 });
    expect(usage.totals.cost_usd).toBeCloseTo(2, 6);
    expect(usage.by_model[0]!.model).toBe('sora-2-pro');
  });

  it('releases the hold in full on every failure path: moderation, mid-render failure, deletion before completion', async () => {
    const k = await fundedKey(10);
    const ids: string[] = [];
    for (const prompt of ['sandbox:moderation x', 'sandbox:fail y']) {
      const v = (await (await create(k.key, { prompt })).json()) as { id: string };
      ids.push(v.id);
      expect((await waitDone(k.key, v.id)).status).toBe('failed');
    }
    const waiting = (await (await create(k.key, { prompt: 'sandbox:long-queue z' })).json()) as { id: string };
    expect((await balanceOf(k.id)).balance_usd).toBeCloseTo(9.6, 6);
    await fetch(`${gw.url}/v1/videos/${waiting.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${k.key}` } });

    const b = await balanceOf(k.id);
    expect(b.balance_usd).toBeCloseTo(10, 6);
    expect(b.held_usd).toBe(0);
    const ledger = await ledgerOf(k.id);
    for (const id of [...ids, waiting.id]) {
      const kinds = ledger.data.filter((e) => e.task_id === id).map((e) => e.kind).sort();
      expect(kinds).toEqual(['hold', 'release']);
    }
    expect(ledger.recomputed_balance_usd).toBeCloseTo(ledger.balance_usd, 6);
  });

  it('an idempotent retry never holds twice, even when the duplicates arrive together', async () => {
    const k = await fundedKey(10);
    const body = { prompt: 'same request', seconds: '8' };
    const results = await Promise.all(Array.from({ length: 8 }, () => create(k.key, body, { 'idempotency-key': 'order-42' })));
    const ids = new Set(await Promise.all(results.map(async (r) => ((await r.json()) as { id: string }).id)));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.headers.get('idempotency-replayed') === 'true').length).toBe(7);
    // The openai SDK's own retries carry no key but X-Stainless-Retry-Count.
    const first = (await (await create(k.key, { prompt: 'sdk retry' })).json()) as { id: string };
    const retry = await create(k.key, { prompt: 'sdk retry' }, { 'x-stainless-retry-count': '1' });
    expect(((await retry.json()) as { id: string }).id).toBe(first.id);
    const holds = (await ledgerOf(k.id)).data.filter((e) => e.kind === 'hold');
    expect(holds.length).toBe(2);
    expect((await balanceOf(k.id)).balance_usd).toBeCloseTo(10 - 0.8 - 0.4, 6);
  });

  it('a price change applies to new tasks only', async () => {
    const k = await fundedKey(10);
    const before = (await (await create(k.key, { prompt: 'sandbox:long-queue priced before' })).json()) as { id: string };
    await admin('PUT', '/admin/v1/prices', { model: 'sora-2', tier: '720p', usd_per_second: 0.25 });
    try {
      const after = (await (await create(k.key, { prompt: 'priced after' })).json()) as { id: string };
      await waitDone(k.key, before.id);
      await waitDone(k.key, after.id);
      const usage = (await (await fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${k.key}` } })).json()) as { totals: { cost_usd: number } };
      expect(usage.totals.cost_usd).toBeCloseTo(0.4 + 1.0, 6);
    } finally {
      await admin('DELETE', '/admin/v1/prices/sora-2/720p');
    }
  });

  it('test keys run on the sandbox and never touch credit', async () => {
    const k = await fundedKey(0, { test: true });
    const v = (await (await create(k.key, { prompt: 'free for testing', model: 'sora-2-pro', size: '1080x1920' })).json()) as { id: string };
    expect((await waitDone(k.key, v.id)).status).toBe('completed');
    expect((await ledgerOf(k.id)).data).toEqual([]);
    const bal = (await (await fetch(`${gw.url}/v1/balance`, { headers: { authorization: `Bearer ${k.key}` } })).json()) as { code: number; data: { balance: number; test_key: boolean } };
    expect(bal).toMatchObject({ code: 200, data: { balance: 0, test_key: true } });
  });
});

describe('limits', () => {
  it('requests per minute: over the limit is a 429 with Retry-After and x-ratelimit headers, nothing created', async () => {
    const k = await fundedKey(10, { rpm_limit: 5 });
    const responses = [];
    for (let i = 0; i < 7; i++) responses.push(await create(k.key, { prompt: `rpm ${i}` }));
    expect(responses.slice(0, 5).every((r) => r.status === 200)).toBe(true);
    const limited = responses[5]!;
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('5');
    expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(((await limited.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
    expect(responses[0]!.headers.get('x-ratelimit-remaining-requests')).toBe('4');
    const holds = (await ledgerOf(k.id)).data.filter((e) => e.kind === 'hold');
    expect(holds.length).toBe(5);
  });

  it('concurrent unfinished videos: under parallel load exactly the limit is accepted, nothing held for the rest', async () => {
    const k = await fundedKey(10, { max_inflight: 3 });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => create(k.key, { prompt: `sandbox:long-queue inflight ${i}` })));
    expect(results.filter((r) => r.status === 200).length).toBe(3);
    const limited = results.find((r) => r.status === 429)!;
    expect(limited.headers.get('x-ratelimit-limit-tasks')).toBe('3');
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('too_many_inflight_tasks');
    expect((await balanceOf(k.id)).held_usd).toBeCloseTo(1.2, 6);
  });
});

describe('operator tools', () => {
  it('admin API: top up, remove credit (never below zero), set a credit line, and read the ledger', async () => {
    const k = await fundedKey(1);
    await admin('POST', `/admin/v1/keys/${k.id}/credit`, { amount_usd: 4, note: 'invoice 17' });
    expect((await balanceOf(k.id)).balance_usd).toBeCloseTo(5, 6);
    const tooMuch = await fetch(`${gw.url}/admin/v1/keys/${k.id}/credit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount_usd: -6 }),
    });
    expect(tooMuch.status).toBe(400);
    expect(((await tooMuch.json()) as { error: { param: string } }).error.param).toBe('amount_usd');
    const patched = (await admin('PATCH', `/admin/v1/keys/${k.id}`, { credit_limit_usd: 2, rpm_limit: 50 })) as { credit_limit_usd: number; rpm_limit: number };
    expect(patched).toMatchObject({ credit_limit_usd: 2, rpm_limit: 50 });
    await admin('POST', `/admin/v1/keys/${k.id}/credit`, { amount_usd: -6 });
    expect((await balanceOf(k.id)).balance_usd).toBeCloseTo(-1, 6);
    const ledger = await ledgerOf(k.id);
    expect(ledger.data.map((e) => e.kind)).toEqual(['adjust', 'topup', 'topup']);
    expect(ledger.recomputed_balance_usd).toBeCloseTo(-1, 6);
  });

  it('balance endpoints in the apimart and new-api styles', async () => {
    const k = await fundedKey(7.5);
    const auth = { authorization: `Bearer ${k.key}` };
    const apimart = (await (await fetch(`${gw.url}/v1/user/balance`, { headers: auth })).json()) as { data: { balance: number; currency: string } };
    expect(apimart.data).toMatchObject({ balance: 7.5, currency: 'USD' });
    const sub = (await (await fetch(`${gw.url}/v1/dashboard/billing/subscription`, { headers: auth })).json()) as { object: string; hard_limit_usd: number };
    expect(sub).toMatchObject({ object: 'billing_subscription', hard_limit_usd: 7.5 });
    const usage = (await (await fetch(`${gw.url}/dashboard/billing/usage`, { headers: auth })).json()) as { total_usage: number };
    expect(usage.total_usage).toBe(0);
  });

  it('admin usage report across keys', async () => {
    const report = (await admin('GET', '/admin/v1/usage')) as { totals: { videos: number; cost_usd: number }; by_key: { key_id: string }[]; by_day: unknown[] };
    expect(report.totals.videos).toBeGreaterThanOrEqual(4);
    expect(report.totals.cost_usd).toBeGreaterThan(2);
    expect(report.by_key.length).toBeGreaterThanOrEqual(3);
    expect(report.by_day.length).toBeGreaterThanOrEqual(1);
    const bad = await fetch(`${gw.url}/admin/v1/usage?start_date=yesterday`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(bad.status).toBe(400);
  });
});

describe('billing survives crashes', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('a SIGKILL between hold and settle leaves a consistent ledger after restart', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-billing-crash-'));
    dirs.push(dataDir);
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_SANDBOX_PRICING: 'catalogue', VIDGATE_SANDBOX_QUEUE_MS: '200', VIDGATE_SANDBOX_MS_PER_SECOND: '150' };
    const { key, id } = JSON.parse((await cli(['key', 'create', '--name', 'crash', '--credit', '10', '--json'], env)).stdout) as { key: string; id: string };
    expect(JSON.parse((await cli(['key', 'show', id, '--json'], env)).stdout)).toMatchObject({ balance_usd: 10 });

    let server = await spawnServer(env);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${server.url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: i === 5 ? 'sandbox:fail crash' : `crash ${i}` }),
      });
      ids.push(((await res.json()) as { id: string }).id);
    }
    await new Promise((r) => setTimeout(r, 600));
    server.child.kill('SIGKILL');
    await server.exited;
    server = await spawnServer(env);
    try {
      const deadline = Date.now() + 60_000;
      for (const vid of ids) {
        for (;;) {
          const v = (await (await fetch(`${server.url}/v1/videos/${vid}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { status: string };
          if (v.status === 'completed' || v.status === 'failed') break;
          if (Date.now() > deadline) throw new Error(`${vid} not finished`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    try {
      const cached = (db.prepare('SELECT balance_micros FROM api_keys WHERE id = ?').get(id) as { balance_micros: number }).balance_micros;
      const summed = (db.prepare('SELECT SUM(amount_micros) AS s FROM ledger WHERE key_id = ?').get(id) as { s: number }).s;
      expect(summed).toBe(cached);
      expect(cached).toBe(10_000_000 - 5 * 400_000);
      for (const vid of ids) {
        const kinds = (db.prepare('SELECT kind FROM ledger WHERE task_id = ? ORDER BY id').all(vid.slice(6)) as { kind: string }[]).map((r) => r.kind);
        expect(kinds).toEqual(vid === ids[5] ? ['hold', 'release'] : ['hold', 'settle']);
      }
    } finally {
      db.close();
    }
    const usage = JSON.parse((await cli(['usage', '--key', id, '--json'], env)).stdout) as { totals: { videos: number; failed: number; cost_usd: number } };
    expect(usage.totals).toMatchObject({ videos: 5, failed: 1 });
    expect(usage.totals.cost_usd).toBeCloseTo(2, 6);
  });
});
