import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { pathId, route } from '../http/route.js';
import { listOf } from '../http/schemas.js';
import { notFound } from '../core/errors.js';
import type { ChannelRuntime, Channels } from './registry.js';
import { credentialNamesSet } from './credentials.js';
import { channelCreateSchema, channelPatchSchema } from './schema.js';

const sec = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/**
 * A channel as operators see it. Credentials are never part of it: only whether a key is set,
 * the names of extra headers and which of the adapter's credential fields are set.
 */
export async function channelView(r: ChannelRuntime, channels: Channels, now: number, unfinished?: Record<string, number>) {
  const d = r.def;
  return {
    id: d.id,
    object: 'channel',
    name: d.name,
    type: d.type,
    base_url: d.baseUrl,
    api_key_set: !!r.credentials.apiKey,
    header_names: Object.keys(r.credentials.headers ?? {}),
    credentials_set: credentialNamesSet(r.credentials),
    models: d.models.map((m) => ({ model: m.model, upstream_model: m.upstreamModel, usd_per_second: m.usdPerSecond ?? null })),
    priority: d.priority,
    weight: d.weight,
    concurrency: d.concurrency,
    rpm: d.rpm,
    max_jobs: d.maxJobs,
    markup: d.markup,
    deadline_minutes: d.deadlineMinutes,
    enabled: d.enabled,
    options: d.options,
    source: d.source,
    read_only: d.source === 'config',
    deleted: r.deleted,
    created_at: sec(r.createdAt),
    updated_at: sec(r.updatedAt),
    state: r.deleted ? 'removed' : !d.enabled ? 'disabled' : r.breaker.state(now) === 'closed' ? 'active' : 'out_of_rotation',
    unfinished_tasks: unfinished ?? (await channels.unfinishedByChannel()).get(d.id) ?? {},
  };
}

async function healthView(r: ChannelRuntime, channels: Channels, now: number) {
  return {
    id: r.def.id,
    object: 'channel.health',
    enabled: r.def.enabled,
    breaker: r.breaker.view(now),
    limits: r.limiter.view(now),
    active_jobs: await channels.activeJobs(r),
    max_jobs: r.def.maxJobs,
    unfinished_tasks: (await channels.unfinishedByChannel()).get(r.def.id) ?? {},
    /** Tasks failed with upstream_submit_unknown: their job may exist upstream (and be paid for) with no task following it. */
    unresolved_submits: (await channels.unresolvedSubmits()).get(r.def.id) ?? 0,
    counters: {
      submits: r.stats.submits,
      submit_failures: r.stats.submitFailures,
      checks: r.stats.checks,
      check_failures: r.stats.checkFailures,
      downloads: r.stats.downloads,
      download_failures: r.stats.downloadFailures,
    },
    last_error: r.stats.lastError,
    observed_durations: channels.timings.forChannel(r.def.id).map((t) => ({
      model: t.model,
      seconds: t.seconds,
      samples: t.samples,
      mean_seconds: Math.round(t.meanMs / 100) / 10,
      deviation_seconds: Math.round(t.devMs / 100) / 10,
    })),
  };
}

const obj = z.record(z.string(), z.unknown());

export const channelSchema = z
  .object({
    id: z.string(),
    object: z.literal('channel'),
    name: z.string(),
    type: z.string(),
    base_url: z.string(),
    api_key_set: z.boolean(),
    header_names: z.array(z.string()),
    credentials_set: z.array(z.string()),
    models: z.array(z.object({ model: z.string(), upstream_model: z.string(), usd_per_second: obj.nullable() })),
    priority: z.number().int(),
    weight: z.number(),
    concurrency: z.number().int().nullable(),
    rpm: z.number().int().nullable(),
    max_jobs: z.number().int().nullable(),
    markup: z.number().nullable(),
    deadline_minutes: z.number().nullable(),
    enabled: z.boolean(),
    options: obj,
    source: z.enum(['config', 'api']),
    read_only: z.boolean(),
    deleted: z.boolean(),
    created_at: z.number().int().nullable(),
    updated_at: z.number().int().nullable(),
    state: z.enum(['removed', 'disabled', 'active', 'out_of_rotation']),
    unfinished_tasks: z.record(z.string(), z.number()),
  })
  .meta({ id: 'Channel' });

