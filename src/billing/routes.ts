import type { FastifyInstance } from 'fastify';
import type { Gateway } from '../core/gateway.js';
import { microsToUsd } from './money.js';
import { parseRange, usageReport } from './usage.js';

/** A key's own balance and usage, in the shapes apimart and new-api (OpenAI legacy billing) clients read. */
export function billingRoutes(gw: Gateway) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const config = { dialect: 'openai' as const };

    const balance = (keyId: string) => {
      const b = gw.ledger.balance(keyId);
      return {
        balance: microsToUsd(b.balanceMicros),
        held: microsToUsd(b.heldMicros),
        credit_limit: microsToUsd(b.creditLimitMicros),
        available: microsToUsd(b.balanceMicros + b.creditLimitMicros),
        currency: 'USD',
      };
    };
    for (const path of ['/v1/balance', '/v1/user/balance']) {
      app.get(path, { config: { dialect: 'apimart' as const } }, async (req) => ({
        code: 200,
        data: { ...balance(req.apiKey.id), test_key: req.apiKey.test },
      }));
    }

    app.get('/v1/usage', { config }, async (req) => {
      const range = parseRange(req.query as Record<string, string>, gw.service.now());
      return { ...usageReport(gw.db, range, req.apiKey.id), key_id: req.apiKey.id };
    });

    // OpenAI's legacy billing endpoints, as new-api and one-api serve them for dashboards and SDKs.
    const spentAll = (keyId: string) => usageReport(gw.db, { start: '1970-01-01', end: '9999-12-31' }, keyId).totals.cost_usd;
    for (const prefix of ['', '/v1']) {
      app.get(`${prefix}/dashboard/billing/subscription`, { config }, async (req) => {
        const b = balance(req.apiKey.id);
        const hard = b.available + spentAll(req.apiKey.id);
        return {
          object: 'billing_subscription',
          has_payment_method: true,
          soft_limit_usd: hard,
          hard_limit_usd: hard,
          system_hard_limit_usd: hard,
          access_until: 0,
        };
      });
      app.get(`${prefix}/dashboard/billing/usage`, { config }, async (req) => {
        const range = parseRange(req.query as Record<string, string>, gw.service.now());
        const report = usageReport(gw.db, range, req.apiKey.id);
        // total_usage is in US cents, as in OpenAI's legacy endpoint.
        return { object: 'list', total_usage: Math.round(report.totals.cost_usd * 100 * 1e4) / 1e4 };
      });
    }
  };
}
