/**
 * Self-tests of the Google fakes (Vertex AI, the Gemini API): contract against the documented
 * protocol, not against the real services — auth checked as Google checks it, the operation and
 * interaction shapes, error envelopes, redirects and expiring results.
 */
import { createSign, generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtures, promptDirectives, startGeminiFake, startVertexFake } from './index.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function assertion(claims: Record<string, unknown>, key: Parameters<ReturnType<typeof createSign>['sign']>[0]): string {
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64(claims)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
}
const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> });

describe('vertex fake', () => {
  it('exchanges only a correctly signed, current assertion for a token, and wants that token everywhere', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const email = 'sa@proj-one.iam.gserviceaccount.com';
    const fake = await startVertexFake({ serviceAccounts: { [email]: publicKey.export({ type: 'spki', format: 'pem' }).toString() }, project: 'proj-one', script: { queuedMs: 0, runMs: 200 } });
    open.push(fake);
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: email, scope: 'https://www.googleapis.com/auth/cloud-platform', aud: fake.tokenURL, iat: now, exp: now + 3600 };
    const exchange = (jwt: string, grant = 'urn:ietf:params:oauth:grant-type:jwt-bearer') =>
      fetch(fake.tokenURL, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: grant, assertion: jwt }) }).then(json);

    expect(await exchange(assertion(claims, other))).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } });
    expect((await exchange(assertion({ ...claims, exp: now - 10, iat: now - 3610 }, privateKey))).body.error).toBe('invalid_grant');
    expect((await exchange(assertion({ ...claims, exp: now + 7200 }, privateKey))).body.error).toBe('invalid_grant');
    expect((await exchange(assertion({ ...claims, aud: 'https://elsewhere/token' }, privateKey))).body.error).toBe('invalid_grant');
    expect((await exchange(assertion(claims, privateKey), 'client_credentials')).body.error).toBe('unsupported_grant_type');
    const ok = await exchange(assertion(claims, privateKey));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    const token = ok.body.access_token as string;

    const model = `${fake.baseURL}/v1/projects/proj-one/locations/us-central1/publishers/google/models/veo-3.1-generate-001`;
    const post = (url: string, body: unknown, t = token) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(json);
    expect(await post(`${model}:predictLongRunning`, { instances: [{ prompt: 'x' }], parameters: { generateAudio: false } }, 'ya29.forged')).toMatchObject({ status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED' } } });
    expect((await post(`${model.replace('proj-one', 'proj-two')}:predictLongRunning`, { instances: [{ prompt: 'x' }] })).body).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
    // Images as bytes + MIME type only; Veo 3 wants generateAudio; integer durations.
    expect((await post(`${model}:predictLongRunning`, { instances: [{ prompt: 'x', image: { inlineData: { data: 'AA==', mimeType: 'image/png' } } }], parameters: { generateAudio: false } })).body).toMatchObject({ error: { status: 'INVALID_ARGUMENT', message: expect.stringContaining('inlineData') } });
    expect((await post(`${model}:predictLongRunning`, { instances: [{ prompt: 'x' }] })).body).toMatchObject({ error: { message: expect.stringContaining('generateAudio') } });
    expect((await post(`${model}:predictLongRunning`, { instances: [{ prompt: 'x' }], parameters: { generateAudio: false, durationSeconds: '8' } })).status).toBe(400);

    const made = await post(`${model}:predictLongRunning`, { instances: [{ prompt: 'x' }], parameters: { generateAudio: true, durationSeconds: 8 } });
    const name = made.body.name as string;
    expect(name).toMatch(/^projects\/proj-one\/locations\/us-central1\/publishers\/google\/models\/veo-3\.1-generate-001\/operations\/[0-9a-f-]{36}$/);
    const running = await post(`${model}:fetchPredictOperation`, { operationName: name });
    expect(running.body).toEqual({ name });
    await new Promise((r) => setTimeout(r, 300));
    const done = await post(`${model}:fetchPredictOperation`, { operationName: name });
    expect(done.body).toMatchObject({ name, done: true, response: { raiMediaFilteredCount: 0 } });
    const video = ((done.body.response as { videos: Array<{ bytesBase64Encoded: string; mimeType: string }> }).videos)[0]!;
    expect(video.mimeType).toBe('video/mp4');
    expect(Buffer.from(video.bytesBase64Encoded, 'base64').equals(fixtures.sampleMp4())).toBe(true);
  });

  it('keeps results in Cloud Storage when asked, readable with the token only, until they expire', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const email = 'sa@proj-one.iam.gserviceaccount.com';
    const fake = await startVertexFake({ serviceAccounts: { [email]: publicKey.export({ type: 'spki', format: 'pem' }).toString() }, project: 'proj-one', script: { queuedMs: 0, runMs: 100, resultTtlMs: 2_000 } });
    open.push(fake);
    const now = Math.floor(Date.now() / 1000);
    const token = (await fetch(fake.tokenURL, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: assertion({ iss: email, scope: 'https://www.googleapis.com/auth/cloud-platform', aud: fake.tokenURL, iat: now, exp: now + 600 }, privateKey) }),
    }).then(json)).body.access_token as string;
    const model = `${fake.baseURL}/v1/projects/proj-one/locations/us-central1/publishers/google/models/veo-3.1-fast-generate-001`;
    const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(json);
    const name = (await post(`${model}:predictLongRunning`, { instances: [{ prompt: 'x' }], parameters: { generateAudio: false, storageUri: 'gs://bkt/out/' } })).body.name as string;
    await new Promise((r) => setTimeout(r, 200));
    const done = await post(`${model}:fetchPredictOperation`, { operationName: name });
    const gcs = ((done.body.response as { videos: Array<{ gcsUri: string }> }).videos)[0]!.gcsUri;
    expect(gcs).toMatch(/^gs:\/\/bkt\/out\/.+\.mp4$/);
    const object = gcs.slice('gs://bkt/'.length);
    const url = `${fake.storageURL}/storage/v1/b/bkt/o/${encodeURIComponent(object)}?alt=media`;
    expect((await fetch(url)).status).toBe(401);
    const got = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(fixtures.sampleMp4())).toBe(true);
    await new Promise((r) => setTimeout(r, 2_200));
    expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });
});

