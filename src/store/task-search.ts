import type { Task, TaskStatus } from '../core/task.js';
import type { Sql } from './sql.js';
import { rowToTask } from './tasks.js';

/** Filters of a task search; every one is optional except the page size. */
export interface TaskFilter {
  /** Only this key's tasks. */
  keyId?: string;
  /** One task by internal id. */
  id?: string;
  status?: TaskStatus;
  model?: string;
  /** The provider (sandbox or an upstream channel id). */
  provider?: string;
  /** Prompt contains this text (case-insensitive for ASCII). */
  promptContains?: string;
  /** Include tasks their owner deleted (operators see them; owners never do). */
  includeDeleted?: boolean;
  /** Page cursor: tasks with a smaller id (the list is newest first). */
  before?: string;
  limit: number;
}

const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Newest-first task search with a cursor, for the console's gallery and the operator's task list.
 * Returns limit + 1 rows at most so the caller can tell has_more. The key filter uses the
 * (key_id, id) index; the others scan newest first and stop at the page size.
 */
export class TaskSearch {
  constructor(private readonly db: Sql) {}

  async find(f: TaskFilter): Promise<Task[]> {
    const conds = ['id < @before'];
    if (f.keyId !== undefined) conds.push('key_id = @keyId');
    if (f.id !== undefined) conds.push('id = @id');
    if (f.status !== undefined) conds.push('status = @status');
    if (f.model !== undefined) conds.push('model = @model');
    if (f.provider !== undefined) conds.push('provider = @provider');
    // SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE does the same.
    if (f.promptContains !== undefined) conds.push(`prompt ${this.db.dialect === 'postgres' ? 'ILIKE' : 'LIKE'} @prompt ESCAPE '\\'`);
    if (!f.includeDeleted) conds.push('deleted_at IS NULL');
    const sql = `SELECT * FROM tasks WHERE ${conds.join(' AND ')} ORDER BY id DESC LIMIT @limit`;
    const params: Record<string, string | number> = { before: f.before ?? '\uffff', limit: f.limit + 1 };
    if (f.keyId !== undefined) params.keyId = f.keyId;
    if (f.id !== undefined) params.id = f.id;
    if (f.status !== undefined) params.status = f.status;
    if (f.model !== undefined) params.model = f.model;
    if (f.provider !== undefined) params.provider = f.provider;
    if (f.promptContains !== undefined) params.prompt = `%${escapeLike(f.promptContains)}%`;
    return (await this.db.all<Record<string, string | number | null>>(sql, params)).map(rowToTask);
  }
}
