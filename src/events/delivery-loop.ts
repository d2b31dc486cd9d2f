import type { FastifyBaseLogger } from 'fastify';
import type { Agent } from 'undici';
import type { Config } from '../config.js';
import { guardedAgent } from '../net/ssrf.js';
import type { NetPolicy } from '../net/ssrf.js';
import type { Database } from '../store/sql.js';
import type { Metrics } from '../ops/metrics.js';
import { LeaseLoop } from '../util/lease-loop.js';
import { postWebhook } from './send.js';
import type { SendResult } from './send.js';
import { webhookHeaders } from './signing.js';
import type { Delivery, DeliveryStatus } from './store.js';
import { CALLBACK_TARGET } from './store.js';
import type { WebhookService } from './webhooks.js';

export type WebhookConfig = Config['webhooks'];

/** How often deliveries written by other processes are looked for (local events wake the loop at once). */
const POLL_MS = 1000;
const SWEEP_MS = 3600_000;

/** Delay before attempt n+1 after n failed attempts: exponential, capped, ±20 % jitter. */
export function backoffMs(failedAttempts: number, cfg: Pick<WebhookConfig, 'retryBaseMs' | 'retryMultiplier' | 'retryMaxDelayMs'>, random = Math.random): number {
  const raw = Math.min(cfg.retryMaxDelayMs, cfg.retryBaseMs * cfg.retryMultiplier ** Math.max(0, failedAttempts - 1));
  return Math.max(1, Math.round(raw * (0.8 + 0.4 * random())));
}

/**
 * Sends the outbox. Deliveries are claimed with a lease (several processes may share the
 * database; a crashed process's leases expire, or are dropped at once when it ran on this host),
 * POSTed through the SSRF-guarded agent without following redirects, and each attempt is
 * recorded. Failures are retried with exponential backoff until the delivery's give-up time.
 *
 * Fairness: at most `perTargetConcurrency` attempts per endpoint (or callback origin) at once in
 * this process, so a slow or dead receiver holds only its own slots; its deliveries wait in
 * backoff and never block other targets. Per (video, target), deliveries go out in event order:
 * a later event waits until the earlier one is delivered or given up.
 */
export class DeliveryLoop extends LeaseLoop<Delivery> {
  private readonly agent: Agent;
  private readonly leaseMs: number;
  private readonly perTarget = new Map<string, number>();
  private lastSweep = 0;

  constructor(
    private readonly db: Database,
    private readonly webhooks: WebhookService,
    private readonly cfg: WebhookConfig,
    private readonly policy: NetPolicy,
    log: () => FastifyBaseLogger,
    private readonly metrics?: Metrics,
    private readonly random: () => number = Math.random,
  ) {
    super('webhook deliveries', { concurrency: cfg.concurrency, idleMs: POLL_MS }, log);
    this.agent = guardedAgent(policy, {
      connectTimeoutMs: Math.min(cfg.timeoutMs, 10_000),
      agentOptions: { keepAliveTimeout: 4000, keepAliveMaxTimeout: 30_000 },
    });
    this.leaseMs = cfg.timeoutMs * 2 + 10_000;
  }

  get store() {
    return this.webhooks.store;
  }

  protected get rows() {
    return this.webhooks.store;
  }

  /** The SSRF-guarded agent deliveries go through (also used for test events). */
  get dispatcher(): Agent {
    return this.agent;
  }

  /** Stop claiming; let attempts in flight finish for up to `graceMs`, then abort them (each frees its own lease). */
  override async stop(graceMs = 5000): Promise<void> {
    await super.stop(graceMs);
    await this.agent.close().catch(() => undefined);
  }

  protected now(): number {
    return this.webhooks.now();
  }

  protected nextDueAt(): Promise<number | null> {
    return this.store.nextDueAt();
  }

  protected idOf(d: Delivery): string {
    return d.id;
  }

  protected override async tick(now: number): Promise<void> {
    if (now - this.lastSweep >= SWEEP_MS) await this.sweep(now);
  }

  protected async work(d: Delivery, abort: AbortController): Promise<void> {
    const key = targetKey(d);
    this.perTarget.set(key, (this.perTarget.get(key) ?? 0) + 1);
    try {
      // On a crash the lease is kept: the delivery is tried again when it expires, not in a hot loop.
      await this.attempt(d, abort.signal);
    } finally {
      const n = (this.perTarget.get(key) ?? 1) - 1;
      if (n <= 0) this.perTarget.delete(key);
      else this.perTarget.set(key, n);
    }
  }

