/**
 * Scale: does a big store slow status reads down, and does memory grow with unfinished tasks?
 *
 *   npm run bench scale                                  # 1,000,000 tasks, 100,000 unfinished
 *   npx tsx bench/scale.ts [--tasks 1000000] [--unfinished 100000] [--rate 400] [--store sqlite:DIR | postgres://HOST:PORT/] [--keep]
 *
 * 1. Status reads: two gateway processes (worker off), one on a store with `tasks` tasks and one on
 *    an "empty" store (100 tasks), both with the same keys. GET /v1/videos/{id} over random ids of
 *    each store at a fixed rate (open loop; latency from the moment a request was due, so a stall
 *    counts against every request it delays), first over ids never read (cold: the gateway's caches
 *    and SQLite's page cache have not seen them), then the same ids again (warm); then at
 *    saturation (autocannon, 64 connections, a random id per request), rounds alternating.
 * 2. Memory: a gateway process with its worker on and one channel to a fake upstream (jobs of an
 *    hour) on a store holding `unfinished` queued tasks due now, against the same on an empty
 *    store; RSS after start-up and after `rssSeconds`, and the database size.
 *
 * Stores are filled by bench/populate.ts through the project's own insert code. `--store` names
 * where they go: sqlite:DIR (data directories under DIR), or a PostgreSQL server URL, where each
 * store is a fresh database `vidgate_bench_scale_<name>` (dropped first, and at the end unless
 * --keep) filled through a temporary SQLite store and `db copy`; the measuring part only hands the
 * location to the gateway (storeEnv).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Agent, fetch } from 'undici';
import { videoId } from '../src/core/ids.js';
import { startOpenAIVideosFake } from '../test/fakes/index.js';
import type { Child } from './lib.js';
import { fmt, machine, median, percentile, startProcess } from './lib.js';
import type { Populated, PopulateSpec, StoreBase, StoreLocation } from './populate.js';
import { dropPgDatabase, freshPgDatabase, parseStoreLocation, populate, storeBytes, storeEnv, storeQuery } from './populate.js';

export interface ScaleOptions {
  tasks: number;
  unfinished: number;
  /** Fixed rate of the open-loop passes, requests per second. */
  rate: number;
  /** Ids per cold (then warm) pass. */
  sample: number;
  /** Rounds of open-loop passes (empty, cold, warm). */
  rounds: number;
  satRounds: number;
  satSeconds: number;
  rssSeconds: number;
  /** Where stores go (`sqlite:DIR` or `postgres://HOST:PORT/`); a fresh temporary directory by default. */
  store?: string;
  keep?: boolean;
}

const KEYS = 20;
const EMPTY_TASKS = 100;
const LIMITS = { VIDGATE_RPM_LIMIT: '1000000000', VIDGATE_MAX_INFLIGHT: '1000000000' };

const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

/** PostgreSQL databases made by this run (dropped at the end unless --keep). */
const madeDatabases: string[] = [];

/** A location under the base for one store: a data directory, and on PostgreSQL a fresh database. */
async function under(base: StoreBase, name: string): Promise<StoreLocation> {
  const dataDir = path.join(base.dataDir, name);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  if (base.kind === 'sqlite') return { kind: 'sqlite', dataDir };
  const url = await freshPgDatabase(base.server, `vidgate_bench_scale_${name.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`);
  madeDatabases.push(url);
  return { kind: 'postgres', url, dataDir };
}

interface Target {
  path: string;
  auth: string;
}

