import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import { SharedLink } from './link.js';

export interface RedisLinkOptions {
  url: string;
  prefix: string;
  /** A command slower than this counts as a failure (and starts an outage). */
  timeoutMs: number;
}

/** Lua scripts by name; defined on the connection once, run with EVALSHA. */
export type Scripts = Record<string, { keys: number; lua: string }>;

/** How often the client reconnects at most, like the outage's checks (link.ts). */
const RECONNECT_MAX_MS = 1000;

/**
 * The gateway's connection to Redis for state shared by every node, and its health.
 *
 * Nothing waits for Redis for long: commands time out after `timeoutMs`, nothing is queued
 * while the connection is down, and the client reconnects by itself (at most a second apart).
 * While `usable` is false the callers use their in-process limits instead, without trying
 * Redis at all; an outage is logged once when it starts and once when it ends (SharedLink, link.ts).
 */
export class RedisLink extends SharedLink {
  readonly client: Redis;

  constructor(
    readonly opts: RedisLinkOptions,
    log: FastifyBaseLogger,
    scripts: Scripts,
  ) {
    super('Redis', 'redis', '', log);
    this.client = new Redis(opts.url, {
      commandTimeout: opts.timeoutMs,
      connectTimeout: Math.max(1000, opts.timeoutMs),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, RECONNECT_MAX_MS),
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

  key(...parts: string[]): string {
    return this.opts.prefix + parts.join(':');
  }

  /** Run a script defined at construction. */
  run(name: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    const fn = (this.client as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[name]!;
    return fn.call(this.client, ...keys, ...args);
  }

  /** Redis answers a PING; while the client is not connected (it reconnects by itself) nothing is tried, and a failed PING is not counted (the client reports its failures). */
  protected async ping(): Promise<boolean> {
    if (this.client.status !== 'ready') return false;
    try {
      await this.client.ping();
    } catch {
      return false;
    }
    return true;
  }

  protected disconnect(): void {
    this.client.disconnect();
  }
}