const healthSchema = z.object({
  id: z.string(),
  object: z.literal('channel.health'),
  enabled: z.boolean(),
  breaker: obj,
  limits: obj,
  active_jobs: z.number().int(),
  max_jobs: z.number().int().nullable(),
  unfinished_tasks: z.record(z.string(), z.number()),
  unresolved_submits: z.number().int().meta({ description: 'Tasks failed with upstream_submit_unknown: their job may exist upstream, paid for, with no task following it.' }),
  counters: z.record(z.string(), z.number()),
  last_error: z.unknown(),
  observed_durations: z.array(z.object({ model: z.string(), seconds: z.number(), samples: z.number(), mean_seconds: z.number(), deviation_seconds: z.number() })),
});

/** /admin/v1/channels…: list, create, read, update, remove, test, health. */
export function channelRoutes(channels: Channels, now: () => number) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const admin = { auth: 'admin' as const, tag: 'Admin: channels' };
    const idParams = z.object({ id: pathId('The channel id.') });
    const find = (id: string): ChannelRuntime => {
      const r = channels.get(id);
      if (!r || r.deleted) throw notFound(`No channel with id '${id}'.`, 'id');
      return r;
    };

    route(
      app,
      { ...admin, method: 'GET', url: '/admin/v1/channels', summary: 'List upstream channels', responses: { 200: listOf(channelSchema).extend({ sandbox_fallback: z.string() }) } },
      async () => {
        const unfinished = await channels.unfinishedByChannel();
        const data = await Promise.all(channels.list().map((r) => channelView(r, channels, now(), unfinished.get(r.def.id) ?? {})));
        return { object: 'list', data, sandbox_fallback: channels.cfg.sandboxFallback };
      },
    );

    route(
      app,
      {
        ...admin,
        method: 'POST',
        url: '/admin/v1/channels',
        summary: 'Add an upstream channel',
        description: 'Credentials are sealed at rest and never returned.',
        body: channelCreateSchema,
        bodyExamples: { apimart: { summary: 'An apimart account', value: { id: 'apimart-main', type: 'apimart', base_url: 'https://api.apimart.ai', api_key: 'sk-…', models: ['sora-2-preview'] } } },
        responses: { 201: { description: 'The channel.', schema: channelSchema } },
      },
      async (_req, reply, { body }) => {
        const r = await channels.create(body);
        reply.code(201);
        return channelView(r, channels, now());
      },
    );

    route(app, { ...admin, method: 'GET', url: '/admin/v1/channels/:id', summary: 'Retrieve a channel', params: idParams, responses: { 200: channelSchema } }, async (_req, _reply, { params }) =>
      channelView(find(params.id), channels, now()),
    );

    route(
      app,
      { ...admin, method: 'PATCH', url: '/admin/v1/channels/:id', summary: 'Update a channel', params: idParams, body: channelPatchSchema, responses: { 200: channelSchema } },
      async (_req, _reply, { params, body }) => channelView(await channels.update(params.id, body), channels, now()),
    );

    route(app, { ...admin, method: 'DELETE', url: '/admin/v1/channels/:id', summary: 'Remove a channel', params: idParams, responses: { 200: channelSchema } }, async (_req, _reply, { params }) =>
      channelView(await channels.remove(params.id), channels, now()),
    );

    route(
      app,
      {
        ...admin,
        method: 'POST',
        url: '/admin/v1/channels/:id/test',
        summary: "Probe a channel (reachable, key accepted)",
        params: idParams,
        responses: { 200: z.object({ id: z.string(), object: z.literal('channel.test'), ok: z.boolean(), latency_ms: z.number(), message: z.string(), breaker: z.string() }) },
      },
      async (_req, _reply, { params }) => {
        const r = find(params.id);
        return { id: r.def.id, object: 'channel.test', ...(await channels.probe(r)), breaker: r.breaker.view(now()).state };
      },
    );

    route(app, { ...admin, method: 'GET', url: '/admin/v1/channels/:id/health', summary: "A channel's breaker, limits, counters and observed durations", params: idParams, responses: { 200: healthSchema } }, async (_req, _reply, { params }) =>
      healthView(find(params.id), channels, now()),
    );
  };
}
