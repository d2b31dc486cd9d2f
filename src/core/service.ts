import { EventEmitter } from 'node:events';
import type { BlobStore } from '../assets/blobs.js';
import type { Database, Tx } from '../store/sql.js';
import { TransactionLost } from '../store/sql.js';
import type { EventRow, TaskStore } from '../store/tasks.js';
import { conflict } from './errors.js';
import type { TaskFailure } from './errors.js';
import { newTaskId } from './ids.js';
import type { Asset, Origin, Task, TaskKind, TaskParams, TaskStatus } from './task.js';
import { TERMINAL } from './task.js';
import type { MediaInput, VideoRequest } from './video-request.js';

export interface CreateInput {
  keyId: string;
  origin: Origin;
  kind: TaskKind;
  model: string;
  prompt: string;
  seconds: number;
  width: number;
  height: number;
  params: TaskParams;
  provider: string;
  /** Quoted price in micro-USD per second (0 = free). */
  priceMicros: number;
  remixedFrom?: string | null;
  /** Reference image already fitted to width x height (PNG). */
  reference?: Buffer;
  /**
   * The canonical request. Its media name files of `media` (e.g. `last_frame.png`), relative to
   * the task's folder; they are stored with the task and the keys prefixed with its id. A first
   * frame is `reference` (stored as `reference.png`).
   */
  request?: VideoRequest;
  media?: { name: string; data: Buffer; contentType: string }[];
  /** Hash of the request body, used to recognise retries. */
  bodyHash?: string;
  idempotencyKey?: string;
}

export interface CreateResult {
  task: Task;
  replayed: boolean;
}

const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000;

/**
 * Runs inside the transaction that records a task event (`tx`), with the task as it is after
 * the change. Throwing rolls the whole change back (an ApiError thrown on 'video.created'
 * refuses the create). On PostgreSQL the event is appended after the hooks, so `event.seq` is 0
 * while they run: a hook that needs it uses whenAppended. Billing and webhook outboxes hang here so that their effects commit
 * exactly when the state change does. It may return a function to run once the transaction
 * has committed (metrics of what it did).
 */
export type EventHook = (tx: Tx, event: EventRow, task: Task) => Promise<void | (() => void)>;

/**
 * Run fn in an event's transaction once the event has its seq (a hook that writes it somewhere):
 * at once when it has (SQLite), else just before COMMIT, after the event is appended (PostgreSQL,
 * where the event is appended last; fn then runs under the event-order lock, so keep it short).
 * By the time the transaction has committed, `event.seq` is set in every case.
 */
export function whenAppended(tx: Tx, event: EventRow, fn: () => Promise<void>): Promise<void> {
  if (event.seq !== 0) return fn();
  tx.beforeCommit(fn);
  return Promise.resolve();
}

/**
 * Runs after the transaction of a task event committed (never for one that rolled back), with
 * the task after the change and its status before (null for a new task): metrics, traces and
 * transition logs hang here. Must not throw.
 */
export type CommittedHook = (event: EventRow, task: Task, from: TaskStatus | null) => void;

/** What a transaction of task events leaves to do once it has committed. */
interface Committed {
  event: EventRow;
  task: Task;
  from: TaskStatus | null;
  after: Array<() => void>;
}

/**
 * Every change of a task's state goes through here, as one transaction that also records the
 * task event. Worker-side changes are compare-and-set on the lease owner, so a worker that lost
 * its lease (or a task that was cancelled meanwhile) changes nothing.
 */
export class TaskService {
  /** Emits 'event' (EventRow) after each committed change, for live streams in this process. */
  readonly events = new EventEmitter();
  private wakeWorker: () => void = () => {};
  private readonly hooks: EventHook[] = [];
  private readonly committedHooks: CommittedHook[] = [];
  private readonly createdHooks: Array<(task: Task) => void> = [];

  constructor(
    private readonly db: Database,
    readonly store: TaskStore,
    private readonly blobs: BlobStore,
    private readonly opts: { retentionMs: number; now: () => number },
  ) {
    this.events.setMaxListeners(0);
  }

