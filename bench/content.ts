import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startOpenAIVideosFake } from '../test/fakes/index.js';
import type { Nginx } from '../test/helpers/nginx.js';
import { exampleHandoffConfig, nginxBinary, startNginx } from '../test/helpers/nginx.js';
import { freePort } from '../test/helpers/process.js';
import type { Child } from './lib.js';
import { cpuSeconds, fmt, load, median, startProcess } from './lib.js';

/**
 * Content downloads against nginx serving the same file, 16 connections, same run:
 * - nginx (Debian's, sendfile on) serving the MP4 as a static file: the baseline;
 * - vidgate `GET /v1/videos/{id}/content` with an API key (stream delivery);
 * - vidgate signed file link `/v1/files/…` (no key);
 * - the proxy hand-off: nginx in front of vidgate (docs/examples/nginx-x-accel.conf), vidgate
 *   authorises and answers X-Accel-Redirect, nginx sends the bytes.
 * The file is a real upstream result (~5.3 MB MP4) fetched through a channel from the fake
 * upstream, so it is stored exactly as in production.
 *
 * With `compare` (BENCH_COMPARE=/other/dist/main.js), a gateway process of that other build on
 * the same data directory serves the same two vidgate targets in the same rounds (before/after).
 * Each gateway's CPU time per request (user + system, from /proc) and its resident memory after
 * each round are reported too: throughput on a shared two-core machine moves with its load, CPU
 * per request and memory much less.
 */
