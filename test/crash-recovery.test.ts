import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../src/media/probe.js';
import { cli, spawnServer } from './helpers/process.js';
import type { ServerProcess } from './helpers/process.js';

/**
 * The gateway process is killed with SIGKILL while tasks are queued, in progress and rendering,
 * then restarted: every accepted task must still complete, exactly once.
 */
describe('crash safety', () => {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('SIGKILL mid-flight loses no task and completes none twice', { timeout: 600_000 }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-crash-'));
    dirs.push(dataDir);
    const env = {
      VIDGATE_DATA_DIR: dataDir,
      VIDGATE_SANDBOX_QUEUE_MS: '100',
      VIDGATE_SANDBOX_MS_PER_SECOND: '100',
      VIDGATE_SANDBOX_CONCURRENCY: '2',
    };
    const { stdout } = await cli(['key', 'create', '--name', 'crash', '--json'], env);
    const { key } = JSON.parse(stdout) as { id: string; key: string };

    let server = await spawnServer(env);
    servers.push(server);
    const ids: string[] = [];
    const create = async (prompt: string, size = '720x1280') => {
      const res = await fetch(`${server.url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt, size, seconds: '4' }),
      });
      expect(res.status).toBe(200);
      ids.push(((await res.json()) as { id: string }).id);
    };
    for (let i = 0; i < 8; i++) await create(`crash test video ${i}`, i % 2 ? '1280x720' : '720x1280');

    // First kill: some tasks queued, some in progress, renders running.
    await new Promise((r) => setTimeout(r, 700));
    server.child.kill('SIGKILL');
    await server.exited;

    server = await spawnServer(env);
    servers.push(server);
    for (let i = 8; i < 12; i++) await create(`after the first crash ${i}`);
    // Second kill, at a different moment.
    await new Promise((r) => setTimeout(r, 450));
    server.child.kill('SIGKILL');
    await server.exited;

    server = await spawnServer(env);
    servers.push(server);
    const deadline = Date.now() + 480_000;
    const final = new Map<string, { status: string }>();
    while (final.size < ids.length) {
      for (const id of ids) {
        if (final.has(id)) continue;
        const v = (await (await fetch(`${server.url}/v1/videos/${id}`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
          status: string;
        };
        if (v.status === 'completed' || v.status === 'failed') final.set(id, v);
      }
      if (Date.now() > deadline) throw new Error(`not finished: ${ids.filter((id) => !final.has(id)).join(', ')}\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect([...final.values()].every((v) => v.status === 'completed')).toBe(true);

    const db = new Database(path.join(dataDir, 'vidgate.db'), { readonly: true });
    try {
      for (const id of ids) {
        const taskId = id.slice('video_'.length);
        const completions = db.prepare(`SELECT COUNT(*) AS n FROM task_events WHERE task_id = ? AND type = 'video.completed'`).get(taskId) as { n: number };
        expect(completions.n, `completions of ${id}`).toBe(1);
        const asset = db.prepare(`SELECT path FROM task_assets WHERE task_id = ? AND variant = 'video'`).get(taskId) as { path: string };
        const info = await probeVideo(path.join(dataDir, 'blobs', asset.path));
        expect(info.codec).toBe('h264');
        expect(Math.abs(info.durationSeconds - 4)).toBeLessThan(0.1);
        // Exactly one stored result directory per task: partial renders of killed attempts are swept.
        const dirsOfTask = readdirSync(path.join(dataDir, 'blobs', taskId), { withFileTypes: true }).filter((d) => d.isDirectory());
        expect(dirsOfTask.length).toBe(1);
      }
    } finally {
      db.close();
    }

    // SIGTERM shuts down gracefully.
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
