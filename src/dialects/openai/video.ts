import { z } from 'zod';
import { videoId } from '../../core/ids.js';
import { pageOf, taskError, unix, unixOrNull } from '../../http/schemas.js';
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

/** The Video object, as Zod (the OpenAPI document and the contract tests read it). */
export const videoSchema = z
  .object({
    id: z.string().meta({ examples: ['video_01K9Z3V3D4RZ6M0Y9B7C2X5N8Q'] }),
    object: z.literal('video'),
    created_at: unix,
    completed_at: unixOrNull,
    expires_at: unixOrNull.meta({ description: 'When the files are removed (retention); null until completed.' }),
    status: z.enum(['queued', 'pending', 'in_progress', 'completed', 'failed']).meta({ description: "'pending' instead of 'queued' when the operator chose the apigo status style; a cancelled video reads as failed with error code 'cancelled'." }),
    progress: z.number().int().min(0).max(100),
    model: z.string(),
    prompt: z.string().nullable(),
    seconds: z.string(),
    size: z.string(),
    remixed_from_video_id: z.string().nullable(),
    error: taskError.nullable(),
    aspect_ratio: z.string().optional().meta({ description: 'What was made (models beyond OpenAI\'s own): the aspect ratio.' }),
    resolution: z.string().optional().meta({ description: 'What was made (models beyond OpenAI\'s own): the resolution tier.' }),
    generate_audio: z.boolean().optional().meta({ description: 'What was made (models beyond OpenAI\'s own): whether it has an audio track.' }),
  })
  .meta({ id: 'Video' });

export const videoListSchema = pageOf(videoSchema);
