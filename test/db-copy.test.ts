import { createHash } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDatabase } from '../src/store/copy.js';
import { openDatabaseUrl } from '../src/store/open.js';
import type { DataTable } from '../src/store/schema.js';
import { DATA_TABLES, TABLES } from '../src/store/schema.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import { postgresMissing, testDatabases } from './helpers/postgres.js';
import { cli } from './helpers/process.js';
import { Receiver } from './helpers/receiver.js';

/**
 * `vidgate db copy` round trip: a SQLite installation populated through the real gateway (both
 * dialects, money, webhooks, a channel, idempotent creates) copied to PostgreSQL, compared row by
 * row, copied back to a fresh SQLite file, and served again by a gateway started on that copy.
 */

const skip = await postgresMissing();
if (skip) console.warn(`db-copy.test.ts skipped: ${skip}`);

const ADMIN = 'dbcopy-admin-token-0123456789';
const SANDBOX = { queueMs: 30, msPerVideoSecond: 40, longQueueMs: 600_000, concurrency: 2 };
const FAST_WEBHOOKS = { retryBaseMs: 40, retryMultiplier: 2, retryMaxDelayMs: 400, timeoutMs: 400, maxAgeHours: 72, concurrency: 16, perTargetConcurrency: 4 };

async function vidgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await cli(args, {});
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

type Row = Record<string, unknown>;

/** Every row of every vidgate table, values normalised (BIGINT → number), sorted by primary key. */
async function dump(url: string): Promise<Record<DataTable, Row[]>> {
  const opened = await openDatabaseUrl(url, { readonly: true });
  try {
    const out = {} as Record<DataTable, Row[]>;
    for (const table of DATA_TABLES) {
      const { primaryKey } = TABLES[table] as { primaryKey: readonly string[] };
      const rows = (await opened.db.selectFrom(table).selectAll().execute()) as Row[];
      const norm = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
      const key = (r: Row) => JSON.stringify(primaryKey.map((c) => r[c]));
      out[table] = norm.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    }
    return out;
  } finally {
    await opened.close();
  }
}

const counts = (d: Record<DataTable, Row[]>) => Object.fromEntries(DATA_TABLES.map((t) => [t, d[t].length]));

