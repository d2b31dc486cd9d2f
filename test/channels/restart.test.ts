import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApimartFake, OpenAIVideosFake } from '../fakes/index.js';
import { fault, startApimartFake, startOpenAIVideosFake } from '../fakes/index.js';
import { cli, spawnServer } from '../helpers/process.js';
import type { ServerProcess } from '../helpers/process.js';
import { assertBillingConsistent, createVideo, waitAllTerminal } from '../helpers/upstreams.js';

/**
 * The built gateway (node dist/main.js) is killed with SIGKILL in every phase of an upstream
 * task — before its submit reached the provider, after the provider created the job but before
 * its answer was recorded, while polling, while downloading — and restarted. Every task must
 * end completed, each upstream job must have been created exactly once, and billing must add up.
 */
describe('restarts in every phase of an upstream task', () => {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  let oa: OpenAIVideosFake | undefined;
  let am: ApimartFake | undefined;
  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await Promise.all([oa?.close(), am?.close()]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('SIGKILL before submit, mid-submit, while polling and while downloading: nothing lost, nothing submitted twice', async () => {
    oa = await startOpenAIVideosFake({ script: { queuedMs: 100, runMs: 800 } });
    am = await startApimartFake({ script: { queuedMs: 100, runMs: 800 } });
    const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-upstream-crash-'));
    dirs.push(dataDir);
    const configFile = path.join(dataDir, 'vidgate.json');
    await writeFile(
      configFile,
      JSON.stringify({
        net: { allowCidrs: ['127.0.0.1/32'] },
        upstream: { poll: { minMs: 100, maxMs: 1000, firstMs: 200 }, submitTimeoutMs: 20_000, breaker: { failures: 100, cooldownMs: 1000 } },
        channels: [
          { id: 'oa', type: 'openai-compatible', base_url: oa.baseURL, api_key: 'sk-test', models: ['sora-2'] },
          { id: 'am', type: 'apimart', base_url: am.baseURL, api_key: 'sk-test', models: ['sora-2-pro'] },
        ],
      }),
    );
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: configFile, VIDGATE_LEASE_MS: '3000' };
    const { stdout } = await cli(['key', 'create', '--name', 'crash', '--credit', '50', '--json'], env);
    const key = (JSON.parse(stdout) as { key: string }).key;
    const gw = { url: '' };
    const start = async () => {
      const s = await spawnServer(env);
      servers.push(s);
      gw.url = s.url;
      return s;
    };
    const kill = async (s: ServerProcess) => {
      s.child.kill('SIGKILL');
      await s.exited;
    };
    const ids: string[] = [];
    const create = async (model: string, prompt: string) => {
      const r = await createVideo(gw, key, { model, prompt });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      ids.push(r.json.id as string);
    };

    // 1. Before submit: the provider is unreachable, the tasks wait; the gateway dies.
    let server = await start();
    await oa.down();
    for (let i = 0; i < 3; i++) await create('sora-2', `before submit ${i}`);
    // 2. Mid-submit: apimart creates the jobs but the answers never arrive; the gateway dies.
    am.faults.add({ route: 'submit', times: 3, action: fault.hang({ after: true }) });
    for (let i = 0; i < 3; i++) await create('sora-2-pro', `mid submit ${i}`);
    await am.waitForSubmissions(3, { timeoutMs: 15_000 });
    await kill(server);
    await oa.up();
    expect(oa.submissionCount).toBe(0);

    // 3. While polling: jobs are running upstream; the gateway dies.
    server = await start();
    oa.script({ queuedMs: 100, runMs: 4_000 });
    for (let i = 0; i < 3; i++) await create('sora-2', `while polling ${i}`);
    await oa.waitFor((f) => f.jobList().length >= 6 && f.jobList().every((j) => j.statusCalls > 0), { timeoutMs: 20_000 });
    await kill(server);

    // 4. While downloading: the CDN trickles the results; the gateway dies mid-download.
    server = await start();
    am.faults.add({ route: 'cdn', times: 3, action: fault.throttle(6_000) });
    for (let i = 0; i < 3; i++) await create('sora-2-pro', `while downloading ${i}`);
    await am.waitFor((f) => f.cdn.requests.filter((r) => r.faults.length > 0).length >= 3, { timeoutMs: 20_000 });
    await kill(server);

    server = await start();
    const final = await waitAllTerminal(gw, key, ids, 60_000);
    for (const [id, v] of final) expect(v.status, `${id}: ${JSON.stringify(v.error)}`).toBe('completed');

    // Exactly one upstream job per task; the resent submits were idempotent replays.
    expect(oa.submissionCount).toBe(6);
    expect(am.submissionCount).toBe(6);
    expect(am.replays).toBeGreaterThanOrEqual(3);
    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT id, upstream_id FROM tasks').all() as { id: string; upstream_id: string }[];
      expect(new Set(rows.map((r) => r.upstream_id)).size).toBe(12);
      expect(rows.every((r) => oa!.jobs.has(r.upstream_id) || am!.jobs.has(r.upstream_id))).toBe(true);
      for (const r of rows) {
        const n = db.prepare(`SELECT COUNT(*) AS n FROM task_events WHERE task_id = ? AND type = 'video.completed'`).get(r.id) as { n: number };
        expect(n.n).toBe(1);
      }
    } finally {
      db.close();
    }
    expect((await assertBillingConsistent(dataDir)).settled).toBe(12);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
