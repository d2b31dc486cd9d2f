import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoRequest } from '../../src/core/video-request.js';
import { luma } from '../../src/providers/luma/index.js';
import { refuseLuma } from '../../src/providers/luma/models.js';
import { parseLumaGeneration } from '../../src/providers/luma/status.js';
import type { LumaFake } from '../fakes/index.js';
import { fault, promptDirectives, startLumaFake } from '../fakes/index.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const LUMA_KEY = 'luma-api-TESTKEY0123456789abcdefghijklmnopqrstuv';

/** `ray-3.2` is in the built-in catalogue. */
export const LUMA_TEST_MODELS: Record<string, unknown>[] = [];
const channels = (base: string, key = LUMA_KEY) => [channel('luma', 'luma', base, { api_key: key, models: ['ray-3.2'], options: { user_id: 'vidgate-tests' } })];

const req: VideoRequest = { model: 'ray-3.2', prompt: 'a fox', seconds: 5, aspectRatio: '16:9', resolution: '720p', width: 1280, height: 720, audio: false, references: [], options: {} };

/**
 * The `luma` adapter (Luma Agents API) end to end through both dialects against the Luma fake:
 * the Generation body (string durations, ImageRef frames), its four states, its failure codes as
 * reasons, a key Luma refuses, and restarts in every phase.
 */
