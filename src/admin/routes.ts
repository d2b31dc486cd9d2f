import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { entryView } from '../billing/accounts.js';
import { MONEY_BOUNDS, usdToMicros } from '../billing/money.js';
import { parseRange, usageReport } from '../billing/usage.js';
import { invalid, notFound } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import type { PriceKey } from '../billing/prices.js';
import { RESOLUTIONS } from '../core/video-request.js';
import type { Resolution } from '../core/video-request.js';

/** Parse a JSON body with a Zod schema; the first issue becomes a 400 naming its field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.join('.') || null;
  throw invalid(param, param ? `Invalid '${param}': ${issue.message}` : issue.message);
}

const B = MONEY_BOUNDS;
/** A finite number of US dollars from min to max; the message names the bounds. */
const usd = (min: number, max: number) =>
  z.number({ error: `must be a number of US dollars from ${min} to ${max}` }).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const nonZero = (v: number) => usdToMicros(v) !== 0;
const limitMsg = `must be an integer from 1 to ${B.maxKeyLimit}, or null for the default`;
const limit = z.number({ error: limitMsg }).int(limitMsg).min(1, limitMsg).max(B.maxKeyLimit, limitMsg).nullable();
const keyLimits = {
  rpm_limit: limit.optional(),
  max_inflight: limit.optional(),
  credit_limit_usd: usd(0, B.maxCreditLimitUsd).optional(),
};
const createKey = z.object({
  name: z.string().trim().min(1).max(200),
  test: z.boolean().optional(),
  credit_usd: usd(0, B.maxCreditUsd).refine(nonZero, 'must be at least 0.000001').optional(),
  ...keyLimits,
});
const updateKey = z.object({ name: z.string().trim().min(1).max(200).optional(), ...keyLimits });
const credit = z.object({ amount_usd: usd(-B.maxCreditUsd, B.maxCreditUsd).refine(nonZero, 'must be at least 0.000001 either way'), note: z.string().max(500).optional() });
/** A price override: the model and the dimensions it prices (absent = any). `tier` is the older name of `resolution` ('1024p' = 'high'). */
const price = z
  .object({
    model: z.string().min(1),
    resolution: z.enum(RESOLUTIONS).optional(),
    tier: z.enum(['720p', '1024p', '1080p']).optional(),
    audio: z.boolean().optional(),
    mode: z.string().min(1).max(50).optional(),
    usd_per_second: usd(0, B.maxUsdPerSecond),
  })
  .strict()
  .refine((p) => p.resolution === undefined || p.tier === undefined, { message: 'give resolution or tier, not both', path: ['tier'] });

/** DELETE's path resolution: a resolution, a legacy tier, or 'any'. */
function pathResolution(value: string): Resolution | null {
  if (value === 'any') return null;
  if (value === '1024p') return 'high';
  if ((RESOLUTIONS as readonly string[]).includes(value)) return value as Resolution;
  throw invalid('resolution', `resolution must be 'any' or one of ${RESOLUTIONS.map((r) => `'${r}'`).join(', ')}.`);
}

