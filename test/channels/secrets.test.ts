import { readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApimartFake, OpenAIVideosFake } from '../fakes/index.js';
import { fault, promptDirectives, startApimartFake, startOpenAIVideosFake } from '../fakes/index.js';
import { cli, spawnServer } from '../helpers/process.js';
import type { ServerProcess } from '../helpers/process.js';
import { waitAllTerminal, writeChannelConfig } from '../helpers/upstreams.js';

const OA_KEY = 'sk-proj-OAKEYzzzzzzzzzzzzzzzzzzzz1';
const AM_KEY = 'am-key-YYYYYYYYYYYYYYYYYYYYYYY2';
const API_KEY = 'ak-made-through-the-api-XXXXXXX3';
const ADMIN = 'admin-token-for-the-secrets-test';

/**
 * Upstream credentials never leave the gateway: not in any API answer, not in the logs (at trace
 * level, with upstreams that echo the key in their error messages), not in the database file,
 * not to a CDN.
 */
describe('upstream credentials', () => {
  let server: ServerProcess | undefined;
  let oa: OpenAIVideosFake | undefined;
  let am: ApimartFake | undefined;
  let dataDir = '';
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await Promise.all([oa?.close(), am?.close()]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('never appear in responses, logs, the database or CDN requests', async () => {
    oa = await startOpenAIVideosFake({ apiKey: [OA_KEY, API_KEY], script: { queuedMs: 50, runMs: 300 } });
    am = await startApimartFake({ apiKey: AM_KEY, script: promptDirectives({ queuedMs: 50, runMs: 300, failure: { code: 'boom', message: `worker crashed; api_key=${AM_KEY}` } }), cdnRejectAuthorization: true });
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-secrets-'));
    const configFile = await writeChannelConfig(dataDir, [
      `{ id: oa, type: openai-compatible, base_url: "${oa.baseURL}", api_key: "${OA_KEY}", models: [sora-2] }`,
      `{ id: am, type: apimart, base_url: "${am.baseURL}", api_key_env: AM_KEY, models: [sora-2-pro] }`,
    ]);
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: configFile, AM_KEY, VIDGATE_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'trace' };
    const key = (JSON.parse((await cli(['key', 'create', '--name', 'leak', '--credit', '20', '--json'], env)).stdout) as { key: string }).key;
    server = await spawnServer(env);
    const seen: string[] = [];
    const call = async (method: string, p: string, body?: unknown, token = key) => {
      const res = await fetch(`${server!.url}${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      seen.push(JSON.stringify([...res.headers]), text);
      return JSON.parse(text) as Record<string, unknown>;
    };

    // Upstreams that echo the key back in errors.
    oa.faults.add({
      route: 'submit',
      when: (r) => (r.body as { prompt?: string } | undefined)?.prompt === 'echoing 401',
      action: fault.error(401, { message: `Incorrect API key provided: ${OA_KEY}. Authorization: Bearer ${OA_KEY}` }),
    });
    am.faults.next('status', 1, fault.error(500, { message: `internal error while checking key ${AM_KEY}` }));

    // Upstreams that echo the key inside a status word: scrubbed before it is logged (an unknown
    // word is a warning) or kept in the task's provider state.
    const echoes = [
      oa.faults.add({ route: 'status', action: fault.error(200, { body: { object: 'video', status: `queued ${OA_KEY}`, progress: 0 } }) }),
      am.faults.add({ route: 'status', action: fault.error(200, { body: { code: 200, data: { status: `waiting:${AM_KEY}`, progress: 0 } } }) }),
    ];
    const echoIds = [
      (await call('POST', '/v1/videos', { model: 'sora-2', prompt: 'status echo' })).id as string,
      (await call('POST', '/v1/videos', { model: 'sora-2-pro', prompt: 'status echo too' })).id as string,
    ];
    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true, fileMustExist: true });
    const states = () => echoIds.map((id) => (db.prepare('SELECT provider_state FROM tasks WHERE id = ?').get(id.slice('video_'.length)) as { provider_state: string | null }).provider_state ?? '');
    const until = Date.now() + 30_000;
    while (!states().every((st) => st.includes('[redacted]'))) {
      if (Date.now() > until) throw new Error(`the echoed status never reached the provider state: ${states().join(' | ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const st of states()) for (const secret of [OA_KEY, AM_KEY]) expect(st.includes(secret), `provider_state ${st}`).toBe(false);
    db.close();
    for (const e of echoes) e.remove();

    await call('POST', '/admin/v1/channels', { id: 'api-made', type: 'openai-compatible', base_url: oa.baseURL, api_key: API_KEY, models: ['sora-2-2025-10-06'] }, ADMIN);
    const ids: string[] = [...echoIds];
    for (const [model, prompt] of [
      ['sora-2', 'fine'],
      ['sora-2-pro', 'failing job [[fake: outcome=fail]]'],
      ['sora-2-pro', 'fine too'],
      ['sora-2-2025-10-06', 'via the api channel'],
      ['sora-2', 'echoing 401'],
    ]) {
      ids.push((await call('POST', '/v1/videos', { model, prompt })).id as string);
    }
    const final = await waitAllTerminal({ url: server.url }, key, ids, 60_000);
    for (const id of ids) await call('GET', `/v1/videos/${id}`);
    await call('GET', '/v1/videos');
    for (const p of ['/admin/v1/channels', '/admin/v1/channels/oa', '/admin/v1/channels/am/health', '/admin/v1/channels/api-made']) await call('GET', p, undefined, ADMIN);
    await call('POST', '/admin/v1/channels/am/test', undefined, ADMIN);
    const cliOut = await cli(['channel', 'list', '--json'], { VIDGATE_URL: server.url, VIDGATE_ADMIN_TOKEN: ADMIN });
    seen.push(cliOut.stdout, cliOut.stderr);

    // The failures say what happened, without the keys.
    const errors = [...final.values()].filter((v) => v.error).map((v) => v.error!.message);
    expect(errors.some((m) => m.includes('Incorrect API key provided'))).toBe(true);
    expect(errors.some((m) => m.includes('worker crashed'))).toBe(true);

    server.child.kill('SIGTERM');
    await server.exited;
    const logs = server.output();
    expect(logs.length).toBeGreaterThan(1000);
    const files = readdirSync(dataDir).filter((f) => f.startsWith('vidgate.db')).map((f) => readFileSync(path.join(dataDir, f)).toString('latin1'));
    for (const secret of [OA_KEY, AM_KEY, API_KEY]) {
      for (const text of seen) expect(text.includes(secret), `a response contains ${secret}`).toBe(false);
      expect(logs.includes(secret), `the log contains ${secret}`).toBe(false);
      for (const f of files) expect(f.includes(secret), `the database contains ${secret}`).toBe(false);
    }
    expect(am.cdn.requests.length).toBeGreaterThan(0);
    expect(am.cdn.leaks()).toEqual([]);
    expect(oa.cdn.leaks()).toEqual([]);
  });
});
