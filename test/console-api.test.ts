import Fastify from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { consoleStatic } from '../src/console/static.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { Receiver, until } from './helpers/receiver.js';
import { checkContract } from './helpers/contract.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const ADMIN = 'console-admin-token-0123456789';

interface QuoteJson {
  object: string;
  model: string;
  size: string;
  seconds: string;
  price_usd: number;
  price_per_second_usd: number;
  free: boolean;
  reason: string | null;
  available_usd: number | null;
  affordable: boolean;
  remix_of?: string;
}

interface LinksJson {
  id: string;
  expires_at: number;
  duration_seconds: number;
  video: { url: string; bytes: number; content_type: string };
  thumbnail: { url: string; bytes: number; content_type: string };
  spritesheet: { url: string; bytes: number; width: number; height: number; columns: number; rows: number; frames: number; cell_width: number; cell_height: number };
}

interface GalleryJson {
  id: string;
  status: string;
  model: string;
  seconds: string;
  cost_usd: number;
  price_per_second_usd: number;
  actual_seconds: number | null;
  error: { code: string; message: string } | null;
  thumbnail_url: string | null;
}

interface ErrorJson {
  error: { message: string; param: string | null; code: string | null };
}

async function call<T>(gw: TestGateway, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: T; headers: Headers }> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as T, headers: res.headers };
}

