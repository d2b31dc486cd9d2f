import type { FastifyInstance } from 'fastify';
import type { ModelSpec } from '../core/catalog.js';
import { notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';

/** OpenAI-style model objects, with the video constraints and prices as extra fields. */
function modelObject(m: ModelSpec, created: number) {
  return {
    id: m.id,
    object: 'model',
    created,
    owned_by: 'vidgate',
    type: 'video',
    description: m.description ?? null,
    sizes: m.sizes,
    seconds: m.seconds.map(String),
    default_size: m.defaultSize,
    default_seconds: String(m.defaultSeconds),
    price_per_second_usd: m.pricePerSecond,
  };
}

export function modelRoutes(gw: Gateway) {
  const created = Math.floor(Date.UTC(2025, 9, 6) / 1000);
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/v1/models', async () => ({ object: 'list', data: gw.catalog.list().map((m) => modelObject(m, created)) }));
    app.get('/v1/models/:id', async (req) => {
      const id = (req.params as { id: string }).id;
      const m = gw.catalog.get(id);
      if (!m) throw notFound(`The model '${id}' does not exist on this gateway.`, 'model');
      return modelObject(m, created);
    });
  };
}
