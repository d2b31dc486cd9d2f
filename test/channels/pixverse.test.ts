import sharp from 'sharp';
import { toFile } from 'openai';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelHttp } from '../../src/channels/http.js';
import type { VideoRequest } from '../../src/core/video-request.js';
import { pixverse, traceId } from '../../src/providers/pixverse/index.js';
import { refusePixverse } from '../../src/providers/pixverse/models.js';
import { parsePixverseVideo } from '../../src/providers/pixverse/status.js';
import type { UpstreamMedia } from '../../src/providers/types.js';
import { UpstreamError } from '../../src/providers/types.js';
import type { PixverseFake } from '../fakes/index.js';
import { fault, promptDirectives, startPixverseFake } from '../fakes/index.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const PX_KEY = 'sk-pixverse-TEST-0123456789abcdefghij';

/** PixVerse models as the operator adds them to the catalogue (until the built-in catalogue has them). */
export const PIXVERSE_MODELS = [
  { id: 'pixverse-v5', sizes: ['1280x720', '720x1280', '1920x1080'], seconds: [5, 8], pricePerSecond: { '720p': 0.06, '1024p': 0.06, '1080p': 0.1 } },
];
const channels = (base: string) => [channel('pixverse', 'pixverse', base, { api_key: PX_KEY, models: [{ model: 'pixverse-v5', upstream_model: 'v5' }] })];

const req: VideoRequest<UpstreamMedia> = { model: 'pixverse-v5', prompt: 'a fox', seconds: 5, aspectRatio: '16:9', resolution: '720p', width: 1280, height: 720, audio: false, references: [], options: {} };

/**
 * The `pixverse` adapter end to end through both dialects against the PixVerse fake: frames
 * uploaded first for an img_id, the generate endpoint by what the request carries, `Ai-trace-id`
 * as the idempotency key (a resend can never make a second job), ErrCode envelopes, and restarts
 * in every phase — where, unlike the other adapters, a lost submit is resent and completes.
 */
describe('pixverse adapter', () => {
  let fake: PixverseFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startPixverseFake({ apiKey: PX_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    gw = await startWithChannels(channels(fake.baseURL), { models: PIXVERSE_MODELS });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('uploads the frame first and maps both dialects onto img/generate and text/generate', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 720, height: 1280, channels: 3, background: '#22aa66' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'pixverse-v5' as 'sora-2', prompt: 'leaves in the wind', seconds: '8' as '4', size: '720x1280', input_reference: await toFile(png, 'l.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'pixverse-v5', prompt: 'a glass city', duration: 5, aspect_ratio: '16:9' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');

    const i2v = fake.submissions.find((s) => s.body.prompt === 'leaves in the wind')!;
    const t2v = fake.submissions.find((s) => s.body.prompt === 'a glass city')!;
    const i2vReq = fake.requests.find((r) => r.seq === i2v.seq)!;
    expect(i2vReq.path).toBe('/openapi/v2/video/img/generate');
    expect(i2vReq.headers['api-key']).toBe(PX_KEY);
    expect(i2v.body).toMatchObject({ model: 'v5', duration: 8, quality: '720p', generate_audio_switch: false });
    expect(i2v.body.aspect_ratio).toBeUndefined();
    // The img_id is the one the upload before it returned, and the upload carried the frame's bytes.
    const upload = fake.requestsFor('upload').find((r) => r.seq < i2v.seq)!;
    expect(upload.form!.files[0]).toMatchObject({ field: 'image', contentType: 'image/png' });
    expect(fake.uploads.has(i2v.body.img_id as number)).toBe(true);
    expect(fake.requests.find((r) => r.seq === t2v.seq)!.path).toBe('/openapi/v2/video/text/generate');
    expect(t2v.body).toEqual({ model: 'v5', prompt: 'a glass city', duration: 5, quality: '720p', aspect_ratio: '16:9', generate_audio_switch: false });
    expect(fake.requestsFor('submit').every((r) => /^[0-9a-f-]{36}$/.test(String(r.headers['ai-trace-id'])))).toBe(true);
    // Status reads carry a fresh trace id each (a reused one would return a stale answer).
    const statusTraces = fake.requestsFor('status').map((r) => r.headers['ai-trace-id']);
    expect(new Set(statusTraces).size).toBe(statusTraces.length);
    expect(fake.cdn.leaks()).toEqual([]);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('reports PixVerse’s failures: moderation (status 7), failure (status 8), ErrCode refusals at submit', async () => {
    fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json).includes('refused at submit'), action: fault.error(200, { code: '500054', message: 'The prompt did not pass content moderation' }) });
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'pixverse-v5', prompt: 'bad output [[fake: outcome=moderation]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'pixverse-v5', prompt: 'broken [[fake: outcome=fail]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'pixverse-v5', prompt: 'refused at submit', seconds: '5', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    expect(errors[0]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[0]!.message).toContain('status 7');
    expect(errors[1]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[1]!.message).toContain('status 8');
    expect(errors[2]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[2]!.message).toContain('did not pass content moderation');
    const res = await fetch(`${gw.url}/v1/tasks/${ids[0]!.replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${gw.key}` } });
    expect(((await res.json()) as { data: { error?: { message: string } } }).data.error?.message).toContain('moderation');
  });

  it('rides out a 429 with Retry-After at submit, a 503 and a garbled status answer', async () => {
    await ridesOutFaults({ gw, fake, model: 'pixverse-v5', body: { seconds: '5', size: '1280x720' } });
  }, 90_000);

  it('survives a restart in every phase: a submit whose answer was lost is resent with the same Ai-trace-id and PixVerse replays the job', async () => {
    const f = await startPixverseFake({ apiKey: PX_KEY, script: promptDirectives({ queuedMs: 100, runMs: 800 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake: f,
        channel: { id: 'pixverse', type: 'pixverse', base_url: f.url, api_key_env: 'PX_KEY', models: [{ model: 'pixverse-v5', upstream_model: 'v5' }] },
        models: PIXVERSE_MODELS,
        model: 'pixverse-v5',
        body: { seconds: '5', size: '1280x720' },
        idempotent: true,
        secrets: [PX_KEY],
        env: { PX_KEY },
      });
      expect(f.replays).toBeGreaterThanOrEqual(2);
    } finally {
      await f.close();
    }
  }, 240_000);
});

