import type { FastifyInstance } from 'fastify';
import { ulid } from 'ulid';
import { z } from 'zod';
import { parseBody } from '../admin/routes.js';
import { ApiError, invalid, notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { parseTaskId } from '../core/ids.js';
import { postWebhook } from './send.js';
import type { DeliveryLoop } from './delivery-loop.js';
import { DEFAULT_EVENT_TYPES, isWebhookEventType, publicTaskId, WEBHOOK_EVENT_TYPES } from './payload.js';
import { webhookHeaders } from './signing.js';
import type { StreamTokens } from './stream-tokens.js';
import type { Attempt, CallbackSecret, Delivery, DeliveryStatus, Endpoint } from './store.js';
import { CALLBACK_TARGET } from './store.js';
import { parseWebhookUrl } from './targets.js';
import type { WebhookService } from './webhooks.js';
import { SDK_ROTATION_GRACE_MS } from './webhooks.js';

export interface WebhookRouteDeps {
  webhooks: WebhookService;
  loop: DeliveryLoop;
  streamTokens: StreamTokens;
}

const sec = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

const STATUSES: DeliveryStatus[] = ['pending', 'delivered', 'failed', 'cancelled'];
const MAX_GRACE_SECONDS = 7 * 86_400;

const name = z.string().trim().max(200);
const createEndpoint = z.object({ url: z.unknown(), name: name.optional(), event_types: z.unknown().optional(), enabled: z.boolean().optional() });
const updateEndpoint = z.object({ url: z.unknown().optional(), name: name.optional(), event_types: z.unknown().optional(), enabled: z.boolean().optional() });
const rotate = z.object({
  keep_old_secret_active_for_24_hours: z.boolean().optional(),
  grace_period_seconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).optional(),
});
const testBody = z.object({ event_type: z.string().optional() });
const streamToken = z.object({ video_id: z.string().optional(), ttl_seconds: z.number().int().min(1).max(86_400).optional() });

function parseEventTypes(value: unknown): string[] {
  const supported = WEBHOOK_EVENT_TYPES.join(', ');
  if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string')) {
    throw invalid('event_types', `'event_types' must be a non-empty array of event types. Supported: ${supported}.`, 'invalid_type');
  }
  const unknown = (value as string[]).filter((t) => !isWebhookEventType(t));
  if (unknown.length) {
    throw invalid('event_types', `Unsupported event type${unknown.length > 1 ? 's' : ''} in 'event_types': ${unknown.map((t) => `'${t}'`).join(', ')}. Supported: ${supported}.`);
  }
  return [...new Set(value as string[])];
}

function graceOf(body: z.infer<typeof rotate>): number {
  if (body.grace_period_seconds !== undefined) return body.grace_period_seconds * 1000;
  return body.keep_old_secret_active_for_24_hours ? SDK_ROTATION_GRACE_MS : 0;
}

function parseLimit(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw invalid('limit', `Invalid value for 'limit': '${value}'. Expected an integer between 1 and 100.`);
  return n;
}

/** The endpoint as the openai SDK's WebhookEndpoint, plus `enabled` and the rotation state. */
/**
 * The filters of a deliveries list (?endpoint_id, video_id, status, event_type, after), checked
 * with 400s naming the parameter. `endpointTarget` resolves an endpoint id (or throws a 404);
 * `callback` selects callback_url deliveries.
 */
export function parseDeliveryFilter(q: Record<string, string | undefined>, endpointTarget: (id: string) => string) {
  let target: string | undefined;
  if (q.endpoint_id) target = q.endpoint_id === 'callback' ? CALLBACK_TARGET : endpointTarget(q.endpoint_id);
  let taskId: string | undefined;
  if (q.video_id) {
    taskId = parseTaskId(q.video_id) ?? undefined;
    if (!taskId) throw invalid('video_id', `Invalid value for 'video_id': '${q.video_id}' is not a video id.`);
  }
  if (q.status && !STATUSES.includes(q.status as DeliveryStatus)) {
    throw invalid('status', `Invalid value for 'status': '${q.status}'. Supported values are ${STATUSES.map((s) => `'${s}'`).join(', ')}.`);
  }
  if (q.event_type && !isWebhookEventType(q.event_type)) {
    throw invalid('event_type', `Invalid value for 'event_type': '${q.event_type}'. Supported values are ${WEBHOOK_EVENT_TYPES.join(', ')}.`);
  }
  return { target, taskId, status: q.status as DeliveryStatus | undefined, eventType: q.event_type || undefined, before: q.after || undefined };
}

export function endpointView(e: Endpoint, now: number) {
  const graceActive = e.previousExpiresAt !== null && e.previousExpiresAt > now;
  return {
    id: e.id,
    object: 'webhook_endpoint' as const,
    name: e.name,
    url: e.url,
    event_types: e.eventTypes,
    enabled: e.enabled,
    signing_secret_hint: e.secretHint,
    previous_secret_expires_at: graceActive ? sec(e.previousExpiresAt) : null,
    created_at: sec(e.createdAt)!,
    updated_at: sec(e.updatedAt)!,
  };
}

