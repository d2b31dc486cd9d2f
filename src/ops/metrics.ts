import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { Task } from '../core/task.js';
import type { SharedHealth } from '../shared/index.js';

/**
 * The gateway's Prometheus metrics (docs/operations.md lists them all). One registry per app, so
 * several gateways in one process (tests) never mix their numbers.
 *
 * Label values are bounded: routes are route patterns, never URLs; models must be in the
 * catalogue; channel ids, adapter types and error codes are capped per label (anything past the
 * cap, or not shaped like an identifier, counts as `other`). Task ids, prompts and URLs are never
 * labels.
 *
 * Counters and histograms count what this process did (sum them over nodes); the gauges marked
 * "cluster" are read from the shared database at scrape time and are the same on every node
 * (take max, not sum).
 */
export interface MetricsSources {
  /** Is this model one of the catalogue's? (Unknown ones are counted as `other`.) */
  knownModel(model: string): boolean;
  /** The adapter type of a task's provider id ('sandbox' for the sandbox, else its channel's type). */
  providerType(providerId: string): string | undefined;
  /** Cluster gauges: unfinished tasks by stage, money held, webhook backlog (read from the database). */
  backlog(now: number): Promise<Backlog> | Backlog;
  /** Breaker state of each channel this process runs. */
  breakers(now: number): Array<{ channel: string; provider: string; state: 'closed' | 'open' | 'half_open' }>;
  /** Where limits and breakers live, whether that store answers, and its outages since start. */
  sharedLimits(): { backend: SharedHealth['backend']; ok: boolean; outages: number };
  /** Live SSE streams of this process. */
  sseClients(): number;
  /** Task steps running in this process. */
  workerBusy(): number;
  now(): number;
}

export interface Backlog {
  byStage: Array<{ stage: string; count: number; oldestCreatedAt: number | null }>;
  /** Earliest next_run_at of an unfinished, unleased task (null: nothing waiting). */
  oldestDueAt: number | null;
  heldMicros: number;
  webhooksPending: number;
  webhookOldestPendingAt: number | null;
  /** Per channel: tasks failed with upstream_submit_unknown (their job may exist upstream, unfollowed). */
  unresolvedSubmits: Array<{ channel: string; count: number }>;
}

const OTHER = 'other';
const IDENT = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const BACKLOG_CACHE_MS = 2000;
const STAGES = ['submit', 'wait', 'fetch'] as const;

/** Remembers at most `max` distinct values of one label; later newcomers become `other`. */
class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(
    private readonly max: number,
    private readonly shape = IDENT,
  ) {}

  of(value: string | null | undefined): string {
    if (!value) return 'none';
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max || !this.shape.test(value)) return OTHER;
    this.seen.add(value);
    return value;
  }
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const LONG_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

type TaskLabels = { model: string; provider: string; channel: string };

