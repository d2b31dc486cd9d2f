import type { Database, Sql, Tx } from './sql.js';
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

/** Status views of recently read tasks, shared by a store and its transaction-bound copies. */
class ViewCache {
  readonly views = new Map<string, TaskView>();
  epoch = -1;
  /** Bumped on every drop, so that a read that raced a change does not cache what it read. */
  generation = 0;

  drop(id: string): void {
    this.views.delete(id);
    this.generation++;
  }
}

const isTx = (q: Sql): q is Tx => 'onCommit' in q;

/** A SQLite-only index hint (PostgreSQL plans these from its statistics). */
const indexed = (q: Sql, index: string): string => (q.dialect === 'sqlite' ? `INDEXED BY ${index}` : '');

/**
 * All SQL about tasks, their assets and their events. A store is bound to the database or, with
 * `in(tx)`, to a transaction: callers compose several calls in one transaction that way.
 */
export class TaskStore {
  constructor(
    private readonly q: Sql,
    private readonly db: Database | null = null,
    private readonly cache = new ViewCache(),
  ) {}

  static of(db: Database): TaskStore {
    return new TaskStore(db, db);
  }

  /** This store inside a transaction. */
  in(tx: Tx): TaskStore {
    return new TaskStore(tx, this.db, this.cache);
  }

  async insert(task: Task): Promise<void> {
    const row = toRow(task);
    const cols = Object.keys(row);
    await this.q.run(`INSERT INTO tasks (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`, row);
  }

  async get(id: string): Promise<Task | undefined> {
    const r = await this.q.get<Row>('SELECT * FROM tasks WHERE id = ?', [id]);
    return r && rowToTask(r);
  }

  /** A task as its owner sees it: undefined when missing, deleted or someone else's. */
  async getVisible(id: string, keyId: string): Promise<Task | undefined> {
    const r = await this.q.get<Row>('SELECT * FROM tasks WHERE id = ? AND key_id = ? AND deleted_at IS NULL', [id, keyId]);
    return r && rowToTask(r);
  }

  /**
   * Only what status reads show (the hot path of polling clients): about half the cost of a full
   * row, and served from memory while the row has not changed. An entry is dropped when this
   * process updates the task, and all are when another process or node commits (externalEpoch).
   */
  async getView(id: string, keyId: string): Promise<TaskView | undefined> {
    const cache = this.cache;
    if (this.db) {
      const epoch = this.db.externalEpoch();
      if (epoch !== cache.epoch) {
        cache.views.clear();
        cache.generation++;
        cache.epoch = epoch;
      }
    }
    const cached = cache.views.get(id);
    if (cached) return cached.keyId === keyId ? cached : undefined;
    const generation = cache.generation;
    const r = await this.q.get<Row>(VIEW_SQL, [id, keyId]);
    if (!r) return undefined;
    const view = rowToView(r);
    if (generation === cache.generation && (!this.db || this.db.externalEpoch() === cache.epoch)) {
      if (cache.views.size >= 10_000) cache.views.clear();
      cache.views.set(id, view);
    }
    return view;
  }

  /** One page of a key's tasks; returns limit + 1 rows at most so the caller can tell has_more. */
  async list(keyId: string, o: ListOptions): Promise<Task[]> {
    const text =
      o.order === 'asc'
        ? 'SELECT * FROM tasks WHERE key_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id ASC LIMIT ?'
        : 'SELECT * FROM tasks WHERE key_id = ? AND deleted_at IS NULL AND id < ? ORDER BY id DESC LIMIT ?';
    const cursor = o.after ?? (o.order === 'asc' ? '' : '\uffff');
    return (await this.q.all<Row>(text, [keyId, cursor, o.limit + 1])).map(rowToTask);
  }