describe('pixverse adapter pieces', () => {
  it('a resend after a lost answer makes no second upload and no second job; a transition uploads both frames', async () => {
    const fake = await startPixverseFake({ apiKey: PX_KEY });
    const agent = new Agent();
    try {
      const http = new ChannelHttp(
        fake.url,
        { auth: async () => ({ 'api-key': PX_KEY }), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent },
        { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 },
      );
      const adapter = pixverse.create({});
      const png = await sharp({ create: { width: 640, height: 360, channels: 3, background: '#000000' } }).png().toBuffer();
      const img = (role: 'first_frame' | 'last_frame'): UpstreamMedia => ({ role, kind: 'image', blob: `x/${role}.png`, contentType: 'image/png', width: 640, height: 360, data: png });
      const job = { taskId: 'T', model: 'v5', request: { ...req, firstFrame: img('first_frame'), lastFrame: img('last_frame') }, idempotencyKey: 'vidgate-T-pixverse' };
      fake.faults.next('submit', 1, fault.reset({ after: true }));
      const err = await adapter.submit(job, http).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).kind).toBe('unknown-outcome');
      expect(fake.submissionCount).toBe(1);
      const again = await adapter.submit(job, http);
      expect(fake.submissionCount).toBe(1);
      expect(fake.uploads.size).toBe(2);
      expect(fake.replays).toBe(3);
      expect(again.upstreamId).toBe(fake.submissions[0]!.jobId);
      const sent = fake.requests.find((r) => r.seq === fake.submissions[0]!.seq)!;
      expect(sent.path).toBe('/openapi/v2/video/transition/generate');
      expect(sent.headers['ai-trace-id']).toBe(traceId('vidgate-T-pixverse:generate'));
      // Another task's key is another job.
      await adapter.submit({ ...job, idempotencyKey: 'vidgate-U-pixverse' }, http);
      expect(fake.submissionCount).toBe(2);
      // A key PixVerse refuses (ErrCode 10005 inside an HTTP 200) is an auth failure.
      const bad = new ChannelHttp(
        fake.url,
        { auth: async () => ({ 'api-key': 'nope' }), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent },
        { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 },
      );
      const denied = await adapter.submit({ ...job, request: req, idempotencyKey: 'k' }, bad).catch((e: unknown) => e);
      expect(denied).toMatchObject({ kind: 'http', detail: { status: 401, kind: 'auth', code: '10005' } });
    } finally {
      await agent.close();
      await fake.close();
    }
  });

  it('refuses what a PixVerse model cannot do', () => {
    expect(refusePixverse(req, 'v5')).toBeNull();
    expect(refusePixverse({ ...req, seconds: 10 }, 'v5')).toMatchObject({ param: 'seconds' });
    expect(refusePixverse({ ...req, seconds: 10 }, 'v5.5')).toBeNull();
    expect(refusePixverse({ ...req, seconds: 8, resolution: '1080p' }, 'v5')).toMatchObject({ param: 'seconds' });
    expect(refusePixverse({ ...req, resolution: '4k' }, 'v5')).toMatchObject({ param: 'resolution' });
    expect(refusePixverse({ ...req, aspectRatio: '21:9' }, 'v5')).toMatchObject({ param: 'aspect_ratio' });
    expect(refusePixverse({ ...req, aspectRatio: '21:9' }, 'v6')).toBeNull();
    expect(refusePixverse({ ...req, audio: true }, 'v4.5')).toMatchObject({ param: 'audio' });
    expect(refusePixverse({ ...req, negativePrompt: 'blur', seed: 3 }, 'v5')).toBeNull();
    const ref = { role: 'reference' as const, kind: 'image' as const, blob: 'x', contentType: 'image/png' };
    expect(refusePixverse({ ...req, references: [ref] }, 'v5')).toMatchObject({ param: 'references' });
    expect(refusePixverse({ ...req, options: { motion_mode: 'fast' }, seconds: 8 }, 'v5')).toMatchObject({ param: 'motion_mode' });
  });

  it('reads every status number', () => {
    expect(parsePixverseVideo({ status: 5 })).toMatchObject({ state: 'running' });
    expect(parsePixverseVideo({ status: 1, url: 'https://m/x.mp4' })).toMatchObject({ state: 'succeeded', resultUrl: 'https://m/x.mp4' });
    expect(parsePixverseVideo({ status: 7 })).toMatchObject({ state: 'failed', error: { kind: 'moderation' } });
    expect(parsePixverseVideo({ status: 8 })).toMatchObject({ state: 'failed', error: { kind: 'internal' } });
    expect(parsePixverseVideo({ status: 3 })).toMatchObject({ state: 'waiting', unrecognised: true });
  });
});
