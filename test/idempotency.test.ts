import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import type { ImageServer } from './helpers/images.js';
import { solid, startImageServer, testResolver } from './helpers/images.js';

let gw: TestGateway;
let images: ImageServer;
let offset = 0;

beforeAll(async () => {
  images = await startImageServer();
  gw = await startGateway(
    { worker: { enabled: false }, billing: { sandboxPricing: 'catalogue' }, net: { allowHosts: ['images.test'], allowCidrs: [] } },
    { resolver: testResolver(), now: () => Date.now() + offset },
  );
});
afterAll(async () => {
  await gw?.close();
  await images?.close();
});

/** A key with $100 of credit, so that every task holds money we can count. */
async function fundedKey(name: string) {
  const k = await gw.newKey(name);
  await gw.app.gateway.accounts.credit(k.id, 100, 'test credit', Date.now() + offset);
  return k;
}

const holdsOf = async (keyId: string) => (await gw.app.gateway.ledger.entries(keyId, 1000)).filter((e) => e.kind === 'hold');
const tasksOf = (keyId: string) => gw.app.gateway.service.store.list(keyId, { limit: 100, order: 'desc' });

function apimart(key: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}/v1/videos/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
function openaiJson(key: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}/v1/videos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
const taskIdOf = async (res: Response) => ((await res.json()) as { data: { task_id: string }[] }).data[0]!.task_id;

describe('Idempotency-Key on POST /v1/videos/generations (apimart)', () => {
  it('10 concurrent duplicates: one task, one hold, 9 answers flagged idempotency-replayed', async () => {
    const k = await fundedKey('apimart-dupes');
    const body = { prompt: 'same request', duration: 8 };
    const results = await Promise.all(Array.from({ length: 10 }, () => apimart(k.secret, body, { 'idempotency-key': 'order-1' })));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    const ids = await Promise.all(results.map(taskIdOf));
    expect(new Set(ids).size).toBe(1);
    expect(results.filter((r) => r.headers.get('idempotency-replayed') === 'true')).toHaveLength(9);
    expect(await tasksOf(k.id)).toHaveLength(1);
    expect(await holdsOf(k.id)).toHaveLength(1);
    expect((await gw.app.gateway.ledger.balance(k.id)).heldMicros).toBe(800_000);

    // A later retry, in the versioned form, still names the same task.
    const later = await apimart(k.secret, body, { 'idempotency-key': 'order-1', 'x-apimart-response-version': '2026-07-27' });
    expect(later.headers.get('idempotency-replayed')).toBe('true');
    expect(await later.json()).toEqual({ code: 200, data: { id: ids[0], object: 'generation.task', status: 'pending' } });
  });

  it('concurrent duplicates with a reference image URL: one task, one hold', async () => {
    const k = await fundedKey('apimart-dupes-image');
    const body = { prompt: 'with an image', image_urls: [`http://images.test:${images.port}/portrait.png`] };
    const results = await Promise.all(Array.from({ length: 6 }, () => apimart(k.secret, body, { 'idempotency-key': 'img-1' })));
    expect(new Set(await Promise.all(results.map(taskIdOf))).size).toBe(1);
    expect(await tasksOf(k.id)).toHaveLength(1);
    expect(await holdsOf(k.id)).toHaveLength(1);
  });

  it('the same key with a different body is a 409 in the apimart envelope with x-should-retry: false, even when both arrive together', async () => {
    const k = await fundedKey('apimart-conflict');
    const first = await apimart(k.secret, { prompt: 'first body' }, { 'idempotency-key': 'order-2' });
    expect(first.status).toBe(200);
    const second = await apimart(k.secret, { prompt: 'first body', duration: 8 }, { 'idempotency-key': 'order-2' });
    expect(second.status).toBe(409);
    expect(second.headers.get('x-should-retry')).toBe('false');
    expect(await second.json()).toEqual({
      code: 409,
      error: { message: expect.stringContaining('different request body'), type: 'invalid_request_error', code: 'idempotency_key_reused', param: 'Idempotency-Key' },
    });

    const a = { prompt: 'body A' };
    const b = { prompt: 'body B' };
    const racing = await Promise.all(Array.from({ length: 10 }, (_, i) => apimart(k.secret, i % 2 ? a : b, { 'idempotency-key': 'order-3' })));
    const ok = racing.filter((r) => r.status === 200);
    const refused = racing.filter((r) => r.status === 409);
    expect(ok.length + refused.length).toBe(10);
    expect(ok.length).toBe(5); // all requests with the winning body
    expect(new Set(await Promise.all(ok.map(taskIdOf))).size).toBe(1);
    expect(await tasksOf(k.id)).toHaveLength(2);
    expect(await holdsOf(k.id)).toHaveLength(2);
  });

  it('keys are remembered 24 hours: afterwards the same key and body make a new task', async () => {
    const k = await fundedKey('apimart-window');
    const body = { prompt: 'daily job' };
    const r0 = await apimart(k.secret, body, { 'idempotency-key': 'daily' });
    expect(r0.status, await r0.clone().text()).toBe(200);
    const first = await taskIdOf(r0);
    offset += 23 * 3600_000;
    const within = await apimart(k.secret, body, { 'idempotency-key': 'daily' });
    expect(within.status, await within.clone().text()).toBe(200);
    expect(within.headers.get('idempotency-replayed')).toBe('true');
    expect(await taskIdOf(within)).toBe(first);
    offset += 2 * 3600_000;
    const after = await apimart(k.secret, body, { 'idempotency-key': 'daily' });
    expect(after.status, await after.clone().text()).toBe(200);
    expect(after.headers.get('idempotency-replayed')).toBeNull();
    expect(await taskIdOf(after)).not.toBe(first);
    expect(await holdsOf(k.id)).toHaveLength(2);
  });

  it('an invalid Idempotency-Key is a 400 naming the header, in each dialect’s envelope', async () => {
    const k = await fundedKey('bad-keys');
    for (const key of ['has space', 'x'.repeat(192), 'ünïcode']) {
      const res = await apimart(k.secret, { prompt: 'x' }, { 'idempotency-key': key });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 400, error: { param: 'Idempotency-Key', code: 'invalid_idempotency_key' } });
      const o = await openaiJson(k.secret, { prompt: 'x' }, { 'idempotency-key': key });
      expect(o.status).toBe(400);
      const body = (await o.json()) as Record<string, unknown>;
      expect(body).toEqual({ error: expect.objectContaining({ param: 'Idempotency-Key', code: 'invalid_idempotency_key' }) });
    }
    expect(await tasksOf(k.id)).toHaveLength(0);
  });
});