  /**
   * Update columns of a task when `where` holds. `where` may pin the lease owner (a worker's
   * compare-and-set) or the stage; returns whether the row changed.
   */
  async update(id: string, patch: Partial<Task>, where: { leaseOwner?: string; stage?: Task['stage']; notDone?: boolean } = {}): Promise<boolean> {
    const row = toRow(patch);
    const cols = Object.keys(row);
    const conds = ['id = @__id'];
    if (where.leaseOwner !== undefined) conds.push('lease_owner = @__owner');
    if (where.stage !== undefined) conds.push('stage = @__stage');
    if (where.notDone) conds.push(`stage <> 'done'`);
    const params: Row = { ...row, __id: id };
    if (where.leaseOwner !== undefined) params.__owner = where.leaseOwner;
    if (where.stage !== undefined) params.__stage = where.stage;
    const cache = this.cache;
    cache.drop(id);
    const changed = (await this.q.run(`UPDATE tasks SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE ${conds.join(' AND ')}`, params)) === 1;
    // A read that ran before the change was visible may have cached the old row meanwhile: drop
    // it again once the change is visible (after the commit, in a transaction).
    if (isTx(this.q)) this.q.onCommit(() => cache.drop(id));
    else cache.drop(id);
    return changed;
  }

  /**
   * Lease up to `limit` due tasks to `owner`. On PostgreSQL the rows are locked and others'
   * locked rows skipped (FOR UPDATE SKIP LOCKED), so nodes claiming at once never wait on each
   * other nor take the same task; on SQLite the write lock serialises claims.
   */
  async claimDue(owner: string, now: number, leaseMs: number, limit: number): Promise<Task[]> {
    const lock = this.q.dialect === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : '';
    const rows = await this.q.all<Row>(
      `UPDATE tasks SET lease_owner = @owner, lease_until = @until, attempts = attempts + 1
        WHERE id IN (SELECT id FROM tasks WHERE stage <> 'done' AND next_run_at <= @now
                     AND (lease_until IS NULL OR lease_until < @now) ORDER BY next_run_at LIMIT @limit ${lock})
        RETURNING *`,
      { owner, now, until: now + leaseMs, limit },
    );
    return rows.map(rowToTask);
  }

  async renewLease(id: string, owner: string, until: number): Promise<boolean> {
    return (await this.q.run(`UPDATE tasks SET lease_until = ? WHERE id = ? AND lease_owner = ? AND stage <> 'done'`, [until, id, owner])) === 1;
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.q.run('UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?', [id, owner]);
  }

  async leaseOwners(): Promise<string[]> {
    const rows = await this.q.all<{ owner: string }>(`SELECT DISTINCT lease_owner AS owner FROM tasks WHERE lease_owner IS NOT NULL AND stage <> 'done'`);
    return rows.map((r) => r.owner);
  }

  async dropLeasesOf(owner: string): Promise<number> {
    return this.q.run(`UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ? AND stage <> 'done'`, [owner]);
  }

  /**
   * Make a task that waits on its upstream job due now (a callback said it changed). `leased`:
   * a step is running on it; `not_waiting`: it is not in the wait stage (or gone).
   */
  async makeDue(id: string, now: number): Promise<'due' | 'leased' | 'not_waiting'> {
    const changed = await this.q.run(
      `UPDATE tasks SET next_run_at = @now WHERE id = @id AND stage = 'wait' AND (lease_until IS NULL OR lease_until < @now)`,
      { id, now },
    );
    if (changed === 1) return 'due';
    const r = await this.q.get<{ stage: string; lease_until: number | null }>('SELECT stage, lease_until FROM tasks WHERE id = ?', [id]);
    return r?.stage === 'wait' && r.lease_until !== null && r.lease_until >= now ? 'leased' : 'not_waiting';
  }

  /** The task waiting on this upstream job of this provider (channel). */
  async waitingByUpstream(provider: string, upstreamId: string): Promise<string | undefined> {
    const r = await this.q.get<{ id: string }>(`SELECT id FROM tasks WHERE provider = ? AND upstream_id = ? AND stage = 'wait' LIMIT 1`, [provider, upstreamId]);
    return r?.id;
  }

  /** Whether a task other than `exceptTaskId` already has this upstream job of this provider (channel). */
  async followsUpstream(provider: string, upstreamId: string, exceptTaskId: string): Promise<boolean> {
    return (await this.q.get('SELECT 1 AS one FROM tasks WHERE provider = ? AND upstream_id = ? AND id <> ? LIMIT 1', [provider, upstreamId, exceptTaskId])) !== undefined;
  }

