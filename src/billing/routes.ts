import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Gateway } from '../core/gateway.js';
import { route } from '../http/route.js';
import { microsToUsd } from './money.js';
import { parseRange, usageQuery, usageReport, usageSchema } from './usage.js';

const balanceSchema = z.object({
  code: z.literal(200),
  data: z.object({
    balance: z.number(),
    held: z.number().meta({ description: 'Held for unfinished videos.' }),
    credit_limit: z.number(),
    available: z.number().meta({ description: 'What the key can still spend: balance plus credit limit.' }),
    currency: z.literal('USD'),
    test_key: z.boolean(),
  }),
});

/** A key's own balance and usage, in the shapes apimart and new-api (OpenAI legacy billing) clients read. */
export function billingRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const tag = 'Billing';
    const balance = async (keyId: string) => {
      const b = await gw.ledger.balance(keyId);
      return {
        balance: microsToUsd(b.balanceMicros),
        held: microsToUsd(b.heldMicros),
        credit_limit: microsToUsd(b.creditLimitMicros),
        available: microsToUsd(b.balanceMicros + b.creditLimitMicros),
        currency: 'USD',
      };
    };
    for (const url of ['/v1/balance', '/v1/user/balance']) {
      route(
        app,
        { method: 'GET', url, tag, summary: "The key's balance (apimart shape)", auth: 'key', dialect: 'apimart', responses: { 200: balanceSchema } },
        async (req) => ({ code: 200, data: { ...(await balance(req.apiKey.id)), test_key: req.apiKey.test } }),
      );
    }

    route(
      app,
      { method: 'GET', url: '/v1/usage', tag, summary: "The key's usage by day and model", auth: 'key', query: usageQuery, responses: { 200: usageSchema.extend({ key_id: z.string() }) } },
      async (req, _reply, { query }) => {
        const range = parseRange(query, gw.service.now());
        return { ...(await usageReport(gw.db, range, req.apiKey.id)), key_id: req.apiKey.id };
      },
    );

    // OpenAI's legacy billing endpoints, as new-api and one-api serve them for dashboards and SDKs.
    const spentAll = async (keyId: string) => (await usageReport(gw.db, { start: '1970-01-01', end: '9999-12-31' }, keyId)).totals.cost_usd;
    for (const prefix of ['', '/v1']) {
      route(
        app,
        {
          method: 'GET',
          url: `${prefix}/dashboard/billing/subscription`,
          tag,
          summary: 'Spending limit (OpenAI legacy billing shape)',
          auth: 'key',
          responses: {
            200: z.object({
              object: z.literal('billing_subscription'),
              has_payment_method: z.boolean(),
              soft_limit_usd: z.number(),
              hard_limit_usd: z.number(),
              system_hard_limit_usd: z.number(),
              access_until: z.number(),
            }),
          },
        },
        async (req) => {
          const b = await balance(req.apiKey.id);
          const hard = b.available + (await spentAll(req.apiKey.id));
          return {
            object: 'billing_subscription',
            has_payment_method: true,
            soft_limit_usd: hard,
            hard_limit_usd: hard,
            system_hard_limit_usd: hard,
            access_until: 0,
          };
        },
      );
      route(
        app,
        {
          method: 'GET',
          url: `${prefix}/dashboard/billing/usage`,
          tag,
          summary: 'Spending in a date range (OpenAI legacy billing shape)',
          auth: 'key',
          query: usageQuery,
          responses: { 200: z.object({ object: z.literal('list'), total_usage: z.number().meta({ description: 'US cents.' }) }) },
        },
        async (req, _reply, { query }) => {
          const report = await usageReport(gw.db, parseRange(query, gw.service.now()), req.apiKey.id);
          // total_usage is in US cents, as in OpenAI's legacy endpoint.
          return { object: 'list', total_usage: Math.round(report.totals.cost_usd * 100 * 1e4) / 1e4 };
        },
      );
    }
  };
}
