import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { KlingFake, OpenAIVideosFake } from './fakes/index.js';
import { fault, startKlingFake, startOpenAIVideosFake } from './fakes/index.js';
import type { TestGateway } from './helpers/gateway.js';
import { cli, spawnServer } from './helpers/process.js';
import type { ServerProcess } from './helpers/process.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from './helpers/upstreams.js';

/**
 * No paid job is abandoned: a submit whose answer was lost (reset after the upstream made the
 * job, or the gateway killed while waiting for the answer) on a channel without idempotency is
 * looked up by what was sent and adopted; one that cannot be found is counted for the operator.
 */
const ADMIN = 'submit-lookup-admin-token-0123456789';
const METRICS = 'submit-lookup-metrics-token-0123456789';
const fakes: Array<OpenAIVideosFake | KlingFake> = [];
const gateways: TestGateway[] = [];
const dirs: string[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) s.child.kill('SIGKILL');
  for (const g of gateways) await g.close();
  for (const f of fakes) await f.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const upstreamIds = (dataDir: string) => {
  const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, upstream_id FROM tasks ORDER BY id').all() as { id: string; upstream_id: string | null }[];
  } finally {
    db.close();
  }
};
const health = async (gw: TestGateway, id: string) =>
  (await (await fetch(`${gw.url}/admin/v1/channels/${id}/health`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { unresolved_submits: number };
const metricsText = async (gw: TestGateway) => (await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text();

describe('a lost submit on an openai-compatible channel (no idempotency key)', () => {
  it('is found in GET /videos by prompt, parameters and time, adopted, delivered and billed once — also for two lost submits of the same prompt', async () => {
    const fake = await startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 300 } });
    fakes.push(fake);
    const gw = await startWithChannels([channel('oa', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })], {
      adminToken: ADMIN,
      metrics: { token: METRICS },
      billing: { sandboxPricing: 'catalogue' },
    });
    gateways.push(gw);
    // Other videos on the same account, before and after: never adopted by mistake.
    fake.faults.add({ route: 'submit', times: 3, action: fault.reset({ after: true }) });
    const lost = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'a lighthouse in a storm', seconds: '4', size: '720x1280' });
    const twinA = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'twin prompt', seconds: '4' });
    const twinB = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'twin prompt', seconds: '4' });
    const fine = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'a lighthouse in a storm', seconds: '8' });
    const ids = [lost, twinA, twinB, fine].map((c) => c.json.id as string);
    const final = await waitAllTerminal(gw, gw.key, ids, 90_000);
    for (const id of ids) expect(final.get(id)!.status, JSON.stringify(final.get(id)!.error)).toBe('completed');

    // One upstream job per task, each followed by exactly one task: nothing submitted twice.
    expect(fake.submissionCount).toBe(4);
    const rows = upstreamIds(gw.dataDir);
    expect(new Set(rows.map((r) => r.upstream_id)).size).toBe(4);
    expect(rows.every((r) => r.upstream_id && fake.jobs.has(r.upstream_id))).toBe(true);
    const byTask = new Map(rows.map((r) => [`video_${r.id}`, fake.jobs.get(r.upstream_id!)!]));
    expect(byTask.get(ids[0]!)!.prompt).toBe('a lighthouse in a storm');
    expect(fake.params.get(rows.find((r) => `video_${r.id}` === ids[0])!.upstream_id!)?.seconds).toBe('4');
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBe(4);

    expect((await health(gw, 'oa')).unresolved_submits).toBe(0);
    expect(await metricsText(gw)).toMatch(/vidgate_upstream_submit_lookups_total\{channel="oa",provider="openai-compatible",outcome="adopted"\} 3/);
  });

  it('that cannot be found (the server lists no prompts) fails upstream_submit_unknown, is not charged, and is counted as unresolved', async () => {
    const fake = await startOpenAIVideosFake({ flavor: 'apigo', script: { queuedMs: 50, runMs: 300 } });
    fakes.push(fake);
    const gw = await startWithChannels([channel('apigo', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })], {
      adminToken: ADMIN,
      metrics: { token: METRICS },
      billing: { sandboxPricing: 'catalogue' },
    });
    gateways.push(gw);
    fake.faults.next('submit', 1, fault.reset({ after: true }));
    const c = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'lost for good', seconds: '4' });
    const v = (await waitAllTerminal(gw, gw.key, [c.json.id as string], 90_000)).get(c.json.id as string)!;
    expect(v.status).toBe('failed');
    expect(v.error?.code).toBe('upstream_submit_unknown');
    expect(v.error?.message).toMatch(/not charged/);
    expect(fake.submissionCount).toBe(1);
    // Looked for, with backoff, several times before giving up.
    expect(fake.requests.filter((r) => r.route === 'list').length).toBeGreaterThanOrEqual(6);
    expect((await assertBillingConsistent(gw.dataDir)).released).toBe(1);
    expect((await health(gw, 'apigo')).unresolved_submits).toBe(1);
    const text = await metricsText(gw);
    expect(text).toMatch(/vidgate_upstream_submits_unresolved\{channel="apigo"\} 1/);
    expect(text).toMatch(/vidgate_upstream_submit_lookups_total\{channel="apigo",provider="openai-compatible",outcome="unresolved"\} 1/);
  });
});

