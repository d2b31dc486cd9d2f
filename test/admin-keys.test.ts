import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkContract } from './helpers/contract.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const ADMIN = 'admin-token-for-tests-0123456789';

describe('admin API: keys', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ adminToken: ADMIN });
  });
  afterAll(async () => gw?.close());
  const admin = (path: string, init: RequestInit = {}, token = ADMIN) =>
    fetch(`${gw.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });

  it('creates a key shown once, lists it without the secret, and revokes it', async () => {
    const res = await admin('/admin/v1/keys', { method: 'POST', body: JSON.stringify({ name: 'customer-a' }) });
    expect(res.status).toBe(200);
    const created = (await res.json()) as { id: string; key: string; name: string };
    expect(created.key).toMatch(/^vg_live_/);
    const list = (await (await admin('/admin/v1/keys')).json()) as { data: { id: string }[] };
    expect(list.data.map((k) => k.id)).toContain(created.id);
    expect(JSON.stringify(list)).not.toContain(created.key);

    const use = () => fetch(`${gw.url}/v1/videos`, { headers: { authorization: `Bearer ${created.key}` } });
    expect((await use()).status).toBe(200);
    const revoked = (await (await admin(`/admin/v1/keys/${created.id}`, { method: 'DELETE' })).json()) as { revoked_at: number | null };
    expect(revoked.revoked_at).not.toBeNull();
    expect((await use()).status).toBe(401);
  });

  it('needs the admin token: an API key or a wrong token is a 401', async () => {
    expect((await admin('/admin/v1/keys', {}, gw.key)).status).toBe(401);
    expect((await admin('/admin/v1/keys', {}, 'wrong-token-wrong-token')).status).toBe(401);
    expect((await fetch(`${gw.url}/admin/v1/keys`)).status).toBe(401);
  });

  it('validates bodies with a 400 naming the field', async () => {
    const res = await admin('/admin/v1/keys', { method: 'POST', body: JSON.stringify({ name: '' }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('name');
  });

  it('is disabled (403) when no admin token is configured', async () => {
    const plain = await startGateway();
    try {
      const res = await fetch(`${plain.url}/admin/v1/keys`, { headers: { authorization: 'Bearer anything-at-all-here' } });
      expect(res.status).toBe(403);
    } finally {
      await plain.close();
    }
  });
});
