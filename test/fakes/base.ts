/**
 * What the protocol fakes share: options, the clock, the seeded RNG, fault injection, the CDN
 * origin, the scripted job table, submission counting, outage control, wait helpers, and
 * callbacks: a job given a callback URL has its state changes POSTed there at the exact upstream
 * moment they happen (`followCallbacks`), with the protocol's own body and headers.
 */
import { FakeCdn } from './cdn.js';
import { FakeClock } from './clock.js';
import { FaultInjector } from './faults.js';
import type { FakeServer, RecordedRequest, RouteName, SendResult } from './http.js';
import { fixtures, paddedMp4, resolveVideo } from './payload.js';
import type { ByteSource } from './payload.js';
import { ScriptedJob, TERMINAL_PHASES, resolveScript, selectScript } from './script.js';
import type { JobScript, Phase, ScriptContext, ScriptSelector } from './script.js';
import { deriveSeed, mulberry32, waitUntil, wallNow } from './util.js';
import type { WaitOptions } from './util.js';

export interface CommonFakeOptions {
  /** Accepted API key(s). Default `'sk-test'`. */
  apiKey?: string | readonly string[];
  /** Share a clock between fakes (e.g. failover tests); otherwise one is created. */
  clock?: FakeClock;
  /** Upstream ms per real ms for the created clock (default 1; 0 = manual `clock.advance()` only). */
  timeScale?: number;
  /** Upstream epoch ms at start for the created clock (default: now). */
  startAt?: number;
  /** Seed for ids, jitter, probabilistic faults and per-job RNGs (default 1). */
  seed?: number;
  /** Default script for new jobs (a script or a function of the submission). */
  script?: ScriptSelector;
  /** Real-ms latency added to every API response (fixed or uniform in [min, max]). */
  latencyMs?: number | { min: number; max: number };
  /** Real-ms latency added to every CDN response. */
  cdnLatencyMs?: number | { min: number; max: number };
  /** The video bytes served for results (default: the `sample.mp4` fixture). */
  video?: ByteSource | Buffer;
  /** Serve the video padded to exactly this many bytes (still a valid MP4). */
  videoBytes?: number;
  /** Status the CDN answers after a result URL expired (default 403). */
  cdnExpiredStatus?: 403 | 404;
  /** The CDN rejects requests carrying `Authorization` with 400 (S3 presigned style). Default false. */
  cdnRejectAuthorization?: boolean;
  /** Port for the API server (default: random). */
  port?: number;
  /** Oldest recorded requests are dropped beyond this (default 100 000). */
  maxRecordedRequests?: number;
}

/** One accepted submission (create or remix) that created a job. */
export interface Submission {
  jobId: string;
  kind: 'create' | 'remix';
  /** Request sequence number in `requests`. */
  seq: number;
  /** Real wall ms. */
  at: number;
  body: Record<string, unknown>;
  headers: RecordedRequest['headers'];
}

export interface FakeStats {
  requests: number;
  byRoute: Partial<Record<RouteName, number>>;
  submissions: number;
  jobs: number;
  statusCalls: number;
  downloads: number;
  cdnRequests: number;
}

/** One callback POST a fake sent (or tried to). */
export interface CallbackRecord {
  jobId: string;
  url: string;
  phase: Phase;
  /** Real wall ms when it was sent. */
  at: number;
  /** The gateway's answer (undefined: the connection failed). */
  status: number | undefined;
  body: string;
  headers: Record<string, string>;
}

/**
 * How callbacks go out: `send` (default); `drop` — lost on the way (never sent); `duplicate` —
 * each sent twice, as providers that retry do.
 */
export type CallbackMode = 'send' | 'drop' | 'duplicate';

/** Per-job timing summary for benchmarks (all times real wall epoch ms). */
export interface CompletionRecord {
  jobId: string;
  createdAtWall: number;
  /** Exact moment the terminal state became observable upstream (undefined if unfinished). */
  completedAtWall: number | undefined;
  /** First status response that reported the terminal state. */
  firstTerminalSeenAtWall: number | undefined;
  /** firstTerminalSeenAtWall − completedAtWall. */
  detectionDelayMs: number | undefined;
  statusCalls: number;
  phase: Phase;
}

