import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoRequest } from '../../src/core/video-request.js';
import { runway } from '../../src/providers/runway/index.js';
import { refuseRunway, runwayRatio, RUNWAY_MODELS } from '../../src/providers/runway/models.js';
import { parseRunwayTask } from '../../src/providers/runway/status.js';
import type { RunwayFake, Submission } from '../fakes/index.js';
import { fault, promptDirectives, startRunwayFake } from '../fakes/index.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const RUNWAY_KEY = 'key_TESTRUNWAY0123456789abcdef0123456789abcdef0123456789abcdef';

/**
 * `gen4.5` and Veo 3.1 are in the built-in catalogue (Veo by its Google id; `veo3.1` is an alias
 * of it, and Runway's own id for it upstream); `gen4_turbo` is added as an operator would.
 */
export const RUNWAY_TEST_MODELS = [
  { id: 'gen4_turbo', sizes: ['1280x720', '720x1280'], seconds: [5, 10], pricePerSecond: { '720p': 0.05, '1024p': 0.05, '1080p': 0.05 } },
];
const MODELS = [{ model: 'gen4.5' }, { model: 'gen4_turbo' }, { model: 'veo-3.1-generate-001', upstream_model: 'veo3.1' }];
const channels = (base: string, key = RUNWAY_KEY) => [channel('runway', 'runway', base, { api_key: key, models: MODELS })];
const promptOf = (s: Submission) => String(s.body.promptText ?? '');

const req: VideoRequest = { model: 'gen4.5', prompt: 'a fox', seconds: 5, aspectRatio: '16:9', resolution: '720p', width: 1280, height: 720, audio: false, references: [], options: {} };

/**
 * The `runway` adapter end to end through both dialects against the Runway fake: the version
 * header, camelCase bodies with pixel-pair ratios, the endpoint chosen by the frame, Runway's
 * failure codes as reasons, cancel by DELETE, hosted Veo by its Runway id, restarts in every phase.
 */
