import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { entrySchema, entryView, keyViewSchema } from '../billing/accounts.js';
import { MONEY_BOUNDS, usdToMicros } from '../billing/money.js';
import { parseRange, usageQuery, usageReport, usageSchema } from '../billing/usage.js';
import { optText, queryInt, route } from '../http/route.js';
import { listOf } from '../http/schemas.js';
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
/** A finite number of US dollars from min to max; the messages name the field and the bounds. */
const usd = (field: string, min: number, max: number, nonZero = false) => {
  const msg = `${field} must be a number of US dollars from ${min} to ${max}${nonZero ? ', at least 0.000001 either way' : ''}.`;
  const n = z.number({ error: msg }).min(min, msg).max(max, msg);
  return nonZero ? n.refine((v) => usdToMicros(v) !== 0, msg) : n;
};
const limit = (field: string) => {
  const msg = `${field} must be an integer from 1 to ${B.maxKeyLimit}, or null for the default.`;
  return z.number({ error: msg }).int(msg).min(1, msg).max(B.maxKeyLimit, msg).nullable();
};
const keyLimits = {
  rpm_limit: limit('rpm_limit').optional(),
  max_inflight: limit('max_inflight').optional(),
  credit_limit_usd: usd('credit_limit_usd', 0, B.maxCreditLimitUsd).optional(),
};
const createKey = z.object({
  name: z.string().trim().min(1).max(200),
  test: z.boolean().optional(),
  credit_usd: usd('credit_usd', 0, B.maxCreditUsd, true).optional(),
  ...keyLimits,
});
const updateKey = z.object({ name: z.string().trim().min(1).max(200).optional(), ...keyLimits });
const credit = z.object({ amount_usd: usd('amount_usd', -B.maxCreditUsd, B.maxCreditUsd, true), note: z.string().max(500).optional() });
/** A price override: the model and the dimensions it prices (absent = any). `tier` is the older name of `resolution` ('1024p' = 'high'). */
const price = z
  .object({
    model: z.string().min(1),
    resolution: z.enum(RESOLUTIONS).optional(),
    tier: z.enum(['720p', '1024p', '1080p']).optional(),
    audio: z.boolean().optional(),
    mode: z.string().min(1).max(50).optional(),
    usd_per_second: usd('usd_per_second', 0, B.maxUsdPerSecond),
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

const idParams = z.object({ id: z.string().min(1).max(200).meta({ description: 'The key id or its prefix.' }) });
const priceList = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      model: z.string(),
      resolution: z.enum(RESOLUTIONS).nullable().meta({ description: 'null: any resolution.' }),
      audio: z.boolean().nullable().meta({ description: 'null: with or without audio.' }),
      mode: z.string().nullable().meta({ description: 'null: any mode.' }),
      usd_per_second: z.number(),
      source: z.enum(['catalogue', 'override']),
    }),
  ),
});