/** `n` random (id, key) pairs of a populated store: distinct ids while it has enough, then repeats. */
function sampleTargets(p: Populated, n: number, seed: number): Target[] {
  let a = seed >>> 0;
  const rand = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // A partial Fisher-Yates shuffle of the indexes.
  const order = new Uint32Array(p.ids.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const out: Target[] = [];
  for (let k = 0; k < n; k++) {
    const j = k % order.length;
    const r = j + Math.floor(rand() * (order.length - j));
    const i = order[r]!;
    order[r] = order[j]!;
    order[j] = i;
    out.push({ path: `/v1/videos/${videoId(p.ids[i]!)}`, auth: `Bearer ${p.keys[p.keyOf[i]!]!.secret}` });
  }
  return out;
}

interface Latencies {
  p50: number;
  p99: number;
  max: number;
  /** Requests answered per second over the pass. */
  rate: number;
  errors: number;
  load1: number;
}

/**
 * Open loop: request i is due at start + i / rate and is sent then, whatever the earlier ones
 * are doing; its latency runs from when it was due to when its body was read.
 */
async function fixedRate(url: string, targets: Target[], rate: number, dispatcher: Agent): Promise<Latencies> {
  const lat: number[] = [];
  let errors = 0;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < targets.length; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t = targets[i]!;
    pending.push(
      fetch(url + t.path, { headers: { authorization: t.auth }, dispatcher })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status !== 200) errors++;
          lat.push(performance.now() - due);
        })
        .catch(() => {
          errors++;
        }),
    );
  }
  await Promise.all(pending);
  process.stderr.write(`scale: ${targets.length} reads at ${rate}/s done\n`);
  const seconds = (performance.now() - started) / 1000;
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), max: Math.max(...lat), rate: lat.length / seconds, errors, load1: loadavg()[0]! };
}

async function saturate(url: string, targets: Target[], seconds: number): Promise<{ rps: number; p50: number; p99: number; max: number; errors: number }> {
  let i = 0;
  const r = await autocannon({
    url,
    connections: 64,
    duration: seconds,
    requests: [
      {
        setupRequest: (req) => {
          const t = targets[i++ % targets.length]!;
          return { ...req, path: t.path, headers: { ...req.headers, authorization: t.auth } };
        },
      },
    ],
  });
  process.stderr.write(`scale: saturation ${fmt(r.requests.average)} req/s\n`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, errors: r.non2xx + r.errors + r.timeouts };
}

const spec = (tasks: number, over: Partial<PopulateSpec> = {}): PopulateSpec => ({
  tasks,
  keys: KEYS,
  mix: { completed: 0.9, failed: 0.07, cancelled: 0.02 },
  spreadDays: 60,
  provider: 'sandbox',
  model: 'sora-2',
  ...over,
});

/**
 * Status reads on a big store against an empty one, and against a mid-size one read the same way
 * (every read a miss of the gateway's status cache, as on the big store): the first ratio is the
 * goal's, the second is what the store's size alone costs.
 */
