import type { FastifyInstance } from 'fastify';
import { notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { z } from 'zod';
import { optText, pathId, queryInt, route } from '../http/route.js';
import { pageOf } from '../http/schemas.js';
import type { Events } from '../events/index.js';
import { deliveryQuery, deliverySchema, deliveryView, endpointSchema, endpointView, parseDeliveryFilter } from '../events/routes.js';

/**
 * Webhooks across all keys, for operators (admin token): endpoints, deliveries with their
 * attempts, and re-send — the same views and the same re-send as the key-facing API
 * (events/routes.ts), with the owning key added.
 */
export function adminWebhookRoutes(gw: Gateway, events: Events) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const { webhooks, loop } = events;
    const store = webhooks.store;
    const names = async () => new Map((await gw.keys.list()).map((k) => [k.id, k.name]));
    const keyFilter = async (value: string | undefined) => (value ? (await gw.accounts.key(value)).id : undefined);
    const deliveryOf = async (id: string) => {
      const d = await store.delivery(id);
      if (!d) throw notFound(`No webhook delivery found with id '${id}'.`, 'delivery_id');
      return d;
    };
    const admin = { auth: 'admin' as const, tag: 'Admin: webhooks' };
    const owner = { key_id: z.string(), key_name: z.string().nullable() };
    const delivery = deliverySchema.extend(owner);
    const idParams = z.object({ id: pathId('The delivery id.') });
    const keyId = optText('Only this key (id or prefix).', 200);

    route(
      app,
      {
        ...admin,
        method: 'GET',
        url: '/admin/v1/webhook_endpoints',
        summary: 'Webhook endpoints of all keys',
        query: z.object({ limit: queryInt('limit', 1, 100, 50), key_id: keyId, after: optText('An endpoint id: the page starts after it.', 200) }),
        responses: { 200: pageOf(endpointSchema.extend(owner)) },
      },
      async (_req, _reply, { query }) => {
        const { limit } = query;
        const rows = await store.allEndpoints(await keyFilter(query.key_id), query.after, limit);
        const keyNames = await names();
        const now = webhooks.now();
        const data = rows.slice(0, limit).map((e) => ({ ...endpointView(e, now), key_id: e.keyId, key_name: keyNames.get(e.keyId) ?? null }));
        return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
      },
    );

    route(
      app,
      {
        ...admin,
        method: 'GET',
        url: '/admin/v1/webhook_deliveries',
        summary: 'Webhook deliveries of all keys',
        query: deliveryQuery.extend({ limit: queryInt('limit', 1, 100, 50), key_id: keyId }),
        responses: { 200: pageOf(delivery) },
      },
      async (_req, _reply, { query }) => {
        const { limit } = query;
        const rows = await store.deliveries({
          ...(await parseDeliveryFilter(query, async (id) => {
            if (!(await store.endpoint(id))) throw notFound(`No webhook endpoint found with id '${id}'.`, 'endpoint_id');
            return id;
          })),
          keyId: await keyFilter(query.key_id),
          limit,
        });
        const keyNames = await names();
        const data = await Promise.all(
          rows.slice(0, limit).map(async (d) => ({ ...deliveryView(d, await store.attempts(d.id)), key_id: d.keyId, key_name: keyNames.get(d.keyId) ?? null })),
        );
        return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: rows.length > limit };
      },
    );

    route(app, { ...admin, method: 'GET', url: '/admin/v1/webhook_deliveries/:id', summary: 'Retrieve a delivery', params: idParams, responses: { 200: delivery } }, async (_req, _reply, { params }) => {
      const d = await deliveryOf(params.id);
      return { ...deliveryView(d, await store.attempts(d.id)), key_id: d.keyId, key_name: (await gw.keys.get(d.keyId))?.name ?? null };
    });

    route(
      app,
      { ...admin, method: 'POST', url: '/admin/v1/webhook_deliveries/:id/resend', summary: 'Send a delivery again', params: idParams, responses: { 200: delivery } },
      async (_req, _reply, { params }) => {
        const d = await deliveryOf(params.id);
        const after = await webhooks.resend(d.keyId, d.id);
        loop.notify();
        return { ...deliveryView(after, await store.attempts(after.id)), key_id: after.keyId, key_name: (await gw.keys.get(after.keyId))?.name ?? null };
      },
    );
  };
}
