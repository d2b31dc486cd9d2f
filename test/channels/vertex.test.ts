import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoRequest } from '../../src/core/video-request.js';
import { VEO_IMAGE_MAX_BYTES, refuseVeo, veoBody } from '../../src/providers/veo.js';
import type { UpstreamMedia } from '../../src/providers/types.js';
import { vertex } from '../../src/providers/vertex/index.js';
import type { VertexFake } from '../fakes/index.js';
import { fault, fixtures, promptDirectives, startVertexFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { cli, spawnServer } from '../helpers/process.js';
import type { ServerProcess } from '../helpers/process.js';
import { assertBillingConsistent, createVideo, getVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const PROJECT = 'vidgate-test-project';
const ADMIN_TOKEN = 'vertex-test-admin-token-0123456789abcdef';
const EMAIL = `veo-runner@${PROJECT}.iam.gserviceaccount.com`;

/** A service-account key as Google issues it (a fresh RSA key), with the fake's token endpoint. */
function serviceAccount(tokenUri: string): { json: string; publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const json = JSON.stringify({
    type: 'service_account',
    project_id: PROJECT,
    private_key_id: '4f1e0c0ffee2d1c5a1b2c3d4e5f60718293a4b5c',
    private_key: privatePem,
    client_email: EMAIL,
    client_id: '109876543210987654321',
    token_uri: tokenUri,
  });
  return { json, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privatePem };
}

/** The Veo 3.1 models on Vertex are in the built-in catalogue: no additions needed. */
export const VEO_MODELS: unknown[] = [];

const channels = (fake: VertexFake, sa: string) => [
  {
    id: 'vertex-inline',
    type: 'vertex',
    base_url: fake.baseURL,
    service_account: sa,
    models: ['veo-3.1-generate-001'],
    options: { project: PROJECT, storage_url: fake.storageURL },
  },
  {
    id: 'vertex-gcs',
    type: 'vertex',
    base_url: `${fake.baseURL}/v1`,
    service_account: sa,
    models: ['veo-3.1-fast-generate-001'],
    options: { project: PROJECT, location: 'us-central1', storage_url: fake.storageURL, storage_uri: 'gs://vidgate-results/veo' },
  },
];

const req: VideoRequest = {
  model: 'veo-3.1-generate-001',
  prompt: 'a kite',
  seconds: 8,
  aspectRatio: '16:9',
  resolution: '720p',
  width: 1280,
  height: 720,
  audio: true,
  references: [],
  options: {},
};


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
 * The `vertex` adapter (Veo on Vertex AI) end to end through both dialects against the Vertex
 * fake: the service-account JWT exchanged for an access token (verified by the fake against the
 * key's public half, cached, re-exchanged after a 401), the predictLongRunning body, polling
 * with fetchPredictOperation, results inline and from Cloud Storage with the same token, Veo's
 * reasons with stable codes.
 */
describe('vertex adapter', () => {
  let fake: VertexFake;
  let gw: TestGateway;
  let sa: ReturnType<typeof serviceAccount>;

  beforeAll(async () => {
    fake = await startVertexFake({ serviceAccounts: {}, project: PROJECT, script: promptDirectives({ queuedMs: 100, runMs: 400 }) });
    sa = serviceAccount(fake.tokenURL);
    fake.serviceAccounts[EMAIL] = sa.publicPem;
    gw = await startWithChannels(channels(fake, sa.json), { models: VEO_MODELS, adminToken: ADMIN_TOKEN });
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('maps both dialects onto predictLongRunning, signs in with one exchanged token, and keeps inline and Cloud Storage results', async () => {
    const client = gw.openai();
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#3366cc' } }).png().toBuffer();
    const a = await client.videos.create({ model: 'veo-3.1-generate-001' as 'sora-2', prompt: 'a kite over the dunes', seconds: '8' as '4', size: '1280x720', input_reference: await toFile(png, 'k.png', { type: 'image/png' }) });
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'veo-3.1-fast-generate-001', prompt: 'rain on a tin roof', duration: 4, aspect_ratio: '9:16' }),
    });
    expect(res.status).toBe(200);
    const taskId = ((await res.json()) as { data: Array<{ task_id: string }> }).data[0]!.task_id;
    expect((await waitForVideo(client, a.id, 30_000)).status).toBe('completed');
    const b = (await waitAllTerminal(gw, gw.key, [taskId.replace('task_', 'video_')], 30_000)).get(taskId.replace('task_', 'video_'))!;
    expect(b.status, JSON.stringify(b.error)).toBe('completed');

    const i2v = fake.submissions.find((s) => s.body && (s.body.instances as Array<{ prompt: string }>)[0]!.prompt === 'a kite over the dunes')!;
    const t2v = fake.submissions.find((s) => (s.body.instances as Array<{ prompt: string }>)[0]!.prompt === 'rain on a tin roof')!;
    const i2vReq = fake.requests.find((r) => r.seq === i2v.seq)!;
    expect(i2vReq.path).toBe(`/v1/projects/${PROJECT}/locations/us-central1/publishers/google/models/veo-3.1-generate-001:predictLongRunning`);
    // generateAudio follows the request (the catalogue's default until the client says otherwise).
    expect(i2v.body.parameters).toEqual({ aspectRatio: '16:9', resolution: '720p', durationSeconds: 8, sampleCount: 1, generateAudio: expect.any(Boolean) as boolean });
    expect(fake.requests.find((r) => r.seq === i2v.seq)!.fieldTypes).toMatchObject({ instances: 'array', parameters: 'object' });
    const image = (i2v.body.instances as Array<{ image: { bytesBase64Encoded: string; mimeType: string } }>)[0]!.image;
    expect(image.mimeType).toBe('image/png');
    expect((await sharp(Buffer.from(image.bytesBase64Encoded, 'base64')).metadata()).width).toBe(1280);
    expect(t2v.body.parameters).toMatchObject({ aspectRatio: '9:16', durationSeconds: 4, storageUri: 'gs://vidgate-results/veo/' });
    expect(fake.params.get(t2v.jobId)!.bucketObject).toMatch(/^gs:\/\/vidgate-results\/veo\//);

    // One assertion exchanged per channel (both use the same key), its token reused for every call.
    expect(fake.exchanges.every((e) => e.ok && e.iss === EMAIL)).toBe(true);
    expect(fake.exchanges.length).toBeLessThanOrEqual(2);
    const statusCalls = fake.requests.filter((r) => r.route === 'status');
    expect(statusCalls.length).toBeGreaterThanOrEqual(2);
    for (const r of statusCalls) expect(fake.issued.has(String(r.headers.authorization).replace('Bearer ', ''))).toBe(true);
    // The Cloud Storage read carried the same token; the inline video came in the operation.
    const gcs = fake.storage.requests.filter((r) => r.route === 'content');
    expect(gcs.length).toBeGreaterThanOrEqual(1);
    expect(String(gcs[0]!.headers.authorization)).toMatch(/^Bearer ya29\./);
    expect(gcs[0]!.path).toMatch(/^\/storage\/v1\/b\/vidgate-results\/o\/veo%2F/);

    const content = Buffer.from(await (await fetch(`${gw.url}/v1/videos/${a.id}/content`, { headers: { authorization: `Bearer ${gw.key}` } })).arrayBuffer());
    expect(content.equals(fixtures.sampleMp4())).toBe(true);
    // Veo reports no length: the bill settles on the probed 2 s of the delivered video.
    const db = new Database(path.join(gw.dataDir, 'vidgate.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT actual_seconds FROM tasks WHERE id = ?').get(a.id.slice('video_'.length)) as { actual_seconds: number };
      expect(row.actual_seconds).toBeCloseTo(2, 0);
    } finally {
      db.close();
    }
    expect((await assertBillingConsistent(gw.dataDir)).settled).toBeGreaterThanOrEqual(2);
  });

  it('passes Veo’s reasons to the client with stable codes: filtered, guideline refusals, internal errors, an invalid request', async () => {
    fake.faults.add({
      route: 'submit',
      when: (r) => JSON.stringify(r.json).includes('refused at submit'),
      action: fault.error(400, { message: 'Unsupported aspect ratio for image-to-video with lastFrame.' }),
    });
    const made = await Promise.all([
      createVideo(gw, gw.key, { model: 'veo-3.1-generate-001', prompt: 'filtered [[fake: outcome=moderation message=Video_blocked_by_person/face_safety_settings]]', seconds: '8', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'veo-3.1-generate-001', prompt: "guidelines [[fake: outcome=fail code=3 message=The_prompt_contains_words_that_violate_Vertex_AI's_usage_guidelines]]", seconds: '8', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'veo-3.1-generate-001', prompt: 'boom [[fake: outcome=fail code=13 message=Video_generation_backend_crashed]]', seconds: '8', size: '1280x720' }),
      createVideo(gw, gw.key, { model: 'veo-3.1-generate-001', prompt: 'refused at submit', seconds: '8', size: '1280x720' }),
    ]);
    const ids = made.map((m) => m.json.id as string);
    const done = await waitAllTerminal(gw, gw.key, ids, 30_000);
    const errors = ids.map((id) => done.get(id)!.error!);
    expect(errors[0]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[0]!.message).toContain('Video blocked by person/face safety settings');
    expect(errors[1]).toMatchObject({ code: 'moderation_blocked' });
    expect(errors[1]!.message).toContain('usage guidelines');
    expect(errors[2]).toMatchObject({ code: 'upstream_failed' });
    expect(errors[2]!.message).toContain('Video generation backend crashed');
    expect(errors[3]).toMatchObject({ code: 'upstream_invalid_request' });
    expect(errors[3]!.message).toContain('Unsupported aspect ratio');
    // 1080p is made at 8 s only: refused before anything is sent.
    await expectRefused(gw, { model: 'veo-3.1-generate-001', prompt: 'too short for 1080p', seconds: '4', size: '1920x1080' }, 'seconds', '8 seconds only');
    expect(fake.submissions.some((s) => (s.body.instances as Array<{ prompt: string }>)[0]!.prompt === 'too short for 1080p')).toBe(false);
    const task = (await (await fetch(`${gw.url}/v1/tasks/${ids[0]!.replace('video_', 'task_')}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { data: { status: string; error?: { message: string } } };
    expect(task.data.status).toBe('failed');
    expect(task.data.error?.message).toContain('safety settings');
    expect((await assertBillingConsistent(gw.dataDir)).released).toBeGreaterThanOrEqual(4);
  });

  it('exchanges the assertion again when Google refuses the token (401), and a channel signing with a key Google does not hold fails its probe', async () => {
    for (const t of fake.issued.keys()) fake.revoke(t);
    const before = fake.exchanges.length;
    // The token endpoint stumbles once (503): nothing was sent, the submit is simply tried again.
    const stumble = fake.faults.add({ route: 'token', times: 1, action: fault.error(503, { message: 'backend error' }) });
    const v = await createVideo(gw, gw.key, { model: 'veo-3.1-generate-001', prompt: 'after a revocation', seconds: '8', size: '1280x720' });
    const done = await waitAllTerminal(gw, gw.key, [v.json.id as string], 30_000);
    expect(done.get(v.json.id as string)!.status).toBe('completed');
    expect(stumble.hits).toBe(1);
    expect(fake.exchanges.length).toBe(before + 1);
    expect(fake.submissions.filter((s) => (s.body.instances as Array<{ prompt: string }>)[0]!.prompt === 'after a revocation')).toHaveLength(1);

    const stranger = serviceAccount(fake.tokenURL);
    const admin = ADMIN_TOKEN;
    const added = await gw.app.server.inject({
      method: 'POST',
      url: '/admin/v1/channels',
      headers: { authorization: `Bearer ${admin}` },
      payload: { id: 'vertex-stranger', type: 'vertex', base_url: fake.baseURL, service_account: stranger.json, models: ['veo-3.1-generate-001'], options: { project: PROJECT }, enabled: false },
    });
    expect(added.statusCode, added.body).toBe(201);
    expect(added.body).not.toContain('PRIVATE KEY');
    const test = await gw.app.server.inject({ method: 'POST', url: '/admin/v1/channels/vertex-stranger/test', headers: { authorization: `Bearer ${admin}` } });
    expect(test.body).toContain('Invalid JWT Signature');
    expect(test.body.includes(stranger.privatePem.split('\n')[3]!)).toBe(false);
    const view = (await gw.app.server.inject({ method: 'GET', url: '/admin/v1/channels/vertex-stranger', headers: { authorization: `Bearer ${admin}` } })).body;
    expect(view).toContain('service_account');
    expect(view).not.toContain('PRIVATE KEY');
  });
});

describe('vertex adapter pieces', () => {
  it('refuses at create time what a Veo model on Vertex cannot do', () => {
    expect(refuseVeo(req, 'veo-3.1-generate-001', 'vertex')).toBeNull();
    expect(refuseVeo({ ...req, seconds: 5 }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'seconds' });
    expect(refuseVeo({ ...req, seconds: 4, resolution: '1080p', width: 1920, height: 1080 }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'seconds' });
    expect(refuseVeo({ ...req, resolution: '4k' }, 'veo-3.1-generate-001', 'vertex')).toBeNull();
    expect(refuseVeo({ ...req, resolution: '4k' }, 'veo-3.1-lite-generate-001', 'vertex')).toMatchObject({ param: 'resolution' });
    expect(refuseVeo({ ...req, aspectRatio: '1:1', width: 720, height: 720 }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'aspect_ratio' });
    expect(refuseVeo({ ...req, seed: 42 }, 'veo-3.1-generate-001', 'vertex')).toBeNull();
    expect(refuseVeo({ ...req, seed: -1 }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'seed' });
    expect(refuseVeo({ ...req, negativePrompt: 'blur' }, 'veo-3.1-generate-001', 'vertex')).toBeNull();
    expect(refuseVeo({ ...req, audio: true, seconds: 6 }, 'veo-2.0-generate-001', 'vertex')).toMatchObject({ param: 'audio' });
    const frame = { role: 'first_frame' as const, kind: 'image' as const, blob: 'x/f.png', contentType: 'image/png', width: 1280, height: 720 };
    expect(refuseVeo({ ...req, lastFrame: { ...frame, role: 'last_frame' } }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'last_frame' });
    expect(refuseVeo({ ...req, firstFrame: frame, lastFrame: { ...frame, role: 'last_frame' } }, 'veo-3.1-generate-001', 'vertex')).toBeNull();
    expect(refuseVeo({ ...req, firstFrame: frame, lastFrame: { ...frame, role: 'last_frame' } }, 'veo-3.1-lite-generate-001', 'vertex')).toMatchObject({ param: 'last_frame' });
    const ref = { ...frame, role: 'reference' as const };
    expect(refuseVeo({ ...req, references: [ref, ref, ref] }, 'veo-3.1-generate-001', 'vertex')).toBeNull();
    expect(refuseVeo({ ...req, references: [ref, ref, ref, ref] }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'references' });
    expect(refuseVeo({ ...req, references: [ref], seconds: 6 }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'seconds' });
    expect(refuseVeo({ ...req, references: [ref], firstFrame: frame }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'references' });
    expect(refuseVeo({ ...req, mode: 'pro' }, 'veo-3.1-generate-001', 'vertex')).toMatchObject({ param: 'mode' });
  });

  it('maps every capability of the request onto the body: frames, references, seed, negative prompt, sound; images as PNG or JPEG within 4.5 MB', async () => {
    const png = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#204060' } }).png().toBuffer();
    const webp = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#604020' } }).webp().toBuffer();
    // Noise does not compress: a big PNG that must be re-encoded to fit.
    const noise = await sharp(randomBytes(2400 * 1600 * 3), { raw: { width: 2400, height: 1600, channels: 3 } }).png().toBuffer();
    expect(noise.length).toBeGreaterThan(VEO_IMAGE_MAX_BYTES);
    const media = (role: UpstreamMedia['role'], data: Buffer, contentType: string): UpstreamMedia => ({ role, kind: 'image', blob: `t/${role}`, contentType, data });
    const plain: VideoRequest<UpstreamMedia> = { ...req, references: [] } as VideoRequest<UpstreamMedia>;
    const framed = await veoBody({ ...plain, seed: 7, negativePrompt: 'text overlays', audio: true, firstFrame: media('first_frame', noise, 'image/png'), lastFrame: media('last_frame', webp, 'image/webp'), references: [] }, 'veo-3.1-generate-001', 'vertex', { personGeneration: 'allow_adult' });
    expect(framed.parameters).toEqual({ aspectRatio: '16:9', resolution: '720p', durationSeconds: 8, sampleCount: 1, generateAudio: true, seed: 7, negativePrompt: 'text overlays', personGeneration: 'allow_adult' });
    const inst = framed.instances[0] as { image: { bytesBase64Encoded: string; mimeType: string }; lastFrame: { mimeType: string } };
    expect(inst.image.mimeType).toBe('image/jpeg');
    expect(Buffer.from(inst.image.bytesBase64Encoded, 'base64').length).toBeLessThanOrEqual(VEO_IMAGE_MAX_BYTES);
    expect(inst.lastFrame.mimeType).toBe('image/png');
    const refs = await veoBody({ ...plain, references: [media('reference', png, 'image/png'), media('reference', png, 'image/png')] }, 'veo-3.1-generate-001', 'gemini', {});
    expect((refs.instances[0] as { referenceImages: Array<{ referenceType: string; image: { mimeType: string } }> }).referenceImages).toEqual([
      { image: { bytesBase64Encoded: png.toString('base64'), mimeType: 'image/png' }, referenceType: 'asset' },
      { image: { bytesBase64Encoded: png.toString('base64'), mimeType: 'image/png' }, referenceType: 'asset' },
    ]);
    // The Gemini API takes neither generateAudio nor seed.
    expect(refs.parameters).toEqual({ aspectRatio: '16:9', resolution: '720p', durationSeconds: 8, sampleCount: 1 });
  });

  it('checks its service-account key without repeating it', () => {
    expect(vertex.checkCredentials!({})).toMatch(/needs service_account/);
    expect(vertex.checkCredentials!({ fields: { service_account: 'not json' } })).toMatch(/not JSON/);
    expect(vertex.checkCredentials!({ fields: { service_account: JSON.stringify({ type: 'authorized_user', client_email: 'x', private_key: 'y' }) } })).toMatch(/authorized_user/);
    const bad = JSON.stringify({ type: 'service_account', client_email: EMAIL, private_key: 'MIIEv-not-a-key-material-0123456789' });
    const problem = vertex.checkCredentials!({ fields: { service_account: bad } });
    expect(problem).toMatch(/not a PEM private key/);
    expect(problem).not.toContain('MIIEv');
    expect(vertex.checkCredentials!({ fields: { service_account: serviceAccount('https://oauth2.googleapis.com/token').json } })).toBeNull();
  });
});

/**
 * The built gateway (node dist/main.js) killed with SIGKILL in every phase of a Vertex job —
 * before its submit reached Google, after Google made the job but before its answer was recorded,
 * while polling, while downloading from Cloud Storage — and restarted. Vertex takes no
 * idempotency key: the job whose answer was lost is not sent again (it fails, uncharged); every
 * other task completes; no job is made twice. Then: the key is nowhere in answers, logs or the
 * database file.
 */
describe('vertex: restarts in every phase, credentials nowhere', () => {
  let fake: VertexFake | undefined;
  const servers: ServerProcess[] = [];
  let dataDir = '';
  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await fake?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('nothing lost, nothing submitted twice; the private key and tokens appear nowhere', async () => {
    fake = await startVertexFake({ serviceAccounts: {}, project: PROJECT, script: { queuedMs: 100, runMs: 800 } });
    const sa = serviceAccount(fake.tokenURL);
    fake.serviceAccounts[EMAIL] = sa.publicPem;
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-vertex-crash-'));
    const saFile = path.join(dataDir, 'sa.json');
    await writeFile(saFile, sa.json);
    const configFile = path.join(dataDir, 'vidgate.json');
    await writeFile(
      configFile,
      JSON.stringify({
        net: { allowCidrs: ['127.0.0.1/32'] },
        upstream: { poll: { minMs: 100, maxMs: 1000, firstMs: 200 }, submitTimeoutMs: 20_000, breaker: { failures: 100, cooldownMs: 1000 } },
        models: VEO_MODELS,
        channels: [{ id: 'vx', type: 'vertex', base_url: fake.baseURL, service_account_file: saFile, models: ['veo-3.1-fast-generate-001'], options: { project: PROJECT, storage_url: fake.storageURL, storage_uri: 'gs://crash-bucket/out/' } }],
      }),
    );
    const ADMIN = 'admin-token-for-vertex-crash-test';
    const env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_CONFIG: configFile, VIDGATE_LEASE_MS: '3000', VIDGATE_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'trace' };
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
    const create = async (prompt: string) => {
      const r = await createVideo(gw, key, { model: 'veo-3.1-fast-generate-001', prompt, seconds: '8', size: '1280x720' });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      seen.push(JSON.stringify(r.json));
      ids.push(r.json.id as string);
      return r.json.id as string;
    };
    const promptOf = (s: { body: Record<string, unknown> }) => (s.body.instances as Array<{ prompt: string }>)[0]!.prompt;

    // 1. Before submit: Vertex unreachable; the task waits; the gateway dies.
    let server = await start();
    await fake.down();
    const before = await create('before submit');
    await new Promise((r) => setTimeout(r, 500));
    await kill(server);
    await fake.up();
    expect(fake.submissionCount).toBe(0);

    // 2. Mid-submit: Vertex makes the job but its answer never arrives; the gateway dies.
    server = await start();
    fake.faults.add({ route: 'submit', times: 1, when: (r) => JSON.stringify(r.json).includes('mid submit'), action: fault.hang({ after: true }) });
    const lost = await create('mid submit');
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

    // 3. While polling.
    server = await start();
    fake.script({ queuedMs: 100, runMs: 4_000 });
    await create('while polling');
    await fake.waitFor((f) => f.jobList().some((j) => j.prompt === 'while polling' && j.statusCalls > 0), { timeoutMs: 20_000 });
    await kill(server);

    // 4. While downloading from Cloud Storage (trickled).
    server = await start();
    fake.script({ queuedMs: 100, runMs: 300 });
    const downloading = (r: { jobId: string | undefined }) => fake!.jobs.get(r.jobId ?? '')?.prompt === 'while downloading';
    fake.faults.add({ route: 'content', times: 1, when: downloading, action: fault.throttle(5_000) });
    await create('while downloading');
    await fake.waitFor((f) => f.storage.requests.some((r) => downloading(r) && r.faults.length > 0), { timeoutMs: 20_000 });
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
    // One upstream job per task, never two.
    for (const p of ['before submit', 'mid submit', 'while polling', 'while downloading']) expect(fake.submissions.filter((s) => promptOf(s) === p)).toHaveLength(p === 'before submit' ? 1 - lostBefore : 1);
    expect(await assertBillingConsistent(dataDir)).toEqual({ settled: 3 - lostBefore, released: 1 + lostBefore });

    for (const p of ['/admin/v1/channels', '/admin/v1/channels/vx', '/admin/v1/channels/vx/health']) {
      seen.push(await (await fetch(`${gw.url}${p}`, { headers: { authorization: `Bearer ${ADMIN}` } })).text());
    }
    const probe = await (await fetch(`${gw.url}/admin/v1/channels/vx/test`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } })).text();
    seen.push(probe);
    expect(JSON.parse(probe), probe).toMatchObject({ ok: true });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);

    const logs = servers.map((s) => s.output()).join('\n');
    expect(logs.length).toBeGreaterThan(1000);
    const files = readdirSync(dataDir).filter((f) => f.startsWith('vidgate.db')).map((f) => readFileSync(path.join(dataDir, f)).toString('latin1'));
    const keyLines = sa.privatePem.split('\n').filter((l) => l.length > 40);
    const secrets = [...keyLines.slice(0, 3), ...fake.issued.keys()];
    expect(secrets.length).toBeGreaterThan(3);
    for (const secret of secrets) {
      for (const text of seen) expect(text.includes(secret), 'an answer contains a credential').toBe(false);
      expect(logs.includes(secret), 'the log contains a credential').toBe(false);
      for (const f of files) expect(f.includes(secret), 'the database contains a credential').toBe(false);
    }
  }, 180_000);
});
