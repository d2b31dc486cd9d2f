import { createHmac } from 'node:crypto';
import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoRequest } from '../../src/core/video-request.js';
import { openrouter, refuseOpenrouter, verifyOpenrouterSignature } from '../../src/providers/openrouter/index.js';
import { parseOpenrouterJob } from '../../src/providers/openrouter/status.js';
import { CallbackRejected } from '../../src/providers/types.js';
import type { OpenrouterFake } from '../fakes/index.js';
import { fault, promptDirectives, startOpenrouterFake } from '../fakes/index.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const OR_KEY = 'sk-or-v1-TESTKEY0123456789abcdef0123456789abcdef';
const WEBHOOK_SECRET = 'or-webhook-signing-secret-0123456789';

/** Models as the operator adds them to the catalogue (until the built-in catalogue has them). */
export const OPENROUTER_MODELS = [
  { id: 'veo-3.1', sizes: ['1280x720', '720x1280', '1920x1080'], seconds: [4, 6, 8], pricePerSecond: { '720p': 0.4, '1024p': 0.4, '1080p': 0.5 } },
  { id: 'wan-2.6', sizes: ['1280x720', '720x1280'], seconds: [5, 10, 15], pricePerSecond: { '720p': 0.05, '1024p': 0.05, '1080p': 0.05 } },
];
const MODELS = [
  { model: 'veo-3.1', upstream_model: 'google/veo-3.1' },
  { model: 'wan-2.6', upstream_model: 'alibaba/wan-2.6' },
];
const OPTIONS = { models: { 'alibaba/wan-2.6': { durations: [5, 10], resolutions: ['720p', '1080p'], aspect_ratios: ['16:9', '9:16', '1:1'], frame_images: ['first_frame'] } } };

const req: VideoRequest = { model: 'veo-3.1', prompt: 'a fox', seconds: 8, aspectRatio: '16:9', resolution: '720p', width: 1280, height: 720, audio: false, references: [], options: {} };

/**
 * The `openrouter` adapter end to end through both dialects against the OpenRouter fake: the
 * submit mapping, following `polling_url`, content downloaded with the key from OpenRouter's own
 * origin, signed callbacks (and what is refused of them), failures with their reasons, declared
 * model capabilities refused before sending, and restarts in every phase.
 */
