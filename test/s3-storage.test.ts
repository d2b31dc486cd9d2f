import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenAIVideosFake } from './fakes/index.js';
import { startOpenAIVideosFake } from './fakes/index.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createApp } from '../src/app.js';
import { S3TestServer } from './helpers/s3.js';
import { channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from './helpers/upstreams.js';

/**
 * Blob storage in an S3-compatible bucket, end to end through HTTP, against a real S3-protocol
 * server (fauxqs: it decodes the SDK's aws-chunked uploads with trailing checksums, multipart
 * uploads and ranged GETs as S3 does; see docs/architecture.md).
 */
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const idOf = (publicId: string) => publicId.replace(/^(video|task)_/, '');

async function get(url: string, headers: Record<string, string> = {}, init: RequestInit = {}) {
  const res = await fetch(url, { headers, ...init });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function health(gw: TestGateway): Promise<{ status: string; storage: { ok: boolean; kind: string; error?: string } }> {
  return (await (await fetch(`${gw.url}/healthz`)).json()) as { status: string; storage: { ok: boolean; kind: string; error?: string } };
}

/** Every finished task of the key is settled: balance = credit − the costs of completed tasks, nothing held. */
async function expectMoneyExact(gw: TestGateway, keyId: string, creditMicros: number, ids: string[]): Promise<void> {
  const tasks = await Promise.all(ids.map(async (id) => (await gw.app.gateway.service.store.get(idOf(id)))!));
  const costs = tasks.reduce((sum, t) => sum + (t.status === 'completed' ? t.costMicros! : 0), 0);
  const b = await gw.app.gateway.ledger.balance(keyId);
  expect(b.heldMicros).toBe(0);
  expect(b.balanceMicros).toBe(creditMicros - costs);
}

describe('S3 blob storage', () => {
  let s3: S3TestServer;
  let gw: TestGateway;
  let skewMs = 0;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    gw = await startGateway({ storage: s3.config() }, { now: () => Date.now() + skewMs });
  });
  afterAll(async () => {
    await gw?.close();
    await s3?.close();
  });

  it('create → complete → download with Range in both dialects: the files live in the bucket, not on disk', { timeout: 300_000 }, async () => {
    const client = gw.openai();
    const v = await client.videos.create({ prompt: 'A lighthouse stored in a bucket', seconds: '4' });
    expect((await waitForVideo(client, v.id, 120_000)).status).toBe('completed');
    const id = idOf(v.id);
    const asset = (await gw.app.gateway.service.store.getAsset(id, 'video'))!;
    const keys = await s3.keys(`${id}/`);
    expect(keys.sort()).toEqual(['spritesheet.jpg', 'thumbnail.webp', 'video.mp4'].map((f) => `${path.dirname(asset.path)}/${f}`).sort());
    expect((await s3.head(asset.path)).bytes).toBe(asset.bytes);
    expect(existsSync(path.join(gw.dataDir, 'blobs'))).toBe(false);

    const whole = Buffer.from(await (await client.videos.downloadContent(v.id)).arrayBuffer());
    expect(sha256(whole)).toBe(asset.sha256);
    const auth = { authorization: `Bearer ${gw.key}` };

    const openaiRange = await get(`${gw.url}/v1/videos/${v.id}/content`, { ...auth, range: 'bytes=100-1123' });
    expect(openaiRange.status).toBe(206);
    expect(openaiRange.headers.get('content-range')).toBe(`bytes 100-1123/${asset.bytes}`);
    expect(openaiRange.body.equals(whole.subarray(100, 1124))).toBe(true);

    const taskId = `task_${id}`;
    const suffix = await get(`${gw.url}/v1/tasks/${taskId}/content`, { ...auth, range: 'bytes=-500' });
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(whole.subarray(whole.length - 500))).toBe(true);

    const status = (await (await fetch(`${gw.url}/v1/tasks/${taskId}`, { headers: auth })).json()) as { data: { result: { videos: { url: string[] }[] } } };
    const link = status.data.result.videos[0]!.url[0]!;
    const signed = await get(link, { range: 'bytes=0-9' });
    expect(signed.status).toBe(206);
    expect(signed.body.equals(whole.subarray(0, 10))).toBe(true);
    expect((await get(link)).body.equals(whole)).toBe(true);

    const thumb = await get(`${gw.url}/v1/videos/${v.id}/content?variant=thumbnail`, auth);
    expect(thumb.status).toBe(200);
    expect((await sharp(thumb.body).metadata()).format).toBe('webp');

    const notModified = await get(`${gw.url}/v1/videos/${v.id}/content`, { ...auth, 'if-none-match': openaiRange.headers.get('etag')! });
    expect(notModified.status).toBe(304);
  });

  it('reads the reference image and the remix source back from the bucket', { timeout: 300_000 }, async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 640, height: 360, channels: 3, background: '#cc3311' } }).png().toBuffer();
    const v = await client.videos.create({ prompt: 'animate the red card', size: '1280x720', input_reference: await toFile(png, 'ref.png', { type: 'image/png' }) });
    const id = idOf(v.id);
    expect(await s3.keys(`${id}/reference.png`)).toEqual([`${id}/reference.png`]);
    expect((await waitForVideo(client, v.id, 120_000)).status).toBe('completed');
    // The sandbox drew its first frame from the reference (red), read from the bucket.
    const thumb = await get(`${gw.url}/v1/videos/${v.id}/content?variant=thumbnail`, { authorization: `Bearer ${gw.key}` });
    const { dominant } = await sharp(thumb.body).stats();
    expect(dominant.r).toBeGreaterThan(150);

    const remix = await client.videos.remix(v.id, { prompt: 'the same card at night' });
    const done = await waitForVideo(client, remix.id, 120_000);
    expect(done.status).toBe('completed');
    expect(done.remixed_from_video_id).toBe(v.id);
    const remixed = Buffer.from(await (await client.videos.downloadContent(remix.id)).arrayBuffer());
    expect(sha256(remixed)).toBe((await gw.app.gateway.service.store.getAsset(idOf(remix.id), 'video'))!.sha256);
    expect(existsSync(path.join(gw.dataDir, 'blobs'))).toBe(false);
  });

  it('retention deletes the objects; downloads then answer 410', { timeout: 300_000 }, async () => {
    const client = gw.openai();
    const v = await client.videos.create({ prompt: 'kept for a week only' });
    await waitForVideo(client, v.id, 120_000);
    const id = idOf(v.id);
    expect((await s3.keys(`${id}/`)).length).toBe(3);
    skewMs = 169 * 3600_000;
    try {
      expect(await gw.app.gateway.service.expireAssets()).toBeGreaterThanOrEqual(1);
    } finally {
      skewMs = 0;
    }
    expect(await s3.keys(`${id}/`)).toEqual([]);
    const gone = await get(`${gw.url}/v1/videos/${v.id}/content`, { authorization: `Bearer ${gw.key}` });
    expect(gone.status).toBe(410);
    expect(JSON.parse(gone.body.toString()).error.code).toBe('content_expired');
  });
});