  onNewWork(fn: () => void): void {
    this.wakeWorker = fn;
  }

  /** Register a hook that runs in the transaction of every task event (see EventHook). */
  onEvent(hook: EventHook): void {
    this.hooks.push(hook);
  }

  /** Register a hook that runs once each task event has committed (see CommittedHook). */
  onCommitted(hook: CommittedHook): void {
    this.committedHooks.push(hook);
  }

  /** Register a hook that runs after a create committed, in the creating caller's async context (its trace). */
  onCreated(hook: (task: Task) => void): void {
    this.createdHooks.push(hook);
  }

  now(): number {
    return this.opts.now();
  }

  /** The task an idempotency key already produced, or a 409 when the key was used for another body. */
  async findIdempotent(keyId: string, idemKey: string, bodyHash: string, store = this.store): Promise<Task | undefined> {
    const hit = await store.idempotencyGet(keyId, idemKey);
    if (!hit || hit.createdAt < this.now() - IDEMPOTENCY_WINDOW_MS) return undefined;
    if (hit.bodyHash !== bodyHash) {
      throw conflict(
        'This Idempotency-Key was already used with a different request body. Use a new key for a different request.',
        'idempotency_key_reused',
        'Idempotency-Key',
      );
    }
    return store.get(hit.taskId);
  }

  async create(input: CreateInput): Promise<CreateResult> {
    if (input.idempotencyKey && input.bodyHash) {
      const existing = await this.findIdempotent(input.keyId, input.idempotencyKey, input.bodyHash);
      if (existing) return { task: existing, replayed: true };
    }
    const now = this.now();
    const id = newTaskId(now);
    if (input.reference) await this.blobs.writeReference(id, input.reference);
    for (const m of input.media ?? []) await this.blobs.put(`${id}/${m.name}`, m.data, m.contentType);
    const inTask = (m: MediaInput): MediaInput => ({ ...m, blob: `${id}/${m.blob}` });
    const request: VideoRequest | null = input.request
      ? {
          ...input.request,
          ...(input.request.firstFrame ? { firstFrame: inTask(input.request.firstFrame) } : {}),
          ...(input.request.lastFrame ? { lastFrame: inTask(input.request.lastFrame) } : {}),
          references: input.request.references.map(inTask),
        }
      : null;
    const stored = !!input.reference || (input.media?.length ?? 0) > 0;
    const task: Task = {
      id,
      keyId: input.keyId,
      origin: input.origin,
      kind: input.kind,
      model: input.model,
      prompt: input.prompt,
      seconds: input.seconds,
      width: input.width,
      height: input.height,
      status: 'queued',
      progress: 0,
      error: null,
      remixedFrom: input.remixedFrom ?? null,
      hasReference: !!input.reference,
      params: input.params,
      request,
      bodyHash: input.bodyHash ?? null,
      provider: input.provider,
      upstreamId: null,
      priceMicros: input.priceMicros,
      quoteMicros: input.priceMicros * input.seconds,
      costMicros: null,
      actualSeconds: null,
      stage: 'submit',
      providerState: {},
      nextRunAt: now,
      leaseOwner: null,
      leaseUntil: null,
      attempts: 0,
      createdAt: now,
      startedAt: null,
      completedAt: null,
      expiresAt: null,
      deletedAt: null,
      updatedAt: now,
    };
    let result: CreateResult;
    try {
      result = await this.commitGrouped(async (tx, pending) => {
        const store = this.store.in(tx);
        if (input.idempotencyKey && input.bodyHash) {
          // A concurrent request with the same key may have committed since the check above.
          const existing = await this.findIdempotent(input.keyId, input.idempotencyKey, input.bodyHash, store);
          if (existing) return { task: existing, replayed: true };
        }
        await store.insert(task);
        if (input.idempotencyKey && input.bodyHash) {
          const taken = !(await store.idempotencyPut(input.keyId, input.idempotencyKey, input.bodyHash, id, now, now - IDEMPOTENCY_WINDOW_MS));
          // PostgreSQL: another node's request with this key committed while this one ran.
          if (taken) throw new IdempotencyRace();
        }
        await this.appendEvent(tx, pending, task, 'video.created', now, null);
        return { task, replayed: false };
      });
    } catch (err) {
      if (stored) await this.dropFiles(id);
      if (err instanceof IdempotencyRace) {
        const existing = await this.findIdempotent(input.keyId, input.idempotencyKey!, input.bodyHash!);
        if (existing) return { task: existing, replayed: true };
      }
      throw err;
    }
    if (result.replayed) {
      if (stored) await this.dropFiles(id);
    } else {
      this.wakeWorker();
      for (const hook of this.createdHooks) hook(result.task);
    }
    return result;
  }

