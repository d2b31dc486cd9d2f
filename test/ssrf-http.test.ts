/**
 * Reference images by URL through the public API of both dialects: apimart `image_urls[0]` and
 * OpenAI `input_reference.image_url`. The fetcher's own unit suite is test/ssrf.test.ts; this one
 * proves the wiring — every refusal is a 400 in the caller's envelope that says why without
 * internal details, nothing is created, and forbidden targets are never contacted.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import type { ImageServer } from './helpers/images.js';
import { startImageServer, testResolver } from './helpers/images.js';

let gw: TestGateway;
let images: ImageServer;
let P = 0; // image server port

beforeAll(async () => {
  images = await startImageServer();
  P = images.port;
  gw = await startGateway(
    {
      worker: { enabled: false },
      net: { allowHosts: ['images.test'], allowCidrs: [] },
      images: { fetchTimeoutMs: 1500, fetchConnectTimeoutMs: 1000 },
    },
    { resolver: testResolver() },
  );
});
afterAll(async () => {
  await gw?.close();
  await images?.close();
});

type Dialect = 'apimart' | 'openai';
const PARAM: Record<Dialect, string> = { apimart: 'image_urls[0]', openai: 'input_reference' };

async function create(dialect: Dialect, url: string) {
  const [path, body] =
    dialect === 'apimart'
      ? ['/v1/videos/generations', { prompt: 'ssrf', image_urls: [url] }]
      : ['/v1/videos', { prompt: 'ssrf', input_reference: { image_url: url } }];
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const img = (p: string) => `http://images.test:${P}${p}`;
const redirect = (to: string, status = 302) => img(`/redirect?status=${status}&to=${encodeURIComponent(to)}`);

const LOOPBACK = 'points to localhost, which is not allowed';
const PRIVATE = 'points to a private or reserved network address, which is not allowed';
const METADATA = 'points to a cloud metadata service, which is not allowed';

/** [label, url (a function: the port is known later), expected message after the param name, error code] */
const REFUSED: [string, () => string, string, string][] = [
  ['loopback 127.0.0.1', () => `http://127.0.0.1:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['localhost by name', () => `http://localhost:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['a *.localhost name', () => `http://images.localhost:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['IPv6 loopback [::1]', () => `http://[::1]:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['IPv4-mapped [::ffff:127.0.0.1]', () => `http://[::ffff:127.0.0.1]:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['IPv4-mapped hex [::ffff:7f00:1]', () => `http://[::ffff:7f00:1]:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['decimal 2130706433', () => `http://2130706433:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['octal 0177.0.0.1', () => `http://0177.0.0.1:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['hex 0x7f.0.0.1', () => `http://0x7f.0.0.1:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['hex 0x7f000001', () => `http://0x7f000001:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['short form 127.1', () => `http://127.1:${P}/portrait.png`, LOOPBACK, 'url_not_allowed'],
  ['unspecified 0.0.0.0', () => `http://0.0.0.0:${P}/portrait.png`, PRIVATE, 'url_not_allowed'],
  ['unspecified [::]', () => `http://[::]:${P}/portrait.png`, PRIVATE, 'url_not_allowed'],
  ['private 10.0.0.1', () => 'http://10.0.0.1/a.png', PRIVATE, 'url_not_allowed'],
  ['private 172.16.5.4', () => 'http://172.16.5.4/a.png', PRIVATE, 'url_not_allowed'],
  ['private 192.168.1.1', () => 'https://192.168.1.1/a.png', PRIVATE, 'url_not_allowed'],
  ['CGNAT 100.64.0.1', () => 'http://100.64.0.1/a.png', PRIVATE, 'url_not_allowed'],
  ['link-local [fe80::1]', () => 'http://[fe80::1]/a.png', PRIVATE, 'url_not_allowed'],
  ['unique-local [fc00::1]', () => 'http://[fc00::1]/a.png', PRIVATE, 'url_not_allowed'],
  ['multicast 224.0.0.1', () => 'http://224.0.0.1/a.png', PRIVATE, 'url_not_allowed'],
  ['NAT64 [64:ff9b::a00:1] (10.0.0.1)', () => 'http://[64:ff9b::a00:1]/a.png', PRIVATE, 'url_not_allowed'],
  ['metadata 169.254.169.254', () => 'http://169.254.169.254/latest/meta-data/', METADATA, 'url_not_allowed'],
  ['metadata decimal 2852039166', () => 'http://2852039166/latest/meta-data/', METADATA, 'url_not_allowed'],
  ['metadata IPv4-mapped [::ffff:a9fe:a9fe]', () => 'http://[::ffff:a9fe:a9fe]/latest/', METADATA, 'url_not_allowed'],
  ['metadata IPv6 [fd00:ec2::254]', () => 'http://[fd00:ec2::254]/latest/', METADATA, 'url_not_allowed'],
  ['metadata.google.internal', () => 'http://metadata.google.internal/computeMetadata/v1/', METADATA, 'url_not_allowed'],
  ['a name resolving to 10.0.0.1', () => 'http://internal.test/a.png', PRIVATE, 'url_not_allowed'],
  ['a name resolving to the metadata address', () => 'http://meta.test/latest/', METADATA, 'url_not_allowed'],
  ['a name with one public and one private address', () => 'http://mixed.test/a.png', PRIVATE, 'url_not_allowed'],
  ['a name resolving to ::1', () => 'http://loop6.test/a.png', LOOPBACK, 'url_not_allowed'],
  ['a name resolving to ::ffff:127.0.0.1', () => 'http://mapped.test/a.png', LOOPBACK, 'url_not_allowed'],
  ['a name resolving to CGNAT', () => 'http://cgnat.test/a.png', PRIVATE, 'url_not_allowed'],
  ['file://', () => 'file:///etc/passwd', 'must be an http or https URL', 'url_not_allowed'],
  ['ftp://', () => `ftp://images.test:${P}/portrait.png`, 'must be an http or https URL', 'url_not_allowed'],
  ['gopher://', () => 'gopher://127.0.0.1:6379/_INFO', 'must be an http or https URL', 'url_not_allowed'],
  ['credentials in the URL', () => `http://user:secret@images.test:${P}/portrait.png`, 'must not contain a user name or password', 'url_not_allowed'],
  ['an IPv6 zone id', () => 'http://[fe80::1%25eth0]/a.png', 'is not a valid URL', 'invalid_url'],
  ['redirect to 127.0.0.1', () => redirect(`http://127.0.0.1:${P}/portrait.png`), 'was redirected to localhost, which is not allowed', 'url_not_allowed'],
  ['redirect (307) to [::ffff:127.0.0.1]', () => redirect(`http://[::ffff:127.0.0.1]:${P}/portrait.png`, 307), 'was redirected to localhost', 'url_not_allowed'],
  ['redirect to the metadata address', () => redirect('http://169.254.169.254/latest/meta-data/iam/'), 'was redirected to a cloud metadata service', 'url_not_allowed'],
  ['redirect to a name resolving to 10.0.0.1', () => redirect('http://internal.test/a.png', 301), 'was redirected to a private or reserved network address', 'url_not_allowed'],
  ['redirect to decimal loopback', () => redirect(`http://2130706433:${P}/portrait.png`, 308), 'was redirected to localhost', 'url_not_allowed'],
  ['redirect to file://', () => redirect('file:///etc/passwd'), 'was redirected to a URL that is not http or https', 'url_not_allowed'],
  ['redirect to a URL with credentials', () => redirect(`http://admin:pw@images.test:${P}/portrait.png`), 'was redirected to a URL that contains a user name or password', 'url_not_allowed'],
  ['more than 3 redirects', () => img('/chain/4'), 'was redirected more than 3 times', 'url_fetch_failed'],
  ['a body over 10 MB (streamed)', () => img('/big'), 'is larger than the 10 MB limit', 'url_too_large'],
  ['a body declaring over 10 MB', () => img('/big-declared'), 'is larger than the 10 MB limit', 'url_too_large'],
  ['text served as image/png', () => img('/text'), 'is not a JPEG, PNG or WebP image', 'unsupported_image_type'],
  ['a GIF', () => img('/gif'), 'is a GIF image', 'unsupported_image_type'],
  ['a 404', () => img('/missing.png'), 'could not be downloaded: the server answered 404', 'url_fetch_failed'],
  ['an unresolvable name', () => 'http://no-such-host.invalid/a.png', 'could not be downloaded: the host name could not be resolved', 'url_fetch_failed'],
  ['a closed port on an allowed host', () => 'http://images.test:1/a.png', 'could not be downloaded: the server could not be reached', 'url_fetch_failed'],
  ['a server that never answers', () => img('/hang'), 'could not be downloaded within 1.5 seconds', 'url_timeout'],
];

/** Addresses the test DNS hands out: a message must never reveal one the caller did not write. */
const INTERNAL = ['127.0.0.1', '10.0.0.1', '169.254.169.254', '93.184.216.34', '100.64.0.1', '::1', 'ECONN', 'ENOTFOUND', 'getaddrinfo', 'internal.test'];

describe('reference image URLs refused through the API (both dialects)', () => {
  it(`covers at least 20 address forms and redirect tricks (${REFUSED.length})`, () => {
    expect(REFUSED.length).toBeGreaterThanOrEqual(20);
  });

  for (const [label, url, expected, code] of REFUSED) {
    it(label, async () => {
      const target = url();
      for (const dialect of ['apimart', 'openai'] as const) {
        images.hits.length = 0;
        const before = (await gw.app.gateway.service.store.list(gw.keyId, { limit: 100, order: 'desc' })).length;
        const { status, body } = await create(dialect, target);
        const error = body.error as { message: string; param: string; code: string; type: string };
        expect(status, `${dialect}: ${JSON.stringify(body)}`).toBe(400);
        if (dialect === 'apimart') expect(body.code).toBe(400);
        else expect(Object.keys(body)).toEqual(['error']);
        expect(error.param).toBe(PARAM[dialect]);
        expect(error.type).toBe('invalid_request_error');
        if (dialect === 'openai' && /^(file|ftp|gopher):/.test(target)) {
          // The OpenAI dialect also takes data: URLs, so it refuses other schemes itself.
          expect(error.code).toBe('invalid_url');
          expect(error.message).toBe("'input_reference' image_url must be a data: URL or an http(s) URL.");
        } else {
          expect(error.code).toBe(code);
          expect(error.message.startsWith(`${PARAM[dialect]} ${expected}`), error.message).toBe(true);
        }
        for (const secret of INTERNAL) if (!target.includes(secret)) expect(error.message).not.toContain(secret);
        // Nothing was created, and a forbidden target behind a redirect was never contacted.
        expect((await gw.app.gateway.service.store.list(gw.keyId, { limit: 100, order: 'desc' })).length).toBe(before);
        if (label.startsWith('redirect')) expect(images.hits.every((h) => h === 'GET /redirect')).toBe(true);
      }
    });
  }
});

describe('reference image URLs allowed through the API (both dialects)', () => {
  it('an allowed host (VIDGATE_ALLOW_HOSTS), up to 3 redirects, and a redirect to an allowed host are fetched', async () => {
    for (const url of [img('/portrait.png'), img('/chain/3'), redirect(img('/landscape.jpg'))]) {
      for (const dialect of ['apimart', 'openai'] as const) {
        const { status, body } = await create(dialect, url);
        expect(status, `${dialect} ${url}: ${JSON.stringify(body)}`).toBe(200);
      }
    }
  });

  it('OpenAI input_reference.image_url (JSON and multipart bracket keys): fetched, fitted to the video size and stored', async () => {
    const { body } = await create('openai', img('/landscape.jpg'));
    const id = (body as { id: string }).id.slice('video_'.length);
    const task = (await gw.app.gateway.service.store.get(id))!;
    expect(task.hasReference).toBe(true);
    expect([task.width, task.height]).toEqual([720, 1280]); // OpenAI keeps the requested size: the image is cropped to it
    const meta = await sharp((await gw.app.gateway.blobs.read(gw.app.gateway.blobs.referencePath(id)))!).metadata();
    expect([meta.width, meta.height]).toEqual([720, 1280]);

    const form = new FormData();
    form.set('prompt', 'multipart url');
    form.set('size', '1280x720');
    form.set('input_reference[image_url]', img('/portrait.png'));
    const res = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}` }, body: form });
    expect(res.status).toBe(200);
    const v = (await res.json()) as { id: string; size: string };
    expect(v.size).toBe('1280x720');
    expect((await gw.app.gateway.service.store.get(v.id.slice(6)))!.hasReference).toBe(true);

    form.set('input_reference[image_url]', `http://127.0.0.1:${P}/portrait.png`);
    const refused = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}` }, body: form });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { param: 'input_reference', message: `input_reference ${LOOPBACK}` } });
  });

  it('VIDGATE_ALLOW_CIDRS opens an internal range (here 127.0.0.1/32) for operators, but never the metadata address', async () => {
    const cidr = await startGateway(
      { worker: { enabled: false }, net: { allowHosts: [], allowCidrs: ['127.0.0.1/32', '10.0.0.0/8'] } },
      { resolver: testResolver() },
    );
    try {
      const res = await fetch(`${cidr.url}/v1/videos/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${cidr.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'internal store', image_urls: [`http://127.0.0.1:${P}/portrait.png`] }),
      });
      expect(res.status).toBe(200);
      const meta = await fetch(`${cidr.url}/v1/videos/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${cidr.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'metadata', image_urls: ['http://meta.test/latest/'] }),
      });
      expect(meta.status).toBe(400);
      expect(await meta.json()).toMatchObject({ code: 400, error: { message: `image_urls[0] ${METADATA}` } });
    } finally {
      await cidr.close();
    }
  });
});
