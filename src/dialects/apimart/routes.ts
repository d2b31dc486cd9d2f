import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createTask, parseIdempotencyKey, retryCountOf } from '../../core/create.js';
import type { CanonicalCreate } from '../../core/create.js';
import { ApiError, conflict, invalid, notFound } from '../../core/errors.js';
import type { Gateway } from '../../core/gateway.js';
import { parseTaskId, taskPublicId } from '../../core/ids.js';
import type { Variant } from '../../core/task.js';
import { parseCallbackUrl } from '../../events/targets.js';
import { FILES_PREFIX, UrlSigner, publicBase, variantOfFileName } from '../../http/signed-urls.js';
import { serveVariant, visibleTask, visibleTaskView } from '../../http/tasks.js';
import type { TaskView } from '../../store/tasks.js';
import { z } from 'zod';
import { pathId, optEnum, optText, queryInt, route } from '../../http/route.js';
import { FILE_NAMES } from '../../core/task.js';
import { apimartCreateBody } from './schema.js';
import { Estimates, apimartStatus, apimartTaskSchema, toApimartTask } from './task.js';

const FILE_NAME_LIST = Object.values(FILE_NAMES) as [string, ...string[]];
import { parseGeneration } from './validate.js';
import { modelSchemaDocument } from '../model-schema.js';

/** `X-APIMart-Response-Version` value that selects the object form of the submit response. */
export const RESPONSE_VERSION = '2026-07-27';
const LANGUAGES = ['zh', 'en', 'ko', 'ja'] as const;
const VARIANTS = ['video', 'thumbnail', 'spritesheet'] as const satisfies readonly Variant[];

/**
 * The apimart-style task API (seed 002, spec/apimart-apigo.md): POST /v1/videos/generations,
 * GET/DELETE /v1/tasks/{id}, GET /v1/tasks (list), GET /v1/tasks/{id}/content, and the signed
 * result links under /v1/files/ that work without an API key. Task ids are accepted in both
 * spellings (task_… and video_…), so tasks of either dialect are served here.
 */
