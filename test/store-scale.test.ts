import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newTaskId } from '../src/core/ids.js';
import type { Task } from '../src/core/task.js';
import type { Db } from '../src/store/db.js';
import Database from 'better-sqlite3';
import { openDatabase } from '../src/store/db.js';
import { KeyStore } from '../src/store/keys.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import type { Sql } from '../src/store/sql.js';
import { SqliteDatabase } from '../src/store/sql.js';
import { TaskStore } from '../src/store/tasks.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';

/**
 * What keeps a big store fast (bench/scale.ts measures it): the queries a status read, a list,
 * the worker's turn and the sweeps run walk an index to the rows they need, never the tasks table
 * or every unfinished task; and the worker's next wake-up time stays what it was.
 */
let dir: string;
let db: Db;
let store: TaskStore;
let keyId: string;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'vidgate-store-'));
  db = openDatabase(dir);
  const sdb = new SqliteDatabase(db);
  store = TaskStore.of(sdb);
  keyId = (await KeyStore.of(sdb).create('k')).key.id;
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function task(over: Partial<Task> & { createdAt: number }): Task {
  return {
    id: newTaskId(over.createdAt), keyId, origin: 'openai', kind: 'generate', model: 'sora-2', prompt: 'a fox in the snow', seconds: 4,
    width: 720, height: 1280, status: 'queued', progress: 0, error: null, remixedFrom: null, hasReference: false, params: {}, request: null,
    bodyHash: null, provider: 'sandbox', upstreamId: null, priceMicros: 0, quoteMicros: 0, costMicros: null, actualSeconds: null,
    stage: 'submit', providerState: {}, nextRunAt: over.createdAt, leaseOwner: null, leaseUntil: null, attempts: 0, startedAt: null,
    completedAt: null, expiresAt: null, deletedAt: null, updatedAt: over.createdAt, ...over,
  };
}

/**
 * The SQL texts a TaskStore method sends, in order: the method runs on a Sql that records each
 * statement and answers nothing (so no row changes).
 */
async function statementsOf(call: (s: TaskStore) => Promise<unknown>): Promise<string[]> {
  const texts: string[] = [];
  const recorder: Sql = {
    dialect: 'sqlite',
    all: <T,>(text: string) => {
      texts.push(text);
      return Promise.resolve([] as T[]);
    },
    get: <T,>(text: string) => {
      texts.push(text);
      return Promise.resolve(undefined as T | undefined);
    },
    run: (text: string) => {
      texts.push(text);
      return Promise.resolve(0);
    },
  };
  // Methods that expect a row where none came back may throw after their statements were recorded.
  await call(new TaskStore(recorder)).catch(() => undefined);
  return texts;
}

/** Each statement the index tests name: the method that sends it and which of its statements. */
const STATEMENTS: Record<string, [(s: TaskStore) => Promise<unknown>, number]> = {
  getView: [(s) => s.getView('t', 'k'), 0],
  getVisible: [(s) => s.getVisible('t', 'k'), 0],
  listDesc: [(s) => s.list('k', { limit: 10, order: 'desc' }), 0],
  listAsc: [(s) => s.list('k', { limit: 10, order: 'asc' }), 0],
  claim: [(s) => s.claimDue('o', 0, 1, 1), 0],
  byUpstream: [(s) => s.waitingByUpstream('p', 'u'), 0],
  expired: [(s) => s.expiredBefore(0, 1), 0],
  overdue: [(s) => s.unfinishedSummary(0), 1],
  nextDueFree: [(s) => s.nextDueAt(), 0],
  nextDueLeased: [(s) => s.nextDueAt(), 1],
  leaseOwners: [(s) => s.leaseOwners(), 0],
  dropLeases: [(s) => s.dropLeasesOf('o'), 0],
  unfinished: [(s) => s.unfinishedSummary(0), 0],
};

/** The plan of a TaskStore statement, with every parameter bound to NULL. */
async function plan(name: string): Promise<string> {
  const entry = STATEMENTS[name];
  if (!entry) throw new Error(`no statement ${name}`);
  const source = (await statementsOf(entry[0]))[entry[1]];
  if (!source) throw new Error(`statement ${name}: the method sent no statement ${entry[1]}`);
  const named = Object.fromEntries([...source.matchAll(/@(\w+)/g)].map((m) => [m[1], null]));
  const positional = new Array(source.split('?').length - 1).fill(null);
  const explain = db.prepare(`EXPLAIN QUERY PLAN ${source}`);
  const rows = (Object.keys(named).length ? explain.all(named) : explain.all(...positional)) as { detail: string }[];
  return rows.map((r) => r.detail).join(' | ');
}

