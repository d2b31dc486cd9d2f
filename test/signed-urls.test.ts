import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { UrlSigner, publicBase } from '../src/http/signed-urls.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import { checkContract } from './helpers/contract.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const HOUR = 3600_000;
let gw: TestGateway;
/** The gateway's clock runs `offset` ms ahead of the wall clock. */
let offset = 0;
let taskId = ''; // task_…, completed
let other = ''; // task_…, another (pending) task of the same key
let firstUrl = '';
let full: Buffer;

interface TaskData {
  id: string;
  status: string;
  result?: { videos: { url: string[]; expires_at: number }[] };
}

const auth = () => ({ authorization: `Bearer ${gw.key}` });

async function getTask(id: string, headers: Record<string, string> = {}): Promise<TaskData> {
  const res = await fetch(`${gw.url}/v1/tasks/${id}`, { headers: { ...auth(), ...headers } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: TaskData }).data;
}

const linkOf = (t: TaskData) => t.result!.videos[0]!;

async function expectDenied(url: string, code: 'invalid_signature' | 'url_expired', init: RequestInit = {}) {
  const res = await fetch(url, init);
  expect(res.status, url).toBe(403);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const body = (await res.json()) as { code: number; error: { code: string; type: string; message: string } };
  expect(body).toMatchObject({ code: 403, error: { code, type: 'permission_error' } });
  return body;
}

