import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import type { FakeUpstreamBase } from '../fakes/base.js';
import type { RecordedRequest, RouteName, Submission } from '../fakes/index.js';
import { fault } from '../fakes/index.js';
import { cli, spawnServer } from './process.js';
import type { ServerProcess } from './process.js';
import { assertBillingConsistent, createVideo, waitAllTerminal } from './upstreams.js';

export interface RestartScenario {
  fake: FakeUpstreamBase;
  /** The channel as in the config file (JSON). */
  channel: Record<string, unknown>;
  /** Catalogue additions for the model. */
  models: Record<string, unknown>[];
  model: string;
  /** Extra body fields of every create (e.g. a size the model makes). */
  body?: Record<string, unknown>;
  /** The adapter resends a lost submit with the same key (the fake then replays the job). */
  idempotent: boolean;
  /** The prompt a submission carried (default `body.prompt`). */
  promptOf?: (s: Submission) => string;
  /** Where results are downloaded from (default the fake's CDN). */
  downloadRoute?: Extract<RouteName, 'cdn' | 'content'>;
  /** Credentials that must appear in no log line, answer or database file. */
  secrets: string[];
  env?: Record<string, string>;
}

/**
 * The built gateway (node dist/main.js) with one channel of the adapter under test, killed with
 * SIGKILL in every phase of its tasks — before the submit reached the provider (the provider is
 * down), after the provider made the job but before its answer arrived, while polling, while
 * downloading — and restarted. Every task must end (completed; a lost submit of an adapter that
 * cannot resend safely fails with `upstream_submit_unknown`, not charged), the fake must have made
 * exactly one job per task, billing must add up, and no credential may appear in the logs
 * (trace level), the answers or the database files.
 */
