import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/store/db.js';
import { KeyStore } from '../src/store/keys.js';
import { SqliteDatabase } from '../src/store/sql.js';
import type { Child } from './lib.js';
import { cpuSeconds, fmt, load, median, startProcess } from './lib.js';

/**
 * Request handling of the gateway against bare Fastify baselines, measured in the same run:
 * - GET /v1/videos/{id} vs a bare route returning a constant JSON object (64 connections);
 * - POST /v1/videos (JSON, durable: the task row and its event are committed before the answer)
 *   vs a bare route inserting one SQLite row per request.
 * Servers run in their own processes; the load generator (autocannon) in this one. The worker is
 * off so that rendering does not compete for the CPU; limits are raised out of the way.
 */
export async function httpBench(opts: { rounds: number; seconds: number; compare?: string }): Promise<string> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-gw-'));
  const db = openDatabase(dataDir);
  const { secret } = await KeyStore.of(new SqliteDatabase(db)).create('bench');
  db.close();
  const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_WORKER: 'false', VIDGATE_RPM_LIMIT: '1000000000', VIDGATE_MAX_INFLIGHT: '1000000000' };
  const auth = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ prompt: 'A calico cat playing a piano on stage', model: 'sora-2', seconds: '4', size: '720x1280' });

  let gw: Child | undefined;
  let bare: Child | undefined;
  let other: Child | undefined;
  let otherDir: string | undefined;
  try {
    gw = await startProcess(['dist/main.js'], env, '/healthz');
    bare = await startProcess(['--import', 'tsx', 'bench/baselines/bare-fastify.ts'], {}, '/const');
    // BENCH_COMPARE: another build's dist/main.js (an older commit), measured in the same rounds,
    // on its own data directory with a key made by its own command line (its schema may be older).
    let otherAuth = auth;
    if (opts.compare) {
      otherDir = mkdtempSync(path.join(tmpdir(), 'bench-gw-other-'));
      const cli = path.resolve(path.dirname(opts.compare), '../bin/vidgate.js');
      const made = execFileSync(process.execPath, [cli, 'key', 'create', '--name', 'bench', '--json'], { env: { ...process.env, VIDGATE_DATA_DIR: otherDir } });
      otherAuth = { ...auth, authorization: `Bearer ${(JSON.parse(made.toString()) as { key: string }).key}` };
      other = await startProcess([opts.compare], { ...env, VIDGATE_DATA_DIR: otherDir }, '/healthz');
    }
    const created = (await (await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: auth, body })).json()) as { id: string };
    const createdOther = other ? ((await (await fetch(`${other.url}/v1/videos`, { method: 'POST', headers: otherAuth, body })).json()) as { id: string }) : undefined;

    const get = { gw: [] as number[], bare: [] as number[], other: [] as number[] };
    const post = { gw: [] as number[], bare: [] as number[], other: [] as number[] };
    const errors: string[] = [];
    const run = async (label: string, into: number[], o: Parameters<typeof load>[0]) => {
      const r = await load(o);
      into.push(r.rps);
      if (r.errors) errors.push(`${label}: ${r.errors} errors`);
    };
    for (let round = 0; round < opts.rounds; round++) {
      const c = 64;
      const s = opts.seconds;
      // Alternate the order each round so neither target always runs on a warmer machine.
      const getPair = [
        () => run('bare GET', get.bare, { url: `${bare!.url}/const`, connections: c, durationSeconds: s }),
        () => run('gateway GET', get.gw, { url: `${gw!.url}/v1/videos/${created.id}`, headers: auth, connections: c, durationSeconds: s }),
        ...(other ? [() => run('other GET', get.other, { url: `${other!.url}/v1/videos/${createdOther!.id}`, headers: otherAuth, connections: c, durationSeconds: s })] : []),
      ];
      const postPair = [
        () => run('bare POST', post.bare, { url: `${bare!.url}/insert`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: c, durationSeconds: s }),
        () => run('gateway POST', post.gw, { url: `${gw!.url}/v1/videos`, method: 'POST', headers: auth, body, connections: c, durationSeconds: s }),
        ...(other ? [() => run('other POST', post.other, { url: `${other!.url}/v1/videos`, method: 'POST', headers: otherAuth, body, connections: c, durationSeconds: s })] : []),
      ];
      for (const step of round % 2 ? [...getPair].reverse() : getPair) await step();
      for (const step of round % 2 ? [...postPair].reverse() : postPair) await step();
    }
    // Both targets of a round run back to back, so the ratio of a round is the fair comparison on
    // a machine whose speed drifts; the table reports the median of the rounds' ratios.
    const row = (name: string, baseline: string, x: { gw: number[]; bare: number[] }) => {
      const ratios = x.gw.map((g, i) => g / x.bare[i]!);
      return `| ${name} | ${fmt(median(x.gw))} | ${baseline} | ${fmt(median(x.bare))} | ${median(ratios).toFixed(2)} | ${x.gw.map((g, i) => `${fmt(g)} / ${fmt(x.bare[i]!)}`).join(', ')} |`;
    };
    const compared = other
      ? [
          '',
          `Against the other build (${opts.compare}), same rounds: this build's ratio to the bare baseline, the other's, and this build's req/s over the other's (median of the rounds):`,
          '',
          '| Route | This build ratio | Other build ratio | This / other req/s |',
          '|---|---:|---:|---:|',
          ...([['GET /v1/videos/{id}', get], ['POST /v1/videos (JSON, durable)', post]] as const).map(
            ([name, x]) =>
              `| ${name} | ${median(x.gw.map((g, i) => g / x.bare[i]!)).toFixed(2)} | ${median(x.other.map((g, i) => g / x.bare[i]!)).toFixed(2)} | ${median(x.gw.map((g, i) => g / x.other[i]!)).toFixed(2)} |`,
          ),
        ]
      : [];
    return [
      `HTTP, 64 connections, ${opts.rounds} rounds × ${opts.seconds} s per target, requests/s (medians; ratio = median of the rounds' ratios):`,
      '',
      '| Gateway route | req/s | Baseline | req/s | Ratio | Rounds (gateway / baseline) |',
      '|---|---:|---|---:|---:|---|',
      row('GET /v1/videos/{id}', 'bare Fastify, constant JSON', get),
      row('POST /v1/videos (JSON, durable)', 'bare Fastify, one SQLite insert', post),
      ...compared,
      ...(errors.length ? ['', `Errors: ${errors.join('; ')}`] : []),
      '',
      await metricsInProcess(opts.rounds * 3),
    ].join('\n');
  } finally {
    await gw?.stop();
    await bare?.stop();
    await other?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    if (otherDir) rmSync(otherDir, { recursive: true, force: true });
  }
}

