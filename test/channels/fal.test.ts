import { generateKeyPairSync } from 'node:crypto';
import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fal, falIdOf } from '../../src/providers/fal/index.js';
import { falErrorOf, falFailureKind, falVideoOf, parseFalStatus } from '../../src/providers/fal/status.js';
import { falKeysOf, verifyFalWebhook } from '../../src/providers/fal/webhook.js';
import { CallbackRejected } from '../../src/providers/types.js';
import type { FalFake } from '../fakes/index.js';
import { fault, promptDirectives, startFalFake } from '../fakes/index.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const FAL_KEY = 'fa1c0ffee-0000-4000-8000-000000000000:0123456789abcdef0123456789abcdef';
const KLING_T2V = 'fal-ai/kling-video/v2.1/pro/text-to-video';
const KLING_I2V = 'fal-ai/kling-video/v2.1/pro/image-to-video';

/** The public models of the test, as the operator adds them to the catalogue. */
export const FAL_TEST_MODELS = [
  { id: 'kling-2.1-fal', sizes: ['1280x720', '720x1280', '720x720'], seconds: [5, 10], pricePerSecond: { '720p': 0.09, '1024p': 0.09, '1080p': 0.09 } },
  { id: 'veo-3.1-fal', sizes: ['1280x720', '1920x1080', '720x1280'], seconds: [4, 6, 8], pricePerSecond: { '720p': 0.2, '1024p': 0.2, '1080p': 0.4 } },
];
/** Where each endpoint's inputs go (fal's inputs differ per endpoint). */
const MAPPINGS = {
  [KLING_T2V]: { image_endpoint: KLING_I2V, duration: 'duration', duration_format: 'string', durations: [5, 10], aspect_ratio: 'aspect_ratio', aspect_ratios: ['16:9', '9:16', '1:1'], negative_prompt: 'negative_prompt' },
  [KLING_I2V]: { first_frame: 'image_url', last_frame: 'tail_image_url', duration: 'duration', duration_format: 'string', durations: [5, 10] },
  'fal-ai/veo3.1': { duration: 'duration', duration_format: 'seconds_suffix', durations: [4, 6, 8], aspect_ratio: 'aspect_ratio', aspect_ratios: ['16:9', '9:16'], resolution: 'resolution', resolutions: { '720p': '720p', '1080p': '1080p' }, audio: 'generate_audio', seed: 'seed' },
};
const MODELS = [
  { model: 'kling-2.1-fal', upstream_model: KLING_T2V },
  { model: 'veo-3.1-fal', upstream_model: 'fal-ai/veo3.1' },
];
const channels = (f: FalFake, key = FAL_KEY) => [channel('fal', 'fal', f.url, { api_key: key, models: MODELS, options: { models: MAPPINGS, jwks_url: f.jwksUrl } })];

/**
 * The `fal` adapter end to end through both dialects against the fal queue fake: `Key` auth,
 * per-endpoint input mappings (and the image endpoint a frame selects), the returned app-level
 * status / response / cancel URLs, the result fetched on COMPLETED, Ed25519-signed webhooks checked
 * against the JWKS, failures with fal's reasons, cancel, and restarts in every phase.
 */
