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
import Database from 'better-sqlite3';
import { newTaskId } from '../src/core/ids.js';
import type { Task, TaskStatus } from '../src/core/task.js';
import { CONTENT_TYPES, FILE_NAMES } from '../src/core/task.js';
import type { VideoRequest } from '../src/core/video-request.js';
import { openDatabase } from '../src/store/db.js';
import { KeyStore } from '../src/store/keys.js';
import { SqliteDatabase } from '../src/store/sql.js';
import { TaskStore } from '../src/store/tasks.js';

/** Where a store lives. Only SQLite (a data directory) today; a database URL joins it later. */
export type StoreLocation = { kind: 'sqlite'; dataDir: string };

/** `sqlite:DIR` (or a bare directory). */
export function parseStoreLocation(text: string): StoreLocation {
  const m = /^(?:sqlite:)?(.+)$/.exec(text);
  if (!m || /^[a-z]+:\/\//i.test(text)) throw new Error(`--store: only sqlite:DIR is supported so far (got ${text})`);
  return { kind: 'sqlite', dataDir: m[1]! };
}

/** The environment that points a gateway process at the store. */
export function storeEnv(store: StoreLocation): Record<string, string> {
  return { VIDGATE_DATA_DIR: store.dataDir };
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
  seconds: number;
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

/** Populate the store (created and migrated if needed) with `spec.tasks` tasks and `spec.keys` keys. */
export async function populate(store: StoreLocation, spec: PopulateSpec): Promise<Populated> {
  const started = performance.now();
  const db = openDatabase(store.dataDir);
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
  const check = new Database(`${store.dataDir}/vidgate.db`, { readonly: true });
  const n = (check.prepare('SELECT COUNT(*) FROM tasks').pluck().get() as number);
  const bytes = (check.prepare('SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()').pluck().get() as number);
  check.close();
  if (n < spec.tasks) throw new Error(`populate: ${n} task rows after inserting ${spec.tasks}`);
  return { keys, ids, keyOf, counts, seconds: (performance.now() - started) / 1000, dbBytes: bytes };
}
