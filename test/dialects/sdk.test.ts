/**
 * The OpenAI dialect's richer request through the official `openai` SDK: the fields beyond
 * OpenAI's own are sent the way the SDK sends extra body fields (Python's `extra_body`; in Node,
 * extra keys of the params object, which the SDK encodes into its multipart body).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath, runTool } from '../../src/media/ffmpeg.js';
import { probeVideo } from '../../src/media/probe.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startGateway, waitForVideo } from '../helpers/gateway.js';
import { TEST_MODELS } from '../helpers/video-models.js';

type CreateParams = OpenAI.Videos.VideoCreateParams;
type Video = OpenAI.Videos.Video & { aspect_ratio?: string; resolution?: string; generate_audio?: boolean };

let live: TestGateway; // worker on: videos are rendered
let idle: TestGateway; // worker off: validation and stored requests only

beforeAll(async () => {
  [live, idle] = await Promise.all([
    startGateway({ models: TEST_MODELS, sandbox: { queueMs: 20, msPerVideoSecond: 40, longQueueMs: 120_000, concurrency: 2 } }),
    startGateway({ models: TEST_MODELS, worker: { enabled: false } }),
  ]);
});
afterAll(async () => {
  await Promise.all([live?.close(), idle?.close()]);
});

/** `extra_body`: fields the SDK's types do not know, sent at the top level of the body. */
const withExtra = (params: CreateParams, extra: Record<string, unknown>): CreateParams => ({ ...params, ...extra }) as CreateParams;

async function apiError(p: Promise<unknown>, param: string) {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err, 'expected a 400').toBeInstanceOf(OpenAI.BadRequestError);
  const e = err as InstanceType<typeof OpenAI.BadRequestError>;
  expect(e.param).toBe(param);
  return e;
}

