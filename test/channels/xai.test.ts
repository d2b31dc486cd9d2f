import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoRequest } from '../../src/core/video-request.js';
import { xai } from '../../src/providers/xai/index.js';
import { refuseXai } from '../../src/providers/xai/models.js';
import { parseXaiVideo } from '../../src/providers/xai/status.js';
import type { XaiFake } from '../fakes/index.js';
import { fault, promptDirectives, startXaiFake } from '../fakes/index.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const XAI_KEY = 'xai-TESTKEY0123456789abcdefghijklmnopqrstuvwxyz';

/** Grok Imagine models as the operator adds them to the catalogue (until the built-in catalogue has them). */
export const GROK_MODELS = [
  { id: 'grok-imagine-video', sizes: ['1280x720', '720x1280', '854x480', '1920x1080'], seconds: [5, 6, 10, 15], pricePerSecond: { '720p': 0.07, '1024p': 0.07, '1080p': 0.07 } },
  { id: 'grok-imagine-video-1.5', sizes: ['1280x720', '1920x1080'], seconds: [6, 10], pricePerSecond: { '720p': 0.1, '1024p': 0.1, '1080p': 0.15 } },
];
const channels = (base: string, key = XAI_KEY) => [channel('grok', 'xai', base, { api_key: key, models: ['grok-imagine-video', 'grok-imagine-video-1.5'] })];

const req: VideoRequest = { model: 'grok-imagine-video', prompt: 'a fox', seconds: 6, aspectRatio: '16:9', resolution: '720p', width: 1280, height: 720, audio: false, references: [], options: {} };

/**
 * The `xai` adapter (Grok Imagine video) end to end through both dialects against the xAI fake:
 * the request mapping, the delivered duration billed and the reported cost kept, xAI's four
 * words, its failures with their reasons, a key xAI refuses, and restarts in every phase.
 */