async function statusReads(base: StoreBase, o: ScaleOptions): Promise<string[]> {
  const load0 = loadavg()[0]!;
  const midTasks = Math.max(1_000, Math.min(20_000, Math.floor(o.tasks / 50)));
  const sizes = [
    { name: 'empty store', n: EMPTY_TASKS },
    { name: `${fmt(midTasks)} tasks`, n: midTasks },
    { name: `${fmt(o.tasks)} tasks`, n: o.tasks },
  ];
  const stores: Array<(typeof sizes)[number] & { loc: StoreLocation; p: Populated; gw: Child | undefined }> = [];
  for (const [i, x] of sizes.entries()) {
    const loc = await under(base, ['empty', 'mid', 'big'][i]!);
    stores.push({ ...x, loc, p: await populate(loc, spec(x.n)), gw: undefined });
  }
  const [empty, mid, big] = stores as [(typeof stores)[0], (typeof stores)[0], (typeof stores)[0]];
  process.stderr.write(`scale: populated ${fmt(o.tasks)} tasks in ${fmt(big.p.seconds, 1)} s (${fmt(big.p.dbBytes / 2 ** 20)} MiB)\n`);
  const onPg = base.kind === 'postgres';
  const filled = `filled in ${fmt(big.p.seconds, 1)} s${big.p.copySeconds !== undefined ? `, of which ${fmt(big.p.copySeconds, 1)} s in \`db copy\` from SQLite` : ''}`;
  const env = { VIDGATE_WORKER: 'false', ...LIMITS };
  const dispatcher = new Agent({ connections: 64, pipelining: 1 });
  try {
    for (const st of stores) st.gw = await startProcess(['dist/main.js'], { ...storeEnv(st.loc), ...env }, '/healthz');
    const url = (st: (typeof stores)[0]) => st.gw!.url;
    // Read-back: the gateway serves a populated task as stored.
    const probe = sampleTargets(big.p, 1, 7)[0]!;
    const res = await fetch(url(big) + probe.path, { headers: { authorization: probe.auth }, dispatcher });
    const video = (await res.json()) as { id?: string; status?: string; prompt?: string };
    if (res.status !== 200 || video.id !== probe.path.split('/').pop() || !video.prompt) throw new Error(`read-back of ${probe.path} failed: ${res.status}`);

    // Open loop, rounds in a rotating order: the empty store (its few ids are always warm); the
    // mid-size store over random ids (more than its status cache holds); the big store over ids
    // never read before (cold) and the same ids again (warm).
    const emptyTargets = sampleTargets(empty.p, o.sample, 2);
    const midTargets = sampleTargets(mid.p, o.sample * o.rounds, 4);
    const coldIds = sampleTargets(big.p, o.sample * o.rounds, 1);
    const runs = { empty: [] as Latencies[], mid: [] as Latencies[], cold: [] as Latencies[], warm: [] as Latencies[] };
    for (let round = 0; round < o.rounds; round++) {
      const slice = (xs: Target[]) => xs.slice(round * o.sample, (round + 1) * o.sample);
      const steps = [
        async () => runs.empty.push(await fixedRate(url(empty), emptyTargets, o.rate, dispatcher)),
        async () => runs.mid.push(await fixedRate(url(mid), slice(midTargets), o.rate, dispatcher)),
        async () => {
          runs.cold.push(await fixedRate(url(big), slice(coldIds), o.rate, dispatcher));
          runs.warm.push(await fixedRate(url(big), slice(coldIds), o.rate, dispatcher));
        },
      ];
      for (let k = 0; k < steps.length; k++) await steps[(k + round) % steps.length]!();
    }
    // Saturation, in a rotating order; random ids over the whole store.
    type Sat = Awaited<ReturnType<typeof saturate>>;
    const satTargets = [emptyTargets, sampleTargets(mid.p, mid.p.ids.length, 5), sampleTargets(big.p, Math.min(big.p.ids.length, 200_000), 3)];
    const sat: Sat[][] = [[], [], []];
    for (let round = 0; round < o.satRounds; round++) {
      for (let k = 0; k < 3; k++) {
        const i = (k + round) % 3;
        sat[i]!.push(await saturate(url(stores[i]!), satTargets[i]!, o.satSeconds));
      }
    }
    const ratio = (xs: Latencies[], base: Latencies[], k: 'p50' | 'p99') => median(xs.map((x, i) => x[k] / base[i]![k])).toFixed(2);
    const passRow = (name: string, xs: Latencies[]) =>
      `| ${name} | ${fmt(median(xs.map((x) => x.p50)), 2)} | ${fmt(median(xs.map((x) => x.p99)), 2)} | ${fmt(Math.max(...xs.map((x) => x.max)), 1)} | ${fmt(median(xs.map((x) => x.rate)))} | ${xs.reduce((n, x) => n + x.errors, 0)} | ${xs.map((x) => `${fmt(x.p50, 2)} / ${fmt(x.p99, 1)}`).join(', ')} | ${xs.map((x) => fmt(x.load1, 1)).join(', ')} |`;
    const satRatio = (i: number, j: number) => median(sat[i]!.map((b, k) => b.rps / sat[j]![k]!.rps)).toFixed(2);
    const satRow = (i: number) => {
      const xs = sat[i]!;
      return `| ${stores[i]!.name} | ${fmt(satTargets[i]!.length)} | ${fmt(median(xs.map((x) => x.rps)))} | ${fmt(median(xs.map((x) => x.p50)), 1)} | ${fmt(median(xs.map((x) => x.p99)), 1)} | ${fmt(Math.max(...xs.map((x) => x.max)), 1)} | ${xs.reduce((n, x) => n + x.errors, 0)} | ${xs.map((x) => fmt(x.rps)).join(', ')} |`;
    };
    return [
      `Stores${onPg ? ' on PostgreSQL (a database each)' : ' on SQLite'}: ${fmt(o.tasks)} tasks (${Object.entries(big.p.counts).filter(([, n]) => n).map(([st, n]) => `${fmt(n)} ${st}`).join(', ')}; ${KEYS} keys; ${fmt(big.p.dbBytes / 2 ** 20)} MiB${onPg ? ' (pg_database_size)' : ''}, ${filled}), ${fmt(midTasks)} tasks and ${EMPTY_TASKS} tasks ("empty"), each with ${KEYS} keys. Gateways: dist/main.js, worker off, limits raised. Load average (1 min) before: ${fmt(load0, 2)}.`,
      '',
      `GET /v1/videos/{id}, open loop at ${fmt(o.rate)} requests/s, ${o.rounds} rounds of ${fmt(o.sample)} random ids per pass, order rotating; latency in ms from when each request was due; medians of the rounds:`,
      '',
      '| Store | p50 | p99 | max (all rounds) | answered/s | errors | Rounds (p50 / p99) | Load (1 min) after each |',
      '|---|---:|---:|---:|---:|---:|---|---|',
      passRow('empty store (status cache hits)', runs.empty),
      passRow(`${mid.name}, random ids (cache misses)`, runs.mid),
      passRow(`${big.name}, cold (first read of each id)`, runs.cold),
      passRow(`${big.name}, warm (same ids again)`, runs.warm),
      '',
      `${big.name} against the empty store (median of the rounds' ratios): p99 cold ${ratio(runs.cold, runs.empty, 'p99')}×, warm ${ratio(runs.warm, runs.empty, 'p99')}× (goal ≤ 1.2×); p50 cold ${ratio(runs.cold, runs.empty, 'p50')}×, warm ${ratio(runs.warm, runs.empty, 'p50')}×. Against ${mid.name} read the same way: p99 cold ${ratio(runs.cold, runs.mid, 'p99')}×, warm ${ratio(runs.warm, runs.mid, 'p99')}×; p50 cold ${ratio(runs.cold, runs.mid, 'p50')}×, warm ${ratio(runs.warm, runs.mid, 'p50')}×.`,
      '',
      `Saturation: autocannon, 64 connections, ${o.satRounds} rounds × ${o.satSeconds} s per store in a rotating order, a random id per request, medians:`,
      '',
      '| Store | ids | req/s | p50 ms | p99 ms | max ms | errors | Rounds (req/s) |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
      satRow(0),
      satRow(1),
      satRow(2),
      '',
      `Throughput (median of the rounds' ratios): ${big.name} ÷ empty store ${satRatio(2, 0)}×, ${big.name} ÷ ${mid.name} ${satRatio(2, 1)}×, ${mid.name} ÷ empty store ${satRatio(1, 0)}×. Load average (1 min) at the end: ${fmt(loadavg()[0]!, 2)}.`,
    ];
  } finally {
    for (const st of stores) await st.gw?.stop();
    await dispatcher.close();
  }
}

