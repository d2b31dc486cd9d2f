import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../src/media/probe.js';
import { checkContract } from './helpers/contract.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import type { ImageServer } from './helpers/images.js';
import { startImageServer, testResolver } from './helpers/images.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const run = promisify(execFile);
const HAS_CURL = spawnSync('curl', ['--version']).status === 0;

/** The seed document's example, character for character (only host and key are replaced). */
const SEED_CURL = `curl --request POST \\
  --url https://api.apimart.ai/v1/videos/generations \\
  --header 'Authorization: Bearer <token>' \\
  --header 'Content-Type: application/json' \\
  --data '{
    "model": "sora-2-preview",
    "prompt": "A majestic waterfall cascading down rocky cliffs, creating a beautiful rainbow in the mist",
    "duration": 8,
    "aspect_ratio": "landscape",
    "image_urls": ["https://example.com/reference-image.jpg"]
  }'`;

const SUBMITTED_KEYS = ['cost', 'created', 'estimated_time', 'id', 'progress', 'status'];
const FINISHED_KEYS = ['actual_time', 'completed', 'cost', 'created', 'estimated_time', 'id', 'progress', 'status'];

interface ApimartError {
  code: number;
  error: { message: string; type: string; code: string | null; param: string | null };
}
interface TaskData {
  id: string;
  status: string;
  progress: number;
  created: number;
  completed?: number;
  estimated_time: number;
  actual_time?: number;
  cost: number;
  error?: { code: string; message: string; type: string };
  result?: { videos: { url: string[]; expires_at: number }[] };
}

let live: TestGateway; // worker on: tasks run
let idle: TestGateway; // worker off: tasks stay pending (validation, shapes)
let images: ImageServer;
let imgBase: string; // http://images.test:PORT (allowed by name)

