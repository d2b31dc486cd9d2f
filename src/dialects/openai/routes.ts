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
import { z } from 'zod';
import { optEnum, optText, pathId, queryInt, route } from '../../http/route.js';
import { serveVariant, visibleTask, visibleTaskView } from '../../http/tasks.js';
import { requestOf } from '../../core/video-request.js';
import { parseCreateFields, parseModel, parsePrompt } from './validate.js';
import { openaiCreateBody, openaiRemixBody } from './schema.js';
import { toVideo, videoListSchema, videoSchema } from './video.js';

const VARIANTS = ['video', 'thumbnail', 'spritesheet'] as const satisfies readonly Variant[];
const DEFAULT_MODEL = 'sora-2';

/** The OpenAI-style Videos API: /v1/videos … (see spec/openai-videos.md). */
export function openaiRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const style = gw.config.statusStyle;
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

    const tag = 'Videos (OpenAI dialect)';
    const idParams = z.object({ id: pathId('The video id (video_… or task_…).') });
    const created = { description: 'The video, queued. Poll GET /v1/videos/{id}, or subscribe to its events.', schema: videoSchema, headers: { 'idempotency-replayed': "'true' when an Idempotency-Key replayed an earlier create." } };
    const createHeaderDocs = {
      'Idempotency-Key': 'Makes a retried create return the first one\'s video instead of making (and charging) a second.',
    };

    route(
      app,
      {
        method: 'POST',
        url: '/v1/videos',
        tag,
        summary: 'Create a video',
        description: 'Queues a video job and returns at once; the video is produced in the background. JSON or multipart/form-data (for an input_reference file).',
        auth: 'key',
        dialect: 'openai',
        body: openaiCreateBody(gw.catalog),
        explain: (raw) => void parseCreateFields(raw, gw.catalog, DEFAULT_MODEL),
        bodyTypes: ['json', 'multipart'],
        files: { names: ['input_reference', 'last_frame'], lists: ['reference_images[]', 'reference_images'], maxFileBytes: gw.config.images.maxBytes },
        bodyExamples: CREATE_EXAMPLES,
        headers: createHeaderDocs,
        bodyLimit: jsonLimit,
        responses: { 200: created },
      },
      async (req, reply, { raw }) => {
        const fields = parseCreateFields(raw, gw.catalog, DEFAULT_MODEL);
        const callbackUrl = parseCallbackUrl(raw.fields.callback_url, gw.config.net);
        const request: CanonicalCreate = { ...fields, origin: 'openai', params: callbackUrl ? { callbackUrl } : {} };
        return answerCreate(reply, await createTask(gw, req.apiKey, request, createHeaders(req)));
      },
    );

    route(
      app,
      {
        method: 'GET',
        url: '/v1/videos',
        tag,
        summary: 'List videos',
        description: "The key's videos, newest first by default, a page at a time (after= the last id of the previous page).",
        auth: 'key',
        dialect: 'openai',
        query: z.object({
          limit: queryInt('limit', 0, 100, 20),
          order: optEnum(['asc', 'desc'], 'Sort by creation time (default desc)'),
          after: optText('A video id: the page starts after it.'),
        }),
        responses: { 200: videoListSchema },
      },
      async (req, _reply, { query }) => {
        const { limit } = query;
        const order = query.order ?? 'desc';
        let after: string | undefined;
        if (query.after) {
          after = parseTaskId(query.after) ?? undefined;
          if (!after) throw invalid('after', `Invalid value for 'after': '${query.after}' is not a video id.`);
        }
        const rows = limit === 0 ? [] : await gw.service.store.list(req.apiKey.id, { after, limit, order });
        const page = rows.slice(0, limit);
        const data = page.map(video);
        return {
          object: 'list',
          data,
          first_id: data[0]?.id ?? null,
          last_id: data[data.length - 1]?.id ?? null,
          has_more: rows.length > limit,
        };
      },
    );

    route(
      app,
      {
        method: 'GET',
        url: '/v1/videos/:id',
        tag,
        summary: 'Retrieve a video',
        auth: 'key',
        dialect: 'openai',
        params: idParams,
        responses: { 200: { description: 'The video.', schema: videoSchema, headers: { 'openai-poll-after-ms': 'How long to wait before polling again.' } } },
        fastJson: true,
      },
      async (req, reply, { params }) => {
        const task = await visibleTaskView(gw, req, params.id);
        reply.header('openai-poll-after-ms', pollAfter);
        return video(task);
      },
    );

    route(
      app,
      {
        method: 'DELETE',
        url: '/v1/videos/:id',
        tag,
        summary: 'Delete a video',
        description: 'Cancels it if it is still running (the hold is released) and removes its files.',
        auth: 'key',
        dialect: 'openai',
        params: idParams,
        responses: { 200: z.object({ id: z.string(), object: z.literal('video.deleted'), deleted: z.literal(true) }) },
      },
      async (req, _reply, { params }) => {
        const task = await visibleTask(gw, req, params.id);
        await gw.service.delete(task);
        return { id: videoId(task.id), object: 'video.deleted', deleted: true };
      },
    );

    route(
      app,
      {
        method: 'GET',
        url: '/v1/videos/:id/content',
        tag,
        summary: 'Download the video, its thumbnail or its spritesheet',
        description: 'Streams the file with ETag, conditional GET and byte ranges (or redirects to storage, as the operator configured).',
        auth: 'key',
        dialect: 'openai',
        params: idParams,
        query: z.object({ variant: z.enum(VARIANTS).optional().meta({ description: 'Which file (default video).' }) }),
        headers: { Range: 'A single byte range, e.g. bytes=0-1023.' },
        responses: {
          200: { description: 'The file.', media: ['video/mp4', 'image/webp', 'image/jpeg'] },
          206: { description: 'The requested byte range.', media: ['video/mp4'] },
          302: { description: 'A presigned storage URL (storage.delivery = redirect).' },
          304: { description: 'Not modified (If-None-Match).' },
        },
      },
      async (req, reply, { params, query }) => serveVariant(gw, req, reply, await visibleTask(gw, req, params.id), query.variant ?? 'video'),
    );

    route(
      app,
      {
        method: 'POST',
        url: '/v1/videos/:id/remix',
        tag,
        summary: 'Remix a completed video',
        description: 'A new video from a completed one and a prompt saying what to change; same model, size and length.',
        auth: 'key',
        dialect: 'openai',
        params: idParams,
        body: openaiRemixBody,
        bodyTypes: ['json', 'multipart'],
        headers: createHeaderDocs,
        responses: { 200: created },
      },
      async (req, reply, { params, raw }) => {
        const source = await visibleTask(gw, req, params.id);
        const prompt = parsePrompt(raw.fields.prompt);
        const callbackUrl = parseCallbackUrl(raw.fields.callback_url, gw.config.net);
        if (source.status !== 'completed') {
          throw conflict(
            `Video ${videoId(source.id)} cannot be remixed: its status is ${toVideo(source, style).status}. Only completed videos can be remixed.`,
            'video_not_completed',
          );
        }
        if (!(await gw.service.store.getAsset(source.id, 'video'))) {
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
      },
    );
  };
}

/** Examples of a create body (the first is seed 000's). */
const CREATE_EXAMPLES = {
  seed: { summary: 'Text to video (multipart form, as in the apigo docs)', value: { model: 'sora-2', prompt: '一只可爱的小猫在花园里玩耍', size: '720x1280', seconds: '4' } },
  reference: { summary: 'With a reference image by URL', value: { model: 'sora-2', prompt: 'The scene comes alive, slow dolly in', seconds: '8', size: '1280x720', input_reference: { image_url: 'https://example.com/first-frame.png' } } },
};
