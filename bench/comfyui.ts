/**
 * ComfyUI completion benchmark: time from the ComfyUI fake's `executed` message (the output node
 * has saved the video) to `completed` in our API, and the gateway's CPU time per job — with the
 * websocket (the default) and with polling `/history` only (`websocket: false`), in the same run.
 *
 *   npm run bench comfyui
 *   npx tsx bench/comfyui.ts [--jobs 200] [--step-ms 50] [--in-flight 4]
 *
 * One ComfyUI fake (in this process) runs the docs' example workflow, one prompt at a time; every
 * job has the same length (20 sampler steps of --step-ms, then a real ffmpeg render of 25 frames
 * at 480x272). The gateway runs as its own process (built dist/) with the default polling policy
 * and one comfyui channel. The driver keeps --in-flight tasks open (a new one is created when one
 * finishes), watching the gateway's database read-only so that no client polling loads it.
 * Delays are `completed_at` (gateway, ms) minus the fake's `executed` time (same machine clock).
 * CPU is the gateway process's user + system time from /proc (its ffprobe children separately),
 * from the first create to the last completion, divided by the jobs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { startComfyUIFake } from '../test/fakes/comfyui-fake.js';
import { COMFY_MODELS, EXAMPLE_OPTIONS } from '../test/helpers/comfyui.js';
import { ROOT, spawnServer } from '../test/helpers/process.js';
import { machine, median, percentile } from './lib.js';

export interface ComfyBenchOptions {
  jobs: number;
  stepMs: number;
  inFlight: number;
}

interface ModeResult {
  mode: 'websocket' | 'polling';
  delays: number[];
  cpuMsPerJob: number;
  childCpuMsPerJob: number;
  historyCallsPerJob: number;
  failed: number;
  seconds: number;
}

const TICK_MS = 1000 / 100;
const log = (m: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

/** utime + stime and cutime + cstime of a process, in ms. */
function cpuOf(pid: number): { self: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14–17 of stat (utime, stime, cutime, cstime) are 11–14 after the command name.
  return { self: (Number(f[11]) + Number(f[12])) * TICK_MS, children: (Number(f[13]) + Number(f[14])) * TICK_MS };
}

async function runMode(mode: ModeResult['mode'], o: ComfyBenchOptions): Promise<ModeResult> {
  const fake = await startComfyUIFake({ stepMs: o.stepMs, nodeMs: 1 });
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-bench-comfy-'));
  const config = path.join(dataDir, 'vidgate.json');
  await writeFile(
    config,
    JSON.stringify({
      logLevel: 'warn',
      models: COMFY_MODELS,
      net: { allowCidrs: ['127.0.0.1/32'] },
      limits: { rpm: 1_000_000, maxInflight: 100_000 },
      channels: [{ id: 'gpu', type: 'comfyui', base_url: fake.baseURL, models: ['wan2.2-5b'], options: { ...EXAMPLE_OPTIONS, websocket: mode === 'websocket' } }],
    }),
  );
  const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: config, LOG_LEVEL: 'warn' };
  const keyJson = execFileSync(process.execPath, [path.join(ROOT, 'bin/vidgate.js'), 'key', 'create', '--name', 'bench', '--credit', String(o.jobs), '--json'], {
    env: { ...process.env, ...env },
  }).toString();
  const key = (JSON.parse(keyJson) as { key: string }).key;
  const server = await spawnServer(env);
  const pid = server.child.pid!;
  try {
    // Warm up: the first job loads code paths and opens the socket.
    const create = async (i: number) => {
      const res = await fetch(`${server.url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'wan2.2-5b', prompt: `bench ${i}`, seconds: '1', size: '480x272' }),
      });
      if (res.status !== 200) throw new Error(`create ${i}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { id: string }).id.replace(/^video_/, '');
    };
    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    const stage = db.prepare('SELECT stage FROM tasks WHERE id = ?');
    const waitDone = async (id: string) => {
      while ((stage.get(id) as { stage: string } | undefined)?.stage !== 'done') await new Promise((r) => setTimeout(r, 20));
    };
    await waitDone(await create(-1));
    await new Promise((r) => setTimeout(r, 1_000));
    const before = cpuOf(pid);
    const historyBefore = fake.requests.filter((r) => r.path.startsWith('/history/')).length;
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: o.inFlight }, async () => {
        while (next < o.jobs) {
          const i = next++;
          await waitDone(await create(i));
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const after = cpuOf(pid);
    const rows = db.prepare(`SELECT upstream_id, status, completed_at FROM tasks WHERE prompt LIKE 'bench %' AND prompt <> 'bench -1'`).all() as { upstream_id: string; status: string; completed_at: number }[];
    db.close();
    const delays: number[] = [];
    let failed = 0;
    for (const r of rows) {
      const e = fake.executions.get(r.upstream_id);
      if (r.status !== 'completed' || !e?.executedAt) {
        failed++;
        continue;
      }
      delays.push(r.completed_at - e.executedAt);
    }
    const history = fake.requests.filter((r) => r.path.startsWith('/history/')).length - historyBefore;
    return {
      mode,
      delays,
      cpuMsPerJob: (after.self - before.self) / o.jobs,
      childCpuMsPerJob: (after.children - before.children) / o.jobs,
      historyCallsPerJob: history / o.jobs,
      failed,
      seconds,
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function comfyuiBench(o: ComfyBenchOptions): Promise<string> {
  const results: ModeResult[] = [];
  for (const mode of ['websocket', 'polling'] as const) {
    log(`comfyui: ${o.jobs} jobs, ${mode}`);
    results.push(await runMode(mode, o));
  }
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const lines = [
    `${o.jobs} jobs of 20 steps × ${o.stepMs} ms + a 25-frame 480x272 render, ${o.inFlight} in flight, one ComfyUI fake, default polling policy. Machine: ${machine()}.`,
    '',
    '| | websocket (default) | polling `/history` only |',
    '|---|---|---|',
    `| \`executed\` → \`completed\`, median | **${ms(median(results[0]!.delays))}** | ${ms(median(results[1]!.delays))} |`,
    `| same, p90 / p99 / max | ${[0.9, 0.99, 1].map((p) => ms(percentile(results[0]!.delays, p * 100))).join(' / ')} | ${[0.9, 0.99, 1].map((p) => ms(percentile(results[1]!.delays, p * 100))).join(' / ')} |`,
    `| gateway CPU per job (user + system) | **${ms(results[0]!.cpuMsPerJob)}** | ${ms(results[1]!.cpuMsPerJob)} |`,
    `| its ffprobe children per job | ${ms(results[0]!.childCpuMsPerJob)} | ${ms(results[1]!.childCpuMsPerJob)} |`,
    `| \`/history\` reads per job | ${results[0]!.historyCallsPerJob.toFixed(1)} | ${results[1]!.historyCallsPerJob.toFixed(1)} |`,
    `| completed / failed, wall time | ${results[0]!.delays.length} / ${results[0]!.failed}, ${results[0]!.seconds.toFixed(0)} s | ${results[1]!.delays.length} / ${results[1]!.failed}, ${results[1]!.seconds.toFixed(0)} s |`,
  ];
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { jobs: { type: 'string', default: '200' }, 'step-ms': { type: 'string', default: '50' }, 'in-flight': { type: 'string', default: '4' } } });
  log('building the gateway');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  console.log(await comfyuiBench({ jobs: Number(values.jobs), stepMs: Number(values['step-ms']), inFlight: Number(values['in-flight']) }));
}
