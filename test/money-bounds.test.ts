import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MONEY_BOUNDS, usdToMicros } from '../src/billing/money.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';

const ADMIN = 'money-bounds-admin-token-0123456789';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({ adminToken: ADMIN });
});
afterAll(async () => gw?.close());

/** Send a raw JSON text, so that numbers JSON.stringify cannot write (1e309 → Infinity) reach the server. */
const raw = async (method: string, p: string, json: string) => {
  const res = await fetch(`${gw.url}${p}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: json });
  return { status: res.status, body: (await res.json()) as { error?: { param: string | null; message: string }; balance_usd?: number; id?: string } };
};
const send = (method: string, p: string, body: unknown) => raw(method, p, JSON.stringify(body));

describe('money values are bounded', () => {
  it('a credit or adjustment that is not finite, absurd or below a micro-dollar is a 400 naming amount_usd; the balance is unchanged and still usable', async () => {
    const k = (await send('POST', '/admin/v1/keys', { name: 'bounded', credit_usd: 10 })).body as { id: string };
    const path = `/admin/v1/keys/${k.id}/credit`;
    for (const amount of ['1e308', '-1e308', '1e309', '-1e309', String(MONEY_BOUNDS.maxCreditUsd + 0.01), '1e-9', '"12"', 'null', 'true']) {
      const r = await raw('POST', path, `{"amount_usd": ${amount}}`);
      expect(r.status, amount).toBe(400);
      expect(r.body.error?.param, amount).toBe('amount_usd');
      expect(r.body.error?.message, amount).toMatch(/amount_usd/);
    }
    expect((await send('GET', `/admin/v1/keys/${k.id}`, undefined)).body.balance_usd).toBe(10);
    // The largest single credit is accepted; the next adjustment works (no Infinity, no 500).
    expect((await send('POST', path, { amount_usd: MONEY_BOUNDS.maxCreditUsd })).status).toBe(200);
    const after = await send('POST', path, { amount_usd: -0.5 });
    expect(after.status).toBe(200);
    expect(after.body.balance_usd).toBe(MONEY_BOUNDS.maxCreditUsd + 9.5);
  });

  it('a balance cannot be pushed past the largest allowed', async () => {
    const k = (await send('POST', '/admin/v1/keys', { name: 'rich' })).body as { id: string };
    const { ledger, db } = gw.app.gateway;
    await db.transaction((tx) => ledger.in(tx).post(k.id, 'topup', usdToMicros(MONEY_BOUNDS.maxBalanceUsd) - usdToMicros(1), Date.now()));
    const over = await send('POST', `/admin/v1/keys/${k.id}/credit`, { amount_usd: 2 });
    expect(over.status).toBe(400);
    expect(over.body.error?.param).toBe('amount_usd');
    expect((await send('POST', `/admin/v1/keys/${k.id}/credit`, { amount_usd: 1 })).status).toBe(200);
    expect((await send('GET', `/admin/v1/keys/${k.id}`, undefined)).body.balance_usd).toBe(MONEY_BOUNDS.maxBalanceUsd);
  });

  it('initial credit, credit line and per-key limits: 400 naming the field, and nothing created', async () => {
    const before = ((await send('GET', '/admin/v1/keys', undefined)).body as unknown as { data: unknown[] }).data.length;
    const cases: [string, string][] = [
      ['credit_usd', '{"name":"x","credit_usd":1e308}'],
      ['credit_usd', '{"name":"x","credit_usd":1e309}'],
      ['credit_usd', '{"name":"x","credit_usd":-5}'],
      ['credit_usd', '{"name":"x","credit_usd":1e-9}'],
      ['credit_limit_usd', '{"name":"x","credit_limit_usd":1e308}'],
      ['credit_limit_usd', '{"name":"x","credit_limit_usd":-1e309}'],
      ['rpm_limit', '{"name":"x","rpm_limit":1e308}'],
      ['max_inflight', '{"name":"x","max_inflight":1e20}'],
    ];
    for (const [param, json] of cases) {
      const r = await raw('POST', '/admin/v1/keys', json);
      expect(r.status, json).toBe(400);
      expect(r.body.error?.param, json).toBe(param);
    }
    expect(((await send('GET', '/admin/v1/keys', undefined)).body as unknown as { data: unknown[] }).data.length).toBe(before);
    const k = (await send('POST', '/admin/v1/keys', { name: 'limits' })).body as { id: string };
    for (const [param, json] of [
      ['credit_limit_usd', '{"credit_limit_usd":1e308}'],
      ['credit_limit_usd', `{"credit_limit_usd":${MONEY_BOUNDS.maxCreditLimitUsd + 1}}`],
      ['rpm_limit', '{"rpm_limit":1e309}'],
      ['max_inflight', `{"max_inflight":${MONEY_BOUNDS.maxKeyLimit + 1}}`],
    ]) {
      const r = await raw('PATCH', `/admin/v1/keys/${k.id}`, json!);
      expect(r.status, json).toBe(400);
      expect(r.body.error?.param, json).toBe(param);
    }
    const ok = await send('PATCH', `/admin/v1/keys/${k.id}`, { credit_limit_usd: MONEY_BOUNDS.maxCreditLimitUsd, rpm_limit: 600 });
    expect(ok.status).toBe(200);
  });

  it('prices: list price overrides and channel prices and markups refuse non-finite and absurd values', async () => {
    for (const v of ['1e308', '1e309', '-1', String(MONEY_BOUNDS.maxUsdPerSecond + 1)]) {
      const r = await raw('PUT', '/admin/v1/prices', `{"model":"sora-2","tier":"720p","usd_per_second":${v}}`);
      expect(r.status, v).toBe(400);
      expect(r.body.error?.param, v).toBe('usd_per_second');
    }
    const channel = (extra: string) =>
      raw('POST', '/admin/v1/channels', `{"id":"c1","type":"openai-compatible","base_url":"http://127.0.0.1:9","api_key":"sk-x","models":["sora-2"]${extra}}`);
    for (const [param, extra] of [
      ['markup', ',"markup":1e308'],
      ['markup', ',"markup":1e309'],
    ]) {
      const r = await channel(extra!);
      expect(r.status, extra).toBe(400);
      expect(r.body.error?.param, extra).toBe(param);
    }
    const price = await raw('POST', '/admin/v1/channels', '{"id":"c2","type":"openai-compatible","base_url":"http://127.0.0.1:9","api_key":"sk-x","models":[{"model":"sora-2","usd_per_second":{"720p":1e309}}]}');
    expect(price.status).toBe(400);
    expect(price.body.error?.param).toMatch(/^models(\.0|\[0\])/);
  });
});
