/**
 * No 5xx from bad input: every route in Fastify's route table (not a hand list) gets a few dozen
 * malformed requests — odd path parameters, repeated and garbage query parameters, bodies of the
 * wrong shape, broken JSON, broken multipart (no boundary, a boundary that does not match, a
 * truncated body, a part without a name) — and must answer each with a 4xx (or a 2xx) in the
 * documented error envelope, never a 5xx.
 */
import { request } from 'node:http';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';

const ADMIN = 'admin-token-for-the-route-fuzzer';
let gw: TestGateway;
let videoId: string;

beforeAll(async () => {
  // A rate limit high enough for thousands of requests a minute from one key.
  gw = await startGateway({ adminToken: ADMIN, limits: { rpm: 1_000_000 } });
  const v = await gw.openai().videos.create({ prompt: 'fuzz target' });
  videoId = (await waitForVideo(gw.openai(), v.id)).id;
});
afterAll(async () => gw?.close());

/** Small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}

interface Answer {
  status: number;
  body: string;
}

/** A raw HTTP request (bytes as given: no fixing of Content-Length or multipart by a client library). */
function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        // Event streams never end: the status and headers are the answer.
        if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          res.destroy();
          resolve({ status: res.statusCode ?? 0, body: '' });
          return;
        }
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.end(body);
  });
}

const WEIRD_SEGMENTS = ['x', '0', '-1', '%00', '%25', '%E2%82%AC', '..', 'video_', 'task_01', 'video_01M7YW91F1725P0R35Z4K5P5T9', 'null', '__proto__', 'a'.repeat(90), '%F0%9F%8E%A5', "'%20OR%201=1"];
const WEIRD_VALUES = ['', 'a', '-1', '0', '1e309', 'NaN', '999999999999999999999', 'true', '%00', 'x'.repeat(3000), '[object Object]', '2026-13-45', '9999-99-99', 'asc', 'desc', 'video_01M7YW91F1725P0R35Z4K5P5T9', '%ZZ', '__proto__'];
const WEIRD_JSON: unknown[] = [null, 0, -1, 1e308, 1.5, '', 'x', 'x'.repeat(5000), true, [], [1, 'a'], {}, { a: { b: { c: [] } } }, '__proto__', '2026-11-21', -1e308];

function fieldNames(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown> };
  return Object.keys(js.properties ?? {});
}

function multipartBodies(r: ReturnType<typeof rng>, fields: string[]): { type: string; body: Buffer }[] {
  const name = fields.length ? r.pick(fields) : 'prompt';
  const b = 'fuzzboundary123';
  const good = `--${b}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\nhello\r\n--${b}--\r\n`;
  return [
    { type: 'multipart/form-data', body: Buffer.from(good) }, // no boundary
    { type: `multipart/form-data; boundary=other`, body: Buffer.from(good) }, // boundary does not match
    { type: `multipart/form-data; boundary=${b}`, body: Buffer.from(good.slice(0, good.length - 12)) }, // truncated
    { type: `multipart/form-data; boundary=${b}`, body: Buffer.from(`--${b}\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--${b}--\r\n`) }, // part without a name
    { type: `multipart/form-data; boundary=${b}`, body: Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="input_reference"; filename="x.png"\r\nContent-Type: image/png\r\n\r\nnot a png\r\n--${b}--\r\n`) },
    { type: `multipart/form-data; boundary=${b}`, body: Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="${name}[__proto__][x]"\r\n\r\n1\r\n--${b}\r\nContent-Disposition: form-data; name="${name}[]"\r\n\r\n2\r\n--${b}--\r\n`) },
    { type: `multipart/form-data; boundary=${b}`, body: Buffer.from(`garbage before\r\n--${b}\r\nbroken header\r\n\r\n`) },
    { type: `multipart/form-data; boundary=${b}`, body: Buffer.alloc(0) },
  ];
}

