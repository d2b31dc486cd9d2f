import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { toFile } from 'openai';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelHttp } from '../../src/channels/http.js';
import type { VideoRequest } from '../../src/core/video-request.js';
import { probeVideo } from '../../src/media/probe.js';
import { comfyui, promptIdFor } from '../../src/providers/comfyui/index.js';
import { comfyuiOptions, frameCount, refuseComfy } from '../../src/providers/comfyui/workflow.js';
import type { ComfyuiOptions } from '../../src/providers/comfyui/workflow.js';
import type { UpstreamMedia, UpstreamSubmit } from '../../src/providers/types.js';
import { UpstreamError } from '../../src/providers/types.js';
import type { ComfyUIFake } from '../fakes/comfyui-fake.js';
import { startComfyUIFake } from '../fakes/comfyui-fake.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { COMFY_MODELS, EXAMPLE_OPTIONS, EXAMPLE_WORKFLOW, FLF_WORKFLOW, flfOptions } from '../helpers/comfyui.js';
import { assertBillingConsistent, channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const TOKEN = 'proxy-token-3f9a61c2b7e84d05';

/** A variant of the example workflow, written to `dir`. */
async function variant(dir: string, name: string, edit: (wf: Record<string, { class_type: string; inputs: Record<string, unknown> }>) => void): Promise<string> {
  const wf = JSON.parse(await readFile(EXAMPLE_WORKFLOW, 'utf8')) as Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  edit(wf);
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(wf));
  return file;
}

const historyCalls = (f: ComfyUIFake, id: string) => f.requests.filter((r) => r.path === `/history/${id}`).length;

