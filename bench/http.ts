import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/store/db.js';
import { KeyStore } from '../src/store/keys.js';
import type { Child } from './lib.js';
import { fmt, load, median, startProcess } from './lib.js';

/**
 * Request handling of the gateway against bare Fastify baselines, measured in the same run:
 * - GET /v1/videos/{id} vs a bare route returning a constant JSON object (64 connections);
 * - POST /v1/videos (JSON, durable: the task row and its event are committed before the answer)
 *   vs a bare route inserting one SQLite row per request.
 * Servers run in their own processes; the load generator (autocannon) in this one. The worker is
 * off so that rendering does not compete for the CPU; limits are raised out of the way.
 */
export async function httpBench(opts: { rounds: number; seconds: number }): Promise<string> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-gw-'));
  const db = openDatabase(dataDir);
  const { secret } = new KeyStore(db).create('bench');
  db.close();
  const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_WORKER: 'false', VIDGATE_RPM_LIMIT: '1000000000', VIDGATE_MAX_INFLIGHT: '1000000000' };
  const auth = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ prompt: 'A calico cat playing a piano on stage', model: 'sora-2', seconds: '4', size: '720x1280' });

  let gw: Child | undefined;
  let bare: Child | undefined;
  try {
    gw = await startProcess(['dist/main.js'], env, '/healthz');
    bare = await startProcess(['--import', 'tsx', 'bench/baselines/bare-fastify.ts'], {}, '/const');
    const created = (await (await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: auth, body })).json()) as { id: string };

    const get = { gw: [] as number[], bare: [] as number[] };
    const post = { gw: [] as number[], bare: [] as number[] };
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
      ];
      const postPair = [
        () => run('bare POST', post.bare, { url: `${bare!.url}/insert`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: c, durationSeconds: s }),
        () => run('gateway POST', post.gw, { url: `${gw!.url}/v1/videos`, method: 'POST', headers: auth, body, connections: c, durationSeconds: s }),
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
    return [
      `HTTP, 64 connections, ${opts.rounds} rounds × ${opts.seconds} s per target, requests/s (medians; ratio = median of the rounds' ratios):`,
      '',
      '| Gateway route | req/s | Baseline | req/s | Ratio | Rounds (gateway / baseline) |',
      '|---|---:|---|---:|---:|---|',
      row('GET /v1/videos/{id}', 'bare Fastify, constant JSON', get),
      row('POST /v1/videos (JSON, durable)', 'bare Fastify, one SQLite insert', post),
      ...(errors.length ? ['', `Errors: ${errors.join('; ')}`] : []),
    ].join('\n');
  } finally {
    await gw?.stop();
    await bare?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
