/**
 * Downloads of local files under load (issue 13, "content at disk speed"): many downloads on
 * kept-alive connections, some cut off by the client, leave nothing behind — no open descriptor,
 * no listener piling up on a reused connection — and reuse the same few buffers instead of
 * allocating one per read (fresh buffers per read were what made throughput fall round after
 * round: bench/RESULTS.md). Also: ranges across the reads' boundaries, and a file shorter than
 * its record cuts the download and closes its descriptor.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentStats } from '../src/http/file-body.js';
import { LocalBlobStore } from '../src/assets/local.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const openFds = () => readdirSync('/proc/self/fd').length;
const linux = process.platform === 'linux';

let gw: TestGateway;
let videoId: string;
let file: Buffer;
const serverSockets = new Set<Socket>();

/** Replace the task's stored video by `bytes` under a new key (recorded with its size and hash). */
async function storeVideo(taskId: string, bytes: Buffer, recordedBytes = bytes.length): Promise<void> {
  const store = gw.app.gateway.service.store;
  const blobs = gw.app.gateway.blobs as LocalBlobStore;
  const asset = (await store.getAsset(taskId, 'video'))!;
  const key = `${asset.path}.big-${randomBytes(3).toString('hex')}.mp4`;
  await writeFile(blobs.resolve(key), bytes);
  await store.putAsset({ ...asset, path: key, bytes: recordedBytes, sha256: sha256(bytes) });
}

beforeAll(async () => {
  gw = await startGateway();
  expect(gw.app.gateway.blobs).toBeInstanceOf(LocalBlobStore);
  gw.app.server.server.on('connection', (s: Socket) => {
    serverSockets.add(s);
    s.once('close', () => serverSockets.delete(s));
  });
  const client = gw.openai();
  const v = await client.videos.create({ prompt: 'a download under load' });
  await waitForVideo(client, v.id, 60_000);
  videoId = v.id;
  // 3 MB and not a multiple of the 64 KiB segments: twelve reads, the last one short.
  file = randomBytes(3_000_017);
  await storeVideo(v.id.slice('video_'.length), file);
}, 120_000);
afterAll(async () => gw?.close());

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** GET through `agent`; with `cut`, the client drops the connection after the first chunk. */
function get(agent: http.Agent, headers: Record<string, string> = {}, cut = false): Promise<Got | 'cut'> {
  const url = new URL(`${gw.url}/v1/videos/${videoId}/content`);
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${gw.key}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (cut) {
          req.destroy();
          resolve('cut');
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (err) => (cut ? resolve('cut') : reject(err)));
    });
    req.on('error', (err) => (cut ? resolve('cut') : reject(err)));
  });
}

