/**
 * Polling benchmark: how soon does vidgate notice that an upstream job finished, and how many
 * status calls does it spend per job — against new-api's fixed 15-second serial loop, in the
 * same run, against the same fake upstream.
 *
 *   npm run bench:polling [-- --tasks 1000 --scale 10 --seed 1]
 *
 * Time is compressed: the fake upstream's clock and the gateway's clock both run `scale` times
 * faster than real time from the same origin (the gateway gets VIDGATE_BENCH_CLOCK), so a job of
 * 8 upstream minutes takes 48 real seconds at scale 10 and every delay below is in upstream
 * (= production) seconds. What compression distorts is work done in real time after a job is
 * seen done (download, probe, storage): it is measured separately in real seconds and added
 * back unscaled ("end to end at 1x"). See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { FakeClock, startOpenAIVideosFake, wallNow } from '../test/fakes/index.js';
import type { OpenAIVideosFake, ScriptedJob } from '../test/fakes/index.js';
import { ROOT, spawnServer } from '../test/helpers/process.js';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000' },
    scale: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    'min-run-s': { type: 'string', default: '60' },
    'max-run-s': { type: 'string', default: '480' },
    'baseline-interval-s': { type: 'string', default: '15' },
    json: { type: 'string' },
    /** Print the status-call timeline of the N slowest-detected jobs. */
    trace: { type: 'string', default: '0' },
  },
});
const N = Number(args.tasks);
const SCALE = Number(args.scale);
const MIN_RUN = Number(args['min-run-s']) * 1000;
const MAX_RUN = Number(args['max-run-s']) * 1000;
const BASELINE_INTERVAL = Number(args['baseline-interval-s']) * 1000;