function bodies(r: ReturnType<typeof rng>, fields: string[]): { type: string; body: Buffer }[] {
  const out: { type: string; body: Buffer }[] = [];
  const json = (v: unknown) => out.push({ type: 'application/json', body: Buffer.from(JSON.stringify(v)) });
  for (const raw of ['{', '{"a":', 'nul', '[', '"', '{"a":1}}', '\u0000', '{"prompt":"\ud800"}']) out.push({ type: 'application/json', body: Buffer.from(raw) });
  for (const v of WEIRD_JSON) json(v);
  for (let i = 0; i < 14; i++) {
    const o: Record<string, unknown> = {};
    for (const f of fields) if (r.next() < 0.6) o[f] = r.pick(WEIRD_JSON);
    if (r.next() < 0.3) o[r.pick(['__proto__', 'constructor', 'extra'])] = r.pick(WEIRD_JSON);
    json(o);
  }
  out.push(...multipartBodies(r, fields));
  out.push({ type: 'application/x-www-form-urlencoded', body: Buffer.from('a=1&a=2') });
  out.push({ type: 'text/plain', body: Buffer.from('hello') });
  out.push({ type: 'application/json; charset=utf-16', body: Buffer.from('{}') });
  return out;
}

describe('every registered route, fuzzed', () => {
  it('answers thousands of malformed requests with 4xx (or 2xx) in the error envelope, never 5xx', async () => {
    const routes = gw.app.routes.list().filter((x) => x.method !== 'HEAD' && !x.url.startsWith('/console/assets'));
    expect(routes.length).toBeGreaterThan(60);
    const r = rng(0x5eed);
    const cases: { method: string; path: string; headers: Record<string, string>; body?: Buffer }[] = [];
    for (const route of routes) {
      const auth = route.spec?.auth === 'admin' ? `Bearer ${ADMIN}` : `Bearer ${gw.key}`;
      const queryNames = fieldNames(route.spec?.query);
      const bodyNames = fieldNames(route.spec?.body);
      const pathFor = (good: boolean) =>
        route.url
          .replace(/:([A-Za-z0-9_]+)/g, () => (good && r.next() < 0.7 ? videoId : r.pick(WEIRD_SEGMENTS)))
          .replace(/\*$/, () => r.pick(WEIRD_SEGMENTS));
      const queryFor = () => {
        const names = [...queryNames, 'unknown', '__proto__'];
        const parts: string[] = [];
        const n = 1 + Math.floor(r.next() * 4);
        for (let i = 0; i < n; i++) {
          const name = r.pick(names);
          const value = r.pick(WEIRD_VALUES);
          parts.push(`${encodeURIComponent(name)}=${value.startsWith('%') ? value : encodeURIComponent(value)}`);
          if (r.next() < 0.4) parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(r.pick(WEIRD_VALUES))}`); // repeated
          if (r.next() < 0.1) parts.push(`${encodeURIComponent(name)}[x]=1`);
        }
        return `?${parts.join('&')}`;
      };
      const headers = { authorization: auth };
      // Query and path variants.
      for (let i = 0; i < 20; i++) cases.push({ method: route.method, path: pathFor(true) + queryFor(), headers });
      // Every query parameter the route reads, given twice.
      for (const q of queryNames) cases.push({ method: route.method, path: `${pathFor(true)}?${q}=a&${q}=b`, headers });
      if (route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH') {
        for (const b of bodies(r, bodyNames)) cases.push({ method: route.method, path: pathFor(true), headers: { ...headers, 'content-type': b.type }, body: b.body });
      }
    }
    expect(cases.length).toBeGreaterThan(2000);

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        const a = await send(c.method, c.path, c.headers, c.body);
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        const label = `${c.method} ${c.path.slice(0, 160)} [${c.headers['content-type'] ?? ''}] → ${a.status}`;
        if (a.status >= 500) failures.push(`${label}: ${a.body.slice(0, 300)}`);
        else if (a.status >= 400) {
          let envelope: { error?: { message?: unknown; type?: unknown } } | undefined;
          try {
            envelope = JSON.parse(a.body) as typeof envelope;
          } catch {
            envelope = undefined;
          }
          if (typeof envelope?.error?.message !== 'string' || typeof envelope.error.type !== 'string') failures.push(`${label}: not the error envelope: ${a.body.slice(0, 200)}`);
        }
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(failures).toEqual([]);
    // The requests reached the routes: not refused wholesale by the rate limit or the auth hook.
    expect(statuses.get(429) ?? 0).toBe(0);
    expect(statuses.get(401) ?? 0).toBe(0);
    console.log(`route fuzzer: ${cases.length} requests over ${routes.length} routes in ${Date.now() - started} ms`, Object.fromEntries(statuses));
  });
});

describe('bad input named in the envelope', () => {
  const LISTS = [
    '/v1/videos', '/v1/tasks', '/v1/gallery', '/v1/quote', '/v1/webhook_endpoints', '/v1/webhook_deliveries',
    '/admin/v1/tasks', '/admin/v1/usage', '/admin/v1/webhook_endpoints', '/admin/v1/webhook_deliveries',
  ];
  const QUERY: Record<string, string> = {
    '/v1/quote': 'model', '/admin/v1/usage': 'start_date', '/v1/webhook_deliveries': 'video_id', '/admin/v1/webhook_deliveries': 'video_id',
  };

  it('a repeated query parameter is a 400 naming it, on every listed route', async () => {
    for (const path of LISTS) {
      const auth = path.startsWith('/admin') ? `Bearer ${ADMIN}` : `Bearer ${gw.key}`;
      for (const param of ['after', 'limit', QUERY[path] ?? 'limit']) {
        if (path === '/v1/quote' && param !== 'model') continue;
        if (path === '/admin/v1/usage' && param !== 'start_date') continue;
        const a = await send('GET', `${path}?${param}=a&${param}=b`, { authorization: auth });
        expect(a.status, `${path} ${param}`).toBe(400);
        const e = JSON.parse(a.body) as { error: { param: string; code: string } };
        expect(e.error).toMatchObject({ param, code: 'duplicate_parameter' });
      }
    }
  });

  it('an invalid start_date or end_date is a 400 naming it, on every usage route', async () => {
    const routes = ['/v1/usage', '/dashboard/billing/usage', '/v1/dashboard/billing/usage', '/admin/v1/usage'];
    for (const path of routes) {
      const auth = path.startsWith('/admin') ? `Bearer ${ADMIN}` : `Bearer ${gw.key}`;
      for (const [param, value] of [['end_date', 'x'], ['end_date', '2026-02-30'], ['start_date', '2026-13-01'], ['start_date', '99999-01-01'], ['end_date', '']] as const) {
        const a = await send('GET', `${path}?${param}=${value}`, { authorization: auth });
        expect(a.status, `${path}?${param}=${value}`).toBe(400);
        expect((JSON.parse(a.body) as { error: { param: string } }).error.param).toBe(param);
      }
      const ok = await send('GET', `${path}?start_date=2026-01-01&end_date=2026-01-31`, { authorization: auth });
      expect(ok.status).toBe(200);
    }
  });

  it('a multipart create without a boundary, with another boundary, truncated, or with a nameless part is a 400', async () => {
    const b = 'xyz';
    const good = `--${b}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na cat\r\n--${b}--\r\n`;
    const variants: [string, string][] = [
      ['multipart/form-data', good],
      ['multipart/form-data; boundary=abc', good],
      [`multipart/form-data; boundary=${b}`, good.slice(0, 30)],
      [`multipart/form-data; boundary=${b}`, `--${b}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--${b}--\r\n`],
    ];
    for (const [type, body] of variants) {
      for (const [path, envelope] of [['/v1/videos', 'openai'], ['/v1/videos/generations', 'apimart']] as const) {
        const a = await send('POST', path, { authorization: `Bearer ${gw.key}`, 'content-type': type }, Buffer.from(body));
        expect([400, 415], `${path} ${type} ${JSON.stringify(body.slice(0, 40))}: ${a.body}`).toContain(a.status);
        const e = JSON.parse(a.body) as { code?: number; error: { message: string } };
        expect(e.error.message).toBeTruthy();
        if (envelope === 'apimart') expect(e.code).toBe(a.status);
      }
    }
  });

  it('an over-long URL is a 414 and oversized headers a 431, in the error envelope', async () => {
    const long = await send('GET', `/v1/videos/${'a'.repeat(5000)}`, { authorization: `Bearer ${gw.key}` });
    expect(long.status).toBe(414);
    expect(JSON.parse(long.body)).toMatchObject({ error: { code: 'uri_too_long', type: 'invalid_request_error' } });
    const big = await send('GET', '/v1/videos', { authorization: `Bearer ${gw.key}`, 'x-padding': 'p'.repeat(40_000) });
    expect(big.status).toBe(431);
    expect(JSON.parse(big.body)).toMatchObject({ error: { code: 'headers_too_large', type: 'invalid_request_error' } });
    const longQuery = await send('GET', `/v1/videos?after=${'a'.repeat(40_000)}`, { authorization: `Bearer ${gw.key}` });
    expect(longQuery.status).toBe(431);
    expect(JSON.parse(longQuery.body)).toMatchObject({ error: { code: 'headers_too_large' } });
  });
});