describe('runway adapter', () => {
  let fake: RunwayFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startRunwayFake({ apiKey: RUNWAY_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    gw = await startWithChannels(channels(fake.url), { models: RUNWAY_TEST_MODELS });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('maps both dialects onto text_to_video / image_to_video with the version header; hosted Veo by its Runway id', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 720, height: 1280, channels: 3, background: '#aa5511' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'gen4_turbo' as 'sora-2', prompt: 'a kite over dunes', seconds: '10' as '4', size: '720x1280', input_reference: await toFile(png, 'k.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'veo3.1', prompt: 'a comet at dawn', duration: 8, aspect_ratio: '16:9', resolution: '1080p' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');
    const task = (await (await fetch(`${gw.url}/v1/tasks/${taskId}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { data: { status: string } };
    expect(task.data.status).toBe('completed');

    const i2v = fake.submissions.find((s) => promptOf(s) === 'a kite over dunes')!;
    const t2v = fake.submissions.find((s) => promptOf(s) === 'a comet at dawn')!;
    expect(fake.params.get(i2v.jobId)!.endpoint).toBe('image_to_video');
    expect(fake.params.get(t2v.jobId)!.endpoint).toBe('text_to_video');
    expect(i2v.body).toMatchObject({ model: 'gen4_turbo', duration: 10, ratio: '720:1280' });
    expect(i2v.body.promptImage as string).toMatch(/^data:image\/png;base64,/);
    // No generate_audio asked: the model's default (the catalogue's Veo 3.1: sound on), as quoted.
    expect(t2v.body).toEqual({ model: 'veo3.1', promptText: 'a comet at dawn', ratio: '1920:1080', duration: 8, audio: true });
    const sent = fake.requests.find((r) => r.seq === i2v.seq)!;
    expect(sent.fieldTypes.duration).toBe('integer');
    expect(sent.headers.authorization).toBe(`Bearer ${RUNWAY_KEY}`);
    expect(sent.headers['x-runway-version']).toBe('2024-11-06');
    // Every request carried the version header (the fake refuses those without it).
    expect(fake.requests.filter((r) => r.route !== 'unknown').every((r) => r.headers['x-runway-version'] === '2024-11-06')).toBe(true);
    // A job held in the queue is PENDING, then THROTTLED (over concurrency), then RUNNING.
    const slow = await createVideo(gw, gw.key, { model: 'gen4.5', prompt: 'crowded [[fake: queuedPolls=3 runMs=600]]', seconds: '5', size: '1280x720' });
    expect((await waitAllTerminal(gw, gw.key, [slow.json.id as string], 30_000)).get(slow.json.id as string)!.status).toBe('completed');
    const words = fake.params.get(fake.submissions.find((s) => promptOf(s).startsWith('crowded'))!.jobId)!.words;
    expect(words.slice(0, 2)).toEqual(['PENDING', 'THROTTLED']);
    expect(words).toContain('SUCCEEDED');
    expect(fake.cdn.requests.length).toBeGreaterThanOrEqual(2);
    expect(fake.cdn.leaks()).toEqual([]);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('passes Runway’s failure codes and reasons to the client; a bad request and the daily cap at submit', async () => {
    fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json).includes('refused at submit'), action: fault.error(400, { message: 'promptText: flagged by input moderation (SAFETY.INPUT.TEXT)' }) });
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'gen4.5', prompt: 'boom [[fake: outcome=fail code=INTERNAL.BAD_OUTPUT.CODE01 message=The_render_node_went_away]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'gen4.5', prompt: 'held back [[fake: outcome=moderation]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'gen4.5', prompt: 'bad text [[fake: outcome=fail code=SAFETY.INPUT.TEXT message=Prompt_flagged]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'gen4.5', prompt: 'refused at submit', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'gen4.5', prompt: 'gone [[fake: resultTtlMs=0]]', seconds: '5', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    expect(errors[0]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[0]!.message).toContain('The render node went away');
    expect(errors[1]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[2]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[2]!.message).toContain('Prompt flagged');
    expect(errors[3]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[4]!.code).toMatch(/^result_(expired|download_failed)$/);
    const moderated = fake.submissions.find((s) => promptOf(s).startsWith('held back'))!;
    expect(fake.job(moderated.jobId).downloads).toEqual([]);
    const res = await fetch(`${gw.url}/v1/tasks/${ids[0]!.replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${gw.key}` } });
    const body = (await res.json()) as { data: { status: string; error?: { message: string } } };
    expect(body.data.status).toBe('failed');
    expect(body.data.error?.message).toContain('render node');
  });

  it('cancels a running task with DELETE /v1/tasks/{id}', async () => {
    const client = gw.openai();
    const r = await createVideo(gw, gw.key, { model: 'gen4.5', prompt: 'a long one [[fake: runMs=20000]]', seconds: '5', size: '1280x720' });
    expect(r.status).toBe(200);
    const s = await fake.waitFor((f) => f.submissions.find((x) => promptOf(x).startsWith('a long one')));
    await fake.waitForJob(s.jobId);
    await client.videos.delete(r.json.id as string);
    await fake.waitFor((f) => f.requestsFor('delete', s.jobId).length > 0);
    expect(fake.requestsFor('delete', s.jobId)[0]!.response?.status).toBe(204);
    expect(fake.params.get(s.jobId)!.cancelled).toBe(true);
    expect(fake.job(s.jobId).phase()).toBe('cancelled');
  });

  it('refuses what the model cannot do before anything is sent', async () => {
    const before = fake.submissionCount;
    // gen4_turbo makes videos from an image only.
    const refused = async (body: Record<string, unknown>, says: string) => {
      const r = await createVideo(gw, gw.key, body);
      // A 400 at create time where the gateway asks adapters then; else the task fails before any submit.
      if (r.status === 200) {
        const v = (await waitAllTerminal(gw, gw.key, [r.json.id as string], 30_000)).get(r.json.id as string)!;
        expect(v.error, `${JSON.stringify(body)}: ${JSON.stringify(v)}`).toMatchObject({ code: 'upstream_invalid_request' });
        expect(v.error!.message).toContain(says);
      } else {
        expect(r.status).toBe(400);
        expect(JSON.stringify(r.json)).toContain(says);
      }
    };
    await refused({ model: 'gen4_turbo', prompt: 'no frame', seconds: '5', size: '1280x720' }, 'first frame');
    expect(fake.submissionCount).toBe(before);
  });

  it('an API key Runway refuses takes the channel out of rotation', async () => {
    const admin = 'admin-token-for-the-runway-test-0';
    const bad = await startWithChannels(channels(fake.url, 'key_wrong000000000000000000000000'), { models: RUNWAY_TEST_MODELS, adminToken: admin });
    try {
      const r = await createVideo(bad, bad.key, { model: 'gen4.5', prompt: 'never made', seconds: '5', size: '1280x720' });
      expect(r.status).toBe(200);
      let view: { state?: string } = {};
      for (let i = 0; i < 100 && view.state !== 'out_of_rotation'; i++) {
        await new Promise((res) => setTimeout(res, 100));
        view = (await (await fetch(`${bad.url}/admin/v1/channels/runway`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { state?: string };
      }
      expect(view.state).toBe('out_of_rotation');
      expect(fake.submissions.some((s) => promptOf(s) === 'never made')).toBe(false);
    } finally {
      await bad.close();
    }
  }, 60_000);

  it('rides out a 429 with Retry-After at submit, a 503 and a garbled status answer', async () => {
    await ridesOutFaults({ gw, fake, model: 'gen4.5', body: { seconds: '5', size: '1280x720' }, promptOf });
  }, 90_000);

  it('survives a restart in every phase, submits nothing twice and leaks no key', async () => {
    const f = await startRunwayFake({ apiKey: RUNWAY_KEY, script: promptDirectives({ queuedMs: 100, runMs: 800 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake: f,
        channel: { id: 'runway', type: 'runway', base_url: f.url, api_key_env: 'RUNWAY_KEY', models: ['gen4.5'] },
        models: RUNWAY_TEST_MODELS,
        model: 'gen4.5',
        body: { seconds: '5', size: '1280x720' },
        idempotent: false,
        promptOf,
        secrets: [RUNWAY_KEY],
        env: { RUNWAY_KEY },
      });
    } finally {
      await f.close();
    }
  }, 240_000);
});

describe('runway adapter pieces', () => {
  it('refuses what each model cannot do and picks pixel-pair ratios', () => {
    expect(refuseRunway(req, 'gen4.5')).toBeNull();
    expect(refuseRunway(req, 'gen9')).toMatchObject({ param: 'model' });
    expect(refuseRunway({ ...req, seconds: 12 }, 'gen4.5')).toMatchObject({ param: 'seconds' });
    expect(refuseRunway({ ...req, seconds: 5 }, 'veo3.1')).toMatchObject({ param: 'seconds' });
    expect(refuseRunway({ ...req, resolution: '1080p', width: 1920, height: 1080 }, 'gen4.5')).toMatchObject({ param: 'resolution' });
    expect(refuseRunway({ ...req, seconds: 8, aspectRatio: '4:3' }, 'veo3.1')).toMatchObject({ param: 'aspect_ratio' });
    expect(refuseRunway({ ...req, seconds: 8, resolution: '4k', width: 3840, height: 2160 }, 'veo3.1')).toMatchObject({ param: 'resolution' });
    expect(refuseRunway(req, 'gen4_turbo')).toMatchObject({ param: 'first_frame' });
    const img = { role: 'first_frame' as const, kind: 'image' as const, blob: 'x/f.png', contentType: 'image/png', width: 1280, height: 720 };
    expect(refuseRunway({ ...req, firstFrame: img }, 'gen4_turbo')).toBeNull();
    expect(refuseRunway({ ...req, firstFrame: img, lastFrame: { ...img, role: 'last_frame' } }, 'gen4.5')).toMatchObject({ param: 'last_frame' });
    expect(refuseRunway({ ...req, seconds: 8, firstFrame: img, lastFrame: { ...img, role: 'last_frame' } }, 'veo3.1')).toBeNull();
    expect(refuseRunway({ ...req, audio: true }, 'gen4.5')).toMatchObject({ param: 'audio' });
    expect(refuseRunway({ ...req, seconds: 8, audio: true }, 'veo3.1')).toBeNull();
    expect(refuseRunway({ ...req, seed: 7 }, 'gen4.5')).toBeNull();
    expect(refuseRunway({ ...req, seconds: 8, seed: 7 }, 'veo3.1')).toMatchObject({ param: 'seed' });
    expect(refuseRunway({ ...req, negativePrompt: 'blur' }, 'gen4.5')).toMatchObject({ param: 'negative_prompt' });
    expect(refuseRunway({ ...req, options: { content_moderation: 'low' } }, 'gen4.5')).toBeNull();
    expect(refuseRunway({ ...req, options: { content_moderation: { publicFigureThreshold: 'auto' } } }, 'gen4.5')).toBeNull();
    expect(refuseRunway({ ...req, options: { content_moderation: 'off' } }, 'gen4.5')).toMatchObject({ param: 'content_moderation' });
    expect(refuseRunway({ ...req, options: { camera: 'pan' } }, 'gen4.5')).toMatchObject({ param: 'camera' });
    expect(runwayRatio(RUNWAY_MODELS['gen4.5']!, { aspectRatio: '21:9', resolution: '720p', width: 1584, height: 672 })).toBe('1584:672');
    expect(runwayRatio(RUNWAY_MODELS['veo3.1']!, { aspectRatio: '9:16', resolution: 'high', width: 1080, height: 1920 })).toBe('1080:1920');
    expect(runwayRatio(RUNWAY_MODELS['gen4.5']!, { aspectRatio: 'adaptive', resolution: '720p', width: 960, height: 960 })).toBe('960:960');
  });

  it('reads every word: PENDING, THROTTLED, RUNNING with a share, SUCCEEDED, FAILED with its code, CANCELLED, unknown', () => {
    expect(parseRunwayTask({ status: 'PENDING' })).toMatchObject({ state: 'waiting' });
    expect(parseRunwayTask({ status: 'THROTTLED' })).toMatchObject({ state: 'waiting' });
    expect(parseRunwayTask({ status: 'RUNNING', progress: 0.42 })).toMatchObject({ state: 'running', progress: 42 });
    expect(parseRunwayTask({ status: 'SUCCEEDED', output: ['https://cdn/x.mp4'] })).toMatchObject({ state: 'succeeded', resultUrl: 'https://cdn/x.mp4' });
    expect(parseRunwayTask({ status: 'FAILED', failure: 'flagged', failureCode: 'SAFETY.OUTPUT.VIDEO' })).toMatchObject({ state: 'failed', error: { code: 'SAFETY.OUTPUT.VIDEO', kind: 'moderation' } });
    expect(parseRunwayTask({ status: 'FAILED', failure: 'bad image', failureCode: 'INPUT_PREPROCESSING.CORRUPT' })).toMatchObject({ error: { kind: 'invalid' } });
    expect(parseRunwayTask({ status: 'FAILED', failure: 'oops', failureCode: 'INTERNAL.BAD_OUTPUT.CODE01' })).toMatchObject({ error: { kind: 'internal' } });
    expect(parseRunwayTask({ status: 'CANCELLED' })).toMatchObject({ state: 'cancelled' });
    expect(parseRunwayTask({ status: 'DREAMING' })).toMatchObject({ state: 'waiting', unrecognised: true });
  });

  it('the fake refuses a request without X-Runway-Version or with another date, as Runway does', async () => {
    const f = await startRunwayFake({ apiKey: RUNWAY_KEY });
    try {
      const body = JSON.stringify({ model: 'gen4.5', promptText: 'x', ratio: '1280:720', duration: 5 });
      const send = (headers: Record<string, string>) => fetch(`${f.url}/v1/text_to_video`, { method: 'POST', headers: { authorization: `Bearer ${RUNWAY_KEY}`, 'content-type': 'application/json', ...headers }, body });
      const none = await send({});
      expect(none.status).toBe(400);
      expect(((await none.json()) as { error: string }).error).toContain('X-Runway-Version');
      expect((await send({ 'x-runway-version': '2023-01-01' })).status).toBe(400);
      expect((await send({ 'x-runway-version': '2024-11-06' })).status).toBe(200);
      expect(f.submissionCount).toBe(1);
    } finally {
      await f.close();
    }
  });

  it('declares no credentials beyond the API key and sends the version header with it', () => {
    expect(runway.credentials).toBeUndefined();
    expect(runway.baseUrl!({})).toBe('https://api.dev.runwayml.com');
    const a = runway.create({});
    const h = a.auth({ credentials: { apiKey: 'k' }, tokens: undefined as never, http: undefined as never }) as Record<string, string>;
    expect(h).toMatchObject({ authorization: 'Bearer k', 'x-runway-version': '2024-11-06' });
  });
});
