import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
import { Estimates, apimartStatus, toApimartTask } from './task.js';
import { parseGeneration } from './validate.js';
import { modelSchemaDocument } from '../model-schema.js';

/** `X-APIMart-Response-Version` value that selects the object form of the submit response. */
export const RESPONSE_VERSION = '2026-07-27';
const LANGUAGES = new Set(['zh', 'en', 'ko', 'ja']);
const VARIANTS: Variant[] = ['video', 'thumbnail', 'spritesheet'];

/**
 * The apimart-style task API (seed 002, spec/apimart-apigo.md): POST /v1/videos/generations,
 * GET/DELETE /v1/tasks/{id}, GET /v1/tasks (list), GET /v1/tasks/{id}/content, and the signed
 * result links under /v1/files/ that work without an API key. Task ids are accepted in both
 * spellings (task_… and video_…), so tasks of either dialect are served here.
 */
export function apimartRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const config = { dialect: 'apimart' as const };
    const signer = new UrlSigner(gw.secrets.derive('signed-urls'), gw.config.signedUrls.ttlHours * 3600_000);
    const estimates = new Estimates(gw.db);

    const render = (req: FastifyRequest, task: TaskView) => {
      const now = gw.service.now();
      const base = publicBase(req, gw.config.publicUrl);
      return toApimartTask(task, {
        now,
        estimate: (t) => estimates.forTask(t, now),
        link: (t, variant) => signer.link(base, t, variant, now),
      });
    };

    app.post('/v1/videos/generations', { config }, async (req, reply) => {
      if (req.isMultipart()) {
        throw new ApiError({
          status: 415,
          type: 'invalid_request_error',
          code: 'unsupported_media_type',
          message: 'POST /v1/videos/generations takes a JSON body: send Content-Type: application/json. Reference images are passed as URLs in image_urls.',
        });
      }
      const body = req.body;
      if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
        throw invalid(null, 'The request body must be a JSON object.', 'invalid_json');
      }
      const { aspectName, resolutionName, imageUrl, ...fields } = parseGeneration((body ?? {}) as Record<string, unknown>, gw.catalog);
      const callbackUrl = parseCallbackUrl((body as Record<string, unknown> | undefined)?.callback_url, gw.config.net);
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
    });

    // The JSON Schema of a model's create body in both dialects (apimart's model-schema shape).
    const schemas = new Map<string, ReturnType<typeof modelSchemaDocument>>();
    app.get('/v1/model-schema', { config }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      if (!q.model) throw invalid('model', 'model is required: the id of a video model (GET /v1/models lists them).', 'missing_required_parameter');
      if (q.operation !== undefined && q.operation !== 'video_generation') {
        throw invalid('operation', `operation '${q.operation}' is not supported. Allowed values: video_generation.`);
      }
      const model = gw.catalog.get(q.model);
      if (!model) throw notFound(`model '${q.model}' is not supported. Supported models: ${gw.catalog.list().map((m) => m.id).join(', ')}.`, 'model');
      let doc = schemas.get(model.id);
      if (!doc) schemas.set(model.id, (doc = modelSchemaDocument(model)));
      return doc;
    });

    app.get('/v1/tasks', { config }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      checkLanguage(q.language);
      const limit = parseLimit(q.limit);
      const order = q.order ?? 'desc';
      if (order !== 'asc' && order !== 'desc') throw invalid('order', `order '${order}' is not supported. Allowed values: asc or desc.`);
      let after: string | undefined;
      if (q.after) {
        after = parseTaskId(q.after) ?? undefined;
        if (!after) throw invalid('after', `after '${q.after}' is not a task id (task_… or video_…).`);
      }
      const rows = limit === 0 ? [] : gw.service.store.list(req.apiKey.id, { after, limit, order });
      const data = rows.slice(0, limit).map((t) => render(req, t));
      return {
        code: 200,
        data,
        first_id: (data[0]?.id as string | undefined) ?? null,
        last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
        has_more: rows.length > limit,
      };
    });

    app.get('/v1/tasks/:id', { config }, async (req) => {
      checkLanguage((req.query as { language?: string }).language);
      const task = visibleTaskView(gw, req, (req.params as { id: string }).id);
      return { code: 200, data: render(req, task) };
    });

    // Cancels an unfinished task (its hold is released) and deletes the files of a finished one.
    app.delete('/v1/tasks/:id', { config }, async (req) => {
      const task = visibleTask(gw, req, (req.params as { id: string }).id);
      const after = await gw.service.delete(task);
      return { code: 200, data: { deleted: true, id: taskPublicId(task.id), object: 'task.deleted', status: apimartStatus(after.status) } };
    });

    // Cancels an unfinished task and keeps it readable with status `cancelled`.
    app.post('/v1/tasks/:id/cancel', { config }, async (req) => {
      const task = visibleTask(gw, req, (req.params as { id: string }).id);
      const result = gw.service.cancel(task);
      if (!result.cancelled) {
        throw conflict(
          `Task ${taskPublicId(task.id)} cannot be cancelled: its status is already ${apimartStatus(result.task.status)}.`,
          'task_not_cancellable',
          'task_id',
        );
      }
      return { code: 200, data: render(req, result.task) };
    });

    app.get('/v1/tasks/:id/content', { config }, async (req, reply) => {
      const task = visibleTask(gw, req, (req.params as { id: string }).id);
      const variant = (req.query as { variant?: string }).variant ?? 'video';
      if (!VARIANTS.includes(variant as Variant)) {
        throw invalid('variant', `variant '${variant}' is not supported. Allowed values: video, thumbnail or spritesheet.`);
      }
      return serveVariant(gw, req, reply, task, variant as Variant);
    });

    // Signed links: no API key, the signature is the credential.
    app.get(`${FILES_PREFIX}/:id/:name`, { config: { dialect: 'apimart', public: true } }, async (req, reply: FastifyReply) => {
      const { id: publicId, name } = req.params as { id: string; name: string };
      const q = req.query as Record<string, unknown>;
      const id = parseTaskId(publicId);
      const variant = variantOfFileName(name);
      if (!id || !variant) throw notFound(`No file at ${FILES_PREFIX}/${publicId}/${name}.`);
      const verdict = signer.check(id, variant, q.expires, q.signature, gw.service.now());
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
      const task = gw.service.store.get(id);
      if (!task || task.deletedAt !== null) throw notFound(`Task ${taskPublicId(id)} was deleted; its files are gone.`, 'task_id');
      return serveVariant(gw, req, reply, task, variant);
    });
  };
}

function checkLanguage(value: string | undefined): void {
  if (value !== undefined && !LANGUAGES.has(value)) {
    throw invalid('language', `language '${value}' is not supported. Allowed values: zh, en, ko or ja.`);
  }
}

function parseLimit(value: string | undefined): number {
  if (value === undefined || value === '') return 20;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 100) throw invalid('limit', `limit '${value}' is not valid: use an integer from 0 to 100.`);
  return n;
}
