import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, conflict, notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { parseTaskId } from '../core/ids.js';
import type { Task, Variant } from '../core/task.js';
import type { TaskView } from '../store/tasks.js';
import { sendBlob } from './send-file.js';
import { routeOf } from './types.js';

const EXTENSIONS: Record<Variant, string> = { video: 'mp4', thumbnail: 'webp', spritesheet: 'jpg' };

/** The caller's task named by a public id in either spelling (video_… or task_…), or a 404. */
export async function visibleTask(gw: Gateway, req: FastifyRequest, publicId: string): Promise<Task> {
  const id = parseTaskId(publicId);
  return (id && (await gw.service.store.getVisible(id, req.apiKey.id))) || notFoundFor(req, publicId);
}

/** visibleTask for status reads: only the fields a status shows. */
export async function visibleTaskView(gw: Gateway, req: FastifyRequest, publicId: string): Promise<TaskView> {
  const id = parseTaskId(publicId);
  return (id && (await gw.service.store.getView(id, req.apiKey.id))) || notFoundFor(req, publicId);
}

function notFoundFor(req: FastifyRequest, publicId: string): never {
  const noun = routeOf(req).config?.dialect === 'apimart' ? 'task' : 'video';
  throw notFound(`No ${noun} found with id '${publicId}'.`, `${noun}_id`);
}

/** Stream one variant of a task's result, or explain (4xx) why there is nothing to stream. */
export async function serveVariant(gw: Gateway, req: FastifyRequest, reply: FastifyReply, task: Task, variant: Variant): Promise<FastifyReply> {
  const apimart = routeOf(req).config?.dialect === 'apimart';
  const publicId = apimart ? `task_${task.id}` : `video_${task.id}`;
  const noun = apimart ? 'Task' : 'Video';
  if (task.status === 'queued' || task.status === 'in_progress') {
    const shown = apimart ? (task.status === 'queued' ? 'pending' : 'processing') : task.status;
    throw conflict(
      `${noun} ${publicId} is not ready yet: its status is ${shown} (${task.progress}%). Download its content once the status is completed.`,
      'video_not_ready',
    );
  }
  if (task.status !== 'completed') {
    const reason = task.error ? ` (${task.error.code}: ${task.error.message})` : '';
    throw conflict(`${noun} ${publicId} ${task.status === 'cancelled' ? 'was cancelled' : 'failed'}${reason} and has no content.`, 'video_failed');
  }
  const asset = await gw.service.store.getAsset(task.id, variant);
  const gone = (): ApiError =>
    new ApiError({
      status: 410,
      type: 'invalid_request_error',
      code: 'content_expired',
      message: `The content of ${noun.toLowerCase()} ${publicId} has expired and was removed (retention ${gw.config.retentionHours} h).`,
    });
  if (!asset) throw gone();
  const sent = await sendBlob(req, reply, gw.blobs, gw.config.storage, {
    key: asset.path,
    bytes: asset.bytes,
    sha256: asset.sha256,
    contentType: asset.contentType,
    filename: `${publicId}${variant === 'video' ? '' : `-${variant}`}.${EXTENSIONS[variant]}`,
  });
  if (!sent) throw gone();
  return reply;
}
