import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoRequest } from '../../src/core/video-request.js';
import { inputMapSchema, refuseByMap } from '../../src/providers/input-map.js';
import { replicate, replicateTarget } from '../../src/providers/replicate/index.js';
import { parseReplicatePrediction } from '../../src/providers/replicate/status.js';
import type { ReplicateFake, Submission } from '../fakes/index.js';
import { fault, promptDirectives, startReplicateFake } from '../fakes/index.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const REPLICATE_TOKEN = 'r8_TESTTOKEN0123456789abcdefghijklmnopqrs';

/** The public models of the test, as the operator adds them to the catalogue. */
export const REPLICATE_TEST_MODELS = [
  { id: 'hailuo-02', sizes: ['1280x720', '1920x1080'], seconds: [6, 10], pricePerSecond: { '720p': 0.045, '1024p': 0.045, '1080p': 0.08 } },
  { id: 'wan-2.5', sizes: ['1280x720', '720x1280'], seconds: [5, 10], pricePerSecond: { '720p': 0.05, '1024p': 0.05, '1080p': 0.05 } },
];
/** Where each model's inputs go (Replicate's inputs differ per model). */
const OPTIONS = {
  models: {
    'minimax/hailuo-02': { first_frame: 'first_frame_image', last_frame: 'last_frame_image', duration: 'duration', durations: [6, 10], resolution: 'resolution', resolutions: { '720p': '768p', '1080p': '1080p' }, fixed: { prompt_optimizer: false } },
    'deployments/acme/wan-prod': { duration: 'duration', durations: [5, 10], aspect_ratio: 'aspect_ratio', aspect_ratios: ['16:9', '9:16'], negative_prompt: 'negative_prompt', seed: 'seed' },
  },
};
const MODELS = [
  { model: 'hailuo-02', upstream_model: 'minimax/hailuo-02' },
  { model: 'wan-2.5', upstream_model: 'deployments/acme/wan-prod' },
];
const channels = (base: string, key = REPLICATE_TOKEN, extra: Record<string, unknown> = {}) => [channel('replicate', 'replicate', base, { api_key: key, models: MODELS, options: OPTIONS, ...extra })];
const promptOf = (s: Submission) => String((s.body.input as Record<string, unknown> | undefined)?.prompt ?? '');

const req: VideoRequest = { model: 'hailuo-02', prompt: 'a fox', seconds: 6, aspectRatio: '16:9', resolution: '720p', width: 1280, height: 720, audio: false, references: [], options: {} };

/**
 * The `replicate` adapter end to end through both dialects against the Replicate fake:
 * predictions on a model and on a deployment with per-model input mappings, signed webhooks (the
 * secret asked of Replicate) as a reason to look, failures with Replicate's reasons, outputs
 * deleted after the hour, cancel, and restarts in every phase.
 */
