/**
 * Upstream callbacks benchmark (issue 11): how soon a job that finished upstream shows as
 * `completed` in our API, and how many status calls it cost, with the provider's callbacks on
 * (the gateway has a public URL, so the adapter registers a per-task callback URL) versus
 * polling alone (no public URL) — against the Kling fake (3.x API, signed callbacks) and the
 * Seedance (Ark) fake.
 *
 *   npm run bench callbacks
 *   npx tsx bench/callbacks.ts [--tasks 1000] [--rate 10] [--queued-ms 1000] [--run-ms 5000]
 *
 * For each provider and mode: one fake in this process, one gateway process (built dist/, its own
 * SQLite database) with the default polling policy and one channel. Tasks are created through
 * `POST /v1/videos` at --rate per second (open loop); every job has the same length in the fake.
 * The driver watches the gateway's database read-only until every task is terminal. The delay is
 * the task's `completed_at` (gateway, ms) minus the fake's exact completion moment of the job
 * (`completedAtWall`, same machine clock): detection plus download, probe and storage. Status
 * calls are counted per job by the fake.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { startArkFake, startKlingFake } from '../test/fakes/index.js';
import type { ArkFake, KlingFake } from '../test/fakes/index.js';
import { freePort, ROOT, spawnServer } from '../test/helpers/process.js';
import { machine, median, percentile } from './lib.js';

export interface CallbacksBenchOptions {
  tasks: number;
  /** Creates per second. */
  rate: number;
  queuedMs: number;
  runMs: number;
}

type Provider = 'kling' | 'ark';
type Mode = 'callbacks' | 'polling';

interface RunResult {
  provider: Provider;
  mode: Mode;
  delays: number[];
  /** The fake's first terminal status answer − its completion moment (detection alone). */
  detection: number[];
  statusCalls: number[];
  callbacksAccepted: number;
  completed: number;
  failed: number;
  unfinished: number;
  seconds: number;
}

const AK = 'ak-bench-access-0123456789';
const SK = 'sk-bench-secret-ABCDEFGHIJKLMNOP';
const WHSEC = `whsec_${Buffer.from('bench-webhook-signing-key-32byte').toString('base64')}`;
const ARK_KEY = 'ark-bench-key-0123456789abcdef';
const TIMEOUT_MS = 5 * 60_000;

const MODELS = [
  { id: 'kling-3.0', sizes: ['1280x720'], seconds: [5], pricePerSecond: { '720p': 0.1, '1024p': 0.1, '1080p': 0.1 } },
  { id: 'seedance-1-0-pro', sizes: ['1280x720'], seconds: [5], pricePerSecond: { '720p': 0.05, '1024p': 0.05, '1080p': 0.05 } },
];

