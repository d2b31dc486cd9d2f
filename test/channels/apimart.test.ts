import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaLinks } from '../../src/channels/reference.js';
import type { ApimartFake } from '../fakes/index.js';
import { fault, promptDirectives, startApimartFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

/**
 * End to end through the OpenAI dialect (the SDK) to the apimart adapter, against the apimart
 * fake: both submit shapes, `url` as array or string, results from a CDN origin that must never
 * see the key, Idempotency-Key on an ambiguous submit, upstream failure reasons.
 */
describe('apimart adapter', () => {
  let legacy: ApimartFake;
  let objectForm: ApimartFake;
  let versioned: ApimartFake;
  let gw: TestGateway;

  beforeAll(async () => {
    const script = { queuedMs: 100, runMs: 600, estimatedTime: 3 };
    [legacy, objectForm, versioned] = await Promise.all([
      startApimartFake({ script: promptDirectives(script), cdnRejectAuthorization: true, apiKey: 'sk-apimart-secret-0001' }),
      startApimartFake({ script, submitFormat: 'object', urlFormat: 'string', cdnRejectAuthorization: true }),
      startApimartFake({ script, cdnRejectAuthorization: true, costPerSecond: 0.05, models: { 'sora-2-vip': { durations: [4, 8, 12] } } }),
    ]);
    gw = await startWithChannels([
      channel('apimart', 'apimart', legacy.baseURL, { api_key: 'sk-apimart-secret-0001', models: ['sora-2'] }),
      channel('apimart-object', 'apimart', `${objectForm.baseURL}/v1`, { models: ['sora-2-2025-10-06'] }),
      channel('apimart-versioned', 'apimart', versioned.baseURL, {
        models: [{ model: 'sora-2-pro', upstream_model: 'sora-2-vip' }],
        options: { response_version: true, extra_body: { watermark: false } },
      }),
    ]);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([legacy, objectForm, versioned].map((f) => f?.close()));
  });

  it('maps the request, reads every response shape, and copies the result from the CDN without the key', async () => {
    const client = gw.openai();
    const [a, b, c] = await Promise.all([
      client.videos.create({ model: 'sora-2', prompt: 'a paper boat', seconds: '8', size: '1280x720' }),
      client.videos.create({ model: 'sora-2-2025-10-06' as 'sora-2', prompt: 'a kite', seconds: '4', size: '720x1280' }),
      client.videos.create({ model: 'sora-2-pro', prompt: 'a glacier', seconds: '12', size: '1792x1024' }),
    ]);
    for (const v of await Promise.all([a, b, c].map((x) => waitForVideo(client, x.id, 30_000)))) {
      expect(v.status, JSON.stringify(v.error)).toBe('completed');
    }
    const body = legacy.submissions[0]!.body;
    expect(body).toMatchObject({ model: 'sora-2', prompt: 'a paper boat', duration: 8, aspect_ratio: '16:9' });
    expect(legacy.requests.find((r) => r.route === 'submit')!.fieldTypes.duration).toBe('integer');
    expect(objectForm.submissions[0]!.body).toMatchObject({ duration: 4, aspect_ratio: '9:16' });
    expect(versioned.submissions[0]!.body).toMatchObject({ model: 'sora-2-vip', duration: 12, aspect_ratio: '16:9', resolution: 'high', watermark: false });
    expect(versioned.submissions[0]!.headers['x-apimart-response-version']).toBe('2026-07-27');
    // Every submit carried an Idempotency-Key; status calls asked for English.
    for (const fake of [legacy, objectForm, versioned]) {
      expect(fake.submissions[0]!.headers['idempotency-key']).toMatch(/^vidgate-[0-9A-Z]{26}-apimart/);
      expect(fake.requestsFor('status').every((r) => r.query.language === 'en')).toBe(true);
      expect(fake.cdn.requests.length).toBeGreaterThan(0);
      expect(fake.cdn.leaks()).toEqual([]);
    }
    // The result is ours now: served with Range, whatever the CDN does later.
    const res = await fetch(`${gw.url}/v1/videos/${a.id}/content`, { headers: { authorization: `Bearer ${gw.key}`, range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).length).toBe(10);
    const thumb = Buffer.from(await (await client.videos.downloadContent(a.id, { variant: 'thumbnail' })).arrayBuffer());
    expect((await sharp(thumb).metadata()).format).toBe('webp');
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(3);
  });

  it('resends an ambiguous submit with the same Idempotency-Key instead of creating a second job', async () => {
    // The job is created, then the connection is reset before the answer; then a hang.
    legacy.faults.next('submit', 1, fault.reset({ after: true }));
    const first = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'reset after create' });
    const v = (await waitAllTerminal(gw, gw.key, [first.json.id as string], 30_000)).get(first.json.id as string)!;
    expect(v.status, JSON.stringify(v.error)).toBe('completed');
    const attempts = legacy.requestsFor('submit').filter((r) => (r.body as { prompt?: string } | undefined)?.prompt === 'reset after create');
    expect(attempts.length).toBe(2);
    expect(attempts[0]!.headers['idempotency-key']).toBe(attempts[1]!.headers['idempotency-key']);
    expect(legacy.submissions.filter((s) => s.body.prompt === 'reset after create').length).toBe(1);
    expect(legacy.replays).toBeGreaterThanOrEqual(1);
  });

  it('reports failures with the upstream reason and a stable code; releases the hold', async () => {
    const m = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'moderated one [[fake: outcome=moderation]]' });
    const f = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'failing one [[fake: outcome=fail code=quota_exhausted_upstream message=Upstream_GPU_quota_exhausted,_retry_later]]' });
    legacy.faults.add({
      route: 'submit',
      when: (req) => (req.body as { prompt?: string } | undefined)?.prompt === 'rejected one',
      action: fault.error(400, { code: 'invalid_parameter', param: 'duration', message: 'duration 16 is not supported by sora-2; allowed: 4, 8, 12.' }),
    });
    const r = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'rejected one', seconds: '16' });
    const ids = [m, f, r].map((x) => x.json.id as string);
    const final = await waitAllTerminal(gw, gw.key, ids, 30_000);
    expect(final.get(ids[0]!)!.error?.code).toBe('moderation_blocked');
    expect(final.get(ids[0]!)!.error?.message).toContain('content safety system');
    expect(final.get(ids[1]!)!.error?.code).toBe('upstream_failed');
    expect(final.get(ids[1]!)!.error?.message).toContain('Upstream GPU quota exhausted');
    expect(final.get(ids[2]!)!.error?.code).toBe('upstream_invalid_request');
    expect(final.get(ids[2]!)!.error?.message).toContain('duration 16 is not supported');
    await assertBillingConsistent(gw.dataDir);
  });

  it('resumes a download that broke off, and fails honestly when the upstream link expired first', async () => {
    const ok = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'truncated once' });
    const okJob = (await legacy.waitFor((f) => f.submissions.find((x) => x.body.prompt === 'truncated once')))!.jobId;
    legacy.faults.add({ route: 'cdn', jobId: okJob, times: 1, action: fault.truncate({ fraction: 0.4 }) });
    const gone = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'expired link [[fake: resultTtlMs=1]]' });
    const final = await waitAllTerminal(gw, gw.key, [ok.json.id as string, gone.json.id as string], 30_000);
    expect(final.get(ok.json.id as string)!.status).toBe('completed');
    const downloads = legacy.job(okJob).downloads;
    expect(downloads.length).toBe(2);
    expect(downloads[1]!.range).toMatch(/^bytes=\d+-$/);
    const g = final.get(gone.json.id as string)!;
    expect(g.status).toBe('failed');
    expect(g.error?.code).toBe('result_expired');
  });

  it('sends the fitted reference as a data URL, and can serve it from a signed gateway URL', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#aa3322' } }).png().toBuffer();
    const v = await client.videos.create({ model: 'sora-2', prompt: 'with a reference', size: '1280x720', input_reference: await toFile(png, 'r.png', { type: 'image/png' }) });
    expect((await waitForVideo(client, v.id, 30_000)).status).toBe('completed');
    const urls = legacy.submissions.at(-1)!.body.image_urls as string[];
    expect(urls).toHaveLength(1);
    expect(urls[0]).toMatch(/^data:image\/png;base64,/);
    const fitted = Buffer.from(urls[0]!.split(',')[1]!, 'base64');
    const meta = await sharp(fitted).metadata();
    expect([meta.width, meta.height]).toEqual([1280, 720]);

    const taskId = v.id.slice('video_'.length);
    const links = new MediaLinks(gw.app.gateway.secrets, gw.url);
    const url = links.url(`${taskId}/reference.png`, Date.now() + 60_000)!;
    const served = await fetch(url);
    expect(served.status).toBe(200);
    expect(Buffer.compare(Buffer.from(await served.arrayBuffer()), fitted)).toBe(0);
    expect((await fetch(url.replace(/\.([A-Za-z0-9_-]{10})/, '.AAAAAAAAAA'))).status).toBe(404);
    expect((await fetch(url.replace(/reference\.png$/, 'other.png'))).status).toBe(404);
    expect((await fetch(links.url(`${taskId}/reference.png`, Date.now() - 5_000)!)).status).toBe(404);
  });
});