describe.skipIf(!!skip)('vidgate db copy', () => {
  const dbs = testDatabases();
  let dir: string;
  let gw: TestGateway;
  let receiver: Receiver;
  let sourceFile: string;
  let pgUrl: string;
  const tasks: { id: string; key: string; status: string }[] = [];
  const videos = new Map<string, unknown>();
  const contents = new Map<string, string>();
  const keys: { id: string; key: string }[] = [];
  const balances = new Map<string, unknown>();
  let channel: unknown;
  let stopped = false;

  const call = async (key: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const statusOf = async (key: string, id: string) => (await call(key, 'GET', `/v1/videos/${id}`)).status as string;
  async function settle(key: string, id: string, want: string[] = ['completed', 'failed']) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const s = await statusOf(key, id);
      if (want.includes(s)) return s;
      if (Date.now() > deadline) throw new Error(`${id} still ${s}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** What the gateway serves now, to compare with a gateway on the round-tripped copy. */
  async function recordViews() {
    for (const t of tasks) {
      videos.set(t.id, await call(t.key, 'GET', `/v1/videos/${t.id.replace(/^task_/, 'video_')}`));
      if (t.status === 'completed') {
        const res = await fetch(`${gw.url}/v1/videos/${t.id}/content`, { headers: { authorization: `Bearer ${t.key}` } });
        expect(res.status).toBe(200);
        contents.set(t.id, createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'));
      }
    }
    for (const k of keys) balances.set(k.id, await call(ADMIN, 'GET', `/admin/v1/keys/${k.id}`));
    expect((balances.get(keys[0]!.id) as { held_usd: number }).held_usd).toBeGreaterThan(0);
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vidgate-dbcopy-'));
    receiver = await Receiver.start();
    gw = await startGateway({
      adminToken: ADMIN,
      billing: { sandboxPricing: 'catalogue' },
      sandbox: SANDBOX,
      net: { allowHosts: [], allowCidrs: ['127.0.0.1/32'] },
      webhooks: FAST_WEBHOOKS,
      // The channel made below serves another model; the sandbox keeps serving these.
      upstream: { sandboxFallback: 'always' },
    });
    sourceFile = path.join(gw.dataDir, 'vidgate.db');
    for (const [name, credit] of [['alice', 20], ['bob', 5]] as const) {
      keys.push((await call(ADMIN, 'POST', '/admin/v1/keys', { name, credit_usd: credit })) as { id: string; key: string });
    }
    const [alice, bob] = keys as [{ id: string; key: string }, { id: string; key: string }];
    await call(alice.key, 'POST', '/v1/webhook_endpoints', { url: `${receiver.url}/hooks`, name: 'main', event_types: ['video.completed', 'video.failed'] });
    await call(ADMIN, 'PUT', '/admin/v1/prices', { model: 'sora-2-pro', tier: '720p', usd_per_second: 0.5 });

    // OpenAI dialect: completed, failed mid-render, an idempotent create sent twice, a callback_url.
    const openai = async (key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      (await call(key, 'POST', '/v1/videos', { seconds: '4', ...body }, headers)).id as string;
    const fox = await openai(alice.key, { prompt: 'A red fox running through snow' });
    const broken = await openai(alice.key, { prompt: 'sandbox:fail a broken render' });
    const once = await openai(alice.key, { prompt: 'An order placed once' }, { 'idempotency-key': 'order-7' });
    expect(await openai(alice.key, { prompt: 'An order placed once' }, { 'idempotency-key': 'order-7' })).toBe(once);
    const owl = await openai(bob.key, { prompt: 'An owl at night', callback_url: `${receiver.url}/cb` });
    // apimart dialect: completed, cancelled, and one left waiting (its credit still held).
    const apimart = async (key: string, prompt: string) =>
      ((await call(key, 'POST', '/v1/videos/generations', { model: 'sora-2-preview', prompt, duration: 4, aspect_ratio: 'landscape' })).data as { task_id: string }[])[0]!.task_id;
    const falls = await apimart(bob.key, 'A majestic waterfall');
    const cancelled = await apimart(bob.key, 'sandbox:long-queue cancelled while queued');
    const waiting = await apimart(alice.key, 'sandbox:long-queue still waiting');
    await call(bob.key, 'POST', `/v1/tasks/${cancelled}/cancel`);

    for (const [id, key] of [[fox, alice], [broken, alice], [once, alice], [owl, bob], [falls, bob], [cancelled, bob], [waiting, alice]] as const) {
      const status = id === waiting ? await statusOf(key.key, id) : await settle(key.key, id);
      tasks.push({ id, key: key.key, status });
    }
    expect(tasks.map((t) => t.status)).toEqual(['completed', 'failed', 'completed', 'completed', 'completed', 'failed', 'queued']);
    // The webhooks and the callback have been delivered (deliveries and attempts to copy).
    const deadline = Date.now() + 20_000;
    while (receiver.received.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(receiver.received.length).toBeGreaterThanOrEqual(4);
    channel = await call(ADMIN, 'POST', '/admin/v1/channels', {
      id: 'spare',
      type: 'openai-compatible',
      base_url: 'https://api.example.com/v1',
      api_key: 'sk-spare-0123456789abcdef',
      models: ['sora-2-pro'],
    });

  }, 180_000);

  afterAll(async () => {
    if (gw && !stopped) await gw.app.close();
    if (gw) await rm(gw.dataDir, { recursive: true, force: true });
    await receiver?.stop();
    await dbs.dropAll();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('copies a SQLite database that the running gateway keeps writing to, and verifies it', async () => {
    const target = await dbs.create();
    let copying = true;
    const running = vidgate(['db', 'copy', '--from', `sqlite:${sourceFile}`, '--to', target]).finally(() => (copying = false));
    // Writes while the copy reads: tasks (each with its credit hold), events and ledger rows.
    let written = 0;
    while (copying && written < 30) {
      const v = await call(keys[0]!.key, 'POST', '/v1/videos', { prompt: `sandbox:long-queue written during the copy ${written++}`, seconds: '4' });
      tasks.push({ id: v.id as string, key: keys[0]!.key, status: 'queued' });
      await new Promise((r) => setTimeout(r, 40));
    }
    const copy = await running;
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    expect(copy.stdout).toMatch(/^balances: \d+ keys, every balance, ledger sum and hold equal on both sides$/m);
    expect(copy.stdout).toContain(`copied sqlite:${sourceFile} → ${target}`);
    expect(copy.stdout).not.toContain('MISMATCH');
    for (const t of DATA_TABLES) expect(copy.stdout).toMatch(new RegExp(`^${t} +(\\d+) +\\1$`, 'm'));
    expect(written).toBeGreaterThan(3);
    // One snapshot: each key's cached balance is the sum of its ledger entries on the copy too.
    const copied = await dump(target);
    for (const k of copied.api_keys) {
      const sum = copied.ledger.filter((e) => e.key_id === k.id).reduce((a, e) => a + (e.amount_micros as number), 0);
      expect({ key: k.id, balance: k.balance_micros }).toEqual({ key: k.id, balance: sum });
    }
  }, 120_000);

  it('round-trips: SQLite → PostgreSQL → SQLite, row for row, and a gateway on the copy serves the same videos and balances', async () => {
    await recordViews();
    // Stop the gateway (keeping its files) so that the source no longer changes.
    await gw.app.close();
    stopped = true;
    const before = await dump(sourceFile);
    expect(counts(before)).toMatchObject({ api_keys: 3, tasks: tasks.length, idempotency_keys: 1, webhook_endpoints: 1, callback_secrets: 1, channels: 1, prices: 1 });
    for (const t of ['task_assets', 'task_events', 'ledger', 'webhook_deliveries', 'webhook_attempts'] as const) expect(before[t].length).toBeGreaterThan(0);

    pgUrl = await dbs.create();
    const there = await vidgate(['db', 'copy', '--from', `sqlite:${sourceFile}`, '--to', pgUrl]);
    expect(there.code).toBe(0);
    const onPostgres = await dump(pgUrl);
    for (const t of DATA_TABLES) expect({ t, rows: onPostgres[t] }).toEqual({ t, rows: before[t] });

    // Back into a fresh installation: the database, plus the blobs and the master key (channel
    // credentials and webhook secrets are sealed with it).
    const home = path.join(dir, 'restored');
    await cp(path.join(gw.dataDir, 'blobs'), path.join(home, 'blobs'), { recursive: true });
    await cp(path.join(gw.dataDir, 'master.key'), path.join(home, 'master.key'));
    const back = await vidgate(['db', 'copy', '--from', pgUrl, '--to', `sqlite:${path.join(home, 'vidgate.db')}`]);
    expect(back.code).toBe(0);
    expect(await dump(path.join(home, 'vidgate.db'))).toEqual(before);
    // The identity sequences continue where the source's stopped.
    const restored = new Database(path.join(home, 'vidgate.db'), { readonly: true });
    const seqs = restored.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').all();
    restored.close();
    const original = new Database(sourceFile, { readonly: true });
    expect(seqs).toEqual(original.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').all());
    original.close();

    const gw2 = await startGateway({ adminToken: ADMIN, billing: { sandboxPricing: 'catalogue' }, sandbox: SANDBOX, dataDir: home, worker: { enabled: false }, upstream: { sandboxFallback: 'always' } });
    try {
      for (const t of tasks) {
        const res = await fetch(`${gw2.url}/v1/videos/${t.id.replace(/^task_/, 'video_')}`, { headers: { authorization: `Bearer ${t.key}` } });
        expect(await res.json()).toEqual(videos.get(t.id));
        if (t.status === 'completed') {
          const content = await fetch(`${gw2.url}/v1/videos/${t.id}/content`, { headers: { authorization: `Bearer ${t.key}` } });
          expect(content.status).toBe(200);
          expect(createHash('sha256').update(Buffer.from(await content.arrayBuffer())).digest('hex')).toBe(contents.get(t.id));
        }
      }
      const admin = async (p: string) => (await fetch(`${gw2.url}${p}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
      for (const k of keys) expect(await admin(`/admin/v1/keys/${k.id}`)).toEqual(balances.get(k.id));
      expect(await admin('/admin/v1/channels/spare')).toMatchObject({ id: 'spare', api_key_set: true, models: (channel as { models: unknown }).models });
    } finally {
      await gw2.close();
    }
  }, 180_000);

  it('copies in batches as small as one row (keyset pages over single and composite primary keys)', async () => {
    const target = await dbs.create();
    const from = await openDatabaseUrl(`sqlite:${sourceFile}`, { readonly: true });
    const to = await openDatabaseUrl(target);
    const copied: Record<string, number> = {};
    try {
      const report = await copyDatabase(from, to, { maxParams: 1, onTable: (t, n) => (copied[t] = n) });
      expect(report.balanceMismatches).toEqual([]);
    } finally {
      await from.close();
      await to.close();
    }
    const before = await dump(sourceFile);
    expect(copied).toEqual(counts(before));
    expect(await dump(target)).toEqual(before);

    // And paged back out of PostgreSQL (its text ordering is the database collation's, not SQLite's bytes).
    const file = path.join(dir, 'paged-back.db');
    const pgFrom = await openDatabaseUrl(target, { readonly: true });
    const liteTo = await openDatabaseUrl(file);
    try {
      await copyDatabase(pgFrom, liteTo, { maxParams: 1 });
    } finally {
      await pgFrom.close();
      await liteTo.close();
    }
    expect(await dump(file)).toEqual(before);
  }, 60_000);

  it('refuses to write into a database that holds rows, naming the table, and writes nothing', async () => {
    const before = counts(await dump(pgUrl));
    const res = await vidgate(['db', 'copy', '--from', `sqlite:${sourceFile}`, '--to', pgUrl]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe('vidgate: the target already holds rows in table api_keys; db copy writes only into an empty database');
    expect(counts(await dump(pgUrl))).toEqual(before);
  }, 60_000);

  it('a row the target cannot take fails the copy and leaves the target empty', async () => {
    const bad = path.join(dir, 'bad.db');
    const src = new Database(sourceFile, { readonly: true });
    await src.backup(bad);
    src.close();
    const db = new Database(bad);
    // SQLite keeps 1.5 in an INTEGER column; PostgreSQL refuses it.
    db.prepare('UPDATE webhook_attempts SET attempt = 1.5 WHERE id = (SELECT max(id) FROM webhook_attempts)').run();
    db.close();
    const target = await dbs.create();
    const res = await vidgate(['db', 'copy', '--from', bad, '--to', target]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/^vidgate: invalid input syntax for type integer: "1.5"/);
    expect(Object.values(counts(await dump(target))).every((n) => n === 0)).toBe(true);
  }, 60_000);

  it('bad URLs and a missing source are one line and exit 1', async () => {
    const ftp = await vidgate(['db', 'copy', '--from', `sqlite:${sourceFile}`, '--to', 'ftp://example.com/db']);
    expect(ftp.code).toBe(1);
    expect(ftp.stderr.trim()).toBe("vidgate: unsupported database URL 'ftp://example.com/db': use sqlite:PATH, a file path, or postgres://USER@HOST:PORT/DATABASE");
    const missing = await vidgate(['db', 'copy', '--from', path.join(dir, 'nope.db'), '--to', await dbs.create()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`vidgate: cannot open sqlite:${path.join(dir, 'nope.db')}: no such file`);
  }, 60_000);
});