describe('a big store', () => {
  it('status reads, lists, claims, lease checks and sweeps search an index instead of scanning tasks', async () => {
    for (let i = 0; i < 50; i++) await store.insert(task({ createdAt: 1_000 + i, ...(i % 2 ? { stage: 'done', status: 'completed', nextRunAt: null } : {}) }));
    const walks = (name: string) => plan(name);
    for (const name of ['getView', 'getVisible', 'listDesc', 'listAsc', 'claim', 'byUpstream', 'expired', 'overdue']) {
      expect(await walks(name), name).toMatch(/SEARCH tasks USING/);
      expect(await walks(name), name).not.toMatch(/SCAN tasks/);
    }
    // Only the leased rows (steps running now), not every unfinished task.
    for (const name of ['nextDueFree', 'nextDueLeased', 'leaseOwners', 'dropLeases']) {
      expect(await walks(name), name).not.toMatch(/SCAN tasks/);
    }
    expect(await walks('nextDueLeased')).toMatch(/tasks_leased/);
    expect(await walks('leaseOwners')).toMatch(/tasks_leased/);
    // The metrics' unfinished-task summary reads an index alone.
    expect(await walks('unfinished')).toMatch(/COVERING INDEX tasks_unfinished/);
    // Only tasks past their expiry that still have files (not every task that ever expired).
    expect(await walks('expired')).toMatch(/tasks_files_expiring/);
  });

  it('the worker wakes when the earliest task is due or its lease ends, whichever is later', async () => {
    expect(await store.nextDueAt()).toBeNull();
    const a = task({ createdAt: 1_000, nextRunAt: 50_000 });
    const b = task({ createdAt: 1_001, nextRunAt: 20_000 });
    await store.insert(a);
    await store.insert(b);
    await store.insert(task({ createdAt: 1_002, stage: 'done', status: 'completed', nextRunAt: null }));
    expect(await store.nextDueAt()).toBe(20_000);
    // b is held until 30,000 (a step runs on it): the next wake-up is the end of that lease.
    await store.update(b.id, { leaseOwner: 'host#1', leaseUntil: 30_000 });
    expect(await store.nextDueAt()).toBe(30_000);
    // Held beyond a's due time: a comes first.
    await store.update(b.id, { leaseUntil: 90_000 });
    expect(await store.nextDueAt()).toBe(50_000);
    // A lease that ended before the task is due does not delay it.
    await store.update(b.id, { leaseUntil: 10_000 });
    expect(await store.nextDueAt()).toBe(20_000);
    expect(await store.leaseOwners()).toEqual(['host#1']);
    expect(await store.dropLeasesOf('host#1')).toBe(1);
    expect(await store.leaseOwners()).toEqual([]);
    await store.update(a.id, { stage: 'done', status: 'completed', nextRunAt: null });
    await store.update(b.id, { stage: 'done', status: 'completed', nextRunAt: null });
    expect(await store.nextDueAt()).toBeNull();
  });
});

describe('retention on a store with a long history', () => {
  it('removes the files of a video past retention even when many older videos expired before it', { timeout: 120_000 }, async () => {
    let skewMs = 0;
    const gw = await startGateway({}, { now: () => Date.now() + skewMs });
    try {
      const client = gw.openai();
      const v = await client.videos.create({ prompt: 'a lighthouse at dusk' });
      expect((await waitForVideo(client, v.id, 60_000)).status).toBe('completed');
      // 250 videos of the same key that completed long ago: retention already removed their files.
      const tasks = gw.app.gateway.service.store;
      const longAgo = Date.now() - 60 * 86_400_000;
      for (let i = 0; i < 250; i++) {
        await tasks.insert(task({ keyId: gw.keyId, createdAt: longAgo + i, stage: 'done', status: 'completed', progress: 100, nextRunAt: null, completedAt: longAgo + i + 60_000, expiresAt: longAgo + i + 7 * 86_400_000 }));
      }
      await gw.app.gateway.service.expireAssets();
      const auth = { authorization: `Bearer ${gw.key}` };
      expect((await fetch(`${gw.url}/v1/videos/${v.id}/content`, { headers: auth })).status).toBe(200);

      skewMs = 169 * 3600_000;
      await gw.app.gateway.service.expireAssets();
      const gone = await fetch(`${gw.url}/v1/videos/${v.id}/content`, { headers: auth });
      expect(gone.status).toBe(410);
      expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('content_expired');
      expect(existsSync(path.join(gw.dataDir, 'blobs', v.id.slice('video_'.length)))).toBe(false);
    } finally {
      await gw.close();
    }
  });
});

describe('upgrading a store with a history', () => {
  it('the expiry sweep then reads only the expired tasks that still have files', async () => {
    const old = mkdtempSync(path.join(tmpdir(), 'vidgate-store-old-'));
    try {
      // A store as the release before 008 left it.
      const raw = new Database(path.join(old, 'vidgate.db'));
      raw.exec('CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
      for (const m of MIGRATIONS.slice(0, MIGRATIONS.findIndex((x) => x.id === '008_unfinished_tasks'))) {
        raw.exec(m.sql);
        raw.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)').run(m.id, 0);
      }
      const oldKey = (await KeyStore.of(new SqliteDatabase(raw)).create('k')).key.id;
      // (TaskStore of this release needs the new schema: the rows go in as that release wrote them.)
      const insert = raw.prepare(`INSERT INTO tasks (id, key_id, origin, kind, model, prompt, seconds, width, height, status, progress, stage,
        created_at, completed_at, expires_at, updated_at) VALUES (?, ?, 'openai', 'generate', 'sora-2', 'a fox', 4, 720, 1280, 'completed', 100, 'done', ?, ?, ?, ?)`);
      const swept = { id: newTaskId(1_000) };
      const kept = { id: newTaskId(1_001) };
      insert.run(swept.id, oldKey, 1_000, 2_000, 5_000, 5_000);
      insert.run(kept.id, oldKey, 1_001, 2_001, 5_001, 2_001);
      raw.prepare(`INSERT INTO task_assets (task_id, variant, path, bytes, sha256, content_type) VALUES (?, 'video', ?, 1, ?, 'video/mp4')`).run(kept.id, `${kept.id}/t/video.mp4`, '0'.repeat(64));
      raw.close();

      const upgraded = openDatabase(old);
      const ids = (await TaskStore.of(new SqliteDatabase(upgraded)).expiredBefore(10_000, 100)).map((t) => t.id);
      upgraded.close();
      expect(ids).toEqual([kept.id]);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});
