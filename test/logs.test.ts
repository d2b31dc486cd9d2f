import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { OpenAIVideosFake } from './fakes/index.js';
import { fault, promptDirectives, startOpenAIVideosFake } from './fakes/index.js';
import { cli, spawnServer } from './helpers/process.js';
import type { ServerProcess } from './helpers/process.js';
import { until } from './helpers/receiver.js';
import { waitAllTerminal, writeChannelConfig } from './helpers/upstreams.js';

const CHANNEL_KEY = 'sk-channel-credential-LOGS-0001';
const ADMIN = 'admin-token-for-the-logs-test-01';
const METRICS = 'metrics-token-for-the-logs-test-1';

type Line = Record<string, unknown> & { level: number; msg: string };

/**
 * The built gateway's log at debug level, parsed line by line: one JSON line per request with
 * its request id, route, status and duration (successful reads at debug, so not at the default
 * info level), one per task status change with the task, from/to, provider and channel (progress
 * at debug), and no credential anywhere: API key, admin and metrics tokens, stream tokens in
 * query strings, a channel key that the upstream echoes back.
 */
describe('logs', () => {
  let server: ServerProcess | undefined;
  let fake: OpenAIVideosFake | undefined;
  let dataDir = '';
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await fake?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('writes one JSON line per request and per transition, at sensible levels, without secrets', async () => {
    fake = await startOpenAIVideosFake({ apiKey: CHANNEL_KEY, script: promptDirectives({ queuedMs: 50, runMs: 200 }) });
    fake.faults.add({
      route: 'submit',
      when: (r) => (r.body as { prompt?: string } | undefined)?.prompt === 'echo the key',
      action: fault.error(401, { message: `Incorrect API key provided: ${CHANNEL_KEY}` }),
    });
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-logs-'));
    const configFile = await writeChannelConfig(dataDir, [`{ id: oa, type: openai-compatible, base_url: "${fake.baseURL}", api_key: "${CHANNEL_KEY}", models: [sora-2] }`]);
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: configFile, VIDGATE_ADMIN_TOKEN: ADMIN, VIDGATE_METRICS_TOKEN: METRICS, LOG_LEVEL: 'debug' };
    const key = (JSON.parse((await cli(['key', 'create', '--name', 'logs', '--credit', '10', '--json'], env)).stdout) as { key: string }).key;
    server = await spawnServer(env);
    const call = (method: string, p: string, token: string, body?: unknown) =>
      fetch(`${server!.url}${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const ok = (await (await call('POST', '/v1/videos', key, { model: 'sora-2', prompt: 'a quiet lake', seconds: '4' })).json()) as { id: string };
    const bad = (await (await call('POST', '/v1/videos', key, { model: 'sora-2', prompt: 'echo the key', seconds: '4' })).json()) as { id: string };
    await waitAllTerminal({ url: server.url }, key, [ok.id, bad.id]);
    const token = ((await (await call('POST', '/v1/stream_tokens', key, {})).json()) as { token: string }).token;
    expect(token).toBeTruthy();
    await fetch(`${server.url}/v1/videos/${ok.id}/events?access_token=${token}`);
    await fetch(`${server.url}/v1/videos/${ok.id}/events?access_token=${token}x`);
    await call('GET', '/admin/v1/channels', ADMIN);
    await call('GET', '/metrics', METRICS);
    await call('GET', '/v1/videos', `${key}-wrong`);

    const lines = await until(() => {
      const parsed = server!
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Line);
      return parsed.some((l) => l.route === '/v1/videos' && l.statusCode === 401) ? parsed : undefined;
    }, 10_000, 'the last request logged');

    // Requests: one line each, at the end, with the request id, route, status and duration.
    const requests = lines.filter((l) => l.msg === 'request completed' || l.msg === 'request failed');
    const creates = requests.filter((l) => l.method === 'POST' && l.route === '/v1/videos');
    expect(creates).toHaveLength(2);
    for (const l of creates) {
      expect(l).toMatchObject({ level: 30, statusCode: 200, path: '/v1/videos' });
      expect(String(l.reqId)).toMatch(/^req_[0-9a-f]+$/);
      expect(typeof l.ms).toBe('number');
    }
    const reads = requests.filter((l) => l.route === '/v1/videos/:id' && l.method === 'GET');
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((l) => l.level === 20)).toBe(true);
    expect(requests.find((l) => l.route === '/v1/videos' && l.statusCode === 401)).toMatchObject({ level: 30, method: 'GET' });
    expect(new Set(requests.map((l) => l.reqId)).size).toBe(requests.length);

    // Transitions: info, with from/to, provider and channel; progress only at debug.
    const transitions = lines.filter((l) => l.msg === 'task transition');
    const of = (id: string) => transitions.filter((l) => `video_${String(l.task)}` === id).map((l) => [l.from, l.to]);
    expect(of(ok.id)).toEqual(expect.arrayContaining([[null, 'queued'], ['in_progress', 'completed']]));
    expect(of(bad.id)).toEqual([[null, 'queued'], ['queued', 'failed']]);
    for (const l of transitions) expect(l).toMatchObject({ level: 30, provider: 'openai-compatible', channel: 'oa', model: 'sora-2' });
    expect(transitions.find((l) => l.to === 'failed')!.error_code).toBeTruthy();
    expect(lines.filter((l) => l.msg === 'task progress').every((l) => l.level === 20)).toBe(true);

    // No credential, anywhere.
    const text = server.output();
    for (const secret of [key, ADMIN, METRICS, CHANNEL_KEY, token]) expect(text.includes(secret), `the log contains ${secret.slice(0, 12)}…`).toBe(false);
  });
});