/** The operator API under /admin/v1, guarded by VIDGATE_ADMIN_TOKEN. */
export function adminRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const tag = 'Admin: keys and money';
    const defaults = gw.config.limits;
    const view = async (idOrPrefix: string) => gw.accounts.view(await gw.accounts.key(idOrPrefix), defaults);
    const limitsOf = (b: z.infer<typeof updateKey>) => ({
      name: b.name,
      rpmLimit: b.rpm_limit,
      maxInflight: b.max_inflight,
      creditLimitMicros: b.credit_limit_usd === undefined ? undefined : usdToMicros(b.credit_limit_usd),
    });
    const admin = { auth: 'admin' as const, tag };

    // ---- keys ----
    route(app, { ...admin, method: 'GET', url: '/admin/v1/keys', summary: 'List API keys', responses: { 200: listOf(keyViewSchema) } }, async () => ({
      object: 'list',
      data: await Promise.all((await gw.keys.list()).map((k) => gw.accounts.view(k, defaults))),
    }));

    route(
      app,
      {
        ...admin,
        method: 'POST',
        url: '/admin/v1/keys',
        summary: 'Create an API key',
        description: 'The secret is in the answer once (`key`); only its hash is stored.',
        body: createKey,
        bodyExamples: { customer: { summary: 'A customer key with credit', value: { name: 'acme', credit_usd: 50, rpm_limit: 600 } } },
        responses: { 200: keyViewSchema.extend({ key: z.string().meta({ description: 'The secret, shown once.' }) }) },
      },
      async (_req, _reply, { body }) => {
        const { key, secret } = await gw.keys.create(body.name, { test: body.test });
        await gw.accounts.setLimits(key.id, limitsOf(body));
        if (body.credit_usd) await gw.accounts.credit(key.id, body.credit_usd, 'initial credit', gw.service.now(), 'credit_usd');
        return { ...(await view(key.id)), key: secret };
      },
    );

    route(app, { ...admin, method: 'GET', url: '/admin/v1/keys/:id', summary: 'Retrieve an API key', params: idParams, responses: { 200: keyViewSchema } }, async (_req, _reply, { params }) =>
      view(params.id),
    );

    route(
      app,
      { ...admin, method: 'PATCH', url: '/admin/v1/keys/:id', summary: "Rename a key or change its limits", params: idParams, body: updateKey, responses: { 200: keyViewSchema } },
      async (_req, _reply, { params, body }) => {
        const id = (await gw.accounts.key(params.id)).id;
        await gw.accounts.setLimits(id, limitsOf(body));
        return view(id);
      },
    );

    route(app, { ...admin, method: 'DELETE', url: '/admin/v1/keys/:id', summary: 'Revoke an API key', params: idParams, responses: { 200: keyViewSchema } }, async (_req, _reply, { params }) => {
      const key = await gw.accounts.key(params.id);
      await gw.keys.revoke(key.id);
      return view(key.id);
    });

    // ---- money ----
    route(
      app,
      {
        ...admin,
        method: 'POST',
        url: '/admin/v1/keys/:id/credit',
        summary: 'Add (or remove) credit',
        params: idParams,
        body: credit,
        bodyExamples: { topUp: { summary: 'A top-up', value: { amount_usd: 25, note: 'invoice 2026-11' } } },
        responses: { 200: keyViewSchema.extend({ entry: entrySchema }) },
      },
      async (_req, _reply, { params, body }) => {
        const entry = await gw.accounts.credit(params.id, body.amount_usd, body.note ?? null, gw.service.now());
        return { ...(await view(entry.keyId)), entry: entryView(entry) };
      },
    );

    route(
      app,
      {
        ...admin,
        method: 'GET',
        url: '/admin/v1/keys/:id/ledger',
        summary: "A key's ledger entries, newest first",
        params: idParams,
        query: z.object({
          limit: queryInt('limit', 1, 1000, 100),
          before: z.string().regex(/^\d{1,15}$/, { error: "before must be a ledger entry id (an integer)." }).optional().meta({ description: 'An entry id: the page starts before it.' }),
        }),
        responses: {
          200: z.object({ object: z.literal('list'), data: z.array(entrySchema), balance_usd: z.number(), recomputed_balance_usd: z.number().meta({ description: 'The balance summed from the entries (always equal).' }) }),
        },
      },
      async (_req, _reply, { params, query }) => {
        const key = await gw.accounts.key(params.id);
        const entries = await gw.ledger.entries(key.id, query.limit, query.before ? Number(query.before) : undefined);
        return {
          object: 'list',
          data: entries.map(entryView),
          balance_usd: (await view(key.id)).balance_usd,
          recomputed_balance_usd: (await gw.ledger.recompute(key.id)) / 1e6,
        };
      },
    );

    route(
      app,
      {
        ...admin,
        method: 'GET',
        url: '/admin/v1/usage',
        summary: 'Usage of all keys (or one) by day, model and key',
        query: usageQuery.extend({ key_id: optText('Only this key (id or prefix).', 200) }),
        responses: { 200: usageSchema },
      },
      async (_req, _reply, { query }) => {
        const range = parseRange(query, gw.service.now());
        return usageReport(gw.db, range, query.key_id ? (await gw.accounts.key(query.key_id)).id : undefined);
      },
    );

    // ---- prices ----
    const prices = priceList.extend({ sandbox_pricing: z.string().optional() });
    route(app, { ...admin, method: 'GET', url: '/admin/v1/prices', summary: 'List prices', responses: { 200: prices } }, async () => ({
      object: 'list',
      data: await gw.prices.list(),
      sandbox_pricing: gw.config.billing.sandboxPricing,
    }));

    route(
      app,
      {
        ...admin,
        method: 'PUT',
        url: '/admin/v1/prices',
        summary: "Override a model's price (per resolution, audio and mode, or any)",
        body: price,
        bodyExamples: { high: { summary: 'sora-2-pro at high resolution', value: { model: 'sora-2-pro', resolution: 'high', usd_per_second: 0.45 } } },
        responses: { 200: priceList },
      },
      async (_req, _reply, { body }) => {
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
        await gw.prices.set(model.id, key, body.usd_per_second, gw.service.now());
        return { object: 'list', data: await gw.prices.list() };
      },
    );

    route(
      app,
      {
        ...admin,
        method: 'DELETE',
        url: '/admin/v1/prices/:model/:resolution',
        summary: 'Remove a price override (back to the list price)',
        params: z.object({
          model: z.string().min(1).max(200),
          resolution: z.string().max(20).meta({ description: `'any', or one of ${RESOLUTIONS.join(', ')} ('1024p' is the older name of 'high').` }),
        }),
        query: z.object({
          audio: z.enum(['true', 'false']).optional().meta({ description: 'The override with or without audio (absent = any).' }),
          mode: optText('The override of this mode (absent = any).', 50),
        }),
        responses: { 200: priceList },
      },
      async (_req, _reply, { params, query }) => {
        const model = gw.catalog.get(params.model)?.id ?? params.model;
        await gw.prices.reset(model, { resolution: pathResolution(params.resolution), audio: query.audio === undefined ? null : query.audio === 'true', mode: query.mode ?? null });
        return { object: 'list', data: await gw.prices.list() };
      },
    );
  };
}