const q = (xs: number[], f: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const log = (m: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

/** new-api's TaskPollingLoop for video: sleep 15 s, then fetch each unfinished task one at a time, 1 s apart. */
async function newApiLoop(fake: OpenAIVideosFake, clock: FakeClock, ids: string[]): Promise<void> {
  const unfinished = new Set(ids);
  while (unfinished.size > 0) {
    await clock.sleep(BASELINE_INTERVAL);
    for (const id of [...unfinished]) {
      const res = await fetch(`${fake.baseURL}/videos/${id}`, { headers: { authorization: 'Bearer sk-test' } });
      const v = (await res.json()) as { status?: string };
      if (v.status === 'completed' || v.status === 'failed') unfinished.delete(id);
      await clock.sleep(1_000);
    }
  }
}

async function main(): Promise<void> {
  log('building the gateway');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  const origin = Date.now();
  const clock = new FakeClock({ timeScale: SCALE, startAt: origin + (wallNow() - origin) * SCALE });
  const fake = await startOpenAIVideosFake({
    clock,
    seed: Number(args.seed),
    maxRecordedRequests: 20_000,
    script: ({ rng }) => ({ queuedMs: 2_000 + rng() * 18_000, runMs: MIN_RUN + rng() * (MAX_RUN - MIN_RUN), progress: 'linear' }),
  });
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-bench-polling-'));
  const config = path.join(dataDir, 'vidgate.json');
  await writeFile(
    config,
    JSON.stringify({
      logLevel: 'warn',
      limits: { rpm: 1_000_000, maxInflight: N * 2 },
      worker: { concurrency: 128 },
      channels: [{ id: 'bench', type: 'openai-compatible', base_url: fake.baseURL, api_key: 'sk-test', models: ['sora-2'] }],
    }),
  );
  const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: config, VIDGATE_BENCH_CLOCK: `${origin}:${SCALE}`, LOG_LEVEL: 'warn' };
  const keyJson = execFileSync(process.execPath, [path.join(ROOT, 'bin/vidgate.js'), 'key', 'create', '--name', 'bench', '--credit', String(N), '--json'], {
    env: { ...process.env, ...env },
  }).toString();
  const key = (JSON.parse(keyJson) as { key: string }).key;
  const server = await spawnServer(env);
  try {
    log(`gateway up; creating ${N} tasks through it and ${N} baseline jobs on the fake (scale ${SCALE}x)`);
    const createdAt = wallNow();
    const gatewayIds: string[] = [];
    await pool(Array.from({ length: N }), 32, async (_x, i) => {
      const res = await fetch(`${server.url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'sora-2', prompt: `bench ${i}`, seconds: '4' }),
      });
      if (res.status !== 200) throw new Error(`create ${i}: ${res.status} ${await res.text()}`);
      gatewayIds[i] = ((await res.json()) as { id: string }).id;
    });
    const baselineIds: string[] = [];
    await pool(Array.from({ length: N }), 32, async (_x, i) => {
      const res = await fetch(`${fake.baseURL}/videos`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'sora-2', prompt: `baseline ${i}`, seconds: '4' }),
      });
      baselineIds[i] = ((await res.json()) as { id: string }).id;
    });
    log(`created in ${((wallNow() - createdAt) / 1000).toFixed(1)} s real; following them`);
    const baseline = newApiLoop(fake, clock, baselineIds);

    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    for (;;) {
      const left = (db.prepare(`SELECT COUNT(*) AS n FROM tasks WHERE stage <> 'done'`).get() as { n: number }).n;
      if (left === 0) break;
      log(`gateway: ${left} unfinished; upstream time +${((clock.now() - origin) / 1000).toFixed(0)} s`);
      await new Promise((r) => setTimeout(r, 5_000));
    }
    log('gateway done; waiting for the baseline loop');
    await baseline;

    // ---- gateway numbers
    const rows = db.prepare('SELECT upstream_id, status, completed_at FROM tasks').all() as { upstream_id: string; status: string; completed_at: number }[];
    db.close();
    const detect: number[] = [];
    const e2e: number[] = [];
    const processing: number[] = [];
    const calls: number[] = [];
    let failed = 0;
    for (const r of rows) {
      const job = fake.job(r.upstream_id);
      calls.push(job.statusCalls);
      if (r.status !== 'completed') {
        failed++;
        continue;
      }
      const d = (job.firstTerminalSeenAtWall! - job.completedAtWall!) * SCALE;
      const total = r.completed_at - job.finishedAt!;
      detect.push(d);
      e2e.push(total);
      processing.push((total - d) / SCALE);
    }
    const e2eAt1x = detect.map((d, i) => d + processing[i]!);
    const traceN = Number(args.trace);
    if (traceN > 0) {
      const worst = rows
        .map((r) => fake.job(r.upstream_id))
        .filter((j) => j.firstTerminalSeenAtWall !== undefined)
        .sort((x, y) => (y.firstTerminalSeenAtWall! - y.completedAtWall!) - (x.firstTerminalSeenAtWall! - x.completedAtWall!))
        .slice(0, traceN);
      for (const j of worst) {
        const rel = (wall: number) => ((wall - j.createdAtWall) * SCALE / 1000).toFixed(1);
        const calls = fake.requestsFor('status', j.id).map((r) => rel(r.at)).join(' ');
        console.error(`job ${j.id.slice(0, 14)} queued ${(j.script.queuedMs / 1000).toFixed(1)} run ${(j.script.runMs / 1000).toFixed(1)} done@${rel(j.completedAtWall!)} seen@${rel(j.firstTerminalSeenAtWall!)} calls: ${calls}`);
      }
    }
    // ---- baseline numbers
    const bjobs: ScriptedJob[] = baselineIds.map((id) => fake.job(id));
    const bdetect = bjobs.map((j) => (j.firstTerminalSeenAtWall! - j.completedAtWall!) * SCALE);
    const bcalls = bjobs.map((j) => j.statusCalls);

    const result = {
      date: new Date().toISOString(),
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      params: { tasks: N, scale: SCALE, runSeconds: [MIN_RUN / 1000, MAX_RUN / 1000], queueSeconds: [2, 20], progress: 'linear', seed: Number(args.seed) },
      vidgate: {
        completed: detect.length,
        failed,
        detectionMs: { median: q(detect, 0.5), p90: q(detect, 0.9), p99: q(detect, 0.99), max: q(detect, 1) },
        completedInApiAt1xMs: { median: q(e2eAt1x, 0.5), p90: q(e2eAt1x, 0.9), p99: q(e2eAt1x, 0.99) },
        completedInApiCompressedMs: { median: q(e2e, 0.5), p99: q(e2e, 0.99) },
        processingRealMs: { median: q(processing, 0.5), p99: q(processing, 0.99) },
        statusCallsPerTask: { mean: mean(calls), median: q(calls, 0.5), p99: q(calls, 0.99), max: q(calls, 1) },
      },
      newApiLoop: {
        detectionMs: { median: q(bdetect, 0.5), p90: q(bdetect, 0.9), p99: q(bdetect, 0.99), max: q(bdetect, 1) },
        statusCallsPerTask: { mean: mean(bcalls), median: q(bcalls, 0.5), p99: q(bcalls, 0.99), max: q(bcalls, 1) },
      },
    };
    console.log(JSON.stringify(result, null, 2));
    const v = result.vidgate;
    const b = result.newApiLoop;
    console.log(`
| ${N} tasks, jobs of ${MIN_RUN / 1000}–${MAX_RUN / 1000} s, ${SCALE}x | vidgate | new-api loop (15 s, serial, 1 s/task) |
|---|---|---|
| upstream done → seen done, median | ${sec(v.detectionMs.median)} | ${sec(b.detectionMs.median)} |
| upstream done → seen done, p99 | ${sec(v.detectionMs.p99)} | ${sec(b.detectionMs.p99)} |
| upstream done → \`completed\` in our API (at 1x), median | ${sec(v.completedInApiAt1xMs.median)} | — |
| upstream done → \`completed\` in our API (at 1x), p99 | ${sec(v.completedInApiAt1xMs.p99)} | — |
| status calls per task, mean (p99) | ${v.statusCallsPerTask.mean.toFixed(2)} (${v.statusCallsPerTask.p99}) | ${b.statusCallsPerTask.mean.toFixed(2)} (${b.statusCallsPerTask.p99}) |
`);
    if (args.json) await writeFile(args.json, JSON.stringify(result, null, 2));
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
