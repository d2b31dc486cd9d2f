import type { FastifyInstance } from 'fastify';
import { ulid } from 'ulid';
import { z } from 'zod';
import { ApiError, invalid, notFound } from '../core/errors.js';
import { optEnum, optText, pathId, queryInt, route } from '../http/route.js';
import { listOf, pageOf } from '../http/schemas.js';
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

/** endpointView, as Zod. */
export const endpointSchema = z
  .object({
    id: z.string(),
    object: z.literal('webhook_endpoint'),
    name: z.string(),
    url: z.string(),
    event_types: z.array(z.string()),
    enabled: z.boolean(),
    signing_secret_hint: z.string(),
    previous_secret_expires_at: z.number().int().nullable(),
    created_at: z.number().int(),
    updated_at: z.number().int(),
  })
  .meta({ id: 'WebhookEndpoint' });

const attemptSchema = z.object({
  attempt: z.number().int(),
  url: z.string(),
  started_at: z.number().int(),
  duration_ms: z.number().nullable(),
  status_code: z.number().int().nullable(),
  error: z.string().nullable(),
  response_body: z.string().nullable(),
});

/** deliveryView, as Zod. */
export const deliverySchema = z
  .object({
    id: z.string(),
    object: z.literal('webhook_delivery'),
    endpoint_id: z.string().nullable(),
    kind: z.enum(['callback', 'endpoint']),
    url: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    video_id: z.string().nullable(),
    status: z.enum(['pending', 'delivered', 'failed', 'cancelled']),
    attempt_count: z.number().int(),
    next_attempt_at: z.number().int().nullable(),
    give_up_at: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: z.number().int(),
    delivered_at: z.number().int().nullable(),
    payload: z.unknown().meta({ description: 'The event as delivered.' }),
    attempts: z.array(attemptSchema),
  })
  .meta({ id: 'WebhookDelivery' });

/** Query of the deliveries lists. */
export const deliveryQuery = z.object({
  endpoint_id: optText("An endpoint id, or 'callback' for callback_url deliveries.", 200),
  video_id: optText('Only deliveries about this video.', 200),
  status: optEnum(STATUSES, 'Delivery status'),
  event_type: optText('Only this event type.', 100),
  after: optText('A delivery id: the page starts after it.', 200),
});

/**
 * The filters of a deliveries list (?endpoint_id, video_id, status, event_type, after), checked
 * with 400s naming the parameter. `endpointTarget` resolves an endpoint id (or throws a 404);
 * `callback` selects callback_url deliveries.
 */
