import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { toFile } from 'openai';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelHttp } from '../../src/channels/http.js';
import { loadConfig } from '../../src/config.js';
import type { VideoRequest } from '../../src/core/video-request.js';
import { dashscope } from '../../src/providers/dashscope/index.js';
import { refuseWan, sizeOf } from '../../src/providers/dashscope/models.js';
import { parseDashscopeTask } from '../../src/providers/dashscope/status.js';
import type { UpstreamMedia, UpstreamSubmit } from '../../src/providers/types.js';
import { UpstreamError } from '../../src/providers/types.js';
import type { DashscopeFake } from '../fakes/index.js';
import { fault, promptDirectives, startDashscopeFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';

export const DS_KEY = 'sk-dashscope-0123456789abcdef0123456789';

/** The Wan models are built into the catalogue (wan2.6-t2v, wan2.6-i2v, wan2.7-t2v, wan2.7-i2v): nothing to add. */
export const WAN_MODELS: Record<string, unknown>[] = [];

const channels = (base: string) => [channel('ds', 'dashscope', base, { api_key: DS_KEY, models: ['wan2.6-t2v', 'wan2.6-i2v', 'wan2.7-t2v'] })];

const request: VideoRequest<UpstreamMedia> = {
  model: 'wan2.6-t2v',
  prompt: 'a paper boat',
  seconds: 5,
  aspectRatio: '16:9',
  resolution: '720p',
  width: 1280,
  height: 720,
  audio: true,
  references: [],
  options: {},
};

/**
 * The `dashscope` adapter (Wan on Alibaba Model Studio) end to end through both dialects against
 * the DashScope fake: the 2.6 form (`size`, `img_url`) and the 2.7 form (`resolution`, `ratio`),
 * the async header, DashScope's words including UNKNOWN, the length it reports, cancel, failures
 * with `output.code` / `output.message`.
 */
describe('dashscope adapter', () => {
  let fake: DashscopeFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startDashscopeFake({ apiKey: DS_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    gw = await startWithChannels(channels(fake.baseURL), { models: WAN_MODELS });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('maps both dialects onto the 2.6 and 2.7 forms, bills the length DashScope reports, and keeps the video', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 720, height: 1280, channels: 3, background: '#338855' } }).png().toBuffer();
    const t2v = await client.videos.create({ model: 'wan2.6-t2v' as 'sora-2', prompt: 'a paper boat on a canal', seconds: '10' as '4', size: '1920x1080' as '1280x720' });
    const i2v = await client.videos.create({ model: 'wan2.6-i2v' as 'sora-2', prompt: 'the portrait breathes', seconds: '5' as '4', size: '720x1280', input_reference: await toFile(png, 'p.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'wan2.7-t2v', prompt: 'neon rain', duration: 2, aspect_ratio: '9:16' }),
    });
    expect(res.status).toBe(200);
    const w27 = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id.replace('task_', 'video_');
    for (const v of await Promise.all([t2v, i2v].map((x) => waitForVideo(client, x.id, 30_000)))) expect(v.status, JSON.stringify(v.error)).toBe('completed');
    expect((await waitAllTerminal(gw, gw.key, [w27], 30_000)).get(w27)!.status).toBe('completed');

    const sub = (prompt: string) => fake.submissions.find((s) => (s.body.input as { prompt: string }).prompt === prompt)!;
    const a = sub('a paper boat on a canal');
    const b = sub('the portrait breathes');
    const c = sub('neon rain');
    const req = (s: typeof a) => fake.requests.find((r) => r.seq === s.seq)!;
    expect(req(a).path).toBe('/api/v1/services/aigc/video-generation/video-synthesis');
    expect(req(a).headers['x-dashscope-async']).toBe('enable');
    // No audio flag asked: the model's default (the catalogue's Wan 2.6: sound on), as quoted.
    expect(a.body).toEqual({ model: 'wan2.6-t2v', input: { prompt: 'a paper boat on a canal' }, parameters: { size: '1920*1080', duration: 10, watermark: false, audio: true } });
    expect(b.body).toMatchObject({ model: 'wan2.6-i2v', parameters: { resolution: '720P', duration: 5, audio: true } });
    expect((b.body.input as { img_url: string }).img_url).toMatch(/^data:image\/png;base64,/);
    // No resolution asked: the catalogue's default for Wan 2.7 (1080p).
    expect(c.body).toEqual({ model: 'wan2.7-t2v', input: { prompt: 'neon rain' }, parameters: { resolution: '1080P', ratio: '9:16', duration: 2, watermark: false } });
    expect(fake.cdn.leaks()).toEqual([]);

    const db = new Database(path.join(gw.dataDir, 'vidgate.db'), { readonly: true });
    try {
      const row = (id: string) => db.prepare('SELECT actual_seconds, cost_micros, price_micros FROM tasks WHERE id = ?').get(id.slice('video_'.length)) as { actual_seconds: number; cost_micros: number; price_micros: number };
      // The fixture file is 2 s long; DashScope's usage says 10 s were made, and billing settles on that.
      const ra = row(t2v.id);
      expect(ra.actual_seconds).toBe(10);
      expect(ra.cost_micros).toBe(10 * ra.price_micros);
      expect(row(w27).actual_seconds).toBe(2);
    } finally {
      db.close();
    }
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(3);
  });

  it('reports DashScope’s reasons with stable codes', async () => {
    fake.faults.add({
      route: 'submit',
      when: (r) => JSON.stringify(r.json).includes('refused at submit'),
      action: fault.error(400, { code: 'DataInspectionFailed', message: 'Input data may contain inappropriate content.' }),
    });
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'wan2.6-t2v', prompt: 'refused at submit', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'wan2.6-t2v', prompt: 'bad output [[fake: outcome=moderation]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'wan2.6-t2v', prompt: 'odd [[fake: outcome=fail code=InvalidParameter message=The_prompt_cannot_be_parsed]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'wan2.7-t2v', prompt: 'crash [[fake: outcome=fail code=InternalError message=Worker_crashed]]', seconds: '5', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    expect(errors[0]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[0]!.message).toContain('Input data may contain inappropriate content');
    expect(errors[1]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[1]!.message).toContain('Output data may contain inappropriate content');
    expect(errors[2]).toMatchObject({ code: 'upstream_invalid_request' });
    expect(errors[2]!.message).toContain('The prompt cannot be parsed');
    expect(errors[3]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[3]!.message).toContain('Worker crashed');
    const res = await fetch(`${gw.url}/v1/tasks/${ids[3]!.replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${gw.key}` } });
    expect(((await res.json()) as { data: { error?: { message: string } } }).data.error?.message).toContain('Worker crashed');
    for (const e of errors) expect(JSON.stringify(e)).not.toContain(DS_KEY);
  });

  it('cancels a PENDING task when the client deletes or cancels it', async () => {
    const client = gw.openai();
    const v = await client.videos.create({ model: 'wan2.6-t2v' as 'sora-2', prompt: 'stays pending [[fake: queuedMs=60000]]', seconds: '5' as '4', size: '1280x720' });
    const s = await fake.waitFor((f) => f.submissions.find((x) => (x.body.input as { prompt: string }).prompt.startsWith('stays pending')));
    await client.videos.delete(v.id);
    await fake.waitFor((f) => f.requestsFor('delete', s.jobId).length > 0);
    await fake.waitFor((f) => f.job(s.jobId).phase() === 'cancelled');

    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'wan2.6-t2v', prompt: 'cancel me [[fake: queuedMs=60000]]', duration: 5 }),
    });
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    const s2 = await fake.waitFor((f) => f.submissions.find((x) => (x.body.input as { prompt: string }).prompt.startsWith('cancel me')));
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${gw.url}/v1/tasks/${taskId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}` } })).status).toBe(200);
    await fake.waitFor((f) => f.job(s2.jobId).phase() === 'cancelled');
    expect((await assertBillingConsistent(gw.dataDir)).released).toBeGreaterThanOrEqual(2);
  });

  it('rides out DashScope’s faults: 429 with Retry-After, 5xx and broken JSON, a passing UNKNOWN; a result link gone early', async () => {
    const before = fake.submissions.length;
    fake.faults.add({ route: 'submit', times: 1, when: (r) => JSON.stringify(r.json).includes('throttled'), action: fault.error(429, { retryAfter: 1 }) });
    fake.faults.add({ route: 'status', times: 1, when: () => true, action: fault.error(503) });
    fake.faults.add({ route: 'status', times: 1, when: () => true, action: fault.malformed('truncated') });
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'wan2.7-t2v', prompt: 'throttled at first', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'wan2.7-t2v', prompt: 'unknown once [[fake: notFoundPolls=1]]', seconds: '5', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'wan2.7-t2v', prompt: 'gone at once [[fake: resultTtlMs=0]]', seconds: '5', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    for (const id of ids.slice(0, 2)) expect(done.get(id)!.status, JSON.stringify(done.get(id)!.error)).toBe('completed');
    // DashScope promises 24 h: a link gone at once is a failed download (tried again, then given up), not an expiry.
    expect(done.get(ids[2]!)!.error).toMatchObject({ code: 'result_download_failed' });
    expect(done.get(ids[2]!)!.error!.message).toContain('HTTP 403');
    // The throttled submit made no job; each task made exactly one.
    expect(fake.submissions.length).toBe(before + 3);
    expect(fake.requestsFor('submit').filter((r) => r.response?.status === 429).length).toBeGreaterThanOrEqual(1);
  });

  it('rides out a 429 with Retry-After at submit, a 503 and a garbled status answer', async () => {
    await ridesOutFaults({ gw, fake, model: 'wan2.7-t2v', body: { seconds: '5', size: '1280x720' }, promptOf: (x) => String((x.body.input as { prompt?: string }).prompt ?? '') });
  }, 90_000);

  it('refuses what the model cannot do before anything is sent', async () => {
    const before = fake.submissions.length;
    // wan2.6-t2v takes no first frame (its image-to-video sibling does).
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#000000' } }).png().toBuffer();
    const form = new FormData();
    form.set('model', 'wan2.6-t2v');
    form.set('prompt', 'with a frame');
    form.set('seconds', '5');
    form.set('size', '1280x720');
    form.set('input_reference', new Blob([png], { type: 'image/png' }), 'f.png');
    const res = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}` }, body: form });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status === 400) {
      expect(JSON.stringify(json)).toMatch(/first_frame|input_reference/);
    } else {
      const v = (await waitAllTerminal(gw, gw.key, [json.id as string], 15_000)).get(json.id as string)!;
      expect(v.error).toMatchObject({ code: 'upstream_invalid_request' });
      expect(v.error!.message).toContain('from text only');
    }
    expect(fake.submissions.length).toBe(before);
  });
});