/** Quote, links and gallery: the key-facing endpoints the console uses. */
describe('console API for keys', () => {
  let paid: TestGateway; // sandbox priced like the catalogue
  let free: TestGateway; // default: the sandbox is free
  beforeAll(async () => {
    [paid, free] = await Promise.all([
      startGateway({ adminToken: ADMIN, billing: { sandboxPricing: 'catalogue' } }),
      startGateway({ adminToken: ADMIN }),
    ]);
    await call(paid, 'POST', `/admin/v1/keys/${paid.keyId}/credit`, ADMIN, { amount_usd: 20 });
  });
  afterAll(async () => {
    await Promise.all([paid?.close(), free?.close()]);
  });

  describe('GET /v1/quote', () => {
    it('prices a video the way creation holds it', async () => {
      const q = await call<QuoteJson>(paid, 'GET', '/v1/quote?model=sora-2-pro&size=1792x1024&seconds=4', paid.key);
      expect(q.status).toBe(200);
      expect(q.json).toMatchObject({ object: 'quote', model: 'sora-2-pro', size: '1792x1024', seconds: '4', price_per_second_usd: 0.5, free: false, reason: null, available_usd: 20, affordable: true });
      expect(q.json.price_usd).toBeCloseTo(2, 6);

      // Creating exactly that video holds exactly that amount.
      const before = (await call<{ data: { balance: number; held: number } }>(paid, 'GET', '/v1/balance', paid.key)).json.data;
      const video = await paid.openai().videos.create({ model: 'sora-2-pro', size: '1792x1024', seconds: '4', prompt: 'A quoted video' });
      const held = (await call<{ data: { balance: number } }>(paid, 'GET', '/v1/balance', paid.key)).json.data;
      expect(before.balance - held.balance).toBeCloseTo(q.json.price_usd, 6);
      await waitForVideo(paid.openai(), video.id);
    });

    it('defaults like POST /v1/videos and follows operator price overrides', async () => {
      const q = await call<QuoteJson>(paid, 'GET', '/v1/quote', paid.key);
      expect(q.json).toMatchObject({ model: 'sora-2', size: '720x1280', seconds: '4', price_per_second_usd: 0.1 });
      expect(q.json.price_usd).toBeCloseTo(0.4, 6);
      await call(paid, 'PUT', '/admin/v1/prices', ADMIN, { model: 'sora-2', tier: '720p', usd_per_second: 0.25 });
      try {
        const after = await call<QuoteJson>(paid, 'GET', '/v1/quote?model=sora-2&seconds=8', paid.key);
        expect(after.json.price_per_second_usd).toBe(0.25);
        expect(after.json.price_usd).toBeCloseTo(2, 6);
      } finally {
        await call(paid, 'DELETE', '/admin/v1/prices/sora-2/720p', ADMIN);
      }
    });

    it('says why a video is free: test key, or the free sandbox', async () => {
      const testKey = await paid.newKey('tester', { test: true });
      const t = await call<QuoteJson>(paid, 'GET', '/v1/quote?model=sora-2&seconds=12', testKey.secret);
      expect(t.json).toMatchObject({ price_usd: 0, free: true, reason: 'test_key', available_usd: null, affordable: true });
      const s = await call<QuoteJson>(free, 'GET', '/v1/quote?model=sora-2-pro&size=1080x1920&seconds=20', free.key);
      expect(s.json).toMatchObject({ price_usd: 0, price_per_second_usd: 0, free: true, reason: 'sandbox', affordable: true });
    });

    it('tells when the credit does not cover the price', async () => {
      const poor = await paid.newKey('poor');
      const q = await call<QuoteJson>(paid, 'GET', '/v1/quote?model=sora-2&seconds=4', poor.secret);
      expect(q.json).toMatchObject({ free: false, available_usd: 0, affordable: false });
    });

    it('quotes a remix at its source\'s model, size, duration and provider', async () => {
      const client = paid.openai();
      const source = await waitForVideo(client, (await client.videos.create({ model: 'sora-2-pro', size: '1280x720', seconds: '4', prompt: 'Remix source' })).id);
      const q = await call<QuoteJson>(paid, 'GET', `/v1/quote?remix_of=${source.id}`, paid.key);
      expect(q.json).toMatchObject({ model: 'sora-2-pro', size: '1280x720', seconds: '4', price_per_second_usd: 0.3, remix_of: source.id });
      expect(q.json.price_usd).toBeCloseTo(1.2, 6);
      const other = await paid.newKey('other');
      expect((await call<ErrorJson>(paid, 'GET', `/v1/quote?remix_of=${source.id}`, other.secret)).status).toBe(404);
    });

    it('refuses bad input naming the parameter, and needs a key', async () => {
      for (const [query, param] of [
        ['model=nope', 'model'],
        ['model=sora-2&size=1920x1080', 'size'],
        ['model=sora-2&seconds=5', 'seconds'],
        ['remix_of=video_nope', 'video_id'],
      ] as const) {
        const r = await call<ErrorJson>(paid, 'GET', `/v1/quote?${query}`, paid.key);
        expect(r.status, query).toBe(param === 'video_id' ? 404 : 400);
        expect(r.json.error.param, query).toBe(param);
      }
      expect((await fetch(`${paid.url}/v1/quote`)).status).toBe(401);
    });
  });

  describe('GET /v1/videos/{id}/links', () => {
    it('gives signed links that work without a key, and the spritesheet grid', async () => {
      const client = free.openai();
      const v = await waitForVideo(client, (await client.videos.create({ model: 'sora-2', size: '1280x720', seconds: '4', prompt: 'Links' })).id);
      const r = await call<LinksJson>(free, 'GET', `/v1/videos/${v.id}/links`, free.key);
      expect(r.status).toBe(200);
      const links = r.json;
      expect(links.id).toBe(v.id);
      expect(links.duration_seconds).toBeGreaterThan(3);
      expect(links.expires_at).toBeGreaterThan(Date.now() / 1000);
      for (const [variant, type] of [['video', 'video/mp4'], ['thumbnail', 'image/webp'], ['spritesheet', 'image/jpeg']] as const) {
        const res = await fetch(links[variant].url);
        expect(res.status, variant).toBe(200);
        expect(res.headers.get('content-type'), variant).toBe(type);
        const bytes = Buffer.from(await res.arrayBuffer());
        expect(bytes.length).toBe(links[variant].bytes);
        if (variant === 'spritesheet') {
          const meta = await sharp(bytes).metadata();
          expect({ w: meta.width, h: meta.height }).toEqual({ w: links.spritesheet.width, h: links.spritesheet.height });
        }
      }
      // 1280x720 → 20 frames in 5 × 4 cells of 256 × 144.
      expect(links.spritesheet).toMatchObject({ columns: 5, rows: 4, frames: 20, cell_width: 256, cell_height: 144, width: 1280, height: 576 });
      // Range requests (what <video> does) work on the signed link.
      const range = await fetch(links.video.url, { headers: { range: 'bytes=0-99' } });
      expect(range.status).toBe(206);
      expect((await range.arrayBuffer()).byteLength).toBe(100);
    });

    it('explains why there are no links yet, or none at all', async () => {
      const client = free.openai();
      const queued = await client.videos.create({ prompt: 'Waits sandbox:long-queue' });
      const notReady = await call<ErrorJson>(free, 'GET', `/v1/videos/${queued.id}/links`, free.key);
      expect(notReady.status).toBe(409);
      expect(notReady.json.error.code).toBe('video_not_ready');
      await client.videos.delete(queued.id);

      const failed = await waitForVideo(client, (await client.videos.create({ prompt: 'Breaks sandbox:fail' })).id);
      const r = await call<ErrorJson>(free, 'GET', `/v1/videos/${failed.id}/links`, free.key);
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe('video_failed');
      expect(r.json.error.message).toContain('video_generation_failed');

      const other = await free.newKey('someone else');
      expect((await call<ErrorJson>(free, 'GET', `/v1/videos/${failed.id}/links`, other.secret)).status).toBe(404);
    });
  });

  describe('GET /v1/gallery', () => {
    it('lists the key\'s videos newest first with cost and thumbnails, filtered and paged', async () => {
      const key = await paid.newKey('gallery');
      await call(paid, 'POST', `/admin/v1/keys/${key.id}/credit`, ADMIN, { amount_usd: 10 });
      const client = paid.openai(key.secret);
      // Created one after the other (so their order is known), rendered side by side.
      const created = [];
      for (const body of [
        { model: 'sora-2', seconds: '4', prompt: 'One' },
        { model: 'sora-2', seconds: '4', prompt: 'Two sandbox:fail' },
        { model: 'sora-2-pro', size: '1280x720', seconds: '4', prompt: 'Three' },
      ] as const) {
        created.push(await client.videos.create(body));
      }
      const [ok1, bad, ok2] = await Promise.all(created.map((v) => waitForVideo(client, v.id)));
      if (!ok1 || !bad || !ok2) throw new Error('videos missing');

      const all = await call<{ data: GalleryJson[]; has_more: boolean; last_id: string }>(paid, 'GET', '/v1/gallery', key.secret);
      expect(all.json.data.map((v) => v.id)).toEqual([ok2.id, bad.id, ok1.id]);
      const [v2, vb, v1] = all.json.data as [GalleryJson, GalleryJson, GalleryJson];
      expect(v1).toMatchObject({ status: 'completed', model: 'sora-2', seconds: '4', cost_usd: 0.4, price_per_second_usd: 0.1 });
      expect(v2).toMatchObject({ status: 'completed', model: 'sora-2-pro', cost_usd: 1.2 });
      expect(vb).toMatchObject({ status: 'failed', cost_usd: 0, thumbnail_url: null });
      expect(vb.error?.code).toBe('video_generation_failed');
      const thumb = await fetch(v1.thumbnail_url!);
      expect(thumb.status).toBe(200);
      expect(thumb.headers.get('content-type')).toBe('image/webp');

      const completed = await call<{ data: GalleryJson[] }>(paid, 'GET', '/v1/gallery?status=completed', key.secret);
      expect(completed.json.data.map((v) => v.id)).toEqual([ok2.id, ok1.id]);
      const pro = await call<{ data: GalleryJson[] }>(paid, 'GET', '/v1/gallery?model=sora-2-pro', key.secret);
      expect(pro.json.data.map((v) => v.id)).toEqual([ok2.id]);
      const failedSora2 = await call<{ data: GalleryJson[] }>(paid, 'GET', '/v1/gallery?status=failed&model=sora-2', key.secret);
      expect(failedSora2.json.data.map((v) => v.id)).toEqual([bad.id]);

      const page1 = await call<{ data: GalleryJson[]; has_more: boolean; last_id: string }>(paid, 'GET', '/v1/gallery?limit=2', key.secret);
      expect(page1.json.data).toHaveLength(2);
      expect(page1.json.has_more).toBe(true);
      const page2 = await call<{ data: GalleryJson[]; has_more: boolean }>(paid, 'GET', `/v1/gallery?limit=2&after=${page1.json.last_id}`, key.secret);
      expect(page2.json.data.map((v) => v.id)).toEqual([ok1.id]);
      expect(page2.json.has_more).toBe(false);

      const one = await call<GalleryJson>(paid, 'GET', `/v1/gallery/${ok1.id}`, key.secret);
      expect(one.json).toMatchObject({ id: ok1.id, status: 'completed', cost_usd: 0.4 });
      // Another key sees none of them.
      expect((await call<{ data: GalleryJson[] }>(paid, 'GET', '/v1/gallery', (await paid.newKey('stranger')).secret)).json.data).toEqual([]);
      expect((await call<ErrorJson>(paid, 'GET', `/v1/gallery/${ok1.id}`, paid.key)).status).toBe(404);
    });

    it('refuses unknown filters naming them', async () => {
      for (const [query, param] of [['status=done', 'status'], ['model=nope', 'model'], ['limit=0', 'limit'], ['after=xyz', 'after']] as const) {
        const r = await call<ErrorJson>(paid, 'GET', `/v1/gallery?${query}`, paid.key);
        expect(r.status, query).toBe(400);
        expect(r.json.error.param, query).toBe(param);
      }
    });
  });
});