describe('S3 with redirect delivery', () => {
  let s3: S3TestServer;
  let gw: TestGateway;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    gw = await startGateway({ storage: s3.config({ delivery: 'redirect', redirectTtlSeconds: 120 }) });
  });
  afterAll(async () => {
    await gw?.close();
    await s3?.close();
  });

  it('answers an authorised download with a 302 to a short-lived presigned bucket URL that serves Range', { timeout: 300_000 }, async () => {
    const client = gw.openai();
    const v = await client.videos.create({ prompt: 'handed to the bucket' });
    await waitForVideo(client, v.id, 120_000);
    const asset = (await gw.app.gateway.service.store.getAsset(idOf(v.id), 'video'))!;

    const res = await get(`${gw.url}/v1/videos/${v.id}/content`, { authorization: `Bearer ${gw.key}` }, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(s3.endpoint);
    expect(location.pathname).toBe(`/${s3.bucket}/${asset.path}`);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('120');
    expect(location.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(location.searchParams.get('response-content-disposition')).toBe(`inline; filename="${v.id}.mp4"`);

    const ranged = await get(location.href, { range: 'bytes=0-99' });
    expect(ranged.status).toBe(206);
    // The official SDK follows the redirect (without our API key) and gets the whole file.
    const whole = Buffer.from(await (await client.videos.downloadContent(v.id)).arrayBuffer());
    expect(sha256(whole)).toBe(asset.sha256);
    expect(ranged.body.equals(whole.subarray(0, 100))).toBe(true);

    // No key, no redirect: authorisation comes first.
    expect((await get(`${gw.url}/v1/videos/${v.id}/content`, {}, { redirect: 'manual' })).status).toBe(401);
  });
});

