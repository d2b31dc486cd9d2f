import { createHash } from 'node:crypto';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import type { Nginx } from './helpers/nginx.js';
import { exampleHandoffConfig, nginxMissing, startNginx } from './helpers/nginx.js';

/**
 * The proxy hand-off (issue 13): vidgate authorises a download and answers X-Accel-Redirect;
 * nginx, configured exactly as docs/examples/nginx-x-accel.conf says, sends the bytes. A real
 * nginx (Debian's) runs here; .ci/run installs it so that this never skips in CI.
 */
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const skip = nginxMissing();
if (skip) console.warn(`proxy-handoff.test.ts skipped: ${skip}`);

describe.skipIf(!!skip)('X-Accel-Redirect through nginx', () => {
  let gw: TestGateway;
  let nginx: Nginx;

  beforeAll(async () => {
    gw = await startGateway({ storage: { delivery: 'x-accel-redirect' } });
    await chmod(gw.dataDir, 0o755); // nginx's workers read the blobs
    const { config } = await exampleHandoffConfig(new URL(gw.url).host, path.join(gw.dataDir, 'blobs'));
    nginx = await startNginx(config);
  });
  afterAll(async () => {
    await nginx?.stop();
    await gw?.close();
  });

  it('nginx sends the file (whole, ranged, HEAD) after vidgate authorised the request; nothing without authorisation', { timeout: 300_000 }, async () => {
    const client = gw.openai();
    const v = await client.videos.create({ prompt: 'served by nginx' });
    await waitForVideo(client, v.id, 120_000);
    const asset = (await gw.app.gateway.service.store.getAsset(v.id.slice(6), 'video'))!;
    const auth = { authorization: `Bearer ${gw.key}` };

    // Directly from vidgate: an empty answer naming the file for the proxy.
    const direct = await fetch(`${gw.url}/v1/videos/${v.id}/content`, { headers: auth });
    expect(direct.headers.get('x-accel-redirect')).toBe(`/_vidgate_blobs/${asset.path}`);
    expect((await direct.arrayBuffer()).byteLength).toBe(0);

    const whole = await fetch(`${nginx.url}/v1/videos/${v.id}/content`, { headers: auth });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(whole.headers.get('content-disposition')).toBe(`inline; filename="${v.id}.mp4"`);
    expect(whole.headers.get('x-accel-redirect')).toBeNull();
    const body = Buffer.from(await whole.arrayBuffer());
    expect(body.length).toBe(asset.bytes);
    expect(sha256(body)).toBe(asset.sha256);

    const ranged = await fetch(`${nginx.url}/v1/tasks/task_${v.id.slice(6)}/content`, { headers: { ...auth, range: 'bytes=1000-1999' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 1000-1999/${asset.bytes}`);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(body.subarray(1000, 2000))).toBe(true);

    const head = await fetch(`${nginx.url}/v1/videos/${v.id}/content`, { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(asset.bytes));

    // The thumbnail and the SDK's download take the same path.
    const thumb = await fetch(`${nginx.url}/v1/videos/${v.id}/content?variant=thumbnail`, { headers: auth });
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    const viaSdk = gw.openai();
    (viaSdk as unknown as { baseURL: string }).baseURL = `${nginx.url}/v1`;
    expect(sha256(Buffer.from(await (await viaSdk.videos.downloadContent(v.id)).arrayBuffer()))).toBe(asset.sha256);

    // No key: vidgate's 401, no bytes. Another key: 404. The internal location: not reachable.
    const anon = await fetch(`${nginx.url}/v1/videos/${v.id}/content`);
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
    const other = await gw.newKey('other');
    expect((await fetch(`${nginx.url}/v1/videos/${v.id}/content`, { headers: { authorization: `Bearer ${other.secret}` } })).status).toBe(404);
    expect((await fetch(`${nginx.url}/_vidgate_blobs/${asset.path}`)).status).toBe(404);
  });

  it('signed file links hand off too', { timeout: 300_000 }, async () => {
    const client = gw.openai();
    const v = await client.videos.create({ prompt: 'a signed link through nginx' });
    await waitForVideo(client, v.id, 120_000);
    const status = (await (await fetch(`${nginx.url}/v1/tasks/task_${v.id.slice(6)}`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as {
      data: { result: { videos: { url: string[] }[] } };
    };
    const link = new URL(status.data.result.videos[0]!.url[0]!);
    expect(link.origin).toBe(nginx.url); // derived from the proxy's Host header
    const res = await fetch(link, { headers: { range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
    const asset = (await gw.app.gateway.service.store.getAsset(v.id.slice(6), 'video'))!;
    expect((await res.arrayBuffer()).byteLength).toBe(100);
    link.searchParams.set('signature', 'A'.repeat(43));
    const forged = await fetch(link);
    expect(forged.status).toBe(403);
    expect(Number(forged.headers.get('content-length') ?? 0)).toBeLessThan(asset.bytes);
  });
});

describe('X-Sendfile', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ storage: { delivery: 'x-sendfile' } });
  });
  afterAll(async () => gw?.close());

  it('names the absolute path of the file for Apache (mod_xsendfile) or lighttpd, with an empty body', { timeout: 300_000 }, async () => {
    const client = gw.openai();
    const v = await client.videos.create({ prompt: 'for apache' });
    await waitForVideo(client, v.id, 120_000);
    const asset = (await gw.app.gateway.service.store.getAsset(v.id.slice(6), 'video'))!;
    const res = await fetch(`${gw.url}/v1/videos/${v.id}/content`, { headers: { authorization: `Bearer ${gw.key}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-sendfile')).toBe(path.join(gw.dataDir, 'blobs', asset.path));
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });
});