describe('openrouter adapter', () => {
  let fake: OpenrouterFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startOpenrouterFake({ apiKey: OR_KEY, webhookSecret: WEBHOOK_SECRET, pollingPath: (id) => `/api/v1/videos/${id}/status`, script: promptDirectives({ queuedMs: 100, runMs: 500 }) });
    gw = await startWithChannels(
      [channel('openrouter', 'openrouter', fake.baseURL, { api_key: OR_KEY, webhook_secret: WEBHOOK_SECRET, models: MODELS, options: OPTIONS })],
      { models: OPENROUTER_MODELS, publicUrl: true, upstream: { callbackPollMs: 20_000 } },
    );
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('maps both dialects onto /api/v1/videos, follows polling_url, downloads the content with the key, and takes signed callbacks', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#884422' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'veo-3.1' as 'sora-2', prompt: 'a tram in the rain', seconds: '6' as '4', size: '1280x720', input_reference: await toFile(png, 't.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'wan-2.6', prompt: 'paper boats on a pond', duration: 10, aspect_ratio: '9:16' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');

    const i2v = fake.submissions.find((s) => s.body.prompt === 'a tram in the rain')!;
    const t2v = fake.submissions.find((s) => s.body.prompt === 'paper boats on a pond')!;
    expect(i2v.body).toMatchObject({ model: 'google/veo-3.1', duration: 6, resolution: '720p', aspect_ratio: '16:9', generate_audio: false });
    const frames = i2v.body.frame_images as Array<{ type: string; image_url: { url: string }; frame_type: string }>;
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ type: 'image_url', frame_type: 'first_frame' });
    expect(frames[0]!.image_url.url).toMatch(/\/v1\/references\//);
    expect(t2v.body).toMatchObject({ model: 'alibaba/wan-2.6', duration: 10, aspect_ratio: '9:16' });
    for (const s of [i2v, t2v]) {
      expect(s.body.callback_url).toMatch(/\/v1\/upstream-callbacks\//);
      // The status calls went to the polling_url OpenRouter gave (not a hand-built path).
      expect(fake.requestsFor('status', s.jobId).every((r) => r.path === `/api/v1/videos/${s.jobId}/status`)).toBe(true);
      // One signed callback on completion, accepted; it made the one status call needed.
      expect(fake.callbacks.filter((c) => c.jobId === s.jobId).map((c) => [c.phase, c.status])).toEqual([['succeeded', 200]]);
      expect(fake.job(s.jobId).statusCalls).toBeLessThanOrEqual(2);
      // The content endpoint needs the key, and got it.
      const downloads = fake.requestsFor('content', s.jobId);
      expect(downloads.length).toBeGreaterThanOrEqual(1);
      expect(downloads.every((r) => r.headers.authorization === `Bearer ${OR_KEY}`)).toBe(true);
      expect(fake.job(s.jobId).downloads.some((d) => d.complete && d.status === 200)).toBe(true);
    }
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('refuses unsigned, wrongly signed, stale and misdirected callbacks; a genuine one only triggers a check', async () => {
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'veo-3.1', prompt: 'long one [[fake: runMs=60000]]', seconds: '8', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'veo-3.1', prompt: 'another long one [[fake: runMs=60000]]', seconds: '8', size: '1280x720' }),
    ]);
    const [mine, theirs] = await Promise.all(made.map((m) => fake.waitFor((f) => f.submissions.find((s) => s.body.prompt === m.json.prompt))));
    // OpenRouter calls back only on the end state; until then the gateway makes no status call.
    await new Promise((r) => setTimeout(r, 500));
    const url = mine!.body.callback_url as string;
    const job = fake.job(mine!.jobId);
    const calls = job.statusCalls;
    const post = (c: { body: string; headers: Record<string, string> }, drop = false) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(drop ? {} : c.headers) }, body: c.body });
    const genuine = fake.signedCallback(job, 'succeeded');
    expect((await post(genuine, true)).status).toBe(401);
    expect((await post(fake.signedCallback(job, 'succeeded', { secret: 'not-the-secret' }))).status).toBe(401);
    expect((await post(fake.signedCallback(job, 'succeeded', { t: Math.floor(Date.now() / 1000) - 3600 }))).status).toBe(401);
    expect((await post(fake.signedCallback(fake.job(theirs!.jobId), 'succeeded'))).status).toBe(409);
    await new Promise((r) => setTimeout(r, 300));
    expect(job.statusCalls).toBe(calls);
    expect((await post(genuine)).status).toBe(200);
    await fake.waitFor(() => job.statusCalls > calls, { timeoutMs: 10_000 });
    expect((await getVideo(gw, gw.key, made[0]!.json.id as string)).status).toBe('in_progress');
    expect(fake.requestsFor('content', job.id)).toEqual([]);
  });

  it('passes OpenRouter’s reasons on: failed, flagged, expired, refused at submit; refuses what a declared model cannot do', async () => {
    fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json).includes('refused at submit'), action: fault.error(400, { message: 'duration 8 is not supported for this provider route' }) });
    const before = fake.submissionCount;
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'veo-3.1', prompt: 'boom [[fake: outcome=fail message=Provider_returned_an_empty_video]]', seconds: '8', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'veo-3.1', prompt: 'flagged [[fake: outcome=moderation]]', seconds: '8', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'veo-3.1', prompt: 'too late [[fake: outcome=expire]]', seconds: '8', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'veo-3.1', prompt: 'refused at submit', seconds: '8', size: '1280x720' }),
      // The channel declares alibaba/wan-2.6 makes 5 or 10 s: 15 s is refused before anything is sent.
      createVideo(gw, gw.key, { model: 'wan-2.6', prompt: 'too long for wan', seconds: '15', size: '1280x720' }),
    ]);
    const ids = made.filter((m) => m.status === 200).map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const error = (i: number) => (made[i]!.status === 200 ? done.get(made[i]!.json.id as string)!.error! : (made[i]!.json.error as { code: string; message: string }));
    expect(error(0)).toMatchObject({ code: 'upstream_failed' });
    expect(error(0).message).toContain('Provider returned an empty video');
    expect(error(1)).toMatchObject({ code: 'moderation_blocked' });
    expect(error(2)).toMatchObject({ code: 'upstream_expired' });
    expect(error(3)).toMatchObject({ code: 'upstream_invalid_request' });
    expect(error(3).message).toContain('not supported for this provider route');
    expect(error(4).message).toContain('5, 10 seconds');
    expect(fake.submissions.slice(before).some((s) => s.body.prompt === 'too long for wan')).toBe(false);
  });

  it('rides out a 429 with Retry-After at submit and duplicated callbacks', async () => {
    await ridesOutFaults({ gw, fake, model: 'veo-3.1', body: { seconds: '8', size: '1280x720' }, duplicateCallbacks: true });
  }, 90_000);

  it('survives a restart in every phase, submits nothing twice and leaks no key', async () => {
    const f = await startOpenrouterFake({ apiKey: OR_KEY, script: promptDirectives({ queuedMs: 100, runMs: 800 }) });
    try {
      await restartInEveryPhase({
        fake: f,
        channel: { id: 'openrouter', type: 'openrouter', base_url: f.url, api_key_env: 'OR_KEY', webhook_secret_env: 'OR_WEBHOOK', models: MODELS },
        models: OPENROUTER_MODELS,
        model: 'veo-3.1',
        body: { seconds: '8', size: '1280x720' },
        idempotent: false,
        downloadRoute: 'content',
        secrets: [OR_KEY, WEBHOOK_SECRET],
        env: { OR_KEY, OR_WEBHOOK: WEBHOOK_SECRET },
      });
    } finally {
      await f.close();
    }
  }, 240_000);
});