describe('S3 bucket down, then back', () => {
  let s3: S3TestServer;
  let gw: TestGateway;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    gw = await startGateway({ storage: s3.config(), billing: { sandboxPricing: 'catalogue' } });
  });
  afterAll(async () => {
    await gw?.close();
    await s3?.close();
  });

  it('tasks wait while the bucket is unreachable and complete when it returns; no file-less completion, money exact', { timeout: 600_000 }, async () => {
    const credit = 50_000_000;
    await gw.app.gateway.accounts.credit(gw.keyId, credit / 1e6, 'test credit', Date.now());
    const client = gw.openai();
    const before = await client.videos.create({ prompt: 'made before the outage' });
    await waitForVideo(client, before.id, 120_000);

    await s3.down();
    const ids: string[] = [before.id];
    for (let i = 0; i < 4; i++) {
      const r = await createVideo(gw, gw.key, { prompt: `made during the outage ${i}`, seconds: '4' });
      expect(r.status).toBe(200);
      ids.push(r.json.id as string);
    }
    // A create that must store a reference image is refused with a retry hint meanwhile.
    const form = new FormData();
    form.set('prompt', 'with a reference during the outage');
    form.set('input_reference', new Blob([await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } }).png().toBuffer()], { type: 'image/png' }), 'r.png');
    const refused = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}` }, body: form });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('storage_unavailable');
    // Downloads of stored files say the same.
    const dl = await get(`${gw.url}/v1/videos/${before.id}/content`, { authorization: `Bearer ${gw.key}` });
    expect(dl.status).toBe(503);

    // The renders finish; the uploads fail; nothing completes without its file, nothing fails.
    const deadline = Date.now() + 180_000;
    while ((await health(gw)).storage.ok) {
      if (Date.now() > deadline) throw new Error('/healthz never reported the storage trouble');
      await new Promise((r) => setTimeout(r, 100));
    }
    const h = await health(gw);
    expect(h.status).toBe('degraded');
    expect(h.storage.kind).toBe('s3');
    await new Promise((r) => setTimeout(r, 3000));
    for (const id of ids.slice(1)) {
      const v = await getVideo(gw, gw.key, id);
      expect(['queued', 'in_progress']).toContain(v.status);
    }

    await s3.up();
    const final = await waitAllTerminal(gw, gw.key, ids, 300_000);
    for (const id of ids) {
      expect(final.get(id)!.status).toBe('completed');
      const asset = (await gw.app.gateway.service.store.getAsset(idOf(id), 'video'))!;
      const body = await get(`${gw.url}/v1/videos/${id}/content`, { authorization: `Bearer ${gw.key}` });
      expect(body.status).toBe(200);
      expect(sha256(body.body)).toBe(asset.sha256);
    }
    expect((await health(gw)).storage.ok).toBe(true);
    await expectMoneyExact(gw, gw.keyId, credit, ids);
  });
});

describe('S3 behind an upstream channel', () => {
  let s3: S3TestServer;
  let fake: OpenAIVideosFake;
  let gw: TestGateway;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    fake = await startOpenAIVideosFake({ flavor: 'openai', script: { queuedMs: 50, runMs: 200 }, videoBytes: 12 * 1024 * 1024 });
    gw = await startWithChannels([channel('openai', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })], { storage: s3.config() });
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
    await s3?.close();
  });

  it('sends the reference from the bucket upstream and uploads a 12 MB result in parts, intact', { timeout: 300_000 }, async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3366aa' } }).png().toBuffer();
    const v = await client.videos.create({ model: 'sora-2', prompt: 'a large result', size: '1280x720', input_reference: await toFile(png, 'ref.png', { type: 'image/png' }) });
    expect((await waitForVideo(client, v.id, 120_000)).status).toBe('completed');
    const sent = fake.params.get(fake.submissions.at(-1)!.jobId)!.inputReference;
    expect(sent?.kind).toBe('file');
    const stored = (await s3.client.send(new (await import('@aws-sdk/client-s3')).GetObjectCommand({ Bucket: s3.bucket, Key: `${idOf(v.id)}/reference.png` }))).Body!;
    expect(sent?.kind === 'file' && sent.sha256).toBe(sha256(Buffer.from(await stored.transformToByteArray())));

    const asset = (await gw.app.gateway.service.store.getAsset(idOf(v.id), 'video'))!;
    expect(asset.bytes).toBe(12 * 1024 * 1024);
    // A multipart object's ETag is "<md5 of the parts' md5s>-<parts>": 12 MiB in 5 MiB parts.
    expect((await s3.head(asset.path)).etag).toMatch(/-3"$/);
    const whole = Buffer.from(await (await client.videos.downloadContent(v.id)).arrayBuffer());
    expect(sha256(whole)).toBe(asset.sha256);
    const tail = await get(`${gw.url}/v1/videos/${v.id}/content`, { authorization: `Bearer ${gw.key}`, range: `bytes=${whole.length - 4096}-` });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(whole.subarray(whole.length - 4096))).toBe(true);
  });
});

describe('S3 configuration', () => {
  it('refuses delivery modes that do not fit the storage, and never shows the secret key', () => {
    expect(() => loadConfig({ VIDGATE_CONTENT_DELIVERY: 'redirect' })).toThrow(/VIDGATE_CONTENT_DELIVERY: redirect needs an S3 bucket/);
    expect(() => loadConfig({ VIDGATE_S3_BUCKET: 'videos', VIDGATE_CONTENT_DELIVERY: 'x-accel-redirect' })).toThrow(ConfigError);
    const config = loadConfig({ VIDGATE_S3_BUCKET: 'videos' }, { storage: { s3: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'very-secret-value-123' } } });
    expect(JSON.stringify(config)).not.toContain('very-secret-value-123');
    expect(String(config.storage.s3.secretAccessKey)).toBe('[redacted]');
  });

  it('stops at start-up with a clear message when the bucket does not exist', async () => {
    const s3 = await S3TestServer.start();
    try {
      const { mkdtemp, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-nobucket-'));
      const config = loadConfig({}, { dataDir, logLevel: 'silent', storage: { s3: { ...(s3.config().s3 as object), bucket: 'no-such-bucket' } } });
      await expect(createApp(config)).rejects.toThrow(/VIDGATE_S3_BUCKET: the bucket 'no-such-bucket' cannot be used \(NoSuchBucket\)/);
      await rm(dataDir, { recursive: true, force: true });
    } finally {
      await s3.close();
    }
  });
});