describe('fal adapter', () => {
  let fake: FalFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startFalFake({ apiKey: FAL_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    gw = await startWithChannels(channels(fake), { models: FAL_TEST_MODELS, publicUrl: true, upstream: { callbackPollMs: 20_000 } });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('submits through both dialects with per-endpoint inputs, follows the returned URLs, takes signed webhooks', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 720, height: 1280, channels: 3, background: '#aa3366' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'kling-2.1-fal' as 'sora-2', prompt: 'the harbour wakes', seconds: '10' as '4', size: '720x1280', input_reference: await toFile(png, 'h.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'veo-3.1-fal', prompt: 'a lantern festival', duration: 8, aspect_ratio: '16:9', resolution: '1080p' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');

    const i2v = fake.submissions.find((s) => s.body.prompt === 'the harbour wakes')!;
    const t2v = fake.submissions.find((s) => s.body.prompt === 'a lantern festival')!;
    expect(fake.params.get(i2v.jobId)!.endpoint).toBe(KLING_I2V);
    expect(fake.params.get(t2v.jobId)!.endpoint).toBe('fal-ai/veo3.1');
    expect(i2v.body).toMatchObject({ prompt: 'the harbour wakes', duration: '10' });
    expect(i2v.body.image_url as string).toMatch(/^(data:image\/png;base64,|http)/);
    expect(t2v.body).toEqual({ prompt: 'a lantern festival', duration: '8s', aspect_ratio: '16:9', resolution: '1080p', generate_audio: false });
    const sent = fake.requests.find((r) => r.seq === i2v.seq)!;
    expect(sent.headers.authorization).toBe(`Key ${FAL_KEY}`);
    expect(sent.query.fal_webhook).toMatch(/\/v1\/upstream-callbacks\//);
    // Status and result were asked on the app-level URLs fal returned (never on the sub-path).
    const mine = fake.requests.filter((r) => r.jobId === i2v.jobId);
    expect(mine.some((r) => r.route === 'status' && r.path === `/fal-ai/kling-video/requests/${i2v.jobId}/status` && r.query.logs === '1')).toBe(true);
    expect(mine.some((r) => r.route === 'content' && r.path === `/fal-ai/kling-video/requests/${i2v.jobId}`)).toBe(true);
    expect(fake.requests.filter((r) => r.route === 'unknown')).toEqual([]);
    // The signed completion webhook was accepted, checked against the fake's JWKS.
    await fake.waitFor((f) => f.callbacks.some((c) => c.jobId === i2v.jobId));
    expect(fake.callbacks.filter((c) => c.jobId === i2v.jobId).every((c) => c.status === 200)).toBe(true);
    expect(fake.requests.some((r) => r.path === '/.well-known/jwks.json')).toBe(true);
    expect(fake.cdn.leaks()).toEqual([]);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('refuses unsigned, wrongly signed, stale and misdirected webhooks; a genuine one only triggers a check', async () => {
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'kling-2.1-fal', prompt: 'long one [[fake: runMs=60000]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'kling-2.1-fal', prompt: 'another long one [[fake: runMs=60000]]', seconds: '5', size: '1280x720' }),
    ]);
    const [mine, theirs] = await Promise.all(made.map((m) => fake.waitFor((f) => f.submissions.find((s) => s.body.prompt === m.json.prompt))));
    await new Promise((r) => setTimeout(r, 500));
    const url = fake.requests.find((r) => r.seq === mine!.seq)!.query.fal_webhook!;
    const job = fake.job(mine!.jobId);
    const calls = job.statusCalls;
    const post = (c: { body: string; headers: Record<string, string> }, drop = false) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(drop ? {} : c.headers) }, body: c.body });
    const genuine = fake.signedWebhook(job, 'succeeded');
    expect((await post(genuine, true)).status).toBe(401);
    expect((await post(fake.signedWebhook(job, 'succeeded', { key: generateKeyPairSync('ed25519').privateKey }))).status).toBe(401);
    expect((await post(fake.signedWebhook(job, 'succeeded', { timestamp: Math.floor(Date.now() / 1000) - 3600 }))).status).toBe(401);
    expect((await post({ body: genuine.body.replace('"OK"', '"ERROR"'), headers: genuine.headers })).status).toBe(401);
    expect((await post(fake.signedWebhook(fake.job(theirs!.jobId), 'succeeded'))).status).toBe(409);
    await new Promise((r) => setTimeout(r, 300));
    expect(job.statusCalls).toBe(calls);
    expect((await post(genuine)).status).toBe(200);
    await fake.waitFor(() => job.statusCalls > calls, { timeoutMs: 10_000 });
    expect((await getVideo(gw, gw.key, made[0]!.json.id as string)).status).toBe('in_progress');
    for (const m of made) await gw.openai().videos.delete(m.json.id as string);
  });

  it('cancels a queued request with PUT on its cancel_url', async () => {
    const r = await createVideo(gw, gw.key, { model: 'kling-2.1-fal', prompt: 'waits forever [[fake: queuedMs=60000]]', seconds: '5', size: '1280x720' });
    const s = await fake.waitFor((f) => f.submissions.find((x) => x.body.prompt === r.json.prompt));
    // (With webhooks the gateway does not poll: give it a moment to record the request id.)
    await new Promise((res) => setTimeout(res, 500));
    await gw.openai().videos.delete(r.json.id as string);
    await fake.waitFor((f) => f.requestsFor('delete', s!.jobId).length > 0);
    const del = fake.requestsFor('delete', s!.jobId)[0]!;
    expect(del.method).toBe('PUT');
    expect(del.path).toBe(`/fal-ai/kling-video/requests/${s!.jobId}/cancel`);
    expect(del.response?.status).toBe(202);
    expect(fake.params.get(s!.jobId)!.cancelled).toBe(true);
  });

  it('passes fal’s reasons on: failed, content policy, timed out, a 422 at submit; refuses what a mapping cannot carry', async () => {
    fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json).includes('refused at submit'), action: fault.error(422, { body: { detail: [{ loc: ['body', 'prompt'], msg: 'ensure this value has at most 2500 characters', type: 'value_error.any_str.max_length' }] } }) });
    const before = fake.submissionCount;
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'kling-2.1-fal', prompt: 'boom [[fake: outcome=fail message=CUDA_out_of_memory]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'kling-2.1-fal', prompt: 'flagged [[fake: outcome=moderation]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'kling-2.1-fal', prompt: 'too slow [[fake: outcome=expire]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'kling-2.1-fal', prompt: 'refused at submit', seconds: '5', size: '1280x720' }),
      // veo3.1 on fal: 4, 6 or 8 s only, and no 1:1.
      createVideo(gw, gw.key, { model: 'veo-3.1-fal', prompt: 'too square', seconds: '8', size: '720x720' }),
    ]);
    const ids = made.filter((m) => m.status === 200).map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const error = (i: number) => (made[i]!.status === 200 ? done.get(made[i]!.json.id as string)!.error! : (made[i]!.json.error as { code: string; message: string }));
    expect(error(0)).toMatchObject({ code: 'upstream_failed' });
    expect(error(0).message).toContain('CUDA out of memory');
    // The apimart dialect carries the same reason.
    const viaApimart = (await (await fetch(`${gw.url}/v1/tasks/${(made[0]!.json.id as string).replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { data: { status: string; error?: { message: string } } };
    expect(viaApimart.data.status).toBe('failed');
    expect(viaApimart.data.error?.message).toContain('CUDA out of memory');
    expect(error(1)).toMatchObject({ code: 'moderation_blocked' });
    expect(error(1).message).toContain('content checker');
    expect(error(2).message).toContain('timed out');
    expect(error(3)).toMatchObject({ code: 'upstream_invalid_request' });
    expect(error(3).message).toContain('at most 2500 characters');
    expect(JSON.stringify(error(4))).toMatch(/16:9, 9:16|720x720|size/);
    expect(fake.submissions.slice(before).some((s) => s.body.prompt === 'too square')).toBe(false);
  });

  it('rides out a 429 with Retry-After at submit and duplicated webhooks', async () => {
    await ridesOutFaults({ gw, fake, model: 'kling-2.1-fal', body: { seconds: '5', size: '1280x720' }, duplicateCallbacks: true });
  }, 90_000);

  it('rides out a 503 and a garbled status answer (polling, no public URL)', async () => {
    const polled = await startWithChannels(channels(fake), { models: FAL_TEST_MODELS });
    try {
      await ridesOutFaults({ gw: polled, fake, model: 'kling-2.1-fal', body: { seconds: '5', size: '1280x720' } });
    } finally {
      await polled.close();
    }
  }, 90_000);

  it('survives a restart in every phase, submits nothing twice and leaks no key', async () => {
    const f = await startFalFake({ apiKey: FAL_KEY, script: promptDirectives({ queuedMs: 100, runMs: 800 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake: f,
        channel: { id: 'fal', type: 'fal', base_url: f.url, api_key_env: 'FAL_KEY', models: [MODELS[0]], options: { models: MAPPINGS, jwks_url: f.jwksUrl } },
        models: FAL_TEST_MODELS,
        model: 'kling-2.1-fal',
        body: { seconds: '5', size: '1280x720' },
        idempotent: false,
        secrets: [FAL_KEY],
        env: { FAL_KEY },
      });
    } finally {
      await f.close();
    }
  }, 240_000);
});

describe('fal adapter pieces', () => {
  it('reads the queue words, results and error bodies', () => {
    expect(parseFalStatus({ status: 'IN_QUEUE', queue_position: 3 })).toMatchObject({ state: 'waiting' });
    expect(parseFalStatus({ status: 'IN_PROGRESS', logs: [] })).toMatchObject({ state: 'running' });
    expect(parseFalStatus({ status: 'IN_PROGRESS', logs: [{ message: 'Loading model' }, { message: 'Generating: 42%' }, { message: 'step 7' }] })).toMatchObject({ state: 'running', progress: 42 });
    expect(parseFalStatus({ status: 'COMPLETED' })).toMatchObject({ state: 'succeeded' });
    expect(parseFalStatus({ status: 'RESTARTING' })).toMatchObject({ state: 'waiting', unrecognised: true });
    expect(falVideoOf({ video: { url: 'https://v3b.fal.media/files/x.mp4', content_type: 'video/mp4' } })).toEqual({ url: 'https://v3b.fal.media/files/x.mp4' });
    expect(falErrorOf({ detail: [{ loc: ['body', 'prompt'], msg: 'flagged', type: 'content_policy_violation' }] })).toEqual({ type: 'content_policy_violation', message: 'body.prompt: flagged' });
    expect(falErrorOf({ detail: 'Request timed out', error_type: 'request_timeout' })).toEqual({ type: 'request_timeout', message: 'Request timed out' });
    expect(falFailureKind('content_policy_violation', 'x', 422)).toBe('moderation');
    expect(falFailureKind('request_timeout', 'Request timed out', 504)).toBe('timeout');
    expect(falFailureKind(undefined, 'User is locked. Reason: Exhausted balance.', 403)).toBe('quota');
    expect(falIdOf('abc#https://q/a/b/requests/abc#https://q/a/b/requests/abc/status#https://q/a/b/requests/abc/cancel')).toMatchObject({ id: 'abc', status: 'https://q/a/b/requests/abc/status' });
  });

  it('verifies Ed25519 webhook signatures against JWKS keys', async () => {
    const f = await startFalFake({ apiKey: FAL_KEY });
    try {
      const keys = falKeysOf({ keys: [{ kty: 'RSA', n: 'x', e: 'AQAB' }, { ...f.jwk }] });
      expect(keys).toHaveLength(1);
      // A job of the fake to sign for.
      const res = await fetch(`${f.url}/fal-ai/veo3.1`, { method: 'POST', headers: { authorization: `Key ${FAL_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x' }) });
      const id = ((await res.json()) as { request_id: string }).request_id;
      const w = f.signedWebhook(f.job(id), 'succeeded');
      expect(verifyFalWebhook(w.headers, Buffer.from(w.body), keys, Date.now())).toEqual({ requestId: id });
      expect(() => verifyFalWebhook(w.headers, Buffer.from(`${w.body} `), keys, Date.now())).toThrow(CallbackRejected);
      expect(() => verifyFalWebhook(w.headers, Buffer.from(w.body), keys, Date.now() + 600_000)).toThrow(CallbackRejected);
      expect(() => verifyFalWebhook(w.headers, Buffer.from(w.body), [], Date.now())).toThrow(CallbackRejected);
    } finally {
      await f.close();
    }
  });

  it('declares no credentials beyond the API key and authenticates with Key, not Bearer', () => {
    expect(fal.credentials).toBeUndefined();
    expect(fal.baseUrl!(fal.options.parse({}))).toBe('https://queue.fal.run');
    const a = fal.create(fal.options.parse({}));
    // An image endpoint needs its own mapping: caught when the channel is configured.
    const bad = fal.options.safeParse({ models: { [KLING_T2V]: { image_endpoint: KLING_I2V } } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('image_endpoint');
    expect(fal.options.safeParse({ models: MAPPINGS }).success).toBe(true);
    expect(a.auth({ credentials: { apiKey: 'k' }, tokens: undefined as never, http: undefined as never })).toEqual({ authorization: 'Key k' });
  });
});
