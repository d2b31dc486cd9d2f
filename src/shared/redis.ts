import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';

export interface RedisLinkOptions {
  url: string;
  prefix: string;
  /** A command slower than this counts as a failure (and starts an outage). */
  timeoutMs: number;
}

/** Where limits and breakers live, and whether that store answers (/healthz `shared_limits`, metrics). */
export interface SharedHealth {
  backend: 'memory' | 'redis' | 'postgres';
  ok: boolean;
  failing_since?: string;
  error?: string;
}

/** Lua scripts by name; defined on the connection once, run with EVALSHA. */
export type Scripts = Record<string, { keys: number; lua: string }>;

/** How often an outage checks whether Redis answers again. */
const RECOVER_EVERY_MS = 1000;

/**
 * The gateway's connection to Redis for state shared by every node, and its health.
 *
 * Nothing waits for Redis for long: commands time out after `timeoutMs`, nothing is queued
 * while the connection is down, and the client reconnects by itself (at most a second apart).
 * While `usable` is false the callers use their in-process limits instead, without trying
 * Redis at all; an outage is logged once when it starts and once when it ends.
 */
export class RedisLink {
  readonly client: Redis;
  private phase: 'connecting' | 'up' | 'down' = 'connecting';
  private failingSince: number | null = Date.now();
  private lastError = 'connecting';
  private recovering: NodeJS.Timeout | undefined;
  private closed = false;
  /** Outages seen since start (metrics). */
  outages = 0;

  constructor(
    readonly opts: RedisLinkOptions,
    private readonly log: FastifyBaseLogger,
    scripts: Scripts,
  ) {
    this.client = new Redis(opts.url, {
      commandTimeout: opts.timeoutMs,
      connectTimeout: Math.max(1000, opts.timeoutMs),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, RECOVER_EVERY_MS),
      // The gateway starts serving whether or not Redis answers.
      lazyConnect: false,
    });
    for (const [name, s] of Object.entries(scripts)) this.client.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
    this.client.on('error', (err: Error) => this.failed(err));
    this.client.on('close', () => {
      if (!this.closed) this.failed(new Error('connection closed'));
    });
    // Until the first connection is up, the local limits apply.
    this.client.on('ready', () => void this.check());
  }

  /** Whether to use Redis now (false during an outage: use the local limits). */
  get usable(): boolean {
    return this.phase === 'up';
  }

  key(...parts: string[]): string {
    return this.opts.prefix + parts.join(':');
  }

  /** Run a script defined at construction. */
  run(name: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    const fn = (this.client as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[name]!;
    return fn.call(this.client, ...keys, ...args);
  }

  /** A command failed or timed out: an outage starts (logged once), the local limits apply. */
  failed(err: Error): void {
    if (this.closed) return;
    this.lastError = err.message.slice(0, 200);
    if (this.phase !== 'down') {
      if (this.phase === 'up') this.failingSince = Date.now();
      this.phase = 'down';
      this.outages++;
      this.log.warn({ err: this.lastError }, 'Redis is unreachable: limits and breakers are kept per node until it answers again');
    }
    if (!this.recovering) {
      this.recovering = setInterval(() => void this.check(), RECOVER_EVERY_MS);
      this.recovering.unref();
    }
  }

  private async check(): Promise<void> {
    if (this.phase === 'up' || this.closed || this.client.status !== 'ready') return;
    try {
      await this.client.ping();
    } catch {
      return;
    }
    if ((this.phase as string) === 'up') return; // another check got there first
    const wasOutage = this.phase === 'down';
    this.phase = 'up';
    this.failingSince = null;
    this.lastError = '';
    if (this.recovering) clearInterval(this.recovering);
    this.recovering = undefined;
    if (wasOutage) this.log.warn('Redis answers again: limits and breakers are shared by every node again');
  }

  health(): SharedHealth {
    if (this.phase === 'up') return { backend: 'redis', ok: true };
    return { backend: 'redis', ok: false, failing_since: new Date(this.failingSince ?? Date.now()).toISOString(), error: this.lastError };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.recovering) clearInterval(this.recovering);
    this.client.disconnect();
  }
}
