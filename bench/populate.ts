/**
 * Fill a store with many tasks quickly, for the scale benchmark (bench/scale.ts).
 *
 * Rows go through the project's own insert code (TaskStore.insert, appendEvent, putAsset, and
 * KeyStore.create for the keys), called in big transactions without a server: the same columns,
 * JSON and ids (core/ids.ts) as tasks created through the API, so a schema change that breaks the
 * store breaks this too. Shapes: several keys; prompts of 60–400 characters; mostly completed
 * tasks (three events each, their three files recorded while within retention), some failed and
 * cancelled, a few unfinished; creation times spread over the past `spreadDays` days.
 */
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { newTaskId } from '../src/core/ids.js';
import type { Task, TaskStatus } from '../src/core/task.js';
import { CONTENT_TYPES, FILE_NAMES } from '../src/core/task.js';
import type { VideoRequest } from '../src/core/video-request.js';
import { openDatabase } from '../src/store/db.js';
import { copyDatabase } from '../src/store/copy.js';
import { KeyStore } from '../src/store/keys.js';
import { openDatabaseUrl } from '../src/store/open.js';
import { SqliteDatabase } from '../src/store/sql.js';
import { TaskStore } from '../src/store/tasks.js';

/**
 * Where a store lives: a SQLite data directory, or a PostgreSQL database (`url`) with a data
 * directory for everything else a gateway keeps on disk (files, the master key).
 */
export type StoreLocation = { kind: 'sqlite'; dataDir: string } | { kind: 'postgres'; url: string; dataDir: string };

/**
 * Where the stores of a run go: `sqlite:DIR` (or a bare directory), or a PostgreSQL server URL
 * (`postgres://127.0.0.1:5432/`) in which each store becomes a database of its own (see pgStore).
 */
export type StoreBase = { kind: 'sqlite'; dataDir: string } | { kind: 'postgres'; server: string; dataDir: string };