export async function contentBench(opts: { rounds: number; seconds: number; connections?: number; compare?: string }): Promise<string> {
  if (!nginxBinary()) return 'Skipped: nginx is not installed (apt-get install -y nginx).';
  const connections = opts.connections ?? 16;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-content-'));
  await chmod(dataDir, 0o755);
  const admin = 'bench-admin-token-0123456789abcdef';
  const fake = await startOpenAIVideosFake({ flavor: 'openai', script: { queuedMs: 20, runMs: 50 }, videoBytes: 5_300_000 });
  const configFile = path.join(dataDir, 'vidgate.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({ channels: [{ id: 'up', type: 'openai-compatible', base_url: fake.baseURL, api_key: 'sk-test', models: ['sora-2'] }] }),
  );
  const env = {
    VIDGATE_DATA_DIR: dataDir,
    VIDGATE_CONFIG: configFile,
    VIDGATE_ADMIN_TOKEN: admin,
    VIDGATE_ALLOW_CIDRS: '127.0.0.1/32',
    VIDGATE_RPM_LIMIT: '1000000000',
  };
  let gw: Child | undefined;
  let handoffGw: Child | undefined;
  let otherGw: Child | undefined;
  let nginx: Nginx | undefined;
  try {
    gw = await startProcess(['dist/main.js'], env, '/healthz');
    const key = (await (
      await fetch(`${gw.url}/admin/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bench', credit_usd: 100 }),
      })
    ).json()) as { key: string };
    const auth = { authorization: `Bearer ${key.key}` };
    const created = (await (
      await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sora-2', prompt: 'bench' }) })
    ).json()) as { id: string };
    for (let i = 0; ; i++) {
      const v = (await (await fetch(`${gw.url}/v1/videos/${created.id}`, { headers: auth })).json()) as { status: string; error?: unknown };
      if (v.status === 'completed') break;
      if (v.status === 'failed' || i > 600) throw new Error(`the bench video did not complete: ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await fake.close();
    const taskId = created.id.slice('video_'.length);
    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    const asset = db.prepare(`SELECT path, bytes FROM task_assets WHERE task_id = ? AND variant = 'video'`).get(taskId) as { path: string; bytes: number };
    db.close();
    const status = (await (await fetch(`${gw.url}/v1/tasks/task_${taskId}`, { headers: auth })).json()) as { data: { result: { videos: { url: string[] }[] } } };
    const signedPath = new URL(status.data.result.videos[0]!.url[0]!).pathname + new URL(status.data.result.videos[0]!.url[0]!).search;

    // A second gateway process on the same data directory, with the hand-off switched on.
    handoffGw = await startProcess(['dist/main.js'], { ...env, VIDGATE_WORKER: 'false', VIDGATE_WEBHOOKS: 'false', VIDGATE_CONTENT_DELIVERY: 'x-accel-redirect' }, '/healthz');
    if (opts.compare) otherGw = await startProcess([opts.compare], { ...env, VIDGATE_WORKER: 'false', VIDGATE_WEBHOOKS: 'false' }, '/healthz');
    const staticPort = await freePort();
    const handoff = await exampleHandoffConfig(new URL(handoffGw.url).host, path.join(dataDir, 'blobs'));
    nginx = await startNginx(`
  server {
    listen 127.0.0.1:${staticPort};
    sendfile on;
    tcp_nopush on;
    location /static/ { alias ${path.join(dataDir, 'blobs')}/; }
  }
  ${handoff.config}`);
    // Which gateway process serves each target (for CPU per request and memory).
    const targets: Record<string, { url: string; headers?: Record<string, string>; server?: Child }> = {
      nginx: { url: `http://127.0.0.1:${staticPort}/static/${asset.path}` },
      content: { url: `${gw.url}/v1/videos/${created.id}/content`, headers: auth, server: gw },
      signed: { url: `${gw.url}${signedPath}`, server: gw },
      handoff: { url: `http://127.0.0.1:${handoff.port}/v1/videos/${created.id}/content`, headers: auth },
      ...(otherGw
        ? {
            otherContent: { url: `${otherGw.url}/v1/videos/${created.id}/content`, headers: auth, server: otherGw },
            otherSigned: { url: `${otherGw.url}${signedPath}`, server: otherGw },
          }
        : {}),
    };
    const rps: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    const cpuMs: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    const rssMB: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    const loads: string[] = [];
    const errors: string[] = [];
    for (let round = 0; round < opts.rounds; round++) {
      const order = Object.keys(targets);
      if (round % 2) order.reverse();
      for (const name of order) {
        const server = targets[name]!.server?.process.pid;
        const cpu0 = server ? cpuSeconds(server) : 0;
        const r = await load({ ...targets[name]!, connections, durationSeconds: opts.seconds });
        rps[name]!.push(r.rps);
        if (server) {
          cpuMs[name]!.push(((cpuSeconds(server) - cpu0) * 1000) / Math.max(1, r.total));
          rssMB[name]!.push(residentMB(server));
        }
        if (r.errors) errors.push(`${name}: ${r.errors} errors`);
      }
      loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!);
    }
    const ratio = (name: string) => median(rps[name]!.map((x, i) => x / rps.nginx![i]!)).toFixed(2);
    const mbps = (r: number) => fmt((r * asset.bytes) / 1e6);
    const row = (label: string, name: string) =>
      `| ${label} | ${fmt(median(rps[name]!))} | ${mbps(median(rps[name]!))} | ${name === 'nginx' ? '1.00' : ratio(name)} | ${rps[name]!.map((x) => fmt(x)).join(', ')} |`;
    const served = Object.keys(targets).filter((name) => targets[name]!.server);
    const labels: Record<string, string> = {
      content: 'this build, `/content`',
      signed: 'this build, signed link',
      otherContent: 'other build, `/content`',
      otherSigned: 'other build, signed link',
    };
    const cpuRow = (name: string) =>
      `| ${labels[name]} | ${fmt(median(cpuMs[name]!), 2)} | ${cpuMs[name]!.map((x) => fmt(x, 2)).join(', ')} | ${rssMB[name]!.map((x) => fmt(x)).join(', ')} |`;
    return [
      `Content downloads of one ${fmt(asset.bytes / 1e6, 1)} MB MP4, ${connections} connections, ${opts.rounds} rounds × ${opts.seconds} s per target (medians; ratio = median of the rounds' ratios to nginx):`,
      '',
      '| Target | req/s | MB/s | Ratio to nginx | Rounds (req/s) |',
      '|---|---:|---:|---:|---|',
      row('nginx, static file (sendfile): baseline', 'nginx'),
      row('vidgate `GET /v1/videos/{id}/content` (API key)', 'content'),
      row('vidgate signed link `/v1/files/…`', 'signed'),
      row('nginx → vidgate authorises → X-Accel-Redirect', 'handoff'),
      ...(otherGw
        ? [
            row(`other build (${opts.compare}) \`GET /v1/videos/{id}/content\``, 'otherContent'),
            row(`other build (${opts.compare}) signed link`, 'otherSigned'),
          ]
        : []),
      '',
      `Gateway CPU time per download (user + system, ms; median and per round) and the gateway's resident memory after each round (MB); load average (1 min) after each round: ${loads.join(', ')}:`,
      '',
      '| Target | CPU ms/download | Rounds | RSS after each round (MB) |',
      '|---|---:|---|---|',
      ...served.map(cpuRow),
      ...(errors.length ? ['', `Errors: ${errors.join('; ')}`] : []),
    ].join('\n');
  } finally {
    await nginx?.stop();
    await handoffGw?.stop();
    await otherGw?.stop();
    await gw?.stop();
    await fake.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function residentMB(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kb) / 1024);
}