export function apimartRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const signer = new UrlSigner(gw.secrets.derive('signed-urls'), gw.config.signedUrls.ttlHours * 3600_000);
    const estimates = new Estimates(gw.db);

    const render = async (req: FastifyRequest, task: TaskView) => {
      const now = gw.service.now();
      const base = publicBase(req, gw.config.publicUrl);
      return toApimartTask(task, {
        now,
        estimatedSeconds: await estimates.forTask(task, now),
        link: (t, variant) => signer.link(base, t, variant, now),
      });
    };

    const tag = 'Tasks (apimart dialect)';
    const idParams = z.object({ id: pathId('The task id (task_… or video_…).') });
    const language = z.enum(LANGUAGES).optional().meta({ description: 'Language of messages (accepted for compatibility; answers are in English).' });
    const ok = <T extends z.ZodType>(data: T) => z.object({ code: z.literal(200), data });

    route(
      app,
      {
        method: 'POST',
        url: '/v1/videos/generations',
        tag,
        summary: 'Submit a video generation task',
        description: `Queues a task and returns its id at once. With the header X-APIMart-Response-Version: ${RESPONSE_VERSION} the answer is an object instead of a one-element array.`,
        auth: 'key',
        dialect: 'apimart',
        body: apimartCreateBody,
        explain: (raw) => void parseGeneration(raw.fields, gw.catalog),
        bodyExamples: GENERATION_EXAMPLES,
        headers: { 'Idempotency-Key': "Makes a retried submit return the first one's task.", 'X-APIMart-Response-Version': `${RESPONSE_VERSION} selects the object form of the answer.` },
        responses: {
          200: {
            description: 'The task was queued. Poll GET /v1/tasks/{task_id}.',
            schema: ok(
              z.union([
                z.array(z.object({ status: z.literal('submitted'), task_id: z.string() })),
                z.object({ id: z.string(), object: z.literal('generation.task'), status: z.enum(['pending', 'processing', 'completed', 'failed', 'cancelled']) }),
              ]),
            ),
            example: { code: 200, data: [{ status: 'submitted', task_id: 'task_01K9Z3V3D4RZ6M0Y9B7C2X5N8Q' }] },
          },
        },
      },
      async (req, reply, { raw }) => {
        const body = raw.fields;
        const { aspectName, resolutionName, imageUrl, ...fields } = parseGeneration(body, gw.catalog);
        const callbackUrl = parseCallbackUrl(body.callback_url, gw.config.net);
        const request: CanonicalCreate = {
          ...fields,
          origin: 'apimart',
          params: {
            aspectRatio: aspectName,
            resolution: resolutionName,
            ...(imageUrl ? { imageUrl } : {}),
            ...(callbackUrl ? { callbackUrl } : {}),
          },
        };
        const result = await createTask(gw, req.apiKey, request, {
          idempotencyKey: parseIdempotencyKey(req.headers['idempotency-key']),
          retryCount: retryCountOf(req.headers['x-stainless-retry-count']),
        });
        if (result.replayed) reply.header('idempotency-replayed', 'true');
        const id = taskPublicId(result.task.id);
        if (req.headers['x-apimart-response-version'] === RESPONSE_VERSION) {
          reply.header('x-apimart-response-version', RESPONSE_VERSION);
          return { code: 200, data: { id, object: 'generation.task', status: apimartStatus(result.task.status) } };
        }
        return { code: 200, data: [{ status: 'submitted', task_id: id }] };
      },
    );

    // The JSON Schema of a model's create body in both dialects (apimart's model-schema shape).
    const schemas = new Map<string, ReturnType<typeof modelSchemaDocument>>();
    route(
      app,
      {
        method: 'GET',
        url: '/v1/model-schema',
        tag,
        summary: "A model's create body as JSON Schema",
        description: "The JSON Schema (draft 2020-12) of one model's create body: apimart's at the top (operation, endpoint, input_schema, schema_version, idempotency, response_contract), both dialects under `dialects`. Narrowed to what the model takes (its durations, aspect ratios, resolutions, audio, frames, references, options).",
        auth: 'key',
        dialect: 'apimart',
        query: z.object({
          model: z.string().min(1).max(200).meta({ description: 'A model id or alias (GET /v1/models).' }),
          operation: z.enum(['video_generation']).optional().meta({ description: 'Only video_generation.' }),
        }),
        responses: {
          200: z
            .object({
              model: z.string(),
              aliases: z.array(z.string()),
              operation: z.literal('video_generation'),
              schema_version: z.string(),
              endpoint: z.string(),
              input_schema: z.record(z.string(), z.unknown()),
              idempotency: z.record(z.string(), z.unknown()),
              response_contract: z.record(z.string(), z.unknown()),
              dialects: z.record(z.string(), z.unknown()),
            })
            .meta({ id: 'ModelSchema' }),
        },
      },
      async (_req, _reply, { query }) => {
        const model = gw.catalog.get(query.model);
        if (!model) throw notFound(`model '${query.model}' is not supported. Supported models: ${gw.catalog.list().map((m) => m.id).join(', ')}.`, 'model');
        let doc = schemas.get(model.id);
        if (!doc) schemas.set(model.id, (doc = modelSchemaDocument(model)));
        return doc;
      },
    );

    route(
      app,
      {
        method: 'GET',
        url: '/v1/tasks',
        tag,
        summary: 'List tasks',
        auth: 'key',
        dialect: 'apimart',
        query: z.object({
          language,
          limit: queryInt('limit', 0, 100, 20),
          order: optEnum(['asc', 'desc'], 'Sort by creation time (default desc)'),
          after: optText('A task id: the page starts after it.'),
        }),
        responses: {
          200: z.object({ code: z.literal(200), data: z.array(apimartTaskSchema), first_id: z.string().nullable(), last_id: z.string().nullable(), has_more: z.boolean() }),
        },
      },
      async (req, _reply, { query }) => {
        const { limit } = query;
        const order = query.order ?? 'desc';
        let after: string | undefined;
        if (query.after) {
          after = parseTaskId(query.after) ?? undefined;
          if (!after) throw invalid('after', `after '${query.after}' is not a task id (task_… or video_…).`);
        }
        const rows = limit === 0 ? [] : await gw.service.store.list(req.apiKey.id, { after, limit, order });
        const data = await Promise.all(rows.slice(0, limit).map((t) => render(req, t)));
        return {
          code: 200,
          data,
          first_id: (data[0]?.id as string | undefined) ?? null,
          last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
          has_more: rows.length > limit,
        };
      },
    );

    route(
      app,
      { method: 'GET', url: '/v1/tasks/:id', tag, summary: 'Retrieve a task', auth: 'key', dialect: 'apimart', params: idParams, query: z.object({ language }), responses: { 200: ok(apimartTaskSchema) } },
      async (req, _reply, { params }) => ({ code: 200, data: await render(req, await visibleTaskView(gw, req, params.id)) }),
    );

    // Cancels an unfinished task (its hold is released) and deletes the files of a finished one.
    route(
      app,
      {
        method: 'DELETE',
        url: '/v1/tasks/:id',
        tag,
        summary: 'Delete a task',
        description: 'Cancels an unfinished task (its hold is released) and deletes the files of a finished one.',
        auth: 'key',
        dialect: 'apimart',
        params: idParams,
        responses: { 200: ok(z.object({ deleted: z.literal(true), id: z.string(), object: z.literal('task.deleted'), status: apimartTaskSchema.shape.status })) },
      },
      async (req, _reply, { params }) => {
        const task = await visibleTask(gw, req, params.id);
        const after = await gw.service.delete(task);
        return { code: 200, data: { deleted: true, id: taskPublicId(task.id), object: 'task.deleted', status: apimartStatus(after.status) } };
      },
    );

    route(
      app,
      {
        method: 'POST',
        url: '/v1/tasks/:id/cancel',
        tag,
        summary: 'Cancel a task',
        description: 'Cancels an unfinished task and keeps it readable with status cancelled; a finished one is a 409.',
        auth: 'key',
        dialect: 'apimart',
        params: idParams,
        responses: { 200: ok(apimartTaskSchema) },
      },
      async (req, _reply, { params }) => {
        const task = await visibleTask(gw, req, params.id);
        const result = await gw.service.cancel(task);
        if (!result.cancelled) {
          throw conflict(
            `Task ${taskPublicId(task.id)} cannot be cancelled: its status is already ${apimartStatus(result.task.status)}.`,
            'task_not_cancellable',
            'task_id',
          );
        }
        return { code: 200, data: await render(req, result.task) };
      },
    );

    const fileAnswers = {
      200: { description: 'The file.', media: ['video/mp4', 'image/webp', 'image/jpeg'] },
      206: { description: 'The requested byte range.', media: ['video/mp4'] },
      302: { description: 'A presigned storage URL (storage.delivery = redirect).' },
      304: { description: 'Not modified (If-None-Match).' },
    };
    route(
      app,
      {
        method: 'GET',
        url: '/v1/tasks/:id/content',
        tag,
        summary: "Download a task's video, thumbnail or spritesheet",
        auth: 'key',
        dialect: 'apimart',
        params: idParams,
        query: z.object({ variant: z.enum(VARIANTS).optional().meta({ description: 'Which file (default video).' }) }),
        headers: { Range: 'A single byte range, e.g. bytes=0-1023.' },
        responses: fileAnswers,
      },
      async (req, reply, { params, query }) => serveVariant(gw, req, reply, await visibleTask(gw, req, params.id), query.variant ?? 'video'),
    );

    // Signed links: no API key, the signature is the credential.
    route(
      app,
      {
        method: 'GET',
        url: `${FILES_PREFIX}/:id/:name`,
        tag,
        summary: 'Download a file by its signed link',
        description: 'The links in result.videos[].url: no API key, the signature is the credential. Use them exactly as handed out.',
        auth: 'public',
        dialect: 'apimart',
        params: z.object({ id: pathId('The task id.'), name: z.enum(FILE_NAME_LIST).meta({ description: 'Which file.' }) }),
        query: z.object({
          expires: z.string().max(20).optional().meta({ description: 'Unix seconds when the link expires.' }),
          signature: z.string().max(100).optional().meta({ description: 'The link signature.' }),
        }),
        responses: fileAnswers,
      },
      async (req, reply, { params, query }) => {
        const { id: publicId, name } = params;
        const id = parseTaskId(publicId);
        const variant = variantOfFileName(name);
        if (!id || !variant) throw notFound(`No file at ${FILES_PREFIX}/${publicId}/${name}.`);
        const verdict = signer.check(id, variant, query.expires, query.signature, gw.service.now());
        if (verdict !== 'ok') {
          const message = {
            missing: 'This link needs its expires and signature parameters: use the URL exactly as GET /v1/tasks/{task_id} returned it.',
            invalid: 'This link is not valid: its signature does not match. Use the URL exactly as GET /v1/tasks/{task_id} returned it.',
            expired: 'This link has expired. Call GET /v1/tasks/{task_id} again for a fresh link (while the file is still kept).',
          }[verdict];
          throw new ApiError({
            status: 403,
            type: 'permission_error',
            code: verdict === 'expired' ? 'url_expired' : 'invalid_signature',
            message,
            headers: { 'cache-control': 'no-store' },
          });
        }
        const task = await gw.service.store.get(id);
        if (!task || task.deletedAt !== null) throw notFound(`Task ${taskPublicId(id)} was deleted; its files are gone.`, 'task_id');
        return serveVariant(gw, req, reply, task, variant);
      },
    );
  };
}

/** Examples of a submit body (the first is seed 002's). */
const GENERATION_EXAMPLES = {
  seed: {
    summary: 'Image to video (seed 002)',
    value: { model: 'sora-2-preview', prompt: 'A majestic waterfall cascading down rocky cliffs, creating a beautiful rainbow in the mist', duration: 8, aspect_ratio: 'landscape', image_urls: ['https://example.com/reference-image.jpg'] },
  },
  image: {
    summary: 'Image to video, high resolution',
    value: { model: 'sora-2-pro-preview', prompt: 'The camera slowly pulls back', duration: 8, aspect_ratio: '16:9', resolution: 'high', image_urls: ['https://example.com/first-frame.jpg'] },
  },
};
