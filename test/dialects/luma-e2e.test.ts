/**
 * Luma end to end through both dialects: what Luma's `ray-3.2` cannot do is a 400 in the caller's
 * dialect naming the field the caller sent, before any credit is held and before anything reaches
 * the Luma fake; an accepted request arrives at the fake as Luma's Agents API expects it (string
 * duration, start and end frames as ImageRefs, loop / hdr under `video`), and its video is served.
 */
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LumaFake } from '../fakes/index.js';
import { promptDirectives, startLumaFake } from '../fakes/index.js';
import type { Submission } from '../fakes/base.js';
import { checkContract } from '../helpers/contract.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import type { ImageServer } from '../helpers/images.js';
import { startImageServer } from '../helpers/images.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

checkContract();

const LUMA_KEY = 'luma-api-E2ETESTKEY0123456789abcdefghijklmnopq';
type CreateParams = OpenAI.Videos.VideoCreateParams;
const withExtra = (params: CreateParams, extra: Record<string, unknown>): CreateParams => ({ ...params, ...extra }) as CreateParams;

const RED = { r: 220, g: 30, b: 30 };
const BLUE = { r: 20, g: 60, b: 230 };
const png = (w: number, h: number, background: { r: number; g: number; b: number }) => sharp({ create: { width: w, height: h, channels: 3, background } }).png().toBuffer();
const near = (rgb: number[], c: { r: number; g: number; b: number }) => Math.abs(rgb[0]! - c.r) + Math.abs(rgb[1]! - c.g) + Math.abs(rgb[2]! - c.b) < 30;