interface AdminTaskJson {
  id: string;
  task_id: string;
  key_id: string;
  key_name: string;
  status: string;
  model: string;
  channel: string;
  cost_usd: number;
  quote_usd: number;
  deleted_at: number | null;
  events: { seq: number; type: string; status: string; progress: number }[];
  ledger: { kind: string; amount_usd: number; task_id: string }[];
  assets: { variant: string; bytes: number }[];
  links: LinksJson | null;
  deliveries: { id: string; event_type: string }[];
}

describe('admin tasks and webhooks', () => {
  let gw: TestGateway;
  let receiver: Receiver;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    receiver = await Receiver.start();
    gw = await startGateway({
      adminToken: ADMIN,
      billing: { sandboxPricing: 'catalogue' },
      net: { allowHosts: [], allowCidrs: ['127.0.0.1/32'] },
      webhooks: { retryBaseMs: 40, retryMultiplier: 2, retryMaxDelayMs: 400, timeoutMs: 2000 },
    });
    alice = await gw.newKey('alice');
    bob = await gw.newKey('bob');
    for (const k of [alice, bob]) await call(gw, 'POST', `/admin/v1/keys/${k.id}/credit`, ADMIN, { amount_usd: 10 });
    await call(gw, 'POST', '/v1/webhook_endpoints', alice.secret, { url: `${receiver.url}/alice`, name: 'alice hook' });
    await call(gw, 'POST', '/v1/webhook_endpoints', bob.secret, { url: `${receiver.url}/bob`, name: 'bob hook', event_types: ['video.completed'] });
    const a = gw.openai(alice.secret);
    const b = gw.openai(bob.secret);
    // Created in a known order, rendered side by side.
    ids.aliceOk = (await a.videos.create({ model: 'sora-2', seconds: '4', prompt: 'Alice paints a lighthouse' })).id;
    ids.aliceFail = (await a.videos.create({ model: 'sora-2', seconds: '4', prompt: 'Alice breaks it sandbox:fail' })).id;
    ids.bobPro = (await b.videos.create({ model: 'sora-2-pro', size: '1280x720', seconds: '4', prompt: 'Bob films a harbour' })).id;
    ids.bobDeleted = (await b.videos.create({ model: 'sora-2', seconds: '4', prompt: 'Bob deletes this one' })).id;
    await Promise.all([waitForVideo(a, ids.aliceOk), waitForVideo(a, ids.aliceFail), waitForVideo(b, ids.bobPro)]);
    const deleted = await waitForVideo(b, ids.bobDeleted);
    await b.videos.delete(deleted.id);
    // alice: completed + failed; bob: completed (the deleted video's event too)
    await receiver.waitFor((r) => r.accepted.length >= 4, 30_000, 'four deliveries');
  });
  afterAll(async () => {
    await gw?.close();
    await receiver?.stop();
  });

  const list = (query = '') => call<{ data: AdminTaskJson[]; has_more: boolean; last_id: string | null }>(gw, 'GET', `/admin/v1/tasks?${query}`, ADMIN);

  it('GET /admin/v1/tasks needs the admin token', async () => {
    expect((await call(gw, 'GET', '/admin/v1/tasks', alice.secret)).status).toBe(401);
    expect((await fetch(`${gw.url}/admin/v1/tasks`)).status).toBe(401);
  });

  it('lists every task newest first and searches by id, key, status, model, channel and prompt', async () => {
    const all = await list();
    expect(all.json.data.map((t) => t.id)).toEqual([ids.bobDeleted, ids.bobPro, ids.aliceFail, ids.aliceOk]);
    const bobPro = all.json.data[1]!;
    expect(bobPro).toMatchObject({ key_id: bob.id, key_name: 'bob', status: 'completed', model: 'sora-2-pro', channel: 'sandbox', cost_usd: 1.2, quote_usd: 1.2 });
    expect(all.json.data[0]!.deleted_at).not.toBeNull();

    const only = async (query: string) => (await list(query)).json.data.map((t) => t.id);
    expect(await only(`id=${ids.aliceOk}`)).toEqual([ids.aliceOk]);
    expect(await only(`id=${ids.aliceOk!.replace('video_', 'task_')}`)).toEqual([ids.aliceOk]);
    expect(await only(`id=${ids.aliceOk!.replace('video_', '')}`)).toEqual([ids.aliceOk]);
    expect(await only('id=video_doesnotexist')).toEqual([]);
    expect(await only(`key_id=${alice.id}`)).toEqual([ids.aliceFail, ids.aliceOk]);
    expect(await only(`key_id=${alice.secret.slice(0, 12)}`)).toEqual([ids.aliceFail, ids.aliceOk]);
    expect(await only('status=failed')).toEqual([ids.aliceFail]);
    expect(await only('model=sora-2-pro')).toEqual([ids.bobPro]);
    expect(await only('channel=sandbox&status=completed&include_deleted=false')).toEqual([ids.bobPro, ids.aliceOk]);
    expect(await only('channel=some-upstream')).toEqual([]);
    expect(await only('q=HARBOUR')).toEqual([ids.bobPro]);
    expect(await only('q=%25')).toEqual([]); // a literal %, not a wildcard
  });

  it('pages with a cursor', async () => {
    const p1 = await list('limit=3');
    expect(p1.json.data).toHaveLength(3);
    expect(p1.json.has_more).toBe(true);
    const p2 = await list(`limit=3&after=${p1.json.last_id}`);
    expect(p2.json.data.map((t) => t.id)).toEqual([ids.aliceOk]);
    expect(p2.json.has_more).toBe(false);
  });

  it('refuses bad filters naming them', async () => {
    for (const [query, status, param] of [
      ['status=nope', 400, 'status'],
      ['limit=101', 400, 'limit'],
      ['after=nope', 400, 'after'],
      ['key_id=key_unknown', 404, 'key'],
    ] as const) {
      const r = await call<ErrorJson>(gw, 'GET', `/admin/v1/tasks?${query}`, ADMIN);
      expect(r.status, query).toBe(status);
      expect(r.json.error.param, query).toBe(param);
    }
  });

  it('GET /admin/v1/tasks/{id} shows events, ledger, files, deliveries and links', async () => {
    const r = await call<AdminTaskJson>(gw, 'GET', `/admin/v1/tasks/${ids.aliceOk}`, ADMIN);
    expect(r.status).toBe(200);
    const t = r.json;
    expect(t.events.map((e) => e.type)[0]).toBe('video.created');
    expect(t.events.map((e) => e.type).at(-1)).toBe('video.completed');
    expect(t.ledger.map((e) => [e.kind, e.amount_usd])).toEqual([['hold', -0.4], ['settle', 0]]);
    expect(t.assets.map((a) => a.variant).sort()).toEqual(['spritesheet', 'thumbnail', 'video']);
    expect(t.deliveries.map((d) => d.event_type)).toEqual(['video.completed']);
    expect(t.links?.spritesheet.frames).toBe(20);
    expect((await fetch(t.links!.video.url)).status).toBe(200);

    const failed = (await call<AdminTaskJson & { error: { code: string } }>(gw, 'GET', `/admin/v1/tasks/${ids.aliceFail!.replace('video_', 'task_')}`, ADMIN)).json;
    expect(failed.error.code).toBe('video_generation_failed');
    expect(failed.ledger.map((e) => e.kind)).toEqual(['hold', 'release']);
    expect(failed.links).toBeNull();

    const missing = await call<ErrorJson>(gw, 'GET', '/admin/v1/tasks/video_01K00000000000000000000000', ADMIN);
    expect(missing.status).toBe(404);
  });

  interface AdminDelivery {
    id: string;
    key_id: string;
    key_name: string;
    status: string;
    event_type: string;
    attempt_count: number;
    video_id: string;
    url: string;
  }

  it('lists webhook endpoints and deliveries across keys, filters them, and re-sends', async () => {
    const endpoints = await call<{ data: { id: string; key_id: string; key_name: string; url: string; signing_secret?: string }[] }>(gw, 'GET', '/admin/v1/webhook_endpoints', ADMIN);
    expect(endpoints.json.data.map((e) => e.key_name)).toEqual(['bob', 'alice']);
    expect(endpoints.json.data.every((e) => e.signing_secret === undefined)).toBe(true);
    const aliceEndpoints = await call<{ data: { key_id: string }[] }>(gw, 'GET', `/admin/v1/webhook_endpoints?key_id=${alice.id}`, ADMIN);
    expect(aliceEndpoints.json.data.map((e) => e.key_id)).toEqual([alice.id]);

    const all = await call<{ data: AdminDelivery[] }>(gw, 'GET', '/admin/v1/webhook_deliveries', ADMIN);
    expect(new Set(all.json.data.map((d) => d.key_name))).toEqual(new Set(['alice', 'bob']));
    expect(all.json.data.every((d) => d.status === 'delivered')).toBe(true);
    const failedEvents = await call<{ data: AdminDelivery[] }>(gw, 'GET', `/admin/v1/webhook_deliveries?event_type=video.failed&key_id=${alice.id}`, ADMIN);
    expect(failedEvents.json.data.map((d) => d.video_id)).toEqual([ids.aliceFail]);
    const forVideo = await call<{ data: AdminDelivery[] }>(gw, 'GET', `/admin/v1/webhook_deliveries?video_id=${ids.bobPro}`, ADMIN);
    expect(forVideo.json.data).toHaveLength(1);
    const target = forVideo.json.data[0]!;
    expect(target).toMatchObject({ key_id: bob.id, event_type: 'video.completed', attempt_count: 1 });

    const before = receiver.received.filter((r) => r.headers['webhook-id'] === target.id).length;
    const resent = await call<AdminDelivery>(gw, 'POST', `/admin/v1/webhook_deliveries/${target.id}/resend`, ADMIN);
    expect(resent.status).toBe(200);
    expect(resent.json.status).toBe('pending');
    await receiver.waitFor((r) => r.received.filter((x) => x.headers['webhook-id'] === target.id).length > before, 30_000, 're-sent delivery');
    const after = await until(async () => {
      const d = (await call<AdminDelivery>(gw, 'GET', `/admin/v1/webhook_deliveries/${target.id}`, ADMIN)).json;
      return d.status === 'delivered' && d.attempt_count === 2 ? d : null;
    });
    expect(after.key_name).toBe('bob');

    for (const [path, status, param] of [
      ['/admin/v1/webhook_deliveries?status=nope', 400, 'status'],
      ['/admin/v1/webhook_deliveries?endpoint_id=whe_nope', 404, 'endpoint_id'],
      ['/admin/v1/webhook_deliveries/whd_nope', 404, 'delivery_id'],
    ] as const) {
      const r = await call<ErrorJson>(gw, 'GET', path, ADMIN);
      expect(r.status, path).toBe(status);
      expect(r.json.error.param, path).toBe(param);
    }
    expect((await call<ErrorJson>(gw, 'POST', '/admin/v1/webhook_deliveries/nope/resend', ADMIN)).status).toBe(404);
    expect((await call<ErrorJson>(gw, 'GET', '/admin/v1/webhook_deliveries', alice.secret)).status).toBe(401);
  });
});