async function rawJson(gw: TestGateway, body: Record<string, unknown>) {
  const res = await fetch(`${gw.url}/v1/videos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { param: string; message: string; code: string } } };
}

async function probeDownload(gw: TestGateway, id: string, inspect?: (file: string) => Promise<void>) {
  const res = await gw.openai().videos.downloadContent(id);
  const dir = await mkdtemp(path.join(tmpdir(), 'vidgate-dialects-'));
  try {
    const file = path.join(dir, 'v.mp4');
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    await inspect?.(file);
    return await probeVideo(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const stored = async (gw: TestGateway, videoId: string) => (await gw.app.gateway.service.store.get(videoId.replace(/^video_/, '')))!;

describe('a Veo-class model through the openai SDK (built-in Veo 3.1 Fast and Lite)', () => {
  it('1080p 16:9 with audio: the MP4 is 1920x1080, 4 s long, with an audio stream; the Video says what was made', async () => {
    const client = live.openai();
    const created = (await client.videos.create(
      withExtra({ model: 'veo3.1-fast' as CreateParams['model'], prompt: 'Waves rolling onto a beach at dawn' }, {
        aspect_ratio: '16:9', resolution: '1080p', duration: 4, generate_audio: true,
      }),
    )) as Video;
    expect(created).toMatchObject({ model: 'veo-3.1-fast-generate-001', size: '1920x1080', seconds: '4', aspect_ratio: '16:9', resolution: '1080p', generate_audio: true });
    const done = (await waitForVideo(client, created.id, 120_000)) as Video;
    expect(done.status).toBe('completed');
    const info = await probeDownload(live, created.id);
    expect([info.width, info.height]).toEqual([1920, 1080]);
    expect(info.durationSeconds).toBeGreaterThan(3.8);
    expect(info.durationSeconds).toBeLessThan(4.3);
    expect(info.hasAudio).toBe(true);
  });

  it('the same without audio: no audio stream', async () => {
    const client = live.openai();
    const created = (await client.videos.create(
      withExtra({ model: 'veo3.1-fast' as CreateParams['model'], prompt: 'Waves rolling onto a beach at dawn', seconds: '4' as CreateParams['seconds'] }, {
        aspect_ratio: '16:9', resolution: '1080p', generate_audio: false,
      }),
    )) as Video;
    expect(created).toMatchObject({ size: '1920x1080', generate_audio: false });
    expect((await waitForVideo(client, created.id, 120_000)).status).toBe('completed');
    const info = await probeDownload(live, created.id);
    expect([info.width, info.height, info.hasAudio]).toEqual([1920, 1080, false]);
  });

  it('4k is refused on a model without it, naming resolution and listing what it has', async () => {
    const e = await apiError(idle.openai().videos.create(withExtra({ model: 'veo-3.1-lite-generate-001' as CreateParams['model'], prompt: 'x' }, { resolution: '4k' })), 'resolution');
    expect(e.message).toBe("400 Invalid value for 'resolution': '4k'. Supported values for veo-3.1-lite-generate-001 are '720p' or '1080p'.");
    const upper = await rawJson(idle, { model: 'veo-3.1-lite-generate-001', prompt: 'x', resolution: '4K' });
    expect([upper.status, upper.body.error?.param]).toEqual([400, 'resolution']);
  });

  it('an alias resolves to the model; the stored request has every field', async () => {
    const v = (await idle.openai().videos.create(
      withExtra({ model: 'test-veo-fast' as CreateParams['model'], prompt: 'A lighthouse' }, {
        aspect_ratio: '9:16', resolution: '720p', duration: 6, negative_prompt: 'blur', seed: 42, metadata: { person_generation: 'allow_adult' },
      }),
    )) as Video;
    expect(v).toMatchObject({ model: 'test-veo', size: '720x1280', seconds: '6', aspect_ratio: '9:16', resolution: '720p', generate_audio: true });
    expect((await stored(idle, v.id)).request).toMatchObject({
      seconds: 6, aspectRatio: '9:16', resolution: '720p', width: 720, height: 1280, audio: true,
      negativePrompt: 'blur', seed: 42, options: { person_generation: 'allow_adult' }, references: [],
    });
  });
});

describe('the sandbox renders the whole request', () => {
  it('reference images reach the render (a 480p Seedance-class video with two references completes at its size and length, with audio)', async () => {
    const client = live.openai();
    const ref = (c: string) => sharp({ create: { width: 200, height: 200, channels: 3, background: c } }).png().toBuffer();
    const v = (await client.videos.create(
      withExtra({ model: 'test-seedance' as CreateParams['model'], prompt: 'Two friends at a cafe' }, {
        aspect_ratio: '16:9', resolution: '480p', duration: 4,
        reference_images: [await toFile(await ref('#ff00ff'), 'a.png', { type: 'image/png' }), await toFile(await ref('#00ffff'), 'b.png', { type: 'image/png' })],
      }),
    )) as Video;
    expect((await stored(live, v.id)).request?.references).toHaveLength(2);
    expect((await waitForVideo(client, v.id, 120_000)).status).toBe('completed');
    const colours = async (file: string) => {
      const { stdout } = await runTool(ffmpegPath(), ['-v', 'error', '-i', file, '-vf', 'fps=8,scale=216:120', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
      const seen = { magenta: 0, cyan: 0 };
      for (let i = 0; i + 2 < stdout.length; i += 3) {
        const [r, g, b] = [stdout[i]!, stdout[i + 1]!, stdout[i + 2]!];
        if (r > 200 && g < 60 && b > 200) seen.magenta++;
        if (r < 60 && g > 200 && b > 200) seen.cyan++;
      }
      return seen;
    };
    let withRefs = { magenta: 0, cyan: 0 };
    const info = await probeDownload(live, v.id, async (file) => void (withRefs = await colours(file)));
    // Both references visibly appear (their colours fill cards on some frames); without them, they do not.
    expect(withRefs.magenta, 'magenta reference pixels').toBeGreaterThan(200);
    expect(withRefs.cyan, 'cyan reference pixels').toBeGreaterThan(200);
    const plain = await client.videos.create(withExtra({ model: 'test-seedance' as CreateParams['model'], prompt: 'Two friends at a cafe' }, { aspect_ratio: '16:9', resolution: '480p', duration: 4 }));
    expect((await waitForVideo(client, plain.id, 120_000)).status).toBe('completed');
    let without = { magenta: 0, cyan: 0 };
    await probeDownload(live, plain.id, async (file) => void (without = await colours(file)));
    expect(without.magenta + without.cyan, `reference colours without references: ${JSON.stringify(without)} vs ${JSON.stringify(withRefs)}`).toBeLessThan(withRefs.magenta / 4);
    expect([info.width, info.height, info.hasAudio]).toEqual([864, 480, true]);
    expect(info.durationSeconds).toBeGreaterThan(3.8);
  });
});

describe('shapes on other models', () => {
  it('1:1 is accepted on a Kling-class model (built-in Kling 2.6; aspect_ratio + resolution, or size)', async () => {
    const client = idle.openai();
    const a = (await client.videos.create(withExtra({ model: 'kling-v2-6' as CreateParams['model'], prompt: 'A cat' }, { aspect_ratio: '1:1', resolution: '1080p', mode: 'pro' }))) as Video;
    expect(a).toMatchObject({ model: 'kling-v2-6', size: '1080x1080', seconds: '5', aspect_ratio: '1:1', resolution: '1080p', generate_audio: false });
    expect((await stored(idle, a.id)).request?.mode).toBe('pro');
    const b = (await client.videos.create({ model: 'kling-2.6' as CreateParams['model'], prompt: 'A cat', size: '720x720' as CreateParams['size'] })) as Video;
    expect(b).toMatchObject({ model: 'kling-v2-6', size: '720x720', aspect_ratio: '1:1', resolution: '720p' });
    await apiError(client.videos.create(withExtra({ model: 'kling-v2-6' as CreateParams['model'], prompt: 'x' }, { mode: 'turbo' })), 'mode');
  });

  it('square is still refused on Sora, and Sora videos keep exactly OpenAI’s object', async () => {
    const client = idle.openai();
    const e = await apiError(client.videos.create(withExtra({ model: 'sora-2', prompt: 'x' }, { aspect_ratio: '1:1' })), 'aspect_ratio');
    expect(e.message).toContain("'16:9' or '9:16'");
    await apiError(client.videos.create({ model: 'sora-2', prompt: 'x', size: '720x720' as CreateParams['size'] }), 'size');
    const v = await client.videos.create(withExtra({ model: 'sora-2', prompt: 'x' }, { aspect_ratio: '16:9', resolution: '720p' }));
    expect(v.size).toBe('1280x720');
    expect(Object.keys(v)).not.toContain('aspect_ratio');
    // Nothing Sora cannot do is silently dropped.
    await apiError(client.videos.create(withExtra({ model: 'sora-2', prompt: 'x' }, { negative_prompt: 'blur' })), 'negative_prompt');
    await apiError(client.videos.create(withExtra({ model: 'sora-2', prompt: 'x' }, { generate_audio: true })), 'generate_audio');
    await apiError(client.videos.create(withExtra({ model: 'sora-2', prompt: 'x' }, { seed: 1 })), 'seed');
  });

  it('adaptive follows the first frame; 4:3 and 21:9 exist only at 720p on the Seedance-class model', async () => {
    const client = idle.openai();
    const portrait = await sharp({ create: { width: 300, height: 540, channels: 3, background: '#336699' } }).png().toBuffer();
    const v = (await client.videos.create(
      withExtra({ model: 'test-seedance' as CreateParams['model'], prompt: 'A tower', input_reference: await toFile(portrait, 'p.png', { type: 'image/png' }) }, { aspect_ratio: 'adaptive', duration: 7 }),
    )) as Video;
    expect(v).toMatchObject({ size: '720x1280', seconds: '7', aspect_ratio: '9:16', resolution: '720p', generate_audio: true });
    expect((await stored(idle, v.id)).request?.aspectRatio).toBe('adaptive');
    expect((await client.videos.create(withExtra({ model: 'test-seedance' as CreateParams['model'], prompt: 'x' }, { aspect_ratio: '21:9' }))).size).toBe('1470x630');
    const e = await apiError(client.videos.create(withExtra({ model: 'test-seedance' as CreateParams['model'], prompt: 'x' }, { aspect_ratio: '4:3', resolution: '1080p' })), 'aspect_ratio');
    expect(e.message).toContain("'16:9 at 1080p' or '9:16 at 1080p'");
    // Audio is always on: asking for none is refused, not ignored.
    await apiError(client.videos.create(withExtra({ model: 'test-seedance' as CreateParams['model'], prompt: 'x' }, { generate_audio: false })), 'generate_audio');
  });
});

describe('field rules', () => {
  it('seconds and duration: either; both must agree', async () => {
    expect((await rawJson(idle, { model: 'test-veo', prompt: 'x', duration: 6 })).body.seconds).toBe('6');
    expect((await rawJson(idle, { model: 'test-veo', prompt: 'x', duration: 6, seconds: '6' })).status).toBe(200);
    const clash = await rawJson(idle, { model: 'test-veo', prompt: 'x', duration: 6, seconds: '8' });
    expect([clash.status, clash.body.error?.param, clash.body.error?.code]).toEqual([400, 'duration', 'conflicting_parameters']);
    const bad = await rawJson(idle, { model: 'test-veo', prompt: 'x', duration: 5 });
    expect(bad.body.error).toMatchObject({ param: 'duration', message: "Invalid value for 'duration': '5'. Supported values for test-veo are '4', '6', or '8'." });
    expect((await rawJson(idle, { model: 'test-veo', prompt: 'x', duration: '6' })).body.error?.param).toBe('duration');
  });

  it('size and aspect_ratio / resolution: either; both must agree', async () => {
    expect((await rawJson(idle, { model: 'test-veo', prompt: 'x', size: '1920x1080', aspect_ratio: '16:9', resolution: '1080p' })).status).toBe(200);
    expect((await rawJson(idle, { model: 'test-veo', prompt: 'x', size: '1920x1080', aspect_ratio: '9:16' })).body.error?.param).toBe('aspect_ratio');
    expect((await rawJson(idle, { model: 'test-veo', prompt: 'x', size: '1920x1080', resolution: '720p' })).body.error?.param).toBe('resolution');
  });

  it('generate_audio, audio and sound are one flag; they must agree; JSON booleans only', async () => {
    for (const k of ['generate_audio', 'audio', 'sound']) {
      const r = await rawJson(idle, { model: 'test-kling', prompt: 'x', [k]: true });
      expect(r.body.generate_audio, k).toBe(true);
    }
    expect((await rawJson(idle, { model: 'test-kling', prompt: 'x', generate_audio: true, sound: false })).body.error?.param).toBe('sound');
    expect((await rawJson(idle, { model: 'test-kling', prompt: 'x', generate_audio: 'yes' })).body.error?.param).toBe('generate_audio');
  });

  it('metadata: only the model’s own option keys', async () => {
    const r = await rawJson(idle, { model: 'test-kling', prompt: 'x', metadata: { cfg_scale: 0.5, colour: 'red' } });
    expect(r.body.error).toMatchObject({ param: 'metadata.colour', message: "Invalid value for 'metadata.colour': 'colour'. Supported values for test-kling are 'cfg_scale' or 'camera_control'." });
    expect((await rawJson(idle, { model: 'sora-2', prompt: 'x', metadata: { a: 1 } })).body.error?.param).toBe('metadata.a');
    expect((await rawJson(idle, { model: 'test-kling', prompt: 'x', metadata: 'nope' })).body.error?.param).toBe('metadata');
  });

  it('multipart: first and last frame and reference_images[] as file parts, booleans and metadata as strings or bracket fields', async () => {
    const png = (c: string) => sharp({ create: { width: 64, height: 64, channels: 3, background: c } }).png().toBuffer();
    const client = idle.openai();
    const v = (await client.videos.create(
      withExtra({ model: 'test-kling' as CreateParams['model'], prompt: 'frames', input_reference: await toFile(await png('#ff0000'), 'a.png', { type: 'image/png' }) }, {
        last_frame: await toFile(await png('#0000ff'), 'b.png', { type: 'image/png' }),
        sound: true,
        metadata: JSON.stringify({ cfg_scale: 0.7 }),
      }),
    )) as Video;
    expect(v).toMatchObject({ size: '1280x720', generate_audio: true });
    const req = (await stored(idle, v.id)).request!;
    expect(req.firstFrame).toMatchObject({ role: 'first_frame', width: 1280, height: 720, contentType: 'image/png' });
    expect(req.lastFrame).toMatchObject({ role: 'last_frame', width: 1280, height: 720 });
    expect(req.options).toEqual({ cfg_scale: 0.7 });
    // metadata as an object: the SDK sends bracket fields (metadata[cfg_scale]=0.3); numbers and booleans are read back typed.
    const bracket = (await client.videos.create(
      withExtra({ model: 'test-kling' as CreateParams['model'], prompt: 'bracket metadata', input_reference: await toFile(await png('#ff0000'), 'a.png', { type: 'image/png' }) }, {
        metadata: { cfg_scale: 0.3, camera_control: { type: 'simple', config: { zoom: -2, enabled: true, label: 'in' } } },
      }),
    )) as Video;
    expect((await stored(idle, bracket.id)).request!.options).toEqual({ cfg_scale: 0.3, camera_control: { type: 'simple', config: { zoom: -2, enabled: true, label: 'in' } } });
    const blobs = idle.app.gateway.blobs;
    expect((await sharp((await blobs.read(req.lastFrame!.blob))!).metadata()).width).toBe(1280);

    const refs = (await client.videos.create(
      withExtra({ model: 'test-veo' as CreateParams['model'], prompt: 'refs' }, {
        reference_images: [await toFile(await png('#00ff00'), 'r1.png', { type: 'image/png' }), await toFile(await png('#ffff00'), 'r2.png', { type: 'image/png' })],
      }),
    )) as Video;
    const refReq = (await stored(idle, refs.id)).request!;
    expect(refReq.references.map((r) => [r.role, r.kind, r.width])).toEqual([['reference', 'image', 64], ['reference', 'image', 64]]);
    expect(refReq.firstFrame).toBeUndefined();
    // References and frames are exclusive on this model; too many references are refused.
    await apiError(
      client.videos.create(withExtra({ model: 'test-veo' as CreateParams['model'], prompt: 'x', input_reference: await toFile(await png('#fff'), 'a.png', { type: 'image/png' }) }, { reference_images: [await toFile(await png('#000'), 'r.png', { type: 'image/png' })] })),
      'reference_images',
    );
    const four = await Promise.all([1, 2, 3, 4].map(async (i) => toFile(await png('#123456'), `r${i}.png`, { type: 'image/png' })));
    await apiError(client.videos.create(withExtra({ model: 'test-veo' as CreateParams['model'], prompt: 'x' }, { reference_images: four })), 'reference_images');
    // A last frame needs a model that takes one (and a first frame).
    await apiError(client.videos.create(withExtra({ model: 'sora-2', prompt: 'x' }, { last_frame: await toFile(await png('#fff'), 'l.png', { type: 'image/png' }) })), 'last_frame');
    await apiError(client.videos.create(withExtra({ model: 'test-kling' as CreateParams['model'], prompt: 'x' }, { last_frame: await toFile(await png('#fff'), 'l.png', { type: 'image/png' }) })), 'last_frame');
  });
});

describe('one task, two dialects', () => {
  it('a task created in the OpenAI dialect reads in apimart’s, and one created in apimart’s says what was made in OpenAI’s', async () => {
    const v = (await idle.openai().videos.create(withExtra({ model: 'test-kling' as CreateParams['model'], prompt: 'x' }, { aspect_ratio: '1:1' }))) as Video;
    const res = await fetch(`${idle.url}/v1/tasks/${v.id}`, { headers: { authorization: `Bearer ${idle.key}` } });
    expect(((await res.json()) as { data: { status: string } }).data.status).toBe('pending');
    const sub = await fetch(`${idle.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${idle.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-veo', prompt: 'y', duration: 4, aspect_ratio: '9:16', resolution: '1080P', generate_audio: false }),
    });
    const id = ((await sub.json()) as { data: { task_id: string }[] }).data[0]!.task_id;
    const read = (await idle.openai().videos.retrieve(id)) as Video;
    expect(read).toMatchObject({ model: 'test-veo', size: '1080x1920', seconds: '4', aspect_ratio: '9:16', resolution: '1080p', generate_audio: false });
  });
});