/** RSS of a node with many unfinished tasks against one with none, each with its worker on. */
async function memory(base: StoreBase, o: ScaleOptions): Promise<string[]> {
  const fake = await startOpenAIVideosFake({ script: { queuedMs: 60_000, runMs: 3_600_000 } });
  const rows: string[] = [];
  try {
    const few = Math.max(100, Math.floor(o.unfinished / 20));
    for (const [name, n] of [['empty store', 0], [`${fmt(few)} unfinished`, few], [`${fmt(o.unfinished)} unfinished`, o.unfinished]] as const) {
      const store = await under(base, `unfinished-${n}`);
      const p = await populate(store, spec(n, { mix: { completed: 0, failed: 0, cancelled: 0 }, provider: 'channels', spreadDays: 10 / 1440 }));
      const configFile = path.join(store.dataDir, 'vidgate.json');
      writeFileSync(
        configFile,
        JSON.stringify({
          net: { allowCidrs: ['127.0.0.1/32'] },
          channels: [{ id: 'up', type: 'openai-compatible', base_url: fake.baseURL, api_key: 'sk-test', models: ['sora-2'], concurrency: 64 }],
        }),
      );
      const before = fake.submissionCount;
      const gw = await startProcess(['dist/main.js'], { ...storeEnv(store), VIDGATE_CONFIG: configFile, ...LIMITS }, '/healthz');
      try {
        const pid = gw.process.pid!;
        const atStart = rssMb(pid);
        const samples: number[] = [];
        const started = performance.now();
        while (performance.now() - started < o.rssSeconds * 1000) {
          await new Promise((r) => setTimeout(r, 5000));
          samples.push(rssMb(pid));
        }
        const stages = Object.fromEntries((await storeQuery<{ stage: string; n: number }>(store, 'SELECT stage, COUNT(*) AS n FROM tasks GROUP BY stage ORDER BY stage')).map((r) => [r.stage, Number(r.n)]));
        const failures = (await storeQuery<{ code: string; n: number }>(store, `SELECT COALESCE(error_code, status) AS code, COUNT(*) AS n FROM tasks WHERE stage = 'done' GROUP BY COALESCE(error_code, status) ORDER BY 1`))
          .map((r) => `${r.code} ${fmt(Number(r.n))}`).join(', ');
        const bytes = await storeBytes(store);
        rows.push(
          `| ${name} | ${fmt(atStart, 1)} | ${fmt(samples.at(-1)!, 1)} | ${fmt(Math.max(...samples), 1)} | ${fmt(bytes / 2 ** 20, 1)} | ${fmt(fake.submissionCount - before)} | ${Object.entries(stages).map(([s, k]) => `${s} ${fmt(k)}`).join(', ') || '–'}${failures ? ` (done: ${failures})` : ''} | ${fmt(loadavg()[0]!, 2)} |`,
        );
        process.stderr.write(`scale: ${name}: RSS ${fmt(atStart, 1)} → ${fmt(samples.at(-1)!, 1)} MB (${fmt(p.seconds, 1)} s to fill)\n`);
      } finally {
        await gw.stop();
      }
    }
  } finally {
    await fake.close();
  }
  return [
    `A gateway (dist/main.js, worker on, default concurrency) with one openai-compatible channel to a fake upstream whose jobs take an hour, on a store whose tasks are all queued for that channel and due now (one twentieth as many: the same worker activity; and an empty store: an idle node); RSS from /proc after start-up (\`/healthz\` answering) and after ${o.rssSeconds} s (also the largest 5 s sample):`,
    '',
    '| Store | RSS at start (MB) | RSS after (MB) | RSS max (MB) | database (MiB) | submitted upstream | tasks by stage after | load (1 min) |',
    '|---|---:|---:|---:|---:|---:|---|---:|',
    ...rows,
  ];
}

