import type { FastifyBaseLogger } from 'fastify';
import { errorText } from '../store/open.js';

/** Where limits and breakers live, and whether that store answers (/healthz `shared_limits`, metrics). */
export interface SharedHealth {
  backend: 'memory' | 'redis' | 'postgres';
  ok: boolean;
  failing_since?: string;
  error?: string;
}

/** How often an outage checks whether the store answers again. */
const RECOVER_EVERY_MS = 1000;

/**
 * A connection to the store of state shared by every node (Redis: redis.ts, PostgreSQL:
 * postgres.ts) and its health; the backends supply only the connection, `ping()` and `disconnect()`.
 *
 * While `usable` is false the callers use their in-process limits instead, without trying the
 * store at all. The first failure of a command starts an outage (logged once), and from then on
 * `ping()` runs every second until it answers; the end of an outage is logged once too. Until the
 * first successful ping (phase `connecting`) the local limits apply as well, without a warning.
 */
export abstract class SharedLink {
  private phase: 'connecting' | 'up' | 'down' = 'connecting';
  private failingSince: number | null = Date.now();
  private lastError = 'connecting';
  private recovering: NodeJS.Timeout | undefined;
  protected closed = false;
  /** Outages seen since start (metrics). */
  outages = 0;

  constructor(
    /** 'Redis' or 'PostgreSQL', in the log lines. */
    private readonly name: string,
    private readonly backend: 'redis' | 'postgres',
    /** What the outage's first log line adds after "<name> is unreachable". */
    private readonly what: string,
    protected readonly log: FastifyBaseLogger,
  ) {}

  /**
   * Whether the store answers now: true if it does; false if this cannot be told now (the check
   * is skipped silently, the next one tries again); throws if it fails (`failed` is called).
   */
  protected abstract ping(): Promise<boolean>;

  /** Close the connection (after the recovery checks stopped). */
  protected abstract disconnect(): Promise<void> | void;

  /** Whether to use the store now (false during an outage: use the local limits). */
  get usable(): boolean {
    return this.phase === 'up';
  }

  /** A command failed or timed out: an outage starts (logged once), the local limits apply. */
  failed(err: unknown): void {
    if (this.closed) return;
    this.lastError = errorText(err).slice(0, 200);
    if (this.phase !== 'down') {
      if (this.phase === 'up') this.failingSince = Date.now();
      this.phase = 'down';
      this.outages++;
      this.log.warn({ err: this.lastError }, `${this.name} is unreachable${this.what}: limits and breakers are kept per node until it answers again`);
    }
    if (!this.recovering) {
      this.recovering = setInterval(() => void this.check(), RECOVER_EVERY_MS);
      this.recovering.unref();
    }
  }

  /** Ends the outage (or the first connection) if the store answers. */
  protected async check(): Promise<void> {
    if (this.phase === 'up' || this.closed) return;
    try {
      if (!(await this.ping())) return;
    } catch (err) {
      this.failed(err);
      return;
    }
    if (this.closed || (this.phase as string) === 'up') return; // closed meanwhile, or another check got there first
    const wasOutage = this.phase === 'down';
    this.phase = 'up';
    this.failingSince = null;
    this.lastError = '';
    if (this.recovering) clearInterval(this.recovering);
    this.recovering = undefined;
    if (wasOutage) this.log.warn(`${this.name} answers again: limits and breakers are shared by every node again`);
  }

  health(): SharedHealth {
    if (this.phase === 'up') return { backend: this.backend, ok: true };
    return { backend: this.backend, ok: false, failing_since: new Date(this.failingSince ?? Date.now()).toISOString(), error: this.lastError };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.recovering) clearInterval(this.recovering);
    await this.disconnect();
  }
}