interface Series {
  labels: Record<string, string>;
  /** Per bucket, not cumulative; the last one is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * The request histogram, kept in plain arrays for the one observation every request makes:
 * prom-client's labelled observe hashes the label set on each call (about 1.4 µs, a twentieth of
 * a status read), and even a joined string key costs a concatenation and its hash; here it is
 * three Map lookups on strings V8 has already hashed (the method, the route pattern) and the
 * status, then a bucket search. The registry reads it like any of its own histograms at scrape
 * time (same exposition, same `sum` aggregation across workers).
 */
class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Map<string, Map<number, Series>>>();
  private size = 0;
  private overflow: Series | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    private readonly maxSeries: number,
  ) {}

  /** Observe `value` in the series (method, route, status); `labels` is called once, when the series is new. */
  observe(method: string, route: string, status: number, labels: () => Record<string, string>, value: number): void {
    let byMethod = this.series.get(route);
    if (!byMethod) this.series.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (!s) {
      s = { labels: labels(), counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      if (this.size < this.maxSeries) {
        byStatus.set(status, s);
        this.size++;
      } else s = this.overflow ??= { ...s, labels: Object.fromEntries(Object.keys(s.labels).map((k) => [k, OTHER])) };
    }
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  private *all(): Iterable<Series> {
    for (const byMethod of this.series.values()) for (const byStatus of byMethod.values()) yield* byStatus.values();
    if (this.overflow) yield this.overflow;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> }> {
    const values = [];
    for (const s of this.all()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: i < this.buckets.length ? this.buckets[i]! : '+Inf' }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series.clear();
    this.size = 0;
    this.overflow = undefined;
  }
}

export class Metrics {
  readonly registry = new Registry();
  private readonly models = new BoundedLabel(200);
  private readonly channels = new BoundedLabel(200);
  private readonly providers = new BoundedLabel(50);
  private readonly codes = new BoundedLabel(100);
  /** Route patterns are the routes' declarations (never URLs); the cap only guards against a bug. */
  private readonly routes = new BoundedLabel(500, /^\/[\x21-\x7e]{0,200}$/);
  private backlogCache: { at: number; value: Promise<Backlog> } | null = null;

  private readonly http: RequestHistogram;
  private readonly created: Counter<keyof TaskLabels>;
  private readonly finished: Counter<keyof TaskLabels | 'status' | 'error_code'>;
  private readonly taskDuration: Histogram<keyof TaskLabels | 'status'>;
  private readonly statusCalls: Histogram<'provider' | 'channel'>;
  private readonly completionDelay: Histogram<'provider' | 'channel'>;
  private readonly steps: Histogram<'stage' | 'provider'>;
  private readonly upstream: Histogram<'provider' | 'channel' | 'purpose' | 'outcome'>;
  private readonly webhookAttempts: Histogram<'target' | 'outcome'>;
  private readonly webhookLag: Histogram;
  private readonly render: Histogram;
  private readonly moneyTotal: Counter<'kind' | 'model'>;
  private readonly lookups: Counter<'channel' | 'provider' | 'outcome'>;

  constructor(private readonly src: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.http = new RequestHistogram(
      'vidgate_http_request_duration_seconds',
      'HTTP requests by method, route pattern and status, and how long they took (its _count is the number of requests).',
      LATENCY_BUCKETS,
      5000,
    );
    this.registry.registerMetric(this.http as unknown as Metric);
    this.created = new Counter({
      name: 'vidgate_tasks_created_total',
      help: 'Tasks created, by model, provider (adapter type) and channel.',
      labelNames: ['model', 'provider', 'channel'],
      registers,
    });
    this.finished = new Counter({
      name: 'vidgate_tasks_finished_total',
      help: 'Tasks that reached a final status (completed, failed, cancelled), by model, provider, channel and error code.',
      labelNames: ['model', 'provider', 'channel', 'status', 'error_code'],
      registers,
    });
    this.taskDuration = new Histogram({
      name: 'vidgate_task_duration_seconds',
      help: 'Time from creation to the final status.',
      labelNames: ['model', 'provider', 'channel', 'status'],
      buckets: LONG_BUCKETS,
      registers,
    });
    this.statusCalls = new Histogram({
      name: 'vidgate_task_status_calls',
      help: 'Upstream status calls made for each finished upstream task.',
      labelNames: ['provider', 'channel'],
      buckets: [1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20, 30, 50, 100],
      registers,
    });
    this.completionDelay = new Histogram({
      name: 'vidgate_task_completion_delay_seconds',
      help: 'From the upstream finishing a job (its own timestamp, else when a status call first saw it) to the task being completed here.',
      labelNames: ['provider', 'channel'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300],
      registers,
    });
    this.steps = new Histogram({
      name: 'vidgate_worker_step_duration_seconds',
      help: 'Worker steps (submit, wait = one status check, fetch = download or render and store) by provider (adapter type).',
      labelNames: ['stage', 'provider'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.upstream = new Histogram({
      name: 'vidgate_upstream_request_duration_seconds',
      help: 'Requests to upstream channels by channel, purpose (submit, status, probe, download) and outcome, and their latency.',
      labelNames: ['provider', 'channel', 'purpose', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.webhookAttempts = new Histogram({
      name: 'vidgate_webhook_attempt_duration_seconds',
      help: 'Webhook delivery attempts by target kind (endpoint, callback) and outcome (delivered, retry, given_up), and their duration.',
      labelNames: ['target', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.webhookLag = new Histogram({
      name: 'vidgate_webhook_delivery_lag_seconds',
      help: 'From a task event to its webhook being delivered (retries included).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 21600],
      registers,
    });
    this.render = new Histogram({
      name: 'vidgate_sandbox_render_seconds',
      help: 'Wall time of one sandbox render (video, thumbnail and spritesheet).',
      buckets: [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60],
      registers,
    });
    this.moneyTotal = new Counter({
      name: 'vidgate_money_usd_total',
      help: 'Credit held at creation (hold), charged at completion (settle) and given back (release), in USD.',
      labelNames: ['kind', 'model'],
      registers,
    });
    this.lookups = new Counter({
      name: 'vidgate_upstream_submit_lookups_total',
      help: 'Submits whose answer was lost, on channels without idempotency, looked up upstream by what was sent: adopted (found, followed and delivered) or unresolved (not found; the task failed with upstream_submit_unknown).',
      labelNames: ['channel', 'provider', 'outcome'],
      registers,
    });

    new Gauge({
      name: 'vidgate_sse_clients',
      help: 'Server-Sent Event streams open on this process.',
      registers,
      collect() {
        this.set(src.sseClients());
      },
    });
    new Gauge({
      name: 'vidgate_worker_steps_in_flight',
      help: 'Task steps running in this process.',
      registers,
      collect() {
        this.set(src.workerBusy());
      },
    });
    new Gauge({
      name: 'vidgate_channel_breaker_state',
      help: 'Circuit breaker of each channel in this process: 1 for its current state (closed, open, half_open), 0 for the others.',
      labelNames: ['channel', 'provider', 'state'],
      registers,
      collect() {
        this.reset();
        for (const b of src.breakers(src.now())) {
          for (const state of ['closed', 'open', 'half_open'] as const) this.set({ channel: b.channel, provider: b.provider, state }, b.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'vidgate_shared_limits_up',
      help: 'Where limits and breakers are shared (backend="redis" with VIDGATE_REDIS_URL, else "postgres" on a PostgreSQL database): 1 while they are, 0 while that store is unreachable and this process applies its own (per-node) limits. Always 1 when each process keeps its own (backend="memory").',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        const s = src.sharedLimits();
        this.set({ backend: s.backend }, s.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'vidgate_shared_limits_outages',
      help: 'Outages of the limits\' shared store (Redis or PostgreSQL) this process has seen since it started (each one logged once, when it began).',
      registers,
      collect() {
        this.set(src.sharedLimits().outages);
      },
    });
    const backlog = () => this.backlog();
    const seconds = (since: number | null) => (since === null ? 0 : Math.max(0, (src.now() - since) / 1000));
    new Gauge({
      name: 'vidgate_tasks_unfinished',
      help: 'Unfinished tasks by stage (submit, wait, fetch). Cluster-wide: read from the shared database.',
      labelNames: ['stage'],
      registers,
      async collect() {
        const b = await backlog();
        for (const stage of STAGES) this.set({ stage }, b.byStage.find((s) => s.stage === stage)?.count ?? 0);
      },
    });
    new Gauge({
      name: 'vidgate_tasks_unfinished_oldest_age_seconds',
      help: 'Age of the oldest unfinished task in each stage (0 when none). Cluster-wide.',
      labelNames: ['stage'],
      registers,
      async collect() {
        const b = await backlog();
        for (const stage of STAGES) this.set({ stage }, seconds(b.byStage.find((s) => s.stage === stage)?.oldestCreatedAt ?? null));
      },
    });
    new Gauge({
      name: 'vidgate_tasks_overdue_seconds',
      help: 'How long the most overdue unclaimed task step has been due (0 when the workers keep up). Cluster-wide.',
      registers,
      async collect() {
        this.set(seconds((await backlog()).oldestDueAt));
      },
    });
    new Gauge({
      name: 'vidgate_money_held_usd',
      help: 'Credit currently held for unfinished tasks, in USD. Cluster-wide.',
      registers,
      async collect() {
        this.set((await backlog()).heldMicros / 1e6);
      },
    });
    new Gauge({
      name: 'vidgate_webhook_deliveries_pending',
      help: 'Webhook deliveries waiting to be sent or retried. Cluster-wide.',
      registers,
      async collect() {
        this.set((await backlog()).webhooksPending);
      },
    });
    const channels = this.channels;
    new Gauge({
      name: 'vidgate_upstream_submits_unresolved',
      help: 'Tasks that failed with upstream_submit_unknown, by channel: a submit whose answer was lost and whose job was not found upstream (it may exist there, paid for, with no task following it). Cluster-wide.',
      labelNames: ['channel'],
      registers,
      async collect() {
        this.reset();
        for (const u of (await backlog()).unresolvedSubmits) this.set({ channel: channels.of(u.channel) }, u.count);
      },
    });
    new Gauge({
      name: 'vidgate_webhook_oldest_pending_age_seconds',
      help: 'Age of the oldest webhook delivery still pending (0 when none). Cluster-wide.',
      registers,
      async collect() {
        this.set(seconds((await backlog()).webhookOldestPendingAt));
      },
    });
  }

  /** The cluster gauges share one read of the database per scrape (and at most one per 2 s). */
  private backlog(): Promise<Backlog> {
    const now = Date.now();
    if (!this.backlogCache || now - this.backlogCache.at > BACKLOG_CACHE_MS) {
      const value = Promise.resolve().then(() => this.src.backlog(this.src.now()));
      value.catch(() => {
        this.backlogCache = null;
      });
      this.backlogCache = { at: now, value };
    }
    return this.backlogCache.value;
  }

  // ---------------------------------------------------------------- recording

  /** One HTTP request ended (called by the request log, ./request-log.ts, for every response). */
  httpRequest(method: string, route: string | undefined, status: number, ms: number): void {
    this.http.observe(method, route ?? '', status, () => ({ method, route: route ? this.routes.of(route) : 'unmatched', status: String(status) }), ms / 1000);
  }


  /** The bounded labels of a task (model, adapter type, channel). */
  taskLabels(task: Pick<Task, 'model' | 'provider'>): TaskLabels {
    const id = task.provider ?? 'sandbox';
    return {
      model: this.src.knownModel(task.model) ? this.models.of(task.model) : OTHER,
      provider: this.providers.of(this.src.providerType(id) ?? 'unknown'),
      channel: this.channels.of(id),
    };
  }

  taskCreated(task: Task): void {
    this.created.inc(this.taskLabels(task));
  }

  taskFinished(task: Task, facts: { statusCalls?: number; upstreamDoneAt?: number }): void {
    const labels = this.taskLabels(task);
    const status = task.status;
    this.finished.inc({ ...labels, status, error_code: status === 'completed' ? 'none' : this.codes.of(task.error?.code) });
    const end = task.completedAt ?? this.src.now();
    this.taskDuration.observe({ ...labels, status }, Math.max(0, end - task.createdAt) / 1000);
    const where = { provider: labels.provider, channel: labels.channel };
    if (facts.statusCalls !== undefined) this.statusCalls.observe(where, facts.statusCalls);
    if (status === 'completed' && facts.upstreamDoneAt !== undefined) {
      this.completionDelay.observe(where, Math.max(0, end - facts.upstreamDoneAt) / 1000);
    }
  }

  money(kind: 'hold' | 'settle' | 'release', micros: number, model: string): void {
    if (micros <= 0) return;
    this.moneyTotal.inc({ kind, model: this.src.knownModel(model) ? this.models.of(model) : OTHER }, micros / 1e6);
  }

  step(stage: string, providerId: string | null, ms: number): void {
    this.steps.observe({ stage, provider: this.providers.of(this.src.providerType(providerId ?? 'sandbox') ?? 'unknown') }, ms / 1000);
  }

  upstreamRequest(channel: string, provider: string, purpose: string, outcome: string, ms: number): void {
    this.upstream.observe({ channel: this.channels.of(channel), provider: this.providers.of(provider), purpose, outcome }, ms / 1000);
  }

  webhookAttempt(target: 'endpoint' | 'callback', outcome: 'delivered' | 'retry' | 'given_up', ms: number, lagMs?: number): void {
    this.webhookAttempts.observe({ target, outcome }, ms / 1000);
    if (lagMs !== undefined) this.webhookLag.observe(Math.max(0, lagMs) / 1000);
  }

  /** A lookup of a submit whose answer was lost ended: the job was adopted, or not found (unresolved). */
  submitLookup(channel: string, provider: string, outcome: 'adopted' | 'unresolved'): void {
    this.lookups.inc({ channel: this.channels.of(channel), provider: this.providers.of(provider), outcome });
  }

  sandboxRender(ms: number): void {
    this.render.observe(ms / 1000);
  }

  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
