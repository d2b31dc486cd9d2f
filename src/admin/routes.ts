import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { invalid, notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import type { ApiKey } from '../store/keys.js';

/** Parse a JSON body with a Zod schema; the first issue becomes a 400 naming its field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.join('.') || null;
  throw invalid(param, param ? `Invalid '${param}': ${issue.message}` : issue.message);
}

export const keyView = (k: ApiKey) => ({
  id: k.id,
  object: 'api_key',
  name: k.name,
  prefix: k.prefix,
  test: k.test,
  created_at: Math.floor(k.createdAt / 1000),
  revoked_at: k.revokedAt === null ? null : Math.floor(k.revokedAt / 1000),
});

const createKey = z.object({ name: z.string().trim().min(1).max(200), test: z.boolean().optional() });

/** The operator API under /admin/v1, guarded by VIDGATE_ADMIN_TOKEN. */
export function adminRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const config = { admin: true };

    app.get('/admin/v1/keys', { config }, async () => ({ object: 'list', data: gw.keys.list().map(keyView) }));

    app.post('/admin/v1/keys', { config }, async (req) => {
      const body = parseBody(createKey, req.body);
      const { key, secret } = gw.keys.create(body.name, { test: body.test });
      return { ...keyView(key), key: secret };
    });

    app.get('/admin/v1/keys/:id', { config }, async (req) => {
      const key = gw.keys.get((req.params as { id: string }).id);
      if (!key) throw notFound('No such key.', 'id');
      return keyView(key);
    });

    app.delete('/admin/v1/keys/:id', { config }, async (req) => {
      const id = (req.params as { id: string }).id;
      if (!gw.keys.get(id)) throw notFound('No such key.', 'id');
      const revoked = gw.keys.revoke(id);
      return keyView(revoked ?? gw.keys.get(id)!);
    });
  };
}