export abstract class FakeUpstreamBase {
  readonly clock: FakeClock;
  readonly faults: FaultInjector;
  readonly cdn: FakeCdn;
  readonly jobs = new Map<string, ScriptedJob>();
  readonly submissions: Submission[] = [];
  /** Every callback sent (or dropped: `status` undefined and not sent). */
  readonly callbacks: CallbackRecord[] = [];
  callbackMode: CallbackMode = 'send';
  /** Non-2xx answers (or failures) are retried this many times, 200 ms apart (Ark: 3). */
  callbackRetries = 0;
  private readonly wakers = new Map<string, () => void>();
  protected readonly rng: () => number;
  protected readonly seed: number;
  protected readonly apiKeys: string[];
  protected abstract readonly server: FakeServer;
  private selector: ScriptSelector;
  private readonly queuedScripts: JobScript[] = [];
  private readonly defaultVideo: ByteSource;
  private readonly baseVideo: Buffer;
  private readonly paddedCache = new Map<number, ByteSource>();
  private jobCounter = 0;

  protected constructor(opts: CommonFakeOptions, defaultScript: ScriptSelector) {
    this.seed = opts.seed ?? 1;
    this.rng = mulberry32(this.seed);
    this.clock = opts.clock ?? new FakeClock({ timeScale: opts.timeScale ?? 1, ...(opts.startAt === undefined ? {} : { startAt: opts.startAt }) });
    this.faults = new FaultInjector(mulberry32(deriveSeed(this.seed, 0xfa17)));
    this.apiKeys = typeof opts.apiKey === 'string' ? [opts.apiKey] : opts.apiKey ? [...opts.apiKey] : ['sk-test'];
    this.selector = opts.script ?? defaultScript;
    this.defaultVideo = resolveVideo(opts.video, opts.videoBytes);
    this.baseVideo = Buffer.isBuffer(opts.video) ? opts.video : fixtures.sampleMp4();
    this.cdn = new FakeCdn({
      clock: this.clock,
      faults: this.faults,
      rng: mulberry32(deriveSeed(this.seed, 0xcd)),
      secrets: () => this.apiKeys,
      ...(opts.cdnExpiredStatus === undefined ? {} : { expiredStatus: opts.cdnExpiredStatus }),
      ...(opts.cdnRejectAuthorization === undefined ? {} : { rejectAuthorization: opts.cdnRejectAuthorization }),
      ...(opts.cdnLatencyMs === undefined ? {} : { latencyMs: opts.cdnLatencyMs }),
    });
  }

  /** Origin of the API server, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    return this.server.url;
  }

  get port(): number {
    return this.server.port;
  }

  /** Every request the API server received (the CDN's are in `cdn.requests`). */
  get requests(): RecordedRequest[] {
    return this.server.requests;
  }

  /** Number of accepted submissions (each created a job; idempotent replays are not counted). */
  get submissionCount(): number {
    return this.submissions.length;
  }

  /** Whether the API server is listening. */
  get isUp(): boolean {
    return this.server.isUp;
  }

  /** The accepted API keys (mutable at runtime, e.g. to simulate key rotation). */
  get keys(): string[] {
    return this.apiKeys;
  }

  /** Replaces the default script for jobs created from now on. */
  script(selector: ScriptSelector): void {
    this.selector = selector;
  }

  /** The next submissions get these scripts, in order, before the default applies again. */
  scriptNext(...scripts: JobScript[]): void {
    this.queuedScripts.push(...scripts);
  }

  /** A job by id (throws if unknown). */
  job(id: string): ScriptedJob {
    const j = this.jobs.get(id);
    if (!j) throw new Error(`no such fake job: ${id}`);
    return j;
  }

  /** All jobs in submission order. */
  jobList(): ScriptedJob[] {
    return [...this.jobs.values()];
  }

