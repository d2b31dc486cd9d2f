import Database from 'better-sqlite3';
import { SqliteDatabase } from '../../src/store/sql.js';
import { databaseOf } from './gateway.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { AppOptions } from '../../src/app.js';
import type { TestGateway } from './gateway.js';
import { startGateway } from './gateway.js';
import { freePort } from './process.js';

/** Gateway settings for tests against fake upstreams on 127.0.0.1: fast polling, local CDN allowed. */
export const FAST_UPSTREAM = {
  poll: { minMs: 50, maxMs: 500, firstMs: 100 },
  breaker: { failures: 3, cooldownMs: 1_000, maxCooldownMs: 5_000 },
  requestTimeoutMs: 5_000,
  submitTimeoutMs: 5_000,
};

/**
 * A config file (for `node dist/main.js` tests) with fast polling, local targets allowed and
 * these channel lines (YAML flow mappings); returns its path.
 */
export async function writeChannelConfig(dataDir: string, channels: string[]): Promise<string> {
  const file = path.join(dataDir, 'vidgate.yaml');
  await writeFile(
    file,
    ['net: { allowCidrs: ["127.0.0.1/32"] }', 'upstream: { poll: { minMs: 50, maxMs: 500, firstMs: 100 } }', 'channels:', ...channels.map((c) => `  - ${c}`)].join('\n'),
  );
  return file;
}

/** A channel definition as in the config file. */
export function channel(id: string, type: string, baseUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, type, base_url: baseUrl, api_key: 'sk-test', models: ['sora-2', 'sora-2-pro'], ...extra };
}

/**
 * A gateway whose config file defines `channels`; its default key has $100 of credit. With
 * `publicUrl: true` it listens on a port chosen beforehand and knows it as its public URL, so that
 * upstreams get links to its media and call it back.
 */
export async function startWithChannels(channels: Record<string, unknown>[], overrides: Record<string, unknown> = {}, appOptions: AppOptions = {}): Promise<TestGateway> {
  const { upstream, publicUrl, ...rest } = overrides as { upstream?: Record<string, unknown>; publicUrl?: boolean | string };
  const port = publicUrl === true ? await freePort() : 0;
  const gw = await startGateway({
    channels,
    net: { allowCidrs: ['127.0.0.1/32'], allowHosts: [] },
    upstream: { ...FAST_UPSTREAM, ...(upstream ?? {}) },
    ...(publicUrl === true ? { port, publicUrl: `http://127.0.0.1:${port}` } : typeof publicUrl === 'string' ? { publicUrl } : {}),
    ...rest,
  }, appOptions);
  await gw.app.gateway.accounts.credit(gw.keyId, 100, 'test credit', Date.now());
  return gw;
}

export interface VideoJson {
  id: string;
  status: string;
  progress: number;
  error: { code: string; message: string } | null;
  expires_at: number | null;
  completed_at: number | null;
  seconds: string;
  size: string;
  model: string;
}

/** POST /v1/videos as JSON. */
export async function createVideo(gw: { url: string }, key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}/v1/videos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

export async function getVideo(gw: { url: string }, key: string, id: string): Promise<VideoJson> {
  const res = await fetch(`${gw.url}/v1/videos/${id}`, { headers: { authorization: `Bearer ${key}` } });
  return (await res.json()) as VideoJson;
}

/** Poll until every id is completed or failed. */
export async function waitAllTerminal(gw: { url: string }, key: string, ids: string[], timeoutMs = 60_000): Promise<Map<string, VideoJson>> {
  const done = new Map<string, VideoJson>();
  const deadline = Date.now() + timeoutMs;
  while (done.size < ids.length) {
    await Promise.all(
      ids
        .filter((id) => !done.has(id))
        .map(async (id) => {
          const v = await getVideo(gw, key, id);
          if (v.status === 'completed' || v.status === 'failed') done.set(id, v);
        }),
    );
    if (done.size === ids.length) break;
    if (Date.now() > deadline) throw new Error(`not terminal after ${timeoutMs} ms: ${ids.filter((id) => !done.has(id)).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return done;
}

/**
 * The billing invariants: for every key the ledger sums to the cached balance, and every task
 * has a hold followed by exactly one settle (completed) or release (failed/cancelled), or no
 * ledger entry at all when it was free.
 */
export async function assertBillingConsistent(dataDir: string): Promise<{ settled: number; released: number }> {
  // The database of a gateway this process started (SQLite or PostgreSQL), else the data directory's SQLite file.
  const running = databaseOf(dataDir);
  const db = running ?? new SqliteDatabase(new Database(path.join(dataDir, 'vidgate.db'), { readonly: true }));
  try {
    const keys = await db.all<{ id: string; balance_micros: number }>('SELECT id, balance_micros FROM api_keys');
    for (const k of keys) {
      const sum = (await db.get<{ s: number }>('SELECT COALESCE(SUM(amount_micros), 0) AS s FROM ledger WHERE key_id = ?', [k.id]))!.s;
      expect(sum, `ledger sum of ${k.id}`).toBe(k.balance_micros);
    }
    let settled = 0;
    let released = 0;
    const tasks = await db.all<{ id: string; status: string; quote_micros: number }>('SELECT id, status, quote_micros FROM tasks');
    for (const t of tasks) {
      const kinds = (await db.all<{ kind: string }>('SELECT kind FROM ledger WHERE task_id = ? ORDER BY id', [t.id])).map((r) => r.kind);
      if (t.quote_micros === 0) {
        expect(kinds, `ledger of free task ${t.id}`).toEqual([]);
        continue;
      }
      if (t.status === 'completed') {
        expect(kinds, `ledger of ${t.id}`).toEqual(['hold', 'settle']);
        settled++;
      } else if (t.status === 'failed' || t.status === 'cancelled') {
        expect(kinds, `ledger of ${t.id}`).toEqual(['hold', 'release']);
        released++;
      } else {
        throw new Error(`task ${t.id} is not terminal (${t.status})`);
      }
    }
    return { settled, released };
  } finally {
    if (!running) await db.close();
  }
}
