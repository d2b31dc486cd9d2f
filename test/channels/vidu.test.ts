import sharp from 'sharp';
import { toFile } from 'openai';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelHttp } from '../../src/channels/http.js';
import type { VideoRequest } from '../../src/core/video-request.js';
import { vidu } from '../../src/providers/vidu/index.js';
import { refuseVidu, viduEndpoint } from '../../src/providers/vidu/models.js';
import { parseViduTask } from '../../src/providers/vidu/status.js';
import type { UpstreamMedia } from '../../src/providers/types.js';
import type { ViduFake } from '../fakes/index.js';
import { fault, promptDirectives, startViduFake } from '../fakes/index.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const VIDU_KEY = 'vda_TESTKEY_0123456789abcdefghijklmnop';

/** Vidu models as the operator adds them to the catalogue (until the built-in catalogue has them). */
export const VIDU_MODELS = [
  { id: 'viduq2', sizes: ['1280x720', '720x1280', '1920x1080'], seconds: [5, 8], pricePerSecond: { '720p': 0.05, '1024p': 0.05, '1080p': 0.08 } },
  { id: 'vidu1.5', sizes: ['1280x720', '720x1280'], seconds: [4, 8], pricePerSecond: { '720p': 0.04, '1024p': 0.04, '1080p': 0.04 } },
];
const channels = (base: string) => [channel('vidu', 'vidu', base, { api_key: VIDU_KEY, models: ['viduq2', 'vidu1.5'] })];

const req: VideoRequest<UpstreamMedia> = { model: 'viduq2', prompt: 'a fox', seconds: 5, aspectRatio: '16:9', resolution: '720p', width: 1280, height: 720, audio: false, references: [], options: {} };

/**
 * The `vidu` adapter end to end through both dialects against the Vidu fake: the endpoint chosen
 * by what the request carries, Token auth, signed callbacks (and what is refused of them),
 * failures with Vidu's named codes, cancel, and restarts in every phase.
 */
