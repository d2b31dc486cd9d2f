import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ChannelTokens } from '../../src/channels/tokens.js';
import { loadConfig } from '../../src/config.js';
import { ADAPTERS } from '../../src/providers/index.js';
import type { AdapterDefinition, AuthContext, UpstreamAdapter, UpstreamHttp, UpstreamStatus, UpstreamSubmit } from '../../src/providers/types.js';
import { UpstreamError } from '../../src/providers/types.js';
import { fixtures } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { waitForVideo } from '../helpers/gateway.js';
import { channel, startWithChannels } from '../helpers/upstreams.js';

/**
 * The parts of the adapter interface the kling and ark adapters do not use, proven end to end
 * with a small protocol of our own: an OAuth-style token exchange at an operator-configured URL
 * (cached, renewed, re-minted after a 401), an upload before the submit, results returned inline
 * or on another origin that needs the channel's token, a long-lived listener that pokes jobs,
 * cancel. Plus the token cache's rules and the credential fields of channels.
 */

interface Job {
  id: string;
  done: boolean;
  /** The video is kept on the object store (else it comes inline). */
  stored: boolean;
  cancelled: boolean;
  upload: string;
}

const SECRET = 'client-secret-of-the-test-protocol-0001';

class TestUpstream {
  readonly api: Server;
  readonly store: Server;
  apiUrl = '';
  storeUrl = '';
  tokens: string[] = [];
  /** Tokens revoked (answer 401 with them). */
  revoked = new Set<string>();
  jobs = new Map<string, Job>();
  uploads = new Map<string, string>();
  waiting: ServerResponse[] = [];
  statusCalls = 0;
  storeAuth: Array<string | undefined> = [];
  private n = 0;