describe('luma adapter', () => {
  let fake: LumaFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startLumaFake({ apiKey: LUMA_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    gw = await startWithChannels(channels(fake.baseURL), { models: LUMA_TEST_MODELS });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('maps both dialects onto POST /v1/generations with string durations and ImageRef frames', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 720, height: 1280, channels: 3, background: '#55aa11' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'ray-3.2' as 'sora-2', prompt: 'a kite over dunes', seconds: '10' as '4', size: '720x1280', input_reference: await toFile(png, 'k.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'ray-3.2', prompt: 'a comet at dawn', duration: 5, aspect_ratio: '16:9', resolution: '1080p' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');

    const i2v = fake.submissions.find((s) => s.body.prompt === 'a kite over dunes')!;
    const t2v = fake.submissions.find((s) => s.body.prompt === 'a comet at dawn')!;
    expect(i2v.body).toMatchObject({ model: 'ray-3.2', type: 'video', aspect_ratio: '9:16', user_id: 'vidgate-tests', video: { resolution: '720p', duration: '10s' } });
    const frame = (i2v.body.video as { start_frame: { data: string; media_type: string } }).start_frame;
    expect(frame.media_type).toBe('image/png');
    expect(frame.data).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(t2v.body).toEqual({ model: 'ray-3.2', type: 'video', prompt: 'a comet at dawn', aspect_ratio: '16:9', user_id: 'vidgate-tests', video: { resolution: '1080p', duration: '5s' } });
    const sent = fake.requests.find((r) => r.seq === t2v.seq)!;
    expect(sent.headers.authorization).toBe(`Bearer ${LUMA_KEY}`);
    expect(sent.response?.status).toBe(201);
    expect(fake.cdn.leaks()).toEqual([]);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('passes Luma’s failure codes and reasons on', async () => {
    fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json).includes('refused at submit'), action: fault.error(400, { message: 'prompt contains disallowed content per content policy' }) });
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'ray-3.2', prompt: 'boom [[fake: outcome=fail code=generation_failed message=The_render_node_went_away]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'ray-3.2', prompt: 'held back [[fake: outcome=moderation]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'ray-3.2', prompt: 'too big [[fake: outcome=fail code=image_too_large message=The_start_frame_is_too_large]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'ray-3.2', prompt: 'broke [[fake: outcome=fail code=budget_exhausted message=Out_of_budget]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'ray-3.2', prompt: 'refused at submit', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'ray-3.2', prompt: 'gone [[fake: resultTtlMs=0]]', seconds: '5', size: '1280x720' }),
    ]);
    const ids = made.filter((m) => m.status === 200).map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const error = (i: number) => (made[i]!.status === 200 ? done.get(made[i]!.json.id as string)!.error! : (made[i]!.json.error as { code: string; message: string }));
    expect(error(0)).toMatchObject({ code: 'upstream_failed' });
    expect(error(0).message).toContain('The render node went away');
    expect(error(1)).toMatchObject({ code: 'moderation_blocked' });
    expect(error(2)).toMatchObject({ code: 'upstream_invalid_request' });
    expect(error(2).message).toContain('image_too_large');
    expect(error(3).message).toContain('Out of budget');
    expect(error(4)).toMatchObject({ code: 'moderation_blocked' });
    expect(error(5).code).toMatch(/^result_(expired|download_failed)$/);
    const moderated = fake.submissions.find((s) => String(s.body.prompt).startsWith('held back'))!;
    expect(fake.job(moderated.jobId).downloads).toEqual([]);
    const res = await fetch(`${gw.url}/v1/tasks/${made[0]!.json.id as string}`.replace('/video_', '/task_'), { headers: { authorization: `Bearer ${gw.key}` } });
    const body = (await res.json()) as { data: { status: string; error?: { message: string } } };
    expect(body.data.status).toBe('failed');
    expect(body.data.error?.message).toContain('render node');
  });

  it('a key Luma refuses takes the channel out of rotation', async () => {
    const admin = 'admin-token-for-the-luma-test-000';
    const bad = await startWithChannels(channels(fake.baseURL, 'luma-api-wrong000000000000000000'), { models: LUMA_TEST_MODELS, adminToken: admin });
    try {
      const r = await createVideo(bad, bad.key, { model: 'ray-3.2', prompt: 'never made', seconds: '5', size: '1280x720' });
      expect(r.status).toBe(200);
      let view: { state?: string } = {};
      for (let i = 0; i < 100 && view.state !== 'out_of_rotation'; i++) {
        await new Promise((res) => setTimeout(res, 100));
        view = (await (await fetch(`${bad.url}/admin/v1/channels/luma`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { state?: string };
      }
      expect(view.state).toBe('out_of_rotation');
      expect(fake.submissions.some((s) => s.body.prompt === 'never made')).toBe(false);
    } finally {
      await bad.close();
    }
  }, 60_000);

  it('rides out a 429 with Retry-After at submit, a 503 and a garbled status answer', async () => {
    await ridesOutFaults({ gw, fake, model: 'ray-3.2', body: { seconds: '5', size: '1280x720' } });
  }, 90_000);

  it('survives a restart in every phase, submits nothing twice and leaks no key', async () => {
    const f = await startLumaFake({ apiKey: LUMA_KEY, script: promptDirectives({ queuedMs: 100, runMs: 800 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake: f,
        channel: { id: 'luma', type: 'luma', base_url: f.baseURL, api_key_env: 'LUMA_KEY', models: ['ray-3.2'] },
        models: LUMA_TEST_MODELS,
        model: 'ray-3.2',
        body: { seconds: '5', size: '1280x720' },
        idempotent: false,
        secrets: [LUMA_KEY],
        env: { LUMA_KEY },
      });
    } finally {
      await f.close();
    }
  }, 240_000);
});

describe('luma adapter pieces', () => {
  it('refuses what ray cannot do', () => {
    expect(refuseLuma(req, 'ray-3.2')).toBeNull();
    expect(refuseLuma(req, 'dream-1')).toMatchObject({ param: 'model' });
    expect(refuseLuma({ ...req, seconds: 8 }, 'ray-3.2')).toMatchObject({ param: 'seconds' });
    expect(refuseLuma({ ...req, resolution: '480p' }, 'ray-3.2')).toMatchObject({ param: 'resolution' });
    expect(refuseLuma({ ...req, aspectRatio: '9:21' }, 'ray-3.2')).toMatchObject({ param: 'aspect_ratio' });
    expect(refuseLuma({ ...req, aspectRatio: 'adaptive' }, 'ray-3.2')).toBeNull();
    expect(refuseLuma({ ...req, audio: true }, 'ray-3.2')).toMatchObject({ param: 'audio' });
    expect(refuseLuma({ ...req, seed: 1 }, 'ray-3.2')).toMatchObject({ param: 'seed' });
    expect(refuseLuma({ ...req, negativePrompt: 'x' }, 'ray-3.2')).toMatchObject({ param: 'negative_prompt' });
    const img = { role: 'reference' as const, kind: 'image' as const, blob: 'x', contentType: 'image/png' };
    expect(refuseLuma({ ...req, references: [img] }, 'ray-3.2')).toMatchObject({ param: 'references' });
    expect(refuseLuma({ ...req, firstFrame: { ...img, role: 'first_frame' }, lastFrame: { ...img, role: 'last_frame' } }, 'ray-3.2')).toBeNull();
    expect(refuseLuma({ ...req, options: { loop: true, hdr: false } }, 'ray-3.2')).toBeNull();
    expect(refuseLuma({ ...req, options: { loop: 'yes' } }, 'ray-3.2')).toMatchObject({ param: 'loop' });
    expect(refuseLuma({ ...req, options: { camera: 'pan' } }, 'ray-3.2')).toMatchObject({ param: 'camera' });
  });

  it('reads every state and failure code', () => {
    expect(parseLumaGeneration({ state: 'queued' })).toMatchObject({ state: 'waiting' });
    expect(parseLumaGeneration({ state: 'processing' })).toMatchObject({ state: 'running' });
    expect(parseLumaGeneration({ state: 'completed', output: [{ type: 'image', url: 'https://l/x.png' }, { type: 'video', url: 'https://l/x.mp4' }] })).toMatchObject({ state: 'succeeded', resultUrl: 'https://l/x.mp4' });
    expect(parseLumaGeneration({ state: 'failed', failure_code: 'content_moderated', failure_reason: 'flagged' })).toMatchObject({ state: 'failed', error: { code: 'content_moderated', message: 'flagged', kind: 'moderation' } });
    expect(parseLumaGeneration({ state: 'failed', failure_code: 'budget_exhausted' })).toMatchObject({ error: { kind: 'quota' } });
    expect(parseLumaGeneration({ state: 'failed', failure_code: 'corrupt_input' })).toMatchObject({ error: { kind: 'invalid' } });
    expect(parseLumaGeneration({ state: 'failed', failure_code: 'rate_limited' })).toMatchObject({ error: { kind: 'rate_limit' } });
    expect(parseLumaGeneration({ state: 'failed' })).toMatchObject({ error: { kind: 'internal' } });
    expect(parseLumaGeneration({ state: 'thinking' })).toMatchObject({ state: 'waiting', unrecognised: true });
  });

  it('declares no credentials beyond the API key', () => {
    expect(luma.credentials).toBeUndefined();
    expect(luma.baseUrl!({})).toBe('https://agents.lumalabs.ai/v1');
  });
});