export async function parseDeliveryFilter(
  q: { endpoint_id?: string; video_id?: string; status?: string; event_type?: string; after?: string },
  endpointTarget: (id: string) => Promise<string>,
) {
  let target: string | undefined;
  if (q.endpoint_id) target = q.endpoint_id === 'callback' ? CALLBACK_TARGET : await endpointTarget(q.endpoint_id);
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
    const net = gw.config.net;
    const now = () => webhooks.now();
    const tag = 'Webhooks';
    const key = { auth: 'key' as const, tag };
    const idParams = z.object({ id: pathId('The id.') });
    const withSecret = endpointSchema.extend({ signing_secret: z.string().meta({ description: 'whsec_…: shown when created or rotated (and on GET …/secret).' }) });
    const page = <T extends z.ZodType>(item: T) => pageOf(item);

    route(app, { ...key, method: 'GET', url: '/v1/webhook_event_types', summary: 'The event types an endpoint can subscribe to', responses: { 200: listOf(z.string()) } }, async () => ({
      object: 'list',
      data: [...WEBHOOK_EVENT_TYPES],
    }));

    // ---- endpoints ----
    route(
      app,
      {
        ...key,
        method: 'POST',
        url: '/v1/webhook_endpoints',
        summary: 'Create a webhook endpoint',
        body: createEndpoint,
        bodyExamples: { basic: { summary: 'Completed and failed videos', value: { url: 'https://example.com/hooks/vidgate', event_types: ['video.completed', 'video.failed'] } } },
        responses: { 200: withSecret },
      },
      async (req, _reply, { body }) => {
        if (body.url === undefined) throw invalid('url', "Missing required parameter: 'url'.", 'missing_required_parameter');
        const url = parseWebhookUrl(body.url, 'url', net);
        const eventTypes = body.event_types === undefined ? DEFAULT_EVENT_TYPES : parseEventTypes(body.event_types);
        const { endpoint, secret } = await webhooks.createEndpoint(req.apiKey.id, {
          name: body.name || new URL(url).host,
          url,
          eventTypes,
          enabled: body.enabled ?? true,
        });
        return { ...endpointView(endpoint, now()), signing_secret: secret };
      },
    );

    route(
      app,
      {
        ...key,
        method: 'GET',
        url: '/v1/webhook_endpoints',
        summary: 'List webhook endpoints',
        query: z.object({ limit: queryInt('limit', 1, 100, 20), after: optText('An endpoint id: the page starts after it.', 200) }),
        responses: { 200: page(endpointSchema) },
      },
      async (req, _reply, { query }) => {
        const { limit } = query;
        const rows = await webhooks.store.endpoints(req.apiKey.id, query.after, limit);
        const data = rows.slice(0, limit).map((e) => endpointView(e, now()));
        return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
      },
    );

    route(app, { ...key, method: 'GET', url: '/v1/webhook_endpoints/:id', summary: 'Retrieve a webhook endpoint', params: idParams, responses: { 200: endpointSchema } }, async (req, _reply, { params }) =>
      endpointView(await webhooks.endpoint(req.apiKey.id, params.id), now()),
    );

    // The SDK updates with POST; PATCH for everyone else.
    for (const method of ['POST', 'PATCH'] as const) {
      route(
        app,
        { ...key, method, url: '/v1/webhook_endpoints/:id', summary: 'Update a webhook endpoint', params: idParams, body: updateEndpoint, responses: { 200: endpointSchema } },
        async (req, _reply, { params, body }) => {
          const e = await webhooks.updateEndpoint(req.apiKey.id, params.id, {
            name: body.name || undefined,
            url: body.url === undefined ? undefined : parseWebhookUrl(body.url, 'url', net),
            eventTypes: body.event_types === undefined ? undefined : parseEventTypes(body.event_types),
            enabled: body.enabled,
          });
          if (e.enabled) loop.notify();
          return endpointView(e, now());
        },
      );
    }

    route(
      app,
      {
        ...key,
        method: 'DELETE',
        url: '/v1/webhook_endpoints/:id',
        summary: 'Delete a webhook endpoint',
        params: idParams,
        responses: { 200: z.object({ id: z.string(), object: z.literal('webhook_endpoint.deleted'), deleted: z.literal(true) }) },
      },
      async (req, _reply, { params }) => {
        await webhooks.deleteEndpoint(req.apiKey.id, params.id);
        return { id: params.id, object: 'webhook_endpoint.deleted', deleted: true };
      },
    );

    route(
      app,
      { ...key, method: 'POST', url: '/v1/webhook_endpoints/:id/rotate_secret', summary: "Rotate an endpoint's signing secret", params: idParams, body: rotate, responses: { 200: withSecret } },
      async (req, _reply, { params, body }) => {
        const { endpoint, secret } = await webhooks.rotateEndpoint(req.apiKey.id, params.id, graceOf(body));
        return { ...endpointView(endpoint, now()), signing_secret: secret };
      },
    );

    /** The owner may read the secrets back (the key can rotate them anyway); the console shows them on demand. */
    route(
      app,
      {
        ...key,
        method: 'GET',
        url: '/v1/webhook_endpoints/:id/secret',
        summary: "Read an endpoint's signing secrets",
        params: idParams,
        responses: {
          200: z.object({
            object: z.literal('webhook_endpoint.secret'),
            webhook_endpoint_id: z.string(),
            signing_secret: z.string(),
            previous_signing_secret: z.string().nullable(),
            previous_secret_expires_at: z.number().int().nullable(),
          }),
        },
      },
      async (req, _reply, { params }) => {
        const e = await webhooks.endpoint(req.apiKey.id, params.id);
        const { secret, previous } = webhooks.reveal(e);
        return {
          object: 'webhook_endpoint.secret',
          webhook_endpoint_id: e.id,
          signing_secret: secret,
          previous_signing_secret: previous,
          previous_secret_expires_at: previous ? sec(e.previousExpiresAt) : null,
        };
      },
    );

    /** Send a sample event now, signed like a real delivery; answers with the receiver's status code. */
    route(
      app,
      {
        ...key,
        method: 'POST',
        url: '/v1/webhook_endpoints/:id/test',
        summary: 'Send a sample event to an endpoint now',
        params: idParams,
        body: testBody,
        responses: {
          200: z.object({
            object: z.literal('webhook_endpoint.test'),
            webhook_endpoint_id: z.string(),
            event_type: z.string(),
            status_code: z.number().int(),
            success: z.boolean(),
            response_body: z.string().nullable(),
          }),
        },
      },
      async (req, _reply, { params, body }) => {
        const e = await webhooks.endpoint(req.apiKey.id, params.id);
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
      },
    );

    // ---- deliveries ----
    route(
      app,
      {
        ...key,
        method: 'GET',
        url: '/v1/webhook_deliveries',
        summary: 'List webhook deliveries (with their attempts)',
        query: deliveryQuery.extend({ limit: queryInt('limit', 1, 100, 20) }),
        responses: { 200: page(deliverySchema) },
      },
      async (req, _reply, { query }) => {
        const { limit } = query;
        const rows = await webhooks.store.deliveries({
          ...(await parseDeliveryFilter(query, async (id) => (await webhooks.endpoint(req.apiKey.id, id)).id)),
          keyId: req.apiKey.id,
          limit,
        });
        const data = await Promise.all(rows.slice(0, limit).map(async (d) => deliveryView(d, await webhooks.store.attempts(d.id))));
        return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
      },
    );

    route(app, { ...key, method: 'GET', url: '/v1/webhook_deliveries/:id', summary: 'Retrieve a delivery', params: idParams, responses: { 200: deliverySchema } }, async (req, _reply, { params }) => {
      const d = await webhooks.delivery(req.apiKey.id, params.id);
      return deliveryView(d, await webhooks.store.attempts(d.id));
    });

    route(
      app,
      { ...key, method: 'POST', url: '/v1/webhook_deliveries/:id/resend', summary: 'Send a delivery again', params: idParams, responses: { 200: deliverySchema } },
      async (req, _reply, { params }) => {
        const d = await webhooks.resend(req.apiKey.id, params.id);
        loop.notify();
        return deliveryView(d, await webhooks.store.attempts(d.id));
      },
    );

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
    const callbackSchema = z.object({
      object: z.literal('callback_secret'),
      signing_secret: z.string(),
      signing_secret_hint: z.string(),
      previous_signing_secret: z.string().nullable(),
      previous_secret_expires_at: z.number().int().nullable(),
      created_at: z.number().int(),
      updated_at: z.number().int(),
    });
    route(app, { ...key, method: 'GET', url: '/v1/callback_secret', summary: "The key's callback secret (signs callback_url deliveries)", responses: { 200: callbackSchema } }, async (req) =>
      callbackView(await webhooks.callbackSecret(req.apiKey.id), null),
    );
    route(app, { ...key, method: 'POST', url: '/v1/callback_secret/rotate', summary: "Rotate the key's callback secret", body: rotate, responses: { 200: callbackSchema } }, async (req, _reply, { body }) => {
      const { state, secret } = await webhooks.rotateCallbackSecret(req.apiKey.id, graceOf(body));
      return callbackView(state, secret);
    });

    // ---- stream tokens for EventSource (?access_token=) ----
    route(
      app,
      {
        ...key,
        tag: 'Events',
        method: 'POST',
        url: '/v1/stream_tokens',
        summary: 'A short-lived token for EventSource (?access_token=)',
        body: streamToken,
        responses: { 200: z.object({ object: z.literal('stream_token'), token: z.string(), video_id: z.string().nullable(), expires_at: z.number().int() }) },
      },
      async (req, _reply, { body }) => {
        let taskId: string | null = null;
        if (body.video_id !== undefined) {
          const id = parseTaskId(body.video_id);
          if (!id || !(await gw.service.store.getVisible(id, req.apiKey.id))) throw notFound(`No video found with id '${body.video_id}'.`, 'video_id');
          taskId = id;
        }
        const ttl = Math.min(body.ttl_seconds ?? gw.config.sse.tokenTtlSeconds, gw.config.sse.tokenTtlSeconds);
        // Whole seconds, rounded up: a token lives at least the seconds asked for (rounding down
        // left a 1 s token as little as a few milliseconds).
        const expiresAt = Math.ceil((now() + ttl * 1000) / 1000);
        const token = deps.streamTokens.issue({ keyId: req.apiKey.id, taskId, expiresAt });
        return { object: 'stream_token', token, video_id: body.video_id ?? null, expires_at: expiresAt };
      },
    );
  };
}
