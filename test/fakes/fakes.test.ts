/**
 * Self-tests of the fake upstreams: they must behave per the documented protocols
 * (contract against the documented protocol, not against the real services).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import {
  APIMART_CAPTURE,
  FakeClock,
  FaultInjector,
  fault,
  fixtures,
  mulberry32,
  paddedMp4,
  promptDirectives,
  readAll,
  sha256Of,
  startApimartFake,
  startOpenAIVideosFake,
} from './index.js';
import type { RecordedRequest } from './index.js';

const KEY = 'sk-test-0123456789';
const open: Array<{ close(): Promise<void> }> = [];

async function track<T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> {
  const f = await p;
  open.push(f);
  return f;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});

interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function call(url: string, init: RequestInit & { key?: string | null } = {}): Promise<Res> {
  const headers = new Headers(init.headers);
  if (init.key !== null && !headers.has('authorization') && !headers.has('api-key')) headers.set('authorization', `Bearer ${init.key ?? KEY}`);
  const res = await fetch(url, { ...init, headers });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}, key?: string): Promise<Res> =>
  call(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers }, ...(key === undefined ? {} : { key }) });

/** A header-only PNG (signature + IHDR) of the given size: enough for dimension sniffing. */
function pngHeader(width: number, height: number): Buffer {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b[24] = 8;
  b[25] = 2;
  return b;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => v as Json;

describe('FakeClock', () => {
  it('compresses time, advances manually and maps upstream instants to exact wall times', async () => {
    const clock = new FakeClock({ timeScale: 1000, startAt: 0 });
    const w0 = performance.timeOrigin + performance.now();
    await new Promise((r) => setTimeout(r, 20));
    expect(clock.now()).toBeGreaterThanOrEqual(19_000);
    clock.advance(60_000);
    expect(clock.now()).toBeGreaterThanOrEqual(79_000);
    const wallOfJump = clock.wallAt(70_000) as number;
    expect(wallOfJump).toBeGreaterThan(w0);
    expect(Math.abs((clock.wallAt(5_000) as number) - (w0 + 5))).toBeLessThan(3);
    clock.setTimeScale(0);
    const frozen = clock.now();
    expect(clock.wallAt(frozen + 1)).toBeUndefined();
    const slept = clock.sleep(1_000);
    clock.advance(1_000);
    await slept;
  });
});

describe('OpenAI /v1/videos fake', () => {
  it('runs the full life cycle through the official SDK (multipart, file part, content variants, list, remix, delete)', async () => {
    const fake = await track(startOpenAIVideosFake({ apiKey: KEY, timeScale: 0, pollAfterMs: 1500, script: { queuedPolls: 1, queuedMs: 0, runMs: 10_000, progress: 'linear' } }));
    const client = new OpenAI({ apiKey: KEY, baseURL: fake.baseURL, maxRetries: 0 });
    const created = await client.videos.create({
      prompt: 'a calico cat playing piano',
      model: 'sora-2',
      seconds: '8',
      size: '1280x720',
      input_reference: await toFile(pngHeader(1280, 720), 'ref.png', { type: 'image/png' }),
    });
    expect(created).toMatchObject({ object: 'video', status: 'queued', progress: 0, seconds: '8', size: '1280x720', completed_at: null, expires_at: null, error: null, remixed_from_video_id: null });
    expect(created.id).toMatch(/^video_[0-9a-f]{48}$/);
    const submit = fake.requests[0] as RecordedRequest;
    expect(submit.bodyKind).toBe('multipart');
    expect(submit.fieldTypes).toMatchObject({ prompt: 'string', seconds: 'string', size: 'string', input_reference: 'file' });
    expect(submit.form?.files[0]).toMatchObject({ field: 'input_reference', filename: 'ref.png', contentType: 'image/png' });
    expect(fake.submissionCount).toBe(1);
    expect(fake.params.get(created.id)?.inputReference).toMatchObject({ kind: 'file', filename: 'ref.png' });

    const r1 = await client.videos.retrieve(created.id).withResponse();
    expect(r1.data.status).toBe('queued');
    expect(r1.response.headers.get('openai-poll-after-ms')).toBe('1500');
    expect(r1.response.headers.get('x-request-id')).toMatch(/^req_/);
    fake.clock.advance(5_000);
    const r2 = await client.videos.retrieve(created.id);
    expect(r2.status).toBe('in_progress');
    expect(r2.progress).toBe(50);
    fake.clock.advance(5_000);
    const done = await client.videos.retrieve(created.id);
    expect(done.status).toBe('completed');
    expect(done.progress).toBe(100);
    expect(typeof done.completed_at).toBe('number');
    expect((done.expires_at as number) - (done.completed_at as number)).toBe(3600);
    const job = fake.job(created.id);
    expect(job.statusCalls).toBe(3);
    expect(job.completedAtWall).toBeDefined();
    expect(job.detectionDelayMs).toBeGreaterThanOrEqual(0);

    const video = Buffer.from(await (await client.videos.downloadContent(created.id)).arrayBuffer());
    expect(video.equals(fixtures.sampleMp4())).toBe(true);
    const thumb = await client.videos.downloadContent(created.id, { variant: 'thumbnail' });
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    const sprite = await client.videos.downloadContent(created.id, { variant: 'spritesheet' });
    expect(sprite.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await sprite.arrayBuffer()).equals(fixtures.spritesheetJpg())).toBe(true);
    expect(job.downloads.map((d) => d.variant)).toEqual(['video', 'thumbnail', 'spritesheet']);
    expect(fake.requestsFor('content')[0]?.headers.accept).toBe('application/binary');

    const ranged = await call(`${fake.baseURL}/videos/${created.id}/content`, { headers: { range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 100-199/${fixtures.sampleMp4().length}`);
    expect(ranged.text.length).toBeGreaterThan(0);

    const remix = await client.videos.remix(created.id, { prompt: 'now in the rain' });
    expect(remix).toMatchObject({ remixed_from_video_id: created.id, status: 'queued', seconds: '8', size: '1280x720' });
    expect(fake.submissions.map((s) => s.kind)).toEqual(['create', 'remix']);

    const page = await client.videos.list({ limit: 1, order: 'asc' });
    expect(page.data.map((v) => v.id)).toEqual([created.id]);
    expect(page.has_more).toBe(true);
    const listReq = fake.requestsFor('list')[0] as RecordedRequest;
    expect(listReq.query).toMatchObject({ limit: '1', order: 'asc' });

    fake.clock.advance(3_600_000);
    await expect(client.videos.downloadContent(created.id)).rejects.toMatchObject({ status: 404, code: 'video_expired' });
    expect((await client.videos.retrieve(created.id)).status).toBe('completed');

    expect(await client.videos.delete(created.id)).toEqual({ id: created.id, object: 'video.deleted', deleted: true });
    await expect(client.videos.retrieve(created.id)).rejects.toMatchObject({ status: 404, code: 'video_not_found' });
  });

  it('accepts JSON bodies but rejects a numeric seconds, a text input_reference, a mismatched reference, bad keys', async () => {
    const fake = await track(startOpenAIVideosFake({ apiKey: KEY }));
    const ok = await postJson(`${fake.baseURL}/videos`, { prompt: 'x', seconds: '4', input_reference: { image_url: 'https://example.com/a.png' } });
    expect(ok.status).toBe(200);
    expect(fake.requests[0]?.fieldTypes).toEqual({ prompt: 'string', seconds: 'string', input_reference: 'object' });

    const numeric = await postJson(`${fake.baseURL}/videos`, { prompt: 'x', seconds: 8 });
    expect(numeric.status).toBe(400);
    expect(obj(obj(numeric.json).error)).toMatchObject({ type: 'invalid_request_error', param: 'seconds' });
    expect(String(obj(obj(numeric.json).error).message)).toMatch(/^Invalid type for 'seconds': expected one of '4', '8', .* but got an integer instead\.$/);
    expect(fake.requests[1]?.fieldTypes.seconds).toBe('integer');

    const form = new FormData();
    form.append('prompt', 'x');
    form.append('input_reference', 'https://example.com/a.png');
    const textRef = await call(`${fake.baseURL}/videos`, { method: 'POST', body: form });
    expect(textRef.status).toBe(400);
    expect(obj(textRef.json).error).toEqual({
      message: "Invalid type for 'input_reference': expected a file, but got a string instead.",
      type: 'invalid_request_error',
      param: 'input_reference',
      code: 'invalid_type',
    });

    const wrong = new FormData();
    wrong.append('prompt', 'x');
    wrong.append('size', '720x1280');
    wrong.append('input_reference', new Blob([pngHeader(1280, 720)], { type: 'image/png' }), 'ref.png');
    const mismatch = await call(`${fake.baseURL}/videos`, { method: 'POST', body: wrong });
    expect(obj(mismatch.json).error).toEqual({ message: 'Inpaint image must match the requested width and height', type: 'invalid_request_error', param: null, code: null });

    const nested = new FormData();
    nested.append('prompt', 'x');
    nested.append('input_reference[file_id]', 'file_123');
    expect((await call(`${fake.baseURL}/videos`, { method: 'POST', body: nested })).status).toBe(200);
    expect(fake.requests.at(-1)?.body).toMatchObject({ input_reference: { file_id: 'file_123' } });

    const unauth = await postJson(`${fake.baseURL}/videos`, { prompt: 'x' }, {}, 'sk-wrong-key-000000');
    expect(unauth.status).toBe(401);
    expect(obj(obj(unauth.json).error)).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key', param: null });
    expect(fake.submissionCount).toBe(2);
  });

  it('scripted outcomes: moderation, fail, expire; content before completion is refused', async () => {
    const fake = await track(startOpenAIVideosFake({ apiKey: KEY, timeScale: 0, script: promptDirectives({ queuedMs: 0, runMs: 1_000 }) }));
    const create = async (prompt: string): Promise<string> => String(obj((await postJson(`${fake.baseURL}/videos`, { prompt })).json).id);
    const mod = await create('x [[fake: outcome=moderation]]');
    const failed = await create('x [[fake: outcome=fail code=video_too_long]]');
    const expired = await create('x [[fake: outcome=expire]]');
    const early = await call(`${fake.baseURL}/videos/${mod}/content`);
    expect(early.status).toBe(400);
    expect(obj(obj(early.json).error).code).toBe('video_not_ready');
    fake.clock.advance(1_000);
    expect(obj((await call(`${fake.baseURL}/videos/${mod}`)).json)).toMatchObject({
      status: 'failed',
      error: { code: 'moderation_blocked', message: 'Your request was blocked by our moderation system.' },
    });
    expect(obj(obj((await call(`${fake.baseURL}/videos/${failed}`)).json).error)).toEqual({ code: 'video_too_long', message: 'Video generation failed.' });
    expect(obj((await call(`${fake.baseURL}/videos/${expired}`)).json)).toMatchObject({ status: 'expired', error: null });
  });

  it('apigo flavour: pending → in_progress → completed, error objects carry a type', async () => {
    const fake = await track(
      startOpenAIVideosFake({ flavor: 'apigo', apiKey: KEY, timeScale: 0, script: (ctx) => ({ queuedMs: 1_000, runMs: 1_000, outcome: ctx.prompt.includes('fail') ? 'fail' : 'succeed' }) }),
    );
    const form = new FormData();
    form.append('model', 'sora-2');
    form.append('prompt', 'a dog');
    form.append('seconds', '4');
    const created = obj((await call(`${fake.url}/v1/videos`, { method: 'POST', body: form })).json);
    expect(created.status).toBe('pending');
    expect('prompt' in created).toBe(false);
    const id = String(created.id);
    expect(obj((await call(`${fake.url}/v1/videos/${id}`)).json).status).toBe('pending');
    fake.clock.advance(1_000);
    expect(obj((await call(`${fake.url}/v1/videos/${id}`)).json).status).toBe('in_progress');
    fake.clock.advance(1_000);
    expect(obj((await call(`${fake.url}/v1/videos/${id}`)).json).status).toBe('completed');
    const content = await fetch(`${fake.url}/v1/videos/${id}/content`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(content.headers.get('content-type')).toBe('video/mp4');
    await content.arrayBuffer();

    const failed = obj((await postJson(`${fake.url}/v1/videos`, { prompt: 'please fail' })).json);
    fake.clock.advance(5_000);
    expect(obj((await call(`${fake.url}/v1/videos/${String(failed.id)}`)).json)).toMatchObject({
      status: 'failed',
      error: { code: 'internal_error', message: expect.any(String), type: 'server_error' },
    });
  });

  it('apigo-legacy flavour: queued/processing, flat url on a CDN origin, quality standard', async () => {
    const fake = await track(startOpenAIVideosFake({ flavor: 'apigo-legacy', apiKey: KEY, timeScale: 0, script: { queuedMs: 1_000, runMs: 1_000 } }));
    const id = String(obj((await postJson(`${fake.url}/v1/videos`, { prompt: 'x' })).json).id);
    expect(obj((await call(`${fake.url}/v1/videos/${id}`)).json)).toMatchObject({ status: 'queued', quality: 'standard' });
    fake.clock.advance(1_000);
    expect(obj((await call(`${fake.url}/v1/videos/${id}`)).json).status).toBe('processing');
    fake.clock.advance(1_000);
    const done = obj((await call(`${fake.url}/v1/videos/${id}`)).json);
    expect(done.status).toBe('completed');
    const url = String(done.url);
    expect(new URL(url).origin).toBe(fake.cdn.url);
    expect(new URL(url).origin).not.toBe(fake.url);
    const dl = await fetch(url);
    expect(Buffer.from(await dl.arrayBuffer()).equals(fixtures.sampleMp4())).toBe(true);
    expect(fake.cdn.leaks()).toEqual([]);
    expect(fake.job(id).downloads).toHaveLength(1);
  });

  it('azure flavour: /openai/v1 paths, api-key or Bearer, optional api-version, Azure envelopes', async () => {
    const fake = await track(startOpenAIVideosFake({ flavor: 'azure', apiKey: KEY, models: ['my-sora'], maxConcurrentJobs: 2 }));
    expect(fake.baseURL).toBe(`${fake.url}/openai/v1`);
    const a = await postJson(`${fake.baseURL}/videos?api-version=preview`, { model: 'my-sora', prompt: 'x', seconds: '4', size: '720x1280' }, { 'api-key': KEY }, undefined);
    expect(a.status).toBe(200);
    expect(a.headers.get('apim-request-id')).toBeTruthy();
    expect(fake.requests[0]?.query['api-version']).toBe('preview');
    const b = await postJson(`${fake.baseURL}/videos`, { model: 'my-sora', prompt: 'y' });
    expect(b.status).toBe(200);
    const limited = await postJson(`${fake.baseURL}/videos`, { model: 'my-sora', prompt: 'z' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    const unknownDeployment = await postJson(`${fake.baseURL}/videos`, { model: 'nope', prompt: 'x' });
    expect(unknownDeployment.status).toBe(404);
    expect(obj(obj(unknownDeployment.json).error)).toMatchObject({ code: 'DeploymentNotFound', type: 'video_generation_user_error' });
    const numeric = await postJson(`${fake.baseURL}/videos`, { model: 'my-sora', prompt: 'x', seconds: 4 });
    expect(numeric.status).toBe(400);
    const badKey = await call(`${fake.baseURL}/videos`, { headers: { 'api-key': 'wrong' } });
    expect(badKey.status).toBe(401);
    expect(obj(obj(badKey.json).error).code).toBe('401');
    expect((await call(`${fake.url}/v1/videos`)).status).toBe(404);
    expect(fake.submissionCount).toBe(2);
  });
});

describe('apimart fake', () => {
  it('legacy submit by default, versioned with the header, older object form as an option', async () => {
    const fake = await track(startApimartFake({ apiKey: KEY }));
    const legacy = await postJson(`${fake.url}/v1/videos/generations`, { model: 'sora-2', prompt: 'x', duration: 8, aspect_ratio: '16:9' });
    expect(legacy.text).toMatch(/^\{"code":200,"data":\[\{"status":"submitted","task_id":"task_01[0-9A-HJKMNP-TV-Z]{24}"\}\]\}$/);
    expect(fake.requests[0]?.fieldTypes).toEqual({ model: 'string', prompt: 'string', duration: 'integer', aspect_ratio: 'string' });
    const versioned = await postJson(`${fake.url}/v1/videos/generations`, { model: 'sora-2', prompt: 'x' }, { 'x-apimart-response-version': '2026-07-27' });
    expect(obj(versioned.json).data).toMatchObject({ object: 'generation.task', status: 'pending' });
    expect(versioned.headers.get('x-apimart-response-version')).toBe('2026-07-27');

    const older = await track(startApimartFake({ apiKey: KEY, submitFormat: 'object', script: { queuedMs: 100_000, runMs: 200_000 } }));
    const o = obj(obj((await postJson(`${older.url}/v1/videos/generations`, { model: 'veo3.1-fast', prompt: 'x' })).json).data);
    expect(Object.keys(o)).toEqual(['id', 'object', 'model', 'status', 'progress', 'created', 'task_info', 'type']);
    expect(o).toMatchObject({ object: 'video.generation.task', status: 'pending', progress: 0, task_info: { can_cancel: true, estimated_time: 300 }, type: 'video' });

    const badDuration = await postJson(`${fake.url}/v1/videos/generations`, { model: 'sora-2', prompt: 'x', duration: '8' });
    expect(badDuration.status).toBe(400);
    expect(Object.keys(obj(obj(badDuration.json).error))).toEqual(['message', 'type', 'code', 'param']);
    expect((await postJson(`${fake.url}/v1/videos/generations`, { model: 'sora-2', prompt: 'x' }, {}, 'bad')).status).toBe(401);
  });

  it('reproduces the captured §3.3 response pair byte for byte', async () => {
    const fake = await track(startApimartFake({ apiKey: KEY, ...APIMART_CAPTURE.options() }));
    const submit = obj(obj((await postJson(`${fake.url}/v1/videos/generations`, { model: 'sora-2', prompt: 'A serene lake at sunset with mountains', duration: 15, aspect_ratio: '16:9' })).json).data);
    expect(submit).toEqual([{ status: 'submitted', task_id: APIMART_CAPTURE.taskId }]);
    const processing = await call(`${fake.url}/v1/tasks/${APIMART_CAPTURE.taskId}?language=en`);
    expect(processing.text).toBe(APIMART_CAPTURE.processingBody());
    fake.clock.advance(APIMART_CAPTURE.advanceMs);
    const completed = await call(`${fake.url}/v1/tasks/${APIMART_CAPTURE.taskId}?language=en`);
    expect(completed.text).toBe(APIMART_CAPTURE.completedBody());
  });

  it('walks pending → processing → completed with a CDN result that never sees the key and expires', async () => {
    const fake = await track(
      startApimartFake({ apiKey: KEY, timeScale: 0, costPerSecond: 0.025, script: { queuedMs: 2_000, runMs: 10_000, estimatedTime: 420, resultTtlMs: 60_000 } }),
    );
    const sub = obj((await postJson(`${fake.url}/v1/videos/generations`, { model: 'sora-2', prompt: 'x', duration: 8 })).json);
    const taskId = String(obj((sub.data as unknown[])[0]).task_id);
    const s0 = obj(obj((await call(`${fake.url}/v1/tasks/${taskId}`)).json).data);
    expect(s0).toMatchObject({ status: 'pending', progress: 0, estimated_time: 420 });
    expect('result' in s0 || 'completed' in s0 || 'actual_time' in s0).toBe(false);
    fake.clock.advance(2_000 + 3_000);
    const p1 = obj(obj((await call(`${fake.url}/v1/tasks/${taskId}`)).json).data);
    fake.clock.advance(4_000);
    const p2 = obj(obj((await call(`${fake.url}/v1/tasks/${taskId}`)).json).data);
    expect(p1.status).toBe('processing');
    expect(Number(p2.progress)).toBeGreaterThan(Number(p1.progress));
    fake.clock.advance(3_000);
    const done = obj(obj((await call(`${fake.url}/v1/tasks/${taskId}`)).json).data);
    expect(done).toMatchObject({ status: 'completed', progress: 100, actual_time: 12, cost: 0.2 });
    const video = obj((obj(done.result).videos as unknown[])[0]);
    expect(Array.isArray(video.url)).toBe(true);
    expect(Number(video.expires_at) - Number(done.completed)).toBe(60);
    const url = String((video.url as string[])[0]);
    expect(new URL(url).origin).toBe(fake.cdn.url);

    const dl = await fetch(url);
    expect(dl.status).toBe(200);
    expect(Buffer.from(await dl.arrayBuffer()).equals(fixtures.sampleMp4())).toBe(true);
    expect(fake.cdn.leaks()).toEqual([]);
    const leaky = await fetch(url, { headers: { authorization: `Bearer ${KEY}` } });
    await leaky.arrayBuffer();
    expect(fake.cdn.leaks()).toHaveLength(1);

    fake.clock.advance(60_000);
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain('Request has expired');
    expect(fake.job(taskId).downloads.map((d) => d.status)).toEqual([200, 200, 403]);
  });

  it('reports failed and cancelled tasks, and a string url when asked', async () => {
    const fake = await track(
      startApimartFake({
        apiKey: KEY,
        timeScale: 0,
        urlFormat: 'string',
        script: promptDirectives({ queuedMs: 0, runMs: 1_000 }),
      }),
    );
    const submit = async (prompt: string): Promise<string> =>
      String(obj((obj((await postJson(`${fake.url}/v1/videos/generations`, { model: 'kling-v3', prompt })).json).data as unknown[])[0]).task_id);
    const ok = await submit('fine');
    const bad = await submit('bad [[fake: outcome=fail code=quota_exceeded message=Out_of_credits]]');
    const cancelled = await submit('stop [[fake: outcome=cancel]]');
    fake.clock.advance(1_000);
    const get = async (id: string): Promise<Json> => obj(obj((await call(`${fake.url}/v1/tasks/${id}`)).json).data);
    expect(typeof obj((obj((await get(ok)).result).videos as unknown[])[0]).url).toBe('string');
    expect(await get(bad)).toMatchObject({ status: 'failed', error: { code: 'quota_exceeded', message: 'Out of credits', type: 'server_error' } });
    expect((await get(cancelled)).status).toBe('cancelled');
    expect((await call(`${fake.url}/v1/tasks/task_nope`)).status).toBe(404);
  });

  it('honours Idempotency-Key: replay, body mismatch 422, in-flight 409, reset-after-create then replay', async () => {
    const fake = await track(startApimartFake({ apiKey: KEY }));
    const url = `${fake.url}/v1/videos/generations`;
    const body = { model: 'sora-2', prompt: 'x', duration: 4 };
    const first = await postJson(url, body, { 'idempotency-key': 'key-1' });
    const again = await postJson(url, body, { 'idempotency-key': 'key-1' });
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(first.headers.get('idempotency-replayed')).toBeNull();
    expect(fake.submissionCount).toBe(1);
    expect(fake.replays).toBe(1);
    expect((await postJson(url, { ...body, prompt: 'y' }, { 'idempotency-key': 'key-1' })).status).toBe(422);
    expect((await postJson(url, body, { 'idempotency-key': 'has space' })).status).toBe(400);

    fake.faults.add({ route: 'submit', times: 1, action: fault.throttle(400) });
    const slow = postJson(url, body, { 'idempotency-key': 'key-2' });
    await fake.waitForSubmissions(2);
    const concurrent = await postJson(url, body, { 'idempotency-key': 'key-2' });
    expect(concurrent.status).toBe(409);
    expect((await slow).status).toBe(200);

    fake.faults.add({ route: 'submit', times: 1, action: fault.reset({ after: true }) });
    await expect(postJson(url, body, { 'idempotency-key': 'key-3' })).rejects.toThrow();
    expect(fake.submissionCount).toBe(3);
    const retried = await postJson(url, body, { 'idempotency-key': 'key-3' });
    expect(retried.headers.get('idempotency-replayed')).toBe('true');
    expect(String(obj((obj(retried.json).data as unknown[])[0]).task_id)).toBe(fake.submissions[2]?.jobId);
    expect(fake.submissionCount).toBe(3);
  });
});

describe('fault injection', () => {
  it('429 with Retry-After / retry-after-ms for the next N submits, then success', async () => {
    const fake = await track(startOpenAIVideosFake({ apiKey: KEY }));
    const h = fake.faults.next('submit', 2, fault.rateLimit({ retryAfter: 2, retryAfterMs: 1500 }));
    const r1 = await postJson(`${fake.baseURL}/videos`, { prompt: 'x' });
    expect(r1.status).toBe(429);
    expect(r1.headers.get('retry-after')).toBe('2');
    expect(r1.headers.get('retry-after-ms')).toBe('1500');
    expect(obj(obj(r1.json).error)).toMatchObject({ code: 'slow_down' });
    expect((await postJson(`${fake.baseURL}/videos`, { prompt: 'x' })).status).toBe(429);
    expect((await postJson(`${fake.baseURL}/videos`, { prompt: 'x' })).status).toBe(200);
    expect(h.hits).toBe(2);
    expect(h.exhausted).toBe(true);
    expect(fake.submissionCount).toBe(1);
    expect(fake.requests[0]?.faults).toEqual(['error:429']);
  });

  it('every k-th status call fails; 5xx envelopes; 502 is a proxy HTML page; error after handling still creates the job', async () => {
    const fake = await track(startApimartFake({ apiKey: KEY }));
    const sub = obj((await postJson(`${fake.url}/v1/videos/generations`, { model: 'm', prompt: 'x' })).json);
    const id = String(obj((sub.data as unknown[])[0]).task_id);
    fake.faults.add({ route: 'status', every: 3, action: fault.error(503, { retryAfter: 1 }) });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(`${fake.url}/v1/tasks/${id}`)).status);
    expect(statuses).toEqual([200, 200, 503, 200, 200, 503]);
    expect(fake.job(id).statusCalls).toBe(4);

    const oa = await track(startOpenAIVideosFake({ apiKey: KEY }));
    oa.faults.next('submit', 1, fault.error(502));
    const html = await postJson(`${oa.baseURL}/videos`, { prompt: 'x' });
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(oa.submissionCount).toBe(0);
    oa.faults.next('submit', 1, fault.error(500, { after: true }));
    const e500 = await postJson(`${oa.baseURL}/videos`, { prompt: 'x' });
    expect(e500.status).toBe(500);
    expect(obj(e500.json).error).toMatchObject({ type: 'server_error' });
    expect(oa.submissionCount).toBe(1);
  });

  it('malformed bodies, resets before handling, hangs', async () => {
    const fake = await track(startOpenAIVideosFake({ apiKey: KEY }));
    fake.faults.next('submit', 1, fault.malformed('truncated'));
    const trunc = await postJson(`${fake.baseURL}/videos`, { prompt: 'x' });
    expect(trunc.status).toBe(200);
    expect(trunc.json).toBeUndefined();
    expect(trunc.text.startsWith('{"id":"video_')).toBe(true);
    expect(fake.submissionCount).toBe(1);
    for (const variant of ['html', 'empty', 'garbage'] as const) {
      fake.faults.next('list', 1, fault.malformed(variant));
      const r = await call(`${fake.baseURL}/videos`);
      expect(r.json).toBeUndefined();
    }

    fake.faults.next('submit', 1, fault.reset());
    await expect(postJson(`${fake.baseURL}/videos`, { prompt: 'x' })).rejects.toThrow();
    expect(fake.submissionCount).toBe(1);
    expect(fake.requests.at(-1)?.response?.reset).toBe(true);

    fake.faults.next('list', 1, fault.hang());
    await expect(call(`${fake.baseURL}/videos`, { signal: AbortSignal.timeout(150) })).rejects.toThrow();
    await fake.waitFor((f) => f.requests.at(-1)?.response?.aborted);
  });

  it('first k polls 404 then the job appears; probability rules are deterministic per seed; latency', async () => {
    const fake = await track(startOpenAIVideosFake({ apiKey: KEY, script: { notFoundPolls: 2 } }));
    const id = String(obj((await postJson(`${fake.baseURL}/videos`, { prompt: 'x' })).json).id);
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await call(`${fake.baseURL}/videos/${id}`)).status);
    expect(codes).toEqual([404, 404, 200]);
    expect(fake.job(id)).toMatchObject({ statusCalls: 3, notFoundServed: 2 });

    fake.faults.next('status', 1, fault.latency(120));
    const t0 = Date.now();
    await call(`${fake.baseURL}/videos/${id}`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);

    const pattern = (seed: number): boolean[] => {
      const inj = new FaultInjector(mulberry32(seed));
      inj.add({ probability: 0.3, action: fault.error(500) });
      return Array.from({ length: 50 }, () => inj.resolve({ route: 'status', jobId: undefined } as RecordedRequest).terminal !== undefined);
    };
    expect(pattern(7)).toEqual(pattern(7));
    const hits = pattern(7).filter(Boolean).length;
    expect(hits).toBeGreaterThan(5);
    expect(hits).toBeLessThan(30);
  });

  it('slow and truncated downloads, on the content endpoint and the CDN', async () => {
    const fake = await track(startOpenAIVideosFake({ apiKey: KEY, timeScale: 0, script: { queuedMs: 0, runMs: 0 } }));
    const id = String(obj((await postJson(`${fake.baseURL}/videos`, { prompt: 'x' })).json).id);
    const size = fixtures.sampleMp4().length;
    fake.faults.next('content', 1, fault.throttle(100_000));
    const t0 = Date.now();
    const slow = await fetch(`${fake.baseURL}/videos/${id}/content`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(Buffer.from(await slow.arrayBuffer()).length).toBe(size);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);

    fake.faults.next('content', 1, fault.truncate({ bytes: 10_000 }));
    const cut = await fetch(`${fake.baseURL}/videos/${id}/content`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(cut.headers.get('content-length')).toBe(String(size));
    await expect(cut.arrayBuffer()).rejects.toThrow();
    await fake.waitFor((f) => f.job(id).downloads.length === 2);
    expect(fake.job(id).downloads.find((d) => !d.complete)).toMatchObject({ bytesSent: 10_000, complete: false, status: 200 });

    const ap = await track(startApimartFake({ apiKey: KEY, timeScale: 0, script: { queuedMs: 0, runMs: 0 } }));
    const task = String(obj((obj((await postJson(`${ap.url}/v1/videos/generations`, { model: 'm', prompt: 'x' })).json).data as unknown[])[0]).task_id);
    const url = String((obj((obj(obj(obj((await call(`${ap.url}/v1/tasks/${task}`)).json).data).result).videos as unknown[])[0]).url as string[])[0]);
    ap.faults.add({ route: 'cdn', times: 1, action: fault.truncate({ fraction: 0.25 }) });
    await expect((await fetch(url)).arrayBuffer()).rejects.toThrow();
    ap.faults.add({ route: 'cdn', times: 1, action: fault.reset() });
    await expect(fetch(url)).rejects.toThrow();
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).length).toBe(size);
  });

  it('goes down (connections refused) and comes back on the same port with its state', async () => {
    const fake = await track(startApimartFake({ apiKey: KEY }));
    const port = fake.port;
    await postJson(`${fake.url}/v1/videos/generations`, { model: 'm', prompt: 'x' });
    await fake.down();
    expect(fake.isUp).toBe(false);
    await expect(postJson(`${fake.url}/v1/videos/generations`, { model: 'm', prompt: 'x' })).rejects.toThrow();
    await fake.up();
    expect(fake.port).toBe(port);
    const id = fake.submissions[0]?.jobId as string;
    expect((await call(`${fake.url}/v1/tasks/${id}`)).status).toBe(200);
    expect(fake.submissionCount).toBe(1);
  });
});

describe('time compression and payloads', () => {
  it('runs minutes-long jobs in real milliseconds and records exact completion times for many jobs', async () => {
    const fake = await track(
      startApimartFake({ apiKey: KEY, timeScale: 300, script: ({ rng }) => ({ queuedMs: 5_000, runMs: 30_000 + Math.floor(rng() * 90_000), progress: 'linear' }) }),
    );
    const n = 100;
    const ids = await Promise.all(
      Array.from({ length: n }, async (_, i) => String(obj((obj((await postJson(`${fake.url}/v1/videos/generations`, { model: 'm', prompt: `job ${i}` })).json).data as unknown[])[0]).task_id)),
    );
    const pending = new Set(ids);
    while (pending.size > 0) {
      await Promise.all(
        [...pending].map(async (id) => {
          const data = obj(obj((await call(`${fake.url}/v1/tasks/${id}`)).json).data);
          if (data.status === 'completed') pending.delete(id);
        }),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
    const jobs = ids.map((id) => fake.job(id));
    const maxRun = Math.max(...jobs.map((j) => j.script.runMs));
    expect(maxRun).toBeGreaterThan(60_000);
    for (const j of jobs) {
      expect(j.completedAtWall).toBeDefined();
      expect(j.detectionDelayMs).toBeGreaterThanOrEqual(0);
      expect(j.detectionDelayMs).toBeLessThan(1_000);
      expect(j.statusCalls).toBeGreaterThanOrEqual(1);
      const expected = j.createdAtWall + (j.script.queuedMs + j.script.runMs) / 300;
      expect(Math.abs((j.completedAtWall as number) - expected)).toBeLessThan(20);
    }
    expect(fake.stats()).toMatchObject({ submissions: n, jobs: n });
    const report = fake.completionReport();
    expect(report).toHaveLength(n);
    expect(report.every((r) => r.phase === 'succeeded' && r.detectionDelayMs !== undefined)).toBe(true);
  });

  it('pads the MP4 fixture to any size as a still-valid MP4 with Range support', async () => {
    const base = fixtures.sampleMp4();
    const big = paddedMp4(base, 2_000_000);
    expect(big.size).toBe(2_000_000);
    const bytes = readAll(big);
    expect(bytes.subarray(0, base.length).equals(base)).toBe(true);
    expect(bytes.toString('latin1', base.length + 4, base.length + 8)).toBe('free');
    expect(bytes.readUInt32BE(base.length)).toBe(2_000_000 - base.length);
    expect(big.read(base.length - 4, base.length + 8).length).toBe(12);

    const fake = await track(startApimartFake({ apiKey: KEY, timeScale: 0, script: { queuedMs: 0, runMs: 0, videoBytes: 2_000_000 } }));
    const task = String(obj((obj((await postJson(`${fake.url}/v1/videos/generations`, { model: 'm', prompt: 'x' })).json).data as unknown[])[0]).task_id);
    const url = String((obj((obj(obj(obj((await call(`${fake.url}/v1/tasks/${task}`)).json).data).result).videos as unknown[])[0]).url as string[])[0]);
    const tail = await fetch(url, { headers: { range: 'bytes=-100' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe('bytes 1999900-1999999/2000000');
    expect((await tail.arrayBuffer()).byteLength).toBe(100);
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(whole.length).toBe(2_000_000);
    expect(sha256Of(big)).toBe((await import('node:crypto')).createHash('sha256').update(whole).digest('hex'));

    const ffprobe = 'node_modules/@ffprobe-installer/linux-x64/ffprobe';
    if (existsSync(ffprobe)) {
      const { writeFileSync, mkdtempSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const file = join(mkdtempSync(join(tmpdir(), 'fake-mp4-')), 'big.mp4');
      writeFileSync(file, whole);
      const out = execFileSync(ffprobe, ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name', '-of', 'json', file], { encoding: 'utf8' });
      const probe = JSON.parse(out) as { format: { duration: string }; streams: Array<{ codec_name: string }> };
      expect(Number(probe.format.duration)).toBeCloseTo(2, 1);
      expect(probe.streams.map((s) => s.codec_name)).toEqual(['h264', 'aac']);
    }
  });
});
