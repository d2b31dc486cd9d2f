import type { Statement } from 'better-sqlite3';
import { ExternalWrites } from './db.js';
import type { Db } from './db.js';
import type { Asset, Task, TaskStatus, Variant } from '../core/task.js';
import type { VideoRequest } from '../core/video-request.js';
import { parseStoredRequest, shapeOf, storedRequest } from '../core/video-request.js';
import type { RequestShape } from '../core/video-request.js';

/** Column ↔ property mapping for the tasks table. */
const COLUMNS: Record<keyof Task, string> = {
  id: 'id',
  keyId: 'key_id',
  origin: 'origin',
  kind: 'kind',
  model: 'model',
  prompt: 'prompt',
  seconds: 'seconds',
  width: 'width',
  height: 'height',
  status: 'status',
  progress: 'progress',
  error: 'error_code', // error is stored as two columns, see toRow
  remixedFrom: 'remixed_from',
  hasReference: 'has_reference',
  params: 'params',
  request: 'request',
  bodyHash: 'body_hash',
  provider: 'provider',
  upstreamId: 'upstream_id',
  priceMicros: 'price_micros',
  quoteMicros: 'quote_micros',
  costMicros: 'cost_micros',
  actualSeconds: 'actual_seconds',
  stage: 'stage',
  providerState: 'provider_state',
  nextRunAt: 'next_run_at',
  leaseOwner: 'lease_owner',
  leaseUntil: 'lease_until',
  attempts: 'attempts',
  createdAt: 'created_at',
  startedAt: 'started_at',
  completedAt: 'completed_at',
  expiresAt: 'expires_at',
  deletedAt: 'deleted_at',
  updatedAt: 'updated_at',
};

type Row = Record<string, string | number | null>;

function toRow(patch: Partial<Task>): Row {
  const row: Row = {};
  for (const [key, value] of Object.entries(patch) as [keyof Task, unknown][]) {
    if (value === undefined) continue;
    switch (key) {
      case 'error': {
        const e = value as Task['error'];
        row.error_code = e?.code ?? null;
        row.error_message = e?.message ?? null;
        break;
      }
      case 'params':
      case 'providerState':
        row[COLUMNS[key]] = JSON.stringify(value);
        break;
      case 'request':
        row.request = value === null ? null : storedRequest(value as VideoRequest, patch as Task);
        break;
      case 'hasReference':
        row.has_reference = value ? 1 : 0;
        break;
      default:
        row[COLUMNS[key]] = value as string | number | null;
    }
  }
  return row;
}

export function rowToTask(r: Row): Task {
  const { shape: _shape, ...view } = rowToView(r);
  return {
    ...view,
    kind: r.kind as Task['kind'],
    hasReference: r.has_reference === 1,
    params: JSON.parse(r.params as string) as Task['params'],
    request: parseStoredRequest(r.request as string | null, {
      id: r.id as string, model: r.model as string, prompt: r.prompt as string, seconds: r.seconds as number,
      width: r.width as number, height: r.height as number, hasReference: r.has_reference === 1,
    }),
    bodyHash: r.body_hash as string | null,
    provider: r.provider as string | null,
    upstreamId: r.upstream_id as string | null,
    actualSeconds: r.actual_seconds as number | null,
    stage: r.stage as Task['stage'],
    providerState: JSON.parse(r.provider_state as string) as Record<string, unknown>,
    nextRunAt: r.next_run_at as number | null,
    leaseOwner: r.lease_owner as string | null,
    leaseUntil: r.lease_until as number | null,
    attempts: r.attempts as number,
    deletedAt: r.deleted_at as number | null,
    updatedAt: r.updated_at as number,
  };
}

/** The fields a status read shows (`shape`: what was made, from the stored request). */
export type TaskView = Pick<
  Task,
  | 'id' | 'keyId' | 'origin' | 'model' | 'prompt' | 'seconds' | 'width' | 'height' | 'status' | 'progress' | 'error'
  | 'remixedFrom' | 'priceMicros' | 'quoteMicros' | 'costMicros' | 'createdAt' | 'startedAt' | 'completedAt' | 'expiresAt'
> & { shape?: RequestShape };

