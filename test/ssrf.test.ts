import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../src/core/errors.js';
import { inspectImage } from '../src/media/reference-image.js';
import { fetchBytes } from '../src/net/safe-fetch.js';
import type { FetchLimits } from '../src/net/safe-fetch.js';
import {
  BlockedAddressError,
  EMPTY_NET_POLICY,
  assertValidNetPolicy,
  checkAddress,
  checkHost,
  classifyAddress,
  findBlockedError,
  guardedAgent,
} from '../src/net/ssrf.js';
import type { NetPolicy, ResolvedAddress, Resolver } from '../src/net/ssrf.js';

const P = 'image_urls[0]';
const LIMITS: FetchLimits = { maxBytes: 64 * 1024, connectTimeoutMs: 1000, totalTimeoutMs: 3000, maxRedirects: 3 };
/** Lets the fetcher reach the local test servers by address. */
const ALLOW_LOOPBACK: NetPolicy = { allowHosts: [], allowCidrs: ['127.0.0.1/32'] };
/** Lets the fetcher reach the local test servers only through the name images.test. */
const ALLOW_NAME: NetPolicy = { allowHosts: ['images.test'], allowCidrs: [] };

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

/** Fixed answers per hostname; unknown names do not resolve. Counts calls. */
function fakeDns(table: Record<string, ResolvedAddress[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (hostname: string) => {
    calls.push(hostname);
    return table[hostname] ?? [];
  };
  return Object.assign(resolver, { calls });
}

const DNS = fakeDns({
  'images.test': [v4('127.0.0.1')],
  'internal.test': [v4('10.0.0.1')],
  'metadata-alias.test': [v4('169.254.169.254')],
  'mixed.test': [v4('93.184.216.34'), v4('10.0.0.1')],
  'mixed6.test': [v6('2606:4700:4700::1111'), v6('::1')],
  'mapped.test': [v6('::ffff:192.168.1.1')],
});

let png: Buffer;
let server: http.Server;
let second: http.Server;
let base: string;
let port: number;
let port2: number;
const serverEvents: string[] = [];

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;
  serverEvents.push(`${req.method} ${path} host=${req.headers.host}`);
  if (path === '/img') {
    res.writeHead(200, { 'content-type': 'image/png' }).end(png);
  } else if (path === '/text-as-png') {
    res.writeHead(200, { 'content-type': 'image/png' }).end('not really a picture\n');
  } else if (path === '/redirect') {
    res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '' }).end();
  } else if (path.startsWith('/chain/')) {
    const n = Number(path.slice('/chain/'.length));
    if (n === 0) res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    else res.writeHead(301, { location: `/chain/${n - 1}` }).end();
  } else if (path === '/big-declared') {
    // Declares 10 MB and sends nothing: refused from the header alone.
    res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
    res.flushHeaders();
  } else if (path === '/big-chunked') {
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => serverEvents.push('big-chunked closed'));
    pump();
  } else if (path === '/slow') {
    res.writeHead(200, { 'content-type': 'image/png' });
    const t = setInterval(() => res.write('x'), 50);
    res.on('close', () => clearInterval(t));
  } else if (path === '/hang') {
    // Accepts the request and never answers.
  } else if (path === '/post' && req.method === 'POST') {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  } else {
    res.writeHead(404).end('nope');
  }
}

const listen = async (s: http.Server): Promise<number> => {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
};

beforeAll(async () => {
  png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#336699' } }).png().toBuffer();
  server = http.createServer(handler);
  second = http.createServer(handler);
  port = await listen(server);
  port2 = await listen(second);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const s of [server, second]) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function refused(p: Promise<unknown>, code: string): Promise<ApiError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(ApiError);
  const api = err as ApiError;
  expect(api).toMatchObject({ status: 400, type: 'invalid_request_error', code, param: P });
  expect(api.message.startsWith(`${P} `)).toBe(true);
  // No internal detail reaches the client: no addresses, ports, stacks or library messages.
  expect(api.message).not.toMatch(/\b(?:127\.0\.0\.1|10\.0\.0\.1|169\.254\.169\.254|192\.168\.1\.1)\b|::1\b|ECONN|UND_ERR|\bat /);
  expect(api.message).not.toContain(String(port));
  expect(Object.keys(api)).not.toContain('cause');
  return api;
}

