import { taskPublicId, videoId } from '../core/ids.js';
import type { Task } from '../core/task.js';
import type { EventRow } from '../store/tasks.js';

/**
 * Webhook event types. `video.completed` and `video.failed` are OpenAI's; `video.cancelled` and
 * `video.in_progress` (every status or progress change while rendering) are opt-in extras.
 * Each is exactly a task event of the same type in task_events.
 */
export const WEBHOOK_EVENT_TYPES = ['video.completed', 'video.failed', 'video.cancelled', 'video.in_progress'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What an endpoint gets when it does not choose. */
export const DEFAULT_EVENT_TYPES: WebhookEventType[] = ['video.completed', 'video.failed'];

/** A one-off callback_url hears how its task ends. */
export const CALLBACK_EVENT_TYPES: ReadonlySet<string> = new Set(['video.completed', 'video.failed', 'video.cancelled']);

export const isWebhookEventType = (t: string): t is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(t);

/** The id a caller knows the task by: `task_…` for apimart-style tasks, else `video_…`. */
export const publicTaskId = (task: Pick<Task, 'id' | 'origin'>): string =>
  task.origin === 'apimart' ? taskPublicId(task.id) : videoId(task.id);

export interface WebhookEvent {
  id: string;
  object: 'event';
  created_at: number;
  type: string;
  data: { id: string; progress?: number };
}

/**
 * OpenAI's envelope: {id:"evt_…", object:"event", created_at, type, data:{id}}. The receiver
 * GETs the video for details; progress events also carry the progress.
 */
export function buildEvent(eventId: string, event: EventRow, task: Pick<Task, 'id' | 'origin'>): WebhookEvent {
  const data: WebhookEvent['data'] = { id: publicTaskId(task) };
  if (event.type === 'video.in_progress') data.progress = event.progress;
  return { id: eventId, object: 'event', created_at: Math.floor(event.createdAt / 1000), type: event.type, data };
}