export async function scaleBench(o: ScaleOptions): Promise<string> {
  // Data directories go to a temporary directory unless --store names one (sqlite:DIR).
  const temp = !o.store || /^postgres(ql)?:/i.test(o.store);
  const tempDir = () => mkdtempSync(path.join(tmpdir(), 'bench-scale-'));
  const base: StoreBase = o.store ? parseStoreLocation(o.store, temp ? tempDir() : '') : { kind: 'sqlite', dataDir: tempDir() };
  mkdirSync(base.dataDir, { recursive: true });
  try {
    const reads = await statusReads(base, o);
    const mem = await memory(base, o);
    return [...reads, '', ...mem].join('\n');
  } finally {
    if (temp && !o.keep) rmSync(base.dataDir, { recursive: true, force: true });
    if (!o.keep) for (const url of madeDatabases.splice(0)) await dropPgDatabase(url);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      tasks: { type: 'string', default: '1000000' },
      unfinished: { type: 'string', default: '100000' },
      rate: { type: 'string', default: '400' },
      sample: { type: 'string', default: '12000' },
      'rss-seconds': { type: 'string', default: '120' },
      store: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`--${name}: a positive integer, got ${v}`);
      process.exit(2);
    }
    return n;
  };
  console.log(`Machine: ${machine()}; ${new Date().toISOString()}\n`);
  console.log(
    await scaleBench({
      tasks: int('tasks', values.tasks),
      unfinished: int('unfinished', values.unfinished),
      rate: int('rate', values.rate),
      sample: int('sample', values.sample),
      rounds: 3,
      satRounds: 3,
      satSeconds: 8,
      rssSeconds: int('rss-seconds', values['rss-seconds']),
      ...(values.store ? { store: values.store } : {}),
      keep: values.keep,
    }),
  );
}
