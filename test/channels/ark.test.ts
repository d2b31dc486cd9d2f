import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ark } from '../../src/providers/ark/index.js';
import { refuseArk } from '../../src/providers/ark/models.js';
import type { VideoRequest } from '../../src/core/video-request.js';
import type { ArkFake } from '../fakes/index.js';
import { fault, promptDirectives, startArkFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const ARK_KEY = 'ark-api-key-0123456789abcdef';

/** Seedance models as the operator adds them to the catalogue (until the built-in catalogue has them). */
export const SEEDANCE_MODELS = [
  { id: 'seedance-2-0', sizes: ['1280x720', '720x1280', '1920x1080'], seconds: [5, 10, 15], pricePerSecond: { '720p': 0.1, '1024p': 0.2, '1080p': 0.2 } },
  { id: 'seedance-1-0-pro', sizes: ['1280x720', '720x1280'], seconds: [5, 10], pricePerSecond: { '720p': 0.05, '1024p': 0.05, '1080p': 0.05 } },
];
const channels = (base: string) => [
  channel('ark', 'ark', base, {
    api_key: ARK_KEY,
    models: [
      { model: 'seedance-2-0', upstream_model: 'dreamina-seedance-2-0-260128' },
      { model: 'seedance-1-0-pro', upstream_model: 'seedance-1-0-pro-250528' },
    ],
  }),
];

const req: VideoRequest = {
  model: 'seedance-2-0',
  prompt: 'a fox',
  seconds: 5,
  aspectRatio: '16:9',
  resolution: '720p',
  width: 1280,
  height: 720,
  audio: true,
  references: [],
  options: {},
};

const get = async (gw: TestGateway, p: string) => (await fetch(`${gw.url}${p}`, { headers: { authorization: `Bearer ${gw.key}` } })).json() as Promise<Record<string, unknown>>;

/**
 * The `ark` adapter (Seedance on Volcengine Ark / BytePlus ModelArk) end to end through both
 * dialects against the Ark fake: the content[] array and typed parameters, inline images without
 * a public URL and links with one, the delivered duration billed, cancel on delete, failure
 * reasons, callbacks.
 */
describe('ark adapter', () => {
  let fake: ArkFake;
  let polling: TestGateway;
  let calling: TestGateway;

  beforeAll(async () => {
    fake = await startArkFake({ apiKey: ARK_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    [polling, calling] = await Promise.all([
      startWithChannels(channels(fake.baseURL), { models: SEEDANCE_MODELS }),
      startWithChannels(channels(fake.baseURL.replace(/\/api\/v3$/, '')), { models: SEEDANCE_MODELS, publicUrl: true, upstream: { callbackPollMs: 20_000 } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([polling?.close(), calling?.close()]);
    await fake?.close();
  });

  it('maps both dialects onto content[] and typed parameters, bills the duration Ark delivered, and keeps the video', async () => {
    const client = polling.openai();
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#118844' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'seedance-2-0' as 'sora-2', prompt: 'a fox in the snow', seconds: '10' as '4', size: '1280x720', input_reference: await toFile(png, 'f.png', { type: 'image/png' }) });
    const res = await fetch(`${polling.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${polling.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'seedance-1-0-pro', prompt: 'a heron takes off', duration: 5, aspect_ratio: '9:16' }),
    });
    expect(res.status).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(polling, polling.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status).toBe('completed');

    const i2v = fake.submissions.find((s) => s.body.model === 'dreamina-seedance-2-0-260128')!;
    const t2v = fake.submissions.find((s) => s.body.model === 'seedance-1-0-pro-250528')!;
    expect(i2v.body).toMatchObject({ duration: 10, ratio: '16:9', resolution: '720p', watermark: false, generate_audio: false });
    const content = i2v.body.content as Array<Record<string, unknown>>;
    expect(content[0]).toEqual({ type: 'text', text: 'a fox in the snow' });
    expect(content[1]).toMatchObject({ type: 'image_url', role: 'first_frame' });
    // No public URL: the frame travels inline as a data: URL.
    expect((content[1]!.image_url as { url: string }).url).toMatch(/^data:image\/png;base64,/);
    expect(i2v.body.callback_url).toBeUndefined();
    const types = fake.requests.find((r) => r.seq === i2v.seq)!.fieldTypes;
    expect([types.duration, types.watermark, types.generate_audio]).toEqual(['integer', 'boolean', 'boolean']);
    // Seedance 1.0 makes no sound: generate_audio is not sent to it; 9:16 text-to-video.
    expect(t2v.body).toMatchObject({ duration: 5, ratio: '9:16', content: [{ type: 'text', text: 'a heron takes off' }] });
    expect(t2v.body.generate_audio).toBeUndefined();
    expect(fake.cdn.leaks()).toEqual([]);

    // The fixture video is 2 s long; Ark reports the 10 s and 5 s it delivered, and billing settles on them.
    const db = new Database(path.join(polling.dataDir, 'vidgate.db'), { readonly: true });
    try {
      const row = (id: string) => db.prepare('SELECT actual_seconds, cost_micros, price_micros FROM tasks WHERE id = ?').get(id) as { actual_seconds: number; cost_micros: number; price_micros: number };
      const ra = row(a.id.slice('video_'.length));
      expect(ra.actual_seconds).toBe(10);
      expect(ra.cost_micros).toBe(10 * ra.price_micros);
      expect(row(taskId.slice('task_'.length)).actual_seconds).toBe(5);
    } finally {
      db.close();
    }
    expect((await assertBillingConsistent(polling.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('cancels the queued Ark task when the client deletes or cancels it', async () => {
    const client = polling.openai();
    const v = await client.videos.create({ model: 'seedance-2-0' as 'sora-2', prompt: 'stays queued [[fake: queuedMs=60000]]', seconds: '5' as '4', size: '1280x720' });
    const s = await fake.waitFor((f) => f.submissions.find((x) => (x.body.content as Array<{ text?: string }>)[0]!.text?.startsWith('stays queued')));
    await client.videos.delete(v.id);
    await fake.waitFor((f) => f.requestsFor('delete', s.jobId).length > 0);
    await fake.waitFor((f) => f.job(s.jobId).phase() === 'cancelled');

    const res = await fetch(`${polling.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${polling.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'seedance-2-0', prompt: 'cancel me [[fake: queuedMs=60000]]', duration: 5 }),
    });
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    const s2 = await fake.waitFor((f) => f.submissions.find((x) => (x.body.content as Array<{ text?: string }>)[0]!.text?.startsWith('cancel me')));
    await new Promise((r) => setTimeout(r, 200));
    const cancelled = await fetch(`${polling.url}/v1/tasks/${taskId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${polling.key}` } });
    expect(cancelled.status).toBe(200);
    await fake.waitFor((f) => f.job(s2.jobId).phase() === 'cancelled');
    expect(((await get(polling, `/v1/tasks/${taskId}`)).data as { status: string }).status).toBe('cancelled');
    expect((await assertBillingConsistent(polling.dataDir)).released).toBeGreaterThanOrEqual(2);
  });

  it('reports Ark’s reasons with stable codes: moderation at submit and of the output, expiry, invalid input', async () => {
    fake.faults.add({
      route: 'submit',
      when: (r) => JSON.stringify(r.json).includes('refused at submit'),
      action: fault.error(400, { code: 'InputTextSensitiveContentDetected', message: 'The request failed because the input text may contain sensitive information.', errorType: 'BadRequest' }),
    });
    const made = await Promise.all([
      createVideo(polling, polling.key, { model: 'seedance-2-0', prompt: 'refused at submit', seconds: '5', size: '1280x720' }),
      createVideo(polling, polling.key, { model: 'seedance-2-0', prompt: 'bad output [[fake: outcome=moderation]]', seconds: '5', size: '1280x720' }),
      createVideo(polling, polling.key, { model: 'seedance-2-0', prompt: 'too late [[fake: outcome=expire]]', seconds: '5', size: '1280x720' }),
      createVideo(polling, polling.key, { model: 'seedance-2-0', prompt: 'odd [[fake: outcome=fail code=InvalidParameter.UnsupportedImage message=The_first_frame_cannot_be_read]]', seconds: '5', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(polling, polling.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    expect(errors[0]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[0]!.message).toContain('input text may contain sensitive information');
    expect(errors[1]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[1]!.message).toContain('OutputVideoSensitiveContentDetected');
    expect(errors[2]).toMatchObject({ code: 'upstream_expired' });
    expect(errors[3]).toMatchObject({ code: 'upstream_invalid_request' });
    expect(errors[3]!.message).toContain('The first frame cannot be read');
  });

  it('with a public URL: media go as links, Ark calls back, and one status call per task suffices', async () => {
    const client = calling.openai();
    const png = await sharp({ create: { width: 720, height: 1280, channels: 3, background: '#884411' } }).png().toBuffer();
    const before = fake.submissions.length;
    const made = await Promise.all([
      client.videos.create({ model: 'seedance-2-0' as 'sora-2', prompt: 'called back', seconds: '5' as '4', size: '720x1280', input_reference: await toFile(png, 'p.png', { type: 'image/png' }) }),
      client.videos.create({ model: 'seedance-2-0' as 'sora-2', prompt: 'called back too', seconds: '5' as '4', size: '1280x720' }),
    ]);
    for (const v of made) expect((await waitForVideo(client, v.id, 15_000)).status).toBe('completed');
    const mine = fake.submissions.slice(before);
    expect(mine).toHaveLength(2);
    for (const s of mine) {
      expect(s.body.callback_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/upstream-callbacks\//);
      expect(fake.callbacks.filter((c) => c.jobId === s.jobId).map((c) => [c.phase, c.status])).toEqual([
        ['running', 200],
        ['succeeded', 200],
      ]);
      // The callback for `running` needed no check; the one for `succeeded` one check.
      expect(fake.job(s.jobId).statusCalls).toBe(1);
    }
    const withFrame = mine.find((s) => (s.body.content as unknown[]).length === 2)!;
    const url = ((withFrame.body.content as Array<{ image_url?: { url: string } }>)[1]!.image_url!).url;
    expect(url).toMatch(/\/v1\/references\/.+\/reference\.png$/);
    expect((await fetch(url)).status).toBe(200);
  });
});

describe('ark adapter pieces', () => {
  it('refuses at create time what a Seedance model cannot do', () => {
    expect(refuseArk(req, 'dreamina-seedance-2-0-260128')).toBeNull();
    expect(refuseArk({ ...req, seconds: 20 }, 'dreamina-seedance-2-0-260128')).toMatchObject({ param: 'seconds' });
    expect(refuseArk({ ...req, seconds: 20 }, 'dreamina-seedance-2-5-260628')).toBeNull();
    expect(refuseArk({ ...req, seed: 42 }, 'dreamina-seedance-2-0-260128')).toMatchObject({ param: 'seed' });
    expect(refuseArk({ ...req, seed: 42, audio: false }, 'seedance-1-0-pro-250528')).toBeNull();
    expect(refuseArk({ ...req, audio: true }, 'seedance-1-0-pro-250528')).toMatchObject({ param: 'audio' });
    expect(refuseArk({ ...req, resolution: '4k' }, 'dreamina-seedance-2-0-fast-260128')).toMatchObject({ param: 'resolution' });
    expect(refuseArk({ ...req, resolution: '4k' }, 'dreamina-seedance-2-0-260128')).toBeNull();
    expect(refuseArk({ ...req, negativePrompt: 'blur' }, 'dreamina-seedance-2-0-260128')).toMatchObject({ param: 'negative_prompt' });
    const img = { role: 'reference' as const, kind: 'image' as const, blob: 'x/r.png', contentType: 'image/png', width: 1000, height: 1000 };
    const audio = { role: 'reference' as const, kind: 'audio' as const, blob: 'x/a.mp3', contentType: 'audio/mpeg' };
    expect(refuseArk({ ...req, references: [img] }, 'dreamina-seedance-2-0-260128')).toBeNull();
    expect(refuseArk({ ...req, references: [img] }, 'seedance-1-5-pro-251215')).toMatchObject({ param: 'references' });
    expect(refuseArk({ ...req, references: [audio] }, 'dreamina-seedance-2-0-260128')).toMatchObject({ param: 'references' });
    expect(refuseArk({ ...req, references: [audio] }, 'dreamina-seedance-2-5-260628')).toBeNull();
    expect(refuseArk({ ...req, references: Array.from({ length: 10 }, () => img) }, 'dreamina-seedance-2-0-260128')).toMatchObject({ param: 'references' });
    const frame = { ...img, role: 'first_frame' as const };
    expect(refuseArk({ ...req, firstFrame: frame, references: [img] }, 'dreamina-seedance-2-0-260128')).toMatchObject({ param: 'references' });
    expect(refuseArk({ ...req, firstFrame: { ...frame, width: 4000, height: 1000 } }, 'dreamina-seedance-2-0-260128')).toMatchObject({ param: 'first_frame' });
    expect(refuseArk({ ...req, audio: false, lastFrame: { ...frame, role: 'last_frame' }, firstFrame: frame }, 'seedance-1-0-pro-fast-251015')).toMatchObject({ param: 'last_frame' });
  });

  it('declares no credentials beyond the API key', () => {
    expect(ark.credentials).toBeUndefined();
  });
});