  /**
   * DELETE: a finished task loses its files; an unfinished one is cancelled first. The row stays
   * (hidden) so usage and billing history remain whole.
   */
  async delete(task: Task): Promise<Task> {
    const now = this.now();
    const updated = await this.commit(async (tx, pending) => {
      const store = this.store.in(tx);
      const current = await store.get(task.id);
      if (!current || current.deletedAt !== null) return undefined;
      let next: Task = { ...current, deletedAt: now, updatedAt: now };
      const cancelling = !TERMINAL.has(current.status);
      if (cancelling) {
        next = {
          ...next,
          status: 'cancelled',
          stage: 'done',
          error: { code: 'cancelled', message: 'The video was deleted before it finished.' },
          completedAt: now,
          nextRunAt: null,
          leaseOwner: null,
          leaseUntil: null,
        };
      }
      // Compare-and-set on what was read: a worker that finished the task meanwhile wins, and
      // this delete reads it again.
      const changed = await store.update(
        task.id,
        {
          deletedAt: now,
          updatedAt: now,
          status: next.status,
          stage: next.stage,
          error: next.error,
          completedAt: next.completedAt,
          nextRunAt: next.nextRunAt,
          leaseOwner: next.leaseOwner,
          leaseUntil: next.leaseUntil,
        },
        cancelling ? { notDone: true } : {},
      );
      if (!changed) throw new Retry();
      if (cancelling) await this.appendEvent(tx, pending, next, 'video.cancelled', now, current.status);
      await store.deleteAssets(task.id, now);
      return next;
    });
    if (!updated) return task;
    await this.dropFiles(task.id);
    return updated;
  }

  /**
   * Cancel an unfinished task, keeping it visible as `cancelled` (its hold is released by the
   * billing hook). Returns the task as it is afterwards and whether this call cancelled it;
   * a task that had already finished is returned unchanged.
   */
  async cancel(task: Task): Promise<{ task: Task; cancelled: boolean }> {
    const now = this.now();
    return this.commit(async (tx, pending) => {
      const store = this.store.in(tx);
      const current = await store.get(task.id);
      if (!current || current.deletedAt !== null || TERMINAL.has(current.status)) return { task: current ?? task, cancelled: false };
      const patch = {
        status: 'cancelled' as const,
        stage: 'done' as const,
        error: { code: 'cancelled', message: 'The task was cancelled before it finished.' },
        completedAt: now,
        nextRunAt: null,
        leaseOwner: null,
        leaseUntil: null,
        updatedAt: now,
      };
      if (!(await store.update(task.id, patch, { notDone: true }))) return { task: (await store.get(task.id)) ?? current, cancelled: false };
      const next: Task = { ...current, ...patch };
      await this.appendEvent(tx, pending, next, 'video.cancelled', now, current.status);
      return { task: next, cancelled: true };
    });
  }

  // ---- worker-side transitions (compare-and-set on the lease) ----

