import type { VideoRequest } from '../core/video-request.js';
import type { FastifyBaseLogger } from 'fastify';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import { ConfigError } from '../config.js';
import type { Catalog, PriceQuery } from '../core/catalog.js';
import { ApiError, conflict, invalid, notFound } from '../core/errors.js';
import type { Task } from '../core/task.js';
import { guardedAgent } from '../net/ssrf.js';
import type { NetPolicy } from '../net/ssrf.js';
import { ADAPTERS } from '../providers/index.js';
import type { AuthContext, ChannelCredentials, UpstreamAdapter } from '../providers/types.js';
import { UpstreamError } from '../providers/types.js';
import type { ApiKey } from '../store/keys.js';
import type { Secrets } from '../util/secrets.js';
import type { ChannelBreaker } from './breaker.js';
import type { UpstreamConfig } from './config.js';
import { credentialsOf, hasCredentials, patchCredentials, sameCredentials, secretValues } from './credentials.js';
import { describeUpstreamError } from './errors.js';
import { ChannelHttp, channelDispatchers } from './http.js';
import type { Telemetry } from '../ops/telemetry.js';
import type { ChannelLimits } from './limiter.js';
import { memoryLimits } from '../shared/index.js';
import type { LimitsBackend } from '../shared/index.js';
import { orderCandidates } from './router.js';
import { defaultBaseUrl, normaliseModels, toDef } from './schema.js';
import type { ChannelConfigInput, ChannelCreateInput, ChannelDef, ChannelModel, ChannelPatchInput } from './schema.js';
import type { ChannelRow, ChannelStore } from './store.js';
import { Timings } from './timings.js';
import { ChannelTokens } from './tokens.js';

/** One channel as this process runs it. */
export interface ChannelRuntime {
  def: ChannelDef;
  deleted: boolean;
  updatedAt: number;
  createdAt: number;
  adapter: UpstreamAdapter;
  credentials: ChannelCredentials;
  /** Tokens the adapter minted or exchanged (JWTs, OAuth). */
  tokens: ChannelTokens;
  /** Credential values and current tokens, for scrubbing text. */
  readonly secrets: string[];
  /** The adapter's authentication headers. */
  auth(): Promise<Record<string, string>>;
  http: ChannelHttp;
  pooled: Agent;
  fresh: Agent;
  origin: string;
  limiter: ChannelLimits;
  breaker: ChannelBreaker;
  /** Stops the adapter's listener (`listen`), if it has one. */
  listening?: AbortController;
  /** Submits in flight in this process (counted against max_jobs with the waiting jobs). */
  submitting: number;
  stats: ChannelStats;
}

export interface ChannelStats {
  submits: number;
  submitFailures: number;
  checks: number;
  checkFailures: number;
  downloads: number;
  downloadFailures: number;
  lastError: { at: number; message: string } | null;
}

const RELOAD_EVERY_MS = 5_000;
const PROBE_EVERY_MS = 2_000;

/**
 * The channels of this gateway: definitions (database, synced from the config file at start),
 * their adapters, HTTP clients, limits and circuit breakers, the routing of new tasks, and the
 * admin operations. Other processes sharing the database pick up changes within a few seconds.
 */
export class Channels {
  private readonly byId = new Map<string, ChannelRuntime>();
  readonly timings: Timings;
  /** Fetches result URLs on hosts other than a channel's own, under the outbound address policy. */
  readonly guarded: Dispatcher;
  /** Reaches hosts from the operator's configuration other than a channel's own (token endpoints). */
  private readonly direct: Agent;
  /** Where a listener's pokes go (set by createUpstreams). */
  private poke: (channelId: string, upstreamId: string) => void = () => {};
  private version = '';
  private timers: NodeJS.Timeout[] = [];
  private started = false;

