import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { pathId, route } from '../http/route.js';
import { defaultSizeOf, durationsOf, formatSize, parseSize, sizesOf } from '../core/catalog.js';
import { ApiError, invalid, notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { videoId } from '../core/ids.js';
import type { ApiKey, KeyStore } from '../store/keys.js';
import type { Channels } from './registry.js';

/** The key operator test jobs run under (created on first use; visible in the key list). */
export const OPERATOR_KEY_NAME = 'operator: channel tests';

const testJob = z.object({
  model: z.string().min(1).optional(),
  prompt: z.string().trim().min(1).max(32_000).optional(),
  size: z.string().optional(),
  seconds: z.number().int().positive().optional(),
});

async function operatorKey(keys: KeyStore): Promise<ApiKey> {
  return (await keys.list()).find((k) => k.name === OPERATOR_KEY_NAME && k.revokedAt === null && !k.test) ?? (await keys.create(OPERATOR_KEY_NAME)).key;
}

/**
 * POST /admin/v1/channels/{id}/test_job: a real video job sent to this channel and no other (no
 * failover), to check a channel end to end — submit, polling, download. It is free (the operator
 * pays the upstream anyway) and runs under the key "operator: channel tests"; follow it with
 * GET /admin/v1/tasks/{video_id}.
 */
export function testJobRoutes(gw: Gateway, channels: Channels) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    route(
      app,
      {
        method: 'POST',
        url: '/admin/v1/channels/:id/test_job',
        tag: 'Admin: channels',
        summary: 'Send a real test video job to this channel only',
        description: 'Free for the key; runs under the key "operator: channel tests". Follow it with GET /admin/v1/tasks/{video_id}.',
        auth: 'admin',
        params: z.object({ id: pathId('The channel id.') }),
        body: testJob,
        responses: {
          201: {
            description: 'The job was queued.',
            schema: z.object({ object: z.literal('channel.test_job'), channel: z.string(), video_id: z.string(), model: z.string(), size: z.string(), seconds: z.number().int(), status: z.string() }),
          },
        },
      },
      async (_req, reply, { params, body }) => {
        const id = params.id;
        const r = channels.get(id);
        if (!r || r.deleted) throw notFound(`No channel with id '${id}'.`, 'id');
        if (!r.def.enabled) {
          throw new ApiError({ status: 409, type: 'invalid_request_error', code: 'channel_disabled', message: `Channel '${id}' is disabled: enable it before sending a test job.` });
        }
        const served = r.def.models.map((m) => m.model);
        const modelId = body.model ?? served[0];
        const model = modelId === undefined ? undefined : gw.catalog.get(modelId);
        if (!model || !served.includes(model.id)) {
          throw invalid('model', `Channel '${id}' serves ${served.join(', ') || 'no models'}; choose one of them.`);
        }
        const sizes = sizesOf(model);
        const sizeText = body.size ?? formatSize(defaultSizeOf(model));
        const size = sizes.includes(sizeText) ? parseSize(sizeText) : null;
        if (!size) throw invalid('size', `${model.id} makes ${sizes.join(', ')}.`);
        const durations = durationsOf(model);
        const seconds = body.seconds ?? Math.min(...durations);
        if (!durations.includes(seconds)) throw invalid('seconds', `${model.id} makes videos of ${durations.join(', ')} seconds.`);

        const { task } = await gw.service.create({
          keyId: (await operatorKey(gw.keys)).id,
          origin: 'openai',
          kind: 'generate',
          model: model.id,
          prompt: body.prompt ?? `vidgate channel test: ${id}`,
          seconds,
          width: size.width,
          height: size.height,
          params: { channel: id },
          provider: id,
          priceMicros: 0,
        });
        reply.code(201);
        return { object: 'channel.test_job', channel: id, video_id: videoId(task.id), model: model.id, size: sizeText, seconds, status: task.status };
      },
    );
  };
}
