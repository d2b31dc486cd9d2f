import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../src/media/probe.js';
import { cli, spawnServer } from './helpers/process.js';
import type { ServerProcess } from './helpers/process.js';

describe('vidgate command line', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let server: ServerProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-cli-'));
    env = { VIDGATE_DATA_DIR: dataDir, VIDGATE_SANDBOX_QUEUE_MS: '20', VIDGATE_SANDBOX_MS_PER_SECOND: '50' };
    server = await spawnServer(env);
  });
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates, lists and revokes keys; a revoked key gets a 401', async () => {
    const created = JSON.parse((await cli(['key', 'create', '--name', 'alice', '--json'], env)).stdout) as { id: string; key: string };
    expect(created.id).toMatch(/^key_/);
    expect(created.key).toMatch(/^vg_live_/);
    const human = (await cli(['key', 'create', '--name', 'bob'], env)).stdout;
    expect(human).toMatch(/vg_live_\S+/);
    expect(human).toContain('only time');

    const list = JSON.parse((await cli(['key', 'list', '--json'], env)).stdout) as { id: string; name: string }[];
    expect(list.map((k) => k.name)).toEqual(expect.arrayContaining(['alice', 'bob']));
    expect(JSON.stringify(list)).not.toContain(created.key);

    const auth = { authorization: `Bearer ${created.key}` };
    expect((await fetch(`${server.url}/v1/videos`, { headers: auth })).status).toBe(200);
    await cli(['key', 'revoke', created.id], env);
    expect((await fetch(`${server.url}/v1/videos`, { headers: auth })).status).toBe(401);
    await expect(cli(['key', 'revoke', created.id], env)).rejects.toThrow();
  });

  it('generate saves a real MP4, with a reference image', async () => {
    const { key } = JSON.parse((await cli(['key', 'create', '--name', 'gen', '--json'], env)).stdout) as { key: string };
    const image = path.join(dataDir, 'ref.png');
    await writeFile(image, await sharp({ create: { width: 300, height: 200, channels: 3, background: '#336699' } }).png().toBuffer());
    const out = path.join(dataDir, 'out.mp4');
    const { stdout, stderr } = await cli(
      ['generate', 'A tiny robot waving', '--size', '1280x720', '--seconds', '4', '--image', image, '--out', out],
      { ...env, VIDGATE_URL: server.url, VIDGATE_API_KEY: key },
    );
    expect(stdout.trim()).toBe(out);
    expect(stderr).toMatch(/^video_[0-9A-Z]{26}$/m);
    expect(stderr).toContain('100%');
    const info = await probeVideo(out);
    expect(info).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
  });

  it('generate reports a failed video and exits non-zero', async () => {
    const { key } = JSON.parse((await cli(['key', 'create', '--name', 'gen2', '--json'], env)).stdout) as { key: string };
    const out = path.join(dataDir, 'never.mp4');
    const err = await cli(['generate', 'sandbox:moderation please', '--out', out], { ...env, VIDGATE_URL: server.url, VIDGATE_API_KEY: key }).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toContain('moderation_blocked');
    expect(existsSync(out)).toBe(false);
  });

  it('invalid configuration stops start-up with a message naming the variable', async () => {
    const err = await spawnServer({ ...env, VIDGATE_SANDBOX_CONCURRENCY: 'lots' }).then(() => null, (e: Error) => e);
    expect(err?.message).toContain('VIDGATE_SANDBOX_CONCURRENCY');
  });
});