function attemptView(a: Attempt) {
  return {
    attempt: a.attempt,
    url: a.url,
    started_at: sec(a.startedAt)!,
    duration_ms: a.durationMs,
    status_code: a.statusCode,
    error: a.error,
    response_body: a.responseBody,
  };
}

export function deliveryView(d: Delivery, attempts: Attempt[]) {
  const payload = JSON.parse(d.payload) as { data?: { id?: string } };
  return {
    id: d.id,
    object: 'webhook_delivery' as const,
    endpoint_id: d.target === CALLBACK_TARGET ? null : d.target,
    kind: d.target === CALLBACK_TARGET ? ('callback' as const) : ('endpoint' as const),
    url: d.url,
    event_id: d.eventId,
    event_type: d.eventType,
    video_id: payload.data?.id ?? null,
    status: d.status,
    attempt_count: d.attempts,
    next_attempt_at: d.status === 'pending' ? sec(d.nextAttemptAt) : null,
    give_up_at: sec(d.giveUpAt)!,
    last_status_code: d.lastStatus,
    last_error: d.lastError,
    created_at: sec(d.createdAt)!,
    delivered_at: sec(d.deliveredAt),
    payload: JSON.parse(d.payload) as unknown,
    attempts: attempts.map(attemptView),
  };
}

/**
 * Webhook endpoints (OpenAI-SDK compatible: client.webhooks.create/retrieve/update/list/delete/
 * rotateSecret/test and client.webhooks.eventTypes.list), deliveries with their attempts, the
 * key's callback secret, and stream tokens for EventSource. All under the key's Bearer auth.
 */