const VIEW_COLUMNS = [
  'id', 'key_id', 'origin', 'model', 'prompt', 'seconds', 'width', 'height', 'status', 'progress', 'error_code', 'error_message',
  'remixed_from', 'price_micros', 'quote_micros', 'cost_micros', 'created_at', 'started_at', 'completed_at', 'expires_at', 'request',
];

function rowToView(r: Row): TaskView {
  return {
    id: r.id as string,
    keyId: r.key_id as string,
    origin: r.origin as Task['origin'],
    model: r.model as string,
    prompt: r.prompt as string,
    seconds: r.seconds as number,
    width: r.width as number,
    height: r.height as number,
    status: r.status as TaskStatus,
    progress: r.progress as number,
    error: r.error_code === null ? null : { code: r.error_code as string, message: (r.error_message as string) ?? '' },
    remixedFrom: r.remixed_from as string | null,
    priceMicros: r.price_micros as number,
    quoteMicros: r.quote_micros as number,
    costMicros: r.cost_micros as number | null,
    createdAt: r.created_at as number,
    startedAt: r.started_at as number | null,
    completedAt: r.completed_at as number | null,
    expiresAt: r.expires_at as number | null,
    shape: shapeOf(r.request as string | null, r.width as number, r.height as number),
  };
}

export interface ListOptions {
  after?: string;
  limit: number;
  order: 'asc' | 'desc';
}

export interface EventRow {
  seq: number;
  taskId: string;
  keyId: string;
  type: string;
  status: TaskStatus;
  progress: number;
  data: Record<string, unknown> | null;
  createdAt: number;
}

/**
 * All SQL about tasks, their assets and their events. Methods are synchronous (better-sqlite3);
 * callers compose them inside writeTx() when several must commit together.
 */
export class TaskStore {
  /** Prepared statements for generated SQL (inserts and updates), by their text. */
  private readonly updates = new Map<string, Statement>();
  /**
   * Status views of recently read tasks: polling clients read the same rows again and again.
   * An entry is dropped when this process updates the task, and all are when another process
   * writes to the database (ExternalWrites).
   */
  private readonly views = new Map<string, TaskView>();
  private viewsEpoch = -1;
  private readonly external: ExternalWrites;
  private readonly s;

