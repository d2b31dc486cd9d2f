import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ulid } from 'ulid';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerProcess } from './helpers/process.js';
import { cli, spawnServer } from './helpers/process.js';

/**
 * Issue 15, "a completed video always has its file": the start-up sweep of unreferenced blob
 * folders ran over a snapshot of the referenced paths, so a task that already had a folder (its
 * reference image) and completed while the sweep was going lost its new result (completed, but
 * downloads answered 410). Here the sweep is slow (100 folders/s over 1,500 orphans) and tasks
 * complete while it runs: after a restart, and while a second process starts on the same data
 * directory. Every completed task must download its video; every orphan must be gone.
 */
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('orphan sweep while tasks complete', () => {
  const servers: ServerProcess[] = [];
  let dataDir: string | undefined;
  afterAll(async () => {
    for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('never removes the result of a committed task, after a restart or from a second process', { timeout: 600_000 }, async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-sweep-'));
    const env = {
      VIDGATE_DATA_DIR: dataDir,
      VIDGATE_SANDBOX_MS_PER_SECOND: '50',
      VIDGATE_BLOB_SWEEP_PER_SECOND: '100',
      VIDGATE_RPM_LIMIT: '100000',
      LOG_LEVEL: 'info',
    };
    const { stdout } = await cli(['key', 'create', '--name', 'sweep', '--json'], env);
    const { key } = JSON.parse(stdout) as { key: string };
    const png = await sharp({ create: { width: 320, height: 180, channels: 3, background: '#22aa44' } }).png().toBuffer();
    const create = async (server: ServerProcess, prompt: string): Promise<string> => {
      const form = new FormData();
      form.set('prompt', prompt);
      form.set('size', '1280x720');
      form.set('input_reference', new Blob([png], { type: 'image/png' }), 'ref.png');
      const res = await fetch(`${server.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
      expect(res.status).toBe(200);
      return ((await res.json()) as { id: string }).id;
    };

    // Tasks with a reference image (so blobs/<task>/ exists) that are still queued when the process dies.
    const first = await spawnServer({ ...env, VIDGATE_SANDBOX_QUEUE_MS: '4000' });
    servers.push(first);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await create(first, `queued across a restart ${i}`));
    first.child.kill('SIGKILL');
    await first.exited;

    // A large blobs/: 1,500 folders of tasks that are not in the database, created two hours ago.
    const orphans = Array.from({ length: 1500 }, () => ulid(Date.now() - 2 * 3600_000));
    for (const o of orphans) {
      await mkdir(path.join(dataDir, 'blobs', o, 'aaaaaaaaaaaa'), { recursive: true });
      await writeFile(path.join(dataDir, 'blobs', o, 'aaaaaaaaaaaa', 'video.mp4'), 'stale');
    }

    // The restart: its sweep takes ~15 s; the queued tasks complete meanwhile.
    const second = await spawnServer({ ...env, VIDGATE_SANDBOX_QUEUE_MS: '300' });
    servers.push(second);
    for (let i = 0; i < 3; i++) ids.push(await create(second, `created during the sweep ${i}`));
    // A second process on the same data directory: its own slow sweep sees every folder above.
    const third = await spawnServer({ ...env, VIDGATE_SANDBOX_QUEUE_MS: '300' });
    servers.push(third);
    for (let i = 0; i < 3; i++) ids.push(await create(i % 2 ? third : second, `created while two sweeps run ${i}`));

    const deadline = Date.now() + 300_000;
    const swept = (s: ServerProcess) => s.output().includes('orphan blob sweep finished');
    for (;;) {
      const statuses = await Promise.all(
        ids.map(async (id) => ((await (await fetch(`${second.url}/v1/videos/${id}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { status: string }).status),
      );
      if (statuses.every((s) => s === 'completed') && swept(second) && swept(third)) break;
      expect(statuses.filter((s) => s === 'failed')).toEqual([]);
      if (Date.now() > deadline) throw new Error(`not done: ${statuses.join(',')}; sweeps finished: ${swept(second)}, ${swept(third)}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    for (const id of ids) {
      const res = await fetch(`${second.url}/v1/videos/${id}/content`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status, `download of ${id}`).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBeGreaterThan(1000);
      const thumb = await fetch(`${third.url}/v1/videos/${id}/content?variant=thumbnail`, { headers: { authorization: `Bearer ${key}` } });
      expect(thumb.status).toBe(200);
      expect(sha256(body)).toMatch(/^[0-9a-f]{64}$/);
    }
    const left = (await readdir(path.join(dataDir, 'blobs'))).filter((d) => orphans.includes(d));
    expect(left).toEqual([]);
    // Each task keeps exactly its reference and its one result folder.
    for (const id of ids) {
      const entries = await readdir(path.join(dataDir, 'blobs', id.slice('video_'.length)), { withFileTypes: true });
      expect(entries.filter((e) => e.isDirectory()).length).toBe(1);
      expect(existsSync(path.join(dataDir, 'blobs', id.slice('video_'.length), 'reference.png'))).toBe(true);
    }
  });
});
