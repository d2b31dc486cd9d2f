import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnServer } from './helpers/process.js';
import type { ServerProcess } from './helpers/process.js';
import { Receiver, until } from './helpers/receiver.js';

const verifier = new OpenAI({ apiKey: 'unused', baseURL: 'http://127.0.0.1:1' });

/**
 * The built gateway (`node dist/main.js`) is killed with SIGKILL while deliveries are in flight
 * and while they wait in backoff; after a restart every event still arrives, with the webhook-id
 * it had before. Then the `vidgate webhook …` commands run against it.
 */
describe('webhook outbox across a gateway crash, and the webhook CLI', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let apiKey: string;
  let receiver: Receiver;
  const servers: ServerProcess[] = [];
  const start = async () => {
    const s = await spawnServer(env);
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-hooks-'));
    env = {
      VIDGATE_DATA_DIR: dataDir,
      VIDGATE_ALLOW_CIDRS: '127.0.0.1/32',
      VIDGATE_SANDBOX_QUEUE_MS: '20',
      VIDGATE_SANDBOX_MS_PER_SECOND: '20',
      VIDGATE_WEBHOOK_TIMEOUT_MS: '20000',
      VIDGATE_WEBHOOK_RETRY_BASE_MS: '100',
      VIDGATE_WEBHOOK_RETRY_MULTIPLIER: '1.5',
      VIDGATE_WEBHOOK_RETRY_MAX_DELAY_MS: '400',
    };
    apiKey = (JSON.parse((await cli(['key', 'create', '--name', 'hooks', '--json'], env)).stdout) as { key: string }).key;
    receiver = await Receiver.start(() => 'hang');
  });
  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await receiver?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('loses no delivery when the gateway is killed mid-delivery and mid-backoff', async () => {
    let server = await start();
    const remote = { ...env, VIDGATE_URL: server.url, VIDGATE_API_KEY: apiKey };
    const endpoint = JSON.parse((await cli(['webhook', 'add', `${receiver.url}/hook`, '--events', 'video.failed', '--name', 'crash', '--json'], remote)).stdout) as {
      id: string;
      signing_secret: string;
    };
    const create = async (url: string, prompt: string) => {
      const res = await fetch(`${url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt, seconds: '4' }),
      });
      return ((await res.json()) as { id: string }).id;
    };
    const ids: string[] = [];
    // Moderation-blocked tasks end fast with a video.failed event each.
    for (let i = 0; i < 6; i++) ids.push(await create(server.url, `sandbox:moderation crash ${i}`));

    // 1. Deliveries in flight (the receiver hangs) when the process dies.
    await receiver.waitFor((r) => r.received.length >= 4, 30_000, 'deliveries in flight');
    server.child.kill('SIGKILL');
    await server.exited;
    const inFlight = new Set(receiver.received.map((q) => String(q.headers['webhook-id'])));

    // 2. Deliveries waiting in backoff (the receiver fails) when the process dies again.
    receiver.behaviour = () => 500;
    server = await start();
    for (let i = 6; i < 9; i++) ids.push(await create(server.url, `sandbox:moderation backoff ${i}`));
    await receiver.waitFor((r) => r.received.filter((q) => q.answer === 500).length >= 9, 30_000, 'failed attempts');
    server.child.kill('SIGKILL');
    await server.exited;

    // 3. The receiver recovers and the gateway restarts: everything arrives.
    receiver.behaviour = () => 200;
    server = await start();
    await receiver.waitFor((r) => new Set(r.accepted.map((q) => q.headers['webhook-id'])).size >= ids.length, 60_000, 'every delivery');

    const events = await Promise.all(receiver.accepted.map(async (q) => ({ q, e: await verifier.webhooks.unwrap(q.body, q.headers as Record<string, string>, endpoint.signing_secret) })));
    expect(new Set(events.map(({ e }) => (e.data as { id: string }).id))).toEqual(new Set(ids));
    expect(events.every(({ e }) => (e.type as string) === 'video.failed')).toBe(true);
    // Every request of one event, before and after the crashes, carried the same webhook-id.
    const idsByEvent = new Map<string, Set<string>>();
    for (const q of receiver.received) {
      const evt = (JSON.parse(q.body) as { id: string }).id;
      if (!idsByEvent.has(evt)) idsByEvent.set(evt, new Set());
      idsByEvent.get(evt)!.add(String(q.headers['webhook-id']));
    }
    expect(idsByEvent.size).toBe(ids.length);
    for (const set of idsByEvent.values()) expect(set.size).toBe(1);
    // The ones cut off by the first crash were sent again after it.
    for (const id of inFlight) expect(receiver.accepted.some((q) => q.headers['webhook-id'] === id)).toBe(true);

    const statuses = await until(async () => {
      const res = (await (await fetch(`${server.url}/v1/webhook_deliveries?limit=100`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { data: { status: string }[] };
      return res.data.every((d) => d.status === 'delivered') ? res.data.map((d) => d.status) : undefined;
    }, 30_000, 'all delivered');
    expect(statuses).toHaveLength(ids.length);
  });

  it('manages endpoints and deliveries with `vidgate webhook …`', async () => {
    const server = servers[servers.length - 1]!;
    const remote = { ...env, VIDGATE_URL: server.url, VIDGATE_API_KEY: apiKey };
    const run = async (...args: string[]) => (await cli(['webhook', ...args], remote)).stdout;

    const added = await run('add', `${receiver.url}/cli`, '--events', 'video.failed,video.cancelled', '--name', 'from-cli');
    const id = /^(whe_\S+)/m.exec(added)![1]!;
    expect(added).toMatch(/signing secret: whsec_\S+/);
    const list = JSON.parse(await run('list', '--json')) as { id: string; event_types: string[] }[];
    expect(list.find((e) => e.id === id)?.event_types).toEqual(['video.failed', 'video.cancelled']);

    expect(await run('update', id, '--disable')).toContain('DISABLED');
    expect(await run('update', id, '--enable', '--events', 'video.failed')).toMatch(/enabled .*\n.*events video\.failed/);

    const test = await run('test', id);
    expect(test).toMatch(/video\.failed → HTTP 200/);

    const rotated = await run('rotate', id, '--grace', '1h');
    expect(rotated).toMatch(/new signing secret: whsec_/);
    expect(rotated).toMatch(/old secret stays valid/);
    const secrets = await run('secret', id);
    expect(secrets).toMatch(/signing secret: whsec_\S+\nprevious secret \(valid until .*\): whsec_/);
    expect(await run('secret', 'callback')).toMatch(/signing secret: whsec_/);

    const deliveries = await run('deliveries', '--status', 'delivered', '--limit', '3');
    expect(deliveries).toMatch(/^msg_\S+\s+delivered\s+video\.failed\s+video_\S+\s+→ whe_\S+\s+\d+ attempts?/m);
    expect(deliveries).toMatch(/^ {4}#1 {2}\S+Z {2}(200|500|---) +\d+ ms/m);
    const one = (JSON.parse(await run('deliveries', '--json', '--limit', '1')) as { id: string }[])[0]!;
    const before = receiver.received.length;
    expect(await run('resend', one.id)).toContain('queued for another attempt');
    await receiver.waitFor((r) => r.received.slice(before).some((q) => q.headers['webhook-id'] === one.id), 30_000, 'the re-sent delivery');

    expect(await run('remove', id)).toContain(`removed ${id}`);
    await expect(run('remove', id)).rejects.toThrow(/404/);
    await expect(run('add', 'ftp://example.com')).rejects.toThrow(/url/);
  });
});
