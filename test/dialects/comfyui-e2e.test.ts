/**
 * ComfyUI end to end through both dialects: negative prompt, seed and first + last frame sent by
 * a client arrive in the nodes the channel's workflow mapping names (the frames uploaded to the
 * server's input directory, fitted to the video), the fake ComfyUI executes that graph, and the
 * video it rendered is the one the gateway serves.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/media/probe.js';
import type { ComfyExecution, ComfyUIFake } from '../fakes/index.js';
import { startComfyUIFake } from '../fakes/index.js';
import { checkContract } from '../helpers/contract.js';
import { COMFY_MODELS, FLF_WORKFLOW, flfOptions } from '../helpers/comfyui.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

checkContract();

type CreateParams = OpenAI.Videos.VideoCreateParams;
const withExtra = (params: CreateParams, extra: Record<string, unknown>): CreateParams => ({ ...params, ...extra }) as CreateParams;

const RED = { r: 220, g: 30, b: 30 };
const BLUE = { r: 20, g: 60, b: 230 };
const png = (w: number, h: number, background: { r: number; g: number; b: number }) => sharp({ create: { width: w, height: h, channels: 3, background } }).png().toBuffer();
const near = (rgb: number[], c: { r: number; g: number; b: number }) => Math.abs(rgb[0]! - c.r) + Math.abs(rgb[1]! - c.g) + Math.abs(rgb[2]! - c.b) < 30;
const dataUrl = (b: Buffer) => `data:image/png;base64,${b.toString('base64')}`;

// The mapping's nodes (test/helpers/comfyui.ts): 4 prompt, 5 negative prompt, 9 KSampler seed, 8 size and length, 6 / 7 the frames' LoadImage, 11 the output.
const MAPPING = flfOptions('').inputs;

describe('ComfyUI through both dialects', () => {
  let fake: ComfyUIFake;
  let gw: TestGateway;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vidgate-comfy-e2e-'));
    const file = path.join(dir, 'flf.json');
    await writeFile(file, JSON.stringify(FLF_WORKFLOW));
    fake = await startComfyUIFake({ stepMs: 5 });
    const full = flfOptions(file);
    // A server whose workflow has places for the prompt, size and length only, and makes at most 20 frames.
    const bare = { ...full, inputs: { prompt: full.inputs.prompt, width: full.inputs.width, height: full.inputs.height, frames: full.inputs.frames }, max_frames: 20 };
    gw = await startWithChannels(
      [
        channel('comfy', 'comfyui', fake.baseURL, { api_key: undefined, models: ['wan2.2-5b'], options: full }),
        channel('comfy-bare', 'comfyui', fake.baseURL, { api_key: undefined, models: ['wan-t2v'], options: bare }),
      ],
      { models: COMFY_MODELS },
    );
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const executionOf = (prompt: string): ComfyExecution => {
    const e = [...fake.executions.values()].find((x) => x.prompt[MAPPING.prompt.node]!.inputs[MAPPING.prompt.input] === prompt);
    expect(e, `an execution of ${prompt}`).toBeDefined();
    return e!;
  };

  /** An uploaded frame as the server's LoadImage node names it: its size and mean colour. */
  const uploaded = async (e: ComfyExecution, node: string) => {
    const name = String(e.prompt[node]!.inputs.image);
    const bytes = await readFile(path.join(fake.inputDir, name));
    const meta = await sharp(bytes).metadata();
    const stats = await sharp(bytes).stats();
    return { name, width: meta.width!, height: meta.height!, rgb: stats.channels.slice(0, 3).map((c) => Math.round(c.mean)) };
  };

  const probe = async (mp4: Buffer) => {
    const file = path.join(dir, `${Math.random().toString(36).slice(2)}.mp4`);
    await writeFile(file, mp4);
    return probeVideo(file);
  };

  it('openai SDK: negative prompt, seed, first and last frame land in the mapped nodes; the rendered video is served', async () => {
    const client = gw.openai();
    const v = await client.videos.create(
      withExtra({ model: 'wan2.2-5b' as CreateParams['model'], prompt: 'openai to comfy', seconds: '2' as CreateParams['seconds'], size: '480x272' as CreateParams['size'], input_reference: await toFile(await png(960, 544, RED), 'a.png', { type: 'image/png' }) }, {
        last_frame: await toFile(await png(240, 136, BLUE), 'b.png', { type: 'image/png' }),
        negative_prompt: 'blurry, watermark', seed: 1234567,
      }),
    );
    const done = await waitForVideo(client, v.id, 20_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');

    const e = executionOf('openai to comfy');
    expect(e.state).toBe('success');
    expect(e.prompt[MAPPING.negative_prompt.node]!.inputs[MAPPING.negative_prompt.input]).toBe('blurry, watermark');
    expect(e.prompt[MAPPING.seed.node]!.inputs[MAPPING.seed.input]).toBe(1234567);
    // 2 s at 16 fps as 4n+1 frames, at the asked size.
    expect(e.prompt[MAPPING.width.node]!.inputs).toMatchObject({ width: 480, height: 272, length: 33, start_image: ['6', 0], end_image: ['7', 0] });
    expect(e).toMatchObject({ width: 480, height: 272, frames: 33, seed: 1234567 });
    const first = await uploaded(e, MAPPING.first_frame.node);
    const last = await uploaded(e, MAPPING.last_frame.node);
    expect(first.name).toMatch(/^vidgate\/[0-9A-Z]+-first-frame\.png$/);
    expect(last.name).toMatch(/^vidgate\/[0-9A-Z]+-last-frame\.png$/);
    expect([first.width, first.height, last.width, last.height]).toEqual([480, 272, 480, 272]);
    expect(near(first.rgb, RED), `first ${first.rgb}`).toBe(true);
    expect(near(last.rgb, BLUE), `last ${last.rgb}`).toBe(true);

    // What the gateway serves is what the server rendered: its size and its 33 frames at 16 fps.
    const info = await probe(Buffer.from(await (await client.videos.downloadContent(v.id)).arrayBuffer()));
    expect([info.width, info.height]).toEqual([480, 272]);
    expect(info.durationSeconds).toBeCloseTo(33 / 16, 1);
  });

  it('apimart: negative_prompt, seed, first_frame_image and last_frame_image land in the mapped nodes; the signed link serves the video', async () => {
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'wan2.2-5b', prompt: 'apimart to comfy', duration: 1, aspect_ratio: '9:16', negative_prompt: 'text, logo', seed: 987654,
        first_frame_image: dataUrl(await png(136, 240, RED)), last_frame_image: dataUrl(await png(272, 480, BLUE)),
      }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const taskId = (JSON.parse(text) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    const v = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 20_000)).get(taskId.replace('task_', 'video_'))!;
    expect(v.status, JSON.stringify(v.error)).toBe('completed');

    const e = executionOf('apimart to comfy');
    expect(e.prompt[MAPPING.negative_prompt.node]!.inputs[MAPPING.negative_prompt.input]).toBe('text, logo');
    expect(e.prompt[MAPPING.seed.node]!.inputs[MAPPING.seed.input]).toBe(987654);
    expect(e).toMatchObject({ width: 272, height: 480, frames: 17, seed: 987654, state: 'success' });
    const first = await uploaded(e, MAPPING.first_frame.node);
    const last = await uploaded(e, MAPPING.last_frame.node);
    expect([first.width, first.height, last.width, last.height]).toEqual([272, 480, 272, 480]);
    expect(near(first.rgb, RED) && near(last.rgb, BLUE), `${first.rgb} then ${last.rgb}`).toBe(true);

    const task = ((await (await fetch(`${gw.url}/v1/tasks/${taskId}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { data: { result: { videos: Array<{ url: string[] }> } } }).data;
    const dl = await fetch(task.result.videos[0]!.url[0]!);
    expect(dl.status).toBe(200);
    const info = await probe(Buffer.from(await dl.arrayBuffer()));
    expect([info.width, info.height]).toEqual([272, 480]);
    expect(info.durationSeconds).toBeCloseTo(17 / 16, 1);
  });

  it('without a negative prompt, seed or last frame the workflow keeps its own values and loses the unused frame node', async () => {
    const r = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'wan2.2-5b', prompt: 'apimart first frame only', duration: 1, first_frame_image: dataUrl(await png(480, 272, RED)) }),
    });
    expect(r.status, await r.clone().text()).toBe(200);
    const id = ((await r.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id.replace('task_', 'video_');
    expect((await waitAllTerminal(gw, gw.key, [id], 20_000)).get(id)!.status).toBe('completed');
    const e = executionOf('apimart first frame only');
    expect(e.prompt[MAPPING.negative_prompt.node]!.inputs.text).toBe(FLF_WORKFLOW['5'].inputs.text);
    expect(e.prompt[MAPPING.seed.node]!.inputs.seed).toBe(FLF_WORKFLOW['9'].inputs.seed);
    expect(e.prompt[MAPPING.last_frame.node]).toBeUndefined();
    expect(e.prompt['8']!.inputs.end_image).toBeUndefined();
    expect(e.images).toHaveLength(1);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBe(3);
  });

  it('what a workflow has no place for is a 400 naming the field each dialect sent, before any hold and before the server sees a prompt', async () => {
    const balance = async () => ((await (await fetch(`${gw.url}/v1/balance`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { data: { balance: number; held: number } }).data;
    const before = await balance();
    const prompts = fake.promptRequests;
    const frame = dataUrl(await png(480, 272, RED));
    const base = { model: 'wan-t2v', prompt: 'nowhere to put it' };
    const openai = async (body: Record<string, unknown>) => {
      const res = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...base, ...body }) });
      return [res.status, ((await res.json()) as { error?: { param: string; code: string } }).error];
    };
    const apimart = async (body: Record<string, unknown>) => {
      const res = await fetch(`${gw.url}/v1/videos/generations`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...base, ...body }) });
      return [res.status, ((await res.json()) as { error?: { param: string; code: string } }).error];
    };
    const refused = (param: string) => [400, expect.objectContaining({ param, code: 'unsupported_by_upstream' })];
    expect(await openai({ negative_prompt: 'blur' })).toEqual(refused('negative_prompt'));
    expect(await apimart({ negative_prompt: 'blur' })).toEqual(refused('negative_prompt'));
    expect(await openai({ seed: 5 })).toEqual(refused('seed'));
    expect(await apimart({ seed: 5 })).toEqual(refused('seed'));
    expect(await openai({ input_reference: frame })).toEqual(refused('input_reference'));
    expect(await apimart({ first_frame_image: frame })).toEqual(refused('first_frame_image'));
    // 2 s at 16 fps is 33 frames; this server makes at most 20.
    expect(await openai({ seconds: '2' })).toEqual(refused('seconds'));
    expect(await openai({ duration: 2 })).toEqual(refused('duration'));
    expect(await apimart({ duration: 2 })).toEqual(refused('duration'));
    expect(await balance()).toEqual(before);
    expect(fake.promptRequests).toBe(prompts);
  });
});
