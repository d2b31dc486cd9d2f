import { EventEmitter } from 'node:events';
import type { BlobStore } from '../assets/blobs.js';
import type { Db } from '../store/db.js';
import { writeTx } from '../store/db.js';
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
 * Runs inside the transaction that records a task event, with the task as it is after the
 * change. Throwing rolls the whole change back (an ApiError thrown on 'video.queued' refuses
 * the create). Billing and webhook outboxes hang here so that their effects commit exactly
 * when the state change does.
 */
export type EventHook = (event: EventRow, task: Task) => void;

/**
 * Runs after the transaction of a task event committed (never for one that rolled back), with
 * the task after the change and its status before (null for a new task): metrics, traces and
 * transition logs hang here. Must not throw.
 */
export type CommittedHook = (event: EventRow, task: Task, from: TaskStatus | null) => void;

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
    private readonly db: Db,
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
  findIdempotent(keyId: string, idemKey: string, bodyHash: string): Task | undefined {
    const hit = this.store.idempotencyGet(keyId, idemKey);
    if (!hit || hit.createdAt < this.now() - IDEMPOTENCY_WINDOW_MS) return undefined;
    if (hit.bodyHash !== bodyHash) {
      throw conflict(
        'This Idempotency-Key was already used with a different request body. Use a new key for a different request.',
        'idempotency_key_reused',
        'Idempotency-Key',
      );
    }
    return this.store.get(hit.taskId);
  }

  async create(input: CreateInput): Promise<CreateResult> {
    if (input.idempotencyKey && input.bodyHash) {
      const existing = this.findIdempotent(input.keyId, input.idempotencyKey, input.bodyHash);
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
      result = await this.commitGrouped(() => {
        if (input.idempotencyKey && input.bodyHash) {
          // A concurrent request with the same key may have committed since the check above.
          const existing = this.findIdempotent(input.keyId, input.idempotencyKey, input.bodyHash);
          if (existing) return { task: existing, replayed: true };
        }
        this.store.insert(task);
        if (input.idempotencyKey && input.bodyHash) {
          this.store.idempotencyPut(input.keyId, input.idempotencyKey, input.bodyHash, id, now);
        }
        this.appendEvent(task, 'video.created', now, null);
        return { task, replayed: false };
      });
    } catch (err) {
      if (stored) await this.dropFiles(id);
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
    const updated = this.commit(() => {
      const current = this.store.get(task.id);
      if (!current || current.deletedAt !== null) return undefined;
      let next: Task = { ...current, deletedAt: now, updatedAt: now };
      if (!TERMINAL.has(current.status)) {
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
        this.appendEvent(next, 'video.cancelled', now, current.status);
      }
      this.store.update(task.id, {
        deletedAt: now,
        updatedAt: now,
        status: next.status,
        stage: next.stage,
        error: next.error,
        completedAt: next.completedAt,
        nextRunAt: next.nextRunAt,
        leaseOwner: next.leaseOwner,
        leaseUntil: next.leaseUntil,
      });
      this.store.deleteAssets(task.id, now);
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
  cancel(task: Task): { task: Task; cancelled: boolean } {
    const now = this.now();
    return this.commit(() => {
      const current = this.store.get(task.id);
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
      if (!this.store.update(task.id, patch, { notDone: true })) return { task: this.store.get(task.id) ?? current, cancelled: false };
      const next: Task = { ...current, ...patch };
      this.appendEvent(next, 'video.cancelled', now, current.status);
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
  ): boolean {
    const now = this.now();
    return this.commit(() => {
      const changed = this.store.update(
        task.id,
        { ...patch, leaseOwner: null, leaseUntil: null, updatedAt: now },
        { leaseOwner: owner, notDone: true },
      );
      if (!changed) return false;
      const status = patch.status ?? task.status;
      const progress = patch.progress ?? task.progress;
      if (status !== task.status || progress !== task.progress) {
        this.appendEvent({ ...task, ...patch, status, progress, updatedAt: now }, `video.${status}`, now, task.status);
      }
      return true;
    });
  }

  /**
   * Persist provider state (and the serving provider) while keeping the lease, without an event:
   * a decision that must be durable before the worker acts on it. False when the lease was lost.
   */
  checkpoint(task: Task, owner: string, patch: { provider?: string; providerState: Record<string, unknown> }): boolean {
    const now = this.now();
    return writeTx(this.db, () => this.store.update(task.id, { ...patch, updatedAt: now }, { leaseOwner: owner, notDone: true }));
  }

  /** Record the files and mark the task completed. */
  complete(task: Task, owner: string, assets: Omit<Asset, 'taskId'>[], actualSeconds: number | null): boolean {
    const now = this.now();
    const expiresAt = this.opts.retentionMs > 0 ? now + this.opts.retentionMs : null;
    return this.commit(() => {
      const changed = this.store.update(
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
      for (const a of assets) this.store.putAsset({ ...a, taskId: task.id });
      this.appendEvent(
        { ...task, status: 'completed', progress: 100, stage: 'done', completedAt: now, expiresAt, actualSeconds, updatedAt: now },
        'video.completed',
        now,
        task.status,
      );
      return true;
    });
  }

  /** Mark the task failed (owner null = regardless of lease, for sweeps), with the provider's last state if given. */
  fail(task: Task, owner: string | null, failure: TaskFailure, providerState?: Record<string, unknown>): boolean {
    const now = this.now();
    return this.commit(() => {
      const changed = this.store.update(
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
      this.appendEvent(
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
      const due = this.store.expiredBefore(this.now(), limit);
      for (const t of due) {
        const hadFiles = this.store.listAssets(t.id).length > 0;
        writeTx(this.db, () => this.store.deleteAssets(t.id, this.now()));
        if (!hadFiles) continue;
        await this.dropFiles(t.id);
        removed++;
      }
      if (due.length < limit) break;
    }
    this.store.idempotencyPurge(this.now() - IDEMPOTENCY_WINDOW_MS);
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

  private pending: Array<{ event: EventRow; task: Task; from: TaskStatus | null }> = [];

  private appendEvent(task: Task, type: string, now: number, from: TaskStatus | null, data?: Record<string, unknown>): void {
    const seq = this.store.appendEvent(task, type, now, data);
    const event: EventRow = { seq, taskId: task.id, keyId: task.keyId, type, status: task.status, progress: task.progress, data: data ?? null, createdAt: now };
    for (const hook of this.hooks) hook(event, task);
    this.pending.push({ event, task, from });
  }

  private group: Array<{ fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];

  /**
   * Group commit: units submitted in the same turn of the event loop share one transaction (the
   * commit is what costs on a real disk), each in its own savepoint so that a unit that throws
   * (a refused create) rolls back alone. Every caller is answered only after the commit.
   */
  private commitGrouped<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.group.length === 0) setImmediate(() => this.flushGroup());
      this.group.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private flushGroup(): void {
    const batch = this.group.splice(0, 512);
    if (this.group.length > 0) setImmediate(() => this.flushGroup());
    const unit = this.db.transaction((fn: () => unknown) => fn()); // nested: runs in a SAVEPOINT
    let outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>;
    try {
      outcomes = this.commit(() =>
        batch.map((item) => {
          const mark = this.pending.length;
          try {
            return { ok: true as const, value: unit(item.fn) };
          } catch (error) {
            this.pending.length = mark;
            // SQLite rolled the whole transaction back (it may on SQLITE_FULL, IOERR, BUSY, NOMEM):
            // the units before this one are gone too, so the whole batch fails with this error.
            if (!this.db.inTransaction) throw error;
            return { ok: false as const, error };
          }
        }),
      );
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.value) : batch[i]!.reject(o.error)));
  }

  /** Run fn as one write transaction; publish its events only once it has committed. */
  private commit<T>(fn: () => T): T {
    let result: T;
    try {
      result = writeTx(this.db, fn);
    } catch (err) {
      this.pending = [];
      throw err;
    }
    const batch = this.pending;
    this.pending = [];
    for (const { event, task, from } of batch) {
      for (const hook of this.committedHooks) hook(event, task, from);
      this.events.emit('event', event);
    }
    return result;
  }
}
