import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort } from './process.js';

/** The machine's Redis, which .ci/run starts when it is not running. */
export const SHARED_REDIS_URL = process.env.VIDGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export function redisServerBinary(): string | undefined {
  return [process.env.REDIS_SERVER_PATH, '/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((c): c is string => !!c && existsSync(c));
}

/**
 * Tests that need Redis skip with this reason when it does not answer at 127.0.0.1:6379 (or
 * cannot be started on a port of their own), except where VIDGATE_REQUIRE_REDIS=1 (set by
 * .ci/run, which starts Redis): there they fail.
 */
export async function redisMissing(): Promise<string | undefined> {
  let reason: string | undefined;
  if (!(await answers(SHARED_REDIS_URL))) reason = `Redis does not answer at ${SHARED_REDIS_URL} (start it with redis-server, or set VIDGATE_TEST_REDIS_URL)`;
  else if (!redisServerBinary()) reason = 'redis-server is not installed (apt-get install -y redis-server, or set REDIS_SERVER_PATH)';
  if (reason && process.env.VIDGATE_REQUIRE_REDIS === '1') throw new Error(`${reason}; VIDGATE_REQUIRE_REDIS=1 forbids skipping`);
  return reason;
}

/** A key prefix no other test uses. */
export function freshPrefix(): string {
  return `vidgate-test:${randomBytes(6).toString('hex')}:`;
}

/** A redis-server of the test's own on a free port, to stop and start again (the shared one stays untouched). */
export class RedisTestServer {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisTestServer> {
    const s = new RedisTestServer(await freePort());
    await s.up();
    return s;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const bin = redisServerBinary();
    if (!bin) throw new Error('redis-server is not installed');
    const child = spawn(bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!(await answers(this.url))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${out}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Freeze it (SIGSTOP): connections stay open and nothing answers, until resume(). */
  hang(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Kill it: connections are refused until up(). */
  async down(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
