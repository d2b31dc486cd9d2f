import { chmod, copyFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath, ffprobePath, useMediaTool } from '../src/media/ffmpeg.js';
import { SqliteDatabase } from '../src/store/sql.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import { cli, spawnServer } from './helpers/process.js';
import { fault, startOpenAIVideosFake } from './fakes/index.js';
import type { OpenAIVideosFake } from './fakes/index.js';
import { channel, createVideo, startWithChannels, waitAllTerminal } from './helpers/upstreams.js';

/**
 * Installed by root and run as another user, the bundled ffprobe may be mode 0744: not executable
 * for that user. Simulated here with copies of the binaries without any execute bit (which even
 * root cannot run).
 */
const dirs: string[] = [];
const tempDir = async (name: string) => {
  const d = await mkdtemp(path.join(tmpdir(), name));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('media tools that this user cannot execute', () => {
  it('are replaced at start-up by an executable copy (with a warning), and videos are made', async () => {
    const bin = await tempDir('vidgate-noexec-');
    const dataDir = await tempDir('vidgate-noexec-data-');
    for (const [name, from] of [['ffmpeg', ffmpegPath()], ['ffprobe', ffprobePath()]] as const) {
      await copyFile(from, path.join(bin, name));
      await chmod(path.join(bin, name), 0o644);
    }
    const env = {
      VIDGATE_DATA_DIR: dataDir,
      FFMPEG_PATH: path.join(bin, 'ffmpeg'),
      FFPROBE_PATH: path.join(bin, 'ffprobe'),
      VIDGATE_SANDBOX_QUEUE_MS: '50',
      VIDGATE_SANDBOX_MS_PER_SECOND: '50',
    };
    const { key } = JSON.parse((await cli(['key', 'create', '--name', 'noexec', '--test', '--json'], env)).stdout) as { key: string };
    const server = await spawnServer(env);
    try {
      expect(server.output()).toMatch(/ffprobe: .*ffprobe is not executable by this user; using an executable copy at/);
      expect(server.output()).toMatch(/ffmpeg: .*ffmpeg is not executable by this user; using an executable copy at/);
      for (const name of ['ffmpeg', 'ffprobe']) expect((await stat(path.join(dataDir, 'tools', name))).mode & 0o777).toBe(0o755);
      const created = await createVideo(server, key, { prompt: 'a lighthouse at dusk', seconds: '4' });
      expect(created.status).toBe(200);
      const final = await waitAllTerminal(server, key, [created.json.id as string], 120_000);
      expect(final.get(created.json.id as string)).toMatchObject({ status: 'completed' });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('that cannot be made to run stop the gateway at start-up with a message saying what to change', async () => {
    const bin = await tempDir('vidgate-badtool-');
    const dataDir = await tempDir('vidgate-badtool-data-');
    await writeFile(path.join(bin, 'ffprobe'), 'not a program\n', { mode: 0o644 });
    await expect(spawnServer({ VIDGATE_DATA_DIR: dataDir, FFPROBE_PATH: path.join(bin, 'ffprobe') })).rejects.toThrow(
      /server exited early \(2\)[\s\S]*vidgate cannot run ffprobe: .*ffprobe is not executable by this user.*does not run.*chmod 755 .*FFPROBE_PATH/,
    );
  });
});

describe('internal failures reach the caller as internal_error, with no server path and no blame on the upstream', () => {
  let fake: OpenAIVideosFake;
  let gw: TestGateway;
  let noexec: string;
  beforeAll(async () => {
    fake = await startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 200 } });
    gw = await startWithChannels([channel('oa', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })]);
    const bin = await tempDir('vidgate-broken-probe-');
    noexec = path.join(bin, 'ffprobe');
    await copyFile(ffprobePath(), noexec);
    await chmod(noexec, 0o644);
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('a probe that cannot start fails the task with internal_error (not result_invalid), and releases the hold', async () => {
    const working = ffprobePath();
    const before = await gw.app.gateway.ledger.balance(gw.keyId);
    useMediaTool('ffprobe', noexec); // the tool stops being executable while the gateway runs
    try {
      const created = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'a harbour', seconds: '4' });
      expect(created.status).toBe(200);
      const id = created.json.id as string;
      const v = (await waitAllTerminal(gw, gw.key, [id], 120_000)).get(id)!;
      expect(v.status).toBe('failed');
      expect(v.error?.code).toBe('internal_error');
      expect(v.error?.message).toMatch(/gateway.*own side.*not charged.*Try again/);
      for (const leak of [noexec, path.dirname(noexec), '/', 'EACCES', 'ffprobe', 'upstream\'s video']) expect(v.error?.message).not.toContain(leak);
      const after = await gw.app.gateway.ledger.balance(gw.keyId);
      expect(after.balanceMicros).toBe(before.balanceMicros);
      expect(after.heldMicros).toBe(before.heldMicros);
    } finally {
      useMediaTool('ffprobe', working);
    }
  });

  it('a video that really is not playable is result_invalid, and its message names no server path', async () => {
    const garbage = fake.faults.add({ route: 'content', action: fault.error(200, { body: 'this is not a video at all', contentType: 'video/mp4' }) });
    try {
      const created = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'a broken file', seconds: '4' });
      const id = created.json.id as string;
      const v = (await waitAllTerminal(gw, gw.key, [id], 120_000)).get(id)!;
      expect(v.error?.code).toBe('result_invalid');
      expect(v.error?.message).toMatch(/not a playable video/);
      expect(v.error?.message).not.toMatch(/\/tmp|vidgate-test|upstream-video\.mp4|ffprobe/);
    } finally {
      garbage.remove();
    }
  });
});

describe('a full database disk', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => gw?.close());

  it('creates answer 503 storage_unavailable with Retry-After in both dialects (never 500), and work again once there is room', async () => {
    if (!(gw.app.db instanceof SqliteDatabase)) throw new Error('this test needs the SQLite store');
    const db = gw.app.db.connection;
    const room = db.pragma('max_page_count', { simple: true }) as number;
    // SQLite's own SQLITE_FULL: the file may not grow past its current size.
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    const statuses: number[] = [];
    let full: Response | undefined;
    try {
      for (let i = 0; i < 400 && !full; i++) {
        const res = await fetch(`${gw.url}/v1/videos`, {
          method: 'POST',
          headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: `filling the disk ${i} ${'x'.repeat(3000)}` }),
        });
        statuses.push(res.status);
        if (res.status !== 200) full = res;
        else await res.arrayBuffer();
      }
      expect(full, `statuses: ${statuses.join(',')}`).toBeDefined();
      expect(full!.status).toBe(503);
      expect(full!.headers.get('retry-after')).toBe('30');
      const body = (await full!.json()) as { error: { code: string; type: string; message: string } };
      expect(body.error).toMatchObject({ code: 'storage_unavailable', type: 'server_error' });
      expect(body.error.message).not.toMatch(/SQLITE|disk I\/O|\//);
      const apimart = await fetch(`${gw.url}/v1/videos/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'sora-2', prompt: `apimart ${'y'.repeat(3000)}` }),
      });
      expect(apimart.status).toBe(503);
      expect(apimart.headers.get('retry-after')).toBe('30');
    } finally {
      db.pragma(`max_page_count = ${room}`);
    }
    const again = await fetch(`${gw.url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'room again' }),
    });
    expect(again.status).toBe(200);
  });
});
