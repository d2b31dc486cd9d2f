import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import type { SharedLink } from './link.js';
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

/**
 * What RedisSignals and PostgresSignals share: this node's id (the payload of its signals, so that
 * it ignores its own), publishing at most once per turn of the event loop however many events
 * committed in it (and only while the link is usable; a failure counts as the link's), and the
 * listeners woken by the others' signals. The backend supplies publish() and the receiving end.
 */
export abstract class StoreSignals<Link extends SharedLink> implements ClusterSignals {
  protected readonly node = randomBytes(8).toString('hex');
  private readonly listeners: Array<() => void> = [];
  private pending = false;
  protected closed = false;

  constructor(protected readonly link: Link) {}

  /** Send this node's signal (the link was usable). */
  protected abstract publish(): Promise<unknown>;

  abstract close(): Promise<void>;

  eventsCommitted(): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      if (!this.link.usable || this.closed) return;
      this.publish().catch((err: unknown) => this.link.failed(err));
    });
  }

  onRemoteEvents(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** A signal from node `from` arrived: wake the listeners unless it is this node's own. */
  protected received(from: string | undefined): void {
    if (from === this.node) return;
    this.wake();
  }

  /** Run every listener (a signal, or signals possibly lost). */
  protected wake(): void {
    for (const fn of this.listeners) fn();
  }
}

/** Through a Redis channel; publishes at most once per turn of the event loop, however many events committed in it (StoreSignals). */
export class RedisSignals extends StoreSignals<RedisLink> {
  private readonly channel: string;
  private readonly subscriber: Redis;

  constructor(link: RedisLink, log: FastifyBaseLogger) {
    super(link);
    this.channel = link.key('events');
    // A connection in subscriber mode takes no other command: a second one. It subscribes each
    // time it is (re)connected, so a Redis that comes up after the gateway works too; while it is
    // down the nodes fall back to polling.
    this.subscriber = link.client.duplicate({ commandTimeout: undefined });
    this.subscriber.on('error', () => {
      // The link logs outages of the command connection; this one follows the same server.
    });
    this.subscriber.on('message', (_channel: string, from: string) => this.received(from));
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(this.channel).catch((err: unknown) => {
        if (!this.closed) log.warn({ err: (err as Error).message }, 'cannot subscribe to cluster signals; other nodes’ events arrive by polling');
      });
    });
  }

  protected publish(): Promise<unknown> {
    return this.link.client.publish(this.channel, this.node);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriber.disconnect();
  }
}
