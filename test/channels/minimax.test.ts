import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { toFile } from 'openai';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelHttp } from '../../src/channels/http.js';
import type { VideoRequest } from '../../src/core/video-request.js';
import { minimax } from '../../src/providers/minimax/index.js';
import { refuseMinimax } from '../../src/providers/minimax/models.js';
import { parseV1Task, parseV2Task } from '../../src/providers/minimax/status.js';
import type { UpstreamMedia, UpstreamSubmit } from '../../src/providers/types.js';
import { UpstreamError } from '../../src/providers/types.js';
import type { MinimaxFake } from '../fakes/index.js';
import { fault, promptDirectives, startMinimaxFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';
import { restartInEveryPhase } from '../helpers/adapter-restart.js';
import { ridesOutFaults } from '../helpers/adapter-faults.js';

export const MM_KEY = 'mm-api-key-eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9';
const BAD_KEY = 'mm-wrong-key-0123456789abcdefghij';

/**
 * Hailuo 2.3 and H3 are built into the catalogue (`hailuo-2.3`, `minimax-h3` are their aliases);
 * Hailuo 02 is added here as an operator would.
 */
export const MINIMAX_MODELS = [{ id: 'hailuo-02', sizes: ['1366x768'], seconds: [6, 10], pricePerSecond: { '720p': 0.04 } }];

const channels = (base: string) => [
  channel('mm', 'minimax', base, {
    api_key: MM_KEY,
    models: [
      { model: 'hailuo-2.3', upstream_model: 'MiniMax-Hailuo-2.3' },
      { model: 'minimax-h3', upstream_model: 'MiniMax-H3' },
    ],
  }),
  channel('mm-bad', 'minimax', base, { api_key: BAD_KEY, models: [{ model: 'hailuo-02', upstream_model: 'MiniMax-Hailuo-02' }] }),
];

const request: VideoRequest<UpstreamMedia> = {
  model: 'hailuo-2.3',
  prompt: 'a red kite',
  seconds: 6,
  aspectRatio: '16:9',
  resolution: '720p',
  width: 1366,
  height: 768,
  audio: false,
  references: [],
  options: {},
};

const apimartCreate = async (gw: TestGateway, body: Record<string, unknown>): Promise<string> => {
  const res = await fetch(`${gw.url}/v1/videos/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
};

/**
 * The `minimax` adapter end to end through both dialects against the MiniMax fake: V1 (Hailuo)
 * with its base_resp errors and two-step download, V2 (H3) with content[] and the usage it
 * reports, the challenge-echo callbacks, cancel, failures with MiniMax's reasons.
 */
describe('minimax adapter', () => {
  let fake: MinimaxFake;
  let polling: TestGateway;
  let calling: TestGateway;
  const seen: string[] = [];

  beforeAll(async () => {
    fake = await startMinimaxFake({ apiKey: MM_KEY, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    [polling, calling] = await Promise.all([
      startWithChannels(channels(fake.baseURL), { models: MINIMAX_MODELS }),
      startWithChannels(channels(fake.baseURL), { models: MINIMAX_MODELS, publicUrl: true, upstream: { callbackPollMs: 20_000 } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([polling?.close(), calling?.close()]);
    await fake?.close();
  });

  it('maps both dialects onto V1 and V2, downloads through files/retrieve, and bills the length delivered', async () => {
    const client = polling.openai();
    const png = await sharp({ create: { width: 1366, height: 768, channels: 3, background: '#aa3311' } }).png().toBuffer();
    const t2v = await client.videos.create({ model: 'hailuo-2.3' as 'sora-2', prompt: 'a red kite over dunes', seconds: '6' as '4', size: '1366x768' as '1280x720' });
    const i2v = await client.videos.create({ model: 'hailuo-2.3' as 'sora-2', prompt: 'the frame moves', seconds: '10' as '4', size: '1366x768' as '1280x720', input_reference: await toFile(png, 'f.png', { type: 'image/png' }) });
    const taskId = await apimartCreate(polling, { model: 'minimax-h3', prompt: 'a lantern festival', duration: 10, aspect_ratio: '9:16' });
    const h3 = taskId.replace('task_', 'video_');
    for (const v of await Promise.all([t2v, i2v].map((x) => waitForVideo(client, x.id, 30_000)))) expect(v.status, JSON.stringify(v.error)).toBe('completed');
    expect((await waitAllTerminal(polling, polling.key, [h3], 30_000)).get(h3)!.status).toBe('completed');

    const sub = (prompt: string) => fake.submissions.find((s) => s.body.prompt === prompt || (s.body.content as Array<{ text?: string }> | undefined)?.[0]?.text === prompt)!;
    const a = sub('a red kite over dunes');
    const b = sub('the frame moves');
    const c = sub('a lantern festival');
    expect(fake.requests.find((r) => r.seq === a.seq)!.path).toBe('/v1/video_generation');
    expect(a.body).toEqual({ model: 'MiniMax-Hailuo-2.3', prompt: 'a red kite over dunes', duration: 6, resolution: '768P' });
    expect(fake.requests.find((r) => r.seq === a.seq)!.fieldTypes.duration).toBe('integer');
    expect(b.body).toMatchObject({ model: 'MiniMax-Hailuo-2.3', duration: 10, resolution: '768P' });
    // No public URL: the frame travels inline as a data: URL.
    expect(String(b.body.first_frame_image)).toMatch(/^data:image\/png;base64,/);
    expect(fake.requests.find((r) => r.seq === c.seq)!.path).toBe('/v2/video_generation');
    expect(c.body).toEqual({ model: 'MiniMax-H3', content: [{ type: 'text', text: 'a lantern festival' }], duration: 10, ratio: '9:16', resolution: '768P' });
    // The V1 results came through files/retrieve and their CDN links, without the key.
    expect(fake.requestsFor('content').length).toBeGreaterThanOrEqual(2);
    expect(fake.cdn.requests.length).toBeGreaterThanOrEqual(3);
    expect(fake.cdn.leaks()).toEqual([]);
    // V1 words were read: Preparing/Queueing/Processing/Success.
    expect(fake.job(a.jobId).statusCalls).toBeGreaterThanOrEqual(1);

    const db = new Database(path.join(polling.dataDir, 'vidgate.db'), { readonly: true });
    try {
      const row = (id: string) => db.prepare('SELECT actual_seconds, cost_micros, price_micros FROM tasks WHERE id = ?').get(id.slice('video_'.length)) as { actual_seconds: number; cost_micros: number; price_micros: number };
      // V2 reports the seconds it made (usage.output_seconds): billing settles on them.
      const rc = row(h3);
      expect(rc.actual_seconds).toBe(10);
      expect(rc.cost_micros).toBe(10 * rc.price_micros);
      // V1 reports none: the probe of the file says how long it is (the fixture is 2 s).
      const ra = row(t2v.id);
      expect(ra.actual_seconds).toBeLessThan(6);
      expect(ra.cost_micros).toBe(Math.round(ra.actual_seconds * ra.price_micros));
    } finally {
      db.close();
    }
    expect((await assertBillingConsistent(polling.dataDir)).settled).toBeGreaterThanOrEqual(3);
  });

  it('passes MiniMax’s reasons to the client with stable codes, and keeps the key out of them', async () => {
    fake.faults.add({
      route: 'submit',
      when: (r) => JSON.stringify(r.json).includes('echoes the key'),
      action: fault.error(200, { code: '2013', message: `invalid params, request from key ${MM_KEY} has a bad field` }),
    });
    fake.faults.add({
      route: 'submit',
      when: (r) => JSON.stringify(r.json).includes('refused at submit'),
      action: fault.error(200, { code: '1026', message: 'input new_sensitive, please try again' }),
    });
    const made = await Promise.all([
      createVideo(polling, polling.key, { model: 'hailuo-2.3', prompt: 'refused at submit', seconds: '6', size: '1366x768' }),
      createVideo(polling, polling.key, { model: 'hailuo-2.3', prompt: 'bad output [[fake: outcome=moderation]]', seconds: '6', size: '1366x768' }),
      createVideo(polling, polling.key, { model: 'hailuo-2.3', prompt: 'boom [[fake: outcome=fail code=1000 message=GPU_worker_lost_the_job]]', seconds: '6', size: '1366x768' }),
      createVideo(polling, polling.key, { model: 'minimax-h3', prompt: 'v2 boom [[fake: outcome=fail code=1000 message=render_node_crashed]]', seconds: '5', size: '1366x768' }),
      createVideo(polling, polling.key, { model: 'hailuo-02', prompt: 'wrong key', seconds: '6', size: '1366x768' }),
      createVideo(polling, polling.key, { model: 'hailuo-2.3', prompt: 'echoes the key', seconds: '6', size: '1366x768' }),
    ]);
    for (const m of made) seen.push(JSON.stringify(m.json));
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(polling, polling.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    for (const id of ids) seen.push(JSON.stringify(done.get(id)));
    expect(errors[0]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[0]!.message).toContain('input new_sensitive');
    expect(errors[1]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[1]!.message).toContain('output video sensitive');
    expect(errors[2]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[2]!.message).toContain('GPU worker lost the job');
    expect(errors[3]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[3]!.message).toContain('render node crashed');
    // A key MiniMax refuses (2049) takes its channel out: no provider would take the video.
    expect(errors[4]).toMatchObject({ code: 'upstream_unavailable' });
    expect(errors[4]!.message).toContain('invalid api key');
    // A reason that quotes the key reaches the client without it.
    expect(errors[5]).toMatchObject({ code: 'upstream_invalid_request' });
    expect(errors[5]!.message).toContain('has a bad field');
    // The apimart dialect shows the same reason.
    const res = await fetch(`${polling.url}/v1/tasks/${ids[1]!.replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${polling.key}` } });
    const text = await res.text();
    seen.push(text);
    expect((JSON.parse(text) as { data: { status: string; error?: { message: string } } }).data.error?.message).toContain('output video sensitive');
    for (const s of seen) {
      expect(s).not.toContain(MM_KEY);
      expect(s).not.toContain(BAD_KEY);
    }
    expect((await assertBillingConsistent(polling.dataDir)).released).toBeGreaterThanOrEqual(6);
  });

  it('rides out a 429 with Retry-After at submit, a 503 and a garbled status answer (V1 and V2)', async () => {
    await ridesOutFaults({ gw: polling, fake, model: 'hailuo-2.3', body: { seconds: '6', size: '1366x768' } });
    await ridesOutFaults({ gw: polling, fake, model: 'minimax-h3', body: { seconds: '5', size: '1366x768' }, promptOf: (x) => String((x.body.content as Array<{ text?: string }> | undefined)?.[0]?.text ?? x.body.prompt ?? '') });
  }, 120_000);

  it('refuses what the model cannot do before anything is sent', async () => {
    const before = fake.submissions.length;
    // Hailuo 2.3 makes 10 s only at 768P.
    const r = await createVideo(polling, polling.key, { model: 'hailuo-2.3', prompt: 'too long at 1080p', seconds: '10', size: '1920x1080' });
    if (r.status === 400) {
      expect(JSON.stringify(r.json)).toMatch(/seconds/);
    } else {
      const v = (await waitAllTerminal(polling, polling.key, [r.json.id as string], 15_000)).get(r.json.id as string)!;
      expect(v.error).toMatchObject({ code: 'upstream_invalid_request' });
      expect(v.error!.message).toContain('6 second videos at 1080P');
    }
    expect(fake.submissions.length).toBe(before);
  });

  it('cancels a queued H3 task when the client deletes it', async () => {
    const client = polling.openai();
    const v = await client.videos.create({ model: 'minimax-h3' as 'sora-2', prompt: 'stays queued [[fake: queuedMs=60000]]', seconds: '5' as '4', size: '1366x768' as '1280x720' });
    const s = await fake.waitFor((f) => f.submissions.find((x) => (x.body.content as Array<{ text?: string }> | undefined)?.[0]?.text?.startsWith('stays queued')));
    await client.videos.delete(v.id);
    await fake.waitFor((f) => f.requestsFor('delete', s.jobId).length > 0);
    await fake.waitFor((f) => f.job(s.jobId).phase() === 'cancelled');
  });

  it('with a public URL: answers the challenge, takes MiniMax’s callbacks as the signal, and sends frames as links', async () => {
    const client = calling.openai();
    const png = await sharp({ create: { width: 1366, height: 768, channels: 3, background: '#1144aa' } }).png().toBuffer();
    const before = fake.submissions.length;
    const made = await Promise.all([
      client.videos.create({ model: 'hailuo-2.3' as 'sora-2', prompt: 'called back v1', seconds: '6' as '4', size: '1366x768' as '1280x720', input_reference: await toFile(png, 'p.png', { type: 'image/png' }) }),
      client.videos.create({ model: 'minimax-h3' as 'sora-2', prompt: 'called back v2', seconds: '5' as '4', size: '1366x768' as '1280x720' }),
    ]);
    for (const v of made) expect((await waitForVideo(client, v.id, 15_000)).status).toBe('completed');
    const mine = fake.submissions.slice(before);
    expect(mine).toHaveLength(2);
    for (const s of mine) {
      expect(s.body.callback_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/upstream-callbacks\//);
      expect(fake.challenges.find((c) => c.jobId === s.jobId)?.echoed).toBe(true);
      expect(fake.callbacks.filter((c) => c.jobId === s.jobId).map((c) => [c.phase, c.status])).toEqual([
        ['running', 200],
        ['succeeded', 200],
      ]);
      // Neither the challenge nor `processing` needed a check; `success` one.
      expect(fake.job(s.jobId).statusCalls).toBe(1);
    }
    const v1 = mine.find((s) => s.body.prompt === 'called back v1')!;
    expect(String(v1.body.first_frame_image)).toMatch(/\/v1\/references\/.+\/reference\.png$/);
    expect((await fetch(String(v1.body.first_frame_image))).status).toBe(200);

    // A callback about another job on this task's URL is refused and changes nothing.
    const other = await fetch(String(v1.body.callback_url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task_id: '1', status: 'success' }) });
    expect(other.status).toBe(409);
    const echo = await fetch(String(v1.body.callback_url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ challenge: 'abc' }) });
    expect(await echo.json()).toEqual({ challenge: 'abc' });
    expect((await getVideo(calling, calling.key, made[0]!.id)).status).toBe('completed');
  });
});

describe('minimax callbacks lost or repeated', () => {
  it('a duplicated callback checks once more at most; a lost one only delays', async () => {
    const fake = await startMinimaxFake({ apiKey: MM_KEY, script: promptDirectives({ queuedMs: 100, runMs: 400 }) });
    const gw = await startWithChannels(channels(fake.baseURL), { models: MINIMAX_MODELS, publicUrl: true, upstream: { callbackPollMs: 3_000 } });
    try {
      fake.callbackMode = 'duplicate';
      const a = await createVideo(gw, gw.key, { model: 'hailuo-2.3', prompt: 'said twice', seconds: '6', size: '1366x768' });
      expect((await waitAllTerminal(gw, gw.key, [a.json.id as string], 20_000)).get(a.json.id as string)!.status).toBe('completed');
      const sa = fake.submissions.at(-1)!;
      expect(fake.callbacks.filter((c) => c.jobId === sa.jobId && c.phase === 'succeeded').length).toBe(2);
      expect(fake.job(sa.jobId).statusCalls).toBeLessThanOrEqual(2);
      expect((await assertBillingConsistent(gw.dataDir)).settled).toBe(1);

      fake.callbackMode = 'drop';
      const b = await createVideo(gw, gw.key, { model: 'minimax-h3', prompt: 'never told', seconds: '5', size: '1366x768' });
      expect((await waitAllTerminal(gw, gw.key, [b.json.id as string], 20_000)).get(b.json.id as string)!.status).toBe('completed');
      const sb = fake.submissions.at(-1)!;
      expect(fake.challenges.find((c) => c.jobId === sb.jobId)?.echoed).toBe(true);
      expect(fake.callbacks.filter((c) => c.jobId === sb.jobId).every((c) => c.status === undefined)).toBe(true);
    } finally {
      await gw.close();
      await fake.close();
    }
  });
});

describe('minimax adapter pieces', () => {
  const agent = new Agent();
  afterAll(() => agent.close());
  const httpFor = (base: string, key: string) =>
    new ChannelHttp(
      base,
      { auth: async () => ({ authorization: `Bearer ${key}` }), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent },
      { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 },
    );
  const media = async (role: 'first_frame' | 'last_frame' | 'reference', w = 800, h = 600): Promise<UpstreamMedia> => ({
    role,
    kind: 'image',
    blob: `x/${role}.png`,
    contentType: 'image/png',
    width: w,
    height: h,
    data: await sharp({ create: { width: w, height: h, channels: 3, background: '#336699' } }).png().toBuffer(),
  });

  it('refuses at create time what a MiniMax model cannot do', () => {
    expect(refuseMinimax(request, 'MiniMax-Hailuo-2.3')).toBeNull();
    expect(refuseMinimax({ ...request, seconds: 10, resolution: '1080p' }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'seconds' });
    expect(refuseMinimax({ ...request, seconds: 5 }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'seconds' });
    expect(refuseMinimax({ ...request, resolution: '4k' }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'resolution' });
    expect(refuseMinimax(request, 'MiniMax-Hailuo-2.3-Fast')).toMatchObject({ param: 'first_frame' });
    expect(refuseMinimax({ ...request, resolution: '480p' }, 'MiniMax-Hailuo-02')).toMatchObject({ param: 'resolution' });
    expect(refuseMinimax({ ...request, audio: true }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'audio' });
    expect(refuseMinimax({ ...request, seed: 1 }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'seed' });
    expect(refuseMinimax({ ...request, negativePrompt: 'blur' }, 'MiniMax-H3')).toMatchObject({ param: 'negative_prompt' });
    expect(refuseMinimax({ ...request, aspectRatio: '9:16', width: 768, height: 1366 }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'aspect_ratio' });
    expect(refuseMinimax({ ...request, aspectRatio: '9:16', width: 768, height: 1366, seconds: 5 }, 'MiniMax-H3')).toBeNull();
    expect(refuseMinimax({ ...request, seconds: 4 }, 'MiniMax-H3-Max')).toMatchObject({ param: 'seconds' });
    expect(refuseMinimax({ ...request, resolution: '480p', seconds: 5 }, 'MiniMax-H3-Max')).toBeNull();
    expect(refuseMinimax({ ...request, resolution: '480p', seconds: 5 }, 'MiniMax-H3')).toMatchObject({ param: 'resolution' });
    expect(refuseMinimax({ ...request, seconds: 5, options: { resolution: '2K' } }, 'MiniMax-H3')).toBeNull();
    expect(refuseMinimax({ ...request, options: { resolution: '2K' } }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'resolution' });
    expect(refuseMinimax({ ...request, options: { prompt_optimizer: 'yes' } }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'prompt_optimizer' });
    const frame = { role: 'last_frame' as const, kind: 'image' as const, blob: 'x/l.png', contentType: 'image/png', width: 1366, height: 768 };
    expect(refuseMinimax({ ...request, lastFrame: frame, firstFrame: { ...frame, role: 'first_frame' } }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'last_frame' });
    expect(refuseMinimax({ ...request, lastFrame: frame, firstFrame: { ...frame, role: 'first_frame' } }, 'MiniMax-Hailuo-02')).toBeNull();
    expect(refuseMinimax({ ...request, firstFrame: { ...frame, role: 'first_frame', width: 200, height: 200 } }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'first_frame' });
    const ref = { ...frame, role: 'reference' as const };
    expect(refuseMinimax({ ...request, references: [ref] }, 'MiniMax-Hailuo-2.3')).toMatchObject({ param: 'references' });
    expect(refuseMinimax({ ...request, references: [ref] }, 'S2V-01')).toBeNull();
    expect(refuseMinimax(request, 'S2V-01')).toMatchObject({ param: 'references' });
  });

  it('normalises every status word, V1 and V2, and reads failures by MiniMax’s codes', () => {
    const words: Array<[string, string]> = [
      ['Preparing', 'waiting'],
      ['Queueing', 'waiting'],
      ['Processing', 'running'],
      ['Success', 'succeeded'],
      ['Fail', 'failed'],
      ['processing', 'running'],
      ['success', 'succeeded'],
      ['failed', 'failed'],
    ];
    for (const [w, s] of words) expect(parseV1Task({ status: w }).state).toBe(s);
    for (const [w, s] of [['queued', 'waiting'], ['running', 'running'], ['succeeded', 'succeeded'], ['failed', 'failed'], ['cancelled', 'cancelled']]) expect(parseV2Task({ status: w }).state).toBe(s);
    expect(parseV1Task({ status: 'Dreaming' })).toMatchObject({ state: 'waiting', unrecognised: true });
    expect(parseV1Task({ status: 'Fail', base_resp: { status_code: 1027, status_msg: 'output video sensitive' } }).error).toMatchObject({ kind: 'moderation', code: '1027' });
    expect(parseV1Task({ status: 'Success', file_id: 123 }).resultUrl).toBe('minimax-file:123');
    expect(parseV2Task({ status: 'succeeded', content: { url: 'https://cdn/x.mp4' }, usage: { output_seconds: 7 } })).toMatchObject({ resultUrl: 'https://cdn/x.mp4', deliveredSeconds: 7 });
  });

  it('sends frames, last frames, subject references, options and V2 references as MiniMax takes them; reads base_resp errors', async () => {
    const fake = await startMinimaxFake({ apiKey: MM_KEY });
    try {
      const http = httpFor(fake.baseURL, MM_KEY);
      const adapter = minimax.create({});
      const job = (model: string, r: Partial<VideoRequest<UpstreamMedia>>): UpstreamSubmit => ({ taskId: 'T', model, request: { ...request, ...r }, idempotencyKey: `k-${model}` });
      const first = await media('first_frame');
      const last = await media('last_frame');
      const a = await adapter.submit(job('MiniMax-Hailuo-02', { firstFrame: first, lastFrame: last, options: { prompt_optimizer: false, fast_pretreatment: true } }), http);
      expect(a.upstreamId).toMatch(/^v1:\d+$/);
      expect(fake.submissions.at(-1)!.body).toMatchObject({ model: 'MiniMax-Hailuo-02', prompt_optimizer: false, fast_pretreatment: true, resolution: '768P', duration: 6 });
      expect(String(fake.submissions.at(-1)!.body.last_frame_image)).toMatch(/^data:image\/png;base64,/);
      await adapter.submit(job('S2V-01', { references: [await media('reference')] }), http);
      const s2v = fake.submissions.at(-1)!.body;
      expect(s2v.duration).toBeUndefined();
      expect(s2v.subject_reference).toEqual([{ type: 'character', image: [expect.stringMatching(/^data:image\/png;base64,/)] }]);
      await adapter.submit(job('MiniMax-H3', { seconds: 8, firstFrame: first, lastFrame: last, references: [await media('reference')], aspectRatio: 'adaptive', options: { prompt_expansion_mode: 'auto', resolution: '2K' } }), http);
      const h3 = fake.submissions.at(-1)!.body;
      expect(h3).toMatchObject({ model: 'MiniMax-H3', duration: 8, ratio: 'adaptive', resolution: '2K', extra: { prompt_expansion_mode: 'auto' } });
      expect((h3.content as Array<{ role?: string }>).map((c) => c.role)).toEqual([undefined, 'first_frame', 'last_frame', 'reference_image']);
      // Text-to-video on V2 cannot be adaptive: the closest fixed ratio is sent.
      await adapter.submit(job('MiniMax-H3', { seconds: 5, aspectRatio: 'adaptive', width: 768, height: 1366 }), http);
      expect(fake.submissions.at(-1)!.body.ratio).toBe('9:16');

      // Errors inside HTTP 200 (base_resp) are read by code: rate limit, balance, bad key.
      for (const [code, kind, status] of [['1002', 'rate_limit', 429], ['1008', 'quota', 402], ['2049', 'auth', 401]] as const) {
        fake.faults.next('submit', 1, fault.error(200, { code, message: `code ${code}` }));
        const err = await adapter.submit(job('MiniMax-Hailuo-2.3', {}), http).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UpstreamError);
        expect((err as UpstreamError).detail).toMatchObject({ kind, status, code });
      }
      // V2's envelope comes with the real HTTP status.
      fake.faults.next('submit', 1, fault.error(402, { errorType: 'insufficient_balance_error', message: 'insufficient balance (1008)' }));
      const v2err = await adapter.submit(job('MiniMax-H3', { seconds: 5 }), http).catch((e: unknown) => e);
      expect((v2err as UpstreamError).detail).toMatchObject({ status: 402, kind: 'quota' });
      // A query for a task MiniMax does not know reads as not found.
      const nf = await adapter.status('v1:999', http).catch((e: unknown) => e);
      expect((nf as UpstreamError).detail.status).toBe(404);
      await adapter.probe(http);
      const denied = await adapter.probe(httpFor(fake.baseURL, 'nope-0000000000')).catch((e: unknown) => e);
      expect((denied as UpstreamError).detail).toMatchObject({ kind: 'auth', code: '2049' });
      // Without a key V1 still answers HTTP 200, with 1004 and a Trace-Id; V2 answers 401 in its envelope.
      const bare = await fetch(`${fake.baseURL}/v1/query/video_generation?task_id=1`);
      expect(bare.status).toBe(200);
      expect(bare.headers.get('trace-id')).toMatch(/^[0-9a-f]{32}$/);
      expect(((await bare.json()) as { base_resp: { status_code: number } }).base_resp.status_code).toBe(1004);
      const bareV2 = await fetch(`${fake.baseURL}/v2/query/video_generation/x`);
      expect([bareV2.status, ((await bareV2.json()) as { error: { type: string } }).error.type]).toEqual([401, 'authorized_error']);
    } finally {
      await fake.close();
    }
  });

  it('asks for a fresh download_url when the one handed out has expired', async () => {
    const fake = await startMinimaxFake({ apiKey: MM_KEY, script: { queuedMs: 0, runMs: 0 }, downloadTtlMs: 1_000, timeScale: 1 });
    try {
      const http = httpFor(fake.baseURL, MM_KEY);
      const adapter = minimax.create({});
      const { upstreamId } = await adapter.submit({ taskId: 'T', model: 'MiniMax-Hailuo-2.3', request, idempotencyKey: 'k' }, http);
      const st = await adapter.status(upstreamId, http);
      expect(st.state).toBe('succeeded');
      const first = await adapter.results(upstreamId, st, http);
      expect((await fetch(first.video as string)).status).toBe(200);
      fake.clock.advance(2_000);
      expect((await fetch(first.video as string)).status).toBe(403);
      const again = await adapter.results(upstreamId, st, http);
      expect(again.video).not.toBe(first.video);
      expect((await fetch(again.video as string)).status).toBe(200);
    } finally {
      await fake.close();
    }
  });
});

describe('minimax restarts', () => {
  it('SIGKILL mid-submit, before submit, while polling and while downloading: nothing lost, nothing sent twice, the key nowhere', async () => {
    const fake = await startMinimaxFake({ apiKey: MM_KEY, script: promptDirectives({ queuedMs: 100, runMs: 600 }), cdnRejectAuthorization: true });
    try {
      await restartInEveryPhase({
        fake,
        channel: { id: 'mm', type: 'minimax', base_url: fake.baseURL, api_key: MM_KEY, models: [{ model: 'hailuo-2.3', upstream_model: 'MiniMax-Hailuo-2.3' }] },
        models: MINIMAX_MODELS,
        model: 'hailuo-2.3',
        body: { seconds: '6', size: '1366x768' },
        idempotent: false,
        secrets: [MM_KEY],
      });
      // V1 results went through files/retrieve (asked again after the restart mid-download).
      expect(fake.requestsFor('content').length).toBeGreaterThanOrEqual(6);
    } finally {
      await fake.close();
    }
  }, 180_000);
});