  /**
   * Lease due deliveries, respecting the per-target limit. Candidates are read first (a cheap
   * read: no write transaction while nothing is due); each lease is a compare-and-set, so two
   * processes never both take one.
   */
  protected async claim(now: number, free: number): Promise<Delivery[]> {
    const due = (await this.store.due(now, Math.max(50, free * 4))).filter((d) => !this.inFlight.has(d.id));
    if (due.length === 0) return [];
    const counts = new Map(this.perTarget);
    const wanted: Delivery[] = [];
    for (const d of due) {
      if (wanted.length >= free) break;
      const key = targetKey(d);
      const n = counts.get(key) ?? 0;
      if (n >= this.cfg.perTargetConcurrency) continue;
      counts.set(key, n + 1);
      wanted.push(d);
    }
    if (wanted.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const store = this.store.in(tx);
      const leased: Delivery[] = [];
      for (const d of wanted) if (await store.lease(d, this.owner, now, now + this.leaseMs)) leased.push(d);
      return leased;
    });
  }

  private async attempt(d: Delivery, signal: AbortSignal): Promise<void> {
    const startedAt = this.webhooks.now();
    const target = await this.webhooks.targetFor(d, startedAt);
    if (target.kind === 'skip') {
      await this.store.release(d.id, this.owner);
      return;
    }
    if (target.kind === 'cancel') {
      await this.store.cancel(d.id, this.owner, target.reason, startedAt);
      return;
    }
    const headers = webhookHeaders(target.secrets, d.id, Math.floor(startedAt / 1000), d.payload);
    const result = await postWebhook(target.url, d.payload, headers, { agent: this.agent, policy: this.policy, timeoutMs: this.cfg.timeoutMs, signal });
    if (signal.aborted && !result.ok) {
      // Shutting down: this attempt does not count; another process (or the next start) sends it.
      await this.store.release(d.id, this.owner);
      return;
    }
    const now = this.webhooks.now();
    const outcome = this.outcome(d, result, now);
    const recorded = await this.db.transaction((tx) =>
      this.store.in(tx).finish(d, this.owner, outcome, {
        url: target.url,
        startedAt,
        durationMs: result.durationMs,
        statusCode: result.statusCode,
        error: result.error,
        responseBody: result.responseBody,
      }),
    );
    if (recorded) {
      const kind = outcome.status === 'delivered' ? 'delivered' : outcome.status === 'pending' ? 'retry' : 'given_up';
      this.metrics?.webhookAttempt(d.target === CALLBACK_TARGET ? 'callback' : 'endpoint', kind, result.durationMs, kind === 'delivered' ? now - d.createdAt : undefined);
    }
    if (!recorded) this.log().warn({ delivery: d.id }, 'webhook delivery lease was lost before its attempt was recorded');
    else if (outcome.status === 'failed') this.log().warn({ delivery: d.id, url: target.url, error: result.error }, 'webhook delivery given up');
  }

  private outcome(d: Delivery, r: SendResult, now: number): { status: DeliveryStatus; next: number | null; deliveredAt: number | null; now: number } {
    if (r.ok) return { status: 'delivered', next: null, deliveredAt: now, now };
    if (r.permanent) return { status: 'failed', next: null, deliveredAt: null, now };
    let delay = backoffMs(d.attempts + 1, this.cfg, this.random);
    if (r.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(r.retryAfterMs, this.cfg.retryMaxDelayMs));
    const next = now + delay;
    if (next > d.giveUpAt) return { status: 'failed', next: null, deliveredAt: null, now };
    return { status: 'pending', next, deliveredAt: null, now };
  }

  private async sweep(now: number): Promise<void> {
    this.lastSweep = now;
    if (this.cfg.retentionDays <= 0) return;
    const before = now - this.cfg.retentionDays * 86_400_000;
    let n = 0;
    do {
      n = await this.db.transaction((tx) => this.store.in(tx).purgeFinished(before, 500));
    } while (n === 500);
  }
}

/** Concurrency is limited per endpoint, and per origin for callback URLs. */
function targetKey(d: Delivery): string {
  if (d.target !== CALLBACK_TARGET) return d.target;
  try {
    return `callback:${new URL(d.url).origin}`;
  } catch {
    return `callback:${d.url}`;
  }
}