describe('vidu adapter', () => {
  let fake: ViduFake;
  let gw: TestGateway;
  const callbackPollMs = 20_000;

  beforeAll(async () => {
    fake = await startViduFake({ apiKey: VIDU_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    gw = await startWithChannels(channels(fake.baseURL), { models: VIDU_MODELS, publicUrl: true, upstream: { callbackPollMs } });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('sends text to text2video and a frame to img2video from both dialects; Vidu’s signed callbacks say when to look', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#3366aa' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'viduq2' as 'sora-2', prompt: 'the harbour wakes', seconds: '8' as '4', size: '1280x720', input_reference: await toFile(png, 'h.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'viduq2', prompt: 'a lantern festival', duration: 5, aspect_ratio: '9:16' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');

    const i2v = fake.submissions.find((s) => s.body.prompt === 'the harbour wakes')!;
    const t2v = fake.submissions.find((s) => s.body.prompt === 'a lantern festival')!;
    expect(fake.requests.find((r) => r.seq === i2v.seq)!.path).toBe('/ent/v2/img2video');
    expect(fake.requests.find((r) => r.seq === t2v.seq)!.path).toBe('/ent/v2/text2video');
    expect(fake.requests.find((r) => r.seq === i2v.seq)!.headers.authorization).toBe(`Token ${VIDU_KEY}`);
    expect(i2v.body).toMatchObject({ model: 'viduq2', duration: 8, resolution: '720p' });
    expect(i2v.body.aspect_ratio).toBeUndefined();
    // The gateway has a public URL: the frame goes as a signed link to our copy, which serves it.
    const images = i2v.body.images as string[];
    expect(images).toHaveLength(1);
    expect(images[0]).toMatch(/\/v1\/references\//);
    expect((await fetch(images[0]!)).status).toBe(200);
    expect(t2v.body).toMatchObject({ model: 'viduq2', duration: 5, aspect_ratio: '9:16', resolution: '720p' });
    expect(t2v.body.payload).toMatch(/^vidgate-[0-9A-Z]{26}-vidu$/);
    for (const s of [i2v, t2v]) {
      expect(s.body.callback_url).toMatch(/\/v1\/upstream-callbacks\//);
      // processing, then success: both signed and accepted; one status call each sufficed.
      expect(fake.callbacks.filter((c) => c.jobId === s.jobId).map((c) => [c.phase, c.status])).toEqual([
        ['running', 200],
        ['succeeded', 200],
      ]);
      expect(fake.job(s.jobId).statusCalls).toBeLessThanOrEqual(2);
    }
    expect(fake.cdn.leaks()).toEqual([]);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('refuses unsigned, badly signed, stale and misdirected callbacks; a genuine one only triggers a check', async () => {
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'viduq2', prompt: 'long one [[fake: runMs=60000]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'viduq2', prompt: 'another long one [[fake: runMs=60000]]', seconds: '5', size: '1280x720' }),
    ]);
    const [mine, theirs] = await Promise.all(made.map((m) => fake.waitFor((f) => f.submissions.find((s) => s.body.prompt === m.json.prompt))));
    await fake.waitFor((f) => f.callbacks.some((c) => c.jobId === mine!.jobId && c.phase === 'running'), { timeoutMs: 10_000 });
    const url = mine!.body.callback_url as string;
    const job = fake.job(mine!.jobId);
    const calls = job.statusCalls;
    const post = (body: string, headers: Record<string, string>) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const genuine = fake.signedCallback(url, job, 'succeeded');
    expect((await post(genuine.body, {})).status).toBe(401);
    expect((await post(genuine.body, { ...genuine.headers, 'X-HMAC-SIGNATURE': genuine.headers['X-HMAC-SIGNATURE']!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) })).status).toBe(401);
    const wrongKey = fake.signedCallback(url, job, 'succeeded', { key: 'some-other-key' });
    expect((await post(wrongKey.body, wrongKey.headers)).status).toBe(401);
    const stale = fake.signedCallback(url, job, 'succeeded', { date: new Date(Date.now() - 3_600_000).toUTCString() });
    expect((await post(stale.body, stale.headers)).status).toBe(401);
    const other = fake.signedCallback(url, fake.job(theirs!.jobId), 'succeeded');
    expect((await post(other.body, other.headers)).status).toBe(409);
    await new Promise((r) => setTimeout(r, 300));
    expect(job.statusCalls).toBe(calls);
    // Signed by Vidu's rules and claiming success: the gateway asks Vidu, which says it is still processing.
    expect((await post(genuine.body, genuine.headers)).status).toBe(200);
    await fake.waitFor(() => job.statusCalls > calls, { timeoutMs: 10_000 });
    expect((await getVideo(gw, gw.key, made[0]!.json.id as string)).status).toBe('in_progress');
    expect(fake.cdn.requests.filter((r) => r.jobId === job.id)).toEqual([]);
  });

  it('reports Vidu’s named codes: policy violations at submit and of the output, a failed job; cancels a waiting task on delete', async () => {
    fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json).includes('refused at submit'), action: fault.error(400, { code: 'TaskPromptPolicyViolation', message: 'prompt policy violation' }) });
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'viduq2', prompt: 'refused at submit', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'viduq2', prompt: 'bad output [[fake: outcome=moderation]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'viduq2', prompt: 'broken [[fake: outcome=fail code=InternalServiceFailure]]', seconds: '5', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    expect(errors[0]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[0]!.message).toContain('prompt policy violation');
    expect(errors[1]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[1]!.message).toContain('CreationPolicyViolation');
    expect(errors[2]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[2]!.message).toContain('InternalServiceFailure');

    const client = gw.openai();
    const v = await client.videos.create({ model: 'viduq2' as 'sora-2', prompt: 'stays queued [[fake: queuedMs=60000]]', seconds: '5' as '4', size: '1280x720' });
    const s = await fake.waitFor((f) => f.submissions.find((x) => String(x.body.prompt).startsWith('stays queued')));
    await client.videos.delete(v.id);
    await fake.waitFor((f) => f.requestsFor('delete', s.jobId).length > 0);
    expect(fake.params.get(s.jobId)!.cancelled).toBe(true);
    expect(fake.job(s.jobId).phase()).toBe('cancelled');
  });

  it('rides out a 429 with Retry-After at submit and duplicated callbacks', async () => {
    await ridesOutFaults({ gw, fake, model: 'viduq2', body: { seconds: '5', size: '1280x720' }, duplicateCallbacks: true });
  }, 90_000);

  it('survives a restart in every phase, submits nothing twice and leaks no key', async () => {
    const f = await startViduFake({ apiKey: VIDU_KEY, script: promptDirectives({ queuedMs: 100, runMs: 800 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake: f,
        channel: { id: 'vidu', type: 'vidu', base_url: f.url, api_key_env: 'VIDU_KEY', models: ['viduq2'] },
        models: VIDU_MODELS,
        model: 'viduq2',
        body: { seconds: '5', size: '1280x720' },
        idempotent: false,
        secrets: [VIDU_KEY],
        env: { VIDU_KEY },
      });
    } finally {
      await f.close();
    }
  }, 240_000);
});

describe('vidu adapter pieces', () => {
  it('chooses the endpoint by what the request carries, and the fake accepts each', async () => {
    const fake = await startViduFake({ apiKey: VIDU_KEY });
    const agent = new Agent();
    try {
      const http = new ChannelHttp(
        fake.url,
        { auth: async () => ({ authorization: `Token ${VIDU_KEY}` }), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent },
        { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 },
      );
      const adapter = vidu.create({ off_peak: false });
      const png = await sharp({ create: { width: 640, height: 360, channels: 3, background: '#000000' } }).png().toBuffer();
      const img = (role: 'first_frame' | 'last_frame' | 'reference'): UpstreamMedia => ({ role, kind: 'image', blob: `x/${role}.png`, contentType: 'image/png', width: 640, height: 360, data: png });
      const cases: Array<[VideoRequest<UpstreamMedia>, string, number]> = [
        [req, 'text2video', 0],
        [{ ...req, firstFrame: img('first_frame') }, 'img2video', 1],
        [{ ...req, firstFrame: img('first_frame'), lastFrame: img('last_frame') }, 'start-end2video', 2],
        [{ ...req, references: [img('reference'), img('reference'), img('reference')], options: { movement_amplitude: 'small', bgm: true } }, 'reference2video', 3],
      ];
      for (const [r, endpoint, images] of cases) {
        expect(viduEndpoint(r)).toBe(endpoint);
        const accepted = await adapter.submit({ taskId: 'T', model: 'viduq2', request: r, idempotencyKey: `k-${endpoint}` }, http);
        expect(accepted.status).toMatchObject({ state: 'waiting', raw: 'created' });
        const sent = fake.submissions.at(-1)!;
        expect(fake.requests.find((x) => x.seq === sent.seq)!.path).toBe(`/ent/v2/${endpoint}`);
        expect(((sent.body.images as string[] | undefined) ?? []).length).toBe(images);
        if (images > 0) expect((sent.body.images as string[])[0]).toMatch(/^data:image\/png;base64,/);
        expect(sent.body.aspect_ratio === undefined).toBe(endpoint === 'img2video' || endpoint === 'start-end2video');
      }
      expect(fake.submissions.at(-1)!.body).toMatchObject({ movement_amplitude: 'small', bgm: true });
      // A wrong key: 401 Unauthorized, read as an auth failure.
      const bad = new ChannelHttp(
        fake.url,
        { auth: async () => ({ authorization: 'Token nope' }), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent },
        { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 },
      );
      const err = await adapter.submit({ taskId: 'T', model: 'viduq2', request: req, idempotencyKey: 'k' }, bad).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'http', detail: { status: 401, kind: 'auth', code: 'Unauthorized' } });
    } finally {
      await agent.close();
      await fake.close();
    }
  });

  it('refuses what a Vidu model cannot do', () => {
    expect(refuseVidu(req, 'viduq2')).toBeNull();
    expect(refuseVidu({ ...req, seconds: 12 }, 'viduq2')).toMatchObject({ param: 'seconds' });
    expect(refuseVidu({ ...req, seconds: 12 }, 'viduq3-pro')).toBeNull();
    expect(refuseVidu({ ...req, seconds: 8, resolution: '1080p' }, 'vidu1.5')).toMatchObject({ param: 'resolution' });
    expect(refuseVidu({ ...req, resolution: '480p' }, 'viduq2')).toMatchObject({ param: 'resolution' });
    expect(refuseVidu({ ...req, seconds: 4 }, 'vidu2.0')).toMatchObject({ param: 'prompt' });
    expect(refuseVidu({ ...req, aspectRatio: '4:3' }, 'viduq2')).toMatchObject({ param: 'aspect_ratio' });
    expect(refuseVidu({ ...req, audio: true }, 'viduq2')).toMatchObject({ param: 'audio' });
    expect(refuseVidu({ ...req, audio: true }, 'viduq3-pro')).toBeNull();
    expect(refuseVidu({ ...req, negativePrompt: 'x' }, 'viduq2')).toMatchObject({ param: 'negative_prompt' });
    const frame = { role: 'last_frame' as const, kind: 'image' as const, blob: 'x', contentType: 'image/png' };
    expect(refuseVidu({ ...req, lastFrame: frame }, 'viduq2')).toMatchObject({ param: 'last_frame' });
    expect(refuseVidu({ ...req, options: { movement_amplitude: 'huge' } }, 'viduq2')).toMatchObject({ param: 'movement_amplitude' });
  });

  it('reads every state word', () => {
    expect(parseViduTask({ state: 'created' }, 0)).toMatchObject({ state: 'waiting' });
    expect(parseViduTask({ state: 'queueing' }, 0)).toMatchObject({ state: 'waiting' });
    expect(parseViduTask({ state: 'processing' }, 0)).toMatchObject({ state: 'running' });
    expect(parseViduTask({ state: 'success', creations: [{ url: 'https://c/x.mp4', video: { duration: 8 } }], credits: 40 }, 0)).toMatchObject({ state: 'succeeded', resultUrl: 'https://c/x.mp4', deliveredSeconds: 8, cost: 40 });
    expect(parseViduTask({ state: 'failed', err_code: 'CreationPolicyViolation' }, 0)).toMatchObject({ state: 'failed', error: { kind: 'moderation' } });
    expect(parseViduTask({ state: 'failed', err_code: 'CreditInsufficient' }, 0)).toMatchObject({ error: { kind: 'quota' } });
    expect(parseViduTask({ state: 'dreaming' }, 0)).toMatchObject({ state: 'waiting', unrecognised: true });
  });
});