  /**
   * Earliest time any unfinished task becomes claimable (at next_run_at, or when its lease ends
   * if that is later), or null when there is none. Two index walks that stop early: the earliest
   * due task not held past its due time (tasks_due in order; only the few leased rows are
   * skipped), and the earliest lease end of the leased rows (tasks_leased).
   */
  async nextDueAt(): Promise<number | null> {
    const free = await this.q.get<{ t: number }>(`SELECT next_run_at AS t FROM tasks ${indexed(this.q, 'tasks_due')}
        WHERE stage <> 'done' AND next_run_at IS NOT NULL AND (lease_until IS NULL OR lease_until <= next_run_at)
        ORDER BY next_run_at LIMIT 1`);
    const leased = (await this.q.get<{ t: number | null }>(`SELECT MIN(lease_until) AS t FROM tasks ${indexed(this.q, 'tasks_leased')}
        WHERE lease_owner IS NOT NULL AND stage <> 'done' AND lease_until > next_run_at`))!.t;
    if (free === undefined) return leased;
    return leased === null ? free.t : Math.min(free.t, leased);
  }

  /**
   * Unfinished tasks by stage with the oldest creation time and the credit they hold, and the
   * earliest due time of a task no worker holds (metrics; one pass over the unfinished rows).
   */
  async unfinishedSummary(now: number): Promise<{ byStage: Array<{ stage: string; count: number; oldestCreatedAt: number | null; heldMicros: number }>; oldestDueAt: number | null }> {
    const rows = await this.q.all<{ stage: string; n: number; oldest: number | null; held: number | null }>(
      `SELECT t.stage AS stage, COUNT(*) AS n, MIN(t.created_at) AS oldest,
          SUM(CASE WHEN k.test = 0 THEN t.quote_micros ELSE 0 END) AS held
        FROM tasks t JOIN api_keys k ON k.id = t.key_id WHERE t.stage <> 'done' GROUP BY t.stage`,
    );
    const overdue = await this.q.get<{ t: number }>(
      `SELECT next_run_at AS t FROM tasks
        WHERE stage <> 'done' AND next_run_at <= @now AND (lease_until IS NULL OR lease_until < @now) ORDER BY next_run_at LIMIT 1`,
      { now },
    );
    return {
      byStage: rows.map((r) => ({ stage: r.stage, count: r.n, oldestCreatedAt: r.oldest, heldMicros: r.held ?? 0 })),
      oldestDueAt: overdue?.t ?? null,
    };
  }

  async findByBodyHash(keyId: string, bodyHash: string, since: number): Promise<Task | undefined> {
    const r = await this.q.get<Row>('SELECT * FROM tasks WHERE key_id = ? AND body_hash = ? AND created_at >= ? ORDER BY id DESC LIMIT 1', [keyId, bodyHash, since]);
    return r && rowToTask(r);
  }

  /** Tasks past their expiry whose files have not been removed yet, earliest first. */
  async expiredBefore(now: number, limit: number): Promise<Task[]> {
    const rows = await this.q.all<Row>(
      `SELECT * FROM tasks WHERE expires_at IS NOT NULL AND files_removed_at IS NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?`,
      [now, limit],
    );
    return rows.map(rowToTask);
  }

  async putAsset(a: Asset): Promise<void> {
    await this.q.run(
      `INSERT INTO task_assets (task_id, variant, path, bytes, sha256, content_type)
        VALUES (@taskId, @variant, @path, @bytes, @sha256, @contentType)
        ON CONFLICT (task_id, variant) DO UPDATE SET path = excluded.path, bytes = excluded.bytes, sha256 = excluded.sha256,
          content_type = excluded.content_type`,
      { ...a },
    );
  }

  async getAsset(taskId: string, variant: Variant): Promise<Asset | undefined> {
    const r = await this.q.get<Row>('SELECT * FROM task_assets WHERE task_id = ? AND variant = ?', [taskId, variant]);
    return r && rowToAsset(r);
  }

  async listAssets(taskId: string): Promise<Asset[]> {
    return (await this.q.all<Row>('SELECT * FROM task_assets WHERE task_id = ?', [taskId])).map(rowToAsset);
  }