beforeAll(async () => {
  gw = await startGateway(
    { sandbox: { queueMs: 10, msPerVideoSecond: 20, longQueueMs: 600_000, concurrency: 1 } },
    { now: () => Date.now() + offset },
  );
  const submit = async (prompt: string) => {
    const res = await fetch(`${gw.url}/v1/videos/generations`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, duration: 4 }),
    });
    return ((await res.json()) as { data: { task_id: string }[] }).data[0]!.task_id;
  };
  taskId = await submit('a lighthouse, signed links');
  other = await submit('sandbox:long-queue another task');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const t = await getTask(taskId);
    if (t.status === 'completed') {
      firstUrl = linkOf(t).url[0]!;
      break;
    }
    if (t.status === 'failed' || Date.now() > deadline) throw new Error(`render did not complete: ${t.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const res = await fetch(firstUrl);
  full = Buffer.from(await res.arrayBuffer());
});
afterAll(async () => gw?.close());

describe('signed result links', () => {
  it('work with no Authorization header: GET, HEAD, Range, If-None-Match; the same URL on every poll', async () => {
    expect(firstUrl).toMatch(new RegExp(`^${gw.url}/v1/files/${taskId}/video\\.mp4\\?expires=\\d+&signature=[A-Za-z0-9_-]{43}$`));
    expect(full.subarray(4, 8).toString()).toBe('ftyp');
    expect(linkOf(await getTask(taskId)).url[0]).toBe(firstUrl);

    const head = await fetch(firstUrl, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(full.length);
    expect(head.headers.get('accept-ranges')).toBe('bytes');

    const part = await fetch(firstUrl, { headers: { range: 'bytes=100-299' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-299/${full.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(full.subarray(100, 300))).toBe(true);
    const tail = await fetch(firstUrl, { headers: { range: 'bytes=-64' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(full.subarray(full.length - 64))).toBe(true);

    const unsatisfiable = await fetch(firstUrl, { headers: { range: `bytes=${full.length + 10}-` } });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers.get('content-range')).toBe(`bytes */${full.length}`);
    expect(await unsatisfiable.json()).toMatchObject({ code: 416, error: { code: 'range_not_satisfiable', param: 'Range' } });

    const etag = head.headers.get('etag')!;
    expect((await fetch(firstUrl, { headers: { 'if-none-match': etag } })).status).toBe(304);
  });

  it('cannot be forged: any change to the signature or the expiry, a missing signature, or another gateway’s key is refused', async () => {
    const u = new URL(firstUrl);
    const sig = u.searchParams.get('signature')!;
    const expires = Number(u.searchParams.get('expires'));
    const withParams = (p: Record<string, string | null>) => {
      const x = new URL(firstUrl);
      for (const [k, v] of Object.entries(p)) {
        if (v === null) x.searchParams.delete(k);
        else x.searchParams.set(k, v);
      }
      return x.href;
    };
    const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
    await expectDenied(withParams({ signature: flipped }), 'invalid_signature');
    await expectDenied(withParams({ signature: sig.slice(0, 42) }), 'invalid_signature');
    await expectDenied(withParams({ signature: `${sig}A` }), 'invalid_signature');
    await expectDenied(withParams({ signature: 'x'.repeat(43) }), 'invalid_signature');
    await expectDenied(withParams({ expires: String(expires + 3600) }), 'invalid_signature'); // extending the lifetime
    await expectDenied(withParams({ expires: `${expires}.0` }), 'invalid_signature');
    // Exactly one spelling: the last base64url character carries two unused low bits, and a number
    // can be written with leading zeros; the other spellings decode to the same values but are refused.
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = B64.indexOf(sig[42]!);
    for (const low of [1, 2, 3]) {
      const alt = sig.slice(0, 42) + B64[last ^ low];
      expect(Buffer.from(alt, 'base64url').equals(Buffer.from(sig, 'base64url'))).toBe(true);
      await expectDenied(withParams({ signature: alt }), 'invalid_signature');
    }
    for (const e of [`0${expires}`, `00${expires}`, `+${expires}`, ` ${expires}`, `${expires}e0`]) await expectDenied(withParams({ expires: e }), 'invalid_signature');
    expect((await fetch(withParams({}))).status).toBe(200);
    const missing = await expectDenied(withParams({ signature: null }), 'invalid_signature');
    expect(missing.error.message).toContain('expires and signature');
    await expectDenied(withParams({ expires: null, signature: null }), 'invalid_signature');
    // Authorization does not replace the signature.
    await expectDenied(withParams({ signature: null }), 'invalid_signature', { headers: auth() });
    // Same task, same expiry, signed with another master key.
    const stranger = new UrlSigner(randomBytes(32), 72 * HOUR).link(gw.url, { id: taskId.slice(5), expiresAt: null }, 'video', Date.now() + offset);
    await expectDenied(stranger.url, 'invalid_signature');
  });

  it('cannot be reused for another task or another variant', async () => {
    const u = new URL(firstUrl);
    await expectDenied(firstUrl.replace(taskId, other), 'invalid_signature');
    for (const name of ['thumbnail.webp', 'spritesheet.jpg']) await expectDenied(firstUrl.replace('video.mp4', name), 'invalid_signature');
    // Unknown file names and ids are plain 404s.
    expect((await fetch(firstUrl.replace('video.mp4', 'video.mov'))).status).toBe(404);
    expect((await fetch(`${u.origin}/v1/files/not-a-task/video.mp4${u.search}`)).status).toBe(404);
    // video_<id> names the same task, so the link stays valid with that spelling.
    expect((await fetch(firstUrl.replace(`/${taskId}/`, `/${taskId.replace('task_', 'video_')}/`), { method: 'HEAD' })).status).toBe(200);
  });

  it('X-Forwarded-Proto / X-Forwarded-Host (behind a proxy) decide the link’s origin when VIDGATE_PUBLIC_URL is unset', async () => {
    const t = await getTask(taskId, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'videos.example.com' });
    const link = linkOf(t).url[0]!;
    expect(link.startsWith(`https://videos.example.com/v1/files/${taskId}/video.mp4?`)).toBe(true);
    // The signature does not depend on the host: the same path works here.
    expect(new URL(link).search).toBe(new URL(firstUrl).search);
    // A malformed forwarded host is ignored.
    const odd = linkOf(await getTask(taskId, { 'x-forwarded-host': 'evil.example/<script>' })).url[0]!;
    expect(odd.startsWith(gw.url)).toBe(true);
  });

  it('expire: refused after the link lifetime (72 h by default), renewed by polling while the file is kept, never beyond retention', async () => {
    const task = (await gw.app.gateway.service.store.get(taskId.slice(5)))!;
    const first = linkOf(await getTask(taskId));
    const now = Date.now() + offset;
    expect(first.expires_at * 1000 - now).toBeGreaterThanOrEqual(72 * HOUR - 60_000); // minus however long the poll took
    expect(first.expires_at * 1000 - now).toBeLessThanOrEqual(73 * HOUR);
    expect(first.expires_at * 1000).toBeLessThanOrEqual(task.expiresAt!); // retention is 168 h

    // Just after the link's expiry, the link is refused ...
    offset = first.expires_at * 1000 - Date.now() + 1500;
    const expired = await expectDenied(first.url[0]!, 'url_expired');
    expect(expired.error.message).toContain('GET /v1/tasks/{task_id}');
    // ... and a new poll hands out a fresh one, which works.
    const second = linkOf(await getTask(taskId));
    expect(second.expires_at).toBeGreaterThan(first.expires_at);
    expect(second.url[0]).not.toBe(first.url[0]);
    expect((await fetch(second.url[0]!, { method: 'HEAD' })).status).toBe(200);

    // Past the retention, the link handed out carries the retention's end and is refused;
    // once the files are swept, authenticated downloads answer 410.
    offset = task.expiresAt! - Date.now() + 5000;
    const late = linkOf(await getTask(taskId));
    expect(late.expires_at).toBe(Math.floor(task.expiresAt! / 1000));
    await expectDenied(late.url[0]!, 'url_expired');
    await expectDenied(second.url[0]!, 'url_expired');
    await gw.app.gateway.service.expireAssets();
    const gone = await fetch(`${gw.url}/v1/tasks/${taskId}/content`, { headers: auth() });
    expect(gone.status).toBe(410);
    expect(await gone.json()).toMatchObject({ code: 410, error: { code: 'content_expired', message: expect.stringContaining(`task ${taskId}`) } });
  });
});