const fetchWith = (url: string, policy: NetPolicy = ALLOW_LOOPBACK, limits: Partial<FetchLimits> = {}, resolver: Resolver = DNS) =>
  fetchBytes(url, P, policy, { ...LIMITS, ...limits }, { resolver });

const redirectTo = (to: string, from = base) => `${from}/redirect?to=${encodeURIComponent(to)}`;

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmark'],
    ['198.19.255.255', 'benchmark'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    // inet_aton spellings, as getaddrinfo would read them
    ['2130706433', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0x7f.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    // IPv6
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
    // IPv4 embedded in IPv6
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['::8.8.8.8', 'reserved'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b:1::1', 'private'],
    ['2002:7f00:1::1', 'loopback'],
    ['2002:c0a8:101::', 'private'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'], // Teredo client 127.0.0.1 (inverted)
    ['2001:0:a00:1::', 'private'], // Teredo server 10.0.0.1
    ['not-an-ip', 'invalid'],
    ['1.2.3.4.5', 'invalid'],
  ])('%s is %s', (ip, reason) => {
    expect(classifyAddress(ip)).toBe(reason);
  });

  it.each(['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    '%s is public',
    (ip) => {
      expect(classifyAddress(ip)).toBeNull();
    },
  );
});

describe('policy', () => {
  it('allows configured ranges and hosts, but metadata only through an explicit range', () => {
    const policy: NetPolicy = { allowHosts: ['images.internal', '*.corp.example'], allowCidrs: ['10.20.0.0/16', 'fd00:1::/32'] };
    expect(checkAddress('10.20.3.4', 'x.example', policy)).toBeNull();
    expect(checkAddress('10.21.3.4', 'x.example', policy)).toBe('private');
    expect(checkAddress('::ffff:10.20.3.4', 'x.example', policy)).toBeNull(); // same destination
    expect(checkAddress('fd00:1::5', 'x.example', policy)).toBeNull();
    expect(checkAddress('192.168.1.1', 'images.internal', policy)).toBeNull();
    expect(checkAddress('192.168.1.1', 'IMAGES.INTERNAL.', policy)).toBeNull();
    expect(checkAddress('192.168.1.1', 'a.b.corp.example', policy)).toBeNull();
    expect(checkAddress('192.168.1.1', 'corp.example', policy)).toBe('private');
    expect(checkAddress('192.168.1.1', 'evilcorp.example', policy)).toBe('private');
    expect(checkAddress('169.254.169.254', 'images.internal', policy)).toBe('metadata');
    expect(checkAddress('169.254.169.254', 'x', { allowHosts: [], allowCidrs: ['169.254.0.0/16'] })).toBeNull();
    expect(checkHost('localhost', { allowHosts: ['localhost'], allowCidrs: [] })).toBeNull();
  });

  it('refuses names that always mean this machine or a metadata service before DNS', () => {
    for (const h of ['localhost', 'LOCALHOST', 'localhost.', 'api.localhost', 'a.b.localhost.', 'ip6-localhost']) {
      expect(checkHost(h, EMPTY_NET_POLICY), h).toBe('loopback');
    }
    for (const h of ['metadata', 'metadata.google.internal', 'METADATA.GOOGLE.INTERNAL.', 'instance-data']) {
      expect(checkHost(h, EMPTY_NET_POLICY), h).toBe('metadata');
    }
    expect(checkHost('example.com', EMPTY_NET_POLICY)).toBeNull();
    expect(checkHost('[::1]', EMPTY_NET_POLICY)).toBe('loopback');
  });

  it('rejects malformed allow entries at configuration time', () => {
    expect(() => assertValidNetPolicy({ allowHosts: ['*'], allowCidrs: [] })).toThrow(/allowHosts/);
    expect(() => assertValidNetPolicy({ allowHosts: ['a.*.com'], allowCidrs: [] })).toThrow(/allowHosts/);
    expect(() => assertValidNetPolicy({ allowHosts: [], allowCidrs: ['10.0.0.0'] })).toThrow(/allowCidrs/);
    expect(() => assertValidNetPolicy({ allowHosts: [], allowCidrs: ['10.0.0.0/33'] })).toThrow(/allowCidrs/);
    expect(() => assertValidNetPolicy({ allowHosts: ['*.ok.example', 'ok.example'], allowCidrs: ['::1/128'] })).not.toThrow();
  });
});

describe('fetchBytes: URL forms refused before connecting', () => {
  it.each([
    ['http://127.0.0.1/', 'localhost'],
    ['http://2130706433/', 'localhost'], // decimal
    ['http://0177.0.0.1/', 'localhost'], // octal
    ['http://0x7f.0.0.1/', 'localhost'], // hex
    ['http://0x7f000001/', 'localhost'], // single hex number
    ['http://017700000001/', 'localhost'], // single octal number
    ['http://127.1/', 'localhost'], // shortened
    ['http://127.000.000.001/', 'localhost'],
    ['http://127.0.0.1./', 'localhost'], // trailing dot
    ['http://%31%32%37.0.0.1/', 'localhost'], // percent-encoded
    ['http://１２７.０.０.１/', 'localhost'], // full-width digits
    ['http://localhost/', 'localhost'],
    ['http://localhost./', 'localhost'],
    ['http://LocalHost:8080/', 'localhost'],
    ['http://app.localhost/', 'localhost'],
    ['http://[::1]/', 'localhost'],
    ['http://[::ffff:127.0.0.1]/', 'localhost'],
    ['http://[::ffff:7f00:1]/', 'localhost'],
    ['http://[0:0:0:0:0:ffff:127.0.0.1]/', 'localhost'],
    ['http://[::127.0.0.1]/', 'localhost'], // IPv4-compatible
    ['http://[64:ff9b::7f00:1]/', 'localhost'], // NAT64
    ['http://[2002:7f00:1::]/', 'localhost'], // 6to4
    ['http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', 'localhost'], // Teredo
    ['http://0.0.0.0/', 'private or reserved'],
    ['http://0/', 'private or reserved'],
    ['http://[::]/', 'private or reserved'],
    ['http://10.0.0.1/', 'private or reserved'],
    ['http://172.16.5.4/', 'private or reserved'],
    ['http://192.168.1.1/', 'private or reserved'],
    ['http://100.64.0.1/', 'private or reserved'],
    ['http://169.254.1.1/', 'private or reserved'],
    ['http://192.0.2.1/', 'private or reserved'],
    ['http://198.18.0.1/', 'private or reserved'],
    ['http://240.0.0.1/', 'private or reserved'],
    ['http://255.255.255.255/', 'private or reserved'],
    ['http://224.0.0.1/', 'private or reserved'],
    ['http://[fe80::1]/', 'private or reserved'],
    ['http://[fc00::1]/', 'private or reserved'],
    ['http://[fec0::1]/', 'private or reserved'],
    ['http://[ff02::1]/', 'private or reserved'],
    ['http://[::ffff:a00:1]/', 'private or reserved'],
    ['http://[2002:a00:1::]/', 'private or reserved'],
    ['http://169.254.169.254/latest/meta-data/', 'cloud metadata'],
    ['http://[::ffff:169.254.169.254]/', 'cloud metadata'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'cloud metadata'],
    ['http://[fd00:ec2::254]/', 'cloud metadata'],
    ['http://100.100.100.200/', 'cloud metadata'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'cloud metadata'],
    ['http://metadata/', 'cloud metadata'],
  ])('%s', async (url, words) => {
    const dns = fakeDns({});
    const err = await refused(fetchWith(url, EMPTY_NET_POLICY, {}, dns), 'url_not_allowed');
    expect(err.message).toContain(`${P} points to`);
    expect(err.message).toContain(words);
    expect(dns.calls).toEqual([]);
  });

  it.each([
    ['file:///etc/passwd', 'url_not_allowed', /http or https/],
    ['gopher://127.0.0.1:70/_x', 'url_not_allowed', /http or https/],
    ['ftp://example.com/a.png', 'url_not_allowed', /http or https/],
    ['data:image/png;base64,AAAA', 'url_not_allowed', /http or https/],
    ['javascript:alert(1)', 'url_not_allowed', /http or https/],
    ['http://user:pass@example.com/a.png', 'url_not_allowed', /user name or password/],
    ['http://127.0.0.1:80@example.com/', 'url_not_allowed', /user name or password/],
    ['http://[fe80::1%25eth0]/', 'invalid_url', /not a valid URL/], // zone id
    ['not a url', 'invalid_url', /not a valid URL/],
    ['http://1.2.3.4.5/', 'invalid_url', /not a valid URL/],
  ])('%s', async (url, code, message) => {
    const err = await refused(fetchWith(url, ALLOW_LOOPBACK), code);
    expect(err.message).toMatch(message);
  });

  it('the allow list never relaxes the scheme or credentials rules', async () => {
    await refused(fetchWith(`gopher://127.0.0.1:${port}/`, ALLOW_LOOPBACK), 'url_not_allowed');
    await refused(fetchWith(`http://u:p@127.0.0.1:${port}/img`, ALLOW_LOOPBACK), 'url_not_allowed');
  });
});

describe('fetchBytes: resolved addresses', () => {
  it('fetches from an allowed local server and sniffs the type from the bytes', async () => {
    const r = await fetchWith(`${base}/img`);
    expect(r.bytes.equals(png)).toBe(true);
    expect(r).toMatchObject({ finalUrl: `${base}/img`, headerContentType: 'image/png', sniffedType: 'image/png' });
    const named = await fetchWith(`http://images.test:${port}/img`, ALLOW_NAME);
    expect(named.sniffedType).toBe('image/png');
    expect(serverEvents).toContain(`GET /img host=images.test:${port}`); // Host stays the name
  });

  it.each([
    ['internal.test', 'private or reserved'], // resolves to 10.0.0.1
    ['metadata-alias.test', 'cloud metadata'], // resolves to 169.254.169.254
    ['mixed.test', 'private or reserved'], // one public and one private answer
    ['mixed6.test', 'localhost'], // public IPv6 and ::1
    ['mapped.test', 'private or reserved'], // ::ffff:192.168.1.1
  ])('refuses %s at connect time', async (host, words) => {
    const err = await refused(fetchWith(`http://${host}:${port}/img`, EMPTY_NET_POLICY), 'url_not_allowed');
    expect(err.message).toContain(words);
  });

  it('an allowed host still cannot reach a metadata address', async () => {
    const policy: NetPolicy = { allowHosts: ['metadata-alias.test'], allowCidrs: [] };
    const err = await refused(fetchWith(`http://metadata-alias.test:${port}/`, policy), 'url_not_allowed');
    expect(err.message).toContain('cloud metadata');
  });

  it('resolves once per connection and connects to the checked address (DNS rebinding)', async () => {
    // First answer is allowed (it stands in for a public address), later answers are private.
    const rebinding = (): Resolver & { calls: string[] } => {
      const calls: string[] = [];
      const resolver = async (host: string) => {
        calls.push(host);
        return [v4(calls.length === 1 ? '127.0.0.1' : '10.0.0.1')];
      };
      return Object.assign(resolver, { calls });
    };
    const policy: NetPolicy = { allowHosts: [], allowCidrs: ['127.0.0.1/32'] };
    const once = rebinding();
    const ok = await fetchWith(`http://rebind.test:${port}/img`, policy, {}, once);
    expect(ok.bytes.equals(png)).toBe(true);
    expect(once.calls).toEqual(['rebind.test']); // no separate check-then-connect resolution
    // A second fetch asks again and gets the private answer: refused.
    await refused(fetchWith(`http://rebind.test:${port}/img`, policy, {}, once), 'url_not_allowed');
    // A redirect to another origin on the same name needs a new connection: its answer is checked.
    const twice = rebinding();
    const err = await refused(
      fetchWith(redirectTo(`http://rebind.test:${port2}/img`, `http://rebind.test:${port}`), policy, {}, twice),
      'url_not_allowed',
    );
    expect(err.message).toBe(`${P} was redirected to a private or reserved network address, which is not allowed`);
    expect(twice.calls).toEqual(['rebind.test', 'rebind.test']);
  });

  it('reports unresolvable names and unreachable servers without details', async () => {
    const e1 = await refused(fetchWith(`http://nowhere.test:${port}/`, ALLOW_NAME), 'url_fetch_failed');
    expect(e1.message).toMatch(/host name could not be resolved/);
    const closed = http.createServer();
    const closedPort = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const e2 = await refused(fetchWith(`http://127.0.0.1:${closedPort}/`), 'url_fetch_failed');
    expect(e2.message).toMatch(/could not be reached/);
    const e3 = await refused(fetchWith(`${base}/missing`), 'url_fetch_failed');
    expect(e3.message).toBe(`${P} could not be downloaded: the server answered 404`);
  });
});

describe('fetchBytes: redirects', () => {
  it('follows up to 3 redirects, relative ones included, and re-checks each', async () => {
    const r = await fetchWith(`${base}/chain/3`);
    expect(r.finalUrl).toBe(`${base}/chain/0`);
    expect(r.bytes.equals(png)).toBe(true);
    const e = await refused(fetchWith(`${base}/chain/4`), 'url_fetch_failed');
    expect(e.message).toBe(`${P} was redirected more than 3 times`);
    for (const status of [301, 303, 307, 308]) {
      const s = await fetchWith(`${base}/redirect?status=${status}&to=%2Fimg`);
      expect(s.finalUrl).toBe(`${base}/img`);
    }
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'cloud metadata'],
    ['//169.254.169.254/latest/meta-data/', 'cloud metadata'], // scheme-relative
    ['http:\\\\169.254.169.254\\latest', 'cloud metadata'], // backslashes
    ['http://[::ffff:169.254.169.254]/', 'cloud metadata'],
    ['http://2130706433/', 'localhost'],
    ['http://0x7f.1/', 'localhost'],
    ['http://localhost./', 'localhost'],
    ['http://10.0.0.1/', 'private or reserved'],
    ['http://internal.test/', 'private or reserved'],
    ['file:///etc/passwd', 'not http or https'],
    ['gopher://images.test:70/_SET%20x', 'not http or https'],
    ['http://user:pw@images.test/', 'user name or password'],
  ])('from an allowed server to %s', async (to, words) => {
    const err = await refused(fetchWith(redirectTo(to, `http://images.test:${port}`), ALLOW_NAME), 'url_not_allowed');
    expect(err.message).toContain(`${P} was redirected to`);
    expect(err.message).toContain(words);
  });

  it('an allowed name does not open the same server by address', async () => {
    // images.test resolves to 127.0.0.1 and is allowed; the address itself, in any spelling, is not.
    for (const to of [`http://[::ffff:127.0.0.1]:${port}/img`, `http://127.0.0.1:${port}/img`, `http://[::1]:${port}/img`]) {
      const err = await refused(fetchWith(redirectTo(to, `http://images.test:${port}`), ALLOW_NAME), 'url_not_allowed');
      expect(err.message).toBe(`${P} was redirected to localhost, which is not allowed`);
    }
  });

  it('refuses a redirect without a location', async () => {
    const err = await refused(fetchWith(`${base}/redirect`), 'url_fetch_failed');
    expect(err.message).toMatch(/answered 302 without a redirect location/);
  });
});

