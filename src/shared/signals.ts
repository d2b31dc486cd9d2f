import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import type { RedisLink } from './redis.js';

/**
 * "Something happened here" between nodes, so that the others look now instead of at their
 * next poll: a task event committed on one node reaches Server-Sent Event streams on every node
 * at once. In memory (one node, or several on SQLite without Redis) there is no one to tell and
 * the others keep polling (`VIDGATE_SSE_POLL_MS`); with `VIDGATE_REDIS_URL`, a Redis channel;
 * else on PostgreSQL, LISTEN/NOTIFY (pg-signals.ts).
 * A signal carries no data: the database stays the source of truth, a lost signal only means
 * the poll picks the event up, as before.
 */
export interface ClusterSignals {
  /** This node committed task events. */
  eventsCommitted(): void;
  /** Run `fn` when another node committed task events. */
  onRemoteEvents(fn: () => void): void;
  close(): Promise<void>;
}

export const localSignals: ClusterSignals = {
  eventsCommitted: () => {},
  onRemoteEvents: () => {},
  close: async () => {},
};

/** Publishes at most once per turn of the event loop, however many events committed in it. */
export class RedisSignals implements ClusterSignals {
  private readonly node = randomBytes(8).toString('hex');
  private readonly channel: string;
  private readonly subscriber: Redis;
  private readonly listeners: Array<() => void> = [];
  private pending = false;
  private closed = false;

  constructor(
    private readonly link: RedisLink,
    log: FastifyBaseLogger,
  ) {
    this.channel = link.key('events');
    // A connection in subscriber mode takes no other command: a second one. It subscribes each
    // time it is (re)connected, so a Redis that comes up after the gateway works too; while it is
    // down the nodes fall back to polling.
    this.subscriber = link.client.duplicate({ commandTimeout: undefined });
    this.subscriber.on('error', () => {
      // The link logs outages of the command connection; this one follows the same server.
    });
    this.subscriber.on('message', (_channel: string, from: string) => {
      if (from === this.node) return;
      for (const fn of this.listeners) fn();
    });
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(this.channel).catch((err: unknown) => {
        if (!this.closed) log.warn({ err: (err as Error).message }, 'cannot subscribe to cluster signals; other nodes’ events arrive by polling');
      });
    });
  }

  eventsCommitted(): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      if (!this.link.usable || this.closed) return;
      this.link.client.publish(this.channel, this.node).catch((err: unknown) => this.link.failed(err));
    });
  }

  onRemoteEvents(fn: () => void): void {
    this.listeners.push(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriber.disconnect();
  }
}