export function webhookRoutes(gw: Gateway, deps: WebhookRouteDeps) {
  const { webhooks, loop } = deps;
  return async function plugin(app: FastifyInstance): Promise<void> {
    const config = { dialect: 'openai' as const };
    const net = gw.config.net;
    const now = () => webhooks.now();
    const idParam = (req: { params: unknown }) => (req.params as { id: string }).id;

    app.get('/v1/webhook_event_types', { config }, async () => ({ object: 'list', data: [...WEBHOOK_EVENT_TYPES] }));

    // ---- endpoints ----
    app.post('/v1/webhook_endpoints', { config }, async (req) => {
      const body = parseBody(createEndpoint, req.body);
      if (body.url === undefined) throw invalid('url', "Missing required parameter: 'url'.", 'missing_required_parameter');
      const url = parseWebhookUrl(body.url, 'url', net);
      const eventTypes = body.event_types === undefined ? DEFAULT_EVENT_TYPES : parseEventTypes(body.event_types);
      const { endpoint, secret } = webhooks.createEndpoint(req.apiKey.id, {
        name: body.name || new URL(url).host,
        url,
        eventTypes,
        enabled: body.enabled ?? true,
      });
      return { ...endpointView(endpoint, now()), signing_secret: secret };
    });

    app.get('/v1/webhook_endpoints', { config }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const limit = parseLimit(q.limit, 20);
      const rows = webhooks.store.endpoints(req.apiKey.id, q.after || undefined, limit);
      const data = rows.slice(0, limit).map((e) => endpointView(e, now()));
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
    });

    app.get('/v1/webhook_endpoints/:id', { config }, async (req) => endpointView(webhooks.endpoint(req.apiKey.id, idParam(req)), now()));

    const update = async (req: { apiKey: { id: string }; params: unknown; body: unknown }) => {
      const body = parseBody(updateEndpoint, req.body);
      const e = webhooks.updateEndpoint(req.apiKey.id, idParam(req), {
        name: body.name || undefined,
        url: body.url === undefined ? undefined : parseWebhookUrl(body.url, 'url', net),
        eventTypes: body.event_types === undefined ? undefined : parseEventTypes(body.event_types),
        enabled: body.enabled,
      });
      if (e.enabled) loop.notify();
      return endpointView(e, now());
    };
    // The SDK updates with POST; PATCH for everyone else.
    app.post('/v1/webhook_endpoints/:id', { config }, update);
    app.patch('/v1/webhook_endpoints/:id', { config }, update);

    app.delete('/v1/webhook_endpoints/:id', { config }, async (req) => {
      const id = idParam(req);
      webhooks.deleteEndpoint(req.apiKey.id, id);
      return { id, object: 'webhook_endpoint.deleted', deleted: true };
    });

    app.post('/v1/webhook_endpoints/:id/rotate_secret', { config }, async (req) => {
      const body = parseBody(rotate, req.body);
      const { endpoint, secret } = webhooks.rotateEndpoint(req.apiKey.id, idParam(req), graceOf(body));
      return { ...endpointView(endpoint, now()), signing_secret: secret };
    });

    /** The owner may read the secrets back (the key can rotate them anyway); the console shows them on demand. */
    app.get('/v1/webhook_endpoints/:id/secret', { config }, async (req) => {
      const e = webhooks.endpoint(req.apiKey.id, idParam(req));
      const { secret, previous } = webhooks.reveal(e);
      return {
        object: 'webhook_endpoint.secret',
        webhook_endpoint_id: e.id,
        signing_secret: secret,
        previous_signing_secret: previous,
        previous_secret_expires_at: previous ? sec(e.previousExpiresAt) : null,
      };
    });

    /** Send a sample event now, signed like a real delivery; answers with the receiver's status code. */
    app.post('/v1/webhook_endpoints/:id/test', { config }, async (req) => {
      const e = webhooks.endpoint(req.apiKey.id, idParam(req));
      const body = parseBody(testBody, req.body);
      const type = body.event_type ?? e.eventTypes[0] ?? 'video.completed';
      if (!isWebhookEventType(type)) throw invalid('event_type', `Unsupported event type '${type}'. Supported: ${WEBHOOK_EVENT_TYPES.join(', ')}.`);
      const t = now();
      const payload = JSON.stringify({
        id: `evt_${ulid(t)}`,
        object: 'event',
        created_at: Math.floor(t / 1000),
        type,
        data: { id: publicTaskId({ id: '0'.repeat(26), origin: 'openai' }), ...(type === 'video.in_progress' ? { progress: 50 } : {}) },
      });
      const msgId = `msg_${ulid(t)}`;
      const result = await postWebhook(e.url, payload, webhookHeaders(webhooks.activeSecrets(e, t), msgId, Math.floor(t / 1000), payload), {
        agent: loop.dispatcher,
        policy: net,
        timeoutMs: gw.config.webhooks.timeoutMs,
      });
      if (result.statusCode === null) {
        throw new ApiError({
          status: 400,
          type: 'invalid_request_error',
          code: 'webhook_test_failed',
          param: 'url',
          message: `The test event could not be delivered to ${e.url}: ${result.error}.`,
        });
      }
      return { object: 'webhook_endpoint.test', webhook_endpoint_id: e.id, event_type: type, status_code: result.statusCode, success: true, response_body: result.responseBody };
    });

    // ---- deliveries ----
    app.get('/v1/webhook_deliveries', { config }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const limit = parseLimit(q.limit, 20);
      const rows = webhooks.store.deliveries({
        ...parseDeliveryFilter(q, (id) => webhooks.endpoint(req.apiKey.id, id).id),
        keyId: req.apiKey.id,
        limit,
      });
      const data = rows.slice(0, limit).map((d) => deliveryView(d, webhooks.store.attempts(d.id)));
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
    });

    app.get('/v1/webhook_deliveries/:id', { config }, async (req) => {
      const d = webhooks.delivery(req.apiKey.id, idParam(req));
      return deliveryView(d, webhooks.store.attempts(d.id));
    });

    app.post('/v1/webhook_deliveries/:id/resend', { config }, async (req) => {
      const d = webhooks.resend(req.apiKey.id, idParam(req));
      loop.notify();
      return deliveryView(d, webhooks.store.attempts(d.id));
    });

    // ---- the key's callback secret (signs callback_url deliveries) ----
    const callbackView = (s: CallbackSecret, withSecret: string | null) => {
      const { secret, previous } = webhooks.reveal(s);
      return {
        object: 'callback_secret',
        signing_secret: withSecret ?? secret,
        signing_secret_hint: s.secretHint,
        previous_signing_secret: previous,
        previous_secret_expires_at: previous ? sec(s.previousExpiresAt) : null,
        created_at: sec(s.createdAt)!,
        updated_at: sec(s.updatedAt)!,
      };
    };
    app.get('/v1/callback_secret', { config }, async (req) => callbackView(webhooks.callbackSecret(req.apiKey.id), null));
    app.post('/v1/callback_secret/rotate', { config }, async (req) => {
      const body = parseBody(rotate, req.body);
      const { state, secret } = webhooks.rotateCallbackSecret(req.apiKey.id, graceOf(body));
      return callbackView(state, secret);
    });

    // ---- stream tokens for EventSource (?access_token=) ----
    app.post('/v1/stream_tokens', { config }, async (req) => {
      const body = parseBody(streamToken, req.body);
      let taskId: string | null = null;
      if (body.video_id !== undefined) {
        const id = parseTaskId(body.video_id);
        if (!id || !gw.service.store.getVisible(id, req.apiKey.id)) throw notFound(`No video found with id '${body.video_id}'.`, 'video_id');
        taskId = id;
      }
      const ttl = Math.min(body.ttl_seconds ?? gw.config.sse.tokenTtlSeconds, gw.config.sse.tokenTtlSeconds);
      const expiresAt = Math.floor(now() / 1000) + ttl;
      const token = deps.streamTokens.issue({ keyId: req.apiKey.id, taskId, expiresAt });
      return { object: 'stream_token', token, video_id: body.video_id ?? null, expires_at: expiresAt };
    });
  };
}