  /** Persist the outcome of a step that keeps the task going. Returns false when the lease was lost. */
  advance(
    task: Task,
    owner: string,
    patch: Pick<Partial<Task>, 'status' | 'progress' | 'stage' | 'upstreamId' | 'providerState' | 'provider' | 'startedAt'> & {
      nextRunAt: number;
    },
  ): Promise<boolean> {
    const now = this.now();
    return this.commit(async (tx, pending) => {
      const changed = await this.store
        .in(tx)
        .update(task.id, { ...patch, leaseOwner: null, leaseUntil: null, updatedAt: now }, { leaseOwner: owner, notDone: true });
      if (!changed) return false;
      const status = patch.status ?? task.status;
      const progress = patch.progress ?? task.progress;
      if (status !== task.status || progress !== task.progress) {
        await this.appendEvent(tx, pending, { ...task, ...patch, status, progress, updatedAt: now }, `video.${status}`, now, task.status);
      }
      return true;
    });
  }

  /**
   * Persist provider state (and the serving provider) while keeping the lease, without an event:
   * a decision that must be durable before the worker acts on it. False when the lease was lost.
   */
  checkpoint(task: Task, owner: string, patch: { provider?: string; providerState: Record<string, unknown> }): Promise<boolean> {
    const now = this.now();
    return this.store.update(task.id, { ...patch, updatedAt: now }, { leaseOwner: owner, notDone: true });
  }

  /** Record the files and mark the task completed. */
  complete(task: Task, owner: string, assets: Omit<Asset, 'taskId'>[], actualSeconds: number | null): Promise<boolean> {
    const now = this.now();
    const expiresAt = this.opts.retentionMs > 0 ? now + this.opts.retentionMs : null;
    return this.commit(async (tx, pending) => {
      const store = this.store.in(tx);
      const changed = await store.update(
        task.id,
        {
          status: 'completed',
          progress: 100,
          stage: 'done',
          completedAt: now,
          expiresAt,
          actualSeconds,
          nextRunAt: null,
          leaseOwner: null,
          leaseUntil: null,
          updatedAt: now,
        },
        { leaseOwner: owner, notDone: true },
      );
      if (!changed) return false;
      for (const a of assets) await store.putAsset({ ...a, taskId: task.id });
      await this.appendEvent(
        tx,
        pending,
        { ...task, status: 'completed', progress: 100, stage: 'done', completedAt: now, expiresAt, actualSeconds, updatedAt: now },
        'video.completed',
        now,
        task.status,
      );
      return true;
    });
  }

  /** Mark the task failed (owner null = regardless of lease, for sweeps), with the provider's last state if given. */
  fail(task: Task, owner: string | null, failure: TaskFailure, providerState?: Record<string, unknown>): Promise<boolean> {
    const now = this.now();
    return this.commit(async (tx, pending) => {
      const changed = await this.store.in(tx).update(
        task.id,
        {
          ...(providerState ? { providerState } : {}),
          status: 'failed',
          stage: 'done',
          error: failure,
          completedAt: now,
          nextRunAt: null,
          leaseOwner: null,
          leaseUntil: null,
          updatedAt: now,
        },
        owner === null ? { notDone: true } : { leaseOwner: owner, notDone: true },
      );
      if (!changed) return false;
      await this.appendEvent(
        tx,
        pending,
        { ...task, ...(providerState ? { providerState } : {}), status: 'failed', stage: 'done', error: failure, completedAt: now, updatedAt: now },
        'video.failed',
        now,
        task.status,
        { error: failure },
      );
      return true;
    });
  }

  /** Remove the files of tasks whose retention has passed; the rows stay with their status. */
  async expireAssets(limit = 100): Promise<number> {
    // Batches of `limit` until none is left (at most ten a turn: the sweep runs every minute).
    let removed = 0;
    for (let batch = 0; batch < 10; batch++) {
      const due = await this.store.expiredBefore(this.now(), limit);
      for (const t of due) {
        const hadFiles = (await this.store.listAssets(t.id)).length > 0;
        await this.db.transaction((tx) => this.store.in(tx).deleteAssets(t.id, this.now()));
        if (!hadFiles) continue;
        await this.dropFiles(t.id);
        removed++;
      }
      if (due.length < limit) break;
    }
    await this.store.idempotencyPurge(this.now() - IDEMPOTENCY_WINDOW_MS);
    return removed;
  }

