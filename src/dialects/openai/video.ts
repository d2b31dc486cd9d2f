import { videoId } from '../../core/ids.js';
import type { TaskView } from '../../store/tasks.js';
import { shapeOfTask } from '../../core/video-request.js';
import type { ModelSpec } from '../../core/catalog.js';
import { pairOfSize } from '../../core/catalog.js';

export type StatusStyle = 'openai' | 'apigo';

const sec = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** OpenAI has no cancelled state: a cancelled task reads as failed with error code `cancelled`. */
export function openaiStatus(task: Pick<TaskView, 'status'>, style: StatusStyle): string {
  switch (task.status) {
    case 'queued':
      return style === 'apigo' ? 'pending' : 'queued';
    case 'cancelled':
      return 'failed';
    default:
      return task.status;
  }
}

/**
 * The Video object: every field of the contract, null where absent. With the `model` (given for
 * models beyond OpenAI's own; Sora videos keep exactly OpenAI's object) it adds what was made:
 * `aspect_ratio`, `resolution`, `generate_audio`.
 */
export function toVideo(task: TaskView, style: StatusStyle, model?: ModelSpec) {
  const made = model ? shapeOfTask(task) : undefined;
  // `adaptive` was asked; the ratio made is the one of the size.
  const ratio = made?.aspectRatio === 'adaptive' ? (pairOfSize(model!, `${task.width}x${task.height}`)?.aspectRatio ?? 'adaptive') : made?.aspectRatio;
  return {
    id: videoId(task.id),
    object: 'video',
    created_at: sec(task.createdAt)!,
    completed_at: sec(task.completedAt),
    expires_at: task.status === 'completed' ? sec(task.expiresAt) : null,
    status: openaiStatus(task, style),
    progress: task.progress,
    model: task.model,
    prompt: task.prompt,
    seconds: String(task.seconds),
    size: `${task.width}x${task.height}`,
    remixed_from_video_id: task.remixedFrom ? videoId(task.remixedFrom) : null,
    error: task.error ? { code: task.error.code, message: task.error.message } : null,
    ...(made ? { aspect_ratio: ratio, resolution: made.resolution, generate_audio: made.audio } : {}),
  };
}

/** Response schema (also makes serialisation fast). */
export const videoSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    created_at: { type: 'integer' },
    completed_at: { type: ['integer', 'null'] },
    expires_at: { type: ['integer', 'null'] },
    status: { type: 'string' },
    progress: { type: 'integer' },
    model: { type: 'string' },
    prompt: { type: ['string', 'null'] },
    seconds: { type: 'string' },
    size: { type: 'string' },
    remixed_from_video_id: { type: ['string', 'null'] },
    aspect_ratio: { type: 'string' },
    resolution: { type: 'string' },
    generate_audio: { type: 'boolean' },
    error: {
      anyOf: [{ type: 'null' }, { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }],
    },
  },
} as const;

export const videoListSchema = {
  type: 'object',
  properties: {
    object: { type: 'string' },
    data: { type: 'array', items: videoSchema },
    first_id: { type: ['string', 'null'] },
    last_id: { type: ['string', 'null'] },
    has_more: { type: 'boolean' },
  },
} as const;