describe('console page', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ publicUrl: 'https://videos.example.com/vg' });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is served at /console/ without a key, with a strict CSP and no caching', async () => {
    const redirect = await fetch(`${gw.url}/console?x=1`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/vg/console/?x=1');

    for (const path of ['/console/', '/console/gallery', '/console/videos/video_123', '/console/admin/tasks/video_1']) {
      const res = await fetch(`${gw.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      // Files may come from VIDGATE_PUBLIC_URL's origin (signed links point there).
      expect(csp).toContain("media-src 'self' https://videos.example.com");
      const html = await res.text();
      expect(html).toContain('<base href="/vg/console/">');
      expect(html).not.toMatch(/<script>|<style>|https?:\/\//);
    }
  });

  it('serves hashed assets cached for a year, pre-compressed, and 404s for missing ones', async () => {
    const html = await (await fetch(`${gw.url}/console/`)).text();
    const js = /src="(assets\/app-[A-Z0-9]+\.js)"/.exec(html)![1]!;
    const css = /href="(assets\/app-[A-Z0-9]+\.css)"/.exec(html)![1]!;
    for (const asset of [js, css]) {
      const plain = await fetch(`${gw.url}/console/${asset}`, { headers: { 'accept-encoding': 'identity' } });
      expect(plain.status, asset).toBe(200);
      expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(plain.headers.get('content-type')).toMatch(asset.endsWith('.js') ? /javascript/ : /text\/css/);
      const body = await plain.arrayBuffer();
      const br = await fetch(`${gw.url}/console/${asset}`, { headers: { 'accept-encoding': 'br' } });
      expect(br.headers.get('content-encoding')).toBe('br');
      expect((await br.arrayBuffer()).byteLength).toBe(body.byteLength); // fetch decodes it
    }
    const missing = await fetch(`${gw.url}/console/assets/app-NOPE.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/json/);
  });

  it('says how to build it when web/dist is missing', async () => {
    const app = Fastify();
    await app.register(consoleStatic(loadConfig({}, {}), '/nonexistent/web/dist'));
    const res = await app.inject({ url: '/console/' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build');
    await app.close();
  });
});