  /**
   * Remove the files of a task that no longer references them. A storage failure is logged by
   * the blob store and does not fail the caller: the start-up orphan sweep removes what stays.
   */
  private async dropFiles(taskId: string): Promise<void> {
    await this.blobs.removeTask(taskId).catch(() => undefined);
  }

  // ---- events ----

  private async appendEvent(
    tx: Tx,
    pending: Committed[],
    task: Task,
    type: string,
    now: number,
    from: TaskStatus | null,
    data?: Record<string, unknown>,
  ): Promise<void> {
    const event: EventRow = { seq: 0, taskId: task.id, keyId: task.keyId, type, status: task.status, progress: task.progress, data: data ?? null, createdAt: now };
    const append = async () => {
      event.seq = await this.store.in(tx).appendEvent(task, type, now, data);
    };
    // PostgreSQL: the event (and the event-order lock every event writer waits for) comes last,
    // just before COMMIT, so the lock is held for that statement and the commit only; the hooks
    // below see seq 0 and use whenAppended for what needs it. SQLite: at once (the write lock,
    // held for the whole transaction anyway, gives the order).
    if (tx.dialect === 'postgres') tx.beforeCommit(append);
    else await append();
    const after: Array<() => void> = [];
    for (const hook of this.hooks) {
      const then = await hook(tx, event, task);
      if (then) after.push(then);
    }
    pending.push({ event, task, from, after });
  }

  private group: Array<{ fn: Unit<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];

  /**
   * Group commit (SQLite): units submitted in the same turn of the event loop share one
   * transaction (the commit is what costs on a real disk), each in its own savepoint so that a
   * unit that throws (a refused create) rolls back alone. Every caller is answered only after the
   * commit. PostgreSQL commits each unit on its own: its connections work in parallel.
   */
  private commitGrouped<T>(fn: Unit<T>): Promise<T> {
    if (this.db.dialect === 'postgres') return this.commit(fn);
    return new Promise<T>((resolve, reject) => {
      if (this.group.length === 0) setImmediate(() => void this.flushGroup());
      this.group.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private async flushGroup(): Promise<void> {
    const batch = this.group.splice(0, 512);
    if (this.group.length > 0) setImmediate(() => void this.flushGroup());
    let outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>;
    try {
      outcomes = await this.commit(async (tx, pending) => {
        const out: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
        for (const item of batch) {
          const mark = pending.length;
          try {
            out.push({ ok: true, value: await tx.savepoint(() => item.fn(tx, pending)) });
          } catch (error) {
            pending.length = mark;
            // The database rolled the whole transaction back (SQLITE_FULL, IOERR, BUSY, NOMEM):
            // the units before this one are gone too, so the whole batch fails with this error.
            if (error instanceof TransactionLost) throw error.original;
            out.push({ ok: false, error });
          }
        }
        return out;
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.value) : batch[i]!.reject(o.error)));
  }

  /**
   * Run fn as one write transaction; publish its events only once it has committed. A unit that
   * throws Retry (its compare-and-set lost to a concurrent change) runs again, a few times.
   */
  private async commit<T>(fn: Unit<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const pending: Committed[] = [];
      let result: T;
      try {
        result = await this.db.transaction((tx) => fn(tx, pending));
      } catch (err) {
        if (err instanceof Retry && attempt < 5) continue;
        throw err;
      }
      for (const { event, task, from, after } of pending) {
        for (const then of after) then();
        for (const hook of this.committedHooks) hook(event, task, from);
        this.events.emit('event', event);
      }
      return result;
    }
  }
}

/** A unit of work in a task transaction: its events go to `pending`, published after the commit. */
type Unit<T> = (tx: Tx, pending: Committed[]) => Promise<T>;

/** A compare-and-set lost to a change committed meanwhile: read again and retry. */
class Retry extends Error {}

/** Another request with the same idempotency key committed first (PostgreSQL). */
class IdempotencyRace extends Error {}
