import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { pathId, route } from './route.js';
import { listOf } from './schemas.js';
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

const modelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    type: z.literal('video'),
    description: z.string().nullable(),
    sizes: z.array(z.string()),
    seconds: z.array(z.string()),
    default_size: z.string(),
    default_seconds: z.string(),
    price_per_second_usd: z.record(z.string(), z.number()).meta({ description: 'List price per second of video, by resolution tier.' }),
  })
  .meta({ id: 'Model' });

export function modelRoutes(gw: Gateway) {
  const created = Math.floor(Date.UTC(2025, 9, 6) / 1000);
  return async function plugin(app: FastifyInstance): Promise<void> {
    const tag = 'Models';
    route(app, { method: 'GET', url: '/v1/models', tag, summary: 'List the video models', auth: 'key', responses: { 200: listOf(modelSchema) } }, async () => ({
      object: 'list',
      data: gw.catalog.list().map((m) => modelObject(m, created)),
    }));
    route(
      app,
      { method: 'GET', url: '/v1/models/:id', tag, summary: 'Retrieve a model', auth: 'key', params: z.object({ id: pathId('The model id.') }), responses: { 200: modelSchema } },
      async (_req, _reply, { params }) => {
        const m = gw.catalog.get(params.id);
        if (!m) throw notFound(`The model '${params.id}' does not exist on this gateway.`, 'model');
        return modelObject(m, created);
      },
    );
  };
}