describe('dashscope adapter pieces', () => {
  const agent = new Agent();
  afterAll(() => agent.close());
  const httpFor = (base: string, key: string) =>
    new ChannelHttp(
      base,
      { auth: async () => ({ authorization: `Bearer ${key}` }), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent },
      { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 },
    );
  const media = async (role: 'first_frame' | 'last_frame', w = 1280, h = 720): Promise<UpstreamMedia> => ({
    role,
    kind: 'image',
    blob: `x/${role}.png`,
    contentType: 'image/png',
    width: w,
    height: h,
    data: await sharp({ create: { width: w, height: h, channels: 3, background: '#663399' } }).png().toBuffer(),
  });

  it('refuses at create time what a Wan model cannot do', () => {
    expect(refuseWan(request, 'wan2.6-t2v')).toBeNull();
    expect(refuseWan({ ...request, seconds: 8 }, 'wan2.6-t2v')).toMatchObject({ param: 'seconds' });
    expect(refuseWan({ ...request, seconds: 8 }, 'wan2.7-t2v')).toBeNull();
    expect(refuseWan({ ...request, prompt: 'x'.repeat(2000) }, 'wan2.6-t2v')).toMatchObject({ param: 'prompt' });
    expect(refuseWan({ ...request, prompt: 'x'.repeat(2000) }, 'wan2.7-t2v')).toBeNull();
    expect(refuseWan({ ...request, seconds: 10 }, 'wan2.2-t2v-plus')).toMatchObject({ param: 'seconds' });
    expect(refuseWan({ ...request, resolution: '480p' }, 'wan2.6-t2v')).toMatchObject({ param: 'resolution' });
    expect(refuseWan({ ...request, resolution: '480p', seconds: 5 }, 'wan2.5-t2v-preview')).toBeNull();
    expect(refuseWan({ ...request, resolution: '4k' }, 'wan2.7-t2v')).toMatchObject({ param: 'resolution' });
    expect(refuseWan({ ...request, aspectRatio: '21:9' }, 'wan2.6-t2v')).toMatchObject({ param: 'aspect_ratio' });
    expect(refuseWan({ ...request, audio: true }, 'wan2.1-t2v-turbo')).toMatchObject({ param: 'audio' });
    expect(refuseWan(request, 'wan2.6-i2v')).toMatchObject({ param: 'first_frame' });
    const frame = { role: 'first_frame' as const, kind: 'image' as const, blob: 'x/f.png', contentType: 'image/png', width: 1280, height: 720 };
    expect(refuseWan({ ...request, firstFrame: frame }, 'wan2.6-t2v')).toMatchObject({ param: 'first_frame' });
    expect(refuseWan({ ...request, firstFrame: frame }, 'wan2.6-i2v')).toBeNull();
    expect(refuseWan({ ...request, firstFrame: frame, lastFrame: { ...frame, role: 'last_frame' } }, 'wan2.6-i2v')).toMatchObject({ param: 'last_frame' });
    expect(refuseWan({ ...request, firstFrame: frame, lastFrame: { ...frame, role: 'last_frame' } }, 'wan2.7-i2v')).toBeNull();
    expect(refuseWan({ ...request, audio: false, firstFrame: frame }, 'wan2.2-kf2v-flash')).toMatchObject({ param: 'last_frame' });
    expect(refuseWan({ ...request, seed: -5 }, 'wan2.6-t2v')).toMatchObject({ param: 'seed' });
    expect(refuseWan({ ...request, options: { shot_type: 'multi' } }, 'wan2.6-t2v')).toBeNull();
    expect(refuseWan({ ...request, options: { shot_type: 'multi' } }, 'wan2.7-t2v')).toMatchObject({ param: 'shot_type' });
    const img = { ...frame, role: 'reference' as const };
    expect(refuseWan({ ...request, references: [img] }, 'wan2.6-t2v')).toMatchObject({ param: 'references' });
    expect(refuseWan({ ...request, references: [img] }, 'wan2.7-r2v')).toBeNull();
    expect(refuseWan(request, 'wan2.7-r2v')).toMatchObject({ param: 'references' });
    expect(refuseWan({ ...request, references: Array.from({ length: 6 }, () => img) }, 'wan2.7-r2v')).toMatchObject({ param: 'references' });
    const clip = { role: 'reference' as const, kind: 'video' as const, blob: 'x/v.mp4', contentType: 'video/mp4', durationSeconds: 5 };
    expect(refuseWan({ ...request, seconds: 12, references: [clip] }, 'wan2.7-r2v')).toMatchObject({ param: 'seconds' });
    const voice = { role: 'reference' as const, kind: 'audio' as const, blob: 'x/a.mp3', contentType: 'audio/mpeg', durationSeconds: 8 };
    expect(refuseWan({ ...request, firstFrame: frame, references: [voice] }, 'wan2.7-i2v')).toBeNull();
    expect(refuseWan({ ...request, references: [img, voice] }, 'wan2.7-r2v')).toMatchObject({ param: 'references' });
    expect(refuseWan({ ...request, audio: false, references: [{ ...voice, durationSeconds: 40 }] }, 'wan2.6-t2v')).toMatchObject({ param: 'references' });
    expect(sizeOf({ ...request, width: 960, height: 960, aspectRatio: '1:1' })).toBe('960*960');
    expect(sizeOf({ ...request, width: 1024, height: 1024, aspectRatio: '1:1' })).toBe('960*960');
  });

  it('normalises every status word; UNKNOWN is not found', () => {
    const now = Date.now();
    for (const [w, s] of [['PENDING', 'waiting'], ['RUNNING', 'running'], ['SUCCEEDED', 'succeeded'], ['FAILED', 'failed'], ['CANCELED', 'cancelled']]) {
      expect(parseDashscopeTask({ output: { task_status: w } }, now).state).toBe(s);
    }
    expect(parseDashscopeTask({ output: { task_status: 'SLEEPING' } }, now)).toMatchObject({ state: 'waiting', unrecognised: true });
    expect(() => parseDashscopeTask({ output: { task_status: 'UNKNOWN' } }, now)).toThrow(UpstreamError);
    expect(parseDashscopeTask({ output: { task_status: 'FAILED', code: 'DataInspectionFailed', message: 'x' } }, now).error).toMatchObject({ kind: 'moderation', code: 'DataInspectionFailed' });
    expect(parseDashscopeTask({ output: { task_status: 'SUCCEEDED', video_url: 'https://oss/x.mp4' }, usage: { video_duration: 5, video_count: 1 } }, now)).toMatchObject({ deliveredSeconds: 5, resultUrl: 'https://oss/x.mp4' });
  });

  it('sends first/last frames, seeds, negative prompts and options per family; reads HTTP errors; UNKNOWN ends as not found', async () => {
    const fake = await startDashscopeFake({ apiKey: DS_KEY });
    try {
      const http = httpFor(`${fake.baseURL}/api/v1`, DS_KEY);
      const adapter = dashscope.create({ watermark: false });
      const job = (model: string, r: Partial<VideoRequest<UpstreamMedia>>): UpstreamSubmit => ({ taskId: 'T', model, request: { ...request, ...r }, idempotencyKey: `k-${model}` });
      const first = await media('first_frame');
      const last = await media('last_frame');
      await adapter.submit(job('wan2.7-i2v', { firstFrame: first, lastFrame: last, seed: 7, negativePrompt: 'blur', options: { prompt_extend: false } }), http);
      expect(fake.submissions.at(-1)!.body).toMatchObject({
        model: 'wan2.7-i2v',
        input: {
          prompt: 'a paper boat',
          negative_prompt: 'blur',
          media: [
            { type: 'first_frame', url: expect.stringMatching(/^data:image\/png;base64,/) },
            { type: 'last_frame', url: expect.stringMatching(/^data:image\/png;base64,/) },
          ],
        },
        parameters: { resolution: '720P', duration: 5, seed: 7, prompt_extend: false, watermark: false },
      });
      expect((fake.submissions.at(-1)!.body.parameters as Record<string, unknown>).ratio).toBeUndefined();
      // Reference-to-video: references in media[], a ratio since no first frame decides the shape.
      const ref = { ...(await media('first_frame')), role: 'reference' as const };
      await adapter.submit(job('wan2.7-r2v', { references: [ref, ref], aspectRatio: '9:16', width: 720, height: 1280 }), http);
      expect(fake.submissions.at(-1)!.body).toMatchObject({
        input: { media: [{ type: 'reference_image' }, { type: 'reference_image' }] },
        parameters: { resolution: '720P', ratio: '9:16' },
      });
      await adapter.submit(job('wan2.2-kf2v-flash', { audio: false, firstFrame: first, lastFrame: last }), http);
      expect(fake.requests.at(-1)!.path).toBe('/api/v1/services/aigc/image2video/video-synthesis');
      await adapter.submit(job('wan2.6-t2v', { options: { shot_type: 'multi', prompt_extend: true, watermark: true }, audio: true }), http);
      expect(fake.submissions.at(-1)!.body.parameters).toMatchObject({ shot_type: 'multi', prompt_extend: true, audio: true, size: '1280*720', watermark: true });

      const reject = async (key: string) => {
        const err = await adapter.submit(job('wan2.6-t2v', {}), httpFor(fake.baseURL, key)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UpstreamError);
        return (err as UpstreamError).detail;
      };
      expect(await reject('sk-wrong-000000000000')).toMatchObject({ status: 401, code: 'InvalidApiKey', kind: 'auth' });
      fake.faults.next('submit', 1, fault.error(429, { retryAfter: 2 }));
      expect(await reject(DS_KEY)).toMatchObject({ status: 429, code: 'Throttling.RateQuota', kind: 'rate_limit', retryAfterMs: 2000 });
      fake.faults.next('submit', 1, fault.error(400, { code: 'Arrearage', message: 'Access denied, please make sure your account is in good standing.' }));
      expect(await reject(DS_KEY)).toMatchObject({ kind: 'quota' });

      const nf = await adapter.status('no-such-task', http).catch((e: unknown) => e);
      expect((nf as UpstreamError).detail).toMatchObject({ status: 404, code: 'UNKNOWN' });
      const running = await adapter.submit(job('wan2.6-t2v', { audio: false }), http);
      fake.clock.advance(1_500);
      // Only a PENDING task can be cancelled: DashScope refuses the rest, which the gateway logs.
      const late = await adapter.cancel!(running.upstreamId, http).catch((e: unknown) => e);
      expect((late as UpstreamError).detail.code).toBe('UnsupportedOperation');
      await adapter.probe(http);
      // The fake refuses what DashScope refuses: a synchronous call, a data: URL for audio.
      const sync = await fetch(`${fake.baseURL}/api/v1/services/aigc/video-generation/video-synthesis`, { method: 'POST', headers: { authorization: `Bearer ${DS_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'wan2.6-t2v', input: { prompt: 'x' } }) });
      expect([sync.status, ((await sync.json()) as { code: string }).code]).toEqual([403, 'AccessDenied']);
      const audio = await fetch(`${fake.baseURL}/api/v1/services/aigc/video-generation/video-synthesis`, { method: 'POST', headers: { authorization: `Bearer ${DS_KEY}`, 'content-type': 'application/json', 'x-dashscope-async': 'enable' }, body: JSON.stringify({ model: 'wan2.6-t2v', input: { prompt: 'x', audio_url: 'data:audio/mpeg;base64,AAAA' } }) });
      expect(audio.status).toBe(400);
    } finally {
      await fake.close();
    }
  });
});

describe('dashscope regions', () => {
  it('a region option names the host when the channel gives no base_url; the URL follows the region', async () => {
    const c = { id: 'ds', type: 'dashscope', api_key: 'k-0123456789', models: ['sora-2'] };
    expect(() => loadConfig({}, { channels: [c] })).toThrow(/base_url or a region/);
    expect(() => loadConfig({}, { channels: [{ ...c, options: { region: 'mars-1' } }] })).toThrow(/region/);
    expect(() => loadConfig({}, { channels: [{ ...c, type: 'ark' }] })).toThrow(/base_url is required/);
    const admin = 'admin-token-for-region-tests';
    const gw = await startWithChannels([{ ...c, options: { region: 'ap-southeast-1' } }], { adminToken: admin });
    try {
      const call = async (method: string, p: string, body?: unknown) => {
        const res = await fetch(`${gw.url}/admin/v1${p}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
        return (await res.json()) as { base_url: string };
      };
      expect((await call('GET', '/channels/ds')).base_url).toBe('https://dashscope-intl.aliyuncs.com');
      const made = await call('POST', '/channels', { ...c, id: 'ds2', options: { region: 'cn-beijing' } });
      expect(made.base_url).toBe('https://dashscope.aliyuncs.com');
      expect((await call('PATCH', '/channels/ds2', { options: { region: 'us-east-1' } })).base_url).toBe('https://dashscope-us.aliyuncs.com');
      // An explicit base_url stays what it is.
      await call('POST', '/channels', { ...c, id: 'ds3', base_url: 'https://ws-1.cn-beijing.maas.aliyuncs.com', options: { region: 'cn-beijing' } });
      expect((await call('PATCH', '/channels/ds3', { options: { region: 'us-east-1' } })).base_url).toBe('https://ws-1.cn-beijing.maas.aliyuncs.com');
    } finally {
      await gw.close();
    }
  });
});

describe('dashscope restarts', () => {
  it('SIGKILL mid-submit, before submit, while polling and while downloading: nothing lost, nothing sent twice, the key nowhere', async () => {
    const fake = await startDashscopeFake({ apiKey: DS_KEY, script: promptDirectives({ queuedMs: 100, runMs: 600 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake,
        channel: { id: 'ds', type: 'dashscope', base_url: fake.baseURL, api_key: DS_KEY, models: ['wan2.7-t2v'] },
        models: WAN_MODELS,
        model: 'wan2.7-t2v',
        body: { seconds: '5', size: '1280x720' },
        idempotent: false,
        promptOf: (x) => String((x.body.input as { prompt?: string }).prompt ?? ''),
        secrets: [DS_KEY],
      });
    } finally {
      await fake.close();
    }
  }, 180_000);
});