  /** Requests of a route (e.g. `'status'`), optionally for one job. */
  requestsFor(route: RouteName, jobId?: string): RecordedRequest[] {
    const list = route === 'cdn' ? this.cdn.requests : this.server.requests;
    return list.filter((r) => r.route === route && (jobId === undefined || r.jobId === jobId));
  }

  stats(): FakeStats {
    const byRoute: Partial<Record<RouteName, number>> = {};
    for (const r of this.server.requests) byRoute[r.route] = (byRoute[r.route] ?? 0) + 1;
    let statusCalls = 0;
    let downloads = 0;
    for (const j of this.jobs.values()) {
      statusCalls += j.statusCalls;
      downloads += j.downloads.length;
    }
    return {
      requests: this.server.requests.length,
      byRoute,
      submissions: this.submissions.length,
      jobs: this.jobs.size,
      statusCalls,
      downloads,
      cdnRequests: this.cdn.requests.length,
    };
  }

  /** Timing of every job, for detection-delay / throughput measurements. */
  completionReport(): CompletionRecord[] {
    return this.jobList().map((j) => ({
      jobId: j.id,
      createdAtWall: j.createdAtWall,
      completedAtWall: j.completedAtWall,
      firstTerminalSeenAtWall: j.firstTerminalSeenAtWall,
      detectionDelayMs: j.detectionDelayMs,
      statusCalls: j.statusCalls,
      phase: j.phase(),
    }));
  }

  /** Forgets recorded requests (API and CDN); jobs, submissions and counters are kept. */
  clearRequests(): void {
    this.server.requests.length = 0;
    this.cdn.requests.length = 0;
  }

  /** Polls until `predicate(this)` is truthy. */
  waitFor<T>(predicate: (fake: this) => T | undefined | null | false, opts?: WaitOptions): Promise<T> {
    return waitUntil(() => predicate(this), opts);
  }

  /** Waits until at least `n` submissions were accepted. */
  waitForSubmissions(n: number, opts?: WaitOptions): Promise<Submission[]> {
    return this.waitFor((f) => f.submissions.length >= n && f.submissions, { message: `${n} submissions`, ...opts });
  }

  /** Waits until job `id` exists and satisfies `pred` (default: has had at least one status call). */
  waitForJob(id: string, pred: (job: ScriptedJob) => boolean = (j) => j.statusCalls > 0, opts?: WaitOptions): Promise<ScriptedJob> {
    return this.waitFor(
      (f) => {
        const j = f.jobs.get(id);
        return j && pred(j) ? j : undefined;
      },
      { message: `job ${id}`, ...opts },
    );
  }

  /** Waits until job `id` reaches `phase` (in upstream time; no status call is counted). */
  waitForPhase(id: string, phase: Phase, opts?: WaitOptions): Promise<ScriptedJob> {
    return this.waitForJob(id, (j) => j.phase() === phase, opts);
  }

  /** Simulates an outage: stops listening and drops connections (the CDN stays up unless `cdn: true`). */
  async down(opts: { cdn?: boolean } = {}): Promise<void> {
    await this.server.down();
    if (opts.cdn) await this.cdn.server.down();
  }

  /** Ends an outage: listens again on the same port(s). */
  async up(): Promise<void> {
    await this.server.up();
    await this.cdn.server.up();
  }

  /** Stops both servers and destroys every open socket. */
  async close(): Promise<void> {
    this.closing = true;
    for (const wake of this.wakers.values()) wake();
    await Promise.all([this.server.close(), this.cdn.server.close()]);
  }

  protected async startServers(): Promise<void> {
    await this.cdn.server.start();
    await this.server.start();
  }

  protected isValidKey(key: string | undefined): boolean {
    return key !== undefined && this.apiKeys.includes(key);
  }

  protected bearer(req: RecordedRequest): string | undefined {
    const h = req.headers.authorization;
    if (typeof h !== 'string') return undefined;
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    return m ? (m[1] as string).trim() : undefined;
  }

  /** An independent deterministic RNG stream derived from the fake's seed. */
  protected streamRng(stream: number): () => number {
    return mulberry32(deriveSeed(this.seed, stream));
  }