describe('openrouter adapter pieces', () => {
  it('refuses what the channel declares a model cannot do, and what OpenRouter takes from no model', () => {
    const caps = OPTIONS.models['alibaba/wan-2.6'] as Parameters<typeof refuseOpenrouter>[2];
    expect(refuseOpenrouter(req, 'google/veo-3.1', undefined)).toBeNull();
    expect(refuseOpenrouter({ ...req, negativePrompt: 'x' }, 'google/veo-3.1', undefined)).toMatchObject({ param: 'negative_prompt' });
    expect(refuseOpenrouter({ ...req, options: { foo: 1 } }, 'google/veo-3.1', undefined)).toMatchObject({ param: 'foo' });
    expect(refuseOpenrouter({ ...req, seconds: 15 }, 'alibaba/wan-2.6', caps)).toMatchObject({ param: 'seconds' });
    expect(refuseOpenrouter({ ...req, seconds: 5, aspectRatio: '4:3' }, 'alibaba/wan-2.6', caps)).toMatchObject({ param: 'aspect_ratio' });
    const frame = { role: 'last_frame' as const, kind: 'image' as const, blob: 'x', contentType: 'image/png' };
    expect(refuseOpenrouter({ ...req, seconds: 5, firstFrame: { ...frame, role: 'first_frame' }, lastFrame: frame }, 'alibaba/wan-2.6', caps)).toMatchObject({ param: 'last_frame' });
    expect(refuseOpenrouter({ ...req, lastFrame: frame }, 'google/veo-3.1', undefined)).toMatchObject({ param: 'last_frame' });
  });

  it('verifies X-OpenRouter-Signature over "{t},{body}"', () => {
    const body = Buffer.from('{"type":"video.generation.completed","data":{"id":"job-1"}}');
    const now = Date.now();
    const t = String(Math.floor(now / 1000));
    const sig = createHmac('sha256', 's3cret').update(`${t},${body.toString()}`).digest('hex');
    expect(() => verifyOpenrouterSignature('s3cret', `t=${t},v1=${sig}`, body, now)).not.toThrow();
    expect(() => verifyOpenrouterSignature('s3cret', `t=${t},v1=${sig.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))}`, body, now)).toThrow(CallbackRejected);
    expect(() => verifyOpenrouterSignature('s3cret', undefined, body, now)).toThrow(CallbackRejected);
    expect(() => verifyOpenrouterSignature('s3cret', `t=${Number(t) - 1000},v1=${sig}`, body, now)).toThrow(CallbackRejected);
  });

  it('reads every word', () => {
    expect(parseOpenrouterJob({ status: 'pending' })).toMatchObject({ state: 'waiting' });
    expect(parseOpenrouterJob({ status: 'in_progress', progress: 30 })).toMatchObject({ state: 'running', progress: 30 });
    expect(parseOpenrouterJob({ status: 'completed', unsigned_urls: ['https://openrouter.ai/api/v1/videos/j/content?index=0'], usage: { cost: 3.2 } })).toMatchObject({ state: 'succeeded', cost: 3.2 });
    expect(parseOpenrouterJob({ status: 'failed', error: 'flagged by content policy' })).toMatchObject({ state: 'failed', error: { kind: 'moderation' } });
    expect(parseOpenrouterJob({ status: 'cancelled' })).toMatchObject({ state: 'cancelled' });
    expect(parseOpenrouterJob({ status: 'expired' })).toMatchObject({ state: 'expired', error: { kind: 'timeout' } });
    expect(parseOpenrouterJob({ status: 'rendering' })).toMatchObject({ state: 'waiting', unrecognised: true });
    expect(openrouter.credentials?.map((c) => c.name)).toEqual(['webhook_secret']);
  });
});
