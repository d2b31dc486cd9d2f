import type { FastifyInstance } from 'fastify';
import { notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { parsePageLimit } from '../console/routes.js';
import type { Events } from '../events/index.js';
import { deliveryView, endpointView, parseDeliveryFilter } from '../events/routes.js';

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
      const rows = store.deliveries({
        ...parseDeliveryFilter(q, (id) => {
          if (!store.endpoint(id)) throw notFound(`No webhook endpoint found with id '${id}'.`, 'endpoint_id');
          return id;
        }),
        keyId: keyFilter(q.key_id),
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