describe('xai adapter', () => {
  let fake: XaiFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startXaiFake({ apiKey: XAI_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    gw = await startWithChannels(channels(fake.baseURL), { models: GROK_MODELS });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('maps both dialects onto /v1/videos/generations, bills the duration xAI delivered and keeps its cost', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 720, height: 1280, channels: 3, background: '#aa5511' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'grok-imagine-video' as 'sora-2', prompt: 'a kite over dunes', seconds: '10' as '4', size: '720x1280', input_reference: await toFile(png, 'k.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'grok-imagine-video-1.5', prompt: 'a comet at dawn', duration: 6, aspect_ratio: '16:9', resolution: '1080p' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');
    const task = (await (await fetch(`${gw.url}/v1/tasks/${taskId}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { data: { status: string } };
    expect(task.data.status).toBe('completed');

    const i2v = fake.submissions.find((s) => s.body.prompt === 'a kite over dunes')!;
    const t2v = fake.submissions.find((s) => s.body.prompt === 'a comet at dawn')!;
    expect(i2v.body).toMatchObject({ model: 'grok-imagine-video', duration: 10, aspect_ratio: '9:16', resolution: '720p' });
    expect((i2v.body.image as { url: string }).url).toMatch(/^data:image\/png;base64,/);
    expect(t2v.body).toEqual({ model: 'grok-imagine-video-1.5', prompt: 'a comet at dawn', duration: 6, aspect_ratio: '16:9', resolution: '1080p' });
    expect(fake.requests.find((r) => r.seq === i2v.seq)!.fieldTypes.duration).toBe('integer');
    expect(fake.requests.find((r) => r.seq === i2v.seq)!.headers.authorization).toBe(`Bearer ${XAI_KEY}`);
    expect(fake.cdn.requests.length).toBeGreaterThanOrEqual(2);
    expect(fake.cdn.leaks()).toEqual([]);

    // The fixture video is 2 s long; xAI reports the 10 s it delivered, and billing settles on them.
    const db = new Database(path.join(gw.dataDir, 'vidgate.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT actual_seconds, cost_micros, price_micros, provider_state FROM tasks WHERE id = ?').get(a.id.slice('video_'.length)) as { actual_seconds: number; cost_micros: number; price_micros: number; provider_state: string };
      expect(row.actual_seconds).toBe(10);
      expect(row.cost_micros).toBe(10 * row.price_micros);
      // xAI's own cost (0.05 USD/s in ticks of 1e-10 USD) is kept with the task for the operator.
      expect(row.provider_state).toContain('"cost":0.5');
    } finally {
      db.close();
    }
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('passes xAI’s reasons to the client with stable codes: failed, moderated, expired, refused at submit, result URL gone', async () => {
    fake.faults.add({ route: 'submit', when: (r) => JSON.stringify(r.json).includes('refused at submit'), action: fault.error(400, { code: 'Client specified an invalid argument', message: 'Prompt rejected: it may violate our content policy.' }) });
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'grok-imagine-video', prompt: 'boom [[fake: outcome=fail code=internal_error message=The_render_node_went_away]]', seconds: '6', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'grok-imagine-video', prompt: 'held back [[fake: outcome=moderation]]', seconds: '6', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'grok-imagine-video', prompt: 'too late [[fake: outcome=expire]]', seconds: '6', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'grok-imagine-video', prompt: 'refused at submit', seconds: '6', size: '1280x720' }),
      // xAI's video URL is temporary: one already gone when fetched.
      createVideo(gw, gw.key, { model: 'grok-imagine-video', prompt: 'gone [[fake: resultTtlMs=0]]', seconds: '6', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    expect(errors[0]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[0]!.message).toContain('The render node went away');
    expect(errors[1]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[2]).toMatchObject({ code: 'upstream_expired' });
    expect(errors[3]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[3]!.message).toContain('content policy');
    // xAI does not say how long its URLs live, so the gateway cannot tell "expired" from "failed".
    expect(errors[4]!.code).toMatch(/^result_(expired|download_failed)$/);
    // Nothing of a moderated video is downloaded.
    const moderated = fake.submissions.find((s) => String(s.body.prompt).startsWith('held back'))!;
    expect(fake.job(moderated.jobId).downloads).toEqual([]);
    // apimart dialect: same reason.
    const res = await fetch(`${gw.url}/v1/tasks/${ids[0]!.replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${gw.key}` } });
    const body = (await res.json()) as { data: { status: string; error?: { message: string } } };
    expect(body.data.status).toBe('failed');
    expect(body.data.error?.message).toContain('render node');
  });

  it('refuses what the model cannot do before anything is sent', async () => {
    const before = fake.submissionCount;
    // The catalogue entry lists 1080p, but grok-imagine-video (1.0) makes at most 720p.
    const r = await createVideo(gw, gw.key, { model: 'grok-imagine-video', prompt: 'x', seconds: '6', size: '1920x1080' });
    // A 400 at create time where the gateway asks adapters then; else the task fails before any submit.
    if (r.status === 200) {
      const v = (await waitAllTerminal(gw, gw.key, [r.json.id as string], 30_000)).get(r.json.id as string)!;
      expect(v.error).toMatchObject({ code: 'upstream_invalid_request' });
      expect(v.error!.message).toContain('480p, 720p');
    } else {
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.json)).toContain('480p, 720p');
    }
    expect(fake.submissionCount).toBe(before);
  });

  it('a key xAI refuses (its 400 "Incorrect API key") takes the channel out of rotation instead of failing the task as bad input', async () => {
    const admin = 'admin-token-for-the-xai-test-000';
    const bad = await startWithChannels(channels(fake.baseURL, 'xai-wrong-key-000000000000000000000'), { models: GROK_MODELS, adminToken: admin });
    try {
      const r = await createVideo(bad, bad.key, { model: 'grok-imagine-video', prompt: 'never made', seconds: '6', size: '1280x720' });
      expect(r.status).toBe(200);
      let view: { state?: string } = {};
      for (let i = 0; i < 100 && view.state !== 'out_of_rotation'; i++) {
        await new Promise((res) => setTimeout(res, 100));
        view = (await (await fetch(`${bad.url}/admin/v1/channels/grok`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { state?: string };
      }
      expect(view.state).toBe('out_of_rotation');
      const v = await (await fetch(`${bad.url}/v1/videos/${r.json.id as string}`, { headers: { authorization: `Bearer ${bad.key}` } })).json() as { status: string; error: { code: string } | null };
      expect(v.error?.code).not.toBe('upstream_invalid_request');
      expect(fake.submissions.some((s) => s.body.prompt === 'never made')).toBe(false);
    } finally {
      await bad.close();
    }
  }, 60_000);

  it('rides out a 429 with Retry-After at submit, a 503 and a garbled status answer', async () => {
    await ridesOutFaults({ gw, fake, model: 'grok-imagine-video', body: { seconds: '6', size: '1280x720' } });
  }, 90_000);

  it('survives a restart in every phase, submits nothing twice and leaks no key', async () => {
    const f = await startXaiFake({ apiKey: XAI_KEY, script: promptDirectives({ queuedMs: 100, runMs: 800 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake: f,
        channel: { id: 'grok', type: 'xai', base_url: f.url, api_key_env: 'XAI_KEY', models: ['grok-imagine-video'] },
        models: GROK_MODELS,
        model: 'grok-imagine-video',
        body: { seconds: '6', size: '1280x720' },
        idempotent: false,
        secrets: [XAI_KEY],
        env: { XAI_KEY },
      });
    } finally {
      await f.close();
    }
  }, 240_000);
});

describe('xai adapter pieces', () => {
  it('refuses what Grok Imagine cannot do', () => {
    expect(refuseXai(req, 'grok-imagine-video')).toBeNull();
    expect(refuseXai({ ...req, seconds: 20 }, 'grok-imagine-video')).toMatchObject({ param: 'seconds' });
    expect(refuseXai({ ...req, resolution: '1080p' }, 'grok-imagine-video')).toMatchObject({ param: 'resolution' });
    expect(refuseXai({ ...req, resolution: '1080p' }, 'grok-imagine-video-1.5')).toBeNull();
    const img = { role: 'first_frame' as const, kind: 'image' as const, blob: 'x/f.png', contentType: 'image/png', width: 1280, height: 720 };
    expect(refuseXai({ ...req, resolution: '1080p', firstFrame: img }, 'grok-imagine-video-1.5')).toMatchObject({ param: 'resolution' });
    expect(refuseXai({ ...req, aspectRatio: '21:9' }, 'grok-imagine-video')).toMatchObject({ param: 'aspect_ratio' });
    expect(refuseXai({ ...req, lastFrame: { ...img, role: 'last_frame' } }, 'grok-imagine-video')).toMatchObject({ param: 'last_frame' });
    expect(refuseXai({ ...req, negativePrompt: 'blur' }, 'grok-imagine-video')).toMatchObject({ param: 'negative_prompt' });
    const ref = { ...img, role: 'reference' as const };
    expect(refuseXai({ ...req, references: [ref, ref] }, 'grok-imagine-video')).toBeNull();
    expect(refuseXai({ ...req, references: Array.from({ length: 8 }, () => ref) }, 'grok-imagine-video')).toMatchObject({ param: 'references' });
    expect(refuseXai({ ...req, firstFrame: img, references: [ref] }, 'grok-imagine-video')).toMatchObject({ param: 'references' });
    expect(refuseXai({ ...req, references: [{ ...ref, kind: 'video' }] }, 'grok-imagine-video')).toMatchObject({ param: 'references' });
    expect(refuseXai({ ...req, options: { camera: 'pan' } }, 'grok-imagine-video')).toMatchObject({ param: 'camera' });
  });

  it('reads every word: pending (with progress), done, failed, expired, unknown', () => {
    expect(parseXaiVideo({ status: 'pending' })).toMatchObject({ state: 'waiting' });
    expect(parseXaiVideo({ status: 'pending', progress: 40 })).toMatchObject({ state: 'running', progress: 40 });
    expect(parseXaiVideo({ status: 'done', video: { url: 'https://v/x.mp4', duration: 6, respect_moderation: true }, usage: { cost_in_usd_ticks: 3_000_000_000 } })).toMatchObject({
      state: 'succeeded',
      resultUrl: 'https://v/x.mp4',
      deliveredSeconds: 6,
      cost: 0.3,
    });
    expect(parseXaiVideo({ status: 'done', video: { url: 'https://v/x.mp4', respect_moderation: false } })).toMatchObject({ state: 'failed', error: { kind: 'moderation' } });
    expect(parseXaiVideo({ status: 'failed', error: { code: 'x', message: 'GPU fell over' } })).toMatchObject({ state: 'failed', error: { message: 'GPU fell over', kind: 'internal' } });
    expect(parseXaiVideo({ status: 'expired' })).toMatchObject({ state: 'expired', error: { kind: 'timeout' } });
    expect(parseXaiVideo({ status: 'DONE', video: { url: 'https://v/y.mp4' } })).toMatchObject({ state: 'succeeded' });
    expect(parseXaiVideo({ status: 'thinking' })).toMatchObject({ state: 'waiting', unrecognised: true });
  });

  it('declares no credentials beyond the API key', () => {
    expect(xai.credentials).toBeUndefined();
  });
});
