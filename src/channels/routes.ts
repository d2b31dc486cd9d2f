import type { FastifyInstance } from 'fastify';
import { parseBody } from '../admin/routes.js';
import { notFound } from '../core/errors.js';
import type { ChannelRuntime, Channels } from './registry.js';
import { credentialNamesSet } from './credentials.js';
import { channelCreateSchema, channelPatchSchema } from './schema.js';

const sec = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/**
 * A channel as operators see it. Credentials are never part of it: only whether a key is set,
 * the names of extra headers and which of the adapter's credential fields are set.
 */
export function channelView(r: ChannelRuntime, channels: Channels, now: number, unfinished?: Record<string, number>) {
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
    unfinished_tasks: unfinished ?? channels.unfinishedByChannel().get(d.id) ?? {},
  };
}

function healthView(r: ChannelRuntime, channels: Channels, now: number) {
  return {
    id: r.def.id,
    object: 'channel.health',
    enabled: r.def.enabled,
    breaker: r.breaker.view(now),
    limits: r.limiter.view(now),
    active_jobs: channels.activeJobs(r),
    max_jobs: r.def.maxJobs,
    unfinished_tasks: channels.unfinishedByChannel().get(r.def.id) ?? {},
    /** Tasks failed with upstream_submit_unknown: their job may exist upstream (and be paid for) with no task following it. */
    unresolved_submits: channels.unresolvedSubmits().get(r.def.id) ?? 0,
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

/** /admin/v1/channels…: list, create, read, update, remove, test, health. */
export function channelRoutes(channels: Channels, now: () => number) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const config = { admin: true };
    const find = (id: string): ChannelRuntime => {
      const r = channels.get(id);
      if (!r || r.deleted) throw notFound(`No channel with id '${id}'.`, 'id');
      return r;
    };
    const idOf = (req: { params: unknown }) => (req.params as { id: string }).id;

    app.get('/admin/v1/channels', { config }, async () => {
      const unfinished = channels.unfinishedByChannel();
      return { object: 'list', data: channels.list().map((r) => channelView(r, channels, now(), unfinished.get(r.def.id) ?? {})), sandbox_fallback: channels.cfg.sandboxFallback };
    });

    app.post('/admin/v1/channels', { config }, async (req, reply) => {
      const r = channels.create(parseBody(channelCreateSchema, req.body));
      reply.code(201);
      return channelView(r, channels, now());
    });

    app.get('/admin/v1/channels/:id', { config }, async (req) => channelView(find(idOf(req)), channels, now()));

    app.patch('/admin/v1/channels/:id', { config }, async (req) => channelView(channels.update(idOf(req), parseBody(channelPatchSchema, req.body)), channels, now()));

    app.delete('/admin/v1/channels/:id', { config }, async (req) => channelView(channels.remove(idOf(req)), channels, now()));

    app.post('/admin/v1/channels/:id/test', { config }, async (req) => {
      const r = find(idOf(req));
      return { id: r.def.id, object: 'channel.test', ...(await channels.probe(r)), breaker: r.breaker.view(now()).state };
    });

    app.get('/admin/v1/channels/:id/health', { config }, async (req) => healthView(find(idOf(req)), channels, now()));
  };
}