/** Connections of earlier requests (the SDK's, kept alive) are not a test's own. */
let earlier = new Set<Socket>();
const ours = () => [...serverSockets].filter((s) => !earlier.has(s));
const listenersOn = (s: Socket) => s.eventNames().reduce((n, e) => n + s.listenerCount(e), 0);

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('local downloads', () => {
  it('200 downloads on 16 kept-alive connections, every fifth cut off mid-body: exact bytes, no descriptor or listener left, buffers reused', { timeout: 120_000 }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const before = segmentStats();
    earlier = new Set(serverSockets);
    // Warm up: every connection open and used once.
    const warm = await Promise.all(Array.from({ length: 16 }, () => get(agent)));
    for (const g of warm) expect(g !== 'cut' && sha256(g.body)).toBe(sha256(file));
    const fdsWarm = linux ? openFds() : 0;
    const listenersWarm = Math.max(...ours().map(listenersOn));
    expect(ours().length).toBe(16);

    let next = 0;
    let cut = 0;
    const worker = async () => {
      while (next < 200) {
        const i = next++;
        const g = await get(agent, {}, i % 5 === 4);
        if (g === 'cut') {
          cut++;
          continue;
        }
        expect(g.status).toBe(200);
        expect(g.headers['content-length']).toBe(String(file.length));
        expect(g.body.length).toBe(file.length);
        expect(g.body.equals(file)).toBe(true);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(cut).toBe(40);

    // Every connection the client cut is closed on the server too; the kept ones carry no more
    // listeners than after their first download.
    await until('the cut connections are closed on the server', () => ours().length <= 16);
    await until('every buffer is back in the pool', () => {
      const now = segmentStats();
      return now.allocated - before.allocated === now.pooled - before.pooled;
    });
    // Cut connections were replaced by new ones; none carries more listeners than one after
    // its first download.
    expect(Math.max(...ours().map(listenersOn))).toBeLessThanOrEqual(listenersWarm);

    // Descriptors: the same as after the warm-up (each live connection is one on each side).
    if (linux) expect(openFds()).toBeLessThanOrEqual(fdsWarm);

    // Buffers: a few per connection in flight, reused for the 3 MB × 200 that went out — not one
    // per read (200 downloads × 12 reads × 4 segments).
    const after = segmentStats();
    expect(after.allocated - before.allocated).toBeLessThanOrEqual(16 * 8);

    agent.destroy();
    await until('the server sees every connection closed', () => ours().length === 0);
  });

  it('ranges across read boundaries, If-Range, HEAD and 304 on a multi-read file', { timeout: 60_000 }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const mid = (await get(agent, { range: 'bytes=65530-300000' })) as Got;
    expect(mid.status).toBe(206);
    expect(mid.headers['content-range']).toBe(`bytes 65530-300000/${file.length}`);
    expect(mid.headers['content-length']).toBe(String(300000 - 65530 + 1));
    expect(mid.body.equals(file.subarray(65530, 300001))).toBe(true);

    const tail = (await get(agent, { range: 'bytes=-70000' })) as Got;
    expect(tail.status).toBe(206);
    expect(tail.body.equals(file.subarray(file.length - 70000))).toBe(true);

    const etag = mid.headers.etag!;
    expect(mid.headers['accept-ranges']).toBe('bytes');
    expect(mid.headers['content-disposition']).toBe(`inline; filename="${videoId}.mp4"`);
    expect(mid.headers['content-type']).toBe('video/mp4');
    expect(mid.headers['x-request-id']).toBeTruthy();
    const stale = (await get(agent, { range: 'bytes=0-9', 'if-range': '"other"' })) as Got;
    expect(stale.status).toBe(200);
    expect(stale.body.equals(file)).toBe(true);
    const fresh = (await get(agent, { range: 'bytes=0-9', 'if-range': etag })) as Got;
    expect(fresh.status).toBe(206);
    expect(fresh.body.equals(file.subarray(0, 10))).toBe(true);
    const notModified = (await get(agent, { 'if-none-match': etag })) as Got;
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);

    const head = await fetch(`${gw.url}/v1/videos/${videoId}/content`, { method: 'HEAD', headers: { authorization: `Bearer ${gw.key}` } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(file.length));
    agent.destroy();
  });

  it('a client gone while its file was being opened: the descriptor is closed all the same', { timeout: 60_000 }, async () => {
    const blobs = gw.app.gateway.blobs as LocalBlobStore;
    const original = blobs.openDescriptor.bind(blobs);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let asked!: () => void;
    const opening = new Promise<void>((r) => (asked = r));
    blobs.openDescriptor = async (key: string) => {
      asked();
      await gate;
      return original(key);
    };
    try {
      const fds = linux ? openFds() : 0;
      const before = ours().length;
      const req = http.get(`${gw.url}/v1/videos/${videoId}/content`, { agent: false, headers: { authorization: `Bearer ${gw.key}` } });
      req.on('error', () => undefined);
      await opening;
      req.destroy();
      await until('the server saw the client go', () => ours().length === before);
      release();
      await new Promise((r) => setTimeout(r, 100));
      if (linux) await until('the descriptor is closed', () => openFds() <= fds);
    } finally {
      blobs.openDescriptor = original;
    }
  });

  it('a file shorter than its record: the download is cut after the bytes there are, its descriptor closed', { timeout: 60_000 }, async () => {
    const taskId = videoId.slice('video_'.length);
    const short = randomBytes(200_000);
    await storeVideo(taskId, short, 1_000_000);
    const fds = linux ? openFds() : 0;
    const agent = new http.Agent({ keepAlive: false });
    const res = await new Promise<{ status: number; received: number; failed: boolean }>((resolve) => {
      let received = 0;
      const req = http.get(`${gw.url}/v1/videos/${videoId}/content`, { agent, headers: { authorization: `Bearer ${gw.key}` } }, (r) => {
        r.on('data', (c: Buffer) => (received += c.length));
        r.on('end', () => resolve({ status: r.statusCode!, received, failed: false }));
        r.on('error', () => resolve({ status: r.statusCode!, received, failed: true }));
      });
      req.on('error', () => resolve({ status: 0, received, failed: true }));
    });
    expect(res.status).toBe(200);
    expect(res.failed).toBe(true);
    expect(res.received).toBe(200_000);
    if (linux) await until('the descriptor is closed', () => openFds() <= fds);
    agent.destroy();
    await storeVideo(taskId, file);
  });
});
