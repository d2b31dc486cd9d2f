import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseSize } from '../../core/catalog.js';
import { createTask, parseIdempotencyKey, retryCountOf } from '../../core/create.js';
import type { CanonicalCreate } from '../../core/create.js';
import { ApiError, conflict, invalid } from '../../core/errors.js';
import type { Gateway } from '../../core/gateway.js';
import { parseTaskId, videoId } from '../../core/ids.js';
import type { CreateResult } from '../../core/service.js';
import type { Variant } from '../../core/task.js';
import { parseCallbackUrl } from '../../events/targets.js';
import type { TaskView } from '../../store/tasks.js';
import { readBody } from '../../http/body.js';
import { serveVariant, visibleTask, visibleTaskView } from '../../http/tasks.js';
import { requestOf } from '../../core/video-request.js';
import { parseCreateFields, parseModel, parsePrompt } from './validate.js';
import { toVideo, videoListSchema, videoSchema } from './video.js';

const VARIANTS: Variant[] = ['video', 'thumbnail', 'spritesheet'];
const DEFAULT_MODEL = 'sora-2';

/** The OpenAI-style Videos API: /v1/videos … (see spec/openai-videos.md). */
export function openaiRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const style = gw.config.statusStyle;
    const config = { dialect: 'openai' as const };
    // Models beyond OpenAI's own also say what was made (aspect_ratio, resolution, generate_audio).
    const video = (t: TaskView) => {
      const model = gw.catalog.get(t.model);
      return toVideo(t, style, model && model.ownedBy !== 'openai' ? model : undefined);
    };
    const pollAfter = String(gw.config.pollAfterMs);
    const createHeaders = (req: FastifyRequest) => ({
      idempotencyKey: parseIdempotencyKey(req.headers['idempotency-key']),
      retryCount: retryCountOf(req.headers['x-stainless-retry-count']),
    });
    const answerCreate = (reply: FastifyReply, result: CreateResult) => {
      if (result.replayed) reply.header('idempotency-replayed', 'true');
      return video(result.task);
    };
    // Room for a base64 image well over the image limit, so that it gets the precise 400 from the image check.
    const jsonLimit = Math.max(32 * 1024 * 1024, Math.ceil(gw.config.images.maxBytes * 1.4) + 1024 * 1024);

    app.post('/v1/videos', { config, bodyLimit: jsonLimit, schema: { response: { 200: videoSchema } } }, async (req, reply) => {
      const body = await readBody(req, {
        fileFields: ['input_reference', 'last_frame'],
        fileLists: ['reference_images[]', 'reference_images'],
        maxFileBytes: gw.config.images.maxBytes,
      });
      const fields = parseCreateFields(body, gw.catalog, DEFAULT_MODEL);
      const callbackUrl = parseCallbackUrl(body.fields.callback_url, gw.config.net);
      const request: CanonicalCreate = { ...fields, origin: 'openai', params: callbackUrl ? { callbackUrl } : {} };
      return answerCreate(reply, await createTask(gw, req.apiKey, request, createHeaders(req)));
    });

    app.get('/v1/videos', { config, schema: { response: { 200: videoListSchema } } }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const limit = parseLimit(q.limit);
      const order = q.order ?? 'desc';
      if (order !== 'asc' && order !== 'desc') throw invalid('order', `Invalid value for 'order': '${order}'. Supported values are 'asc' and 'desc'.`);
      let after: string | undefined;
      if (q.after) {
        after = parseTaskId(q.after) ?? undefined;
        if (!after) throw invalid('after', `Invalid value for 'after': '${q.after}' is not a video id.`);
      }
      const rows = limit === 0 ? [] : gw.service.store.list(req.apiKey.id, { after, limit, order });
      const page = rows.slice(0, limit);
      const data = page.map(video);
      return {
        object: 'list',
        data,
        first_id: data[0]?.id ?? null,
        last_id: data[data.length - 1]?.id ?? null,
        has_more: rows.length > limit,
      };
    });

    app.get('/v1/videos/:id', { config, schema: { response: { 200: videoSchema } } }, async (req, reply) => {
      const task = visibleTaskView(gw, req, (req.params as { id: string }).id);
      reply.header('openai-poll-after-ms', pollAfter);
      return video(task);
    });

    app.delete('/v1/videos/:id', { config }, async (req) => {
      const task = visibleTask(gw, req, (req.params as { id: string }).id);
      await gw.service.delete(task);
      return { id: videoId(task.id), object: 'video.deleted', deleted: true };
    });

    app.get('/v1/videos/:id/content', { config }, async (req, reply) => {
      const task = visibleTask(gw, req, (req.params as { id: string }).id);
      const variant = (req.query as { variant?: string }).variant ?? 'video';
      if (!VARIANTS.includes(variant as Variant)) {
        throw invalid('variant', `Invalid value for 'variant': '${variant}'. Supported values are 'video', 'thumbnail' and 'spritesheet'.`);
      }
      return serveVariant(gw, req, reply, task, variant as Variant);
    });

    app.post('/v1/videos/:id/remix', { config, schema: { response: { 200: videoSchema } } }, async (req, reply) => {
      const source = visibleTask(gw, req, (req.params as { id: string }).id);
      const body = await readBody(req, { fileFields: [], maxFileBytes: 0 });
      const prompt = parsePrompt(body.fields.prompt);
      const callbackUrl = parseCallbackUrl(body.fields.callback_url, gw.config.net);
      if (source.status !== 'completed') {
        throw conflict(
          `Video ${videoId(source.id)} cannot be remixed: its status is ${toVideo(source, style).status}. Only completed videos can be remixed.`,
          'video_not_completed',
        );
      }
      if (!gw.service.store.getAsset(source.id, 'video')) {
        throw new ApiError({ status: 410, type: 'invalid_request_error', code: 'content_expired', message: `The content of video ${videoId(source.id)} has expired, so it cannot be remixed.` });
      }
      const model = gw.catalog.get(source.model) ?? parseModel(DEFAULT_MODEL, gw.catalog, DEFAULT_MODEL);
      const made = requestOf(source);
      const request: CanonicalCreate = {
        origin: 'openai',
        model,
        prompt,
        seconds: source.seconds,
        size: parseSize(`${source.width}x${source.height}`)!,
        aspectRatio: made.aspectRatio,
        resolution: made.resolution,
        audio: made.audio,
        ...(made.mode !== undefined ? { mode: made.mode } : {}),
        params: callbackUrl ? { callbackUrl } : {},
        reference: null,
        remixOf: source,
      };
      return answerCreate(reply, await createTask(gw, req.apiKey, request, createHeaders(req)));
    });
  };
}

function parseLimit(value: string | undefined): number {
  if (value === undefined || value === '') return 20;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 100) {
    throw invalid('limit', `Invalid value for 'limit': '${value}'. Expected an integer between 0 and 100.`);
  }
  return n;
}
