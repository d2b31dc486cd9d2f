import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { modelObject } from './model-object.js';
import { pathId, route } from './route.js';
import { listOf } from './schemas.js';

const nullableNumber = z.number().nullable();

/** modelObject, as Zod (docs/models.md explains the fields). */
const modelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    type: z.literal('video'),
    name: z.string(),
    canonical_slug: z.string(),
    description: z.string().nullable(),
    aliases: z.array(z.string()),
    lifecycle: z.object({ status: z.enum(['active', 'retired']), retired_on: z.string().nullable(), replacement: z.string().nullable() }),
    supported_aspect_ratios: z.array(z.string()),
    supported_resolutions: z.array(z.string()),
    supported_sizes: z.array(z.string()),
    sizes_by_resolution: z.record(z.string(), z.record(z.string(), z.string())).meta({ description: 'The exact pixel size of every (resolution, aspect ratio) pair.' }),
    supported_durations: z.array(z.number()),
    durations: z.union([z.object({ values: z.array(z.number()) }), z.object({ min: z.number(), max: z.number(), step: z.number() })]),
    supported_frame_images: z.array(z.enum(['first_frame', 'last_frame'])),
    generate_audio: z.boolean(),
    audio: z.object({ mode: z.enum(['none', 'optional', 'always']), default: z.boolean().optional() }),
    seed: z.boolean(),
    seed_range: z.object({ min: z.number(), max: z.number() }).nullable(),
    negative_prompt: z.boolean(),
    references: z.object({ images: z.number().int(), videos: z.number().int(), audios: z.number().int(), exclusive_with_frames: z.boolean() }),
    last_frame_alone: z.boolean(),
    modes: z.array(z.string()),
    allowed_passthrough_parameters: z.array(z.string()),
    defaults: z.object({
      aspect_ratio: z.string(),
      resolution: z.string(),
      size: z.string(),
      duration: z.number(),
      generate_audio: z.boolean(),
      mode: z.string().nullable(),
    }),
    pricing: z.object({
      currency: z.literal('USD'),
      unit: z.literal('second'),
      rows: z.array(z.object({ resolution: z.string().nullable(), generate_audio: z.boolean().nullable(), mode: z.string().nullable(), usd_per_second: nullableNumber })),
    }),
    pricing_skus: z.record(z.string(), z.string()),
    source: z.unknown(),
    sizes: z.array(z.string()),
    seconds: z.array(z.string()),
    default_size: z.string(),
    default_seconds: z.string(),
  })
  .meta({ id: 'Model' });

/** GET /v1/models and /v1/models/{id} (aliases resolve to their model). Prices include the operator's overrides. */
export function modelRoutes(gw: Gateway) {
  const created = Math.floor(Date.UTC(2025, 9, 6) / 1000);
  return async function plugin(app: FastifyInstance): Promise<void> {
    const tag = 'Models';
    route(app, { method: 'GET', url: '/v1/models', tag, summary: 'List the video models, with capabilities and prices', auth: 'key', responses: { 200: listOf(modelSchema) } }, async () => {
      const rows = await gw.prices.allRows();
      return { object: 'list', data: gw.catalog.list().map((m) => modelObject(m, created, rows(m))) };
    });
    route(
      app,
      { method: 'GET', url: '/v1/models/:id', tag, summary: 'Retrieve a model (an alias resolves to its model)', auth: 'key', params: z.object({ id: pathId('The model id or alias.') }), responses: { 200: modelSchema } },
      async (_req, _reply, { params }) => {
        const m = gw.catalog.get(params.id);
        if (!m) throw notFound(`The model '${params.id}' does not exist on this gateway.`, 'model');
        return modelObject(m, created, await gw.prices.rowsOf(m));
      },
    );
  };
}
