/**
 * Vidu end to end: a client of either dialect → canonical request → the `vidu` adapter → the Vidu
 * fake → the finished video served by the gateway. First + last frame go to Vidu's start-end
 * endpoint, reference images to its reference endpoint; what the fake received is checked field by
 * field (endpoint, images, duration, resolution, aspect ratio, seed) against what the client sent.
 */
import type OpenAI from 'openai';
import { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ViduFake } from '../fakes/index.js';
import { promptDirectives, startViduFake } from '../fakes/index.js';
import type { Submission } from '../fakes/base.js';
import { checkContract } from '../helpers/contract.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import type { ImageServer } from '../helpers/images.js';
import { startImageServer } from '../helpers/images.js';
import { assertBillingConsistent, channel, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

checkContract();

const VIDU_KEY = 'vda_E2ETESTKEY_0123456789abcdefghijklm';
type CreateParams = OpenAI.Videos.VideoCreateParams;
const withExtra = (params: CreateParams, extra: Record<string, unknown>): CreateParams => ({ ...params, ...extra }) as CreateParams;

const RED = { r: 220, g: 30, b: 30 };
const BLUE = { r: 20, g: 60, b: 230 };
const png = (w: number, h: number, background: { r: number; g: number; b: number }) => sharp({ create: { width: w, height: h, channels: 3, background } }).png().toBuffer();

/** A `data:` URL the fake received, decoded: its type, size and mean colour. */
async function decoded(url: string): Promise<{ type: string; width: number; height: number; rgb: number[]; bytes: Buffer }> {
  const m = /^data:(image\/[a-z]+);base64,(.+)$/.exec(url);
  expect(m, `a data: URL, got ${url.slice(0, 60)}`).not.toBeNull();
  const bytes = Buffer.from(m![2]!, 'base64');
  const stats = await sharp(bytes).stats();
  const meta = await sharp(bytes).metadata();
  return { type: m![1]!, width: meta.width!, height: meta.height!, rgb: stats.channels.slice(0, 3).map((c) => Math.round(c.mean)), bytes };
}

const near = (rgb: number[], c: { r: number; g: number; b: number }) => Math.abs(rgb[0]! - c.r) + Math.abs(rgb[1]! - c.g) + Math.abs(rgb[2]! - c.b) < 30;

describe('Vidu through both dialects', () => {
  let fake: ViduFake;
  let gw: TestGateway;
  let images: ImageServer;

  beforeAll(async () => {
    [fake, images] = await Promise.all([startViduFake({ apiKey: VIDU_KEY, script: promptDirectives({ queuedMs: 50, runMs: 200 }) }), startImageServer()]);
    // The built-in Vidu Q3 models; the references model goes out under the Q3 Pro name, which Vidu's reference endpoint serves.
    gw = await startWithChannels([channel('vidu', 'vidu', fake.baseURL, { api_key: VIDU_KEY, models: ['viduq3-pro', { model: 'viduq3', upstream_model: 'viduq3-pro' }] })]);
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([fake?.close(), images?.close()]);
  });

  const submissionOf = (prompt: string): Submission => {
    const s = fake.submissions.find((x) => x.body.prompt === prompt);
    expect(s, `a submission with prompt ${prompt}`).toBeDefined();
    return s!;
  };
  const pathOf = (s: Submission) => fake.requests.find((r) => r.seq === s.seq)!.path;

  async function apimart(body: Record<string, unknown>): Promise<string> {
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return (JSON.parse(text) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
  }

  /** Waits for the task, then downloads its video from the signed link the apimart task gives. */
  async function apimartDownload(taskId: string): Promise<Buffer> {
    const video = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 20_000)).get(taskId.replace('task_', 'video_'))!;
    expect(video.status, JSON.stringify(video.error)).toBe('completed');
    const res = await fetch(`${gw.url}/v1/tasks/${taskId}`, { headers: { authorization: `Bearer ${gw.key}` } });
    const data = ((await res.json()) as { data: { status: string; result: { videos: Array<{ url: string[] }> } } }).data;
    expect(data.status).toBe('completed');
    const dl = await fetch(data.result.videos[0]!.url[0]!);
    expect(dl.status).toBe(200);
    return Buffer.from(await dl.arrayBuffer());
  }

  async function openaiDownload(client: OpenAI, id: string): Promise<Buffer> {
    const done = await waitForVideo(client, id, 20_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    return Buffer.from(await (await client.videos.downloadContent(id)).arrayBuffer());
  }

  const isMp4 = (b: Buffer) => b.length > 1000 && b.subarray(4, 8).toString('latin1') === 'ftyp';

  it('openai SDK: first + last frame go to start-end2video with duration, resolution and seed; the video downloads', async () => {
    const client = gw.openai();
    const v = await client.videos.create(
      withExtra({ model: 'viduq3-pro' as CreateParams['model'], prompt: 'openai start to end', input_reference: await toFile(await png(640, 360, RED), 'first.png', { type: 'image/png' }) }, {
        last_frame: await toFile(await png(320, 180, BLUE), 'last.png', { type: 'image/png' }),
        aspect_ratio: '16:9', resolution: '1080p', duration: 6, seed: 4242, generate_audio: false, metadata: { movement_amplitude: 'small', bgm: true },
      }),
    );
    expect(v).toMatchObject({ model: 'viduq3-pro', size: '1920x1080', seconds: '6' });
    expect(isMp4(await openaiDownload(client, v.id))).toBe(true);

    const s = submissionOf('openai start to end');
    expect(pathOf(s)).toBe('/ent/v2/start-end2video');
    expect(s.body).toMatchObject({ model: 'viduq3-pro', duration: 6, resolution: '1080p', seed: 4242, audio: false, movement_amplitude: 'small', bgm: true });
    // Frames decide the shape on start-end: Vidu takes no aspect_ratio there.
    expect(s.body.aspect_ratio).toBeUndefined();
    const sent = s.body.images as string[];
    expect(sent).toHaveLength(2);
    const [first, last] = await Promise.all(sent.map(decoded));
    // Both fitted to the video's frame, in order: first (red), then last (blue).
    expect([first!.width, first!.height, last!.width, last!.height]).toEqual([1920, 1080, 1920, 1080]);
    expect(near(first!.rgb, RED), `first ${first!.rgb}`).toBe(true);
    expect(near(last!.rgb, BLUE), `last ${last!.rgb}`).toBe(true);
  });

  it('openai SDK: reference images go to reference2video as given, with aspect ratio, duration, resolution and seed', async () => {
    const client = gw.openai();
    const refs = [await png(200, 300, RED), await png(300, 200, BLUE), await sharp({ create: { width: 256, height: 256, channels: 3, background: '#22aa44' } }).jpeg().toBuffer()];
    const v = await client.videos.create(
      withExtra({ model: 'viduq3' as CreateParams['model'], prompt: 'openai references' }, {
        reference_images: [await toFile(refs[0]!, 'a.png', { type: 'image/png' }), await toFile(refs[1]!, 'b.png', { type: 'image/png' }), await toFile(refs[2]!, 'c.jpg', { type: 'image/jpeg' })],
        aspect_ratio: '9:16', resolution: '720p', duration: 4, seed: 7,
      }),
    );
    expect(v).toMatchObject({ model: 'viduq3', size: '720x1280', seconds: '4' });
    expect(isMp4(await openaiDownload(client, v.id))).toBe(true);

    const s = submissionOf('openai references');
    expect(pathOf(s)).toBe('/ent/v2/reference2video');
    expect(s.body).toMatchObject({ model: 'viduq3-pro', duration: 4, resolution: '720p', aspect_ratio: '9:16', seed: 7, audio: true });
    const sent = await Promise.all((s.body.images as string[]).map(decoded));
    // References are not fitted: the very bytes the client uploaded, in order.
    expect(sent.map((x) => x.type)).toEqual(['image/png', 'image/png', 'image/jpeg']);
    sent.forEach((x, i) => expect(x.bytes.equals(refs[i]!), `reference ${i}`).toBe(true));
  });

  it('apimart: image_urls [first, last] and first_frame_image / last_frame_image reach start-end2video; the video downloads from the signed link', async () => {
    // image_urls: a portrait first frame makes a portrait video; both frames fitted to it.
    const a = await apimart({ model: 'viduq3-pro', prompt: 'apimart image urls', duration: 8, resolution: '720p', seed: 99, image_urls: [`${images.url}/portrait.png`, `${images.url}/square.webp`] });
    // first_frame_image / last_frame_image as data: URLs.
    const first = await png(400, 400, RED);
    const last = await png(400, 400, BLUE);
    const b = await apimart({
      model: 'viduq3-pro', prompt: 'apimart frame fields', duration: 3, aspect_ratio: '1:1', resolution: '1080p', seed: 0, generate_audio: true, movement_amplitude: 'large', off_peak: false,
      first_frame_image: `data:image/png;base64,${first.toString('base64')}`, last_frame_image: `data:image/png;base64,${last.toString('base64')}`,
    });
    const [va, vb] = await Promise.all([apimartDownload(a), apimartDownload(b)]);
    expect(isMp4(va) && isMp4(vb)).toBe(true);

    const sa = submissionOf('apimart image urls');
    expect(pathOf(sa)).toBe('/ent/v2/start-end2video');
    expect(sa.body).toMatchObject({ model: 'viduq3-pro', duration: 8, resolution: '720p', seed: 99 });
    expect(sa.body.aspect_ratio).toBeUndefined();
    const fa = await Promise.all((sa.body.images as string[]).map(decoded));
    expect(fa.map((x) => `${x.width}x${x.height}`)).toEqual(['720x1280', '720x1280']);

    const sb = submissionOf('apimart frame fields');
    expect(pathOf(sb)).toBe('/ent/v2/start-end2video');
    expect(sb.body).toMatchObject({ model: 'viduq3-pro', duration: 3, resolution: '1080p', seed: 0, audio: true, movement_amplitude: 'large' });
    expect(sb.body.off_peak).toBeUndefined();
    const fb = await Promise.all((sb.body.images as string[]).map(decoded));
    expect(fb.map((x) => `${x.width}x${x.height}`)).toEqual(['1080x1080', '1080x1080']);
    expect(near(fb[0]!.rgb, RED) && near(fb[1]!.rgb, BLUE), `${fb[0]!.rgb} then ${fb[1]!.rgb}`).toBe(true);
  });

  it('apimart: image_urls are the reference images of the references model, sent to reference2video as fetched', async () => {
    const t = await apimart({ model: 'viduq3', prompt: 'apimart references', duration: 5, aspect_ratio: '16:9', resolution: '1080p', seed: 12345, image_urls: [`${images.url}/portrait.png`, `${images.url}/landscape.jpg`] });
    expect(isMp4(await apimartDownload(t))).toBe(true);
    const s = submissionOf('apimart references');
    expect(pathOf(s)).toBe('/ent/v2/reference2video');
    expect(s.body).toMatchObject({ model: 'viduq3-pro', duration: 5, resolution: '1080p', aspect_ratio: '16:9', seed: 12345 });
    const sent = await Promise.all((s.body.images as string[]).map(decoded));
    expect(sent.map((x) => [x.type, x.width, x.height])).toEqual([['image/png', 90, 160], ['image/jpeg', 160, 90]]);
    const served = await Promise.all(['/portrait.png', '/landscape.jpg'].map(async (p) => Buffer.from(await (await fetch(`${images.url}${p}`)).arrayBuffer())));
    sent.forEach((x, i) => expect(x.bytes.equals(served[i]!), `reference ${i}`).toBe(true));
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(5);
  });

  it('what Vidu cannot do is a 400 naming the field each dialect sent, before any hold and before Vidu hears of it', async () => {
    const balance = async () => ((await (await fetch(`${gw.url}/v1/balance`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { data: { balance: number; held: number } }).data;
    const before = await balance();
    const sent = fake.requests.length;
    const wide = Buffer.from(await (await fetch(`${images.url}/wide.png`)).arrayBuffer());
    // Vidu's text endpoint makes 16:9, 9:16 and 1:1 only (the catalogue has 4:3 for frames); references stay within 1:4..4:1.
    const viaOpenai = (model: string, params: Record<string, unknown>) =>
      gw
        .openai()
        .videos.create({ model, prompt: 'x', ...params } as CreateParams)
        .then(
          () => ({ status: 200, param: undefined as string | null | undefined }),
          (e: InstanceType<typeof OpenAI.APIError>) => ({ status: e.status!, param: e.param }),
        );
    const viaApimart = async (body: Record<string, unknown>) => {
      const res = await fetch(`${gw.url}/v1/videos/generations`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, param: ((await res.json()) as { error?: { param: string | null } }).error?.param };
    };
    const cases: Array<[string, () => Promise<{ status: number; param: string | null | undefined }>]> = [
      ['size', () => viaOpenai('viduq3-pro', { size: '960x720' })],
      ['aspect_ratio', () => viaOpenai('viduq3-pro', { aspect_ratio: '4:3' })],
      ['reference_images', async () => viaOpenai('viduq3', { reference_images: [await toFile(wide, 'wide.png', { type: 'image/png' })] })],
      ['aspect_ratio', () => viaApimart({ model: 'viduq3-pro', prompt: 'x', aspect_ratio: '4:3' })],
      ['image_urls', () => viaApimart({ model: 'viduq3', prompt: 'x', image_urls: [`${images.url}/portrait.png`, `${images.url}/wide.png`] })],
    ];
    for (const [param, send] of cases) expect(await send(), param).toEqual({ status: 400, param });
    expect(await balance()).toEqual(before);
    expect(fake.requests.length).toBe(sent);
  });
});
