/**
 * Soak: does the gateway's memory stay flat under steady mixed load?
 *
 *   npm run bench soak                          # 6 minutes (SOAK_MINUTES=n to change, 2–30)
 *   npx tsx bench/soak.ts [--minutes 6] [--gateway dist/main.js] [--env MALLOC_ARENA_MAX=2 …]
 *
 * A gateway process (dist/main.js, default settings, one openai-compatible channel to a fake
 * upstream in this process whose jobs take about a second) gets, open loop, at fixed rates:
 * 20 creates/s (POST /v1/videos), 300 status reads/s (GET /v1/videos/{id} of a recent video) and
 * 5 downloads/s (GET /v1/videos/{id}/content of a completed one, read to the end). Its worker
 * follows every job, downloads and probes each result and stores it, as in production.
 *
 * Reported per minute: the gateway's RSS (from /proc) and JavaScript heap in use (its own
 * /metrics) at the end of the minute, and requests per second answered by kind, with errors and
 * requests not sent because too many of that kind were already waiting (the load is open loop:
 * a slow gateway is not given a break, but the load generator's own queue is bounded). The
 * verdict is the RSS growth from the end of minute 2 to the end of the run (goal: < 5 %).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { Agent, fetch } from 'undici';
import { startOpenAIVideosFake } from '../test/fakes/index.js';
import type { Child } from './lib.js';
import { fmt, machine, median, startProcess } from './lib.js';

export interface SoakOptions {
  minutes: number;
  /** The gateway entry point (default dist/main.js): another build can be compared. */
  gateway?: string;
  /** Extra environment of the gateway process (e.g. MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
  rates?: { create: number; status: number; download: number };
}

type Kind = 'create' | 'status' | 'download';
const KINDS: Kind[] = ['create', 'status', 'download'];
/** Requests of one kind waiting for an answer at most; past it, a due request is counted as skipped. */
const MAX_IN_FLIGHT: Record<Kind, number> = { create: 200, status: 400, download: 50 };

interface MinuteRow {
  minute: number;
  /** At the end of the minute, and the median of the samples taken every 5 s during it. */
  rssMb: number;
  rssMedianMb: number;
  /** From the gateway's /metrics at the end of the minute: V8 heap in use and reserved, external (Buffers). */
  heapMb: number | null;
  heapTotalMb: number | null;
  externalMb: number | null;
  rps: Record<Kind, number>;
  errors: number;
  skipped: number;
  load1: number;
}

const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