/** `sqlite:DIR`, a bare directory, or `postgres://USER@HOST:PORT/` (data directories then go under `dataDir`). */
export function parseStoreLocation(text: string, dataDir: string): StoreBase {
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(`--store: not a valid PostgreSQL URL: ${text}`);
    }
    if (url.pathname.replace(/\//g, '')) throw new Error(`--store: give the server only (postgres://HOST:PORT/), each store gets a database of its own (got ${text})`);
    url.pathname = '/';
    return { kind: 'postgres', server: url.toString(), dataDir };
  }
  const m = /^(?:sqlite:)?(.+)$/.exec(text);
  if (!m || /^[a-z]+:\/\//i.test(text)) throw new Error(`--store: sqlite:DIR or postgres://HOST:PORT/ (got ${text})`);
  return { kind: 'sqlite', dataDir: m[1]! };
}

/** The URL of database `name` on the server of a base URL. */
function databaseUrl(server: string, name: string): string {
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Run statements on the server's `postgres` database (CREATE and DROP DATABASE cannot run inside the one they name). */
async function onServer(server: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl(server, 'postgres'), application_name: 'vidgate-bench' });
  await client.connect();
  try {
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
}

const BENCH_DB = /^vidgate_bench_[a-z0-9_]+$/;

/** A fresh, empty database `name` (dropped first if it exists; only names of bench databases). */
export async function freshPgDatabase(server: string, name: string): Promise<string> {
  if (!BENCH_DB.test(name)) throw new Error(`not a bench database name: ${name}`);
  await onServer(server, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`]);
  return databaseUrl(server, name);
}

export async function dropPgDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = u.pathname.slice(1);
  if (!BENCH_DB.test(name)) throw new Error(`not a bench database name: ${name}`);
  u.pathname = '/';
  await onServer(u.toString(), [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
}

/** The environment that points a gateway process at the store. */
export function storeEnv(store: StoreLocation): Record<string, string> {
  return store.kind === 'sqlite' ? { VIDGATE_DATA_DIR: store.dataDir } : { VIDGATE_DATA_DIR: store.dataDir, VIDGATE_DATABASE_URL: store.url };
}

/** Bytes the store's database takes: the SQLite file and its WAL, or pg_database_size. */
export async function storeBytes(store: StoreLocation): Promise<number> {
  if (store.kind === 'postgres') {
    const client = new pg.Client({ connectionString: store.url, application_name: 'vidgate-bench' });
    await client.connect();
    try {
      const r = await client.query<{ n: string }>('SELECT pg_database_size(current_database())::text AS n');
      return Number(r.rows[0]!.n);
    } finally {
      await client.end();
    }
  }
  let total = 0;
  for (const f of ['vidgate.db', 'vidgate.db-wal']) {
    try {
      total += statSync(path.join(store.dataDir, f)).size;
    } catch {
      // no WAL file
    }
  }
  return total;
}

/** Rows of a query on the store, read-only (plain SQL that both dialects read alike). */
export async function storeQuery<T extends Record<string, unknown>>(store: StoreLocation, text: string): Promise<T[]> {
  const opened = await openDatabaseUrl(store.kind === 'sqlite' ? `sqlite:${path.join(store.dataDir, 'vidgate.db')}` : store.url, { readonly: true });
  try {
    return (await sql.raw<T>(text).execute(opened.db)).rows;
  } finally {
    await opened.close();
  }
}

export interface PopulateSpec {
  tasks: number;
  keys: number;
  /** Share of tasks of each end state; the rest are unfinished. */
  mix: { completed: number; failed: number; cancelled: number };
  /** Tasks are created over this many days before now. */
  spreadDays: number;
  /** Provider of the tasks (`sandbox`, or `channels` for tasks served by a configured channel). */
  provider: string;
  model: string;
  /** When unfinished tasks are due: now, or spread over the next `dueSpreadMs`. */
  dueSpreadMs?: number;
  retentionHours?: number;
  now?: number;
  /** Seed of the pseudo-random shapes (the ids stay real ULIDs). */
  seed?: number;
}

export interface Populated {
  keys: Array<{ id: string; secret: string }>;
  /** Every task id with the index of its key, in creation order. */
  ids: string[];
  keyOf: Uint16Array;
  counts: Record<TaskStatus, number>;
  /** Seconds to fill, copy included. */
  seconds: number;
  /** PostgreSQL: seconds of those spent in `db copy` (copyDatabase) from the SQLite fill. */
  copySeconds?: number;
  dbBytes: number;
}

const WORDS = (
  'a the red fox running through fresh snow at dawn slow motion close up of wide aerial shot over mountain lake with mist ' +
  'cinematic lighting golden hour city street neon rain reflections calico cat playing piano on stage crowd cheering ' +
  'camera pans left to reveal ancient temple jungle waterfall drone footage handheld documentary style warm colours ' +
  'astronaut floating inside space station earth visible through window soft focus bokeh background children laughing ' +
  'ocean waves crashing against cliffs sunset timelapse clouds moving quickly over desert dunes vintage film grain'
).split(' ');

/** A small deterministic PRNG (mulberry32): the same spec gives the same shapes. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SIZES: Array<[number, number, VideoRequest['aspectRatio']]> = [
  [720, 1280, '9:16'],
  [1280, 720, '16:9'],
  [720, 1280, '9:16'],
  [1280, 720, '16:9'],
  [1080, 1920, '9:16'],
];
const BATCH = 20_000;

/**
 * Populate the store with `spec.tasks` tasks and `spec.keys` keys. SQLite: the data directory's
 * database (created and migrated if needed). PostgreSQL: the database must exist and be empty; the
 * rows are written to a temporary SQLite store next to the data directory exactly as for SQLite,
 * then copied with the product's migration path (`vidgate db copy`: copyDatabase, which migrates
 * the target and verifies counts and balances), and the SQLite copy is removed.
 */
export async function populate(store: StoreLocation, spec: PopulateSpec): Promise<Populated> {
  if (store.kind === 'sqlite') return populateSqlite(store.dataDir, spec);
  const started = performance.now();
  const fillDir = `${store.dataDir}.fill`;
  rmSync(fillDir, { recursive: true, force: true });
  try {
    const p = await populateSqlite(fillDir, spec);
    const copyStarted = performance.now();
    const from = await openDatabaseUrl(`sqlite:${path.join(fillDir, 'vidgate.db')}`, { readonly: true });
    try {
      const to = await openDatabaseUrl(store.url);
      try {
        await copyDatabase(from, to);
      } finally {
        await to.close();
      }
    } finally {
      await from.close();
    }
    const copySeconds = (performance.now() - copyStarted) / 1000;
    process.stderr.write(`populate: ${spec.tasks} tasks copied to PostgreSQL in ${copySeconds.toFixed(1)} s\n`);
    return { ...p, seconds: (performance.now() - started) / 1000, copySeconds, dbBytes: await storeBytes(store) };
  } finally {
    rmSync(fillDir, { recursive: true, force: true });
  }
}

async function populateSqlite(dataDir: string, spec: PopulateSpec): Promise<Populated> {
  const started = performance.now();
  const db = openDatabase(dataDir);
  // Bulk load: no fsync per commit, a bigger page cache on this connection only.
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const sdb = new SqliteDatabase(db);
  const keyStore = KeyStore.of(sdb);
  const taskStore = TaskStore.of(sdb);
  const now = spec.now ?? Date.now();
  const rand = rng(spec.seed ?? 13);
  const retentionMs = (spec.retentionHours ?? 168) * 3600_000;
  const keys: { id: string; secret: string }[] = [];
  for (let i = 0; i < spec.keys; i++) {
    const { key, secret } = await keyStore.create(`bench-${i}`, { now: now - spec.spreadDays * 86_400_000 });
    keys.push({ id: key.id, secret });
  }
  const ids: string[] = [];
  const keyOf = new Uint16Array(spec.tasks);
  const counts: Record<TaskStatus, number> = { queued: 0, in_progress: 0, completed: 0, failed: 0, cancelled: 0 };
  const inflight = new Map<string, number>();
  const span = spec.spreadDays * 86_400_000;
  const { completed, failed, cancelled } = spec.mix;

  for (let start = 0; start < spec.tasks; start += BATCH) {
    await sdb.transaction(async (tx) => {
      const tasks = taskStore.in(tx);
      for (let i = start; i < Math.min(spec.tasks, start + BATCH); i++) {
        const createdAt = Math.floor(now - span + (span * i) / spec.tasks);
        const id = newTaskId(createdAt);
        const k = Math.floor(rand() * keys.length);
        const keyId = keys[k]!.id;
        const [width, height, aspectRatio] = SIZES[Math.floor(rand() * SIZES.length)]!;
        const seconds = [4, 8, 12][Math.floor(rand() * 3)]!;
        const words = 10 + Math.floor(rand() * 60);
        let prompt = '';
        for (let w = 0; w < words; w++) prompt += (w ? ' ' : '') + WORDS[Math.floor(rand() * WORDS.length)];
        prompt = prompt[0]!.toUpperCase() + prompt.slice(1) + '.';
        const r = rand();
        const status: TaskStatus = r < completed ? 'completed' : r < completed + failed ? 'failed' : r < completed + failed + cancelled ? 'cancelled' : 'queued';
        const priceMicros = 100_000;
        const startedAt = createdAt + 500 + Math.floor(rand() * 5000);
        const doneAt = startedAt + 20_000 + Math.floor(rand() * 120_000);
        const finished = status !== 'queued';
        const expiresAt = status === 'completed' ? doneAt + retentionMs : null;
        const request: VideoRequest = {
          model: spec.model, prompt, seconds, aspectRatio, resolution: height >= 1080 || width >= 1080 ? '1080p' : '720p', width, height,
          audio: rand() < 0.3, references: [], options: {},
        };
        const task: Task = {
          id, keyId, origin: rand() < 0.8 ? 'openai' : 'apimart', kind: 'generate', model: spec.model, prompt, seconds, width, height,
          status, progress: status === 'completed' ? 100 : 0,
          error: status === 'failed' ? { code: 'moderation_blocked', message: 'The request was blocked by the upstream moderation system.' }
            : status === 'cancelled' ? { code: 'cancelled', message: 'The task was cancelled before it finished.' } : null,
          remixedFrom: null, hasReference: false, params: {}, request, bodyHash: null,
          provider: spec.provider, upstreamId: finished && status !== 'cancelled' ? `video_${id.toLowerCase()}` : null,
          priceMicros, quoteMicros: priceMicros * seconds,
          costMicros: status === 'completed' ? priceMicros * seconds : finished ? 0 : null,
          actualSeconds: status === 'completed' ? seconds : null,
          stage: finished ? 'done' : 'submit', providerState: {},
          nextRunAt: finished ? null : spec.dueSpreadMs ? now + Math.floor(rand() * spec.dueSpreadMs) : now,
          leaseOwner: null, leaseUntil: null, attempts: finished ? 3 : 0,
          createdAt, startedAt: finished && status !== 'cancelled' ? startedAt : null, completedAt: finished ? doneAt : null,
          expiresAt, deletedAt: null, updatedAt: finished ? doneAt : createdAt,
        };
        await tasks.insert(task);
        await tasks.appendEvent({ ...task, status: 'queued', progress: 0 }, 'video.created', createdAt);
        if (finished && status !== 'cancelled') await tasks.appendEvent({ ...task, status: 'in_progress', progress: 0 }, 'video.in_progress', startedAt);
        if (status === 'completed') {
          await tasks.appendEvent(task, 'video.completed', doneAt);
          // Files are recorded only while the task is within retention; past it the expiry sweep has removed them.
          if (expiresAt! <= now) await tasks.deleteAssets(id, expiresAt!);
          else {
            const token = id.slice(-8).toLowerCase();
            for (const variant of ['video', 'thumbnail', 'spritesheet'] as const) {
              await tasks.putAsset({
                taskId: id, variant, path: `${id}/${token}/${FILE_NAMES[variant]}`, bytes: variant === 'video' ? 2_000_000 + Math.floor(rand() * 4_000_000) : 40_000,
                sha256: (id + variant).padEnd(64, '0').slice(0, 64).toLowerCase(), contentType: CONTENT_TYPES[variant],
              });
            }
          }
        } else if (status === 'failed') {
          await tasks.appendEvent(task, 'video.failed', doneAt, { error: task.error });
        } else if (status === 'cancelled') {
          await tasks.appendEvent(task, 'video.cancelled', doneAt);
        } else {
          inflight.set(keyId, (inflight.get(keyId) ?? 0) + 1);
        }
        ids.push(id);
        keyOf[i] = k;
        counts[status]++;
      }
    });
  }
  // The billing hooks keep each key's count of unfinished tasks; set it as they would have.
  await sdb.transaction(async (tx) => {
    for (const [keyId, n] of inflight) await tx.run('UPDATE api_keys SET inflight = ? WHERE id = ?', [n, keyId]);
  });
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const check = new Database(`${dataDir}/vidgate.db`, { readonly: true });
  const n = (check.prepare('SELECT COUNT(*) FROM tasks').pluck().get() as number);
  const bytes = (check.prepare('SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()').pluck().get() as number);
  check.close();
  if (n < spec.tasks) throw new Error(`populate: ${n} task rows after inserting ${spec.tasks}`);
  return { keys, ids, keyOf, counts, seconds: (performance.now() - started) / 1000, dbBytes: bytes };
}
