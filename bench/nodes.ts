import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openGatewayDatabase } from '../src/store/db.js';
import { KeyStore } from '../src/store/keys.js';
import type { Child } from './lib.js';
import { fmt, load, median, startProcess } from './lib.js';

/**
 * Create and status throughput of gateway nodes on PostgreSQL (1, 2 and 3 nodes on one database)
 * against one node on SQLite, measured in the same rounds (issue 13). Every node serves the API
 * with its worker off (rendering would compete for the CPU); the load generator (autocannon) sends
 * the same total number of connections, split evenly over the nodes of a setup, and adds up what
 * they answered. PostgreSQL is the server at BENCH_POSTGRES_URL (default the local one,
 * postgres@127.0.0.1:5432); a fresh database is made for the run and dropped afterwards.
 */
export async function nodesBench(opts: { rounds: number; seconds: number; connections: number }): Promise<string> {
  const adminUrl = process.env.BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `vidgate_bench_${Date.now().toString(36)}`;
  const admin = async (text: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const pgUrl = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  const dirs = { sqlite: mkdtempSync(path.join(tmpdir(), 'bench-nodes-sqlite-')), pg: mkdtempSync(path.join(tmpdir(), 'bench-nodes-pg-')) };
  const common = { VIDGATE_WORKER: 'false', VIDGATE_RPM_LIMIT: '1000000000', VIDGATE_MAX_INFLIGHT: '1000000000' };
  const body = JSON.stringify({ prompt: 'A calico cat playing a piano on stage', model: 'sora-2', seconds: '4', size: '720x1280' });
  const children: Child[] = [];
  try {
    // One key in each database, made through the store as the CLI does (this also migrates both).
    const keyIn = async (config: { dataDir: string; databaseUrl?: string }) => {
      const db = await openGatewayDatabase({ ...config, sqlite: { synchronous: 'NORMAL' } });
      try {
        return (await KeyStore.of(db).create('bench')).secret;
      } finally {
        await db.close();
      }
    };
    const secrets = { sqlite: await keyIn({ dataDir: dirs.sqlite }), pg: await keyIn({ dataDir: dirs.pg, databaseUrl: pgUrl }) };
    const sqliteNode = await startProcess(['dist/main.js'], { ...common, VIDGATE_DATA_DIR: dirs.sqlite }, '/healthz');
    children.push(sqliteNode);
    const pgNodes: Child[] = [];
    for (let i = 0; i < 3; i++) {
      const node = await startProcess(['dist/main.js'], { ...common, VIDGATE_DATA_DIR: dirs.pg, VIDGATE_DATABASE_URL: pgUrl }, '/healthz');
      children.push(node);
      pgNodes.push(node);
    }
    const setups = [
      { label: '1 node, SQLite', nodes: [sqliteNode], secret: secrets.sqlite },
      { label: '1 node, PostgreSQL', nodes: pgNodes.slice(0, 1), secret: secrets.pg },
      { label: '2 nodes, PostgreSQL', nodes: pgNodes.slice(0, 2), secret: secrets.pg },
      { label: '3 nodes, PostgreSQL', nodes: pgNodes, secret: secrets.pg },
    ];
    const headers = (secret: string) => ({ authorization: `Bearer ${secret}`, 'content-type': 'application/json' });
    // A video to read on each database (status reads of one id: the hot path of polling clients).
    const ids = new Map<string, string>();
    for (const s of [setups[0]!, setups[1]!]) {
      const res = await fetch(`${s.nodes[0]!.url}/v1/videos`, { method: 'POST', headers: headers(s.secret), body });
      ids.set(s.secret, ((await res.json()) as { id: string }).id);
    }
    const results = new Map<string, { status: number[]; create: number[] }>(setups.map((s) => [s.label, { status: [], create: [] }]));
    const errors: string[] = [];
    const together = async (s: (typeof setups)[number], kind: 'status' | 'create') => {
      const per = Math.max(1, Math.round(opts.connections / s.nodes.length));
      const runs = await Promise.all(
        s.nodes.map((n) =>
          load(
            kind === 'status'
              ? { url: `${n.url}/v1/videos/${ids.get(s.secret)}`, headers: headers(s.secret), connections: per, durationSeconds: opts.seconds }
              : { url: `${n.url}/v1/videos`, method: 'POST', headers: headers(s.secret), body, connections: per, durationSeconds: opts.seconds },
          ),
        ),
      );
      const bad = runs.reduce((sum, r) => sum + r.errors, 0);
      if (bad) errors.push(`${s.label} ${kind}: ${bad} errors`);
      return runs.reduce((sum, r) => sum + r.rps, 0);
    };
    for (let round = 0; round < opts.rounds; round++) {
      // Alternate the order each round so that no setup always runs on a warmer (or busier) machine.
      const order = round % 2 === 0 ? setups : [...setups].reverse();
      for (const s of order) results.get(s.label)!.status.push(await together(s, 'status'));
      for (const s of order) results.get(s.label)!.create.push(await together(s, 'create'));
    }
    const base = results.get(setups[0]!.label)!;
    const rows = setups.map((s) => {
      const r = results.get(s.label)!;
      const st = median(r.status);
      const cr = median(r.create);
      return `| ${s.label} | ${fmt(st)} | ${(st / median(base.status)).toFixed(2)} | ${fmt(cr)} | ${(cr / median(base.create)).toFixed(2)} |`;
    });
    return [
      `${opts.rounds} rounds of ${opts.seconds} s, ${opts.connections} connections in all (split over the nodes), worker off; medians of requests/s summed over the nodes, and the ratio to one node on SQLite. All processes, PostgreSQL and the load generator share this machine.`,
      '',
      '| Setup | Status reads/s | vs SQLite | Creates/s | vs SQLite |',
      '|---|---:|---:|---:|---:|',
      ...rows,
      ...(errors.length ? ['', `Errors: ${errors.join('; ')}`] : []),
    ].join('\n');
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
  }
}