describe('replicate adapter', () => {
  let fake: ReplicateFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startReplicateFake({ apiKey: REPLICATE_TOKEN, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true, deployments: { 'acme/wan-prod': 'wan-video/wan-2.5-t2v' } });
    gw = await startWithChannels(channels(fake.url), { models: REPLICATE_TEST_MODELS, publicUrl: true, upstream: { callbackPollMs: 20_000 } });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('creates predictions on a model and on a deployment from both dialects; signed webhooks say when to look', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#3366aa' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'hailuo-02' as 'sora-2', prompt: 'the harbour wakes', seconds: '10' as '4', size: '1280x720', input_reference: await toFile(png, 'h.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'wan-2.5', prompt: 'a lantern festival', duration: 5, aspect_ratio: '9:16' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');

    const onModel = fake.submissions.find((s) => promptOf(s) === 'the harbour wakes')!;
    const onDeployment = fake.submissions.find((s) => promptOf(s) === 'a lantern festival')!;
    expect(fake.params.get(onModel.jobId)).toMatchObject({ via: 'model', model: 'minimax/hailuo-02' });
    expect(fake.params.get(onDeployment.jobId)).toMatchObject({ via: 'deployment', model: 'wan-video/wan-2.5-t2v' });
    const input = onModel.body.input as Record<string, unknown>;
    expect(input).toMatchObject({ prompt: 'the harbour wakes', duration: 10, resolution: '768p', prompt_optimizer: false });
    expect(input.first_frame_image as string).toMatch(/^(data:image\/png;base64,|http)/);
    expect(onDeployment.body.input).toEqual({ prompt: 'a lantern festival', duration: 5, aspect_ratio: '9:16' });
    expect(onModel.body.webhook).toMatch(/\/v1\/upstream-callbacks\//);
    expect(onModel.body.webhook_events_filter).toEqual(['start', 'completed']);
    const sent = fake.requests.find((r) => r.seq === onModel.seq)!;
    expect(sent.headers.authorization).toBe(`Bearer ${REPLICATE_TOKEN}`);
    // Signed webhooks arrived and were accepted; the secret was asked of Replicate.
    await fake.waitFor((f) => f.callbacks.some((c) => c.jobId === onModel.jobId && c.phase === 'succeeded'));
    expect(fake.callbacks.filter((c) => c.jobId === onModel.jobId).every((c) => c.status === 200)).toBe(true);
    expect(fake.requests.some((r) => r.path === '/v1/webhooks/default/secret')).toBe(true);
    expect(fake.cdn.leaks()).toEqual([]);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('refuses unsigned, wrongly signed, stale and misdirected webhooks; a genuine one only triggers a check', async () => {
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'wan-2.5', prompt: 'long one [[fake: runMs=60000]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'wan-2.5', prompt: 'another long one [[fake: runMs=60000]]', seconds: '5', size: '1280x720' }),
    ]);
    const [mine, theirs] = await Promise.all(made.map((m) => fake.waitFor((f) => f.submissions.find((s) => promptOf(s) === m.json.prompt))));
    await new Promise((r) => setTimeout(r, 500));
    const url = mine!.body.webhook as string;
    const job = fake.job(mine!.jobId);
    const calls = job.statusCalls;
    const post = (c: { body: string; headers: Record<string, string> }, drop = false) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(drop ? {} : c.headers) }, body: c.body });
    const genuine = fake.signedWebhook(job, 'succeeded');
    expect((await post(genuine, true)).status).toBe(401);
    expect((await post(fake.signedWebhook(job, 'succeeded', { secret: `whsec_${Buffer.from('not-the-secret').toString('base64')}` }))).status).toBe(401);
    expect((await post(fake.signedWebhook(job, 'succeeded', { timestamp: Math.floor(Date.now() / 1000) - 3600 }))).status).toBe(401);
    expect((await post(fake.signedWebhook(fake.job(theirs!.jobId), 'succeeded'))).status).toBe(409);
    await new Promise((r) => setTimeout(r, 300));
    expect(job.statusCalls).toBe(calls);
    expect((await post(genuine)).status).toBe(200);
    await fake.waitFor(() => job.statusCalls > calls, { timeoutMs: 10_000 });
    expect((await getVideo(gw, gw.key, made[0]!.json.id as string)).status).toBe('in_progress');
    // Cancel both (DELETE → POST /v1/predictions/{id}/cancel).
    const client = gw.openai();
    for (const m of made) await client.videos.delete(m.json.id as string);
    await fake.waitFor((f) => f.requestsFor('delete', mine!.jobId).length > 0 && f.requestsFor('delete', theirs!.jobId).length > 0);
    expect(fake.params.get(mine!.jobId)!.cancelled).toBe(true);
    expect(job.phase()).toBe('cancelled');
  });

  it('passes Replicate’s reasons on: failed, flagged, outputs deleted, a 422 at submit; refuses what a mapping cannot carry', async () => {
    fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json).includes('refused at submit'), action: fault.error(422, { body: { title: 'Input validation failed', detail: '- input.prompt: prompt is too long', status: 422, invalid_fields: [{ type: 'max_length', field: 'input.prompt', description: 'prompt is too long' }] } }) });
    const before = fake.submissionCount;
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'hailuo-02', prompt: 'boom [[fake: outcome=fail message=CUDA_out_of_memory]]', seconds: '6', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'hailuo-02', prompt: 'flagged [[fake: outcome=moderation]]', seconds: '6', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'hailuo-02', prompt: 'gone [[fake: resultTtlMs=0]]', seconds: '6', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'hailuo-02', prompt: 'refused at submit', seconds: '6', size: '1280x720' }),
    ]);
    // The wan deployment's mapping has no image field: a frame is refused before anything is sent.
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#113355' } }).png().toBuffer();
    const framed = await gw.openai().videos.create({ model: 'wan-2.5' as 'sora-2', prompt: 'no frames here', seconds: '5' as '4', size: '1280x720', input_reference: await toFile(png, 'f.png', { type: 'image/png' }) }).catch((e: unknown) => e);
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
    expect(error(1).message).toContain('flagged as sensitive');
    expect(error(2)).toMatchObject({ code: 'upstream_expired' });
    expect(error(3)).toMatchObject({ code: 'upstream_invalid_request' });
    expect(error(3).message).toContain('prompt is too long');
    const refusal = 'id' in (framed as object) ? (await waitForVideo(gw.openai(), (framed as { id: string }).id, 30_000)).error : (framed as { error?: unknown }).error;
    expect(JSON.stringify(refusal)).toMatch(/first frame/);
    expect(fake.submissions.slice(before).some((s) => promptOf(s) === 'no frames here')).toBe(false);
  });

  it('checks webhooks with the channel’s own webhook_secret, without asking Replicate for it', async () => {
    const secret = `whsec_${Buffer.from('a-channel-held-secret-0123456789').toString('base64')}`;
    const f = await startReplicateFake({ apiKey: REPLICATE_TOKEN, webhookSecret: secret, deployments: { 'acme/wan-prod': 'wan-video/wan-2.5-t2v' }, script: promptDirectives({ queuedMs: 100, runMs: 300 }), cdnRejectAuthorization: true });
    const own = await startWithChannels(channels(f.url, REPLICATE_TOKEN, { webhook_secret: secret }), { models: REPLICATE_TEST_MODELS, publicUrl: true, upstream: { callbackPollMs: 20_000 } });
    try {
      const r = await createVideo(own, own.key, { model: 'wan-2.5', prompt: 'own secret', seconds: '5', size: '1280x720' });
      expect((await waitAllTerminal(own, own.key, [r.json.id as string], 30_000)).get(r.json.id as string)!.status).toBe('completed');
      const s = f.submissions.find((x) => promptOf(x) === 'own secret')!;
      expect(f.callbacks.filter((c) => c.jobId === s.jobId).length).toBeGreaterThan(0);
      expect(f.callbacks.filter((c) => c.jobId === s.jobId).every((c) => c.status === 200)).toBe(true);
      expect(f.requests.some((x) => x.path === '/v1/webhooks/default/secret')).toBe(false);
      // The secret is sealed like the key: it appears in no answer of the admin-free API.
      expect(JSON.stringify(r.json)).not.toContain(secret);
    } finally {
      await own.close();
      await f.close();
    }
  }, 60_000);

  it('rides out a 429 with Retry-After at submit and duplicated webhooks', async () => {
    await ridesOutFaults({ gw, fake, model: 'wan-2.5', body: { seconds: '5', size: '1280x720' }, promptOf, duplicateCallbacks: true });
  }, 90_000);

  it('rides out a 503 and a garbled status answer (polling, no public URL)', async () => {
    const polled = await startWithChannels(channels(fake.url), { models: REPLICATE_TEST_MODELS });
    try {
      await ridesOutFaults({ gw: polled, fake, model: 'wan-2.5', body: { seconds: '5', size: '1280x720' }, promptOf });
    } finally {
      await polled.close();
    }
  }, 90_000);

  it('survives a restart in every phase, submits nothing twice and leaks no token', async () => {
    const f = await startReplicateFake({ apiKey: REPLICATE_TOKEN, script: promptDirectives({ queuedMs: 100, runMs: 800 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake: f,
        channel: { id: 'replicate', type: 'replicate', base_url: f.url, api_key_env: 'REPLICATE_TOKEN', models: [MODELS[0]], options: OPTIONS },
        models: REPLICATE_TEST_MODELS,
        model: 'hailuo-02',
        body: { seconds: '6', size: '1280x720' },
        idempotent: false,
        promptOf,
        secrets: [REPLICATE_TOKEN],
        env: { REPLICATE_TOKEN },
      });
    } finally {
      await f.close();
    }
  }, 240_000);
});