  constructor(private readonly db: Db) {
    this.external = ExternalWrites.of(db);
    this.s = {
      get: db.prepare('SELECT * FROM tasks WHERE id = ?'),
      getVisible: db.prepare('SELECT * FROM tasks WHERE id = ? AND key_id = ? AND deleted_at IS NULL'),
      getView: db.prepare(`SELECT ${VIEW_COLUMNS.join(', ')} FROM tasks WHERE id = ? AND key_id = ? AND deleted_at IS NULL`),
      listDesc: db.prepare('SELECT * FROM tasks WHERE key_id = ? AND deleted_at IS NULL AND id < ? ORDER BY id DESC LIMIT ?'),
      listAsc: db.prepare('SELECT * FROM tasks WHERE key_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id ASC LIMIT ?'),
      claim: db.prepare(`UPDATE tasks SET lease_owner = @owner, lease_until = @until, attempts = attempts + 1
        WHERE id IN (SELECT id FROM tasks WHERE stage <> 'done' AND next_run_at <= @now
                     AND (lease_until IS NULL OR lease_until < @now) ORDER BY next_run_at LIMIT @limit)
        RETURNING *`),
      renew: db.prepare(`UPDATE tasks SET lease_until = ? WHERE id = ? AND lease_owner = ? AND stage <> 'done'`),
      release: db.prepare(`UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?`),
      leaseOwners: db.prepare(`SELECT DISTINCT lease_owner AS owner FROM tasks WHERE lease_owner IS NOT NULL AND stage <> 'done'`),
      dropLeases: db.prepare(`UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ? AND stage <> 'done'`),
      unfinished: db.prepare(`SELECT t.stage AS stage, COUNT(*) AS n, MIN(t.created_at) AS oldest,
          SUM(CASE WHEN k.test = 0 THEN t.quote_micros ELSE 0 END) AS held
        FROM tasks t JOIN api_keys k ON k.id = t.key_id WHERE t.stage <> 'done' GROUP BY t.stage`),
      overdue: db.prepare(`SELECT next_run_at AS t FROM tasks
        WHERE stage <> 'done' AND next_run_at <= @now AND (lease_until IS NULL OR lease_until < @now) ORDER BY next_run_at LIMIT 1`),
      makeDue: db.prepare(`UPDATE tasks SET next_run_at = @now WHERE id = @id AND stage = 'wait' AND (lease_until IS NULL OR lease_until < @now)`),
      leaseOf: db.prepare(`SELECT stage, lease_until FROM tasks WHERE id = ?`),
      byUpstream: db.prepare(`SELECT id FROM tasks WHERE provider = ? AND upstream_id = ? AND stage = 'wait' LIMIT 1`),
      followsUpstream: db.prepare(`SELECT 1 FROM tasks WHERE provider = ? AND upstream_id = ? AND id <> ? LIMIT 1`),
      // When a task becomes claimable: at next_run_at, or when its lease ends if that is later.
      // Two index walks that stop early: the earliest due task not held past its due time
      // (tasks_due in order; only the few leased rows are skipped), and the earliest lease end of
      // the leased rows (tasks_leased).
      nextDueFree: db.prepare(`SELECT next_run_at FROM tasks INDEXED BY tasks_due
        WHERE stage <> 'done' AND next_run_at IS NOT NULL AND (lease_until IS NULL OR lease_until <= next_run_at)
        ORDER BY next_run_at LIMIT 1`).pluck(),
      nextDueLeased: db.prepare(`SELECT MIN(lease_until) FROM tasks INDEXED BY tasks_leased
        WHERE lease_owner IS NOT NULL AND stage <> 'done' AND lease_until > next_run_at`).pluck(),
      byBody: db.prepare(`SELECT * FROM tasks WHERE key_id = ? AND body_hash = ? AND created_at >= ? ORDER BY id DESC LIMIT 1`),
      expired: db.prepare(`SELECT * FROM tasks WHERE expires_at IS NOT NULL AND files_removed_at IS NULL AND expires_at <= ?
        ORDER BY expires_at LIMIT ?`),
      putAsset: db.prepare(`INSERT OR REPLACE INTO task_assets (task_id, variant, path, bytes, sha256, content_type)
        VALUES (@taskId, @variant, @path, @bytes, @sha256, @contentType)`),
      getAsset: db.prepare('SELECT * FROM task_assets WHERE task_id = ? AND variant = ?'),
      listAssets: db.prepare('SELECT * FROM task_assets WHERE task_id = ?'),
      deleteAssets: db.prepare('DELETE FROM task_assets WHERE task_id = ?'),
      filesRemoved: db.prepare('UPDATE tasks SET files_removed_at = ? WHERE id = ? AND files_removed_at IS NULL'),
      event: db.prepare(`INSERT INTO task_events (task_id, key_id, type, status, progress, data, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      eventsForTask: db.prepare('SELECT * FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      eventsForKey: db.prepare('SELECT * FROM task_events WHERE key_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      idemGet: db.prepare('SELECT * FROM idempotency_keys WHERE key_id = ? AND idem_key = ?'),
      // Called in the create transaction after findIdempotent found no live entry: a row still
      // present is one past its window (not purged yet), which the new request replaces.
      idemPut: db.prepare(`INSERT INTO idempotency_keys (key_id, idem_key, body_hash, task_id, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (key_id, idem_key) DO UPDATE SET body_hash = excluded.body_hash, task_id = excluded.task_id, created_at = excluded.created_at`),
      idemPurge: db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?'),
    };
  }

  insert(task: Task): void {
    const row = toRow(task);
    const cols = Object.keys(row);
    const sql = `INSERT INTO tasks (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`;
    let stmt = this.updates.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.updates.set(sql, stmt);
    }
    stmt.run(row);
  }

  get(id: string): Task | undefined {
    const r = this.s.get.get(id) as Row | undefined;
    return r && rowToTask(r);
  }

  /** A task as its owner sees it: undefined when missing, deleted or someone else's. */
  getVisible(id: string, keyId: string): Task | undefined {
    const r = this.s.getVisible.get(id, keyId) as Row | undefined;
    return r && rowToTask(r);
  }

  /** Only what status reads show (the hot path of polling clients): about half the cost of a full row. */
  getView(id: string, keyId: string): TaskView | undefined {
    const epoch = this.external.epoch();
    if (epoch !== this.viewsEpoch) {
      this.views.clear();
      this.viewsEpoch = epoch;
    }
    const cached = this.views.get(id);
    if (cached) return cached.keyId === keyId ? cached : undefined;
    const r = this.s.getView.get(id, keyId) as Row | undefined;
    if (!r) return undefined;
    const view = rowToView(r);
    if (this.views.size >= 10_000) this.views.clear();
    this.views.set(id, view);
    return view;
  }

  /** One page of a key's tasks; returns limit + 1 rows at most so the caller can tell has_more. */
  list(keyId: string, o: ListOptions): Task[] {
    const stmt = o.order === 'asc' ? this.s.listAsc : this.s.listDesc;
    const cursor = o.after ?? (o.order === 'asc' ? '' : '\uffff');
    return (stmt.all(keyId, cursor, o.limit + 1) as Row[]).map(rowToTask);
  }

  /**
   * Update columns of a task when `where` holds. `where` may pin the lease owner (a worker's
   * compare-and-set) or the stage; returns whether the row changed.
   */
  update(id: string, patch: Partial<Task>, where: { leaseOwner?: string; stage?: Task['stage']; notDone?: boolean } = {}): boolean {
    const row = toRow(patch);
    const cols = Object.keys(row);
    const conds = ['id = @__id'];
    if (where.leaseOwner !== undefined) conds.push('lease_owner = @__owner');
    if (where.stage !== undefined) conds.push('stage = @__stage');
    if (where.notDone) conds.push(`stage <> 'done'`);
    const sql = `UPDATE tasks SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE ${conds.join(' AND ')}`;
    let stmt = this.updates.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.updates.set(sql, stmt);
    }
    this.views.delete(id);
    const params: Row = { ...row, __id: id };
    if (where.leaseOwner !== undefined) params.__owner = where.leaseOwner;
    if (where.stage !== undefined) params.__stage = where.stage;
    return stmt.run(params).changes === 1;
  }

  claimDue(owner: string, now: number, leaseMs: number, limit: number): Task[] {
    return (this.s.claim.all({ owner, now, until: now + leaseMs, limit }) as Row[]).map(rowToTask);
  }

  renewLease(id: string, owner: string, until: number): boolean {
    return this.s.renew.run(until, id, owner).changes === 1;
  }

  releaseLease(id: string, owner: string): void {
    this.s.release.run(id, owner);
  }

  leaseOwners(): string[] {
    return (this.s.leaseOwners.all() as { owner: string }[]).map((r) => r.owner);
  }

  dropLeasesOf(owner: string): number {
    return this.s.dropLeases.run(owner).changes;
  }

  /**
   * Make a task that waits on its upstream job due now (a callback said it changed). `leased`:
   * a step is running on it; `not_waiting`: it is not in the wait stage (or gone).
   */
  makeDue(id: string, now: number): 'due' | 'leased' | 'not_waiting' {
    if (this.s.makeDue.run({ id, now }).changes === 1) return 'due';
    const r = this.s.leaseOf.get(id) as { stage: string; lease_until: number | null } | undefined;
    return r?.stage === 'wait' && r.lease_until !== null && r.lease_until >= now ? 'leased' : 'not_waiting';
  }

  /** The task waiting on this upstream job of this provider (channel). */
  waitingByUpstream(provider: string, upstreamId: string): string | undefined {
    return (this.s.byUpstream.get(provider, upstreamId) as { id: string } | undefined)?.id;
  }

  /** Whether a task other than `exceptTaskId` already has this upstream job of this provider (channel). */
  followsUpstream(provider: string, upstreamId: string, exceptTaskId: string): boolean {
    return this.s.followsUpstream.get(provider, upstreamId, exceptTaskId) !== undefined;
  }

  /** Earliest time any unfinished task becomes claimable, or null when there is none. */
  nextDueAt(): number | null {
    const free = this.s.nextDueFree.get() as number | undefined;
    const leased = this.s.nextDueLeased.get() as number | null;
    if (free === undefined) return leased;
    return leased === null ? free : Math.min(free, leased);
  }

  /**
   * Unfinished tasks by stage with the oldest creation time and the credit they hold, and the
   * earliest due time of a task no worker holds (metrics; one pass over the unfinished rows).
   */
  unfinishedSummary(now: number): { byStage: Array<{ stage: string; count: number; oldestCreatedAt: number | null; heldMicros: number }>; oldestDueAt: number | null } {
    const rows = this.s.unfinished.all() as { stage: string; n: number; oldest: number | null; held: number | null }[];
    return {
      byStage: rows.map((r) => ({ stage: r.stage, count: r.n, oldestCreatedAt: r.oldest, heldMicros: r.held ?? 0 })),
      oldestDueAt: (this.s.overdue.get({ now }) as { t: number } | undefined)?.t ?? null,
    };
  }

  findByBodyHash(keyId: string, bodyHash: string, since: number): Task | undefined {
    const r = this.s.byBody.get(keyId, bodyHash, since) as Row | undefined;
    return r && rowToTask(r);
  }

  /** Tasks past their expiry whose files have not been removed yet, earliest first. */
  expiredBefore(now: number, limit: number): Task[] {
    return (this.s.expired.all(now, limit) as Row[]).map(rowToTask);
  }

  putAsset(a: Asset): void {
    this.s.putAsset.run(a);
  }

  getAsset(taskId: string, variant: Variant): Asset | undefined {
    const r = this.s.getAsset.get(taskId, variant) as Row | undefined;
    return r && rowToAsset(r);
  }

  listAssets(taskId: string): Asset[] {
    return (this.s.listAssets.all(taskId) as Row[]).map(rowToAsset);
  }

  /** Forget a task's files (retention, DELETE); the expiry sweep then no longer reads the task. */
  deleteAssets(taskId: string, now: number): void {
    this.s.deleteAssets.run(taskId);
    this.s.filesRemoved.run(now, taskId);
  }

  appendEvent(task: Pick<Task, 'id' | 'keyId' | 'status' | 'progress'>, type: string, now: number, data?: Record<string, unknown>): number {
    const info = this.s.event.run(task.id, task.keyId, type, task.status, task.progress, data ? JSON.stringify(data) : null, now);
    return Number(info.lastInsertRowid);
  }

  eventsForTask(taskId: string, afterSeq: number, limit = 500): EventRow[] {
    return (this.s.eventsForTask.all(taskId, afterSeq, limit) as Row[]).map(rowToEvent);
  }

  eventsForKey(keyId: string, afterSeq: number, limit = 500): EventRow[] {
    return (this.s.eventsForKey.all(keyId, afterSeq, limit) as Row[]).map(rowToEvent);
  }

  idempotencyGet(keyId: string, idemKey: string): { bodyHash: string; taskId: string; createdAt: number } | undefined {
    const r = this.s.idemGet.get(keyId, idemKey) as Row | undefined;
    return r && { bodyHash: r.body_hash as string, taskId: r.task_id as string, createdAt: r.created_at as number };
  }

  idempotencyPut(keyId: string, idemKey: string, bodyHash: string, taskId: string, now: number): void {
    this.s.idemPut.run(keyId, idemKey, bodyHash, taskId, now);
  }

  idempotencyPurge(before: number): void {
    this.s.idemPurge.run(before);
  }
}

const rowToAsset = (r: Row): Asset => ({
  taskId: r.task_id as string,
  variant: r.variant as Variant,
  path: r.path as string,
  bytes: r.bytes as number,
  sha256: r.sha256 as string,
  contentType: r.content_type as string,
});

export const rowToEvent = (r: Row): EventRow => ({
  seq: r.seq as number,
  taskId: r.task_id as string,
  keyId: r.key_id as string,
  type: r.type as string,
  status: r.status as TaskStatus,
  progress: r.progress as number,
  data: r.data === null ? null : (JSON.parse(r.data as string) as Record<string, unknown>),
  createdAt: r.created_at as number,
});
