import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../src/assets/blobs.js';
import type { CreateInput } from '../src/core/service.js';
import { TaskService } from '../src/core/service.js';
import { openGatewayDatabase } from '../src/store/db.js';
import { KeyStore } from '../src/store/keys.js';
import type { Database } from '../src/store/sql.js';
import type { EventRow } from '../src/store/tasks.js';
import { TaskStore } from '../src/store/tasks.js';
import { postgresMissing, testDatabases } from './helpers/postgres.js';

/**
 * Event order on PostgreSQL, where transactions commit in parallel: a reader that walks the
 * events by seq (SSE streams, the event hub) must never pass over an event that commits late with
 * a smaller seq (docs/database.md, "Event order"). The event-order lock gives that; it is taken
 * by the event's statement, the last before COMMIT, so the hooks of a task event (billing,
 * outbox) run without it.
 */

const skip = await postgresMissing();
if (skip) console.warn(`event-order-postgres.test.ts: PostgreSQL tests skipped: ${skip}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe.skipIf(!!skip)('event order on PostgreSQL', () => {
  const databases = testDatabases();
  let dir: string;
  let db: Database;
  let store: TaskStore;
  let keyId: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vidgate-event-order-'));
    db = await openGatewayDatabase({ dataDir: dir, databaseUrl: await databases.create(), sqlite: { synchronous: 'NORMAL' } });
    store = TaskStore.of(db);
    keyId = (await KeyStore.of(db).create('order')).key.id;
  });
  afterAll(async () => {
    await db?.close();
    await databases.dropAll();
    await rm(dir, { recursive: true, force: true });
  });

  /** What a reader walking by seq from `after` sees now. */
  const readAfter = async (after: number) => (await store.eventsForKey(keyId, after)).map((e) => e.seq);

  it('an event appended while an earlier one is uncommitted waits for that commit, so a reader never skips it', async () => {
    const task = (id: string) => ({ id, keyId, status: 'queued' as const, progress: 0 });
    let seqA = 0;
    let releaseA!: () => void;
    const a = db.transaction(async (tx) => {
      seqA = await store.in(tx).appendEvent(task('task_a'), 'video.created', Date.now());
      await new Promise<void>((r) => (releaseA = r));
    });
    await until(() => seqA > 0, 'the first event');
    let seqB = 0;
    const b = db.transaction(async (tx) => {
      seqB = await store.in(tx).appendEvent(task('task_b'), 'video.created', Date.now());
    });
    // The second writer waits for the first one's commit: nothing is visible meanwhile, so no
    // reader can move its cursor past seqA before event A is there.
    await sleep(300);
    expect(seqB).toBe(0);
    expect(await readAfter(0)).toEqual([]);
    releaseA();
    await Promise.all([a, b]);
    expect(seqB).toBeGreaterThan(seqA);
    expect(await readAfter(0)).toEqual([seqA, seqB]);
  });

  it('a create whose hooks are slow holds up no other create, and its event gets a seq after the ones that committed meanwhile', async () => {
    const service = new TaskService(db, store, {} as BlobStore, { retentionMs: 0, now: () => Date.now() });
    let releaseSlow!: () => void;
    const slowHook = new Promise<void>((r) => (releaseSlow = r));
    const seenByHooks: number[] = [];
    service.onEvent(async (_tx, event, task) => {
      seenByHooks.push(event.seq);
      if (task.prompt === 'slow') await slowHook;
    });
    const committed: EventRow[] = [];
    service.events.on('event', (e: EventRow) => committed.push(e));
    const input = (prompt: string): CreateInput => ({
      keyId, origin: 'openai', kind: 'generate', model: 'sora-2', prompt, seconds: 4, width: 720, height: 1280, params: {}, provider: 'sandbox', priceMicros: 0,
    });
    const start = (await readAfter(0)).at(-1) ?? 0;

    const slow = service.create(input('slow'));
    await until(() => seenByHooks.length === 1, 'the slow create in its hook');
    // Another create commits while the slow one is still in its transaction.
    const fast = await Promise.race([
      service.create(input('fast')),
      sleep(10_000).then(() => Promise.reject(new Error('the second create waited for the first one'))),
    ]);
    const afterFast = await readAfter(start);
    expect(afterFast).toHaveLength(1);
    const fastSeq = afterFast[0]!;

    releaseSlow();
    const slowResult = await slow;
    // The slow create's event is numbered after the fast one: a reader whose cursor is at the
    // fast event still reads it.
    const afterCursor = await store.eventsForKey(keyId, fastSeq);
    expect(afterCursor.map((e) => e.taskId)).toEqual([slowResult.task.id]);
    // Hooks ran before the event had its number; what was published after the commit has it.
    expect(seenByHooks).toEqual([0, 0]);
    expect(committed.map((e) => [e.taskId, e.seq])).toEqual([
      [fast.task.id, fastSeq],
      [slowResult.task.id, afterCursor[0]!.seq],
    ]);
  });
});
