/**
 * The apimart dialect for today's models: each model's fields (spec/apimart-apigo.md §2, §5)
 * checked against its capabilities, and first + last frame rendered by the sandbox.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/media/probe.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startGateway } from '../helpers/gateway.js';
import { testResolver } from '../helpers/images.js';
import { TEST_MODELS } from '../helpers/video-models.js';
import { frameRgb } from '../media/helpers.js';

let live: TestGateway;
let idle: TestGateway;
let server: http.Server;
let base = ''; // http://images.test:PORT
const RED = { r: 220, g: 30, b: 30 };
const BLUE = { r: 20, g: 60, b: 230 };

beforeAll(async () => {
  const files: Record<string, Buffer> = {
    '/first.png': await sharp({ create: { width: 640, height: 360, channels: 3, background: RED } }).png().toBuffer(),
    '/last.png': await sharp({ create: { width: 640, height: 360, channels: 3, background: BLUE } }).png().toBuffer(),
    '/ref.png': await sharp({ create: { width: 200, height: 200, channels: 3, background: '#22aa44' } }).png().toBuffer(),
  };
  server = http.createServer((req, res) => {
    const f = files[req.url ?? ''];
    if (f) res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(f.length) }).end(f);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://images.test:${(server.address() as AddressInfo).port}`;
  const common = { models: TEST_MODELS, net: { allowHosts: ['images.test'], allowCidrs: [] } };
  [live, idle] = await Promise.all([
    startGateway({ ...common, sandbox: { queueMs: 20, msPerVideoSecond: 40, longQueueMs: 120_000, concurrency: 2 } }, { resolver: testResolver() }),
    startGateway({ ...common, worker: { enabled: false } }, { resolver: testResolver() }),
  ]);
});
afterAll(async () => {
  await Promise.all([live?.close(), idle?.close()]);
  await new Promise((r) => server?.close(r));
});

async function generate(gw: TestGateway, body: Record<string, unknown>) {
  const res = await fetch(`${gw.url}/v1/videos/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { code: number; data?: { task_id: string }[]; error?: { param: string | null; message: string; code: string } };
  return { status: res.status, json, taskId: json.data?.[0]?.task_id };
}

async function refused(body: Record<string, unknown>, param: string, fragment?: string) {
  const r = await generate(idle, body);
  expect(r.status, JSON.stringify(r.json)).toBe(400);
  expect(r.json.error?.param).toBe(param);
  if (fragment) expect(r.json.error?.message).toContain(fragment);
  return r.json.error!;
}

const request = async (gw: TestGateway, taskId: string) => (await gw.app.gateway.service.store.get(taskId.replace(/^task_/, '')))!.request!;

const mean = (rgb: Buffer) => {
  const sum = [0, 0, 0];
  for (let i = 0; i < rgb.length; i += 3) for (let c = 0; c < 3; c++) sum[c]! += rgb[i + c]!;
  return sum.map((s) => s / (rgb.length / 3));
};

describe('first and last frame', () => {
  it('image_urls [first, last] on a model that takes both (built-in Kling 2.6): the video starts on the first image and ends on the last', async () => {
    const r = await generate(live, { model: 'kling-v2-6', prompt: 'red to blue', duration: 5, aspect_ratio: '16:9', image_urls: [`${base}/first.png`, `${base}/last.png`] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const id = r.taskId!;
    expect(await request(live, id)).toMatchObject({ width: 1280, height: 720, firstFrame: { role: 'first_frame' }, lastFrame: { role: 'last_frame' } });
    const deadline = Date.now() + 120_000;
    let data: { status: string; result?: { videos: { url: string[] }[] } };
    for (;;) {
      const res = await fetch(`${live.url}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${live.key}` } });
      data = ((await res.json()) as { data: typeof data }).data;
      if (data.status === 'completed' || data.status === 'failed') break;
      if (Date.now() > deadline) throw new Error(`still ${data.status}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(data.status).toBe('completed');
    const dl = await fetch(data.result!.videos[0]!.url[0]!);
    const dir = await mkdtemp(path.join(tmpdir(), 'vidgate-frames-'));
    try {
      const file = path.join(dir, 'v.mp4');
      await writeFile(file, Buffer.from(await dl.arrayBuffer()));
      const info = await probeVideo(file);
      expect([info.width, info.height]).toEqual([1280, 720]);
      expect(info.frames).toBeGreaterThan(10);
      const [r1, g1, b1] = mean(await frameRgb(file, 0));
      const [r2, g2, b2] = mean(await frameRgb(file, info.frames! - 1));
      // Mean colours within a few levels of the images (compression, and a caption on the first frame).
      expect(Math.abs(r2! - BLUE.r) + Math.abs(g2! - BLUE.g) + Math.abs(b2! - BLUE.b), `last frame mean ${[r2, g2, b2]}`).toBeLessThan(30);
      expect(r1!, `first frame mean ${[r1, g1, b1]}`).toBeGreaterThan(b1! + 100);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('first_frame_image and last_frame_image (URL or data: URL); the last frame is fitted to the frame', async () => {
    const last = await sharp({ create: { width: 300, height: 300, channels: 3, background: BLUE } }).png().toBuffer();
    const r = await generate(idle, {
      model: 'test-veo', prompt: 'x', duration: 4, resolution: '1080p', aspect_ratio: '16:9',
      first_frame_image: `${base}/first.png`, last_frame_image: `data:image/png;base64,${last.toString('base64')}`,
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const req = await request(idle, r.taskId!);
    expect(req).toMatchObject({ width: 1920, height: 1080, resolution: '1080p', lastFrame: { width: 1920, height: 1080 } });
    const png = (await idle.app.gateway.blobs.read(req.lastFrame!.blob))!;
    expect(await sharp(png).metadata()).toMatchObject({ width: 1920, height: 1080 });
  });

  it('refusals: three image_urls on a first+last model, a last frame where the model takes none, both forms of one frame', async () => {
    await refused({ model: 'test-kling', prompt: 'x', image_urls: [`${base}/first.png`, `${base}/last.png`, `${base}/ref.png`] }, 'image_urls', 'at most 2 URLs');
    await refused({ model: 'sora-2-preview', prompt: 'x', last_frame_image: `${base}/last.png` }, 'last_frame_image', 'takes no last frame');
    await refused({ model: 'test-kling', prompt: 'x', image_urls: [`${base}/first.png`], first_frame_image: `${base}/first.png` }, 'first_frame_image');
    await refused({ model: 'test-kling', prompt: 'x', last_frame_image: `${base}/last.png` }, 'last_frame_image', 'needs a first frame');
  });
});

describe('each model’s fields', () => {
  it('image_urls are reference images on a reference-to-video model', async () => {
    const r = await generate(idle, { model: 'test-vidu-ref', prompt: 'x', image_urls: [`${base}/ref.png`, `${base}/ref.png`] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const req = await request(idle, r.taskId!);
    expect(req.firstFrame).toBeUndefined();
    expect(req.references.map((m) => [m.role, m.width, m.height, m.contentType])).toEqual([['reference', 200, 200, 'image/png'], ['reference', 200, 200, 'image/png']]);
    await refused({ model: 'test-vidu-ref', prompt: 'x', image_urls: Array(4).fill(`${base}/ref.png`) }, 'image_urls', 'at most 3');
    await refused({ model: 'test-vidu-ref', prompt: 'x', first_frame_image: `${base}/first.png` }, 'first_frame_image');
  });

  it('duration, aspect_ratio and resolution from the model’s sets; resolution in any case', async () => {
    const r = await generate(idle, { model: 'test-kling', prompt: 'x', duration: 10, aspect_ratio: 'square', resolution: '1080P', mode: 'pro', cfg_scale: 0.4, negative_prompt: 'blur', generate_audio: true });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(await request(idle, r.taskId!)).toMatchObject({ seconds: 10, aspectRatio: '1:1', resolution: '1080p', width: 1080, height: 1080, mode: 'pro', audio: true, negativePrompt: 'blur', options: { cfg_scale: 0.4 } });
    await refused({ model: 'test-kling', prompt: 'x', duration: 8 }, 'duration', 'Allowed values for test-kling: 5 or 10');
    await refused({ model: 'test-veo', prompt: 'x', aspect_ratio: '1:1' }, 'aspect_ratio', 'square (1:1) videos are not supported by test-veo. Use landscape (16:9) or portrait (9:16).');
    await refused({ model: 'test-veo', prompt: 'x', resolution: '4K' }, 'resolution', "Allowed values for test-veo: '720p' (1280x720 / 720x1280) or '1080p' (1920x1080 / 1080x1920)");
    await refused({ model: 'test-seedance', prompt: 'x', aspect_ratio: '21:9', resolution: '1080p' }, 'aspect_ratio', "not available at resolution '1080p'");
  });

  it('what a model cannot do is refused, never dropped', async () => {
    await refused({ model: 'sora-2-preview', prompt: 'x', negative_prompt: 'blur' }, 'negative_prompt', 'takes no negative prompt');
    await refused({ model: 'sora-2-preview', prompt: 'x', generate_audio: true }, 'generate_audio');
    await refused({ model: 'sora-2-preview', prompt: 'x', seed: 3 }, 'seed');
    await refused({ model: 'sora-2-preview', prompt: 'x', mode: 'pro' }, 'mode');
    await refused({ model: 'test-veo', prompt: 'x', seed: -1 }, 'seed', 'from 0 to 4294967295');
    await refused({ model: 'test-kling', prompt: 'x', mode: 'turbo' }, 'mode', "mode 'turbo' is not supported. Allowed values for test-kling: std or pro.");
    await refused({ model: 'test-seedance', prompt: 'x', generate_audio: false }, 'generate_audio', 'always makes an audio track');
    await refused({ model: 'test-kling', prompt: 'x', generate_audio: 'true' }, 'generate_audio', 'must be a boolean');
  });

  it('aliases and apimart’s default of landscape', async () => {
    const r = await generate(idle, { model: 'test-veo-fast', prompt: 'x' });
    expect(await request(idle, r.taskId!)).toMatchObject({ model: 'test-veo', aspectRatio: '16:9', width: 1280, height: 720, seconds: 8, audio: true });
  });
});
