import type { FastifyInstance } from 'fastify';
import { invalid, notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { parseTaskId } from '../core/ids.js';
import { parsePageLimit } from '../console/routes.js';
import type { Events } from '../events/index.js';
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from '../events/payload.js';
import { deliveryView, endpointView } from '../events/routes.js';
import type { DeliveryStatus } from '../events/store.js';
import { CALLBACK_TARGET } from '../events/store.js';

const STATUSES: DeliveryStatus[] = ['pending', 'delivered', 'failed', 'cancelled'];

/**
 * Webhooks across all keys, for operators (admin token): endpoints, deliveries with their
 * attempts, and re-send — the same views and the same re-send as the key-facing API
 * (events/routes.ts), with the owning key added.
 */
export function adminWebhookRoutes(gw: Gateway, events: Events) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const config = { admin: true };
    const { webhooks, loop } = events;
    const store = webhooks.store;
    const names = () => new Map(gw.keys.list().map((k) => [k.id, k.name]));
    const keyFilter = (value: string | undefined) => (value ? gw.accounts.key(value).id : undefined);
    const deliveryOf = (id: string) => {
      const d = store.delivery(id);
      if (!d) throw notFound(`No webhook delivery found with id '${id}'.`, 'delivery_id');
      return d;
    };

    app.get('/admin/v1/webhook_endpoints', { config }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const limit = parsePageLimit(q.limit, 50);
      const rows = store.allEndpoints(keyFilter(q.key_id), q.after || undefined, limit);
      const keyNames = names();
      const now = webhooks.now();
      const data = rows.slice(0, limit).map((e) => ({ ...endpointView(e, now), key_id: e.keyId, key_name: keyNames.get(e.keyId) ?? null }));
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
    });

    app.get('/admin/v1/webhook_deliveries', { config }, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const limit = parsePageLimit(q.limit, 50);
      let target: string | undefined;
      if (q.endpoint_id) {
        if (q.endpoint_id === 'callback') target = CALLBACK_TARGET;
        else if (store.endpoint(q.endpoint_id)) target = q.endpoint_id;
        else throw notFound(`No webhook endpoint found with id '${q.endpoint_id}'.`, 'endpoint_id');
      }
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
      const rows = store.deliveries({
        keyId: keyFilter(q.key_id),
        target,
        taskId,
        status: q.status as DeliveryStatus | undefined,
        eventType: q.event_type || undefined,
        before: q.after || undefined,
        limit,
      });
      const keyNames = names();
      const data = rows.slice(0, limit).map((d) => ({ ...deliveryView(d, store.attempts(d.id)), key_id: d.keyId, key_name: keyNames.get(d.keyId) ?? null }));
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
    });

    app.get('/admin/v1/webhook_deliveries/:id', { config }, async (req) => {
      const d = deliveryOf((req.params as { id: string }).id);
      return { ...deliveryView(d, store.attempts(d.id)), key_id: d.keyId, key_name: gw.keys.get(d.keyId)?.name ?? null };
    });

    app.post('/admin/v1/webhook_deliveries/:id/resend', { config }, async (req) => {
      const d = deliveryOf((req.params as { id: string }).id);
      const after = webhooks.resend(d.keyId, d.id);
      loop.notify();
      return { ...deliveryView(after, store.attempts(after.id)), key_id: after.keyId, key_name: gw.keys.get(after.keyId)?.name ?? null };
    });
  };
}