  /** Forget a task's files (retention, DELETE); the expiry sweep then no longer reads the task. */
  async deleteAssets(taskId: string, now: number): Promise<void> {
    await this.q.run('DELETE FROM task_assets WHERE task_id = ?', [taskId]);
    await this.q.run('UPDATE tasks SET files_removed_at = ? WHERE id = ? AND files_removed_at IS NULL', [now, taskId]);
  }

  /**
   * Append a task event; returns its sequence number. On PostgreSQL the same statement first
   * takes an advisory lock that the transaction holds until it commits: events then commit in
   * the order of their numbers, so a reader that has seen number n has seen every event before
   * it (SQLite's single writer gives the same). Every other writer of events waits for that
   * lock, so on PostgreSQL call this as the last statement of the transaction (TaskService does,
   * from Tx.beforeCommit).
   */
  async appendEvent(task: Pick<Task, 'id' | 'keyId' | 'status' | 'progress'>, type: string, now: number, data?: Record<string, unknown>): Promise<number> {
    const values = [task.id, task.keyId, type, task.status, task.progress, data ? JSON.stringify(data) : null, now];
    const r = await this.q.get<{ seq: number }>(this.q.dialect === 'postgres' ? APPEND_EVENT_PG : APPEND_EVENT, values);
    return Number(r!.seq);
  }

  async eventsForTask(taskId: string, afterSeq: number, limit = 500): Promise<EventRow[]> {
    return (await this.q.all<Row>('SELECT * FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?', [taskId, afterSeq, limit])).map(rowToEvent);
  }

  async eventsForKey(keyId: string, afterSeq: number, limit = 500): Promise<EventRow[]> {
    return (await this.q.all<Row>('SELECT * FROM task_events WHERE key_id = ? AND seq > ? ORDER BY seq LIMIT ?', [keyId, afterSeq, limit])).map(rowToEvent);
  }

  async idempotencyGet(keyId: string, idemKey: string): Promise<{ bodyHash: string; taskId: string; createdAt: number } | undefined> {
    const r = await this.q.get<Row>('SELECT * FROM idempotency_keys WHERE key_id = ? AND idem_key = ?', [keyId, idemKey]);
    return r && { bodyHash: r.body_hash as string, taskId: r.task_id as string, createdAt: r.created_at as number };
  }

  /**
   * Record an idempotency key for a new task (in the create transaction). A row still present
   * but older than `staleBefore` (past its window, not purged yet) is replaced; a live one is
   * not, and false says another request took the key first (on PostgreSQL, one that committed
   * while this transaction ran).
   */
  async idempotencyPut(keyId: string, idemKey: string, bodyHash: string, taskId: string, now: number, staleBefore: number): Promise<boolean> {
    const changed = await this.q.run(
      `INSERT INTO idempotency_keys (key_id, idem_key, body_hash, task_id, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (key_id, idem_key) DO UPDATE SET body_hash = excluded.body_hash, task_id = excluded.task_id, created_at = excluded.created_at
        WHERE idempotency_keys.created_at < ?`,
      [keyId, idemKey, bodyHash, taskId, now, staleBefore],
    );
    return changed === 1;
  }

  async idempotencyPurge(before: number): Promise<void> {
    await this.q.run('DELETE FROM idempotency_keys WHERE created_at < ?', [before]);
  }
}

/** The advisory lock that orders event commits on PostgreSQL (any fixed number). */
const EVENT_ORDER_LOCK = 7_231_180_014;

const APPEND_EVENT = `INSERT INTO task_events (task_id, key_id, type, status, progress, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`;

/**
 * The same on PostgreSQL, with the event-order lock in one round trip: the row (and so its seq)
 * is made from the row of the CTE, which takes the lock first (a CTE with a volatile function
 * runs once, on its own).
 */
const APPEND_EVENT_PG = `WITH l AS (SELECT pg_advisory_xact_lock(${EVENT_ORDER_LOCK}))
  INSERT INTO task_events (task_id, key_id, type, status, progress, data, created_at)
  SELECT ?, ?, ?, ?, ?::int, ?, ?::bigint FROM l RETURNING seq`;

const VIEW_SQL = `SELECT ${VIEW_COLUMNS.join(', ')} FROM tasks WHERE id = ? AND key_id = ? AND deleted_at IS NULL`;

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
