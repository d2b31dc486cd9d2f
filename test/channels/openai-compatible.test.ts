import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { toFile } from 'openai';
import type { OpenAIVideosFake } from '../fakes/index.js';
import { fault, fixtures, startOpenAIVideosFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

/**
 * End to end through the OpenAI dialect (the official SDK) to the openai-compatible adapter,
 * against the fake in each of its flavours: OpenAI, Azure v1 (api-key header, api-version,
 * /openai/v1 paths), apigo (pending/processing vocabulary, multipart only, {code,message,type}
 * errors) and older apigo (flat result url on a CDN origin). Contract tests against the
 * documented protocol, not against the live services.
 */
describe('openai-compatible adapter', () => {
  let openai: OpenAIVideosFake;
  let azure: OpenAIVideosFake;
  let apigo: OpenAIVideosFake;
  let legacy: OpenAIVideosFake;
  let gw: TestGateway;

  beforeAll(async () => {
    const script = { queuedMs: 100, runMs: 600 };
    [openai, azure, apigo, legacy] = await Promise.all([
      startOpenAIVideosFake({ flavor: 'openai', script }),
      startOpenAIVideosFake({ flavor: 'azure', script, apiKey: 'azure-key-0123456789', models: ['my-sora-deployment'] }),
      startOpenAIVideosFake({ flavor: 'apigo', script, acceptJson: false, emptyErrorObject: true }),
      startOpenAIVideosFake({ flavor: 'apigo-legacy', script, cdnRejectAuthorization: true }),
    ]);
    gw = await startWithChannels([
      channel('openai', 'openai-compatible', openai.baseURL, { models: ['sora-2'] }),
      channel('azure', 'openai-compatible', azure.baseURL, {
        api_key: 'azure-key-0123456789',
        models: [{ model: 'sora-2-pro', upstream_model: 'my-sora-deployment' }],
        options: { auth: 'api-key', api_version: 'preview' },
      }),
      channel('apigo', 'openai-compatible', apigo.baseURL, { models: ['sora-2-2025-10-06'] }),
      channel('apigo-legacy', 'openai-compatible', legacy.baseURL, { models: ['sora-2-2025-12-08'], options: { body: 'json' } }),
    ]);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([openai, azure, apigo, legacy].map((f) => f?.close()));
  });

  it('serves each flavour through the SDK: string seconds, size, results kept with Range, honest expires_at', async () => {
    const client = gw.openai();
    const before = Math.floor(Date.now() / 1000);
    const [a, b, c, d] = await Promise.all([
      client.videos.create({ model: 'sora-2', prompt: 'a red fox in snow', seconds: '8', size: '1280x720' }),
      client.videos.create({ model: 'sora-2-pro', prompt: 'a lighthouse at dusk', seconds: '4', size: '720x1280' }),
      client.videos.create({ model: 'sora-2-2025-10-06' as 'sora-2', prompt: 'waves', seconds: '4' }),
      client.videos.create({ model: 'sora-2-2025-12-08' as 'sora-2', prompt: 'a city at night', seconds: '4' }),
    ]);
    const final = await Promise.all([a, b, c, d].map((v) => waitForVideo(client, v.id, 30_000)));
    for (const v of final) {
      expect(v.status, JSON.stringify(v.error)).toBe('completed');
      expect(v.progress).toBe(100);
      // Our retention (168 h by default), not the upstream's one hour.
      expect(v.expires_at).toBeGreaterThanOrEqual(before + 168 * 3600 - 5);
    }
    // What went upstream: seconds as a string, size, upstream model names, each flavour's auth and path.
    const sub = openai.submissions[0]!;
    expect(openai.requests.find((r) => r.route === 'submit')!.fieldTypes.seconds).toBe('string');
    expect(sub.body.seconds).toBe('8');
    expect(sub.body.size).toBe('1280x720');
    expect(sub.body.model).toBe('sora-2');
    const az = azure.requests.find((r) => r.route === 'submit')!;
    expect(az.path).toBe('/openai/v1/videos');
    expect(az.query['api-version']).toBe('preview');
    expect(az.headers['api-key']).toBe('azure-key-0123456789');
    expect(az.headers.authorization).toBeUndefined();
    expect(azure.submissions[0]!.body.model).toBe('my-sora-deployment');
    expect(azure.requests.filter((r) => r.route === 'status').every((r) => r.query['api-version'] === 'preview')).toBe(true);
    expect(apigo.requests.find((r) => r.route === 'submit')!.bodyKind).toBe('multipart');
    expect(legacy.requests.find((r) => r.route === 'submit')!.bodyKind).toBe('json');
    // Variants came from the upstream (openai) or were made locally (legacy: flat url, no variants).
    expect(openai.requestsFor('content').map((r) => r.query.variant ?? 'video').sort()).toEqual(['spritesheet', 'thumbnail', 'video']);
    expect(legacy.cdn.requests.length).toBeGreaterThan(0);
    expect(legacy.cdn.leaks()).toEqual([]);
    expect(legacy.requestsFor('content')).toEqual([]);

    // The client downloads from us, with Range.
    const res = await fetch(`${gw.url}/v1/videos/${a.id}/content`, { headers: { authorization: `Bearer ${gw.key}`, range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 0-99/${fixtures.sampleMp4().length}`);
    for (const variant of ['thumbnail', 'spritesheet'] as const) {
      const img = Buffer.from(await (await client.videos.downloadContent(d.id, { variant })).arrayBuffer());
      expect((await sharp(img).metadata()).format).toBe(variant === 'thumbnail' ? 'webp' : 'jpeg');
    }
    // Each job was submitted exactly once and polled a handful of times.
    for (const fake of [openai, azure, apigo, legacy]) {
      expect(fake.submissionCount).toBe(1);
      expect(fake.jobList()[0]!.statusCalls).toBeLessThan(30);
    }
  });

  it('sends the reference image as a file fitted to the size, and remixes on the source channel', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3366aa' } }).png().toBuffer();
    const v = await client.videos.create({ model: 'sora-2', prompt: 'animate this', size: '1280x720', input_reference: await toFile(png, 'ref.png', { type: 'image/png' }) });
    expect((await waitForVideo(client, v.id, 30_000)).status).toBe('completed');
    const ref = openai.params.get(openai.submissions.at(-1)!.jobId)!.inputReference;
    expect(ref?.kind).toBe('file');
    const remix = await client.videos.remix(v.id, { prompt: 'now at night' });
    const done = await waitForVideo(client, remix.id, 30_000);
    expect(done.status).toBe('completed');
    expect(done.remixed_from_video_id).toBe(v.id);
    const last = openai.submissions.at(-1)!;
    expect(last.kind).toBe('remix');
    expect(openai.params.get(last.jobId)!.remixedFrom).toBe(openai.submissions.at(-2)!.jobId);
  });

  it('carries the upstream reason to the caller: moderation, invalid parameters, job failures', async () => {
    const key = gw.key;
    openai.scriptNext({ queuedMs: 50, runMs: 200, outcome: 'moderation' });
    const moderated = await createVideo(gw, key, { model: 'sora-2', prompt: 'blocked please' });
    apigo.scriptNext({ queuedMs: 50, runMs: 200, outcome: 'fail', failure: { code: 'generation_error', message: 'GPU node crashed (token sk-live-abcdefghijklmnop)', type: 'server_error' } });
    const failed = await createVideo(gw, key, { model: 'sora-2-2025-10-06', prompt: 'will fail' });
    openai.faults.next('submit', 1, fault.error(400, { code: 'invalid_value', param: 'size', message: "Invalid value: '1280x720'. Supported values are: '720x1280'." }));
    const rejected = await createVideo(gw, key, { model: 'sora-2', prompt: 'bad size', size: '1280x720' });
    const ids = [moderated, failed, rejected].map((r) => r.json.id as string);
    const final = await waitAllTerminal(gw, key, ids, 30_000);
    const m = final.get(ids[0]!)!;
    expect(m.status).toBe('failed');
    expect(m.error?.code).toBe('moderation_blocked');
    expect(m.error?.message).toContain('blocked by our moderation system');
    const f = final.get(ids[1]!)!;
    expect(f.error?.code).toBe('upstream_failed');
    expect(f.error?.message).toContain('GPU node crashed');
    expect(f.error?.message).not.toContain('sk-live-abcdefghijklmnop');
    const r = final.get(ids[2]!)!;
    expect(r.error?.code).toBe('upstream_invalid_request');
    expect(r.error?.message).toContain("Invalid value: '1280x720'");
    expect(r.error?.message).toContain('param size');
    // The raw envelope is never passed through (new-api#2830).
    expect(r.error?.message).not.toContain('{"error"');
  });

  it('tolerates a few 404s on a job, fails it after repeated ones', async () => {
    openai.scriptNext({ queuedMs: 50, runMs: 400, notFoundPolls: 2 }, { queuedMs: 50, runMs: 60_000, notFoundPolls: 100 });
    const ok = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'appears late' });
    const lost = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'never appears' });
    const final = await waitAllTerminal(gw, gw.key, [ok.json.id as string, lost.json.id as string], 30_000);
    expect(final.get(ok.json.id as string)!.status).toBe('completed');
    const l = final.get(lost.json.id as string)!;
    expect(l.status).toBe('failed');
    expect(l.error?.code).toBe('upstream_task_not_found');
    expect(openai.job(openai.submissions.at(-1)!.jobId).notFoundServed).toBe(3);
  });

  it('honours Retry-After on status calls', async () => {
    openai.scriptNext({ queuedMs: 0, runMs: 300 });
    // Every other job of this fake is finished: the next status call is this job's first.
    const rule = openai.faults.add({ route: 'status', times: 1, action: fault.error(429, { retryAfter: 2 }) });
    const created = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'slow down' });
    const v = (await waitAllTerminal(gw, gw.key, [created.json.id as string], 30_000)).get(created.json.id as string)!;
    const jobId = openai.submissions.at(-1)!.jobId;
    expect(v.status).toBe('completed');
    expect(rule.hits).toBe(1);
    const calls = openai.requestsFor('status', jobId);
    const i = calls.findIndex((r) => r.faults.length > 0);
    expect(i).toBeGreaterThanOrEqual(0);
    // The next status call of that job waited out the 2 s.
    expect(calls[i + 1]!.at - calls[i]!.at).toBeGreaterThanOrEqual(1_900);
  });
});