const log = (m: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runOne(provider: Provider, mode: Mode, o: CallbacksBenchOptions): Promise<RunResult> {
  const script = { queuedMs: o.queuedMs, runMs: o.runMs };
  const fake: KlingFake | ArkFake =
    provider === 'kling'
      ? await startKlingFake({ accessKeys: { [AK]: SK }, apiKey: [], webhookSecret: WHSEC, script })
      : await startArkFake({ apiKey: ARK_KEY, script });
  const model = provider === 'kling' ? 'kling-3.0' : 'seedance-1-0-pro';
  const ch =
    provider === 'kling'
      ? { id: 'kling', type: 'kling', base_url: fake.baseURL, access_key: AK, secret_key: SK, webhook_secret: WHSEC, models: ['kling-3.0'] }
      : { id: 'ark', type: 'ark', base_url: fake.baseURL, api_key: ARK_KEY, models: [{ model: 'seedance-1-0-pro', upstream_model: 'seedance-1-0-pro-250528' }] };
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-bench-callbacks-'));
  const config = path.join(dataDir, 'vidgate.json');
  await writeFile(
    config,
    JSON.stringify({
      logLevel: 'warn',
      models: MODELS,
      net: { allowCidrs: ['127.0.0.1/32'] },
      limits: { rpm: 1_000_000, maxInflight: 100_000 },
      channels: [ch],
    }),
  );
  const port = await freePort();
  const env: Record<string, string> = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: config, LOG_LEVEL: 'warn' };
  if (mode === 'callbacks') env.VIDGATE_PUBLIC_URL = `http://127.0.0.1:${port}`;
  const keyJson = execFileSync(process.execPath, [path.join(ROOT, 'bin/vidgate.js'), 'key', 'create', '--name', 'bench', '--credit', String(o.tasks + 10), '--json'], {
    env: { ...process.env, ...env },
  }).toString();
  const key = (JSON.parse(keyJson) as { key: string }).key;
  const server = await spawnServer(env, port);
  const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
  try {
    const create = async (i: number): Promise<void> => {
      const res = await fetch(`${server.url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt: `bench ${i}`, seconds: '5', size: '1280x720' }),
      });
      if (res.status !== 200) throw new Error(`create ${i}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    };
    const terminal = db.prepare(`SELECT COUNT(*) AS n FROM tasks WHERE stage = 'done'`);
    const countDone = () => (terminal.get() as { n: number }).n;
    // Warm up: the first task loads code paths, signs the first JWT, opens connections.
    await create(-1);
    const warmDeadline = Date.now() + 60_000;
    while (countDone() < 1 && Date.now() < warmDeadline) await sleep(50);
    const statusBefore = new Map([...fake.jobs.values()].map((j) => [j.id, j.statusCalls]));

    const started = Date.now();
    const creates: Promise<void>[] = [];
    for (let i = 0; i < o.tasks; i++) {
      const due = started + (i * 1000) / o.rate;
      if (due > Date.now()) await sleep(due - Date.now());
      creates.push(create(i));
    }
    await Promise.all(creates);
    const deadline = Date.now() + TIMEOUT_MS;
    while (countDone() < o.tasks + 1 && Date.now() < deadline) await sleep(200);
    const seconds = (Date.now() - started) / 1000;

    const rows = db.prepare(`SELECT upstream_id, status, completed_at FROM tasks WHERE prompt LIKE 'bench %' AND prompt <> 'bench -1'`).all() as { upstream_id: string | null; status: string; completed_at: number | null }[];
    const delays: number[] = [];
    const detection: number[] = [];
    const statusCalls: number[] = [];
    let completed = 0;
    let failed = 0;
    let unfinished = 0;
    for (const r of rows) {
      // Kling's ids are stored as `<route>:<task id>`.
      const job = r.upstream_id ? fake.jobs.get(r.upstream_id.slice(r.upstream_id.indexOf(':') + 1)) : undefined;
      if (r.status === 'completed' && job?.completedAtWall !== undefined && r.completed_at !== null) {
        completed++;
        delays.push(r.completed_at - job.completedAtWall);
        if (job.detectionDelayMs !== undefined) detection.push(job.detectionDelayMs);
        statusCalls.push(job.statusCalls - (statusBefore.get(job.id) ?? 0));
      } else if (r.status === 'failed' || r.status === 'cancelled') {
        failed++;
      } else {
        unfinished++;
      }
    }
    unfinished += o.tasks - rows.length;
    const callbacksAccepted = fake.callbacks.filter((c) => c.status !== undefined && c.status >= 200 && c.status < 300).length;
    return { provider, mode, delays, detection, statusCalls, callbacksAccepted, completed, failed, unfinished, seconds };
  } finally {
    db.close();
    server.child.kill('SIGTERM');
    await server.exited;
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function callbacksBench(o: CallbacksBenchOptions): Promise<string> {
  const results: RunResult[] = [];
  for (const provider of ['kling', 'ark'] as const) {
    for (const mode of ['callbacks', 'polling'] as const) {
      log(`callbacks: ${provider}, ${mode}, ${o.tasks} tasks at ${o.rate}/s`);
      const r = await runOne(provider, mode, o);
      log(`  ${r.completed} completed, ${r.failed} failed, ${r.unfinished} unfinished in ${r.seconds.toFixed(0)} s`);
      results.push(r);
    }
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const col = (f: (r: RunResult) => string) => results.map(f).join(' | ');
  const lines = [
    `${o.tasks} tasks per column, created at ${o.rate}/s through \`POST /v1/videos\`; every job queued ${o.queuedMs} ms and ran ${o.runMs} ms in the fake; default polling policy (first check 5 s, then 1–30 s; 300 s with callbacks). Machine: ${machine()}.`,
    '',
    '| | Kling, callbacks | Kling, polling only | Seedance (Ark), callbacks | Seedance (Ark), polling only |',
    '|---|---|---|---|---|',
    `| upstream completion → \`completed\`, median | ${col((r) => (r.mode === 'callbacks' ? `**${s(median(r.delays))}**` : s(median(r.delays))))} |`,
    `| same, p90 / p99 / max | ${col((r) => [90, 99, 100].map((p) => s(percentile(r.delays, p))).join(' / '))} |`,
    `| completion → first terminal status answer (detection alone), median / p99 | ${col((r) => `${s(median(r.detection))} / ${s(percentile(r.detection, 99))}`)} |`,
    `| status calls per task, mean (median / p99 / max) | ${col((r) => `${r.mode === 'callbacks' ? '**' : ''}${mean(r.statusCalls).toFixed(2)}${r.mode === 'callbacks' ? '**' : ''} (${median(r.statusCalls)} / ${percentile(r.statusCalls, 99)} / ${percentile(r.statusCalls, 100)})`)} |`,
    `| callbacks accepted (2xx) | ${col((r) => String(r.callbacksAccepted))} |`,
    `| completed / failed / unfinished, wall time | ${col((r) => `${r.completed} / ${r.failed} / ${r.unfinished}, ${r.seconds.toFixed(0)} s`)} |`,
    '',
    `Medians, callbacks ÷ polling only: Kling ${(median(results[0]!.delays) / median(results[1]!.delays)).toFixed(2)}×, Seedance ${(median(results[2]!.delays) / median(results[3]!.delays)).toFixed(2)}× (goal with callbacks: median under 0.3 s and under 2 status calls per task).`,
  ];
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      tasks: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '10' },
      'queued-ms': { type: 'string', default: '1000' },
      'run-ms': { type: 'string', default: '5000' },
    },
  });
  log('building the gateway');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  console.log(await callbacksBench({ tasks: Number(values.tasks), rate: Number(values.rate), queuedMs: Number(values['queued-ms']), runMs: Number(values['run-ms']) }));
}