/**
 * The cost of observability on the same two routes, measured in the same run: the gateway with
 * everything off (as deployed by default), a second identical one (the A/A noise floor), one
 * with Prometheus metrics on (VIDGATE_METRICS_TOKEN) and one with OpenTelemetry tracing on
 * (every request and task sampled, exported over OTLP/HTTP to a sink in this process). Each
 * round measures every target once, in a rotating order; the table reports the median of the
 * rounds' ratios to "off".
 */
export async function observabilityBench(opts: { rounds: number; seconds: number }): Promise<string> {
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const sinkPort = (sink.address() as AddressInfo).port;
  const variants: Array<{ name: string; env: Record<string, string> }> = [
    { name: 'off', env: {} },
    { name: 'off (again: noise floor)', env: {} },
    { name: 'metrics on', env: { VIDGATE_METRICS_TOKEN: 'bench-metrics-token-0123456789' } },
    { name: 'tracing on (all sampled)', env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}` } },
  ];
  const dirs: string[] = [];
  const gateways: Array<{ name: string; child: Child; auth: Record<string, string>; video: string }> = [];
  const body = JSON.stringify({ prompt: 'A calico cat playing a piano on stage', model: 'sora-2', seconds: '4', size: '720x1280' });
  try {
    for (const v of variants) {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-obs-'));
      dirs.push(dataDir);
      const db = openDatabase(dataDir);
      const { secret } = await KeyStore.of(new SqliteDatabase(db)).create('bench');
      db.close();
      const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_WORKER: 'false', VIDGATE_RPM_LIMIT: '1000000000', VIDGATE_MAX_INFLIGHT: '1000000000', ...v.env };
      const child = await startProcess(['dist/main.js'], env, '/healthz');
      const auth = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
      const created = (await (await fetch(`${child.url}/v1/videos`, { method: 'POST', headers: auth, body })).json()) as { id: string };
      gateways.push({ name: v.name, child, auth, video: created.id });
    }
    type Run = { rps: number; cpuUs: number };
    const get = gateways.map(() => [] as Run[]);
    const post = gateways.map(() => [] as Run[]);
    const errors: string[] = [];
    // Every gateway is loaded at the same time (the connections split between them), so the
    // shared machine's swings hit all of them alike and each round's ratios to "off" cancel them:
    // measured one after the other, a round's ratio moved by ±30 % on a busy VM.
    const per = Math.max(1, Math.floor(64 / gateways.length));
    const measureAll = async (into: Run[][], target: (g: (typeof gateways)[number]) => Parameters<typeof load>[0], label: string) => {
      const cpu = gateways.map((g) => cpuSeconds(g.child.process.pid!));
      const results = await Promise.all(gateways.map((g) => load(target(g))));
      results.forEach((r, i) => {
        const g = gateways[i]!;
        into[i]!.push({ rps: r.rps, cpuUs: ((cpuSeconds(g.child.process.pid!) - cpu[i]!) * 1e6) / Math.max(1, r.total) });
        if (r.errors) errors.push(`${g.name} ${label}: ${r.errors} errors`);
      });
    };
    for (let round = 0; round < opts.rounds; round++) {
      await measureAll(get, (g) => ({ url: `${g.child.url}/v1/videos/${g.video}`, headers: g.auth, connections: per, durationSeconds: opts.seconds }), 'GET');
      await measureAll(post, (g) => ({ url: `${g.child.url}/v1/videos`, method: 'POST', headers: g.auth, body, connections: per, durationSeconds: opts.seconds }), 'POST');
    }
    const pct = (ratio: number) => `${((ratio - 1) * 100).toFixed(1)} %`;
    const row = (route: string, runs: Run[][], i: number) => {
      const rps = runs[i]!.map((x, k) => x.rps / runs[0]![k]!.rps);
      const cpu = runs[i]!.map((x, k) => x.cpuUs / runs[0]![k]!.cpuUs);
      return `| ${route} | ${gateways[i]!.name} | ${fmt(median(runs[i]!.map((x) => x.rps)))} | ${i === 0 ? '—' : pct(median(rps))} | ${fmt(median(runs[i]!.map((x) => x.cpuUs)), 1)} | ${i === 0 ? '—' : pct(median(cpu))} | ${runs[i]!.map((x) => `${fmt(x.rps)} / ${fmt(x.cpuUs, 1)}`).join(', ')} |`;
    };
    return [
      `HTTP, ${per} connections per gateway, all ${gateways.length} gateways loaded at the same time, ${opts.rounds} rounds × ${opts.seconds} s (medians; changes are medians of the rounds' ratios to "off"). CPU = the gateway process's user + system time per request:`,
      '',
      '| Route | Gateway | req/s | req/s vs off | CPU µs/req | CPU vs off | Rounds (req/s / CPU µs) |',
      '|---|---|---:|---:|---:|---:|---|',
      ...gateways.map((_, i) => row('GET /v1/videos/{id}', get, i)),
      ...gateways.map((_, i) => row('POST /v1/videos (durable)', post, i)),
      ...(errors.length ? ['', `Errors: ${errors.join('; ')}`] : []),
      '',
      await metricsInProcess(opts.rounds * 3),
    ].join('\n');
  } finally {
    for (const g of gateways) await g.child.stop();
    sink.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

/**
 * The request path with metrics on against off, in one process: two gateways (createApp, SQLite,
 * worker off) answer Fastify's inject() in alternating batches of the same requests, so both see
 * the same machine at the same moment, and there is no socket (whose cost, the same for both, only
 * dilutes the ratio: this overstates the relative cost, if anything). Reports the median time per
 * request and the median of the batches' ratios.
 */
async function metricsInProcess(batches: number): Promise<string> {
  const PER_BATCH = 2000;
  const apps = [];
  const dirs: string[] = [];
  try {
    for (const metrics of [false, true]) {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-obs-inproc-'));
      dirs.push(dataDir);
      const config = loadConfig({}, { dataDir, logLevel: 'warn', worker: { enabled: false }, limits: { rpm: 1_000_000_000, maxInflight: 1_000_000_000 }, ...(metrics ? { metrics: { token: 'bench-metrics-token-0123456789' } } : {}) });
      const app = await createApp(config);
      await app.server.ready();
      const { secret } = await app.gateway.keys.create('bench');
      const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
      const payload = JSON.stringify({ prompt: 'A calico cat playing a piano on stage', model: 'sora-2', seconds: '4', size: '720x1280' });
      const id = (JSON.parse((await app.server.inject({ method: 'POST', url: '/v1/videos', headers, payload })).body) as { id: string }).id;
      apps.push({ app, headers, payload, id });
    }
    const rows: string[] = [];
    for (const route of ['GET /v1/videos/{id}', 'POST /v1/videos (durable)'] as const) {
      const us: number[][] = [[], []];
      for (let b = 0; b < batches + 1; b++) {
        for (const i of b % 2 ? [1, 0] : [0, 1]) {
          const a = apps[i]!;
          const t = performance.now();
          for (let k = 0; k < PER_BATCH; k++) {
            const r = route.startsWith('GET')
              ? await a.app.server.inject({ method: 'GET', url: `/v1/videos/${a.id}`, headers: a.headers })
              : await a.app.server.inject({ method: 'POST', url: '/v1/videos', headers: a.headers, payload: a.payload });
            if (r.statusCode !== 200) throw new Error(`${route}: ${r.statusCode} ${r.body.slice(0, 200)}`);
          }
          // The first batch of each warms up (JIT) and is not counted.
          if (b > 0) us[i]!.push(((performance.now() - t) * 1000) / PER_BATCH);
        }
      }
      const ratios = us[1]!.map((x, k) => x / us[0]![k]!);
      rows.push(`| ${route} | ${fmt(median(us[0]!), 1)} | ${fmt(median(us[1]!), 1)} | ${((median(ratios) - 1) * 100).toFixed(1)} % | ${fmt(Math.min(...ratios), 3)}–${fmt(Math.max(...ratios), 3)} |`);
    }
    return [
      `In one process (inject(), no socket), ${batches} alternating batches of ${PER_BATCH} requests per gateway:`,
      '',
      '| Route | off µs/req | metrics on µs/req | metrics on vs off (median of batch ratios) | batch ratios, range |',
      '|---|---:|---:|---:|---|',
      ...rows,
    ].join('\n');
  } finally {
    for (const a of apps) await a.app.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