  constructor(
    private readonly store: ChannelStore,
    private readonly secretBox: Secrets,
    private readonly catalog: Catalog,
    readonly cfg: UpstreamConfig,
    readonly net: NetPolicy,
    private readonly now: () => number,
    private readonly log: FastifyBaseLogger,
    readonly telemetry: Telemetry = {},
    private readonly rng: () => number = Math.random,
    /** Where limits and breakers live (this process, or Redis or PostgreSQL for every node). */
    private readonly limits: LimitsBackend = memoryLimits,
  ) {
    this.timings = new Timings(store, now);
    this.guarded = guardedAgent(net, { connectTimeoutMs: cfg.connectTimeoutMs });
    this.direct = new Agent({ connect: { timeout: cfg.connectTimeoutMs }, keepAliveTimeout: 4_000 });
  }

  /** Load the channels and their observed timings from the database. */
  async init(): Promise<void> {
    await this.timings.load();
    await this.reload();
  }

  // ------------------------------------------------------------------ lifecycle

  /** Make the config file's channels the database's config channels (created, updated, removed). */
  async syncConfig(channels: ChannelConfigInput[]): Promise<void> {
    const now = this.now();
    const ids = new Set<string>();
    for (const c of channels) {
      ids.add(c.id);
      const def = toDef(c, 'config');
      this.checkModels(def, `channels (${c.id})`);
      const existing = await this.store.get(c.id);
      if (existing && existing.def.source === 'api' && !existing.deletedAt) {
        this.log.warn({ channel: c.id }, 'a channel created through the admin API has the id of a config-file channel: the config file wins');
      }
      const creds = credentialsOf(c as Record<string, unknown>);
      if (existing && !existing.deletedAt && sameDef(existing.def, def) && sameCredentials(this.open(existing.sealedCredentials), creds)) continue;
      await this.store.put(def, this.seal(creds), now);
    }
    for (const row of await this.store.all()) {
      if (row.def.source === 'config' && !row.deletedAt && !ids.has(row.def.id)) await this.store.remove(row.def.id, now);
    }
    await this.reload();
  }

  /** Where the adapters' listeners report jobs that may have changed. */
  onPoke(fn: (channelId: string, upstreamId: string) => void): void {
    this.poke = fn;
  }

  start(): void {
    this.started = true;
    for (const r of this.byId.values()) this.listen(r);
    this.timers.push(setInterval(() => void this.reloadIfChanged(), RELOAD_EVERY_MS));
    this.timers.push(setInterval(() => void this.probeHalfOpen(), PROBE_EVERY_MS));
    for (const t of this.timers) t.unref();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.started = false;
    for (const r of this.byId.values()) r.listening?.abort();
    await Promise.allSettled([...this.byId.values()].flatMap((r) => [r.pooled.close(), r.fresh.close()]));
    await (this.guarded as Agent).close?.();
    await this.direct.close();
  }

  private async reloadIfChanged(): Promise<void> {
    try {
      if ((await this.store.version()) !== this.version) await this.reload();
    } catch (err) {
      this.log.warn({ err }, 'channel reload failed');
    }
  }

  private reloading: Promise<void> = Promise.resolve();