describe('comfyui adapter', () => {
  let a: ComfyUIFake;
  let b: ComfyUIFake;
  let slow: ComfyUIFake;
  let gw: TestGateway;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vidgate-comfy-'));
    // Server A sits behind a reverse proxy that wants a Bearer token; B is open.
    a = await startComfyUIFake({ token: TOKEN, stepMs: 5 });
    b = await startComfyUIFake({ stepMs: 5 });
    slow = await startComfyUIFake({ stepMs: 150 });
    const missingModel = await variant(dir, 'missing-model.json', (wf) => {
      wf['37']!.inputs.unet_name = 'wan2.2_t2v_A14B_high_noise.safetensors';
    });
    const customNode = await variant(dir, 'custom-node.json', (wf) => {
      wf['59'] = { class_type: 'RIFE VFI', inputs: { frames: ['8', 0], multiplier: 2 } };
    });
    gw = await startWithChannels(
      [
        channel('comfy-a', 'comfyui', a.baseURL, { api_key: TOKEN, models: ['wan2.2-5b', 'wan-custom'], max_jobs: 1, options: EXAMPLE_OPTIONS }),
        channel('comfy-b', 'comfyui', b.baseURL, { api_key: undefined, models: ['wan2.2-5b'], max_jobs: 1, options: EXAMPLE_OPTIONS }),
        channel('comfy-broken', 'comfyui', b.baseURL, { api_key: undefined, models: ['wan-broken'], options: { ...EXAMPLE_OPTIONS, workflow_file: missingModel } }),
        channel('comfy-custom', 'comfyui', b.baseURL, { api_key: undefined, models: ['wan-custom'], priority: 10, options: { ...EXAMPLE_OPTIONS, workflow_file: customNode } }),
        channel('comfy-slow', 'comfyui', slow.baseURL, { api_key: undefined, models: ['wan-slow'], options: EXAMPLE_OPTIONS }),
        // Text-to-video only: its mapping has no first frame.
        channel('comfy-t2v', 'comfyui', b.baseURL, { api_key: undefined, models: ['wan-t2v'], options: { ...EXAMPLE_OPTIONS, inputs: { ...EXAMPLE_OPTIONS.inputs, first_frame: undefined } } }),
      ],
      { models: COMFY_MODELS },
    );
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([a?.close(), b?.close(), slow?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('makes videos through both dialects on two servers of one model, following the websocket, and keeps them', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 480, height: 272, channels: 3, background: '#2255aa' } }).png().toBuffer();
    const jobs = await Promise.all([
      client.videos.create({ model: 'wan2.2-5b' as 'sora-2', prompt: 'a lighthouse at dusk', seconds: '1' as '4', size: '480x272' as '1280x720' }),
      client.videos.create({ model: 'wan2.2-5b' as 'sora-2', prompt: 'the frame comes alive', seconds: '2' as '4', size: '480x272' as '1280x720', input_reference: await toFile(png, 'f.png', { type: 'image/png' }) }),
    ]);
    const apimart = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'wan2.2-5b', prompt: 'a paper crane unfolds', duration: 1, aspect_ratio: '9:16' }),
    });
    expect(apimart.status, await apimart.clone().text()).toBe(200);
    const taskId = ((await apimart.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;

    for (const v of await Promise.all(jobs.map((x) => waitForVideo(client, x.id, 30_000)))) expect(v.status, JSON.stringify(v.error)).toBe('completed');
    let task: { data: { status: string; progress?: number } };
    for (;;) {
      task = (await (await fetch(`${gw.url}/v1/tasks/${taskId}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as typeof task;
      if (task.data.status !== 'pending' && task.data.status !== 'processing') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(task.data.status).toBe('completed');

    // Both servers took jobs (each channel runs one at a time), each prompt exactly once.
    const all = [...a.executions.values(), ...b.executions.values()];
    expect(a.prompts).toBeGreaterThanOrEqual(1);
    expect(b.prompts).toBeGreaterThanOrEqual(1);
    expect(all).toHaveLength(3);
    const t2v = all.find((e) => e.texts.includes('a lighthouse at dusk'))!;
    const i2v = all.find((e) => e.texts.includes('the frame comes alive'))!;
    const portrait = all.find((e) => e.texts.includes('a paper crane unfolds'))!;
    // The request's parameters were executed: size, frames (seconds × 24 fps as 4n+1), fps.
    expect(t2v).toMatchObject({ width: 480, height: 272, frames: 25, fps: 24, state: 'success', images: [] });
    expect(i2v).toMatchObject({ width: 480, height: 272, frames: 49, fps: 24 });
    expect(portrait).toMatchObject({ width: 272, height: 480, frames: 25 });
    // The frame was uploaded and the LoadImage node names it; without one, the node and its link are gone.
    expect(i2v.images).toHaveLength(1);
    expect(i2v.images[0]).toMatch(/^vidgate\/[0-9A-Z]+-first-frame\.png$/);
    expect(i2v.prompt['55']!.inputs.start_image).toEqual(['56', 0]);
    expect(t2v.prompt['56']).toBeUndefined();
    expect(t2v.prompt['55']!.inputs.start_image).toBeUndefined();
    // Queued under the gateway's own client id, with the prompt id derived from the task.
    for (const e of all) {
      expect(e.clientId).toMatch(/^vidgate-/);
      const f = a.executions.has(e.promptId) ? a : b;
      expect(f.wsConnections).toContain(e.clientId);
      // The websocket said when to look: a couple of history reads per job, not a polling schedule.
      expect(historyCalls(f, e.promptId)).toBeLessThanOrEqual(4);
    }
    // The proxy's token went with every request to server A, the websocket and /view included.
    expect(a.requests.length).toBeGreaterThan(0);
    expect(a.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(a.requests.some((r) => r.path === '/ws')).toBe(true);
    expect(a.requests.some((r) => r.path === '/view')).toBe(true);
    // No Origin header (ComfyUI refuses one that differs from Host).
    expect([...a.requests, ...b.requests].every((r) => r.headers.origin === undefined)).toBe(true);

    // The stored video is the one rendered: its size and length.
    const content = Buffer.from(await (await client.videos.downloadContent(jobs[1].id)).arrayBuffer());
    const file = path.join(dir, 'i2v.mp4');
    await writeFile(file, content);
    const probed = await probeVideo(file);
    expect(probed).toMatchObject({ width: 480, height: 272 });
    expect(probed.durationSeconds).toBeCloseTo(49 / 24, 1);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(3);
  });

  it('passes node_errors to the client as invalid input, and a node type the server lacks', async () => {
    const broken = await createVideo(gw, gw.key, { model: 'wan-broken', prompt: 'no such model file', seconds: '1', size: '480x272' });
    const custom = await createVideo(gw, gw.key, { model: 'wan-custom', prompt: 'a custom node', seconds: '1', size: '480x272' });
    const ids = [broken.json.id as string, custom.json.id as string];
    const done = await waitAllTerminal(gw, gw.key, ids, 20_000);
    const e1 = done.get(ids[0]!)!.error!;
    expect(e1.code).toBe('upstream_invalid_request');
    expect(e1.message).toContain('prompt_outputs_failed_validation');
    expect(e1.message).toContain('node 37 (UNETLoader): Value not in list: unet_name');
    expect(e1.message).toContain('wan2.2_t2v_A14B_high_noise.safetensors');
    const e2 = done.get(ids[1]!)!.error!;
    expect(e2.code).toBe('upstream_invalid_request');
    expect(e2.message).toContain("Node 'RIFE VFI' not found. The custom node may not be installed.");
    // The apimart dialect shows the same reason.
    const res = await fetch(`${gw.url}/v1/tasks/${ids[0]!.replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${gw.key}` } });
    const body = (await res.json()) as { data: { status: string; error?: { message: string } } };
    expect(body.data.status).toBe('failed');
    expect(body.data.error?.message).toContain('UNETLoader');
    await assertBillingConsistent(gw.dataDir);
  });

  it('fails a job that fails on the server with ComfyUI’s own reason', async () => {
    const r = await createVideo(gw, gw.key, { model: 'wan2.2-5b', prompt: 'too big [[comfy: oom]]', seconds: '1', size: '480x272' });
    const v = (await waitAllTerminal(gw, gw.key, [r.json.id as string], 20_000)).get(r.json.id as string)!;
    expect(v.status).toBe('failed');
    expect(v.error!.code).toBe('upstream_failed');
    expect(v.error!.message).toContain('KSampler (node 3): OutOfMemoryError: Allocation on device 0 would exceed allowed memory');
    await assertBillingConsistent(gw.dataDir);
  });

  it('fails a job whose server restarted mid-job with a clear reason, and releases the hold', async () => {
    const r = await createVideo(gw, gw.key, { model: 'wan-slow', prompt: 'interrupted by a restart', seconds: '1', size: '480x272' });
    expect(r.status).toBe(200);
    await slow.waitFor((f) => [...f.executions.values()].find((e) => e.state === 'running'));
    // The sampler's progress, as the websocket reported it, reaches the client.
    await expectEventually(async () => {
      const v = await getVideo(gw, gw.key, r.json.id as string);
      return v.status === 'in_progress' && v.progress > 0;
    });
    await slow.restart(300);
    const v = (await waitAllTerminal(gw, gw.key, [r.json.id as string], 30_000)).get(r.json.id as string)!;
    expect(v.status).toBe('failed');
    expect(v.error!.code).toBe('upstream_failed');
    expect(v.error!.message).toMatch(/no longer knows this job.*restarted/);
    expect(slow.prompts).toBe(1);
    const db = await assertBillingConsistent(gw.dataDir);
    expect(db.released).toBeGreaterThanOrEqual(1);
  });

  it('never sends a server what its workflow cannot express', async () => {
    const before = b.promptRequests;
    const png = await sharp({ create: { width: 480, height: 272, channels: 3, background: '#22aa55' } }).png().toBuffer();
    const form = new FormData();
    form.set('model', 'wan-t2v');
    form.set('prompt', 'a frame this workflow has no place for');
    form.set('seconds', '1');
    form.set('size', '480x272');
    form.set('input_reference', new Blob([png], { type: 'image/png' }), 'f.png');
    const res = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}` }, body: form });
    const json = (await res.json()) as { id?: string; error?: { param?: string; message: string } };
    if (res.status === 400) {
      // Refused at create time, before any hold.
      expect(json.error!.param).toBe('input_reference');
    } else {
      expect(res.status).toBe(200);
      const v = (await waitAllTerminal(gw, gw.key, [json.id!], 20_000)).get(json.id!)!;
      expect(v.error).toMatchObject({ code: 'upstream_invalid_request' });
      expect(v.error!.message).toContain('takes no first frame on this server (its workflow has no image input). (first_frame)');
    }
    expect(b.promptRequests).toBe(before);
    await assertBillingConsistent(gw.dataDir);
  });

  it('sends the jobs of a server that is down to the other one', async () => {
    await b.down();
    try {
      const before = { a: a.prompts, b: b.prompts };
      const made = await Promise.all([0, 1].map((i) => createVideo(gw, gw.key, { model: 'wan2.2-5b', prompt: `while B is down ${i}`, seconds: '1', size: '480x272' })));
      const done = await waitAllTerminal(gw, gw.key, made.map((m) => m.json.id as string), 30_000);
      for (const v of done.values()) expect(v.status, JSON.stringify(v.error)).toBe('completed');
      expect(a.prompts - before.a).toBe(2);
      expect(b.prompts - before.b).toBe(0);
    } finally {
      await b.up();
    }
  });

  it('completes on execution_success alone, for builds that send no executing{node:null}', async () => {
    a.skipNodeNull = true;
    b.skipNodeNull = true;
    try {
      const r = await createVideo(gw, gw.key, { model: 'wan2.2-5b', prompt: 'no node null', seconds: '1', size: '480x272' });
      const v = (await waitAllTerminal(gw, gw.key, [r.json.id as string], 20_000)).get(r.json.id as string)!;
      expect(v.status).toBe('completed');
      const e = [...a.executions.values(), ...b.executions.values()].find((x) => x.texts.includes('no node null'))!;
      // Seen through the socket, not by a polling schedule (checks of a followed prompt are 30 s apart).
      expect(v.completed_at! * 1000 - e.executedAt!).toBeLessThan(10_000);
    } finally {
      a.skipNodeNull = false;
      b.skipNodeNull = false;
    }
  });

  it('keeps the proxy token out of answers and the database file', async () => {
    const res = await fetch(`${gw.url}/admin/v1/channels/comfy-a`, { headers: { authorization: `Bearer ${gw.key}` } });
    expect(await res.text()).not.toContain(TOKEN);
    for (const f of await readdir(gw.dataDir)) {
      if (!f.startsWith('vidgate.db')) continue;
      expect((await readFile(path.join(gw.dataDir, f))).includes(Buffer.from(TOKEN))).toBe(false);
    }
  });
});