describe('gemini fake', () => {
  it('Veo: the key checked as Google does, no done key while running, a keyed download that redirects to another origin', async () => {
    const fake = await startGeminiFake({ apiKey: 'AIza-good-key-0123456789', script: { queuedMs: 0, runMs: 150 } });
    open.push(fake);
    const call = (p: string, init: RequestInit = {}, key: string | null = 'AIza-good-key-0123456789') =>
      fetch(`${fake.baseURL}${p}`, { ...init, redirect: 'manual', headers: { ...(key ? { 'x-goog-api-key': key } : {}), 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });
    expect(await json(await call('/models', {}, 'AIza-wrong'))).toMatchObject({ status: 400, body: { error: { status: 'INVALID_ARGUMENT', message: 'API key not valid. Please pass a valid API key.' } } });
    expect((await call('/models', {}, null)).status).toBe(403);
    const submit = (body: unknown) => call('/models/veo-3.1-generate-preview:predictLongRunning', { method: 'POST', body: JSON.stringify(body) }).then(json);
    expect((await submit({ instances: [{ prompt: 'x' }], parameters: { seed: 1 } })).body).toMatchObject({ error: { status: 'INVALID_ARGUMENT', message: expect.stringContaining('seed') } });
    expect((await submit({ instances: [{ prompt: 'x' }], parameters: { generateAudio: true } })).status).toBe(400);
    expect((await submit({ instances: [{ prompt: 'x' }], parameters: { durationSeconds: '8' } })).status).toBe(200);
    const { body } = await submit({ instances: [{ prompt: 'x' }], parameters: { durationSeconds: 8, resolution: '1080p' } });
    const name = body.name as string;
    expect(name).toMatch(/^models\/veo-3\.1-generate-preview\/operations\/[0-9a-f]+$/);
    const running = await json(await call(`/${name}`));
    expect(running.body).toEqual({ name });
    await new Promise((r) => setTimeout(r, 250));
    const done = await json(await call(`/${name}`));
    const uri = ((done.body.response as { generateVideoResponse: { generatedSamples: Array<{ video: { uri: string } }> } }).generateVideoResponse.generatedSamples[0]!.video.uri);
    expect(uri).toMatch(/\/v1beta\/files\/[0-9a-f]+:download\?alt=media$/);
    expect((await fetch(uri, { redirect: 'manual' })).status).toBe(403);
    const redirect = await fetch(uri, { redirect: 'manual', headers: { 'x-goog-api-key': 'AIza-good-key-0123456789' } });
    expect(redirect.status).toBe(302);
    const location = redirect.headers.get('location')!;
    expect(new URL(location).origin).not.toBe(new URL(uri).origin);
    expect(Buffer.from(await (await fetch(location)).arrayBuffer()).equals(fixtures.sampleMp4())).toBe(true);
  });

  it('Omni: snake_case interactions in the background, statuses, inline data on GET, Files API states, cancel', async () => {
    const fake = await startGeminiFake({ apiKey: 'k-omni-0123456789', script: { queuedMs: 0, runMs: 150 }, getDelivery: 'as-requested', fileProcessingPolls: 1 });
    open.push(fake);
    const call = (p: string, init: RequestInit = {}) => fetch(`${fake.baseURL}${p}`, { ...init, headers: { 'x-goog-api-key': 'k-omni-0123456789', 'content-type': 'application/json' } }).then(json);
    const create = (body: unknown) => call('/interactions', { method: 'POST', body: JSON.stringify(body) });
    expect((await create({ model: 'gemini-omni-1.1-flash', input: 'x', responseFormat: { type: 'video' } })).status).toBe(400);
    const made = await create({ model: 'gemini-omni-1.1-flash', input: [{ type: 'text', text: 'a fox' }], response_format: { type: 'video', aspect_ratio: '9:16', delivery: 'uri' }, background: true, store: true });
    expect(made.body).toMatchObject({ object: 'interaction', status: 'in_progress' });
    const id = made.body.id as string;
    expect(id).toMatch(/^v1_/);
    await new Promise((r) => setTimeout(r, 250));
    const done = await call(`/interactions/${id}`);
    expect(done.body.status).toBe('completed');
    const step = (done.body.steps as Array<{ type: string; content?: Array<{ type: string; uri?: string }> }>).find((s) => s.type === 'model_output')!;
    const uri = step.content![0]!.uri!;
    const fileId = /\/files\/([^:]+):download/.exec(uri)![1]!;
    expect((await call(`/files/${fileId}`)).body.state).toBe('PROCESSING');
    expect((await call(`/files/${fileId}`)).body.state).toBe('ACTIVE');

    const inline = await startGeminiFake({ apiKey: 'k-omni-0123456789', script: promptDirectives({ queuedMs: 0, runMs: 100 }) });
    open.push(inline);
    const callInline = (p: string, init: RequestInit = {}) => fetch(`${inline.baseURL}${p}`, { ...init, headers: { 'x-goog-api-key': 'k-omni-0123456789', 'content-type': 'application/json' } }).then(json);
    // Synchronous by default: the create blocks until the video exists.
    const sync = await callInline('/interactions', { method: 'POST', body: JSON.stringify({ model: 'gemini-omni-1.1-flash', input: 'a heron', response_format: { type: 'video' } }) });
    expect(sync.body.status).toBe('completed');
    const bg = await callInline('/interactions', { method: 'POST', body: JSON.stringify({ model: 'gemini-omni-1.1-flash', input: 'a crane', response_format: { type: 'video', delivery: 'uri' }, background: true }) });
    await new Promise((r) => setTimeout(r, 200));
    const got = await callInline(`/interactions/${bg.body.id as string}`);
    const video = (got.body.steps as Array<{ type: string; content?: Array<{ data?: string }> }>).find((s) => s.type === 'model_output')!.content![0]!;
    // GET answers inline data even though the create asked for a URI.
    expect(Buffer.from(video.data!, 'base64').equals(fixtures.sampleMp4())).toBe(true);

    const long = await callInline('/interactions', { method: 'POST', body: JSON.stringify({ model: 'gemini-omni-1.1-flash', input: 'long [[fake: runMs=60000]]', response_format: { type: 'video' }, background: true }) });
    inline.job(long.body.id as string);
    expect((await callInline(`/interactions/${long.body.id as string}/cancel`, { method: 'POST' })).body.status).toBe('cancelled');
    expect((await callInline(`/interactions/${long.body.id as string}/cancel`, { method: 'POST' })).status).toBe(400);
  });
});
