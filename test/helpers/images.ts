/**
 * A local HTTP server of reference images (and of the tricks an attacker would serve), plus a
 * DNS table to inject into the gateway (AppOptions.resolver). Test fixture only.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import sharp from 'sharp';
import type { ResolvedAddress, Resolver } from '../../src/net/ssrf.js';
import { systemResolver } from '../../src/net/ssrf.js';

export interface ImageServer {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Paths requested so far ("GET /portrait.png"). */
  hits: string[];
  close(): Promise<void>;
}

export const solid = (w: number, h: number, format: 'png' | 'jpeg' | 'webp' = 'png') =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: 30, g: 120, b: 200 } } })[format]().toBuffer();

/**
 * Routes: /portrait.png (90x160), /landscape.jpg (160x90), /square.webp (100x100), /wide.png (500x100), /pro-portrait.png,
 * /text (text served as image/png), /gif, /notfound (404), /big (11 MB chunked, no length),
 * /big-declared (declares 11 MB), /redirect?to=URL[&status=302], /chain/N (N redirects, then an image),
 * /hang (headers never sent).
 */
export async function startImageServer(): Promise<ImageServer> {
  const images: Record<string, [Buffer, string]> = {
    '/portrait.png': [await solid(90, 160), 'image/png'],
    '/landscape.jpg': [await solid(160, 90, 'jpeg'), 'image/jpeg'],
    '/square.webp': [await solid(100, 100, 'webp'), 'image/webp'],
    '/wide.png': [await solid(500, 100), 'image/png'],
    '/reference-image.jpg': [await solid(90, 160, 'jpeg'), 'image/jpeg'],
  };
  const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
  const hits: string[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    hits.push(`${req.method} ${u.pathname}`);
    const image = images[u.pathname];
    if (image) {
      res.writeHead(200, { 'content-type': image[1], 'content-length': String(image[0].length) }).end(image[0]);
    } else if (u.pathname === '/text') {
      res.writeHead(200, { 'content-type': 'image/png' }).end('this is not a picture\n');
    } else if (u.pathname === '/gif') {
      res.writeHead(200, { 'content-type': 'image/gif' }).end(gif);
    } else if (u.pathname === '/redirect') {
      res.writeHead(Number(u.searchParams.get('status') ?? 302), { location: u.searchParams.get('to') ?? '' }).end();
    } else if (u.pathname.startsWith('/chain/')) {
      const n = Number(u.pathname.slice('/chain/'.length));
      if (n <= 0) res.writeHead(200, { 'content-type': 'image/png' }).end(images['/portrait.png']![0]);
      else res.writeHead(301, { location: `/chain/${n - 1}` }).end();
    } else if (u.pathname === '/big') {
      res.writeHead(200, { 'content-type': 'image/png' });
      const chunk = Buffer.alloc(256 * 1024, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < 11 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
    } else if (u.pathname === '/big-declared') {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(11 * 1024 * 1024) });
      res.flushHeaders();
    } else if (u.pathname === '/hang') {
      // never answers
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

/**
 * Test DNS: fixed answers for the *.test names below; other names go to the system resolver
 * (so example.com behaves as it does on this machine).
 * - images.test → 127.0.0.1 (allowed by name in the test gateways: the local image server)
 * - internal.test → 10.0.0.1, meta.test → 169.254.169.254, mixed.test → a public and a private address,
 *   loop6.test → ::1, mapped.test → ::ffff:127.0.0.1, cgnat.test → 100.64.0.1
 */
export function testResolver(): Resolver & { calls: string[] } {
  const table: Record<string, ResolvedAddress[]> = {
    'images.test': [v4('127.0.0.1')],
    'internal.test': [v4('10.0.0.1')],
    'meta.test': [v4('169.254.169.254')],
    'mixed.test': [v4('93.184.216.34'), v4('10.0.0.1')],
    'loop6.test': [v6('::1')],
    'mapped.test': [v6('::ffff:127.0.0.1')],
    'cgnat.test': [v4('100.64.0.1')],
  };
  const calls: string[] = [];
  const resolver = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    return table[hostname] ?? systemResolver(hostname);
  };
  return Object.assign(resolver, { calls });
}
