import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenAIVideosFake } from '../fakes/index.js';
import { startOpenAIVideosFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { cli } from '../helpers/process.js';
import { channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';
import { checkContract } from '../helpers/contract.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const ADMIN = 'admin-token-channels-test';
const SECRET = 'sk-upstream-SECRET-4f9a8b7c6d5e';
const ROTATED = 'sk-upstream-ROTATED-0a1b2c3d4e5f';

/** Channels through the admin API and the `vidgate channel` CLI. Build first (npm run build). */
describe('channels admin API and CLI', () => {
  let fake: OpenAIVideosFake;
  let gw: TestGateway;
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${gw.url}/admin/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> & { error?: { param: string | null; code: string; message: string; type: string } } };
  };

  beforeAll(async () => {
    fake = await startOpenAIVideosFake({ apiKey: [SECRET, ROTATED, 'sk-config-key-000111'], script: { queuedMs: 50, runMs: 200 } });
    gw = await startWithChannels([channel('from-config', 'openai-compatible', fake.baseURL, { api_key: 'sk-config-key-000111', models: ['sora-2-pro'] })], { adminToken: ADMIN });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('creates, reads, updates and removes channels; never returns or stores credentials in the clear', async () => {
    const created = await api('POST', '/channels', {
      id: 'acme',
      type: 'openai-compatible',
      base_url: `${fake.baseURL}/`,
      api_key: SECRET,
      headers: { 'OpenAI-Organization': 'org-secret-123456' },
      models: ['sora-2', { model: 'sora-2-2025-10-06', upstream_model: 'sora-2' }],
      priority: 5,
      concurrency: 4,
      rpm: 600,
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: 'acme', base_url: fake.baseURL, api_key_set: true, header_names: ['OpenAI-Organization'], priority: 5, source: 'api', state: 'active' });
    for (const r of [created, await api('GET', '/channels'), await api('GET', '/channels/acme'), await api('GET', '/channels/acme/health')]) {
      expect(r.text).not.toContain(SECRET);
      expect(r.text).not.toContain('org-secret-123456');
    }
    // It serves tasks with its key and headers.
    const v = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'through an API-made channel' });
    await waitAllTerminal(gw, gw.key, [v.json.id as string], 20_000);
    const sub = fake.requests.find((r) => r.route === 'submit')!;
    expect(sub.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(sub.headers['openai-organization']).toBe('org-secret-123456');

    // Rotate the key; the next task uses the new one.
    const patched = await api('PATCH', '/channels/acme', { api_key: ROTATED, weight: 3 });
    expect(patched.status).toBe(200);
    expect(patched.json.weight).toBe(3);
    const w = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'after rotation' });
    await waitAllTerminal(gw, gw.key, [w.json.id as string], 20_000);
    expect(fake.requests.filter((r) => r.route === 'submit').at(-1)!.headers.authorization).toBe(`Bearer ${ROTATED}`);

    // A copy of the database alone reveals no credential.
    const db = new Database(path.join(gw.dataDir, 'vidgate.db'), { readonly: true });
    const row = db.prepare(`SELECT credentials FROM channels WHERE id = 'acme'`).get() as { credentials: string };
    db.close();
    expect(row.credentials).toMatch(/^v1\./);
    const bytes = readFileSync(path.join(gw.dataDir, 'vidgate.db')).toString('latin1') + readFileSync(path.join(gw.dataDir, 'vidgate.db-wal')).toString('latin1');
    for (const s of [SECRET, ROTATED, 'org-secret-123456', 'sk-config-key-000111']) expect(bytes).not.toContain(s);

    expect((await api('PATCH', '/channels/acme', { enabled: false })).json.state).toBe('disabled');
    const removed = await api('DELETE', '/channels/acme');
    expect(removed.json).toMatchObject({ deleted: true, state: 'removed' });
    expect((await api('GET', '/channels/acme')).status).toBe(404);
    expect(((await api('GET', '/channels')).json.data as { id: string }[]).map((c) => c.id)).toEqual(['from-config']);
  });

  it('rejects bad definitions with a 400 naming the field, and keeps config-file channels read-only', async () => {
    const base = { id: 'bad', type: 'openai-compatible', base_url: fake.baseURL, models: ['sora-2'] };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...base, type: 'no-such-adapter' }, 'type'],
      [{ ...base, base_url: 'ftp://x' }, 'base_url'],
      [{ ...base, base_url: 'https://user:pw@example.com/v1' }, 'base_url'],
      [{ ...base, models: ['no-such-model'] }, 'models.0.model'],
      [{ ...base, models: [] }, 'models'],
      [{ ...base, options: { auth: 'cookie' } }, 'options.auth'],
      [{ ...base, options: { nope: 1 } }, 'options'],
      [{ ...base, id: 'Has Spaces' }, 'id'],
      [{ ...base, id: 'sandbox' }, 'id'],
      [{ ...base, weight: 0 }, 'weight'],
      [{ ...base, surprise: true }, null as unknown as string],
    ];
    for (const [body, param] of cases) {
      const r = await api('POST', '/channels', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error!.type).toBe('invalid_request_error');
      if (param) expect(r.json.error!.param, JSON.stringify(body)).toBe(param);
    }
    const ro = await api('PATCH', '/channels/from-config', { weight: 2 });
    expect(ro.status).toBe(409);
    expect(ro.json.error!.code).toBe('channel_read_only');
    expect((await api('DELETE', '/channels/from-config')).status).toBe(409);
    const dup = await api('POST', '/channels', { ...base, id: 'from-config' });
    expect(dup.status).toBe(409);
    const noAuth = await fetch(`${gw.url}/admin/v1/channels`);
    expect(noAuth.status).toBe(401);
  });

  it('the CLI is a front for the same API', async () => {
    const env = { VIDGATE_URL: gw.url, VIDGATE_ADMIN_TOKEN: ADMIN, UPSTREAM_KEY: SECRET };
    const add = await cli(
      ['channel', 'add', 'cli-made', '--type', 'openai-compatible', '--base-url', fake.baseURL, '--api-key-env', 'UPSTREAM_KEY', '--model', 'sora-2', '--model', 'sora-2-2025-12-08=sora-2', '--priority', '3', '--option', 'variants=false', '--json'],
      env,
    );
    const made = JSON.parse(add.stdout) as { id: string; api_key_set: boolean; options: Record<string, unknown>; models: { model: string; upstream_model: string }[] };
    expect(made).toMatchObject({ id: 'cli-made', api_key_set: true, options: { variants: false } });
    expect(made.models[1]).toEqual({ model: 'sora-2-2025-12-08', upstream_model: 'sora-2', usd_per_second: null });
    const list = JSON.parse((await cli(['channel', 'list', '--json'], env)).stdout) as { id: string }[];
    expect(list.map((c) => c.id).sort()).toEqual(['cli-made', 'from-config']);
    expect((await cli(['channel', 'list'], env)).stdout).toContain('cli-made  openai-compatible  active');
    expect(JSON.parse((await cli(['channel', 'update', 'cli-made', '--weight', '7', '--json'], env)).stdout).weight).toBe(7);
    expect(JSON.parse((await cli(['channel', 'disable', 'cli-made', '--json'], env)).stdout).state).toBe('disabled');
    expect(JSON.parse((await cli(['channel', 'enable', 'cli-made', '--json'], env)).stdout).state).toBe('active');
    const test = JSON.parse((await cli(['channel', 'test', 'cli-made', '--json'], env)).stdout) as { ok: boolean };
    expect(test.ok).toBe(true);
    expect((await cli(['channel', 'health', 'cli-made'], env)).stdout).toContain('breaker closed');
    expect(JSON.parse((await cli(['channel', 'test-job', 'cli-made', '--json'], env)).stdout)).toMatchObject({ status: 'completed', error: null });
    const failing = await cli(['channel', 'update', 'from-config', '--weight', '2'], env).catch((e: { stderr: string; code: number }) => e);
    expect((failing as { code: number }).code).toBe(1);
    expect((failing as { stderr: string }).stderr).toContain('read-only');
    expect((await cli(['channel', 'remove', 'cli-made'], env)).stdout).toContain('Removed cli-made');
    for (const out of [add.stdout]) expect(out).not.toContain(SECRET);
  });

  it('sends a real test job to one channel only, free of charge, under the operator key', async () => {
    const sent = await api('POST', '/channels/from-config/test_job', {});
    expect(sent.status).toBe(201);
    expect(sent.json).toMatchObject({ object: 'channel.test_job', channel: 'from-config', model: 'sora-2-pro', seconds: 4, status: 'queued' });
    const id = sent.json.video_id as string;
    let task = (await api('GET', `/tasks/${id}`)).json;
    for (let i = 0; i < 200 && (task.status === 'queued' || task.status === 'in_progress'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      task = (await api('GET', `/tasks/${id}`)).json;
    }
    expect(task).toMatchObject({ status: 'completed', channel: 'from-config', key_name: 'operator: channel tests', cost_usd: 0 });
    // The same operator key carries every test job.
    const again = await api('POST', '/channels/from-config/test_job', { prompt: 'a second check', seconds: 8 });
    expect(again.status).toBe(201);
    const keys = (await api('GET', '/keys')).json as unknown as { data: { name: string }[] };
    expect(keys.data.filter((k) => k.name === 'operator: channel tests').length).toBe(1);

    expect((await api('POST', '/channels/nope/test_job', {})).status).toBe(404);
    const wrongModel = await api('POST', '/channels/from-config/test_job', { model: 'sora-2' });
    expect(wrongModel.status).toBe(400);
    expect(wrongModel.json.error?.param).toBe('model');
    await api('POST', '/channels', { id: 'switched-off', type: 'openai-compatible', base_url: fake.baseURL, api_key: SECRET, models: ['sora-2'], enabled: false });
    expect((await api('POST', '/channels/switched-off/test_job', {})).json.error?.code).toBe('channel_disabled');
  });
});