async function expectEventually(fn: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const baseRequest: VideoRequest<UpstreamMedia> = {
  model: 'wan2.2-5b',
  prompt: 'a lighthouse',
  seconds: 1,
  aspectRatio: '16:9',
  resolution: '480p',
  width: 480,
  height: 272,
  audio: false,
  references: [],
  options: {},
};

describe('comfyui adapter pieces', () => {
  const opts = comfyuiOptions.parse(EXAMPLE_OPTIONS) as ComfyuiOptions;

  it('refuses at create time what the workflow mapping cannot express', () => {
    expect(refuseComfy(baseRequest, opts, 'wan')).toBeNull();
    const frame = { role: 'last_frame' as const, kind: 'image' as const, blob: 'x/l.png', contentType: 'image/png', width: 480, height: 272 };
    expect(refuseComfy({ ...baseRequest, lastFrame: frame }, opts, 'wan')).toMatchObject({ param: 'last_frame' });
    expect(refuseComfy({ ...baseRequest, firstFrame: { ...frame, role: 'first_frame' } }, opts, 'wan')).toBeNull();
    const bare = comfyuiOptions.parse({ ...EXAMPLE_OPTIONS, inputs: { prompt: EXAMPLE_OPTIONS.inputs.prompt } }) as ComfyuiOptions;
    expect(refuseComfy({ ...baseRequest, negativePrompt: 'blur' }, bare, 'wan')).toMatchObject({ param: 'negative_prompt' });
    expect(refuseComfy({ ...baseRequest, seed: 3 }, bare, 'wan')).toMatchObject({ param: 'seed' });
    expect(refuseComfy({ ...baseRequest, firstFrame: { ...frame, role: 'first_frame' } }, bare, 'wan')).toMatchObject({ param: 'first_frame' });
    expect(refuseComfy({ ...baseRequest, seed: -1 }, opts, 'wan')).toMatchObject({ param: 'seed' });
    expect(refuseComfy({ ...baseRequest, audio: true }, opts, 'wan')).toMatchObject({ param: 'audio' });
    expect(refuseComfy({ ...baseRequest, references: [{ ...frame, role: 'reference' }] }, opts, 'wan')).toMatchObject({ param: 'references' });
    expect(refuseComfy({ ...baseRequest, width: 500 }, opts, 'wan')).toMatchObject({ param: 'size' });
    expect(refuseComfy({ ...baseRequest, seconds: 10 }, { ...opts, max_frames: 121 }, 'wan')).toMatchObject({ param: 'seconds' });
    expect(refuseComfy({ ...baseRequest, seconds: 5 }, { ...opts, max_frames: 121 }, 'wan')).toBeNull();
    expect(frameCount(5, opts)).toBe(121);
    expect(frameCount(5, { fps: 16, frame_step: 4 })).toBe(81);
    expect(frameCount(4, { fps: 24, frame_step: 8 })).toBe(97);
  });

  it('checks the workflow file and the mapping when the channel is created', async () => {
    const d = await mkdtemp(path.join(tmpdir(), 'vidgate-comfy-opts-'));
    try {
      const ui = path.join(d, 'ui.json');
      await writeFile(ui, JSON.stringify({ nodes: [], links: [], version: 0.4 }));
      const issue = (o: unknown) => {
        const r = comfyuiOptions.safeParse(o);
        return r.success ? null : { path: r.error.issues[0]!.path.join('.'), message: r.error.issues[0]!.message };
      };
      expect(issue(EXAMPLE_OPTIONS)).toBeNull();
      expect(issue({ ...EXAMPLE_OPTIONS, workflow_file: ui })).toMatchObject({ path: 'workflow_file', message: expect.stringContaining('Export (API)') });
      expect(issue({ ...EXAMPLE_OPTIONS, workflow_file: path.join(d, 'none.json') })).toMatchObject({ path: 'workflow_file' });
      expect(issue({ ...EXAMPLE_OPTIONS, output_node: '99' })).toMatchObject({ path: 'output_node' });
      expect(issue({ ...EXAMPLE_OPTIONS, inputs: { ...EXAMPLE_OPTIONS.inputs, last_frame: { node: '77', input: 'image' } } })).toMatchObject({ path: 'inputs.last_frame' });
      expect(issue({ ...EXAMPLE_OPTIONS, inputs: { ...EXAMPLE_OPTIONS.inputs, width: undefined } })).toMatchObject({ path: 'inputs' });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('maps negative prompt, seed and both frames; cancels a pending prompt and interrupts a running one', async () => {
    const fake = await startComfyUIFake({ stepMs: 100 });
    const d = await mkdtemp(path.join(tmpdir(), 'vidgate-comfy-flf-'));
    const agent = new Agent();
    try {
      // Wan 2.1 first-last-frame: two LoadImage nodes into WanFirstLastFrameToVideo.
      const file = path.join(d, 'flf.json');
      await writeFile(file, JSON.stringify(FLF_WORKFLOW));
      const o = comfyuiOptions.parse(flfOptions(file)) as ComfyuiOptions;
      const adapter = comfyui.create(o);
      const http = new ChannelHttp(
        fake.baseURL,
        { auth: async () => ({}), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent },
        { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 },
      );
      const png = await sharp({ create: { width: 320, height: 320, channels: 3, background: '#aa2255' } }).png().toBuffer();
      const media = (role: 'first_frame' | 'last_frame'): UpstreamMedia => ({ role, kind: 'image', blob: `T/${role}.png`, contentType: 'image/png', width: 320, height: 320, data: png });
      const request: VideoRequest<UpstreamMedia> = { ...baseRequest, width: 320, height: 320, seconds: 1, negativePrompt: 'blurry', seed: 1234, firstFrame: media('first_frame'), lastFrame: media('last_frame') };
      const job: UpstreamSubmit = { taskId: 'TASK1', model: 'wan-flf', request, idempotencyKey: 'vidgate-TASK1-c' };
      const accepted = await adapter.submit(job, http);
      expect(accepted.upstreamId).toBe(promptIdFor('vidgate-TASK1-c'));
      const e = fake.executions.get(accepted.upstreamId)!;
      expect(e.prompt['4']!.inputs.text).toBe('a lighthouse');
      expect(e.prompt['5']!.inputs.text).toBe('blurry');
      expect(e.prompt['9']!.inputs.seed).toBe(1234);
      expect(e.prompt['8']!.inputs).toMatchObject({ width: 320, height: 320, length: 17 });
      expect(e.prompt['11']!.inputs.frame_rate).toBe(16);
      expect(e.prompt['6']!.inputs.image).toBe('vidgate/TASK1-first-frame.png');
      expect(e.prompt['7']!.inputs.image).toBe('vidgate/TASK1-last-frame.png');
      // A second prompt waits behind the first: cancelling it removes it from the queue.
      const second = await adapter.submit({ ...job, taskId: 'TASK2', idempotencyKey: 'vidgate-TASK2-c' }, http);
      expect((await adapter.status(second.upstreamId, http)).state).toBe('waiting');
      await adapter.cancel!(second.upstreamId, http);
      // ComfyUI lost it (it was never run): the check says so.
      expect((await adapter.status(second.upstreamId, http)).state).toBe('failed');
      // The first one runs; an interrupt ends it as cancelled.
      await fake.waitFor((f) => f.executions.get(accepted.upstreamId)!.state === 'running' || undefined);
      expect((await adapter.status(accepted.upstreamId, http)).state).toBe('running');
      await adapter.cancel!(accepted.upstreamId, http);
      await fake.waitFor((f) => f.executions.get(accepted.upstreamId)!.state === 'interrupted' || undefined);
      expect(await adapter.status(accepted.upstreamId, http)).toMatchObject({ state: 'cancelled' });
      // A third one runs to the end: VHS reports the video in `gifs`, fetched through /view.
      const third = await adapter.submit({ ...job, taskId: 'TASK3', idempotencyKey: 'vidgate-TASK3-c' }, http);
      await fake.waitFor((f) => f.executions.get(third.upstreamId)!.state === 'success' || undefined);
      const done = await adapter.status(third.upstreamId, http);
      expect(done.state).toBe('succeeded');
      expect(done.resultUrl).toMatch(new RegExp(`^${fake.baseURL}/view\\?filename=vidgate_\\d+_\\.mp4&subfolder=flf&type=output$`));
      // Refused graphs: an input the node does not take in the right type.
      const bad = comfyui.create({ ...o, inputs: { ...o.inputs, seed: { node: '4', input: 'text' } } });
      const err = await bad.submit({ ...job, idempotencyKey: 'vidgate-TASK4-c', request: { ...request, seed: 7 } }, http).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).detail).toMatchObject({ status: 400, kind: 'invalid', code: 'prompt_outputs_failed_validation' });
    } finally {
      await agent.close();
      await fake.close();
      await rm(d, { recursive: true, force: true });
    }
  });
});
