import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ComfyUIFake } from '../fakes/comfyui-fake.js';
import { startComfyUIFake } from '../fakes/comfyui-fake.js';
import { cli, spawnServer } from '../helpers/process.js';
import type { ServerProcess } from '../helpers/process.js';
import { assertBillingConsistent, createVideo, waitAllTerminal } from '../helpers/upstreams.js';
import { COMFY_MODELS, EXAMPLE_OPTIONS } from '../helpers/comfyui.js';

/**
 * The built gateway is killed with SIGKILL in every phase of a ComfyUI job — before its prompt
 * reached the server, after the server queued it but before the answer arrived, while it runs,
 * while its video downloads — and restarted (with a new websocket client id). The fake counts the
 * prompts it queued: none is queued twice. A prompt whose answer was lost cannot be resent
 * (ComfyUI does not deduplicate), so its task fails as "outcome unknown" with its hold released;
 * every other task completes.
 */
describe('comfyui: restarts in every phase', () => {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  let fake: ComfyUIFake | undefined;
  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await fake?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('SIGKILL before submit, mid-submit, while running and while downloading: nothing queued twice, billing adds up', async () => {
    fake = await startComfyUIFake({ stepMs: 5 });
    const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-comfy-crash-'));
    dirs.push(dataDir);
    const configFile = path.join(dataDir, 'vidgate.json');
    await writeFile(
      configFile,
      JSON.stringify({
        net: { allowCidrs: ['127.0.0.1/32'] },
        models: COMFY_MODELS,
        upstream: { poll: { minMs: 100, maxMs: 1000, firstMs: 200 }, submitTimeoutMs: 20_000, breaker: { failures: 100, cooldownMs: 1000 } },
        channels: [{ id: 'comfy', type: 'comfyui', base_url: fake.baseURL, models: ['wan2.2-5b'], options: EXAMPLE_OPTIONS }],
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
    const ids: Record<string, string[]> = { before: [], mid: [], running: [], downloading: [] };
    const create = async (phase: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await createVideo(gw, key, { model: 'wan2.2-5b', prompt: `${phase} ${i}`, seconds: '1', size: '480x272' });
        expect(r.status, JSON.stringify(r.json)).toBe(200);
        ids[phase]!.push(r.json.id as string);
      }
    };
    const executions = (phase: string) => [...fake!.executions.values()].filter((e) => e.texts.some((t) => t.startsWith(phase)));

    // 1. Before submit: the server is down; the tasks wait; the gateway dies.
    let server = await start();
    await fake.down();
    await create('before', 2);
    await new Promise((r) => setTimeout(r, 500));
    await kill(server);
    await fake.up();
    expect(fake.prompts).toBe(0);

    // 2. Mid-submit: ComfyUI queues the prompts but the answers never arrive; the gateway dies.
    server = await start();
    // (This gateway submits the "before" tasks first.)
    await fake.waitFor(() => executions('before').length >= 1 || undefined, 30_000);
    await new Promise((r) => setTimeout(r, 1_000));
    fake.hangPromptAnswers(2);
    await create('mid', 2);
    await fake.waitFor(() => executions('mid').length === 2 || undefined, 30_000);
    await kill(server);

    // 3. While running: the sampler is slow; the gateway dies while a prompt runs.
    server = await start();
    fake.opts.stepMs = 100;
    await create('running', 2);
    await fake.waitFor(() => (executions('running').length === 2 && executions('running').some((e) => e.state === 'running')) || undefined, 30_000);
    // (Both answers recorded: a submit cut short here is the mid-submit case above.)
    await new Promise((r) => setTimeout(r, 500));
    await kill(server);
    fake.opts.stepMs = 5;

    // 4. While downloading: /view is slow; the gateway dies mid-download.
    server = await start();
    fake.viewDelayMs = 4_000;
    await create('downloading', 2);
    await fake.waitFor(() => executions('downloading').length === 2 || undefined, 30_000);
    await fake.waitFor((f) => f.requests.some((r) => r.path === '/view' && r.at > Date.now() - 30_000 && executions('downloading').some((e) => r.query.includes(e.output?.filename ?? '#'))) || undefined, 30_000);
    await kill(server);
    fake.viewDelayMs = 0;

    server = await start();
    const all = Object.values(ids).flat();
    const final = await waitAllTerminal(gw, key, all, 90_000);
    // A kill between a retry's "about to submit" checkpoint and the refused connection leaves a
    // "before" task unknown too (uncharged, nothing queued): rare, and right.
    const unknownBefore = ids.before!.filter((id) => final.get(id)!.status === 'failed');
    for (const id of unknownBefore) expect(final.get(id)!.error!.code).toBe('upstream_submit_unknown');
    expect(unknownBefore.length).toBeLessThanOrEqual(1);
    for (const phase of ['running', 'downloading']) {
      for (const id of ids[phase]!) expect(final.get(id)!.status, `${phase} ${id}: ${JSON.stringify(final.get(id)!.error)}`).toBe('completed');
    }
    for (const id of ids.mid!) {
      expect(final.get(id)!.status).toBe('failed');
      expect(final.get(id)!.error!.code).toBe('upstream_submit_unknown');
    }
    // Every task's prompt was queued exactly once (none for a "before" task left unknown).
    expect(executions('before')).toHaveLength(2 - unknownBefore.length);
    for (const phase of ['mid', 'running', 'downloading']) expect(executions(phase), phase).toHaveLength(2);
    expect(fake.prompts).toBe(8 - unknownBefore.length);
    const billing = await assertBillingConsistent(dataDir);
    expect(billing).toEqual({ settled: 6 - unknownBefore.length, released: 2 + unknownBefore.length });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