describe('a gateway killed while waiting for a submit answer', () => {
  it('adopts the job after a restart (openai-compatible and kling): delivered, one upstream job each, billed once', async () => {
    const oa = await startOpenAIVideosFake({ script: { queuedMs: 100, runMs: 500 } });
    const kl = await startKlingFake({ apiKey: 'kling-plain-key-0001', script: { queuedMs: 100, runMs: 500 } });
    fakes.push(oa, kl);
    const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-lost-submit-'));
    dirs.push(dataDir);
    const configFile = path.join(dataDir, 'vidgate.json');
    await writeFile(
      configFile,
      JSON.stringify({
        net: { allowCidrs: ['127.0.0.1/32'] },
        upstream: { poll: { minMs: 100, maxMs: 1000, firstMs: 200 }, submitTimeoutMs: 60_000 },
        models: [{ id: 'kling-v2-6', sizes: ['1280x720'], seconds: [5], pricePerSecond: { '720p': 0.07, '1024p': 0.1, '1080p': 0.1 } }],
        channels: [
          { id: 'oa', type: 'openai-compatible', base_url: oa.baseURL, api_key: 'sk-test', models: ['sora-2'] },
          { id: 'kl', type: 'kling', base_url: kl.baseURL, api_key: 'kling-plain-key-0001', models: ['kling-v2-6'] },
        ],
      }),
    );
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: configFile, VIDGATE_LEASE_MS: '3000' };
    const key = (JSON.parse((await cli(['key', 'create', '--name', 'lost', '--credit', '50', '--json'], env)).stdout) as { key: string }).key;
    let server = await spawnServer(env);
    servers.push(server);
    // The providers make the jobs, the answers never come; the gateway dies waiting.
    const hangs = [oa.faults.add({ route: 'submit', action: fault.hang({ after: true }) }), kl.faults.add({ route: 'submit', action: fault.hang({ after: true }) })];
    const ids: string[] = [];
    for (const [model, prompt, seconds] of [['sora-2', 'killed mid-submit', '4'], ['kling-v2-6', 'killed mid-submit on kling', '5']]) {
      const r = await createVideo(server, key, { model, prompt, seconds, size: '1280x720' });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      ids.push(r.json.id as string);
    }
    await oa.waitForSubmissions(1, { timeoutMs: 20_000 });
    await kl.waitForSubmissions(1, { timeoutMs: 20_000 });
    server.child.kill('SIGKILL');
    await server.exited;
    for (const h of hangs) h.remove();

    server = await spawnServer(env);
    servers.push(server);
    const final = await waitAllTerminal(server, key, ids, 90_000);
    for (const id of ids) expect(final.get(id)!.status, JSON.stringify(final.get(id)!.error)).toBe('completed');
    expect(oa.submissionCount).toBe(1);
    expect(kl.submissionCount).toBe(1);
    server.child.kill('SIGTERM');
    await server.exited;
    const rows = upstreamIds(dataDir);
    expect(rows.every((r) => r.upstream_id !== null)).toBe(true);
    expect((await assertBillingConsistent(dataDir)).settled).toBe(2);
  });
});