describe('fetchBytes: size, time and content', () => {
  it('refuses a body whose Content-Length is over the limit without reading it', async () => {
    const started = performance.now();
    const err = await refused(fetchWith(`${base}/big-declared`), 'url_too_large');
    expect(err.message).toBe(`${P} is larger than the 65536 bytes limit for downloaded files`);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('cuts a body without Content-Length as soon as it passes the limit', async () => {
    const err = await refused(fetchWith(`${base}/big-chunked`, ALLOW_LOOPBACK, { maxBytes: 100_000 }), 'url_too_large');
    expect(err.message).toMatch(/larger than the 100000 bytes limit/);
    await expect.poll(() => serverEvents.includes('big-chunked closed'), { timeout: 2000 }).toBe(true);
  });

  it('gives up on a slow body at the total timeout', async () => {
    const started = performance.now();
    const err = await refused(fetchWith(`${base}/slow`, ALLOW_LOOPBACK, { totalTimeoutMs: 300 }), 'url_timeout');
    expect(err.message).toBe(`${P} could not be downloaded within 0.3 seconds`);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('gives up on a server that accepts but never answers', async () => {
    const err = await refused(fetchWith(`${base}/hang`, ALLOW_LOOPBACK, { totalTimeoutMs: 300 }), 'url_timeout');
    expect(err.message).toMatch(/within 0.3 seconds/);
  });

  it('applies the connect timeout when connection setup never completes', async () => {
    const stuck: Resolver = () => new Promise<ResolvedAddress[]>(() => undefined);
    const started = performance.now();
    const err = await refused(
      fetchWith(`http://stuck.test:${port}/img`, ALLOW_NAME, { connectTimeoutMs: 200, totalTimeoutMs: 5000 }, stuck),
      'url_timeout',
    );
    expect(err.message).toBe(`${P} could not be downloaded: connecting to the server timed out`);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('returns the declared type only as information: text served as image/png is not an image', async () => {
    const r = await fetchWith(`${base}/text-as-png`);
    expect(r.headerContentType).toBe('image/png');
    expect(r.sniffedType).toBeNull();
    const err = await inspectImage(r.bytes, { maxBytes: 1e6, maxPixels: 1e6 }, P).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unsupported_image_type', param: P });
  });
});

// Self-signed for images.test (P-256, valid until 2126); only used to observe the TLS handshake.
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDf7FcVzQ8QKvSU/y
jUsdrjLadNCzK/Iuot4AIzNNVMehRANCAAQGj0G7fLSPZ3bujD09qJT0ysRHK2QP
gGJ7mmCAaQPjZBMDoP1aQL2kcbOcegvDMKoUzE0+MTucv0TIeLkVwCAD
-----END PRIVATE KEY-----`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUcuMVCaDM9iJSR8+PYqr7K59x+AUwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLaW1hZ2VzLnRlc3QwIBcNMjYxMTIxMTEwNTQyWhgPMjEyNjEw
MjgxMTA1NDJaMBYxFDASBgNVBAMMC2ltYWdlcy50ZXN0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEBo9Bu3y0j2d27ow9PaiU9MrERytkD4Bie5pggGkD42QTA6D9
WkC9pHGznHoLwzCqFMxNPjE7nL9EyHi5FcAgA6NrMGkwHQYDVR0OBBYEFMGYc1sE
5x5VHf7lrjweBQRH8UzbMB8GA1UdIwQYMBaAFMGYc1sE5x5VHf7lrjweBQRH8Uzb
MA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0RBA8wDYILaW1hZ2VzLnRlc3QwCgYIKoZI
zj0EAwIDSQAwRgIhALZwGSd86S2k7yJzdlUz/vCP6MNcmSi0cz/uGPEhyNjHAiEA
utXTeH8GF1GVnzbnnEtFOPwWF3rM/GibTBUODftvJHg=
-----END CERTIFICATE-----`;

describe('fetchBytes over TLS', () => {
  it('connects to the pinned address but keeps the hostname for SNI and certificate checks', async () => {
    const sni: string[] = [];
    const context = tls.createSecureContext({ key: TEST_KEY, cert: TEST_CERT });
    const secure = https.createServer(
      {
        key: TEST_KEY,
        cert: TEST_CERT,
        SNICallback: (name, cb) => {
          sni.push(name);
          cb(null, context);
        },
      },
      handler,
    );
    const securePort = await listen(secure);
    try {
      // The certificate is self-signed, so verification must fail: proof that it is checked.
      const err = await refused(fetchWith(`https://images.test:${securePort}/img`, ALLOW_NAME), 'url_fetch_failed');
      expect(err.message).toBe(`${P} could not be downloaded: the server's TLS certificate could not be verified`);
      expect(sni).toEqual(['images.test']);
    } finally {
      secure.closeAllConnections();
      await new Promise((resolve) => secure.close(resolve));
    }
  });
});

describe('guardedAgent for other requests (webhooks)', () => {
  it('checks POST requests and any later connection', async () => {
    const agent = guardedAgent(ALLOW_NAME, { connectTimeoutMs: 1000, resolver: DNS });
    try {
      const ok = await request(`http://images.test:${port}/post`, { dispatcher: agent, method: 'POST', body: '{"a":1}' });
      expect(ok.statusCode).toBe(204);
      await ok.body.dump();
      for (const url of [`http://internal.test:${port}/post`, `http://127.0.0.1:${port}/post`, 'http://[::1]/', 'http://localhost/']) {
        const err = await request(url, { dispatcher: agent, method: 'POST', body: 'x' }).catch((e: unknown) => e);
        expect(findBlockedError(err), url).toBeInstanceOf(BlockedAddressError);
      }
    } finally {
      await agent.close();
    }
  });
});