describe('link lifetime and base URL rules', () => {
  const signer = new UrlSigner(randomBytes(32), 72 * HOUR);

  it('a link lasts the configured lifetime, rounded up to the hour, and never past the file’s retention', () => {
    const now = Date.UTC(2026, 0, 1, 10, 20, 30);
    expect(signer.expiryFor({ expiresAt: null }, now)).toBe(Date.UTC(2026, 0, 4, 11) / 1000);
    expect(signer.expiryFor({ expiresAt: now + 24 * HOUR + 1234 }, now)).toBe(Math.floor((now + 24 * HOUR + 1234) / 1000));
    // Short lifetimes round in small steps (1/24 of the lifetime, at least a second).
    const short = new UrlSigner(randomBytes(32), 60_000);
    const e = short.expiryFor({ expiresAt: null }, now);
    expect(e * 1000 - now).toBeGreaterThanOrEqual(60_000);
    expect(e * 1000 - now).toBeLessThan(65_000);
  });

  it('VIDGATE_PUBLIC_URL wins over the request (a path prefix is kept, a trailing slash dropped)', () => {
    const req = { protocol: 'http', host: '10.0.0.5:8080', headers: { host: '10.0.0.5:8080' } } as unknown as FastifyRequest;
    expect(publicBase(req, 'https://gw.example.com/vidgate/')).toBe('https://gw.example.com/vidgate');
    expect(publicBase(req, undefined)).toBe('http://10.0.0.5:8080');
    const link = signer.link(publicBase(req, 'https://gw.example.com/vidgate/'), { id: '01ARZ3NDEKTSV4RRFFQ69G5FAV', expiresAt: null }, 'thumbnail', Date.now());
    expect(link.url).toMatch(/^https:\/\/gw\.example\.com\/vidgate\/v1\/files\/task_01ARZ3NDEKTSV4RRFFQ69G5FAV\/thumbnail\.webp\?expires=\d+&signature=/);
  });

  it('configuration: VIDGATE_SIGNED_URL_TTL_HOURS and VIDGATE_PUBLIC_URL are validated with messages naming the variable', () => {
    expect(loadConfig({ VIDGATE_SIGNED_URL_TTL_HOURS: '24' }).signedUrls.ttlHours).toBe(24);
    expect(loadConfig({}).signedUrls.ttlHours).toBe(72);
    for (const bad of ['0', '-1', 'soon', '9000']) {
      expect(() => loadConfig({ VIDGATE_SIGNED_URL_TTL_HOURS: bad })).toThrow(/VIDGATE_SIGNED_URL_TTL_HOURS/);
    }
    expect(loadConfig({ VIDGATE_PUBLIC_URL: 'https://videos.example.com/base' }).publicUrl).toBe('https://videos.example.com/base');
    for (const bad of ['videos.example.com', 'ftp://videos.example.com', 'https://videos.example.com/?x=1', 'https://u:p@videos.example.com']) {
      expect(() => loadConfig({ VIDGATE_PUBLIC_URL: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ VIDGATE_PUBLIC_URL: bad }), bad).toThrow(/VIDGATE_PUBLIC_URL/);
    }
    expect(loadConfig({ VIDGATE_IMAGE_FETCH_CONNECT_TIMEOUT_MS: '1500' }).images.fetchConnectTimeoutMs).toBe(1500);
    expect(() => loadConfig({ VIDGATE_IMAGE_FETCH_CONNECT_TIMEOUT_MS: '5' })).toThrow(/VIDGATE_IMAGE_FETCH_CONNECT_TIMEOUT_MS/);
  });
});