  /** Creates a scripted job for an accepted submission and counts it. */
  protected createJob(
    req: RecordedRequest,
    init: { id: string; kind: 'create' | 'remix'; model: string; prompt: string; body: Record<string, unknown> },
    resultTtlMs: number,
  ): ScriptedJob {
    const index = this.jobCounter++;
    const ctx: ScriptContext = {
      index,
      kind: init.kind,
      prompt: init.prompt,
      model: init.model,
      body: init.body,
      rng: mulberry32(deriveSeed(this.seed, index + 1)),
    };
    const script = this.queuedScripts.shift() ?? selectScript(this.selector, ctx);
    const job = new ScriptedJob(this.clock, {
      ...init,
      index,
      script: resolveScript(script, { resultTtlMs }),
      requestSeq: req.seq,
    });
    this.jobs.set(job.id, job);
    this.submissions.push({ jobId: job.id, kind: init.kind, seq: req.seq, at: wallNow(), body: init.body, headers: req.headers });
    return job;
  }

  /**
   * POST `render(phase)` to `url` each time the job's phase changes, at the upstream moment it
   * does (until it ends). `render` returns the protocol's body and headers, or undefined to stay
   * silent for that phase.
   */
  protected followCallbacks(job: ScriptedJob, url: string, render: (phase: Phase) => { body: string; headers?: Record<string, string> } | undefined): void {
    void (async () => {
      let last = job.phase();
      while (!this.closing) {
        const phase = job.phase();
        if (phase !== last) {
          last = phase;
          const out = render(phase);
          if (out) await this.sendCallback(job.id, url, phase, out.body, out.headers ?? {});
        }
        if (TERMINAL_PHASES.has(phase)) return;
        const next = phase === 'queued' ? job.runningAt : job.finishedAt;
        await new Promise<void>((resolve) => {
          this.wakers.set(job.id, resolve);
          // Unknown (queued until enough status calls): look again when the job is observed or poked.
          if (next !== undefined) void this.clock.sleepUntil(next).then(resolve);
        });
        this.wakers.delete(job.id);
      }
    })();
  }

  /** Something happened to a job out of its script (a status call, a cancel): re-evaluate its callbacks now. */
  protected touch(jobId: string | undefined): void {
    if (jobId) this.wakers.get(jobId)?.();
  }

  private async sendCallback(jobId: string, url: string, phase: Phase, body: string, headers: Record<string, string>): Promise<void> {
    const record = (status: number | undefined): void => {
      this.callbacks.push({ jobId, url, phase, at: wallNow(), status, body, headers });
    };
    if (this.callbackMode === 'drop') return record(undefined);
    for (let copy = 0; copy < (this.callbackMode === 'duplicate' ? 2 : 1); copy++) {
      for (let attempt = 0; attempt <= this.callbackRetries; attempt++) {
        let status: number | undefined;
        try {
          const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(5_000) });
          status = res.status;
          await res.arrayBuffer();
        } catch {
          status = undefined;
        }
        record(status);
        if (status !== undefined && status < 300) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private closing = false;

  /** The video bytes for a job: its `videoBytes` (the base MP4 padded), or the fake's default. */
  protected videoFor(job: ScriptedJob): ByteSource {
    const n = job.script.videoBytes;
    if (n === undefined) return this.defaultVideo;
    let src = this.paddedCache.get(n);
    if (!src) {
      src = paddedMp4(this.baseVideo, n);
      this.paddedCache.set(n, src);
    }
    return src;
  }

  /** Records a download attempt on the job. */
  protected recordDownload(job: ScriptedJob, req: RecordedRequest, result: SendResult, variant: string): void {
    job.downloads.push({
      at: req.at,
      endedAt: wallNow(),
      status: result.status,
      bytesSent: result.bytesSent,
      complete: result.complete,
      aborted: result.aborted || result.reset,
      variant,
      range: typeof req.headers.range === 'string' ? req.headers.range : undefined,
    });
  }
}