/** An ImageRef `{data, media_type}` the fake received, decoded. */
async function imageRef(ref: unknown): Promise<{ type: string; width: number; height: number; rgb: number[] }> {
  const r = ref as { data?: string; media_type?: string };
  expect(r.media_type).toMatch(/^image\//);
  const bytes = Buffer.from(r.data!, 'base64');
  const meta = await sharp(bytes).metadata();
  const stats = await sharp(bytes).stats();
  return { type: r.media_type!, width: meta.width!, height: meta.height!, rgb: stats.channels.slice(0, 3).map((c) => Math.round(c.mean)) };
}

describe('Luma ray-3.2 through both dialects', () => {
  let fake: LumaFake;
  let gw: TestGateway;
  let images: ImageServer;

  beforeAll(async () => {
    [fake, images] = await Promise.all([startLumaFake({ apiKey: LUMA_KEY, script: promptDirectives({ queuedMs: 50, runMs: 200 }) }), startImageServer()]);
    gw = await startWithChannels([channel('luma', 'luma', fake.baseURL, { api_key: LUMA_KEY, models: ['ray-3.2'] })]);
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([fake?.close(), images?.close()]);
  });

  const balance = async () => {
    const res = await fetch(`${gw.url}/v1/balance`, { headers: { authorization: `Bearer ${gw.key}` } });
    return ((await res.json()) as { data: { balance: number; held: number } }).data;
  };

  async function apimart(body: Record<string, unknown>): Promise<{ status: number; json: { data?: Array<{ task_id: string }>; error?: { param: string | null; message: string; code: string } } }> {
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as never };
  }

  it('refuses what ray-3.2 cannot do in the caller’s dialect, naming the field sent, with no hold and nothing sent to Luma', async () => {
    const before = await balance();
    expect(before).toMatchObject({ balance: 100, held: 0 });
    const base = { model: 'ray-3.2', prompt: 'a lighthouse in fog' };
    const ref = `${images.url}/square.webp`;
    const long = 'a '.repeat(3001);
    // [what the OpenAI dialect sends, the param it must name; what the apimart dialect sends, its param]
    const cases: Array<[Record<string, unknown>, string, Record<string, unknown>, string]> = [
      [{ seconds: '8' }, 'seconds', { duration: 8 }, 'duration'],
      [{ duration: 4 }, 'duration', { duration: 4 }, 'duration'],
      [{ resolution: '480p' }, 'resolution', { resolution: '480p' }, 'resolution'],
      [{ resolution: '4k' }, 'resolution', { resolution: '4K' }, 'resolution'],
      [{ size: '1792x1024' }, 'size', { aspect_ratio: '9:21' }, 'aspect_ratio'],
      [{ generate_audio: true }, 'generate_audio', { generate_audio: true }, 'generate_audio'],
      [{ negative_prompt: 'blur' }, 'negative_prompt', { negative_prompt: 'blur' }, 'negative_prompt'],
      [{ seed: 42 }, 'seed', { seed: 42 }, 'seed'],
      [{ mode: 'pro' }, 'mode', { mode: 'pro' }, 'mode'],
      [{ reference_images: [ref] }, 'reference_images', { reference_images: [ref] }, 'reference_images'],
      [{ last_frame: ref }, 'last_frame', { last_frame_image: ref }, 'last_frame_image'],
      [{ metadata: { camera: 'pan' } }, 'metadata.camera', { image_urls: [ref, ref, ref] }, 'image_urls'],
      // What the catalogue lets through and Luma's adapter refuses: a non-boolean loop, a prompt over 6000 characters.
      [{ metadata: { loop: 'yes' } }, 'metadata.loop', { loop: 'yes' }, 'loop'],
      [{ prompt: long }, 'prompt', { prompt: long }, 'prompt'],
    ];
    for (const [openaiBody, openaiParam, apimartBody, apimartParam] of cases) {
      const o = await createVideo(gw, gw.key, { ...base, ...openaiBody });
      expect(o.status, JSON.stringify(o.json)).toBe(400);
      expect((o.json.error as { param: string }).param, JSON.stringify(o.json)).toBe(openaiParam);
      const a = await apimart({ ...base, ...apimartBody });
      expect(a.status, JSON.stringify(a.json)).toBe(400);
      expect(a.json.error?.param, JSON.stringify(a.json)).toBe(apimartParam);
    }
    // The adapter's own refusals say which model and why, in both envelopes.
    const loop = await createVideo(gw, gw.key, { ...base, metadata: { loop: 'yes' } });
    expect(loop.json.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_by_upstream' });
    expect((loop.json.error as { message: string }).message).toContain('ray-3.2 takes loop as true or false');
    // The SDK sees a BadRequestError with the param.
    const err = await gw.openai().videos.create(withExtra({ model: 'ray-3.2' as CreateParams['model'], prompt: 'x' }, { seed: 1 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('seed');

    expect(await balance()).toEqual(before);
    expect(fake.requests).toEqual([]);
    const list = await gw.openai().videos.list();
    expect(list.data).toEqual([]);
  });

  const submissionOf = (prompt: string): Submission => {
    const s = fake.submissions.find((x) => x.body.prompt === prompt);
    expect(s, `a submission with prompt ${prompt}`).toBeDefined();
    return s!;
  };

  it('openai SDK: start and end frame, 21:9 1080p, 10 s, loop and hdr arrive as Luma expects; the video downloads', async () => {
    const client = gw.openai();
    const v = await client.videos.create(
      withExtra({ model: 'ray-3.2' as CreateParams['model'], prompt: 'openai frames to luma', input_reference: await toFile(await png(840, 360, RED), 'a.png', { type: 'image/png' }) }, {
        last_frame: await toFile(await png(420, 180, BLUE), 'b.png', { type: 'image/png' }),
        // The SDK sends a multipart body: metadata goes as metadata[loop]=true, metadata[hdr]=false.
        aspect_ratio: '21:9', resolution: '1080p', duration: 10, metadata: { loop: true, hdr: false },
      }),
    );
    expect(v).toMatchObject({ model: 'ray-3.2', size: '2520x1080', seconds: '10' });
    const done = await waitForVideo(client, v.id, 20_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    const mp4 = Buffer.from(await (await client.videos.downloadContent(v.id)).arrayBuffer());
    expect(mp4.subarray(4, 8).toString('latin1')).toBe('ftyp');

    const s = submissionOf('openai frames to luma');
    expect(fake.requests.find((r) => r.seq === s.seq)!.path).toBe('/v1/generations');
    const video = s.body.video as Record<string, unknown>;
    expect(s.body).toMatchObject({ model: 'ray-3.2', type: 'video', aspect_ratio: '21:9' });
    expect(Object.keys(s.body).sort()).toEqual(['aspect_ratio', 'model', 'prompt', 'type', 'video']);
    expect(video).toMatchObject({ resolution: '1080p', duration: '10s', loop: true, hdr: false });
    expect(Object.keys(video).sort()).toEqual(['duration', 'end_frame', 'hdr', 'loop', 'resolution', 'start_frame']);
    const [start, end] = await Promise.all([imageRef(video.start_frame), imageRef(video.end_frame)]);
    expect([start.width, start.height, end.width, end.height]).toEqual([2520, 1080, 2520, 1080]);
    expect(near(start.rgb, RED), `start ${start.rgb}`).toBe(true);
    expect(near(end.rgb, BLUE), `end ${end.rgb}`).toBe(true);
  });

  it('apimart: image_urls [start, end], 5 s 720p and loop flat in the body arrive as Luma expects; the video downloads from the signed link', async () => {
    const before = await balance();
    const r = await apimart({ model: 'ray-3.2', prompt: 'apimart frames to luma', duration: 5, resolution: '720p', loop: true, image_urls: [`${images.url}/portrait.png`, `${images.url}/square.webp`] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const taskId = r.json.data![0]!.task_id;
    const v = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 20_000)).get(taskId.replace('task_', 'video_'))!;
    expect(v.status, JSON.stringify(v.error)).toBe('completed');
    const task = ((await (await fetch(`${gw.url}/v1/tasks/${taskId}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { data: { cost: number; result: { videos: Array<{ url: string[] }> } } }).data;
    const dl = await fetch(task.result.videos[0]!.url[0]!);
    expect(dl.status).toBe(200);
    expect(Buffer.from(await dl.arrayBuffer()).subarray(4, 8).toString('latin1')).toBe('ftyp');

    const s = submissionOf('apimart frames to luma');
    // The portrait first frame made it a 9:16 video.
    expect(s.body).toMatchObject({ model: 'ray-3.2', type: 'video', aspect_ratio: '9:16', video: { resolution: '720p', duration: '5s', loop: true } });
    const video = s.body.video as Record<string, unknown>;
    expect(Object.keys(video).sort()).toEqual(['duration', 'end_frame', 'loop', 'resolution', 'start_frame']);
    const [start, end] = await Promise.all([imageRef(video.start_frame), imageRef(video.end_frame)]);
    expect([start.width, start.height, end.width, end.height]).toEqual([720, 1280, 720, 1280]);
    // Charged what the task says it cost, nothing held any more.
    const after = await balance();
    expect(after.held).toBe(0);
    expect(before.balance - after.balance).toBeCloseTo(task.cost, 6);
    expect(task.cost).toBeGreaterThan(0);
    await assertBillingConsistent(gw.dataDir);
  });
});
