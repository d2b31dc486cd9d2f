import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkContract } from './helpers/contract.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const VIDEO_FIELDS = [
  'id', 'object', 'created_at', 'completed_at', 'expires_at', 'status', 'progress', 'model', 'prompt',
  'seconds', 'size', 'remixed_from_video_id', 'error',
];

let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gw = await startGateway();
  client = gw.openai();
});
afterAll(async () => gw?.close());

const png = (w: number, h: number, color = { r: 200, g: 40, b: 90 }) =>
  sharp({ create: { width: w, height: h, channels: 3, background: color } }).png().toBuffer();

async function rawCreate(body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}/v1/videos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function expectApiError(p: Promise<unknown>, status: number, param?: string | null) {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err, 'expected the call to fail').toBeInstanceOf(OpenAI.APIError);
  const e = err as InstanceType<typeof OpenAI.APIError>;
  expect(e.status).toBe(status);
  if (param !== undefined) expect(e.param).toBe(param);
  expect(e.requestID).toMatch(/^req_/);
  return e;
}

describe('create, poll, download through the openai SDK', () => {
  it('creates with a reference file, completes, and serves all three variants', async () => {
    const image = await png(1000, 1000);
    const created = await client.videos.create({
      model: 'sora-2',
      prompt: 'A red fox running through snow',
      size: '1280x720',
      seconds: '4',
      input_reference: await toFile(image, 'ref.png', { type: 'image/png' }),
    });
    expect(Object.keys(created).sort()).toEqual([...VIDEO_FIELDS].sort());
    expect(created).toMatchObject({
      object: 'video', status: 'queued', progress: 0, model: 'sora-2', seconds: '4', size: '1280x720',
      completed_at: null, expires_at: null, remixed_from_video_id: null, error: null,
    });
    expect(created.id).toMatch(/^video_[0-9A-Z]{26}$/);

    const done = await waitForVideo(client, created.id);
    expect(done.status).toBe('completed');
    expect(done.progress).toBe(100);
    expect(done.completed_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.expires_at).toBeGreaterThan(done.completed_at!);

    const video = await client.videos.downloadContent(created.id);
    expect(video.headers.get('content-type')).toBe('video/mp4');
    const mp4 = Buffer.from(await video.arrayBuffer());
    expect(Number(video.headers.get('content-length'))).toBe(mp4.length);
    expect(mp4.subarray(4, 8).toString()).toBe('ftyp');

    const thumb = await client.videos.downloadContent(created.id, { variant: 'thumbnail' });
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    const webp = Buffer.from(await thumb.arrayBuffer());
    expect(webp.subarray(8, 12).toString()).toBe('WEBP');

    const sheet = await client.videos.downloadContent(created.id, { variant: 'spritesheet' });
    expect(sheet.headers.get('content-type')).toBe('image/jpeg');
    const jpg = Buffer.from(await sheet.arrayBuffer());
    expect([jpg[0], jpg[1]]).toEqual([0xff, 0xd8]);
  });

  it('accepts a JSON body with input_reference.image_url as a data URL, and ignores unknown fields', async () => {
    const image = (await png(720, 1280)).toString('base64');
    const res = await rawCreate({
      prompt: 'A lighthouse at dusk',
      input_reference: { image_url: `data:image/png;base64,${image}` },
      quality: 'standard',
      something_new: { nested: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    const v = (await res.json()) as OpenAI.Videos.Video;
    expect(v).toMatchObject({ model: 'sora-2', seconds: '4', size: '720x1280', status: 'queued' });
    expect((await waitForVideo(client, v.id)).status).toBe('completed');
  });

  it('accepts multipart bracket keys (input_reference[image_url]) and a multipart body without files', async () => {
    const form = new FormData();
    form.set('prompt', 'Waves on a beach');
    form.set('seconds', '4');
    form.set('input_reference[image_url]', `data:image/png;base64,${(await png(64, 64)).toString('base64')}`);
    const res = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}` }, body: form });
    expect(res.status).toBe(200);
    const id = ((await res.json()) as { id: string }).id;
    const task = (await gw.app.gateway.service.store.get(id.slice('video_'.length)))!;
    expect(task.hasReference).toBe(true);
  });

  it('sends openai-poll-after-ms on retrieve and progresses queued → in_progress → completed', async () => {
    // sandbox:slow spreads progress over ~1.6 s, so several progress events happen even on a busy machine.
    const v = await client.videos.create({ prompt: 'Clouds over mountains sandbox:slow' });
    const res = await fetch(`${gw.url}/v1/videos/${v.id}`, { headers: { authorization: `Bearer ${gw.key}` } });
    expect(Number(res.headers.get('openai-poll-after-ms'))).toBeGreaterThan(0);
    await waitForVideo(client, v.id);
    const events = await gw.app.gateway.service.store.eventsForTask(v.id.slice(6), 0);
    const statuses = events.map((e) => e.status);
    expect(statuses[0]).toBe('queued');
    expect(statuses.at(-1)).toBe('completed');
    const progress = events.filter((e) => e.status === 'in_progress').map((e) => e.progress);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });
});

describe('list, remix, delete', () => {
  it('paginates a key’s videos with after/limit/order, newest first by default', async () => {
    const k = await gw.newKey('pager');
    const c = gw.openai(k.secret);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await c.videos.create({ prompt: `sandbox:long-queue page ${i}` })).id);

    const first = await c.videos.list({ limit: 2 });
    expect(first.data.map((v) => v.id)).toEqual([ids[4], ids[3]]);
    expect(first.has_more).toBe(true);
    const raw = await fetch(`${gw.url}/v1/videos?limit=2`, { headers: { authorization: `Bearer ${k.secret}` } });
    expect(await raw.json()).toMatchObject({ object: 'list', first_id: ids[4], last_id: ids[3], has_more: true });

    const all: string[] = [];
    for await (const v of c.videos.list({ limit: 2 })) all.push(v.id);
    expect(all).toEqual([...ids].reverse());

    const asc = await c.videos.list({ order: 'asc', after: ids[1], limit: 100 });
    expect(asc.data.map((v) => v.id)).toEqual(ids.slice(2));
    expect(asc.has_more).toBe(false);

    const empty = await fetch(`${gw.url}/v1/videos?after=${ids[0]}`, { headers: { authorization: `Bearer ${k.secret}` } });
    expect(await empty.json()).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });

    await expectApiError(c.videos.list({ limit: 101 }), 400, 'limit');
    await expectApiError(c.videos.list({ order: 'sideways' as 'asc' }), 400, 'order');
  });

  it('remixes a completed video into a new task of the same size and length', async () => {
    const source = await client.videos.create({ prompt: 'A paper boat on a river', size: '1280x720' });
    await waitForVideo(client, source.id);
    const remix = await client.videos.remix(source.id, { prompt: 'The same boat at night, lit by lanterns' });
    expect(remix).toMatchObject({ remixed_from_video_id: source.id, size: '1280x720', seconds: '4', status: 'queued' });
    expect(remix.id).not.toBe(source.id);
    const done = await waitForVideo(client, remix.id);
    expect(done.status).toBe('completed');
    const bytes = Buffer.from(await (await client.videos.downloadContent(remix.id)).arrayBuffer());
    const original = Buffer.from(await (await client.videos.downloadContent(source.id)).arrayBuffer());
    expect(bytes.equals(original)).toBe(false);
  });

  it('refuses to remix a video that is not completed', async () => {
    const v = await client.videos.create({ prompt: 'sandbox:long-queue still waiting' });
    const e = await expectApiError(client.videos.remix(v.id, { prompt: 'again' }), 409);
    expect(e.code).toBe('video_not_completed');
  });

  it('deletes a video and its files; afterwards it is a 404', async () => {
    const v = await client.videos.create({ prompt: 'A spinning top' });
    await waitForVideo(client, v.id);
    const task = (await gw.app.gateway.service.store.getAsset(v.id.slice(6), 'video'))!;
    const deleted = await client.videos.delete(v.id);
    expect(deleted).toEqual({ id: v.id, object: 'video.deleted', deleted: true });
    await expectApiError(client.videos.retrieve(v.id), 404);
    await expectApiError(client.videos.downloadContent(v.id), 404);
    await expectApiError(client.videos.delete(v.id), 404);
    expect(await gw.app.gateway.blobs.read(task.path)).toBeUndefined();
  });

  it('deleting an unfinished video cancels it', async () => {
    const v = await client.videos.create({ prompt: 'sandbox:long-queue to be cancelled' });
    await client.videos.delete(v.id);
    const row = (await gw.app.gateway.service.store.get(v.id.slice(6)))!;
    expect(row.status).toBe('cancelled');
    expect(row.stage).toBe('done');
  });
});

describe('content downloads', () => {
  let id: string;
  beforeAll(async () => {
    id = (await client.videos.create({ prompt: 'A kite in the wind' })).id;
    await waitForVideo(client, id);
  });
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${gw.key}`, ...headers } });

  it('answers Range requests with 206 and the exact bytes', async () => {
    const full = Buffer.from(await (await get(`/v1/videos/${id}/content`)).arrayBuffer());
    const res = await get(`/v1/videos/${id}/content`, { range: 'bytes=100-199' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-199/${full.length}`);
    expect(res.headers.get('content-length')).toBe('100');
    expect(Buffer.from(await res.arrayBuffer()).equals(full.subarray(100, 200))).toBe(true);

    const tail = await get(`/v1/videos/${id}/content`, { range: 'bytes=-10' });
    expect(Buffer.from(await tail.arrayBuffer()).equals(full.subarray(full.length - 10))).toBe(true);

    const bad = await get(`/v1/videos/${id}/content`, { range: `bytes=${full.length + 10}-` });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${full.length}`);
  });

  it('sends a strong ETag and answers If-None-Match with 304', async () => {
    const res = await get(`/v1/videos/${id}/content?variant=thumbnail`);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    await res.arrayBuffer();
    const again = await get(`/v1/videos/${id}/content?variant=thumbnail`, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    const stale = await get(`/v1/videos/${id}/content`, { range: 'bytes=0-9', 'if-range': '"other"' });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('answers content of an unfinished video with a clear 409, and a bad variant with a 400', async () => {
    const v = await client.videos.create({ prompt: 'sandbox:long-queue not yet' });
    const e = await expectApiError(client.videos.downloadContent(v.id), 409);
    expect(e.code).toBe('video_not_ready');
    expect(e.message).toContain('queued');
    await expectApiError(client.videos.downloadContent(id, { variant: 'poster' as 'video' }), 400, 'variant');
  });
});

describe('errors', () => {
  it('401 without a key or with a bad key, in the OpenAI envelope', async () => {
    const res = await fetch(`${gw.url}/v1/videos`);
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    const e = await expectApiError(gw.openai('vg_live_wrong').videos.list(), 401);
    expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('404 for unknown ids and for another key’s videos', async () => {
    await expectApiError(client.videos.retrieve('video_01M7YW91F1725P0R35Z4K5P5T9'), 404);
    await expectApiError(client.videos.retrieve('not-an-id'), 404);
    const mine = await client.videos.create({ prompt: 'private video' });
    const other = gw.openai((await gw.newKey('other')).secret);
    const e = await expectApiError(other.videos.retrieve(mine.id), 404);
    expect(e).toBeInstanceOf(OpenAI.NotFoundError);
    await expectApiError(other.videos.delete(mine.id), 404);
  });

  it('400 naming the param for each invalid field', async () => {
    await expectApiError(client.videos.create({ prompt: 'x', model: 'sora-9' }), 400, 'model');
    await expectApiError(client.videos.create({ prompt: 'x', size: '1000x1000' as '720x1280' }), 400, 'size');
    await expectApiError(client.videos.create({ prompt: 'x', size: '1792x1024' }), 400, 'size');
    await expectApiError(client.videos.create({ prompt: 'x', seconds: '5' as '4' }), 400, 'seconds');
    await expectApiError(client.videos.create({ prompt: '' }), 400, 'prompt');
    await expectApiError(client.videos.create({ prompt: '   ' }), 400, 'prompt');
    await expectApiError(client.videos.create({ prompt: 'a'.repeat(32_001) }), 400, 'prompt');
    const missing = await expectApiError(client.videos.create({} as { prompt: string }), 400, 'prompt');
    expect(missing.message).toContain("'prompt'");
    const text = await toFile(Buffer.from('hello, I am not an image'), 'ref.png', { type: 'image/png' });
    await expectApiError(client.videos.create({ prompt: 'x', input_reference: text }), 400, 'input_reference');
  });

  it('an integer seconds in JSON gets the same 400 as OpenAI', async () => {
    const res = await rawCreate({ prompt: 'x', seconds: 8 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; param: string; type: string; code: string } };
    expect(body.error.message).toMatch(/^Invalid type for 'seconds': expected one of '4', '8', '12', '16', or '20', but got an integer instead\.$/);
    expect(body.error).toMatchObject({ param: 'seconds', type: 'invalid_request_error', code: 'invalid_type' });
  });

  it('accepts the wider pro sizes on sora-2-pro', async () => {
    const v = await client.videos.create({ prompt: 'sandbox:long-queue wide', model: 'sora-2-pro', size: '1792x1024', seconds: '12' });
    expect(v).toMatchObject({ size: '1792x1024', seconds: '12', model: 'sora-2-pro' });
  });

  it('400 for an oversize or non-image input_reference, and for a malformed JSON body', async () => {
    const small = await startGateway({ images: { maxBytes: 50_000 } });
    try {
      const big = await sharp({ create: { width: 1200, height: 1200, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
      expect(big.length).toBeGreaterThan(50_000);
      const e = await expectApiError(
        small.openai().videos.create({ prompt: 'x', input_reference: await toFile(big, 'big.png', { type: 'image/png' }) }),
        400,
        'input_reference',
      );
      expect(e.code).toBe('file_too_large');
      const asDataUrl = await fetch(`${small.url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${small.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'x', input_reference: { image_url: `data:image/png;base64,${big.toString('base64')}` } }),
      });
      expect(asDataUrl.status).toBe(400);
      expect(((await asDataUrl.json()) as { error: { param: string } }).error.param).toBe('input_reference');
    } finally {
      await small.close();
    }
    const res = await fetch(`${gw.url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: '{"prompt": ',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
  });

  it('unknown routes are a 404 in the OpenAI envelope', async () => {
    const res = await fetch(`${gw.url}/v1/nothing-here`, { headers: { authorization: `Bearer ${gw.key}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });
});

describe('sandbox magic prompts', () => {
  it('sandbox:moderation fails with moderation_blocked', async () => {
    const v = await client.videos.create({ prompt: 'A street scene sandbox:moderation' });
    const done = await waitForVideo(client, v.id);
    expect({ status: done.status, code: done.error?.code }).toEqual({ status: 'failed', code: 'moderation_blocked' });
  });

  it('sandbox:fail fails mid-render after progress rose', async () => {
    const v = await client.videos.create({ prompt: 'sandbox:fail a collapsing tower' });
    const done = await waitForVideo(client, v.id);
    expect({ status: done.status, code: done.error?.code }).toEqual({ status: 'failed', code: 'video_generation_failed' });
    const progress = (await gw.app.gateway.service.store.eventsForTask(v.id.slice(6), 0)).filter((e) => e.status === 'in_progress');
    expect(progress.length).toBeGreaterThan(0);
  });
});

describe('models and status vocabulary', () => {
  it('lists the video models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['sora-2', 'sora-2-pro', 'sora-2-preview', 'sora-2-pro-preview']));
  });

  it("emits apigo's pending instead of queued when configured", async () => {
    const apigo = await startGateway({ statusStyle: 'apigo' });
    try {
      const v = await apigo.openai().videos.create({ prompt: 'sandbox:long-queue x' });
      expect(v.status).toBe('pending');
    } finally {
      await apigo.close();
    }
  });
});
