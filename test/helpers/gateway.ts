import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import type { App, AppOptions } from '../../src/app.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/store/sql.js';
import { testDatabases } from './postgres.js';

export interface TestGateway {
  app: App;
  /** http://127.0.0.1:PORT */
  url: string;
  dataDir: string;
  /** A fresh API key secret. */
  key: string;
  keyId: string;
  newKey(name?: string, opts?: { test?: boolean }): Promise<{ id: string; secret: string }>;
  openai(apiKey?: string): OpenAI;
  close(): Promise<void>;
}

/**
 * Under VIDGATE_TEST_DATABASE=postgres (the `postgres` test project, vitest.config.ts) every
 * gateway starts on a fresh PostgreSQL database of its own, dropped when it closes.
 */
const ON_POSTGRES = process.env.VIDGATE_TEST_DATABASE === 'postgres';

/** The database of each running gateway started here, by its data directory (for checks that read it). */
const running = new Map<string, Database>();
export const databaseOf = (dataDir: string): Database | undefined => running.get(dataDir);

/** Start the real gateway on a random port with its own data directory (and database) and a fast sandbox. */
export async function startGateway(overrides: Record<string, unknown> = {}, appOptions: AppOptions = {}): Promise<TestGateway> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-test-'));
  const databases = ON_POSTGRES && overrides.databaseUrl === undefined ? testDatabases() : undefined;
  const databaseUrl = databases ? await databases.create() : undefined;
  const config = loadConfig(
    {},
    {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      logLevel: 'silent',
      sandbox: { queueMs: 30, msPerVideoSecond: 40, longQueueMs: 60_000, concurrency: 2 },
      // Limits and breakers then live in PostgreSQL too; on a loaded test machine a query may take
      // longer than the production timeout (250 ms), and a node would fall back to its own limits
      // (test/shared-postgres.test.ts tests that fallback), which these tests are not about.
      ...(databaseUrl ? { databaseUrl, redis: { timeoutMs: 2_000 } } : {}),
      ...overrides,
    },
  );
  const app = await createApp(config, appOptions);
  app.start();
  running.set(dataDir, app.db);
  await app.server.listen({ port: config.port, host: '127.0.0.1' });
  const address = app.server.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  const url = `http://127.0.0.1:${address.port}`;
  const newKey = async (name = 'test', opts: { test?: boolean } = {}) => {
    const { key, secret } = await app.gateway.keys.create(name, opts);
    return { id: key.id, secret };
  };
  const first = await newKey('default');
  return {
    app,
    url,
    dataDir,
    key: first.secret,
    keyId: first.id,
    newKey,
    openai: (apiKey = first.secret) => new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 }),
    async close() {
      running.delete(dataDir);
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
      await databases?.dropAll();
    },
  };
}

/** Poll GET /v1/videos/{id} until the video is completed or failed. */
export async function waitForVideo(client: OpenAI, id: string, timeoutMs = 30_000): Promise<OpenAI.Videos.Video> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await client.videos.retrieve(id);
    if (v.status === 'completed' || v.status === 'failed') return v;
    if (Date.now() > deadline) throw new Error(`video ${id} still ${v.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
