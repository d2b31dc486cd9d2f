import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { entrySchema, entryView } from '../billing/accounts.js';
import { optEnum, optText, pathId, queryInt, route } from '../http/route.js';
import { pageOf, taskError } from '../http/schemas.js';
import { microsToUsd } from '../billing/money.js';
import { ApiError, notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { parseTaskId, taskPublicId, videoId } from '../core/ids.js';
import type { Task } from '../core/task.js';
import { linksOf, linksSchema, parseCursor, STATUSES } from '../console/routes.js';
import { SpriteLayouts } from '../console/sprite.js';
import { costUsd } from '../dialects/apimart/task.js';
import type { Events } from '../events/index.js';
import { deliverySchema, deliveryView } from '../events/routes.js';
import { UrlSigner } from '../http/signed-urls.js';
import type { EventRow } from '../store/tasks.js';
import { TaskSearch } from '../store/task-search.js';

const sec = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** A task as operators see it: everything its owner sees plus key, provider, stage and money. */
function adminTaskView(t: Task, keyName: string | null) {
  return {
    id: videoId(t.id),
    object: 'admin.task',
    task_id: taskPublicId(t.id),
    key_id: t.keyId,
    key_name: keyName,
    origin: t.origin,
    kind: t.kind,
    model: t.model,
    prompt: t.prompt,
    seconds: String(t.seconds),
    size: `${t.width}x${t.height}`,
    status: t.status,
    progress: t.progress,
    stage: t.stage,
    error: t.error ? { code: t.error.code, message: t.error.message } : null,
    channel: t.provider,
    upstream_id: t.upstreamId,
    attempts: t.attempts,
    price_per_second_usd: microsToUsd(t.priceMicros),
    quote_usd: microsToUsd(t.quoteMicros),
    cost_usd: costUsd(t),
    actual_seconds: t.actualSeconds,
    remixed_from_video_id: t.remixedFrom ? videoId(t.remixedFrom) : null,
    has_reference: t.hasReference,
    callback_url: t.params.callbackUrl ?? null,
    created_at: sec(t.createdAt)!,
    started_at: sec(t.startedAt),
    completed_at: sec(t.completedAt),
    expires_at: sec(t.expiresAt),
    deleted_at: sec(t.deletedAt),
  };
}

const adminTaskSchema = z
  .object({
    id: z.string(),
    object: z.literal('admin.task'),
    task_id: z.string(),
    key_id: z.string(),
    key_name: z.string().nullable(),
    origin: z.string(),
    kind: z.string(),
    model: z.string(),
    prompt: z.string().nullable(),
    seconds: z.string(),
    size: z.string(),
    status: z.enum(['queued', 'in_progress', 'completed', 'failed', 'cancelled']),
    progress: z.number().int(),
    stage: z.string(),
    error: taskError.nullable(),
    channel: z.string().nullable(),
    upstream_id: z.string().nullable(),
    attempts: z.number().int(),
    price_per_second_usd: z.number(),
    quote_usd: z.number(),
    cost_usd: z.number(),
    actual_seconds: z.number().nullable(),
    remixed_from_video_id: z.string().nullable(),
    has_reference: z.boolean(),
    callback_url: z.string().nullable(),
    created_at: z.number().int(),
    started_at: z.number().int().nullable(),
    completed_at: z.number().int().nullable(),
    expires_at: z.number().int().nullable(),
    deleted_at: z.number().int().nullable(),
  })
  .meta({ id: 'AdminTask' });

const eventSchema = z.object({ seq: z.number().int(), type: z.string(), status: z.string(), progress: z.number().int(), data: z.unknown(), created_at: z.number().int() });

const eventView = (e: EventRow) => ({
  seq: e.seq,
  type: e.type,
  status: e.status,
  progress: e.progress,
  data: e.data,
  created_at: sec(e.createdAt)!,
});

/**
 * All tasks for operators (admin token): GET /admin/v1/tasks with filters (id, key, status,
 * model, channel, prompt text) and a newest-first cursor, and GET /admin/v1/tasks/{id} with the
 * task's events, ledger entries, webhook deliveries and (when finished) signed links to its files.
 */
export function adminTaskRoutes(gw: Gateway, events: Events) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const search = new TaskSearch(gw.db);
    const signer = new UrlSigner(gw.secrets.derive('signed-urls'), gw.config.signedUrls.ttlHours * 3600_000);
    const layouts = new SpriteLayouts();
    const keyNames = async () => new Map((await gw.keys.list()).map((k) => [k.id, k.name]));

    const admin = { auth: 'admin' as const, tag: 'Admin: tasks' };

    route(
      app,
      {
        ...admin,
        method: 'GET',
        url: '/admin/v1/tasks',
        summary: 'Tasks of all keys, newest first, with filters',
        query: z.object({
          limit: queryInt('limit', 1, 100, 50),
          id: optText('A task id (either spelling, or the bare ULID).', 200),
          key_id: optText('Only this key (id or prefix).', 200),
          status: optEnum(STATUSES, 'Task status'),
          model: optText('Only this model.', 200),
          channel: optText('Only tasks on this channel.', 200),
          q: optText('Prompt text contains.', 500),
          include_deleted: z.enum(['true', 'false']).optional().meta({ description: 'Include deleted tasks (default true).' }),
          after: optText('A task id: the page starts after it.', 200),
        }),
        responses: { 200: pageOf(adminTaskSchema) },
      },
      async (_req, _reply, { query: q }) => {
        const { limit } = q;
        let id: string | undefined;
        if (q.id) {
          const raw = q.id.trim();
          id = parseTaskId(raw) ?? (/^[0-9A-HJKMNP-TV-Z]{26}$/i.test(raw) ? raw.toUpperCase() : undefined);
          // An id that cannot exist matches nothing (a search, not a lookup).
          if (!id) return { object: 'list', data: [], first_id: null, last_id: null, has_more: false };
        }
        const rows = await search.find({
          id,
          keyId: q.key_id ? (await gw.accounts.key(q.key_id)).id : undefined,
          status: q.status,
          model: q.model,
          provider: q.channel,
          promptContains: q.q,
          includeDeleted: q.include_deleted !== 'false',
          before: parseCursor(q.after),
          limit,
        });
        const names = await keyNames();
        const data = rows.slice(0, limit).map((t) => adminTaskView(t, names.get(t.keyId) ?? null));
        return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
      },
    );

    route(
      app,
      {
        ...admin,
        method: 'GET',
        url: '/admin/v1/tasks/:id',
        summary: 'One task with its events, ledger entries, deliveries and file links',
        params: z.object({ id: pathId('The task id (either spelling).') }),
        responses: {
          200: adminTaskSchema.extend({
            events: z.array(eventSchema),
            ledger: z.array(entrySchema),
            assets: z.array(z.object({ variant: z.string(), bytes: z.number().int(), content_type: z.string(), sha256: z.string() })),
            deliveries: z.array(deliverySchema),
            links: linksSchema.nullable(),
          }),
        },
      },
      async (req, _reply, { params }) => {
        const publicId = params.id;
        const id = parseTaskId(publicId);
        const task = id ? await gw.service.store.get(id) : undefined;
        if (!task) throw notFound(`No task found with id '${publicId}'.`, 'task_id');
        let links: Awaited<ReturnType<typeof linksOf>> | null = null;
        if (task.status === 'completed' && task.deletedAt === null) {
          try {
            links = await linksOf(gw, req, task, signer, layouts);
          } catch (err) {
            if (!(err instanceof ApiError)) throw err;
          }
        }
        const deliveries = (await events.webhooks.store.deliveries({ keyId: task.keyId, taskId: task.id, limit: 100 })).slice(0, 100);
        return {
          ...adminTaskView(task, (await gw.keys.get(task.keyId))?.name ?? null),
          events: (await gw.service.store.eventsForTask(task.id, 0, 1000)).map(eventView),
          ledger: (await gw.ledger.forTask(task.id)).map(entryView),
          assets: (await gw.service.store.listAssets(task.id)).map((a) => ({ variant: a.variant, bytes: a.bytes, content_type: a.contentType, sha256: a.sha256 })),
          deliveries: await Promise.all(deliveries.map(async (d) => deliveryView(d, await events.webhooks.store.attempts(d.id)))),
          links,
        };
      },
    );
  };
}