describe('Idempotency-Key on POST /v1/videos (OpenAI)', () => {
  it('10 concurrent duplicates through the SDK (multipart, with a file): one video, one hold', async () => {
    const k = await fundedKey('openai-dupes');
    const client = new OpenAI({ apiKey: k.secret, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const image = await solid(64, 64);
    const videos = await Promise.all(
      Array.from({ length: 10 }, async () =>
        client.videos.create(
          { prompt: 'openai dupes', seconds: '8', input_reference: await toFile(image, 'ref.png', { type: 'image/png' }) },
          { headers: { 'Idempotency-Key': 'oa-1' } },
        ),
      ),
    );
    expect(new Set(videos.map((v) => v.id)).size).toBe(1);
    expect(await tasksOf(k.id)).toHaveLength(1);
    expect(await holdsOf(k.id)).toHaveLength(1);
  });

  it('the same key with a different body is a 409 in the OpenAI envelope; the SDK does not retry it', async () => {
    const k = await fundedKey('openai-conflict');
    const proxy = await startProxy(gw.url, 'pass');
    try {
      const client = new OpenAI({ apiKey: k.secret, baseURL: `${proxy.url}/v1`, maxRetries: 2 });
      await client.videos.create({ prompt: 'one' }, { headers: { 'Idempotency-Key': 'oa-2' } });
      const err = await client.videos.create({ prompt: 'two' }, { headers: { 'Idempotency-Key': 'oa-2' } }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.ConflictError);
      expect((err as InstanceType<typeof OpenAI.ConflictError>).code).toBe('idempotency_key_reused');
      expect((err as InstanceType<typeof OpenAI.ConflictError>).param).toBe('Idempotency-Key');
      expect(proxy.posts).toHaveLength(2); // x-should-retry: false stopped the SDK's automatic retries
      const raw = await openaiJson(k.secret, { prompt: 'three' }, { 'idempotency-key': 'oa-2' });
      expect(raw.headers.get('x-should-retry')).toBe('false');
      expect(await raw.json()).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: 'Idempotency-Key', code: 'idempotency_key_reused' } });
    } finally {
      await proxy.close();
    }
    expect(await tasksOf(k.id)).toHaveLength(1);
  });

  it('concurrent duplicates with different bodies: exactly one task, the losers get 409', async () => {
    const k = await fundedKey('openai-race');
    const racing = await Promise.all(
      Array.from({ length: 10 }, (_, i) => openaiJson(k.secret, { prompt: i % 2 ? 'A' : 'B' }, { 'idempotency-key': 'oa-3' })),
    );
    expect(racing.filter((r) => r.status === 200)).toHaveLength(5);
    expect(racing.filter((r) => r.status === 409)).toHaveLength(5);
    expect(await tasksOf(k.id)).toHaveLength(1);
    expect(await holdsOf(k.id)).toHaveLength(1);
  });

  it('a key used on one dialect is not silently reused by the other', async () => {
    const k = await fundedKey('cross-dialect-key');
    expect((await apimart(k.secret, { prompt: 'shared key' }, { 'idempotency-key': 'both' })).status).toBe(200);
    const o = await openaiJson(k.secret, { prompt: 'shared key' }, { 'idempotency-key': 'both' });
    expect(o.status).toBe(409);
    expect(await tasksOf(k.id)).toHaveLength(1);
  });
});

