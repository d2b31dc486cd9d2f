import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import type { FakeUpstreamBase } from '../fakes/base.js';
import { fault } from '../fakes/index.js';
import { cli, spawnServer } from './process.js';
import type { ServerProcess } from './process.js';
import { assertBillingConsistent, waitAllTerminal } from './upstreams.js';

export interface RestartPhasesOptions {
  /** The fake behind the channel; its default script must follow `[[fake: …]]` prompt directives. */
  fake: FakeUpstreamBase;
  /** The channel as in the config file (JSON), its key given inline. */
  channel: Record<string, unknown>;
  /** Catalogue entries for the channel's public models. */
  models: Record<string, unknown>[];
  /** The create body of one task (`POST /v1/videos`), for a prompt. */
  body: (prompt: string) => Record<string, unknown>;
  /** Credentials that must not appear in answers, logs or the database file. */
  secrets: string[];
}

/**
 * The built gateway (`node dist/main.js`, logging at trace level) serving one channel of a
 * non-idempotent adapter is killed with SIGKILL in every phase of its tasks and restarted:
 * after the provider made the job but before its answer was recorded (the task fails as
 * `upstream_submit_unknown`, uncharged, and is never sent twice), before the submit reached the
 * provider (it is sent after the restart), while polling and while downloading (they complete). The
 * fake counts one job per task; billing adds up; and the channel's credentials appear in no
 * answer, no log line and not in the database file.
 */
export async function restartInEveryPhase(o: RestartPhasesOptions): Promise<void> {
  const { fake } = o;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-restart-'));
  const servers: ServerProcess[] = [];
  try {
    const configFile = path.join(dataDir, 'vidgate.json');
    await writeFile(
      configFile,
      JSON.stringify({
        net: { allowCidrs: ['127.0.0.1/32'] },
        upstream: { poll: { minMs: 100, maxMs: 1000, firstMs: 200 }, submitTimeoutMs: 20_000, breaker: { failures: 100, cooldownMs: 1000 } },
        models: o.models,
        channels: [o.channel],
      }),
    );
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: configFile, VIDGATE_LEASE_MS: '3000', LOG_LEVEL: 'trace' };
    const { stdout } = await cli(['key', 'create', '--name', 'restart', '--credit', '50', '--json'], env);
    const key = (JSON.parse(stdout) as { key: string }).key;
    const seen: string[] = [];
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
    const ids: Record<'before' | 'mid' | 'polling' | 'download', string[]> = { before: [], mid: [], polling: [], download: [] };
    const create = async (phase: keyof typeof ids, prompt: string) => {
      const res = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(o.body(prompt)) });
      const text = await res.text();
      seen.push(text);
      expect(res.status, text).toBe(200);
      ids[phase].push((JSON.parse(text) as { id: string }).id);
    };
    const jobsSince = (n: number) => fake.jobList().slice(n);

    // 1. Mid-submit: the provider makes the jobs but its answers never arrive; the gateway dies.
    let server = await start();
    fake.faults.add({ route: 'submit', times: 2, action: fault.hang({ after: true }) });
    for (let i = 0; i < 2; i++) await create('mid', `mid submit ${i} [[fake: queuedMs=100 runMs=600]]`);
    await fake.waitForSubmissions(2, { timeoutMs: 20_000 });
    await kill(server);

    // 2. Before submit: the provider is unreachable, the tasks wait; the gateway dies.
    await fake.down();
    server = await start();
    for (let i = 0; i < 2; i++) await create('before', `before submit ${i} [[fake: queuedMs=100 runMs=600]]`);
    await new Promise((r) => setTimeout(r, 800));
    await kill(server);
    await fake.up();
    expect(fake.submissionCount).toBe(2);

    // 3. While polling: the jobs run upstream; the gateway dies.
    server = await start();
    const n = fake.jobList().length;
    for (let i = 0; i < 2; i++) await create('polling', `while polling ${i} [[fake: queuedMs=100 runMs=4000]]`);
    await fake.waitFor(() => jobsSince(n).length >= 2 && jobsSince(n).every((j) => j.statusCalls > 0), { timeoutMs: 20_000 });
    await kill(server);

    // 4. While downloading: the CDN trickles the results; the gateway dies mid-download.
    server = await start();
    const m = fake.jobList().length;
    fake.faults.add({ route: 'cdn', times: 2, action: fault.throttle(6_000) });
    for (let i = 0; i < 2; i++) await create('download', `while downloading ${i} [[fake: queuedMs=100 runMs=300]]`);
    // Both jobs known to the gateway (their submits answered: they were polled) and downloads trickling.
    await fake.waitFor((f) => jobsSince(m).length >= 2 && jobsSince(m).every((j) => j.statusCalls > 0) && f.cdn.requests.filter((r) => r.faults.length > 0).length >= 2, { timeoutMs: 20_000 });
    await kill(server);

    server = await start();
    const all = Object.values(ids).flat();
    const final = await waitAllTerminal(gw, key, all, 90_000);
    for (const id of all) {
      const v = final.get(id)!;
      seen.push(JSON.stringify(v));
      if (ids.mid.includes(id)) {
        // Sent once, answer lost: not sent again (a second job could be made and paid twice), not charged.
        expect(v.status).toBe('failed');
        expect(v.error?.code).toBe('upstream_submit_unknown');
      } else {
        expect(v.status, `${id} (${Object.entries(ids).find(([, l]) => l.includes(id))![0]}): ${JSON.stringify(v.error)}`).toBe('completed');
      }
    }
    // Exactly one upstream job per task.
    expect(fake.submissionCount).toBe(8);
    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT id, upstream_id FROM tasks WHERE upstream_id IS NOT NULL').all() as { id: string; upstream_id: string }[];
      expect(new Set(rows.map((r) => r.upstream_id)).size).toBe(rows.length);
      expect(rows.length).toBe(6);
    } finally {
      db.close();
    }
    const billing = assertBillingConsistent(dataDir);
    expect(billing).toEqual({ settled: 6, released: 2 });

    server.child.kill('SIGTERM');
    await server.exited;
    const logs = servers.map((s) => s.output()).join('\n');
    expect(logs.length).toBeGreaterThan(1000);
    const files = readdirSync(dataDir)
      .filter((f) => f.startsWith('vidgate.db'))
      .map((f) => readFileSync(path.join(dataDir, f)).toString('latin1'));
    for (const secret of o.secrets) {
      for (const text of seen) expect(text.includes(secret), 'an answer contains the key').toBe(false);
      expect(logs.includes(secret), 'the log contains the key').toBe(false);
      for (const f of files) expect(f.includes(secret), 'the database contains the key').toBe(false);
    }
    expect(fake.cdn.leaks()).toEqual([]);
  } finally {
    for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
}
