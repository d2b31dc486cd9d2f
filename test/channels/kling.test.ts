import { createHmac } from 'node:crypto';
import { Agent } from 'undici';
import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelHttp } from '../../src/channels/http.js';
import type { VideoRequest } from '../../src/core/video-request.js';
import { kling } from '../../src/providers/kling/index.js';
import { refuseKling } from '../../src/providers/kling/models.js';
import type { UpstreamMedia, UpstreamSubmit } from '../../src/providers/types.js';
import { UpstreamError } from '../../src/providers/types.js';
import type { KlingFake } from '../fakes/index.js';
import { fault, promptDirectives, startKlingFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const AK = 'ak-kling-access-0123456789';
const SK = 'sk-kling-secret-ABCDEFGHIJKLMNOP';
const WHSEC = `whsec_${Buffer.from('kling-webhook-signing-key-32byte').toString('base64')}`;

/** Kling models as the operator adds them to the catalogue (until the built-in catalogue has them). */
export const KLING_MODELS = [
  { id: 'kling-v2-6', sizes: ['1280x720', '720x1280', '1920x1080', '1080x1920'], seconds: [5, 10], pricePerSecond: { '720p': 0.07, '1024p': 0.1, '1080p': 0.1 } },
  { id: 'kling-3.0', sizes: ['1280x720', '720x1280'], seconds: [3, 5, 10, 15], pricePerSecond: { '720p': 0.1, '1024p': 0.1, '1080p': 0.1 } },
];

const baseRequest: VideoRequest<UpstreamMedia> = {
  model: 'kling-v2-6',
  prompt: 'a lighthouse',
  seconds: 5,
  aspectRatio: '16:9',
  resolution: '720p',
  width: 1280,
  height: 720,
  audio: false,
  references: [],
  options: {},
};

/**
 * The `kling` adapter end to end, through both client dialects, against the Kling fake: JWT
 * auth, the flat and the 3.x API, callbacks (and what is refused of them), failures with Kling's
 * reason, create-time refusals, and finding a submit whose answer was lost.
 */
describe('kling adapter', () => {
  let fake: KlingFake;
  let gw: TestGateway;
  const callbackPollMs = 10_000;

  beforeAll(async () => {
    fake = await startKlingFake({ accessKeys: { [AK]: SK }, apiKey: [], webhookSecret: WHSEC, script: promptDirectives({ queuedMs: 100, runMs: 500 }), cdnRejectAuthorization: true });
    gw = await startWithChannels(
      [
        channel('kling-flat', 'kling', fake.baseURL, { api_key: undefined, access_key: AK, secret_key: SK, models: ['kling-v2-6'] }),
        channel('kling-3', 'kling', fake.baseURL, { api_key: undefined, access_key: AK, secret_key: SK, webhook_secret: WHSEC, models: ['kling-3.0'] }),
      ],
      { models: KLING_MODELS, publicUrl: true, upstream: { callbackPollMs } },
    );
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('maps requests through both dialects onto both APIs, signs in with one renewable JWT, and keeps the result', async () => {
    const client = gw.openai();
    const a = await client.videos.create({ model: 'kling-v2-6' as 'sora-2', prompt: 'a lighthouse at dusk', seconds: '5' as '4', size: '1920x1080' as '1280x720' });
    const png = await sharp({ create: { width: 720, height: 1280, channels: 3, background: '#2255aa' } }).png().toBuffer();
    const b = await client.videos.create({ model: 'kling-v2-6' as 'sora-2', prompt: 'the frame comes alive', seconds: '10' as '4', size: '720x1280', input_reference: await toFile(png, 'f.png', { type: 'image/png' }) });
    const apimart = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'kling-3.0', prompt: 'a paper crane unfolds', duration: 5, aspect_ratio: '9:16' }),
    });
    expect(apimart.status).toBe(200);
    const taskId = ((await apimart.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    for (const v of await Promise.all([a, b].map((x) => waitForVideo(client, x.id, 30_000)))) expect(v.status, JSON.stringify(v.error)).toBe('completed');
    let task: { data: { status: string; result?: { videos: Array<{ url: string[] }> } } };
    for (;;) {
      task = (await (await fetch(`${gw.url}/v1/tasks/${taskId}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as typeof task;
      if (task.data.status !== 'pending' && task.data.status !== 'processing') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(task.data.status).toBe('completed');

    const t2v = fake.submissions.find((x) => x.body.prompt === 'a lighthouse at dusk');
    const i2v = fake.submissions.find((x) => x.body.prompt === 'the frame comes alive');
    const v3 = fake.submissions.find((x) => Array.isArray(x.body.contents));
    const t2vReq = fake.requests.find((r) => r.seq === t2v!.seq)!;
    expect(t2vReq.path).toBe('/v1/videos/text2video');
    expect(t2v!.body).toMatchObject({ model_name: 'kling-v2-6', prompt: 'a lighthouse at dusk', mode: 'pro', duration: '5', aspect_ratio: '16:9', sound: 'off' });
    expect(t2vReq.fieldTypes.duration).toBe('string');
    expect(t2v!.body.external_task_id).toMatch(/^vidgate-[0-9A-Z]{26}-kling-flat$/);
    expect(t2v!.body.callback_url).toMatch(/\/v1\/upstream-callbacks\//);
    // The frame goes as a signed link to the gateway's copy (it has a public URL), which serves it.
    expect(fake.requests.find((r) => r.seq === i2v!.seq)!.path).toBe('/v1/videos/image2video');
    expect(i2v!.body).toMatchObject({ mode: 'std', duration: '10' });
    expect(i2v!.body.aspect_ratio).toBeUndefined();
    const link = await fetch(String(i2v!.body.image));
    expect(link.status).toBe(200);
    expect((await sharp(Buffer.from(await link.arrayBuffer())).metadata()).height).toBe(1280);
    expect(fake.requests.find((r) => r.seq === v3!.seq)!.path).toBe('/text-to-video/kling-3.0');
    expect(v3!.body).toMatchObject({
      contents: [{ type: 'prompt', text: 'a paper crane unfolds' }],
      settings: { resolution: '720p', duration: 5, aspect_ratio: '9:16', audio: 'off', multi_shot: false },
      options: { watermark_info: { enabled: false } },
    });
    expect((v3!.body.options as { callback_url?: string }).callback_url).toMatch(/\/v1\/upstream-callbacks\//);
    // Every request carried a JWT the fake verified; one token per channel served them all (it lives
    // 30 minutes). Both channels share a key, so two tokens minted in the same second are identical.
    expect(fake.tokensSeen.size).toBeGreaterThanOrEqual(1);
    expect(fake.tokensSeen.size).toBeLessThanOrEqual(2);
    expect(fake.cdn.requests.length).toBeGreaterThanOrEqual(3);
    expect(fake.cdn.leaks()).toEqual([]);
    // The callbacks said when to look: one status call per job, not a polling schedule.
    for (const s of fake.submissions) expect(fake.job(s.jobId).statusCalls).toBeLessThanOrEqual(2);
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(3);
  });

  it('passes Kling’s own reason for a failed job to the client, as a stable code', async () => {
    const moderated = await createVideo(gw, gw.key, { model: 'kling-v2-6', prompt: 'risky [[fake: outcome=moderation]]', seconds: '5', size: '1280x720' });
    const failed = await createVideo(gw, gw.key, { model: 'kling-v2-6', prompt: 'boom [[fake: outcome=fail message=GPU_worker_lost_the_job]]', seconds: '5', size: '1280x720' });
    const ids = [moderated.json.id as string, failed.json.id as string];
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    expect(done.get(ids[0]!)!.error).toMatchObject({ code: 'moderation_blocked' });
    expect(done.get(ids[0]!)!.error!.message).toContain('Failure to pass the risk control system');
    expect(done.get(ids[1]!)!.error).toMatchObject({ code: 'upstream_failed' });
    expect(done.get(ids[1]!)!.error!.message).toContain('GPU worker lost the job');
    // The apimart dialect shows the same reason.
    const res = await fetch(`${gw.url}/v1/tasks/${ids[0]!.replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${gw.key}` } });
    const body = (await res.json()) as { data: { status: string; error?: { message: string } } };
    expect(body.data.status).toBe('failed');
    expect(body.data.error?.message).toContain('risk control');
  });

  it('refuses forged, replayed and unknown callbacks without changing anything; a genuine one only triggers a check', async () => {
    const created = await createVideo(gw, gw.key, { model: 'kling-3.0', prompt: 'long [[fake: runMs=60000]]', seconds: '5', size: '1280x720' });
    const other = await createVideo(gw, gw.key, { model: 'kling-3.0', prompt: 'another long one [[fake: runMs=60000]]', seconds: '5', size: '1280x720' });
    expect(created.status).toBe(200);
    const [mine, theirs] = await Promise.all([created, other].map(async (c) => {
      const s = await fake.waitFor((f) => f.submissions.find((x) => (x.body.contents as Array<{ text?: string }> | undefined)?.[0]?.text === (c.json.prompt as string)));
      return { jobId: s.jobId, url: (s.body.options as { callback_url: string }).callback_url };
    }));
    await fake.waitFor((f) => f.callbacks.some((c) => c.jobId === mine!.jobId && c.phase === 'running'), { timeoutMs: 10_000 });
    const job = fake.job(mine!.jobId);
    const calls = job.statusCalls;
    const signed = (body: string) => {
      const id = 'msg_test';
      const ts = String(Math.floor(Date.now() / 1000));
      const sig = createHmac('sha256', Buffer.from(WHSEC.slice(6), 'base64')).update(`${id}.${ts}.${body}`).digest('base64');
      return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };
    };
    const post = (url: string, body: string, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const claim = (id: string) => JSON.stringify({ code: 0, message: 'SUCCEED', data: { id, status: 'succeeded', outputs: [{ type: 'video', url: 'https://evil.example/x.mp4' }] } });

    // A token that was not signed by the gateway, and one for no task at all.
    const forgedToken = mine!.url.replace(/~[A-Za-z0-9_-]{43}$/, `~${'A'.repeat(43)}`);
    expect((await post(forgedToken, claim(mine!.jobId), signed(claim(mine!.jobId)))).status).toBe(404);
    expect((await post(`${gw.url}/v1/upstream-callbacks/nothing-here`, claim(mine!.jobId))).status).toBe(404);
    // The right URL with a body about another task's job (a replay): refused.
    expect((await post(mine!.url, claim(theirs!.jobId), signed(claim(theirs!.jobId)))).status).toBe(409);
    // The right URL and job, but not signed with the webhook secret (Kling 3.x signs): refused.
    expect((await post(mine!.url, claim(mine!.jobId))).status).toBe(401);
    expect((await post(mine!.url, claim(mine!.jobId), { ...signed(claim(mine!.jobId)), 'webhook-signature': 'v1,AAAA' })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(job.statusCalls).toBe(calls);
    expect((await getVideo(gw, gw.key, created.json.id as string)).status).not.toBe('completed');

    // Authentic and signed, claiming success: the gateway asks Kling, which says it is still running.
    expect((await post(mine!.url, claim(mine!.jobId), signed(claim(mine!.jobId)))).status).toBe(200);
    await fake.waitFor(() => job.statusCalls > calls, { timeoutMs: 10_000 });
    const v = await getVideo(gw, gw.key, created.json.id as string);
    expect(v.status).toBe('in_progress');
    expect(fake.cdn.requests.some((r) => r.url.includes('evil'))).toBe(false);
  });

  it('a lost callback only delays: the fallback check finds the job done', async () => {
    fake.callbackMode = 'drop';
    try {
      const c = await createVideo(gw, gw.key, { model: 'kling-v2-6', prompt: 'callbacks lost', seconds: '5', size: '1280x720' });
      const v = (await waitAllTerminal(gw, gw.key, [c.json.id as string], callbackPollMs * 3)).get(c.json.id as string)!;
      expect(v.status).toBe('completed');
      const s = fake.submissions.at(-1)!;
      expect(fake.callbacks.filter((x) => x.jobId === s.jobId).every((x) => x.status === undefined)).toBe(true);
      expect(fake.job(s.jobId).statusCalls).toBe(1);
    } finally {
      fake.callbackMode = 'send';
    }
  });
});

describe('kling adapter pieces', () => {
  it('refuses at create time what a Kling model cannot do', () => {
    expect(refuseKling(baseRequest, 'kling-v2-6')).toBeNull();
    expect(refuseKling({ ...baseRequest, seconds: 8 }, 'kling-v2-6')).toMatchObject({ param: 'seconds' });
    expect(refuseKling({ ...baseRequest, seconds: 8 }, 'kling-v3')).toBeNull();
    expect(refuseKling({ ...baseRequest, audio: true }, 'kling-v2-5-turbo')).toMatchObject({ param: 'audio' });
    expect(refuseKling({ ...baseRequest, audio: true, mode: 'std' }, 'kling-v2-6')).toMatchObject({ param: 'audio' });
    expect(refuseKling({ ...baseRequest, audio: true, mode: 'pro' }, 'kling-v2-6')).toBeNull();
    expect(refuseKling({ ...baseRequest, resolution: '4k' }, 'kling-v2-6')).toMatchObject({ param: 'resolution' });
    expect(refuseKling({ ...baseRequest, resolution: '4k' }, 'kling-3.0')).toBeNull();
    expect(refuseKling({ ...baseRequest, resolution: '4k' }, 'kling-3.0-turbo')).toMatchObject({ param: 'resolution' });
    expect(refuseKling({ ...baseRequest, negativePrompt: 'blur' }, 'kling-v2-6')).toBeNull();
    expect(refuseKling({ ...baseRequest, negativePrompt: 'blur' }, 'kling-3.0')).toMatchObject({ param: 'negative_prompt' });
    expect(refuseKling({ ...baseRequest, seed: 7 }, 'kling-v2-6')).toMatchObject({ param: 'seed' });
    expect(refuseKling({ ...baseRequest, aspectRatio: '21:9' }, 'kling-v2-6')).toMatchObject({ param: 'aspect_ratio' });
    const frame = { role: 'last_frame' as const, kind: 'image' as const, blob: 'x/l.png', contentType: 'image/png', width: 1280, height: 720 };
    expect(refuseKling({ ...baseRequest, lastFrame: frame }, 'kling-v2-6')).toMatchObject({ param: 'last_frame' });
    const small = { ...frame, role: 'first_frame' as const, width: 200, height: 200 };
    expect(refuseKling({ ...baseRequest, firstFrame: small }, 'kling-v2-6')).toMatchObject({ param: 'first_frame' });
    const ref = { ...frame, role: 'reference' as const };
    expect(refuseKling({ ...baseRequest, references: [ref] }, 'kling-3.0')).toMatchObject({ param: 'references' });
    expect(refuseKling({ ...baseRequest, references: [ref] }, 'kling-3.0-omni')).toBeNull();
    expect(refuseKling({ ...baseRequest, options: { camera_control: { type: 'forward_up' } } }, 'kling-v1')).toBeNull();
    expect(refuseKling({ ...baseRequest, options: { camera_control: { type: 'forward_up' } } }, 'kling-v2-6')).toMatchObject({ param: 'camera_control' });
  });

  it('checks its credentials: access and secret key together, or an API key', () => {
    expect(kling.checkCredentials!({ fields: { access_key: 'a' } })).toMatch(/together/);
    expect(kling.checkCredentials!({})).toMatch(/access_key and secret_key/);
    expect(kling.checkCredentials!({ fields: { access_key: 'a', secret_key: 'b' } })).toBeNull();
    expect(kling.checkCredentials!({ apiKey: 'k' })).toBeNull();
  });

  it('finds a submit whose answer was lost by its external_task_id; reads 200-with-code errors', async () => {
    const fake = await startKlingFake({ accessKeys: { [AK]: SK }, apiKey: 'plain-kling-key-0001', maxConcurrentJobs: 1 });
    const agent = new Agent();
    try {
      const http = new ChannelHttp(
        fake.baseURL,
        { auth: async () => ({ authorization: 'Bearer plain-kling-key-0001' }), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent },
        { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 },
      );
      const adapter = kling.create({ watermark: false });
      for (const model of ['kling-v2-6', 'kling-3.0']) {
        const job: UpstreamSubmit = { taskId: 'T', model, request: { ...baseRequest, model, references: [] }, idempotencyKey: `vidgate-lost-${model}` };
        fake.faults.next('submit', 1, fault.reset({ after: true }));
        const err = await adapter.submit(job, http).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UpstreamError);
        expect((err as UpstreamError).kind).toBe('unknown-outcome');
        const found = await adapter.find!(job, http, Date.now());
        expect(found?.upstreamId).toMatch(/^(text2video|tasks):\d+$/);
        expect(fake.job(found!.upstreamId.split(':')[1]!).body.prompt ?? model).toBeTruthy();
        expect(await adapter.find!({ ...job, idempotencyKey: `never-sent-${model}` }, http, Date.now())).toBeNull();
        fake.job(found!.upstreamId.split(':')[1]!).cancel();
      }
      // Over the account's concurrency Kling answers HTTP 200 with code 1303: a rate limit.
      await adapter.submit({ taskId: 'T', model: 'kling-v2-6', request: baseRequest, idempotencyKey: 'busy-1' }, http);
      const busy = await adapter.submit({ taskId: 'T', model: 'kling-v2-6', request: baseRequest, idempotencyKey: 'busy-2' }, http).catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(UpstreamError);
      expect((busy as UpstreamError).detail).toMatchObject({ status: 429, kind: 'rate_limit', code: '1303' });
    } finally {
      await agent.close();
      await fake.close();
    }
  });
});