  constructor() {
    this.api = createServer((req, res) => void this.handle(req, res));
    this.store = createServer((req, res) => {
      this.storeAuth.push(req.headers.authorization);
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !this.tokens.includes(token)) return this.json(res, 403, { error: 'no token' });
      res.writeHead(200, { 'content-type': 'video/mp4' }).end(fixtures.sampleMp4());
    });
  }

  async start(): Promise<void> {
    const listen = (s: Server) => new Promise<string>((resolve) => s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as { port: number }).port}`)));
    this.apiUrl = await listen(this.api);
    this.storeUrl = await listen(this.store);
  }

  async close(): Promise<void> {
    for (const r of this.waiting) r.end('[]');
    await Promise.all([this.api, this.store].map((s) => new Promise((r) => s.close(r))));
  }

  finish(id: string): void {
    this.jobs.get(id)!.done = true;
    for (const r of this.waiting.splice(0)) r.end(JSON.stringify([id]));
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/token') {
      const form = new URLSearchParams(body.toString());
      if (req.headers['content-type'] !== 'application/x-www-form-urlencoded' || form.get('client_secret') !== SECRET || req.headers.authorization) return this.json(res, 401, { error: 'invalid_client' });
      const token = `tok-${++this.n}-${'x'.repeat(20)}`;
      this.tokens.push(token);
      return this.json(res, 200, { access_token: token, expires_in: 3600 });
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !this.tokens.includes(token) || this.revoked.has(token)) return this.json(res, 401, { error: { message: 'bad token' } });
    if (url.pathname === '/upload' && req.method === 'POST') {
      const name = `up-${++this.n}`;
      this.uploads.set(name, body.toString('latin1'));
      return this.json(res, 200, { name });
    }
    if (url.pathname === '/jobs' && req.method === 'POST') {
      const b = JSON.parse(body.toString()) as { upload: string; prompt: string };
      if (!this.uploads.has(b.upload)) return this.json(res, 400, { error: { message: 'no such upload' } });
      const id = `job-${++this.n}`;
      this.jobs.set(id, { id, done: false, stored: b.prompt.includes('stored'), cancelled: false, upload: b.upload });
      return this.json(res, 200, { id });
    }
    if (url.pathname === '/events') {
      this.waiting.push(res);
      return;
    }
    const m = /^\/jobs\/([^/]+)$/.exec(url.pathname);
    const job = m ? this.jobs.get(m[1]!) : undefined;
    if (!job) return this.json(res, 404, { error: { message: 'no such job' } });
    if (req.method === 'DELETE') {
      job.cancelled = true;
      return this.json(res, 200, {});
    }
    this.statusCalls++;
    const out: Record<string, unknown> = { id: job.id, state: job.cancelled ? 'cancelled' : job.done ? 'done' : 'running' };
    if (job.done && job.stored) out.object = `/objects/${job.id}.mp4`;
    if (job.done && !job.stored && url.searchParams.get('with') === 'bytes') out.bytes = fixtures.sampleMp4().toString('base64');
    return this.json(res, 200, out);
  }
}

const testOptions = z.object({ token_url: z.string(), store_url: z.string() }).strict();

/** A protocol that uses every optional piece of the interface. */
const testProtocol: AdapterDefinition<z.infer<typeof testOptions>> = {
  type: 'test-protocol',
  description: 'test only',
  options: testOptions,
  create: (o): UpstreamAdapter => ({
    type: 'test-protocol',
    idempotentSubmit: false,
    supportsRemix: false,
    async auth({ credentials, tokens, http }: AuthContext) {
      const token = await tokens.get('oauth', async () => {
        const res = await http.send({ method: 'POST', url: o.token_url, trusted: true, auth: false, urlencoded: { grant_type: 'client_credentials', client_secret: credentials.apiKey ?? '' }, purpose: 'probe' });
        const b = res.body as { access_token: string; expires_in: number };
        return { token: b.access_token, expiresAtMs: Date.now() + b.expires_in * 1000 };
      });
      return { authorization: `Bearer ${token}` };
    },
    async submit(job: UpstreamSubmit, http: UpstreamHttp) {
      const up = await http.send({ method: 'POST', path: '/upload', form: [{ name: 'file', filename: 'p.txt', contentType: 'text/plain', data: Buffer.from(job.request.prompt) }], purpose: 'upload' });
      const res = await http.send({ method: 'POST', path: '/jobs', json: { upload: (up.body as { name: string }).name, prompt: job.request.prompt }, purpose: 'submit' });
      return { upstreamId: (res.body as { id: string }).id };
    },
    async status(id: string, http: UpstreamHttp): Promise<UpstreamStatus> {
      const b = (await http.send({ method: 'GET', path: `/jobs/${id}`, purpose: 'status' })).body as { state: string; object?: string };
      return { state: b.state === 'done' ? 'succeeded' : b.state === 'cancelled' ? 'cancelled' : 'running', raw: b.state, ...(b.object ? { resultUrl: o.store_url + b.object } : {}) };
    },
    async results(id: string, last: UpstreamStatus, http: UpstreamHttp) {
      if (last.resultUrl) return { video: { url: last.resultUrl, credentials: true as const } };
      // Inline bytes are asked for when they are needed, never kept in the task's status.
      const b = (await http.send({ method: 'GET', path: `/jobs/${id}`, query: { with: 'bytes' }, maxBytes: 8 * 1024 * 1024, purpose: 'status' })).body as { bytes: string };
      return { video: { data: Buffer.from(b.bytes, 'base64') } };
    },
    async cancel(id: string, http: UpstreamHttp) {
      await http.send({ method: 'DELETE', path: `/jobs/${id}`, purpose: 'status' });
    },
    async listen(ctx) {
      for (;;) {
        const res = await ctx.http.send({ method: 'GET', path: '/events', purpose: 'probe', signal: ctx.signal });
        if (ctx.signal.aborted) return;
        for (const id of res.body as string[]) ctx.poke(id);
      }
    },
    async probe(http: UpstreamHttp) {
      await http.send({ method: 'GET', path: '/jobs/none', purpose: 'probe' }).catch((e: unknown) => {
        if (!(e instanceof UpstreamError && e.detail.status === 404)) throw e;
      });
    },
  }),
};

describe('the adapter interface, beyond one API key', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    (ADAPTERS as Record<string, AdapterDefinition<never>>)[testProtocol.type] = testProtocol as AdapterDefinition<never>;
    up = new TestUpstream();
    await up.start();
    gw = await startWithChannels(
      [channel('tp', 'test-protocol', up.apiUrl, { api_key: SECRET, models: ['sora-2'], options: { token_url: `${up.apiUrl}/token`, store_url: up.storeUrl } })],
      { upstream: { poll: { minMs: 50, maxMs: 60_000, firstMs: 60_000 }, requestTimeoutMs: 60_000 } },
    );
  });

  afterAll(async () => {
    await gw?.close();
    await up?.close();
    delete (ADAPTERS as Record<string, AdapterDefinition<never>>)[testProtocol.type];
  });

  it('exchanges a token at the configured URL once, uploads before submitting, and is poked by its listener', async () => {
    const client = gw.openai();
    const v = await client.videos.create({ model: 'sora-2', prompt: 'bytes come inline' });
    await expectEventually(() => up.jobs.size === 1);
    const [job] = [...up.jobs.values()];
    expect(up.uploads.get(job!.upload)).toMatch(/filename="p\.txt"[\s\S]*bytes come inline/);
    // Nothing is polled (the first check is a minute away): the listener's event makes it due now.
    up.finish(job!.id);
    const done = await waitForVideo(client, v.id, 20_000);
    expect(done.status).toBe('completed');
    expect(up.tokens).toHaveLength(1);
    // The inline bytes were asked for once and kept.
    const content = Buffer.from(await (await client.videos.downloadContent(v.id)).arrayBuffer());
    expect(content.equals(fixtures.sampleMp4())).toBe(true);
    expect(up.storeAuth).toHaveLength(0);
  });

  it('mints a new token after a 401 and sends it to an object store on another origin when the adapter says so', async () => {
    up.revoked.add(up.tokens.at(-1)!);
    const client = gw.openai();
    const v = await client.videos.create({ model: 'sora-2', prompt: 'stored elsewhere' });
    await expectEventually(() => up.jobs.size === 2);
    expect(up.tokens).toHaveLength(2);
    up.finish([...up.jobs.values()].at(-1)!.id);
    expect((await waitForVideo(client, v.id, 20_000)).status).toBe('completed');
    expect(up.storeAuth).toEqual([`Bearer ${up.tokens.at(-1)}`]);
  });

  it('cancels the upstream job when the task is deleted', async () => {
    const client = gw.openai();
    const v = await client.videos.create({ model: 'sora-2', prompt: 'cancel me' });
    await expectEventually(() => [...up.jobs.values()].some((j) => up.uploads.has(j.upload) && !j.done && !j.cancelled));
    await expectEventually(async () => (await gw.app.gateway.db.get<{ stage: string }>(`SELECT stage FROM tasks WHERE id = ?`, [v.id.slice(6)]))?.stage === 'wait');
    await client.videos.delete(v.id);
    await expectEventually(() => [...up.jobs.values()].some((j) => j.cancelled));
  });
});

describe('token cache', () => {
  it('mints once for concurrent callers, renews shortly before expiry, and survives a failed renewal', async () => {
    let now = 1_000_000;
    const tokens = new ChannelTokens(() => now);
    let minted = 0;
    const mint = async () => ({ token: `t${++minted}`, expiresAtMs: now + 1_800_000 });
    const got = await Promise.all([tokens.get('k', mint), tokens.get('k', mint), tokens.get('k', mint)]);
    expect(got).toEqual(['t1', 't1', 't1']);
    now += 1_800_000 - 181_000; // 3 min before expiry: a tenth of 30 min is before that, so still fresh
    expect(await tokens.get('k', mint)).toBe('t1');
    now += 2_000; // inside the last tenth of its life: renewed
    expect(await tokens.get('k', mint)).toBe('t2');
    now += 1_800_000 - 100_000;
    expect(await tokens.get('k', () => Promise.reject(new Error('token endpoint down')))).toBe('t2');
    now += 200_000;
    await expect(tokens.get('k', () => Promise.reject(new Error('token endpoint down')))).rejects.toThrow('token endpoint down');
    tokens.invalidate();
    expect(tokens.values()).toEqual([]);
    expect(await tokens.get('k', mint)).toBe('t3');
  });
});

describe('credential fields of channels', () => {
  let dir = '';
  let gw: TestGateway;
  const admin = 'admin-token-for-credential-tests';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vidgate-creds-'));
    gw = await startWithChannels([], { adminToken: admin, models: [{ id: 'kling-v2-6', sizes: ['1280x720'], seconds: [5, 10], pricePerSecond: { '720p': 0.1, '1024p': 0.1, '1080p': 0.1 } }] });
  });
  afterAll(async () => {
    await gw?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${gw.url}/admin/v1${p}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  it('admin API: takes the fields the adapter declares, checks them together, shows only which are set', async () => {
    const base = { id: 'k1', type: 'kling', base_url: 'https://api-singapore.klingai.com', models: ['kling-v2-6'] };
    const half = await call('POST', '/channels', { ...base, access_key: 'ak-1234567890' });
    expect(half.status).toBe(400);
    expect(JSON.stringify(half.json)).toContain('together');
    const foreign = await call('POST', '/channels', { ...base, id: 'a1', type: 'ark', api_key: 'k-1234567890', secret_key: 'nope-1234567890' });
    expect(foreign.status).toBe(400);
    expect(JSON.stringify(foreign.json)).toContain("takes no 'secret_key'");
    const made = await call('POST', '/channels', { ...base, access_key: 'ak-1234567890', secret_key: 'sk-SECRET-1234567890' });
    expect(made.status).toBe(201);
    expect(made.json.credentials_set).toEqual(['access_key', 'secret_key']);
    expect(JSON.stringify(made.json)).not.toContain('sk-SECRET');
    const removed = await call('PATCH', '/channels/k1', { secret_key: null });
    expect(removed.status).toBe(400);
    const rotated = await call('PATCH', '/channels/k1', { secret_key: 'sk-ROTATED-1234567890' });
    expect(rotated.status).toBe(200);
    expect(JSON.stringify(rotated.json)).not.toContain('ROTATED');
  });

  it('config file: <name>_env and <name>_file, with clear errors', async () => {
    const keyFile = path.join(dir, 'secret.txt');
    await writeFile(keyFile, 'sk-from-a-file-1234567890\n');
    const c = { id: 'k', type: 'kling', base_url: 'https://api-singapore.klingai.com', models: ['sora-2'], access_key_env: 'KLING_AK', secret_key_file: keyFile };
    const config = loadConfig({ KLING_AK: 'ak-from-env-123456' }, { channels: [c] });
    expect(config.channels[0]).toMatchObject({ access_key: 'ak-from-env-123456', secret_key: 'sk-from-a-file-1234567890' });
    expect(() => loadConfig({}, { channels: [c] })).toThrow(/channels\.0\.access_key_env .*KLING_AK is not set/);
    expect(() => loadConfig({ KLING_AK: 'x' }, { channels: [{ ...c, secret_key_file: path.join(dir, 'missing') }] })).toThrow(/secret_key_file .*cannot read/);
    expect(() => loadConfig({ KLING_AK: 'x' }, { channels: [{ ...c, secret_key_file: undefined }] })).toThrow(/together/);
    expect(() => loadConfig({}, { channels: [{ ...c, type: 'ark', access_key_env: undefined, secret_key_file: undefined, access_key: 'x' }] })).toThrow(/takes no 'access_key'/);
  });
});

async function expectEventually(fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