/** The operator API under /admin/v1, guarded by VIDGATE_ADMIN_TOKEN. */
export function adminRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const config = { admin: true };
    const defaults = gw.config.limits;
    const view = (idOrPrefix: string) => gw.accounts.view(gw.accounts.key(idOrPrefix), defaults);
    const limitsOf = (b: z.infer<typeof updateKey>) => ({
      name: b.name,
      rpmLimit: b.rpm_limit,
      maxInflight: b.max_inflight,
      creditLimitMicros: b.credit_limit_usd === undefined ? undefined : usdToMicros(b.credit_limit_usd),
    });

    // ---- keys ----
    app.get('/admin/v1/keys', { config }, async () => ({ object: 'list', data: gw.keys.list().map((k) => gw.accounts.view(k, defaults)) }));

    app.post('/admin/v1/keys', { config }, async (req) => {
      const body = parseBody(createKey, req.body);
      const { key, secret } = gw.keys.create(body.name, { test: body.test });
      gw.accounts.setLimits(key.id, limitsOf(body));
      if (body.credit_usd) gw.accounts.credit(key.id, body.credit_usd, 'initial credit', gw.service.now(), 'credit_usd');
      return { ...view(key.id), key: secret };
    });

    app.get('/admin/v1/keys/:id', { config }, async (req) => view((req.params as { id: string }).id));

    app.patch('/admin/v1/keys/:id', { config }, async (req) => {
      const id = gw.accounts.key((req.params as { id: string }).id).id;
      gw.accounts.setLimits(id, limitsOf(parseBody(updateKey, req.body)));
      return view(id);
    });

    app.delete('/admin/v1/keys/:id', { config }, async (req) => {
      const key = gw.accounts.key((req.params as { id: string }).id);
      gw.keys.revoke(key.id);
      return view(key.id);
    });

    // ---- money ----
    app.post('/admin/v1/keys/:id/credit', { config }, async (req) => {
      const body = parseBody(credit, req.body);
      const entry = gw.accounts.credit((req.params as { id: string }).id, body.amount_usd, body.note ?? null, gw.service.now());
      return { ...view(entry.keyId), entry: entryView(entry) };
    });

    app.get('/admin/v1/keys/:id/ledger', { config }, async (req) => {
      const key = gw.accounts.key((req.params as { id: string }).id);
      const q = req.query as { limit?: string; before?: string };
      const n = q.limit === undefined ? 100 : Number(q.limit);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw invalid('limit', 'limit must be an integer from 1 to 1000.');
      const entries = gw.ledger.entries(key.id, n, q.before ? Number(q.before) : undefined);
      return {
        object: 'list',
        data: entries.map(entryView),
        balance_usd: view(key.id).balance_usd,
        recomputed_balance_usd: gw.ledger.recompute(key.id) / 1e6,
      };
    });

    app.get('/admin/v1/usage', { config }, async (req) => {
      const q = req.query as Record<string, string>;
      const range = parseRange(q, gw.service.now());
      return usageReport(gw.db, range, q.key_id ? gw.accounts.key(q.key_id).id : undefined);
    });

    // ---- prices ----
    app.get('/admin/v1/prices', { config }, async () => ({ object: 'list', data: gw.prices.list(), sandbox_pricing: gw.config.billing.sandboxPricing }));

    app.put('/admin/v1/prices', { config }, async (req) => {
      const body = parseBody(price, req.body);
      const model = gw.catalog.get(body.model);
      if (!model) throw notFound(`Unknown model '${body.model}'.`, 'model');
      const key: PriceKey = {
        resolution: body.resolution ?? (body.tier === undefined ? null : body.tier === '1024p' ? 'high' : body.tier),
        audio: body.audio ?? null,
        mode: body.mode ?? null,
      };
      if (body.mode !== undefined && !model.modes?.includes(body.mode)) {
        throw invalid('mode', `${model.id} has ${model.modes?.length ? `the modes ${model.modes.join(', ')}` : 'no modes'}.`);
      }
      gw.prices.set(model.id, key, body.usd_per_second, gw.service.now());
      return { object: 'list', data: gw.prices.list() };
    });

    app.delete('/admin/v1/prices/:model/:resolution', { config }, async (req) => {
      const p = req.params as { model: string; resolution: string };
      const q = req.query as Record<string, string | undefined>;
      if (q.audio !== undefined && q.audio !== 'true' && q.audio !== 'false') throw invalid('audio', "audio must be 'true' or 'false' (absent = any).");
      const model = gw.catalog.get(p.model)?.id ?? p.model;
      gw.prices.reset(model, { resolution: pathResolution(p.resolution), audio: q.audio === undefined ? null : q.audio === 'true', mode: q.mode || null });
      return { object: 'list', data: gw.prices.list() };
    });
  };
}