export async function soak(o: SoakOptions): Promise<{ rows: MinuteRow[]; tasks: number; completed: number; failed: number; unfinished: number }> {
  const rates = o.rates ?? { create: 20, status: 300, download: 5 };
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-soak-'));
  const admin = 'bench-soak-admin-token-0123456789';
  const metricsToken = 'bench-soak-metrics-token-0123456789';
  const fake = await startOpenAIVideosFake({ script: { queuedMs: 200, runMs: 800 } });
  const configFile = path.join(dataDir, 'vidgate.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      net: { allowCidrs: ['127.0.0.1/32'] },
      channels: [{ id: 'up', type: 'openai-compatible', base_url: fake.baseURL, api_key: 'sk-test', models: ['sora-2'], concurrency: 64 }],
    }),
  );
  const dispatcher = new Agent({ connections: 256, pipelining: 1 });
  let gw: Child | undefined;
  try {
    gw = await startProcess(
      [o.gateway ?? 'dist/main.js'],
      {
        VIDGATE_DATA_DIR: dataDir,
        VIDGATE_CONFIG: configFile,
        VIDGATE_ADMIN_TOKEN: admin,
        VIDGATE_METRICS_TOKEN: metricsToken,
        VIDGATE_RPM_LIMIT: '1000000',
        VIDGATE_MAX_INFLIGHT: '1000000',
        ...(o.env ?? {}),
      },
      '/healthz',
    );
    const pid = gw.process.pid!;
    const key = (await (
      await fetch(`${gw.url}/admin/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'soak', credit_usd: 1_000_000 }),
      })
    ).json()) as { key: string };
    const auth = { authorization: `Bearer ${key.key}` };
    const heap = async (): Promise<{ used: number | null; total: number | null; external: number | null }> => {
      try {
        const text = await (await fetch(`${gw!.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
        const read = (name: string) => {
          const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
          return m ? Number(m[1]) / 2 ** 20 : null;
        };
        return { used: read('nodejs_heap_size_used_bytes'), total: read('nodejs_heap_size_total_bytes'), external: read('nodejs_external_memory_bytes') };
      } catch {
        return { used: null, total: null, external: null };
      }
    };

    const recent: string[] = [];
    const done: string[] = [];
    const seen = new Set<string>();
    let tasks = 0;
    const inFlight: Record<Kind, number> = { create: 0, status: 0, download: 0 };
    let counts: Record<Kind, number> = { create: 0, status: 0, download: 0 };
    let errors = 0;
    let skipped = 0;
    const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[Math.floor(Math.random() * xs.length)] : undefined);

    const request = async (kind: Kind): Promise<void> => {
      if (inFlight[kind] >= MAX_IN_FLIGHT[kind]) {
        skipped++;
        return;
      }
      inFlight[kind]++;
      try {
        if (kind === 'create') {
          const res = await fetch(`${gw!.url}/v1/videos`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'sora-2', prompt: `soak ${tasks} — a lighthouse at dusk, waves, gulls`, seconds: '4' }),
            dispatcher,
          });
          const body = (await res.json()) as { id?: string };
          if (!res.ok || !body.id) throw new Error(`create ${res.status}`);
          tasks++;
          recent.push(body.id);
          if (recent.length > 2000) recent.splice(0, recent.length - 2000);
        } else if (kind === 'status') {
          const id = pick(recent);
          if (!id) return;
          const res = await fetch(`${gw!.url}/v1/videos/${id}`, { headers: auth, dispatcher });
          const v = (await res.json()) as { status?: string };
          if (!res.ok) throw new Error(`status ${res.status}`);
          if (v.status === 'completed' && !seen.has(id)) {
            seen.add(id);
            done.push(id);
            if (done.length > 2000) done.splice(0, done.length - 2000);
          }
        } else {
          const id = pick(done);
          if (!id) return;
          const res = await fetch(`${gw!.url}/v1/videos/${id}/content`, { headers: auth, dispatcher });
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`content ${res.status}`);
        }
        counts[kind]++;
      } catch {
        errors++;
      } finally {
        inFlight[kind]--;
      }
    };

    // Open loop: every tick sends what is due by now at each rate.
    const started = performance.now();
    const sent: Record<Kind, number> = { create: 0, status: 0, download: 0 };
    const ticker = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      for (const kind of KINDS) {
        const due = Math.floor(elapsed * rates[kind]);
        for (; sent[kind] < due; sent[kind]++) void request(kind);
      }
    }, 20);

    const rows: MinuteRow[] = [];
    for (let minute = 1; minute <= o.minutes; minute++) {
      const until = started + minute * 60_000;
      const samples: number[] = [];
      while (performance.now() < until) {
        await new Promise((r) => setTimeout(r, Math.min(5000, until - performance.now())));
        samples.push(rssMb(pid));
      }
      const snapshot = counts;
      counts = { create: 0, status: 0, download: 0 };
      const h = await heap();
      rows.push({
        minute,
        rssMb: samples.at(-1)!,
        rssMedianMb: median(samples),
        heapMb: h.used,
        heapTotalMb: h.total,
        externalMb: h.external,
        rps: { create: snapshot.create / 60, status: snapshot.status / 60, download: snapshot.download / 60 },
        errors,
        skipped,
        load1: loadavg()[0]!,
      });
      errors = 0;
      skipped = 0;
      process.stderr.write(`soak: minute ${minute}: RSS ${fmt(rows.at(-1)!.rssMb, 1)} MB\n`);
    }
    clearInterval(ticker);
    // What became of the tasks (the status reads only sample them).
    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    const byStatus = Object.fromEntries((db.prepare('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status').all() as { status: string; n: number }[]).map((r) => [r.status, r.n]));
    db.close();
    return { rows, tasks, completed: byStatus.completed ?? 0, failed: byStatus.failed ?? 0, unfinished: tasks - (byStatus.completed ?? 0) - (byStatus.failed ?? 0) - (byStatus.cancelled ?? 0) };
  } finally {
    await gw?.stop();
    await dispatcher.close();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function soakBench(o: SoakOptions): Promise<string> {
  const r = await soak(o);
  const lines = [
    `Gateway: \`${o.gateway ?? 'dist/main.js'}\`${o.env && Object.keys(o.env).length ? ` with ${Object.entries(o.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}; ${o.minutes} minutes; load: 20 creates/s, 300 status reads/s, 5 downloads/s (open loop); ${fmt(r.tasks)} tasks created: ${fmt(r.completed)} completed, ${fmt(r.failed)} failed, ${fmt(r.unfinished)} unfinished at the end.`,
    '',
    '| Minute | RSS end (MB) | RSS median (MB) | JS heap used / total (MB) | external (MB) | creates/s | status reads/s | downloads/s | errors | not sent (queue full) | load (1 min) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map(
      (x) =>
        `| ${x.minute} | ${fmt(x.rssMb, 1)} | ${fmt(x.rssMedianMb, 1)} | ${x.heapMb === null ? '–' : fmt(x.heapMb, 1)} / ${x.heapTotalMb === null ? '–' : fmt(x.heapTotalMb, 1)} | ${x.externalMb === null ? '–' : fmt(x.externalMb, 1)} | ${fmt(x.rps.create, 1)} | ${fmt(x.rps.status, 1)} | ${fmt(x.rps.download, 1)} | ${x.errors} | ${x.skipped} | ${fmt(x.load1, 1)} |`,
    ),
  ];
  const from = r.rows.find((x) => x.minute === 2) ?? r.rows[0]!;
  const to = r.rows.at(-1)!;
  const pct = (a: number, b: number) => {
    const g = ((b - a) / a) * 100;
    return `${g >= 0 ? '+' : ''}${fmt(g, 1)} %`;
  };
  lines.push(
    '',
    `RSS from minute ${from.minute} to minute ${to.minute}: median ${fmt(from.rssMedianMb, 1)} → ${fmt(to.rssMedianMb, 1)} MB (${pct(from.rssMedianMb, to.rssMedianMb)}), at the minute's end ${fmt(from.rssMb, 1)} → ${fmt(to.rssMb, 1)} MB (${pct(from.rssMb, to.rssMb)}); goal < 5 %.`,
  );
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: { minutes: { type: 'string', default: process.env.SOAK_MINUTES ?? '6' }, gateway: { type: 'string' }, env: { type: 'string', multiple: true } },
  });
  const minutes = Math.min(30, Math.max(2, Number(values.minutes) || 6));
  const env = Object.fromEntries((values.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  console.log(`Machine: ${machine()}; ${new Date().toISOString()}\n`);
  console.log(await soakBench({ minutes, env, ...(values.gateway ? { gateway: values.gateway } : {}) }));
}