beforeAll(async () => {
  images = await startImageServer();
  imgBase = `http://images.test:${images.port}`;
  const common = {
    net: { allowHosts: ['images.test'], allowCidrs: [] },
    images: { fetchTimeoutMs: 5000, fetchConnectTimeoutMs: 3000 },
    billing: { sandboxPricing: 'catalogue' },
  };
  [live, idle] = await Promise.all([
    startGateway({ ...common, sandbox: { queueMs: 20, msPerVideoSecond: 100, longQueueMs: 120_000, concurrency: 2 } }, { resolver: testResolver() }),
    startGateway({ ...common, worker: { enabled: false } }, { resolver: testResolver() }),
  ]);
  for (const g of [live, idle]) await g.app.gateway.accounts.credit(g.keyId, 1000, 'test credit', Date.now());
});
afterAll(async () => {
  await Promise.all([live?.close(), idle?.close()]);
  await images?.close();
});

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function generate(gw: TestGateway, body: unknown, headers: Record<string, string> = {}, key = gw.key) {
  const res = await fetch(`${gw.url}/v1/videos/generations`, {
    method: 'POST',
    headers: { ...auth(key), 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

async function submit(gw: TestGateway, body: Record<string, unknown>, key = gw.key): Promise<string> {
  const { res, body: json } = await generate(gw, body, {}, key);
  expect(res.status, JSON.stringify(json)).toBe(200);
  return (json.data as { task_id: string }[])[0]!.task_id;
}

async function getTask(gw: TestGateway, id: string, key = gw.key): Promise<TaskData> {
  const res = await fetch(`${gw.url}/v1/tasks/${id}`, { headers: auth(key) });
  const json = (await res.json()) as { code: number; data: TaskData };
  expect(res.status, JSON.stringify(json)).toBe(200);
  expect(json.code).toBe(200);
  return json.data;
}

async function waitTask(gw: TestGateway, id: string, until: (t: TaskData) => boolean, timeoutMs = 60_000): Promise<TaskData> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await getTask(gw, id);
    if (until(t)) return t;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${t.status} (${t.progress}%) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** The size the task got, read through the OpenAI dialect (cross-dialect on purpose). */
async function sizeOf(gw: TestGateway, taskId: string): Promise<string> {
  return (await gw.openai().videos.retrieve(taskId)).size;
}

async function expectError(gw: TestGateway, body: unknown, param: string | null, fragment: RegExp | string, status = 400) {
  const { res, body: json } = await generate(gw, body);
  const e = json as unknown as ApimartError;
  expect(res.status, JSON.stringify(json)).toBe(status);
  expect(e.code).toBe(status);
  expect(e.error.param).toBe(param);
  if (typeof fragment === 'string') expect(e.error.message).toContain(fragment);
  else expect(e.error.message).toMatch(fragment);
  expect(e.error.type).toBe('invalid_request_error');
  return e;
}

const tasksOf = (gw: TestGateway, keyId: string) => gw.app.gateway.service.store.list(keyId, { limit: 100, order: 'desc' });

let seedTaskId = ''; // completed, created by the seed example (apimart dialect)

describe("the seed document's curl example", () => {
  it.skipIf(!HAS_CURL)(`verbatim (host and key replaced): the offline example.com image is a clear 400 on image_urls[0] and nothing is created${HAS_CURL ? '' : ' (skipped: curl is not installed)'}`, async () => {
    const k = await live.newKey('seed-verbatim');
    const cmd = SEED_CURL.replace('https://api.apimart.ai', live.url).replace('<token>', k.secret);
    const { stdout } = await run('sh', ['-c', cmd], { timeout: 30_000 });
    const body = JSON.parse(stdout) as ApimartError;
    // Offline, example.com does not resolve; online it serves no image. Either way the caller learns
    // which field failed and why, in the apimart envelope, and no task (and no charge) exists.
    expect(body.code).toBe(400);
    expect(body.error.param).toBe('image_urls[0]');
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/^image_urls\[0\] (could not be downloaded|is not a JPEG, PNG or WebP image)/);
    expect(await tasksOf(live, k.id)).toEqual([]);
  });

  it.skipIf(!HAS_CURL)(`with the image URL pointing at a local image server: submitted, polled, the portrait image overrides "landscape", downloaded without auth${HAS_CURL ? '' : ' (skipped: curl is not installed)'}`, async () => {
    const cmd = SEED_CURL.replace('https://api.apimart.ai', live.url)
      .replace('<token>', live.key)
      .replace('https://example.com/reference-image.jpg', `${imgBase}/reference-image.jpg`);
    const { stdout } = await run('sh', ['-c', cmd], { timeout: 30_000 });
    const body = JSON.parse(stdout) as { code: number; data: { status: string; task_id: string }[] };
    expect(body).toEqual({ code: 200, data: [{ status: 'submitted', task_id: expect.stringMatching(/^task_[0-9A-HJKMNP-TV-Z]{26}$/) }] });
    const id = body.data[0]!.task_id;
    seedTaskId = id;

    const first = await getTask(live, id);
    expect(Object.keys(first)).toEqual(first.status === 'completed' ? expect.anything() : SUBMITTED_KEYS);
    const done = await waitTask(live, id, (t) => t.status === 'completed' || t.status === 'failed');
    expect(done.status).toBe('completed');
    expect(Object.keys(done)).toEqual(['actual_time', 'completed', 'cost', 'created', 'estimated_time', 'id', 'progress', 'result', 'status']);
    expect(done).toMatchObject({ id, progress: 100, cost: 0.8 }); // 8 s × $0.10, settled
    expect(done.completed).toBeGreaterThanOrEqual(done.created);
    expect(Math.abs(done.actual_time! - (done.completed! - done.created))).toBeLessThanOrEqual(1);
    const video = done.result!.videos[0]!;
    expect(Array.isArray(video.url)).toBe(true);
    expect(video.url).toHaveLength(1);
    const task = (await live.app.gateway.service.store.get(id.slice('task_'.length)))!;
    expect(video.expires_at).toBeLessThanOrEqual(Math.floor(task.expiresAt! / 1000)); // never beyond retention
    expect(video.expires_at).toBeGreaterThan(done.completed!);

    // Downloaded with no Authorization header, like apimart clients do.
    const dl = await fetch(video.url[0]!);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-type')).toBe('video/mp4');
    const mp4 = Buffer.from(await dl.arrayBuffer());
    expect(mp4.subarray(4, 8).toString()).toBe('ftyp');
    const dir = await mkdtemp(path.join(tmpdir(), 'vidgate-seed-'));
    try {
      await writeFile(path.join(dir, 'v.mp4'), mp4);
      const info = await probeVideo(path.join(dir, 'v.mp4'));
      // The reference image is portrait (90x160): it overrides aspect_ratio "landscape".
      expect([info.width, info.height]).toEqual([720, 1280]);
      expect(info.durationSeconds).toBeGreaterThan(7.5);
      expect(info.durationSeconds).toBeLessThan(8.5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(images.hits).toContain('GET /reference-image.jpg');
  });
});

describe('POST /v1/videos/generations: fields and defaults', () => {
  it('defaults: model sora-2-preview, duration 4, landscape, standard → 1280x720; legacy response shape', async () => {
    const { res, body } = await generate(idle, { prompt: 'defaults' });
    expect(res.status).toBe(200);
    expect(body).toEqual({ code: 200, data: [{ status: 'submitted', task_id: expect.stringMatching(/^task_/) }] });
    const id = (body.data as { task_id: string }[])[0]!.task_id;
    const v = await idle.openai().videos.retrieve(id);
    expect(v).toMatchObject({ model: 'sora-2-preview', seconds: '4', size: '1280x720' });
  });

  it('X-APIMart-Response-Version: 2026-07-27 answers the object form (and echoes the version); other versions get the legacy form', async () => {
    const { res, body } = await generate(idle, { prompt: 'versioned' }, { 'x-apimart-response-version': '2026-07-27' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-apimart-response-version')).toBe('2026-07-27');
    expect(body).toEqual({ code: 200, data: { id: expect.stringMatching(/^task_/), object: 'generation.task', status: 'pending' } });
    const other = await generate(idle, { prompt: 'versioned' }, { 'x-apimart-response-version': '2025-01-01' });
    expect(Array.isArray(other.body.data)).toBe(true);
    expect(other.res.headers.get('x-apimart-response-version')).toBeNull();
  });

  it('aspect_ratio landscape/16:9 and portrait/9:16 map to 1280x720 and 720x1280', async () => {
    for (const [aspect, size] of [['landscape', '1280x720'], ['16:9', '1280x720'], ['portrait', '720x1280'], ['9:16', '720x1280']] as const) {
      const id = await submit(idle, { prompt: `aspect ${aspect}`, aspect_ratio: aspect });
      expect(await sizeOf(idle, id), aspect).toBe(size);
    }
  });

  it('resolution high on sora-2-pro-preview gives 1792x1024 / 1024x1792; standard gives 720p', async () => {
    const base = { model: 'sora-2-pro-preview', prompt: 'pro' };
    expect(await sizeOf(idle, await submit(idle, { ...base, resolution: 'high' }))).toBe('1792x1024');
    expect(await sizeOf(idle, await submit(idle, { ...base, resolution: 'high', aspect_ratio: 'portrait' }))).toBe('1024x1792');
    expect(await sizeOf(idle, await submit(idle, { ...base, resolution: 'standard', aspect_ratio: '9:16' }))).toBe('720x1280');
    expect(await sizeOf(idle, await submit(idle, base))).toBe('1280x720');
  });

  it('durations 4, 8 and 12 on the sora previews; other catalogue models use their own list', async () => {
    for (const d of [4, 8, 12]) {
      const v = await idle.openai().videos.retrieve(await submit(idle, { prompt: `d${d}`, duration: d }));
      expect(v.seconds).toBe(String(d));
    }
    const sora2 = await idle.openai().videos.retrieve(await submit(idle, { model: 'sora-2', prompt: 'sixteen', duration: 16 }));
    expect(sora2).toMatchObject({ model: 'sora-2', seconds: '16', size: '1280x720' });
    await expectError(idle, { model: 'sora-2', prompt: 'x', duration: 6 }, 'duration', 'Allowed values for sora-2: 4, 8, 12, 16 or 20');
  });

  it('the reference image decides the orientation; the asked resolution is kept; a square image keeps the asked orientation', async () => {
    const landscapeImg = `${imgBase}/landscape.jpg`;
    const portraitImg = `${imgBase}/portrait.png`;
    expect(await sizeOf(idle, await submit(idle, { prompt: 'o1', aspect_ratio: 'portrait', image_urls: [landscapeImg] }))).toBe('1280x720');
    expect(await sizeOf(idle, await submit(idle, { prompt: 'o2', aspect_ratio: '16:9', image_urls: [portraitImg] }))).toBe('720x1280');
    expect(
      await sizeOf(idle, await submit(idle, { model: 'sora-2-pro-preview', resolution: 'high', prompt: 'o3', aspect_ratio: 'portrait', image_urls: [landscapeImg] })),
    ).toBe('1792x1024');
    expect(await sizeOf(idle, await submit(idle, { prompt: 'o4', aspect_ratio: 'portrait', image_urls: [`${imgBase}/square.webp`] }))).toBe('720x1280');
    expect(await sizeOf(idle, await submit(idle, { prompt: 'o5', image_urls: [`${imgBase}/square.webp`] }))).toBe('1280x720');
  });

  it('only the first image_urls entry is used (the others are never fetched)', async () => {
    images.hits.length = 0;
    const id = await submit(idle, { prompt: 'first only', image_urls: [`${imgBase}/portrait.png`, `${imgBase}/landscape.jpg`, 'http://127.0.0.1/never'] });
    expect(images.hits).toEqual(['GET /portrait.png']);
    expect(await sizeOf(idle, id)).toBe('720x1280');
    expect((await idle.app.gateway.service.store.get(id.slice(5)))!.hasReference).toBe(true);
    // An empty array is text-to-video.
    const none = await submit(idle, { prompt: 'no image', image_urls: [] });
    expect((await idle.app.gateway.service.store.get(none.slice(5)))!.hasReference).toBe(false);
  });
});

describe('POST /v1/videos/generations: every validation rule is a 400 naming the field', () => {
  it('prompt: required, a string, not blank, at most 32000 characters', async () => {
    await expectError(idle, {}, 'prompt', 'prompt is required');
    await expectError(idle, { prompt: 42 }, 'prompt', 'prompt must be a string');
    await expectError(idle, { prompt: '   ' }, 'prompt', 'prompt must not be empty');
    await expectError(idle, { prompt: 'x'.repeat(32_001) }, 'prompt', 'at most 32000 characters');
  });

  it('model: a string from the catalogue, listing the supported models', async () => {
    const e = await expectError(idle, { model: 'sora-3', prompt: 'x' }, 'model', "model 'sora-3' is not supported");
    expect(e.error.message).toContain('sora-2-preview');
    expect(e.error.message).toContain('sora-2-pro-preview');
    await expectError(idle, { model: 7, prompt: 'x' }, 'model', 'model must be a string');
  });

  it('duration: an integer among 4, 8, 12; a string, a decimal or another value lists the allowed values', async () => {
    for (const d of ['8', 5, 8.5, 16, 0, -4, true, [8], { s: 8 }]) {
      const e = await expectError(idle, { prompt: 'x', duration: d }, 'duration', 'Allowed values for sora-2-preview: 4, 8 or 12');
      expect(e.error.message).toMatch(/^duration /);
    }
    const str = await expectError(idle, { prompt: 'x', duration: '8' }, 'duration', 'must be an integer');
    expect(str.error.code).toBe('invalid_type');
  });

  it('aspect_ratio: square and 1:1 are refused as unsupported; other values list the allowed ones', async () => {
    for (const a of ['square', '1:1']) {
      const e = await expectError(idle, { prompt: 'x', aspect_ratio: a }, 'aspect_ratio', /square \(1:1\) videos are not supported/);
      expect(e.error.message).toContain('landscape (16:9) or portrait (9:16)');
    }
    await expectError(idle, { prompt: 'x', aspect_ratio: '4:3' }, 'aspect_ratio', 'Allowed values: landscape or 16:9, portrait or 9:16');
    await expectError(idle, { prompt: 'x', aspect_ratio: 1.77 }, 'aspect_ratio', 'aspect_ratio must be a string');
  });

  it('resolution: high only on sora-2-pro-preview; unknown values list the allowed ones', async () => {
    const e = await expectError(idle, { prompt: 'x', resolution: 'high' }, 'resolution', "resolution 'high' is not available on sora-2-preview");
    expect(e.error.message).toContain('only available on sora-2-pro-preview');
    await expectError(idle, { model: 'sora-2', prompt: 'x', resolution: 'high' }, 'resolution', 'not available on sora-2.');
    await expectError(idle, { model: 'sora-2-pro-preview', prompt: 'x', resolution: '4k' }, 'resolution', "'standard' (720x1280 / 1280x720) or 'high' (1024x1792 / 1792x1024)");
    await expectError(idle, { prompt: 'x', resolution: 1080 }, 'resolution', 'resolution must be a string');
  });

  it('image_urls: an array of URL strings; http(s) only; at most 10 MB; JPEG, PNG or WebP (sniffed from the bytes)', async () => {
    await expectError(idle, { prompt: 'x', image_urls: `${imgBase}/portrait.png` }, 'image_urls', 'image_urls must be an array of image URLs');
    await expectError(idle, { prompt: 'x', image_urls: { 0: 'x' } }, 'image_urls', 'must be an array');
    await expectError(idle, { prompt: 'x', image_urls: [42] }, 'image_urls[0]', 'image_urls[0] must be a non-empty URL string');
    await expectError(idle, { prompt: 'x', image_urls: [`${imgBase}/portrait.png`, null] }, 'image_urls[1]', 'image_urls[1] must be');
    await expectError(idle, { prompt: 'x', image_urls: ['not a url'] }, 'image_urls[0]', 'image_urls[0] is not a valid URL');
    await expectError(idle, { prompt: 'x', image_urls: ['data:image/png;base64,iVBORw0KGgo='] }, 'image_urls[0]', 'must be an http or https URL');
    await expectError(idle, { prompt: 'x', image_urls: [`${imgBase}/big`] }, 'image_urls[0]', 'larger than the 10 MB limit');
    await expectError(idle, { prompt: 'x', image_urls: [`${imgBase}/text`] }, 'image_urls[0]', 'is not a JPEG, PNG or WebP image');
    await expectError(idle, { prompt: 'x', image_urls: [`${imgBase}/gif`] }, 'image_urls[0]', 'is a GIF image');
    await expectError(idle, { prompt: 'x', image_urls: [`${imgBase}/notfound.png`] }, 'image_urls[0]', 'the server answered 404');
    // jpeg, png and webp are all accepted
    for (const p of ['landscape.jpg', 'portrait.png', 'square.webp']) await submit(idle, { prompt: p, image_urls: [`${imgBase}/${p}`] });
  });

  it('the body: a JSON object (415 for multipart, 400 for malformed JSON or a non-object)', async () => {
    const bad = await generate(idle, '{"prompt": ');
    expect(bad.res.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 400, error: { code: 'invalid_json' } });
    await expectError(idle, [1, 2], null, 'must be a JSON object');
    const form = new FormData();
    form.set('prompt', 'x');
    const res = await fetch(`${idle.url}/v1/videos/generations`, { method: 'POST', headers: auth(idle.key), body: form });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ code: 415, error: { message: expect.stringContaining('application/json') } });
  });

  it('auth errors use the apimart envelope too', async () => {
    const res = await fetch(`${idle.url}/v1/videos/generations`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 401, error: { type: 'authentication_error', code: 'invalid_api_key' } });
  });

  it('nothing invalid was ever created or charged', async () => {
    const tasks = await tasksOf(idle, idle.keyId);
    expect(tasks.every((t) => t.prompt !== 'x')).toBe(true);
  });
});

describe('GET /v1/tasks/{task_id}', () => {
  it('a pending task: the spec keys in alphabetical order, cost = the amount held', async () => {
    const id = await submit(idle, { prompt: 'pending', duration: 12 });
    const t = await getTask(idle, id);
    expect(Object.keys(t)).toEqual(SUBMITTED_KEYS);
    expect(t).toMatchObject({ id, status: 'pending', progress: 0, cost: 1.2 }); // 12 s × $0.10 held
    expect(t.created).toBe(Math.floor((await idle.app.gateway.service.store.get(id.slice(5)))!.createdAt / 1000));
    expect(t.estimated_time).toBeGreaterThan(0);
  });

  it('query language=zh|en|ko|ja is accepted; other values are a 400 naming it', async () => {
    const id = await submit(idle, { prompt: 'language' });
    for (const l of ['zh', 'en', 'ko', 'ja']) {
      expect((await fetch(`${idle.url}/v1/tasks/${id}?language=${l}`, { headers: auth(idle.key) })).status).toBe(200);
    }
    const bad = await fetch(`${idle.url}/v1/tasks/${id}?language=fr`, { headers: auth(idle.key) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 400, error: { param: 'language' } });
  });

  it('processing while it renders; cancelled after POST /v1/tasks/{id}/cancel (cost 0, no error, no result)', async () => {
    const id = await submit(live, { prompt: 'sandbox:slow a slow river', duration: 12 });
    const running = await waitTask(live, id, (t) => t.status === 'processing' || t.status === 'completed');
    expect(running.status).toBe('processing');
    expect(running.progress).toBeGreaterThan(0);
    expect(running.progress).toBeLessThan(100);
    expect(Object.keys(running)).toEqual(SUBMITTED_KEYS);
    expect(running.cost).toBe(1.2);

    const res = await fetch(`${live.url}/v1/tasks/${id}/cancel`, { method: 'POST', headers: auth(live.key) });
    expect(res.status).toBe(200);
    const cancelled = ((await res.json()) as { data: TaskData }).data;
    expect(cancelled).toMatchObject({ id, status: 'cancelled', cost: 0 });
    expect(Object.keys(cancelled)).toEqual(FINISHED_KEYS);
    expect(await getTask(live, id)).toMatchObject({ status: 'cancelled' });
    const ledger = (await live.app.gateway.ledger.forTask(id.slice(5))).map((e) => e.kind).sort();
    expect(ledger).toEqual(['hold', 'release']);
    // Cancelling again is a 409 that says why.
    const again = await fetch(`${live.url}/v1/tasks/${id}/cancel`, { method: 'POST', headers: auth(live.key) });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 409, error: { code: 'task_not_cancellable', message: expect.stringContaining('already cancelled') } });
  });

  it('failed: error {code, message, type}, cost 0, completed and actual_time, no result', async () => {
    const mod = await waitTask(live, await submit(live, { prompt: 'sandbox:moderation x' }), (t) => t.status !== 'pending' && t.status !== 'processing');
    expect(mod.status).toBe('failed');
    expect(Object.keys(mod)).toEqual(['actual_time', 'completed', 'cost', 'created', 'error', 'estimated_time', 'id', 'progress', 'status']);
    expect(mod.error).toEqual({ code: 'moderation_blocked', message: expect.stringContaining('moderation'), type: 'invalid_request_error' });
    expect(mod.cost).toBe(0);
    const fail = await waitTask(live, await submit(live, { prompt: 'sandbox:fail y' }), (t) => t.status !== 'pending' && t.status !== 'processing');
    expect(fail.error).toMatchObject({ code: 'video_generation_failed', type: 'server_error' });
  });

  it('404 for unknown ids and for other keys’ tasks; 401 without a key; all in the apimart envelope', async () => {
    const other = await idle.newKey('other');
    const id = await submit(idle, { prompt: 'mine' });
    for (const [path, key] of [[`/v1/tasks/task_01ARZ3NDEKTSV4RRFFQ69G5FAV`, idle.key], ['/v1/tasks/garbage', idle.key], [`/v1/tasks/${id}`, other.secret]] as const) {
      const res = await fetch(`${idle.url}${path}`, { headers: auth(key) });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ code: 404, error: { param: 'task_id', message: expect.stringContaining('No task found') } });
    }
    const res = await fetch(`${idle.url}/v1/tasks/${id}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 401, error: { type: 'authentication_error' } });
  });

  it('GET /v1/tasks lists the key’s tasks of both dialects, newest first, with after/limit/order', async () => {
    const k = await idle.newKey('lister');
    await idle.app.gateway.accounts.credit(k.id, 10, 'test credit', Date.now());
    const a = await submit(idle, { prompt: 'list a' }, k.secret);
    const b = (await idle.openai(k.secret).videos.create({ prompt: 'list b' })).id;
    const c = await submit(idle, { prompt: 'list c' }, k.secret);
    const page = (await (await fetch(`${idle.url}/v1/tasks?limit=2`, { headers: auth(k.secret) })).json()) as {
      code: number; data: TaskData[]; first_id: string; last_id: string; has_more: boolean;
    };
    expect(page.code).toBe(200);
    expect(page.data.map((t) => t.id)).toEqual([c, b.replace('video_', 'task_')]);
    expect(page).toMatchObject({ first_id: c, last_id: b.replace('video_', 'task_'), has_more: true });
    const rest = (await (await fetch(`${idle.url}/v1/tasks?limit=2&after=${page.last_id}`, { headers: auth(k.secret) })).json()) as { data: TaskData[]; has_more: boolean };
    expect(rest.data.map((t) => t.id)).toEqual([a]);
    expect(rest.has_more).toBe(false);
    const asc = (await (await fetch(`${idle.url}/v1/tasks?order=asc`, { headers: auth(k.secret) })).json()) as { data: TaskData[] };
    expect(asc.data.map((t) => t.id)).toEqual([a, b.replace('video_', 'task_'), c]);
    const bad = await fetch(`${idle.url}/v1/tasks?limit=500`, { headers: auth(k.secret) });
    expect(await bad.json()).toMatchObject({ code: 400, error: { param: 'limit' } });
  });
});

describe('one task, two dialects', () => {
  it.skipIf(!HAS_CURL)('an apimart task (the seed example) is read, listed and downloaded through the OpenAI dialect (video_ and task_ ids)', async () => {
    expect(seedTaskId, 'needs the seed example task').not.toBe('');
    const client = live.openai();
    for (const id of [seedTaskId, seedTaskId.replace('task_', 'video_')]) {
      const v = await client.videos.retrieve(id);
      expect(v).toMatchObject({ id: seedTaskId.replace('task_', 'video_'), status: 'completed', model: 'sora-2-preview', seconds: '8', size: '720x1280' });
    }
    const list = await client.videos.list({ limit: 100 });
    expect(list.data.map((v) => v.id)).toContain(seedTaskId.replace('task_', 'video_'));
    const content = await client.videos.downloadContent(seedTaskId);
    expect(content.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await content.arrayBuffer()).subarray(4, 8).toString()).toBe('ftyp');
  });

  it('an OpenAI task is read, listed and downloaded through the apimart dialect', async () => {
    const client = live.openai();
    const v = await client.videos.create({ prompt: 'an openai task', seconds: '4', size: '720x1280' });
    await waitForVideo(client, v.id, 60_000);
    const t = await getTask(live, v.id); // video_… accepted
    expect(t).toMatchObject({ id: v.id.replace('video_', 'task_'), status: 'completed', cost: 0.4 });
    expect(await getTask(live, v.id.replace('video_', 'task_'))).toEqual(t);
    const link = await fetch(t.result!.videos[0]!.url[0]!);
    expect(link.status).toBe(200);
    const viaLink = Buffer.from(await link.arrayBuffer());
    const viaApi = await fetch(`${live.url}/v1/tasks/${v.id}/content`, { headers: auth(live.key) });
    expect(viaApi.status).toBe(200);
    expect(Buffer.from(await viaApi.arrayBuffer()).equals(viaLink)).toBe(true);
    const thumb = await fetch(`${live.url}/v1/tasks/${t.id}/content?variant=thumbnail`, { headers: auth(live.key) });
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    const list = (await (await fetch(`${live.url}/v1/tasks?limit=100`, { headers: auth(live.key) })).json()) as { data: TaskData[] };
    expect(list.data.map((x) => x.id)).toContain(t.id);
  });

  it('statuses agree: cancelled reads as failed/cancelled in OpenAI, cancelled in apimart; content of an unfinished task is a 409 in each envelope', async () => {
    const id = await submit(live, { prompt: 'sandbox:long-queue waiting' });
    const early = await fetch(`${live.url}/v1/tasks/${id}/content`, { headers: auth(live.key) });
    expect(early.status).toBe(409);
    expect(await early.json()).toMatchObject({ code: 409, error: { code: 'video_not_ready', message: expect.stringContaining('status is pending') } });
    const earlyOpenai = await fetch(`${live.url}/v1/videos/${id}/content`, { headers: auth(live.key) });
    expect(await earlyOpenai.json()).toEqual({ error: expect.objectContaining({ code: 'video_not_ready' }) });
    await fetch(`${live.url}/v1/tasks/${id}/cancel`, { method: 'POST', headers: auth(live.key) });
    expect((await getTask(live, id)).status).toBe('cancelled');
    const v = await live.openai().videos.retrieve(id);
    expect(v.status).toBe('failed');
    expect(v.error?.code).toBe('cancelled');
  });

  it('deletes cross over: an apimart task deleted through OpenAI, an OpenAI task deleted through apimart; holds released once', async () => {
    const client = live.openai();
    const a = await submit(live, { prompt: 'sandbox:long-queue delete me via openai' });
    const del = await client.videos.delete(a);
    expect(del).toMatchObject({ id: a.replace('task_', 'video_'), deleted: true });
    const gone = await fetch(`${live.url}/v1/tasks/${a}`, { headers: auth(live.key) });
    expect(gone.status).toBe(404);

    const b = await client.videos.create({ prompt: 'sandbox:long-queue delete me via apimart' });
    const res = await fetch(`${live.url}/v1/tasks/${b.id}`, { method: 'DELETE', headers: auth(live.key) });
    expect(await res.json()).toEqual({ code: 200, data: { deleted: true, id: b.id.replace('video_', 'task_'), object: 'task.deleted', status: 'cancelled' } });
    await expect(client.videos.retrieve(b.id)).rejects.toMatchObject({ status: 404 });
    for (const id of [a, b.id]) {
      expect((await live.app.gateway.ledger.forTask(id.slice(id.indexOf('_') + 1))).map((e) => e.kind).sort()).toEqual(['hold', 'release']);
    }
  });

  it.skipIf(!HAS_CURL)('a completed task deleted through apimart loses its files: the signed link then answers 404', async () => {
    const t = await getTask(live, seedTaskId);
    const url = t.result!.videos[0]!.url[0]!;
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
    const res = await fetch(`${live.url}/v1/tasks/${seedTaskId.replace('task_', 'video_')}`, { method: 'DELETE', headers: auth(live.key) });
    expect(await res.json()).toMatchObject({ data: { deleted: true, status: 'completed' } });
    const after = await fetch(url);
    expect(after.status).toBe(404);
    expect(await after.json()).toMatchObject({ code: 404 });
    // The charge stays: a settled task is never refunded by deletion.
    expect((await live.app.gateway.ledger.forTask(seedTaskId.slice(5))).map((e) => e.kind).sort()).toEqual(['hold', 'settle']);
  });
});