  /**
   * Rebuild runtimes from the database, keeping limiter and breaker state of unchanged channels.
   * Reloads run one after the other.
   */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadNow()).catch((err: unknown) => {
      this.log.warn({ err }, 'channel reload failed');
    });
    return this.reloading;
  }

  private async reloadNow(): Promise<void> {
    const version = await this.store.version();
    const rows = await this.store.all();
    this.version = version;
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.def.id);
      const current = this.byId.get(row.def.id);
      if (current && current.updatedAt === row.updatedAt && current.deleted === !!row.deletedAt) continue;
      try {
        current?.listening?.abort();
        const r = this.build(row, current);
        this.byId.set(row.def.id, r);
        if (this.started) this.listen(r);
      } catch (err) {
        this.log.error({ channel: row.def.id, err: (err as Error).message }, 'channel cannot be loaded');
      }
    }
    for (const [id, r] of [...this.byId]) {
      if (seen.has(id)) continue;
      r.listening?.abort();
      this.byId.delete(id);
      this.limits.forget(id);
    }
  }

  /**
   * Run the adapter's listener (ComfyUI's websocket) while the channel is loaded, restarting it
   * with a growing pause (1 s … 60 s) when it ends or fails.
   */
  private listen(r: ChannelRuntime): void {
    if (!r.adapter.listen || r.listening) return;
    const controller = new AbortController();
    r.listening = controller;
    const { signal } = controller;
    const channelId = r.def.id;
    void (async () => {
      for (let failures = 0; !signal.aborted; ) {
        const started = Date.now();
        try {
          await r.adapter.listen!({ http: r.http, auth: () => r.auth(), signal, poke: (upstreamId) => this.poke(channelId, upstreamId) });
        } catch (err) {
          if (!signal.aborted) this.log.info({ channel: channelId, err: describeUpstreamError(err instanceof UpstreamError ? err : new UpstreamError('unreachable', (err as Error).message), r.secrets) }, 'channel listener stopped; restarting');
        }
        if (signal.aborted) break;
        failures = Date.now() - started > 60_000 ? 0 : failures + 1;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(60_000, 1_000 * 2 ** Math.min(failures, 6)));
          t.unref();
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          }, { once: true });
        });
      }
    })();
  }

  private build(row: ChannelRow, previous: ChannelRuntime | undefined): ChannelRuntime {
    const def = { ...row.def, models: row.def.models.map((m) => this.canonical(m)) };
    const adapterDef = ADAPTERS[def.type];
    if (!adapterDef) throw new Error(`unknown channel type ${def.type}`);
    const adapter = adapterDef.create(adapterDef.options.parse(def.options) as never);
    const credentials = this.open(row.sealedCredentials);
    const tokens = new ChannelTokens();
    const { pooled, fresh } = channelDispatchers(def.concurrency, this.cfg.connectTimeoutMs);
    const ctx: AuthContext = { credentials, tokens, http: undefined as unknown as ChannelHttp };
    const auth = async () => adapter.auth(ctx);
    const http = new ChannelHttp(
      def.baseUrl,
      {
        auth,
        unauthorized: () => {
          const had = tokens.values().length > 0;
          tokens.invalidate();
          return had;
        },
        pooled,
        fresh,
        guarded: this.guarded,
        direct: this.direct,
      },
      { connectTimeoutMs: this.cfg.connectTimeoutMs, requestTimeoutMs: this.cfg.requestTimeoutMs, submitTimeoutMs: this.cfg.submitTimeoutMs },
      { channel: def.id, provider: def.type, telemetry: this.telemetry },
    );
    ctx.http = http;
    const fixedSecrets = secretValues(credentials);
    if (previous) {
      // Let requests in flight on the old clients finish, then close them.
      const old = previous;
      setTimeout(() => void Promise.allSettled([old.pooled.close(), old.fresh.close()]), 60_000).unref();
    }
    const limiter = previous?.limiter ?? this.limits.channelLimiter(def.id, def.concurrency, def.rpm, this.now());
    limiter.update(def.concurrency, def.rpm);
    const breaker =
      previous?.breaker ??
      this.limits.breaker(def.id, { failureThreshold: this.cfg.breaker.failures, cooldownMs: this.cfg.breaker.cooldownMs, maxCooldownMs: this.cfg.breaker.maxCooldownMs });
    // An operator change (new key, new URL, re-enabled) gives the channel a fresh start.
    if (previous && previous.updatedAt !== row.updatedAt) breaker.reset();
    return {
      def,
      deleted: !!row.deletedAt,
      updatedAt: row.updatedAt,
      createdAt: row.createdAt,
      adapter,
      credentials,
      tokens,
      get secrets() {
        return [...fixedSecrets, ...tokens.values()];
      },
      auth,
      http,
      pooled,
      fresh,
      origin: new URL(def.baseUrl).origin,
      limiter,
      breaker,
      submitting: previous?.submitting ?? 0,
      stats: previous?.stats ?? { submits: 0, submitFailures: 0, checks: 0, checkFailures: 0, downloads: 0, downloadFailures: 0, lastError: null },
    };
  }

  private seal(c: ChannelCredentials): string | null {
    return hasCredentials(c) ? this.secretBox.seal(JSON.stringify(c)) : null;
  }

  private open(sealed: string | null): ChannelCredentials {
    if (!sealed) return {};
    try {
      return JSON.parse(this.secretBox.open(sealed)) as ChannelCredentials;
    } catch {
      throw new Error('its credentials cannot be opened with this master key (was VIDGATE_SECRET_KEY or master.key changed?)');
    }
  }

  /** A model entry under the catalogue's own id (an alias such as apimart's `veo3.1-fast` names the model; the upstream name stays as written). */
  private canonical(m: ChannelModel): ChannelModel {
    const id = this.catalog.get(m.model)?.id;
    return id === undefined || id === m.model ? m : { ...m, model: id };
  }

  private checkModels(def: ChannelDef, where: string): void {
    def.models = def.models.map((m) => this.canonical(m));
    def.models.forEach((m, i) => {
      if (!this.catalog.get(m.model)) {
        const message = `models.${i}: '${m.model}' is not a model of this gateway's catalogue (add it under models: in the config file first). Known: ${this.catalog
          .list()
          .map((x) => x.id)
          .join(', ')}.`;
        if (where.startsWith('channels')) throw new ConfigError(`Invalid configuration:\n  ${where}: ${message}`);
        throw invalid(`models.${i}.model`, `Invalid 'models.${i}.model': ${message}`, 'model_not_found');
      }
    });
  }

  // ------------------------------------------------------------------ lookups

  get(id: string): ChannelRuntime | undefined {
    return this.byId.get(id);
  }

  list(): ChannelRuntime[] {
    return [...this.byId.values()].filter((r) => !r.deleted);
  }

  /** Channels (not removed) that list this public model, enabled or not. */
  serving(model: string): ChannelRuntime[] {
    return this.list().filter((r) => r.def.models.some((m) => m.model === model));
  }

  /**
   * Why no enabled channel of the model can take this request (each one's adapter refuses it, e.g.
   * an upstream that cannot be told a last frame): the first refusal, or null when one can (or
   * the request goes to the sandbox). Checked at create time, so the caller gets a 400 before any hold.
   */
  refusal(request: VideoRequest, provider: string): { param: string; message: string } | null {
    if (provider === 'sandbox') return null;
    let first: { param: string; message: string } | null = null;
    for (const r of this.serving(request.model).filter((c) => c.def.enabled)) {
      const refusal = r.adapter.refuse?.(request, this.upstreamModel(r, request.model) ?? request.model);
      if (!refusal) return null;
      first ??= refusal;
    }
    return first;
  }

  upstreamModel(r: ChannelRuntime, model: string): string | undefined {
    return r.def.models.find((m) => m.model === model)?.upstreamModel;
  }

  /** Unfinished upstream jobs of a channel, as counted against max_jobs. */
  async activeJobs(r: ChannelRuntime): Promise<number> {
    return (await this.store.waitingJobs(r.def.id)) + r.submitting;
  }

  /** Enabled channels for a model, in routing order, minus `exclude`. */
  candidates(model: string, exclude: ReadonlySet<string> = new Set()): ChannelRuntime[] {
    return orderCandidates(
      this.serving(model).filter((r) => r.def.enabled && !exclude.has(r.def.id)),
      (r) => r.def,
      this.rng,
    );
  }

  /**
   * Whether a new job may be sent to this channel now (breaker, max_jobs). `own`: slots the caller
   * already holds in `submitting` for the job it asks about.
   */
  async available(r: ChannelRuntime, now: number, own = 0): Promise<boolean> {
    if (!r.def.enabled || r.deleted) return false;
    if (!r.breaker.available(now)) return false;
    return r.def.maxJobs === null || (await this.activeJobs(r)) - own < r.def.maxJobs;
  }

  /** USD/s override and markup of a channel for a model at a resolution (for the price book). */
  pricing(channelId: string, model: string, q: PriceQuery): { usdPerSecond?: number; markup?: number } | undefined {
    const r = this.byId.get(channelId);
    if (!r) return undefined;
    const prices = r.def.models.find((m) => m.model === model)?.usdPerSecond;
    const res = q.resolution;
    const usd = prices?.[res] ?? (res === 'high' ? prices?.['1024p'] : res === 'standard' ? prices?.['720p'] : res === '720p' ? prices?.standard : undefined);
    return { ...(usd === undefined ? {} : { usdPerSecond: usd }), ...(r.def.markup === null ? {} : { markup: r.def.markup }) };
  }

  deadlineMs(r: ChannelRuntime | undefined): number {
    return (r?.def.deadlineMinutes ?? this.cfg.deadlineMinutes) * 60_000;
  }

  // ------------------------------------------------------------------ routing of new tasks

  /**
   * The provider of a new task: the sandbox for test keys and (per the fallback setting) for
   * models no channel serves; the source's channel for a remix; otherwise the first channel in
   * routing order that can take a job now. The submit step may still fail over to another.
   */
  async providerFor(model: string, key: ApiKey, remixOf?: Task): Promise<string> {
    if (key.test) return 'sandbox';
    if (remixOf) return this.remixProvider(remixOf);
    const serving = this.serving(model);
    if (serving.length === 0) {
      const fallback = this.cfg.sandboxFallback;
      if (fallback === 'always' || (fallback === 'auto' && this.list().length === 0)) return 'sandbox';
      throw new ApiError({
        status: 400,
        type: 'invalid_request_error',
        code: 'model_not_available',
        param: 'model',
        message: `The model '${model}' is not served by any upstream channel of this gateway. Ask its operator to add a channel for it, or choose another model.`,
        headers: { 'x-should-retry': 'false' },
      });
    }
    const enabled = serving.filter((r) => r.def.enabled);
    if (enabled.length === 0) throw unavailable(model, 'every channel serving it is disabled', 60);
    const now = this.now();
    const open = orderCandidates(enabled, (r) => r.def, this.rng);
    const pick = open.find((r) => r.breaker.available(now));
    if (!pick) {
      const retry = Math.min(...enabled.map((r) => r.breaker.retryAt(now))) - now;
      throw unavailable(model, 'its upstream providers are failing', Math.max(1, Math.ceil(retry / 1000)));
    }
    // Prefer a channel with room for another job; the submit step waits for room otherwise.
    for (const r of open) if (await this.available(r, now)) return r.def.id;
    return pick.def.id;
  }

  private remixProvider(source: Task): string {
    if (!source.provider || source.provider === 'sandbox') return 'sandbox';
    const r = this.byId.get(source.provider);
    if (!r || r.deleted || !r.def.enabled) {
      throw new ApiError({
        status: 409,
        type: 'invalid_request_error',
        code: 'remix_unavailable',
        message: 'This video cannot be remixed: the upstream that made it is no longer available on this gateway.',
        headers: { 'x-should-retry': 'false' },
      });
    }
    if (!r.adapter.supportsRemix) {
      throw invalid(null, 'This video cannot be remixed: the upstream that made it does not support remixing.', 'remix_not_supported');
    }
    return r.def.id;
  }

  // ------------------------------------------------------------------ admin operations

  async create(input: ChannelCreateInput): Promise<ChannelRuntime> {
    const existing = await this.store.get(input.id);
    if (existing && !existing.deletedAt) {
      throw conflict(
        existing.def.source === 'config'
          ? `A channel '${input.id}' is defined in the config file; edit it there.`
          : `A channel '${input.id}' already exists; update it with PATCH or choose another id.`,
        'channel_exists',
        'id',
      );
    }
    const def = toDef(input, 'api');
    this.checkModels(def, 'api');
    await this.store.put(def, this.seal(credentialsOf(input as Record<string, unknown>)), this.now());
    await this.reload();
    return this.byId.get(def.id)!;
  }

  async update(id: string, patch: ChannelPatchInput): Promise<ChannelRuntime> {
    const row = await this.editable(id);
    const d = row.def;
    const def: ChannelDef = {
      ...d,
      name: patch.name ?? d.name,
      // A base URL derived from the options (a region) follows them when they change.
      baseUrl: patch.base_url ?? (patch.options && d.baseUrl === defaultBaseUrl(d.type, d.options) ? (defaultBaseUrl(d.type, patch.options) ?? d.baseUrl) : d.baseUrl),
      models: patch.models ? normaliseModels(patch.models) : d.models,
      priority: patch.priority ?? d.priority,
      weight: patch.weight ?? d.weight,
      concurrency: patch.concurrency === undefined ? d.concurrency : patch.concurrency,
      rpm: patch.rpm === undefined ? d.rpm : patch.rpm,
      maxJobs: patch.max_jobs === undefined ? d.maxJobs : patch.max_jobs,
      markup: patch.markup === undefined ? d.markup : patch.markup,
      deadlineMinutes: patch.deadline_minutes === undefined ? d.deadlineMinutes : patch.deadline_minutes,
      enabled: patch.enabled ?? d.enabled,
      options: patch.options ?? d.options,
    };
    if (patch.options) {
      const r = ADAPTERS[def.type]!.options.safeParse(patch.options);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        const param = ['options', ...issue.path.map(String)].join('.');
        throw invalid(param, `Invalid '${param}': ${issue.message}`);
      }
    }
    this.checkModels(def, 'api');
    const creds = patchCredentials(this.open(row.sealedCredentials), patch as Record<string, unknown>);
    const problem = ADAPTERS[def.type]?.checkCredentials?.(creds);
    if (problem) throw invalid(null, problem);
    await this.store.put(def, this.seal(creds), Math.max(this.now(), row.updatedAt + 1));
    await this.reload();
    return this.byId.get(id)!;
  }

  async remove(id: string): Promise<ChannelRuntime> {
    await this.editable(id);
    await this.store.remove(id, this.now());
    await this.reload();
    return this.byId.get(id)!;
  }

  private async editable(id: string): Promise<ChannelRow> {
    const row = await this.store.get(id);
    if (!row || row.deletedAt) throw notFound(`No channel with id '${id}'.`, 'id');
    if (row.def.source === 'config') {
      throw conflict(`Channel '${id}' is defined in the config file (VIDGATE_CONFIG) and is read-only here: edit the file and restart.`, 'channel_read_only', 'id');
    }
    return row;
  }

  /** Active check of a channel: reachable, key accepted. Moves its breaker like a trial. */
  async probe(r: ChannelRuntime): Promise<{ ok: boolean; latency_ms: number; message: string }> {
    const started = Date.now();
    try {
      await r.adapter.probe(r.http);
      r.breaker.success();
      return { ok: true, latency_ms: Date.now() - started, message: 'reachable; the key was accepted' };
    } catch (err) {
      const message = err instanceof UpstreamError ? describeUpstreamError(err, r.secrets) : 'the probe failed';
      r.breaker.failure(this.now(), message);
      return { ok: false, latency_ms: Date.now() - started, message };
    }
  }

  /** Probe channels whose breaker waits for a trial, so they come back without traffic. */
  private async probeHalfOpen(): Promise<void> {
    const now = this.now();
    for (const r of this.list()) {
      if (!r.def.enabled || r.breaker.state(now) !== 'half_open' || !(await r.breaker.acquire(now))) continue;
      const result = await this.probe(r);
      this.log.info({ channel: r.def.id, ok: result.ok, message: result.message }, result.ok ? 'channel probed back into rotation' : 'channel probe failed');
    }
  }

  /** Record a failure for the operator's view (message already scrubbed). */
  noteError(r: ChannelRuntime, message: string): void {
    r.stats.lastError = { at: this.now(), message };
  }

  /** Per channel: submits whose answer was lost and whose job was not found (cluster-wide, from the database). */
  unresolvedSubmits(): Promise<Map<string, number>> {
    return this.store.unresolvedSubmits();
  }

  async unfinishedByChannel(): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    for (const u of await this.store.unfinished()) {
      const m = out.get(u.provider) ?? {};
      m[u.stage] = u.n;
      out.set(u.provider, m);
    }
    return out;
  }
}

function unavailable(model: string, why: string, retryAfterSeconds: number): ApiError {
  return new ApiError({
    status: 503,
    type: 'server_error',
    code: 'upstream_unavailable',
    param: 'model',
    message: `The model '${model}' cannot take new videos right now: ${why}. Try again in ${retryAfterSeconds} s.`,
    headers: { 'retry-after': String(retryAfterSeconds) },
  });
}

function sameDef(a: ChannelDef, b: ChannelDef): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