describe("the openai SDK's automatic retries (maxRetries: 2, no Idempotency-Key)", () => {
  for (const mode of ['destroy', '502'] as const) {
    it(`a first attempt that reached the gateway but whose answer was lost (${mode === 'destroy' ? 'connection destroyed' : '502 from a proxy'}) is matched by the retry: same id, one task, one hold`, async () => {
      const k = await fundedKey(`sdk-retry-${mode}`);
      const proxy = await startProxy(gw.url, mode);
      try {
        const client = new OpenAI({ apiKey: k.secret, baseURL: `${proxy.url}/v1`, maxRetries: 2 });
        const video = await client.videos.create({ prompt: `a retried request (${mode})`, seconds: '8', size: '1280x720' });
        expect(proxy.posts.map((p) => p.retryCount)).toEqual(['0', '1']);
        expect(proxy.posts[0]!.answeredId).toBe(video.id); // the answer the SDK never saw
        expect(proxy.posts[1]!.replayed).toBe('true');
        const tasks = await tasksOf(k.id);
        expect(tasks.map((t) => `video_${t.id}`)).toEqual([video.id]);
        expect(await holdsOf(k.id)).toHaveLength(1);
      } finally {
        await proxy.close();
      }
    });
  }

  it('two separate calls with the same body are two videos (only retries are matched)', async () => {
    const k = await fundedKey('sdk-no-retry');
    const client = new OpenAI({ apiKey: k.secret, baseURL: `${gw.url}/v1`, maxRetries: 2 });
    const a = await client.videos.create({ prompt: 'same twice' });
    const b = await client.videos.create({ prompt: 'same twice' });
    expect(a.id).not.toBe(b.id);
    expect(await holdsOf(k.id)).toHaveLength(2);
  });
});

interface ProxiedPost {
  retryCount: string | undefined;
  answeredId: string | undefined;
  replayed: string | undefined;
}

/**
 * A small HTTP proxy in front of the gateway. Every request is forwarded; for the first POST the
 * gateway's answer is received in full and then lost: 'destroy' cuts the client's connection,
 * '502' answers 502 instead. 'pass' forwards everything faithfully.
 */
async function startProxy(target: string, mode: 'destroy' | '502' | 'pass') {
  const posts: ProxiedPost[] = [];
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = { ...req.headers, host: upstream.host };
      const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
        const body: Buffer[] = [];
        up.on('data', (c: Buffer) => body.push(c));
        up.on('end', () => {
          const payload = Buffer.concat(body);
          const isPost = req.method === 'POST';
          if (isPost) {
            let answeredId: string | undefined;
            try {
              answeredId = (JSON.parse(payload.toString()) as { id?: string }).id;
            } catch {
              answeredId = undefined;
            }
            posts.push({
              retryCount: req.headers['x-stainless-retry-count'] as string | undefined,
              answeredId,
              replayed: up.headers['idempotency-replayed'] as string | undefined,
            });
          }
          if (isPost && posts.length === 1 && mode === 'destroy') {
            req.socket.destroy();
            return;
          }
          if (isPost && posts.length === 1 && mode === '502') {
            res.writeHead(502, { 'content-type': 'application/json', 'retry-after-ms': '10' }).end('{"error":{"message":"bad gateway","type":"server_error","code":null,"param":null}}');
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.headers).end(payload);
        });
      });
      out.on('error', () => res.destroy());
      out.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