describe('replicate adapter pieces', () => {
  it('the fake blocks a create with Prefer: wait until the prediction ends, as Replicate does', async () => {
    const f = await startReplicateFake({ apiKey: REPLICATE_TOKEN, script: { queuedMs: 100, runMs: 300 } });
    try {
      const create = (prefer?: string) =>
        fetch(`${f.url}/v1/models/minimax/hailuo-02/predictions`, { method: 'POST', headers: { authorization: `Bearer ${REPLICATE_TOKEN}`, 'content-type': 'application/json', ...(prefer ? { prefer } : {}) }, body: JSON.stringify({ input: { prompt: 'x', duration: 6 } }) });
      expect(((await (await create()).json()) as { status: string }).status).toBe('starting');
      const waited = (await (await create('wait=5')).json()) as { status: string; output: string };
      expect(waited.status).toBe('succeeded');
      expect(waited.output).toMatch(/^http/);
      const bad = await create().then(() => fetch(`${f.url}/v1/models/minimax/hailuo-02/predictions`, { method: 'POST', headers: { authorization: `Bearer ${REPLICATE_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ input: { prompt: 'x', fps: 24 } }) }));
      expect(bad.status).toBe(422);
      expect(((await bad.json()) as { invalid_fields: { description: string }[] }).invalid_fields[0]!.description).toContain('fps');
    } finally {
      await f.close();
    }
  });

  it('finds where a prediction runs: model, deployment, version', () => {
    expect(replicateTarget('minimax/hailuo-02')).toEqual({ path: '/models/minimax/hailuo-02/predictions' });
    expect(replicateTarget('deployments/acme/wan-prod')).toEqual({ path: '/deployments/acme/wan-prod/predictions' });
    expect(replicateTarget(`acme/wan:${'c'.repeat(64)}`)).toEqual({ path: '/predictions', version: 'c'.repeat(64) });
    expect(replicateTarget('just-a-name')).toBeNull();
    expect(replicate.baseUrl!(replicate.options.parse({}))).toBe('https://api.replicate.com');
  });

  it('refuses by the mapping: lengths, ratios, tiers, fields the model does not have', () => {
    const map = inputMapSchema.parse(OPTIONS.models['minimax/hailuo-02']);
    expect(refuseByMap(req, 'minimax/hailuo-02', map)).toBeNull();
    expect(refuseByMap(req, 'x/y', undefined)).toMatchObject({ param: 'model' });
    expect(refuseByMap({ ...req, seconds: 8 }, 'minimax/hailuo-02', map)).toMatchObject({ param: 'seconds' });
    expect(refuseByMap({ ...req, resolution: '480p' }, 'minimax/hailuo-02', map)).toMatchObject({ param: 'resolution' });
    expect(refuseByMap({ ...req, seed: 3 }, 'minimax/hailuo-02', map)).toMatchObject({ param: 'seed' });
    expect(refuseByMap({ ...req, audio: true }, 'minimax/hailuo-02', map)).toMatchObject({ param: 'audio' });
    const img = { role: 'reference' as const, kind: 'image' as const, blob: 'x', contentType: 'image/png' };
    expect(refuseByMap({ ...req, references: [img] }, 'minimax/hailuo-02', map)).toMatchObject({ param: 'references' });
    expect(refuseByMap({ ...req, options: { x: 1 } }, 'minimax/hailuo-02', map)).toMatchObject({ param: 'x' });
    const wan = inputMapSchema.parse(OPTIONS.models['deployments/acme/wan-prod']);
    expect(refuseByMap({ ...req, seconds: 5, aspectRatio: '1:1' }, 'w', wan)).toMatchObject({ param: 'aspect_ratio' });
    expect(replicate.create(replicate.options.parse({ models: OPTIONS.models })).refuse!(req, 'nonsense')).toMatchObject({ param: 'model' });
  });

  it('reads every word: starting, processing with tqdm progress, succeeded (string or array), failed, canceled, aborted, data_removed, unknown', () => {
    expect(parseReplicatePrediction({ status: 'starting' })).toMatchObject({ state: 'waiting' });
    expect(parseReplicatePrediction({ status: 'processing', logs: ' 10%|█ | 1/10\n 40%|████ | 4/10' })).toMatchObject({ state: 'running', progress: 40 });
    expect(parseReplicatePrediction({ status: 'succeeded', output: 'https://r/x.mp4' })).toMatchObject({ state: 'succeeded', resultUrl: 'https://r/x.mp4' });
    expect(parseReplicatePrediction({ status: 'succeeded', output: ['https://r/y.mp4'] })).toMatchObject({ resultUrl: 'https://r/y.mp4' });
    expect(parseReplicatePrediction({ status: 'succeeded', output: { video: 'https://r/z.mp4' } })).toMatchObject({ resultUrl: 'https://r/z.mp4' });
    expect(parseReplicatePrediction({ status: 'succeeded', output: null, data_removed: true })).toMatchObject({ state: 'expired' });
    expect(parseReplicatePrediction({ status: 'failed', error: 'NSFW content detected' })).toMatchObject({ state: 'failed', error: { kind: 'moderation' } });
    expect(parseReplicatePrediction({ status: 'failed', error: 'boom' })).toMatchObject({ error: { kind: 'internal', message: 'boom' } });
    expect(parseReplicatePrediction({ status: 'canceled' })).toMatchObject({ state: 'cancelled' });
    expect(parseReplicatePrediction({ status: 'aborted' })).toMatchObject({ state: 'failed', error: { code: 'aborted', kind: 'timeout' } });
    expect(parseReplicatePrediction({ status: 'booting' })).toMatchObject({ state: 'waiting', unrecognised: true });
  });
});
