import Database from 'better-sqlite3';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import { cli, spawnServer } from './helpers/process.js';
import type { ServerProcess } from './helpers/process.js';
import { until } from './helpers/receiver.js';

type Ready = { status: string; reason?: string; checks: Record<string, string> };

async function readyz(url: string): Promise<{ code: number; body: Ready }> {
  const res = await fetch(`${url}/readyz`);
  return { code: res.status, body: (await res.json()) as Ready };
}

describe('/readyz', () => {
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    for (const gw of gateways) await gw.close().catch(() => undefined);
  });

  it('is ready when the store, blob storage, migrations and loops are; 503 naming the reason when blob storage is not writable', async () => {
    const gw = await startGateway();
    gateways.push(gw);
    const ok = await readyz(gw.url);
    expect(ok.code).toBe(200);
    expect(ok.body).toEqual({ status: 'ready', checks: { store: 'ok', migrations: 'ok', blobs: 'ok', worker: 'ok', webhooks: 'ok' } });

    // The blob directory is replaced by a file: nothing can be written under it.
    const blobs = path.join(gw.dataDir, 'blobs');
    await rename(blobs, `${blobs}.moved`);
    await writeFile(blobs, 'not a directory');
    const bad = await until(async () => {
      const r = await readyz(gw.url);
      return r.code === 503 ? r : undefined;
    }, 10_000, 'readiness to notice');
    expect(bad.body.status).toBe('unavailable');
    expect(bad.body.reason).toMatch(/^blobs: not writable \(ENOTDIR\)$/);
    expect(bad.body.checks.store).toBe('ok');
    expect(bad.body.reason).not.toContain(gw.dataDir);
    // Liveness is another question: the process is fine.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);

    await rm(blobs);
    await rename(`${blobs}.moved`, blobs);
    await until(async () => (await readyz(gw.url)).code === 200, 10_000, 'ready again');
  });

  it('is 503 when the store cannot be reached', async () => {
    const gw = await startGateway({ worker: { enabled: false, concurrency: 1, leaseMs: 15_000 }, webhooks: { enabled: false } });
    gateways.push(gw);
    expect((await readyz(gw.url)).body.checks).toEqual({ store: 'ok', migrations: 'ok', blobs: 'ok' });
    await gw.app.db.close();
    const r = await readyz(gw.url);
    expect(r.code).toBe(503);
    expect(r.body.reason).toMatch(/^store: .*not open/);
    expect(r.body.checks.store).not.toBe('ok');
  });
});

/**
 * SIGTERM on the built gateway: readiness goes 503 first (during VIDGATE_SHUTDOWN_DELAY_MS the
 * node still serves), then SSE streams end with a retry hint, a render in progress is cut after
 * the grace period with its lease handed back, and the process exits 0. The next start finishes
 * the task.
 */
describe('SIGTERM drain', () => {
  let dataDir = '';
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('goes unready, ends streams with a retry hint, hands back leases, exits 0; a restart finishes the work', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-drain-'));
    await mkdir(dataDir, { recursive: true });
    const env = {
      VIDGATE_DATA_DIR: dataDir,
      VIDGATE_SANDBOX_QUEUE_MS: '0',
      VIDGATE_SANDBOX_MS_PER_SECOND: '0',
      VIDGATE_SHUTDOWN_DELAY_MS: '1000',
      VIDGATE_SHUTDOWN_GRACE_MS: '100',
    };
    const key = (JSON.parse((await cli(['key', 'create', '--name', 'drain', '--json'], env)).stdout) as { key: string }).key;
    const auth = { authorization: `Bearer ${key}` };
    const server = await spawnServer(env);
    servers.push(server);
    expect((await readyz(server.url)).code).toBe(200);

    // A long render, and a live stream of its events.
    const created = await fetch(`${server.url}/v1/videos`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a long render to cut short', seconds: '12', size: '1280x720' }),
    });
    const id = ((await created.json()) as { id: string }).id;
    const stream = await fetch(`${server.url}/v1/videos/${id}/events`, { headers: auth });
    expect(stream.status).toBe(200);
    let streamed = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream.body!) streamed += decoder.decode(chunk as Uint8Array, { stream: true });
    })();

    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    const row = () => db.prepare('SELECT status, stage, lease_owner FROM tasks WHERE id = ?').get(id.replace(/^video_/, '')) as { status: string; stage: string; lease_owner: string | null };
    await until(() => row().stage === 'fetch' && row().lease_owner !== null, 30_000, 'the render to start');

    server.child.kill('SIGTERM');
    // Readiness goes first; the node still answers while load balancers notice.
    const unready = await until(async () => {
      const [r, live] = await Promise.all([readyz(server.url), fetch(`${server.url}/healthz`)]);
      return r.code === 503 ? { ...r, live: live.status } : undefined;
    }, 5_000, 'readiness to go 503');
    expect(unready.body.reason).toMatch(/^shutting down/);
    expect(unready.live).toBe(200);

    expect(await server.exited).toBe(0);
    await reading;
    expect(streamed).toMatch(/retry: \d+\n: this server is shutting down; reconnect\n\n$/);
    // The render was cut and its lease handed back: nothing waits for a lease to expire.
    expect(row()).toMatchObject({ stage: 'fetch', lease_owner: null, status: 'in_progress' });
    expect(server.output()).not.toMatch(/"level":(50|60)/);

    const again = await spawnServer(env);
    servers.push(again);
    await until(() => row().status === 'completed', 60_000, 'the task to complete after the restart');
    db.close();
  }, 120_000);
});

describe('requests arriving while the gateway closes', () => {
  it('get a 503 in their dialect’s envelope with a retry hint, while the request in flight completes', async () => {
    const gw = await startGateway({ shutdown: { delayMs: 0, graceMs: 5000 } });
    const { connect } = await import('node:net');
    const port = Number(new URL(gw.url).port);
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const ended = new Promise((r) => socket.once('close', r));
    const body = JSON.stringify({ model: 'sora-2', prompt: 'a lighthouse at dusk', seconds: '4' });
    // A create whose headers arrived before the shutdown, its body still coming.
    socket.write(
      `POST /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    await new Promise((r) => setTimeout(r, 150));
    const closing = gw.app.close();
    await new Promise((r) => setTimeout(r, 150));
    // The rest of the body, then an apimart status read pipelined behind it.
    socket.write(`${body.slice(10)}GET /v1/tasks/task_unknown HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.key}\r\n\r\n`);
    await ended;
    await closing;
    const responses = received.split(/(?=HTTP\/1\.1 )/);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 200/);
    expect(responses[1]).toMatch(/^HTTP\/1\.1 503/);
    expect(responses[1]).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(responses[1]).toMatch(/\r\nconnection: close\r\n/i);
    const envelope = JSON.parse(responses[1]!.slice(responses[1]!.indexOf('\r\n\r\n') + 4)) as { code: number; error: { code: string; message: string } };
    // apimart's envelope: {code, error: {code, message, type}}.
    expect(envelope.code).toBe(503);
    expect(envelope.error.code).toBe('shutting_down');
    await rm(gw.dataDir, { recursive: true, force: true });
  });
});
