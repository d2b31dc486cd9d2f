import pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import { errorText } from '../store/open.js';
import { pgTypes } from '../store/sql.js';
import type { PostgresLink } from './postgres.js';
import { StoreSignals } from './signals.js';

/** The NOTIFY channel of task events (one per database, so one per installation). */
export const EVENTS_CHANNEL = 'vidgate_events';

/** How long after losing its connection the listener connects again. */
const RELISTEN_MS = 1000;

/**
 * RedisSignals' counterpart (signals.ts) through PostgreSQL's LISTEN/NOTIFY: a node that commits
 * task events sends `NOTIFY vidgate_events` with its node id as the payload (at most once per turn
 * of the event loop, however many events committed in it, on the limits' pool), and every other
 * node's listener wakes its event streams; a node ignores its own notifications.
 *
 * LISTEN needs a connection of its own that stays open: one pg.Client, outside the pool. When it
 * is lost (server restart, network) the listener connects and LISTENs again a second later, for as
 * long as it takes, never crashing the process; after such a reconnection the streams are woken
 * once, since signals sent meanwhile were lost (the database stays the source of truth, the
 * streams read what they missed). Until then the nodes fall back to polling.
 */
export class PostgresSignals extends StoreSignals<PostgresLink> {
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Whether LISTEN ever succeeded (a later one follows a lost connection). */
  private listened = false;
  private up = false;
  private warned = false;

  constructor(
    link: PostgresLink,
    private readonly log: FastifyBaseLogger,
  ) {
    super(link);
    void this.listen();
  }

  /** Whether the listener is connected and listening now (tests, diagnostics). */
  get listening(): boolean {
    return this.up;
  }

  private async listen(): Promise<void> {
    this.retry = undefined;
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.link.opts.url,
      connectionTimeoutMillis: Math.max(1000, this.link.opts.timeoutMs),
      // Only LISTEN itself is a query here; a server that takes it and never answers is a lost connection.
      query_timeout: Math.max(1000, this.link.opts.timeoutMs),
      keepAlive: true,
      types: pgTypes,
      application_name: 'vidgate-signals',
    });
    this.client = client;
    let lost = false;
    const onLost = (err?: unknown) => {
      if (lost) return;
      lost = true;
      this.up = false;
      if (this.client === client) this.client = undefined;
      client.end().catch(() => {});
      if (this.closed) return;
      // While the database is down the link has said so already; warn only about a listener
      // that cannot listen while the database otherwise answers.
      if (!this.warned && err !== undefined && this.link.usable) {
        this.warned = true;
        this.log.warn({ err: errorText(err) }, 'cluster signals lost their PostgreSQL connection; other nodes’ events arrive by polling until it is back');
      }
      this.retry = setTimeout(() => void this.listen(), RELISTEN_MS);
      this.retry.unref();
    };
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel === EVENTS_CHANNEL) this.received(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      onLost(err);
      return;
    }
    if (lost || this.closed) return;
    const again = this.listened;
    this.listened = true;
    this.up = true;
    if (this.warned) {
      this.warned = false;
      this.log.warn('cluster signals listen on PostgreSQL again');
    }
    if (again) this.wake();
  }

  protected publish(): Promise<unknown> {
    return this.link.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, this.node], 'vidgate_notify');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.up = false;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => {});
  }
}
