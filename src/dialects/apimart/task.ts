import { z } from 'zod';
/**
 * The apimart task object (`GET /v1/tasks/{id}` → `{"code":200,"data":{…}}`, spec §3.1–3.3),
 * rendered from the canonical Task. Keys are emitted in alphabetical order, as in the captured
 * responses; `completed`, `actual_time` appear once the task has finished, `result` only when it
 * completed, `error` only when it failed.
 */
import { taskPublicId } from '../../core/ids.js';
import type { TaskStatus, Variant } from '../../core/task.js';
import type { TaskView } from '../../store/tasks.js';
import type { Sql } from '../../store/sql.js';
import type { SignedLink } from '../../http/signed-urls.js';

export type ApimartStatus = 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';

const STATUS: Record<TaskStatus, ApimartStatus> = {
  queued: 'pending',
  in_progress: 'processing',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

export const apimartStatus = (status: TaskStatus): ApimartStatus => STATUS[status];

/** The `type` of a task failure, from its code: the caller's input was refused, or generation failed. */
export function failureType(code: string): string {
  return /moderation|content_policy|safety|^invalid|unsupported/.test(code) ? 'invalid_request_error' : 'server_error';
}

const sec = (ms: number): number => Math.floor(ms / 1000);
const usd = (micros: number): number => Math.round(micros) / 1_000_000;

/**
 * What the task costs the caller, in USD: the settled charge once completed, 0 once failed or
 * cancelled (the hold was released), and the amount held (the quote) while it runs.
 */
export function costUsd(task: TaskView): number {
  switch (task.status) {
    case 'completed':
      return usd(task.costMicros ?? task.quoteMicros);
    case 'failed':
    case 'cancelled':
      return 0;
    default:
      return usd(task.quoteMicros);
  }
}

export interface RenderContext {
  now: number;
  /** Expected seconds from creation to completion (Estimates.forTask). */
  estimatedSeconds: number;
  /** A signed link to a variant (checked against the stored files only when it is used). */
  link(task: TaskView, variant: Variant): SignedLink;
}

export function toApimartTask(task: TaskView, ctx: RenderContext): Record<string, unknown> {
  const status = apimartStatus(task.status);
  const finished = task.completedAt !== null && (status === 'completed' || status === 'failed' || status === 'cancelled');
  const data: Record<string, unknown> = {};
  if (finished) data.actual_time = Math.max(0, Math.round((task.completedAt! - task.createdAt) / 1000));
  if (finished) data.completed = sec(task.completedAt!);
  data.cost = costUsd(task);
  data.created = sec(task.createdAt);
  if (status === 'failed') {
    const code = task.error?.code ?? 'generation_failed';
    data.error = { code, message: task.error?.message ?? 'The video could not be generated.', type: failureType(code) };
  }
  data.estimated_time = ctx.estimatedSeconds;
  data.id = taskPublicId(task.id);
  data.progress = task.progress;
  if (status === 'completed') {
    // expires_at is when this link stops working: never after the file's retention, so it is in
    // the past once the file has expired (the link then answers 403 url_expired).
    const link = ctx.link(task, 'video');
    data.result = { videos: [{ expires_at: link.expiresAt, url: [link.url] }] };
  }
  data.status = status;
  return data;
}

/** A task in apimart's shape, as Zod (fields absent rather than null, as apimart answers). */
export const apimartTaskSchema = z
  .object({
    actual_time: z.number().int().optional().meta({ description: 'Seconds from creation to the end, once finished.' }),
    completed: z.number().int().optional().meta({ description: 'Unix seconds of the end, once finished.' }),
    cost: z.number().meta({ description: 'USD: the charge once completed, 0 once failed or cancelled, the hold while running.' }),
    created: z.number().int(),
    error: z.object({ code: z.string(), message: z.string(), type: z.string() }).optional(),
    estimated_time: z.number().int().meta({ description: 'Expected seconds from creation to completion.' }),
    id: z.string().meta({ examples: ['task_01K9Z3V3D4RZ6M0Y9B7C2X5N8Q'] }),
    progress: z.number().int().min(0).max(100),
    result: z
      .object({ videos: z.array(z.object({ expires_at: z.number().int(), url: z.array(z.string()) })) })
      .optional()
      .meta({ description: 'Signed download links (no API key needed), once completed.' }),
    status: z.enum(['pending', 'processing', 'completed', 'failed', 'cancelled']),
  })
  .meta({ id: 'ApimartTask' });

/** Used when no task of the model has completed yet (apimart's own estimates are 300–600 s). */
export const DEFAULT_ESTIMATE_SECONDS = 300;
const CACHE_MS = 60_000;

/**
 * `estimated_time`: the expected seconds from creation to completion. A running task with some
 * progress is projected from its own pace; otherwise the average of the model's last 20
 * completed tasks (cached for a minute), else DEFAULT_ESTIMATE_SECONDS.
 */
export class Estimates {
  private readonly cache = new Map<string, { at: number; seconds: number | null }>();

  constructor(private readonly db: Sql) {}

  private async modelAverage(model: string, now: number): Promise<number | null> {
    const hit = this.cache.get(model);
    if (hit && now - hit.at < CACHE_MS) return hit.seconds;
    const row = await this.db.get<{ avg: number | null }>(
      `SELECT AVG(completed_at - created_at) AS avg FROM (
        SELECT created_at, completed_at FROM tasks WHERE model = ? AND status = 'completed' AND completed_at IS NOT NULL
        ORDER BY completed_at DESC LIMIT 20) recent`,
      [model],
    );
    const seconds = row?.avg == null ? null : Math.max(1, Math.ceil(Number(row.avg) / 1000));
    this.cache.set(model, { at: now, seconds });
    return seconds;
  }

  async forTask(task: TaskView, now: number): Promise<number> {
    if (task.status === 'in_progress' && task.progress >= 10 && task.progress < 100) {
      const elapsed = Math.max(0, now - task.createdAt);
      return Math.max(1, Math.ceil((elapsed * 100) / task.progress / 1000));
    }
    return (await this.modelAverage(task.model, now)) ?? DEFAULT_ESTIMATE_SECONDS;
  }
}
