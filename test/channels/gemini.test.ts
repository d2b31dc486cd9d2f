import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoRequest } from '../../src/core/video-request.js';
import { Agent } from 'undici';
import { ChannelHttp } from '../../src/channels/http.js';
import { downloadUri, gemini } from '../../src/providers/gemini/index.js';
import type { UpstreamMedia } from '../../src/providers/types.js';
import { parseInteractionWord, refuseOmni } from '../../src/providers/gemini/omni.js';
import { googleKind, refuseVeo } from '../../src/providers/veo.js';
import type { GeminiFake } from '../fakes/index.js';
import { fault, fixtures, promptDirectives, startGeminiFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { cli, spawnServer } from '../helpers/process.js';
import type { ServerProcess } from '../helpers/process.js';
import { assertBillingConsistent, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const KEY = 'AIzaSyD-gemini-test-key-0123456789abcdef';

/** Models as the operator adds them to the catalogue (until the built-in catalogue has them). */
export const GEMINI_MODELS = [
  { id: 'veo-3.1-generate-preview', audio: 'always', sizes: ['1280x720', '720x1280', '1920x1080'], seconds: [4, 6, 8], pricePerSecond: { '720p': 0.4, '1024p': 0.4, '1080p': 0.4 } },
  { id: 'veo-3.1-fast-generate-preview', audio: 'always', sizes: ['1280x720', '720x1280'], seconds: [4, 6, 8], pricePerSecond: { '720p': 0.1, '1024p': 0.12, '1080p': 0.12 } },
  { id: 'veo-3.1-lite-generate-preview', audio: 'always', sizes: ['1280x720', '720x1280'], seconds: [4, 6, 8], pricePerSecond: { '720p': 0.05, '1024p': 0.08, '1080p': 0.08 } },
  { id: 'gemini-omni-1.1-flash', sizes: ['1280x720', '720x1280'], seconds: [4, 6, 8, 10], pricePerSecond: { '720p': 0.1, '1024p': 0.1, '1080p': 0.1 } },
];

const base: VideoRequest = {
  model: 'gemini-omni-1.1-flash',
  prompt: 'a heron',
  seconds: 8,
  aspectRatio: '16:9',
  resolution: '720p',
  width: 1280,
  height: 720,
  audio: false,
  references: [],
  options: {},
};

const get = async (gw: TestGateway, p: string) => (await fetch(`${gw.url}${p}`, { headers: { authorization: `Bearer ${gw.key}` } })).json() as Promise<Record<string, unknown>>;
const veoPrompt = (s: { body: Record<string, unknown> }): string | undefined => (s.body.instances as Array<{ prompt: string }> | undefined)?.[0]?.prompt;
const omniPrompt = (s: { body: Record<string, unknown> }): string | undefined => (s.body.input as Array<{ text?: string }> | undefined)?.[0]?.text;


/**
 * A request the channel's model cannot make: refused at create (400 naming the parameter) where
 * the create path consults the adapter's refusal, else failed before anything is sent.
 */
async function expectRefused(gw: TestGateway, body: Record<string, unknown>, param: string, words: string): Promise<void> {
  const r = await createVideo(gw, gw.key, body);
  if (r.status === 400) {
    const e = r.json.error as { param?: string; message: string };
    expect(e.param).toBe(param);
    expect(e.message).toContain(words);
    return;
  }
  expect(r.status).toBe(200);
  const v = (await waitAllTerminal(gw, gw.key, [r.json.id as string], 30_000)).get(r.json.id as string)!;
  expect(v.error).toMatchObject({ code: 'upstream_invalid_request' });
  expect(v.error!.message).toContain(words);
}

/**
 * The `gemini` adapter end to end through both dialects against the Gemini API fake: Veo through
 * predictLongRunning and its operation (the key on every API call and the file download, never
 * on the redirect target), Gemini Omni through background interactions (Files API URI and inline
 * data), Google's reasons with stable codes, cancel, and Veo/Omni webhooks as a reason to check.
 */
describe('gemini adapter', () => {
  let fake: GeminiFake;
  let polling: TestGateway;
  let calling: TestGateway;

  beforeAll(async () => {
    fake = await startGeminiFake({ apiKey: KEY, script: promptDirectives({ queuedMs: 100, runMs: 400 }), getDelivery: 'as-requested', fileProcessingPolls: 1, cdnRejectAuthorization: true });
    [polling, calling] = await Promise.all([
      startWithChannels(
        [
          { id: 'gemini', type: 'gemini', base_url: fake.baseURL, api_key: KEY, models: ['veo-3.1-generate-preview', 'gemini-omni-1.1-flash'] },
          // A key Google does not know: answered 400 INVALID_ARGUMENT "API key not valid", which breaks the channel, not the request.
          { id: 'gemini-stale-key', type: 'gemini', base_url: fake.baseURL, api_key: 'AIzaSyStale-key-0000000000000000000', models: ['veo-3.1-lite-generate-preview'] },
        ],
        { models: GEMINI_MODELS },
      ),
      startWithChannels([{ id: 'gemini-cb', type: 'gemini', base_url: fake.url, api_key: KEY, models: ['veo-3.1-fast-generate-preview', 'gemini-omni-1.1-flash'], options: { delivery: 'inline', webhook_jwks_url: fake.jwksURL } }], {
        models: GEMINI_MODELS,
        publicUrl: true,
        upstream: { callbackPollMs: 20_000 },
      }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([polling?.close(), calling?.close()]);
    await fake?.close();
  });

  it('maps both dialects onto Veo and Omni, downloads with the key only where Google wants it, and keeps the videos', async () => {
    const client = polling.openai();
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#aa5522' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'veo-3.1-generate-preview' as 'sora-2', prompt: 'sunrise over rice terraces', seconds: '8' as '4', size: '1280x720', input_reference: await toFile(png, 's.png', { type: 'image/png' }) });
    const res = await fetch(`${polling.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${polling.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gemini-omni-1.1-flash', prompt: 'a paper boat in a gutter', duration: 6, aspect_ratio: '9:16' }),
    });
    expect(res.status).toBe(200);
    const b = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id.replace('task_', 'video_');
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const vb = (await waitAllTerminal(polling, polling.key, [b], 30_000)).get(b)!;
    expect(vb.status, JSON.stringify(vb.error)).toBe('completed');

    const veo = fake.submissions.find((s) => veoPrompt(s) === 'sunrise over rice terraces')!;
    expect(fake.requests.find((r) => r.seq === veo.seq)!.path).toBe('/v1beta/models/veo-3.1-generate-preview:predictLongRunning');
    // No seed, no generateAudio on the Gemini API (it rejects them); duration an integer.
    expect(veo.body.parameters).toEqual({ aspectRatio: '16:9', resolution: '720p', durationSeconds: 8, sampleCount: 1 });
    expect(fake.requests.find((r) => r.seq === veo.seq)!.fieldTypes).toMatchObject({ instances: 'array', parameters: 'object' });
    const image = (veo.body.instances as Array<{ image: { bytesBase64Encoded: string; mimeType: string } }>)[0]!.image;
    expect(image.mimeType).toBe('image/png');
    expect(veo.body.webhookConfig).toBeUndefined();

    const omni = fake.submissions.find((s) => omniPrompt(s) === 'a paper boat in a gutter')!;
    expect(omni.body).toEqual({
      model: 'gemini-omni-1.1-flash',
      input: [{ type: 'text', text: 'a paper boat in a gutter' }],
      response_format: { type: 'video', aspect_ratio: '9:16', resolution: '720p', delivery: 'uri' },
      generation_config: { video_config: { task: 'text_to_video' } },
      background: true,
      store: true,
    });
    // The Omni file was PROCESSING at first: the gateway waited until it was ACTIVE.
    expect(fake.params.get(omni.jobId)!.fileReads).toBeGreaterThanOrEqual(2);

    // Every API call carried the key in its header (never in a URL); the file downloads too, and
    // they redirected to the bytes, which were fetched without it.
    for (const r of fake.requests.filter((x) => x.path !== '/.well-known/jwks.json')) {
      expect(r.headers['x-goog-api-key']).toBe(KEY);
      expect(r.url).not.toContain(KEY);
    }
    expect(fake.requests.filter((r) => r.route === 'content').map((r) => r.response?.status)).toEqual([302, 302]);
    expect(fake.cdn.requests.length).toBeGreaterThanOrEqual(2);
    expect(fake.cdn.leaks()).toEqual([]);

    const content = Buffer.from(await (await fetch(`${polling.url}/v1/videos/${a.id}/content`, { headers: { authorization: `Bearer ${polling.key}` } })).arrayBuffer());
    expect(content.equals(fixtures.sampleMp4())).toBe(true);
    expect((await assertBillingConsistent(polling.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('passes Google’s reasons to the client with stable codes', async () => {
    fake.faults.add({
      route: 'submit',
      when: (r) => JSON.stringify(r.json).includes('refused at submit'),
      action: fault.error(400, { message: 'Image-to-video with a person is not allowed with personGeneration allow_all in your region.' }),
    });
    const made = await Promise.all([
      createVideo(polling, polling.key, { model: 'veo-3.1-generate-preview', prompt: 'filtered [[fake: outcome=moderation message=The_video_was_blocked_by_our_safety_filters]]', seconds: '8', size: '1280x720' }),
      createVideo(polling, polling.key, { model: 'veo-3.1-generate-preview', prompt: 'boom [[fake: outcome=fail code=13 message=Video_generation_failed_on_the_server]]', seconds: '8', size: '1280x720' }),
      createVideo(polling, polling.key, { model: 'gemini-omni-1.1-flash', prompt: 'refused by the model [[fake: outcome=moderation]]', seconds: '8', size: '1280x720' }),
      createVideo(polling, polling.key, { model: 'gemini-omni-1.1-flash', prompt: 'bad [[fake: outcome=fail code=INVALID_ARGUMENT message=The_reference_image_could_not_be_decoded]]', seconds: '8', size: '1280x720' }),
      createVideo(polling, polling.key, { model: 'veo-3.1-generate-preview', prompt: 'refused at submit', seconds: '8', size: '1280x720' }),
      createVideo(polling, polling.key, { model: 'veo-3.1-lite-generate-preview', prompt: 'through a stale key', seconds: '8', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(polling, polling.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    expect(errors[0]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[0]!.message).toContain('blocked by our safety filters');
    expect(errors[1]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[1]!.message).toContain('Video generation failed on the server');
    expect(errors[2]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[2]!.message).toContain('safety policies');
    expect(errors[3]).toMatchObject({ code: 'upstream_invalid_request' });
    expect(errors[3]!.message).toContain('could not be decoded');
    expect(errors[4]).toMatchObject({ code: 'upstream_invalid_request' });
    expect(errors[4]!.message).toContain('personGeneration');
    expect(errors[5]).toMatchObject({ code: 'upstream_unavailable' });
    expect(errors[5]!.message).toContain('API key not valid');
    expect(errors[5]!.message).not.toContain('AIzaSyStale');
    await expectRefused(polling, { model: 'veo-3.1-generate-preview', prompt: '1080p is 8 s only', seconds: '4', size: '1920x1080' }, 'seconds', '8 seconds only');
    expect(fake.submissions.some((s) => veoPrompt(s) === '1080p is 8 s only')).toBe(false);
    const task = (await get(polling, `/v1/tasks/${ids[2]!.replace('video_', 'task_')}`)) as { data: { status: string; error?: { message: string } } };
    expect(task.data.status).toBe('failed');
    expect(task.data.error?.message).toContain('safety policies');
    expect((await assertBillingConsistent(polling.dataDir)).released).toBeGreaterThanOrEqual(6);
  });

  it('rides out Google’s faults: 429 with Retry-After at submit, 5xx and garbled status answers, duplicate callbacks', async () => {
    fake.faults.add({ route: 'submit', times: 1, when: (r) => JSON.stringify(r.json).includes('busy upstream'), action: fault.error(429, { retryAfter: 1 }) });
    const a = await createVideo(polling, polling.key, { model: 'veo-3.1-generate-preview', prompt: 'busy upstream', seconds: '8', size: '1280x720' });
    const s = await fake.waitFor((f) => f.submissions.find((x) => veoPrompt(x) === 'busy upstream'));
    fake.faults.add({ route: 'status', jobId: s.jobId, times: 2, action: fault.error(503) });
    fake.faults.add({ route: 'status', jobId: s.jobId, skip: 2, times: 1, action: fault.malformed('truncated') });
    fake.callbackMode = 'duplicate';
    try {
      const b = await createVideo(calling, calling.key, { model: 'gemini-omni-1.1-flash', prompt: 'told twice', seconds: '8', size: '1280x720' });
      const done = await waitAllTerminal(polling, polling.key, [a.json.id as string], 30_000);
      expect(done.get(a.json.id as string)!.status).toBe('completed');
      const twice = await waitAllTerminal(calling, calling.key, [b.json.id as string], 30_000);
      expect(twice.get(b.json.id as string)!.status).toBe('completed');
      const t = fake.submissions.find((x) => omniPrompt(x) === 'told twice')!;
      expect(fake.callbacks.filter((c) => c.jobId === t.jobId).length).toBe(2);
    } finally {
      fake.callbackMode = 'send';
    }
    // The 429 was one refused submit; the job was made once.
    expect(fake.requests.filter((r) => r.route === 'submit' && JSON.stringify(r.json).includes('busy upstream')).map((r) => r.response?.status)).toEqual([429, 200]);
    expect(fake.requestsFor('status', s.jobId).filter((r) => r.faults.length > 0).length).toBe(3);
    expect((await assertBillingConsistent(polling.dataDir)).settled).toBeGreaterThanOrEqual(1);
  });

  it('cancels the Omni interaction when the client deletes its video', async () => {
    const client = polling.openai();
    const v = await client.videos.create({ model: 'gemini-omni-1.1-flash' as 'sora-2', prompt: 'a long one [[fake: runMs=60000]]', seconds: '8' as '4', size: '1280x720' });
    const s = await fake.waitFor((f) => f.submissions.find((x) => omniPrompt(x)?.startsWith('a long one')));
    await fake.waitFor((f) => f.job(s.jobId).statusCalls > 0);
    await client.videos.delete(v.id);
    await fake.waitFor((f) => f.requestsFor('delete', s.jobId).length > 0);
    await fake.waitFor((f) => f.job(s.jobId).phase() === 'cancelled');
  });

  it('with a public URL: Veo and Omni call back with Google-signed JWTs, a callback only triggers a check, forged ones change nothing, a lost one only delays', async () => {
    const client = calling.openai();
    const before = fake.submissions.length;
    const made = await Promise.all([
      client.videos.create({ model: 'veo-3.1-fast-generate-preview' as 'sora-2', prompt: 'veo calls back', seconds: '4' as const, size: '720x1280' }),
      client.videos.create({ model: 'gemini-omni-1.1-flash' as 'sora-2', prompt: 'omni calls back', seconds: '8' as '4', size: '1280x720' }),
    ]);
    for (const v of made) expect((await waitForVideo(client, v.id, 20_000)).status).toBe('completed');
    const mine = fake.submissions.slice(before);
    expect(mine).toHaveLength(2);
    const veo = mine.find((s) => veoPrompt(s) === 'veo calls back')!;
    const omni = mine.find((s) => omniPrompt(s) === 'omni calls back')!;
    expect((veo.body.webhookConfig as { uris: string[] }).uris[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/upstream-callbacks\//);
    expect((omni.body.webhook_config as { uris: string[] }).uris[0]).toMatch(/\/v1\/upstream-callbacks\//);
    expect((omni.body.response_format as { delivery: string }).delivery).toBe('inline');
    for (const s of [veo, omni]) {
      expect(fake.callbacks.filter((c) => c.jobId === s.jobId).map((c) => c.status)).toEqual([200]);
      // No polling schedule: the callback said when to look (one check, plus the submit's).
      expect(fake.job(s.jobId).statusCalls).toBeLessThanOrEqual(2);
    }
    // Their JWTs were checked against the published keys, fetched once and kept.
    expect(fake.requests.filter((r) => r.path === '/.well-known/jwks.json')).toHaveLength(1);

    // A callback for another task's job at this task's URL is refused; one for this job only makes a check.
    const long = await createVideo(calling, calling.key, { model: 'gemini-omni-1.1-flash', prompt: 'still running [[fake: runMs=60000]]', seconds: '8', size: '1280x720' });
    const s = await fake.waitFor((f) => f.submissions.find((x) => omniPrompt(x)?.startsWith('still running')));
    const url = (s.body.webhook_config as { uris: string[] }).uris[0]!;
    await fake.waitFor((f) => f.job(s.jobId).statusCalls > 0 || undefined, { timeoutMs: 10_000 }).catch(() => undefined);
    const calls = fake.job(s.jobId).statusCalls;
    const now = Math.floor(Date.now() / 1000);
    const genuine = fake.signWebhookJwt({ iss: 'https://generativelanguage.googleapis.com', aud: url, iat: now, exp: now + 300 });
    const { privateKey: strangerKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = fake.signWebhookJwt({ iss: 'https://generativelanguage.googleapis.com', aud: url, iat: now, exp: now + 300 }, strangerKey);
    const stale = fake.signWebhookJwt({ iss: 'https://generativelanguage.googleapis.com', aud: url, iat: now - 900, exp: now - 600 });
    const post = (body: unknown, signature?: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': 'msg_test', 'webhook-timestamp': String(now), ...(signature ? { 'webhook-signature': signature } : {}) }, body: JSON.stringify(body) });
    const event = (id: string) => ({ type: 'interaction.completed', version: 'v1', timestamp: new Date().toISOString(), data: { id } });
    // Not signed by Google's published key, unsigned, or expired: refused.
    expect((await post(event(s.jobId))).status).toBe(401);
    expect((await post(event(s.jobId), forged)).status).toBe(401);
    expect((await post(event(s.jobId), stale)).status).toBe(401);
    // Signed, but about another task's job: refused. A forged URL token: unknown.
    expect((await post(event(omni.jobId), genuine)).status).toBe(409);
    expect((await fetch(url.replace(/~[A-Za-z0-9_-]{43}$/, `~${'A'.repeat(43)}`), { method: 'POST', body: '{}' })).status).toBe(404);
    expect(fake.job(s.jobId).statusCalls).toBe(calls);
    expect((await post(event(s.jobId), genuine)).status).toBe(200);
    await fake.waitFor((f) => f.job(s.jobId).statusCalls > calls, { timeoutMs: 10_000 });
    expect((await getVideo(calling, calling.key, long.json.id as string)).status).not.toBe('completed');

    fake.callbackMode = 'drop';
    try {
      const c = await createVideo(calling, calling.key, { model: 'veo-3.1-fast-generate-preview', prompt: 'callback lost', seconds: '4', size: '1280x720' });
      const v = (await waitAllTerminal(calling, calling.key, [c.json.id as string], 60_000)).get(c.json.id as string)!;
      expect(v.status).toBe('completed');
    } finally {
      fake.callbackMode = 'send';
    }
  }, 90_000);
});

describe('gemini adapter pieces', () => {
  it('refuses at create time what Veo on the Gemini API and Gemini Omni cannot do', () => {
    // Veo 3.x always makes sound on the Gemini API: a silent request is refused, not quietly given sound.
    const veo = { ...base, model: 'veo-3.1-generate-preview', audio: true };
    expect(refuseVeo(veo, 'veo-3.1-generate-preview', 'gemini')).toBeNull();
    expect(refuseVeo({ ...veo, audio: false }, 'veo-3.1-generate-preview', 'gemini')).toMatchObject({ param: 'audio' });
    expect(refuseVeo({ ...veo, seed: 1 }, 'veo-3.1-generate-preview', 'gemini')).toMatchObject({ param: 'seed' });
    expect(refuseVeo({ ...veo, negativePrompt: 'text overlays' }, 'veo-3.1-generate-preview', 'gemini')).toBeNull();
    expect(refuseVeo({ ...veo, options: { resize_mode: 'pad' } }, 'veo-3.1-generate-preview', 'gemini')).toMatchObject({ param: 'resize_mode' });
    expect(refuseVeo({ ...veo, resolution: '4k' }, 'veo-3.1-lite-generate-preview', 'gemini')).toMatchObject({ param: 'resolution' });
    expect(refuseOmni(base, 'gemini-omni-1.1-flash')).toBeNull();
    expect(refuseOmni({ ...base, seconds: 12 }, 'gemini-omni-1.1-flash')).toMatchObject({ param: 'seconds' });
    expect(refuseOmni({ ...base, seed: 3 }, 'gemini-omni-1.1-flash')).toMatchObject({ param: 'seed' });
    expect(refuseOmni({ ...base, negativePrompt: 'x' }, 'gemini-omni-1.1-flash')).toMatchObject({ param: 'negative_prompt' });
    expect(refuseOmni({ ...base, resolution: '480p' }, 'gemini-omni-1.1-flash')).toMatchObject({ param: 'resolution' });
    expect(refuseOmni({ ...base, aspectRatio: '1:1', width: 720, height: 720 }, 'gemini-omni-1.1-flash')).toMatchObject({ param: 'aspect_ratio' });
    const frame = { role: 'first_frame' as const, kind: 'image' as const, blob: 'x/f.png', contentType: 'image/png', width: 1280, height: 720 };
    expect(refuseOmni({ ...base, firstFrame: frame, lastFrame: { ...frame, role: 'last_frame' } }, 'gemini-omni-1.1-flash')).toMatchObject({ param: 'last_frame' });
    expect(refuseOmni({ ...base, references: [{ ...frame, role: 'reference', kind: 'video', contentType: 'video/mp4' }] }, 'gemini-omni-1.1-flash')).toMatchObject({ param: 'references' });
  });

  it('sends frames and reference images to Omni inline with the right task, and finds the video in the steps', async () => {
    const fake = await startGeminiFake({ apiKey: KEY, script: { queuedMs: 0, runMs: 100 } });
    const agent = new Agent();
    try {
      const http = new ChannelHttp(fake.baseURL, { auth: async () => ({ 'x-goog-api-key': KEY }), unauthorized: () => false, pooled: agent, fresh: agent, guarded: agent, direct: agent }, { connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, submitTimeoutMs: 5_000 });
      const adapter = gemini.create({ delivery: 'uri' });
      const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#112233' } }).png().toBuffer();
      const media = (role: UpstreamMedia['role']): UpstreamMedia => ({ role, kind: 'image', blob: `t/${role}`, contentType: 'image/png', data: png });
      const plain = { ...base, references: [] } as VideoRequest<UpstreamMedia>;
      const i2v = await adapter.submit({ taskId: 'T1', model: 'gemini-omni-1.1-flash', request: { ...plain, firstFrame: media('first_frame') }, idempotencyKey: 'k1' }, http);
      const r2v = await adapter.submit({ taskId: 'T2', model: 'gemini-omni-1.1-flash', request: { ...plain, references: [media('reference'), media('reference')] }, idempotencyKey: 'k2' }, http);
      expect(i2v.upstreamId).toMatch(/^interactions\/v1_/);
      const [a, b] = fake.submissions;
      expect(a!.body.input).toEqual([{ type: 'text', text: 'a heron' }, { type: 'image', data: png.toString('base64'), mime_type: 'image/png' }]);
      expect(a!.body.generation_config).toEqual({ video_config: { task: 'image_to_video' } });
      expect((b!.body.input as unknown[]).length).toBe(3);
      expect(b!.body.generation_config).toEqual({ video_config: { task: 'reference_to_video' } });
      await new Promise((r) => setTimeout(r, 200));
      const s = await adapter.status(r2v.upstreamId, http);
      expect(s.state).toBe('succeeded');
      // Inline data on GET (as Google answers): not kept in the status, fetched again for the result.
      expect(s.resultUrl).toBeUndefined();
      const src = await adapter.results(r2v.upstreamId, s, http);
      expect((src.video as { data: Buffer }).data.equals(fixtures.sampleMp4())).toBe(true);
    } finally {
      await agent.close();
      await fake.close();
    }
  });

  it('reads every interaction word explicitly, and a bad key as an authentication failure', () => {
    expect(['queued', 'in_progress', 'completed', 'failed', 'cancelled', 'incomplete', 'budget_exceeded', 'requires_action'].map((w) => parseInteractionWord(w).state)).toEqual([
      'waiting',
      'running',
      'succeeded',
      'failed',
      'cancelled',
      'failed',
      'failed',
      'failed',
    ]);
    expect(parseInteractionWord('pondering')).toMatchObject({ state: 'waiting', unrecognised: true });
    expect(googleKind('INVALID_ARGUMENT', 400, 'API key not valid. Please pass a valid API key.')).toBe('auth');
    expect(googleKind('RESOURCE_EXHAUSTED', 429, 'Resource has been exhausted (e.g. check quota).')).toBe('rate_limit');
    expect(googleKind('RESOURCE_EXHAUSTED', 429, 'You exceeded your current quota, please check your plan and billing details.')).toBe('quota');
    expect(downloadUri('https://generativelanguage.googleapis.com/v1beta/files/abc123')).toBe('https://generativelanguage.googleapis.com/v1beta/files/abc123:download?alt=media');
    expect(downloadUri('https://generativelanguage.googleapis.com/v1beta/files/abc123:download?alt=media')).toBe('https://generativelanguage.googleapis.com/v1beta/files/abc123:download?alt=media');
    expect(gemini.checkCredentials!({})).toMatch(/api_key/);
    expect(gemini.checkCredentials!({ apiKey: KEY })).toBeNull();
  });
});

/**
 * The built gateway killed with SIGKILL in every phase of a Gemini job — before its submit, after
 * Google made the job but before its answer was recorded, while polling, while downloading — and
 * restarted: the job whose answer was lost is not sent again (it fails, uncharged), every other
 * completes, none is made twice; the API key is nowhere in answers, logs or the database file.
 */
describe('gemini: restarts in every phase, the key nowhere', () => {
  let fake: GeminiFake | undefined;
  const servers: ServerProcess[] = [];
  let dataDir = '';
  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await fake?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('nothing lost, nothing submitted twice, no key leaked', async () => {
    fake = await startGeminiFake({ apiKey: KEY, script: { queuedMs: 100, runMs: 800 } });
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-gemini-crash-'));
    const configFile = path.join(dataDir, 'vidgate.json');
    await writeFile(
      configFile,
      JSON.stringify({
        net: { allowCidrs: ['127.0.0.1/32'] },
        upstream: { poll: { minMs: 100, maxMs: 1000, firstMs: 200 }, submitTimeoutMs: 20_000, breaker: { failures: 100, cooldownMs: 1000 } },
        models: GEMINI_MODELS,
        channels: [{ id: 'gm', type: 'gemini', base_url: fake.baseURL, api_key_env: 'GEMINI_KEY', models: ['veo-3.1-generate-preview', 'gemini-omni-1.1-flash'] }],
      }),
    );
    const ADMIN = 'admin-token-for-gemini-crash-test';
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: configFile, VIDGATE_LEASE_MS: '3000', VIDGATE_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'trace', GEMINI_KEY: KEY };
    const key = (JSON.parse((await cli(['key', 'create', '--name', 'crash', '--credit', '50', '--json'], env)).stdout) as { key: string }).key;
    const gw = { url: '' };
    const seen: string[] = [];
    const start = async () => {
      const s = await spawnServer(env);
      servers.push(s);
      gw.url = s.url;
      return s;
    };
    const kill = async (s: ServerProcess) => {
      s.child.kill('SIGKILL');
      await s.exited;
    };
    const ids: string[] = [];
    const create = async (model: string, prompt: string) => {
      const r = await createVideo(gw, key, { model, prompt, seconds: '8', size: '1280x720' });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      seen.push(JSON.stringify(r.json));
      ids.push(r.json.id as string);
      return r.json.id as string;
    };
    const promptOf = (s: { body: Record<string, unknown> }) => veoPrompt(s) ?? omniPrompt(s);

    let server = await start();
    await fake.down();
    const before = await create('veo-3.1-generate-preview', 'before submit');
    await new Promise((r) => setTimeout(r, 500));
    await kill(server);
    await fake.up();
    expect(fake.submissionCount).toBe(0);

    server = await start();
    fake.faults.add({ route: 'submit', times: 1, when: (r) => JSON.stringify(r.json).includes('mid submit'), action: fault.hang({ after: true }) });
    const lost = await create('gemini-omni-1.1-flash', 'mid submit');
    await fake.waitFor((f) => f.submissions.some((s) => promptOf(s) === 'mid submit'), { timeoutMs: 20_000 });
    // The first task's submit (now that the upstream is back) must have been answered and recorded:
    // a kill while it is in flight would make it an honest "outcome unknown" too.
    // (Unless the first kill landed between its "about to submit" checkpoint and the refused
    // connection: then its outcome is rightly unknown, and it has already failed, uncharged.)
    for (const until = Date.now() + 20_000; ; ) {
      if (fake.jobList().some((j) => j.prompt === 'before submit' && j.statusCalls > 0)) break;
      if ((await getVideo(gw, key, before)).status === 'failed') break;
      if (Date.now() > until) throw new Error('the first task was neither submitted nor failed');
      await new Promise((r) => setTimeout(r, 100));
    }
    await kill(server);

    server = await start();
    fake.script({ queuedMs: 100, runMs: 4_000 });
    await create('gemini-omni-1.1-flash', 'while polling');
    await fake.waitFor((f) => f.jobList().some((j) => j.prompt === 'while polling' && j.statusCalls > 0), { timeoutMs: 20_000 });
    await kill(server);

    server = await start();
    fake.script({ queuedMs: 100, runMs: 300 });
    const downloading = (r: { jobId: string | undefined }) => fake!.jobs.get(r.jobId ?? '')?.prompt === 'while downloading';
    fake.faults.add({ route: 'cdn', times: 1, when: downloading, action: fault.throttle(5_000) });
    await create('veo-3.1-generate-preview', 'while downloading');
    await fake.waitFor((f) => f.cdn.requests.some((r) => downloading(r) && r.faults.length > 0), { timeoutMs: 20_000 });
    await kill(server);

    server = await start();
    const final = await waitAllTerminal(gw, key, ids, 60_000);
    let lostBefore = 0;
    for (const [id, v] of final) {
      seen.push(JSON.stringify(v));
      if (id === lost || (id === before && v.status === 'failed' && v.error?.code === 'upstream_submit_unknown' && fake.submissions.every((s) => promptOf(s) !== 'before submit'))) {
        expect(v.status).toBe('failed');
        expect(v.error!.code).toBe('upstream_submit_unknown');
        if (id === before) lostBefore = 1;
      } else {
        expect(v.status, `task ${ids.indexOf(id)} ${id}: ${JSON.stringify(v.error)}`).toBe('completed');
      }
    }
    for (const p of ['before submit', 'mid submit', 'while polling', 'while downloading']) expect(fake.submissions.filter((s) => promptOf(s) === p)).toHaveLength(p === 'before submit' ? 1 - lostBefore : 1);
    expect(await assertBillingConsistent(dataDir)).toEqual({ settled: 3 - lostBefore, released: 1 + lostBefore });

    for (const p of ['/admin/v1/channels', '/admin/v1/channels/gm', '/admin/v1/channels/gm/health']) seen.push(await (await fetch(`${gw.url}${p}`, { headers: { authorization: `Bearer ${ADMIN}` } })).text());
    const probe = await (await fetch(`${gw.url}/admin/v1/channels/gm/test`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } })).text();
    seen.push(probe);
    expect(JSON.parse(probe), probe).toMatchObject({ ok: true });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const logs = servers.map((s) => s.output()).join('\n');
    expect(logs.length).toBeGreaterThan(1000);
    const files = readdirSync(dataDir).filter((f) => f.startsWith('vidgate.db')).map((f) => readFileSync(path.join(dataDir, f)).toString('latin1'));
    for (const text of seen) expect(text.includes(KEY), 'an answer contains the key').toBe(false);
    expect(logs.includes(KEY), 'the log contains the key').toBe(false);
    for (const f of files) expect(f.includes(KEY), 'the database contains the key').toBe(false);
    expect(fake.cdn.leaks()).toEqual([]);
  }, 180_000);
});