export async function restartInEveryPhase(s: RestartScenario): Promise<void> {
  const { fake } = s;
  const promptOf = s.promptOf ?? ((x: Submission) => String(x.body.prompt ?? ''));
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-adapter-restart-'));
  const servers: ServerProcess[] = [];
  const seen: string[] = [];
  try {
    const configFile = path.join(dataDir, 'vidgate.json');
    await writeFile(
      configFile,
      JSON.stringify({
        net: { allowCidrs: ['127.0.0.1/32'] },
        models: s.models,
        upstream: { poll: { minMs: 100, maxMs: 1000, firstMs: 200 }, submitTimeoutMs: 20_000, breaker: { failures: 100, cooldownMs: 1000 } },
        channels: [s.channel],
      }),
    );
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: configFile, VIDGATE_LEASE_MS: '3000', LOG_LEVEL: 'trace', ...(s.env ?? {}) };
    const key = (JSON.parse((await cli(['key', 'create', '--name', 'restart', '--credit', '50', '--json'], env)).stdout) as { key: string }).key;
    const gw = { url: '' };
    const start = async () => {
      const server = await spawnServer(env);
      servers.push(server);
      gw.url = server.url;
      return server;
    };
    const kill = async (server: ServerProcess) => {
      server.child.kill('SIGKILL');
      await server.exited;
    };
    const ids = new Map<string, string>();
    const create = async (prompt: string) => {
      const r = await createVideo(gw, key, { model: s.model, prompt, ...(s.body ?? {}) });
      seen.push(JSON.stringify(r.json));
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      ids.set(r.json.id as string, prompt);
    };
    const mine = (label: string) => fake.submissions.filter((x) => promptOf(x).startsWith(label));
    const bodyHas = (label: string) => (r: RecordedRequest) => JSON.stringify(r.json ?? r.body ?? {}).includes(label);

    // 1. Before submit: the provider is down; the tasks wait; the gateway dies.
    let server = await start();
    await fake.down();
    for (let i = 0; i < 2; i++) await create(`before submit ${i}`);
    await new Promise((r) => setTimeout(r, 1_000));
    await kill(server);
    await fake.up();
    expect(fake.submissionCount).toBe(0);

    // 2. Mid-submit: the provider makes the jobs but the answers never arrive; the gateway dies.
    server = await start();
    fake.faults.add({ route: 'submit', when: bodyHas('mid submit'), times: 2, action: fault.hang({ after: true }) });
    for (let i = 0; i < 2; i++) await create(`mid submit ${i}`);
    await fake.waitFor((f) => f.submissions.filter((x) => promptOf(x).startsWith('mid submit')).length >= 2, { timeoutMs: 20_000 });
    await kill(server);

    // 3. While polling: the jobs run upstream; the gateway dies.
    server = await start();
    for (let i = 0; i < 2; i++) await create(`while polling ${i} [[fake: runMs=4000]]`);
    await fake.waitFor(() => {
      const subs = mine('while polling');
      return subs.length === 2 && subs.every((x) => fake.job(x.jobId).statusCalls > 0);
    }, { timeoutMs: 30_000 });
    await kill(server);

    // 4. While downloading: the results trickle; the gateway dies mid-download.
    server = await start();
    const route = s.downloadRoute ?? 'cdn';
    // Only the downloads of this phase's jobs are slowed (earlier tasks may be downloading too).
    const downloading = (r: RecordedRequest) => mine('while downloading').some((x) => x.jobId === r.jobId);
    fake.faults.add({ route, when: downloading, times: 2, action: fault.throttle(6_000) });
    for (let i = 0; i < 2; i++) await create(`while downloading ${i}`);
    const throttled = () => (route === 'cdn' ? fake.cdn.requests : fake.requests.filter((r) => r.route === 'content')).filter((r) => downloading(r) && r.faults.length > 0).length;
    await fake.waitFor(() => throttled() >= 2, { timeoutMs: 30_000 });
    await kill(server);

    server = await start();
    const final = await waitAllTerminal(gw, key, [...ids.keys()], 90_000);
    // A kill that lands between the "about to submit" checkpoint and the refused connection being
    // recorded leaves a submit whose outcome the gateway cannot know: on a channel that cannot
    // resend safely that task rightly fails as unknown (uncharged), although nothing was made.
    const lostBefore = new Set<string>();
    for (const [id, v] of final) {
      seen.push(JSON.stringify(v));
      const prompt = ids.get(id)!;
      if (prompt.startsWith('before submit') && !s.idempotent && v.status === 'failed' && v.error?.code === 'upstream_submit_unknown') {
        lostBefore.add(prompt);
      } else if (prompt.startsWith('mid submit') && !s.idempotent) {
        expect(v.status, `${prompt}: ${JSON.stringify(v.error)}`).toBe('failed');
        expect(v.error?.code).toBe('upstream_submit_unknown');
      } else {
        expect(v.status, `${prompt}: ${JSON.stringify(v.error)}`).toBe('completed');
      }
    }

    // Exactly one upstream job per task: nothing was submitted twice.
    for (const prompt of ids.values()) expect(fake.submissions.filter((x) => promptOf(x) === prompt), prompt).toHaveLength(lostBefore.has(prompt) ? 0 : 1);
    expect(fake.submissionCount).toBe(8 - lostBefore.size);
    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT id, upstream_id, status FROM tasks').all() as { id: string; upstream_id: string | null; status: string }[];
      const withJob = rows.filter((r) => r.upstream_id);
      expect(new Set(withJob.map((r) => r.upstream_id)).size).toBe(withJob.length);
      expect(withJob.length).toBe((s.idempotent ? 8 : 6) - lostBefore.size);
    } finally {
      db.close();
    }
    const billing = await assertBillingConsistent(dataDir);
    expect(billing.settled).toBe((s.idempotent ? 8 : 6) - lostBefore.size);
    expect(billing.released).toBe((s.idempotent ? 0 : 2) + lostBefore.size);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const logs = servers.map((x) => x.output()).join('\n');
    expect(logs.length).toBeGreaterThan(1000);
    const files = readdirSync(dataDir).filter((f) => f.startsWith('vidgate.db')).map((f) => readFileSync(path.join(dataDir, f)).toString('latin1'));
    for (const secret of s.secrets) {
      expect(logs.includes(secret), 'the log contains a credential').toBe(false);
      for (const text of seen) expect(text.includes(secret), 'an answer contains a credential').toBe(false);
      for (const f of files) expect(f.includes(secret), 'the database contains a credential').toBe(false);
    }
    expect(fake.cdn.leaks()).toEqual([]);
  } finally {
    for (const x of servers) x.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
}
