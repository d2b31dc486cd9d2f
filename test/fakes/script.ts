/**
 * Per-job scripts for the fake upstreams: what a job does, in upstream (virtual) time.
 *
 * A job is `queued` until both `queuedMs` of upstream time have passed since submission and
 * `queuedPolls` status responses have shown it queued; it then runs for `runMs` with a progress
 * curve and ends with `outcome`. State is evaluated lazily from the clock on every request, so a
 * fake can carry thousands of jobs at no cost, and completion times are exact: `completedAtWall`
 * is the real wall time at which the terminal state became observable (via `FakeClock.wallAt`).
 *
 * Scripts are chosen per job by a `ScriptSelector`: a fixed script, a function of the submission
 * (prompt, model, body, index, a per-job seeded RNG), or `promptDirectives()`, which reads
 * `[[fake: outcome=fail runMs=3000]]` tokens from the prompt so end-to-end tests that only
 * control the prompt can still steer the upstream.
 *
 * @example
 * const fake = await startApimartFake({
 *   timeScale: 60,
 *   script: ({ rng }) => ({ queuedMs: 5_000, runMs: 60_000 + rng() * 240_000, progress: 'linear' }),
 * });
 * const fake2 = await startOpenAIVideosFake({ script: promptDirectives({ runMs: 2_000 }) });
 * // prompt "a cat [[fake: outcome=moderation]]" → the job fails with moderation_blocked
 */
import type { FakeClock } from './clock.js';
import { wallNow } from './util.js';

export type Outcome = 'succeed' | 'fail' | 'moderation' | 'cancel' | 'expire';

/**
 * Progress shown while running:
 * - `'linear'` (default): floor(100 × elapsed / runMs), capped at 99;
 * - `'none'`: always 0 until the job finishes;
 * - an array: values spread evenly over the run time;
 * - `{ perPoll }`: the i-th running status response shows `perPoll[i]` (the last value repeats);
 * - a function of the elapsed fraction [0, 1) and the running-poll index.
 */
export type ProgressCurve =
  | 'linear'
  | 'none'
  | readonly number[]
  | { readonly perPoll: readonly number[] }
  | ((fraction: number, runningPollIndex: number) => number);

export interface JobFailure {
  code: string;
  message: string;
  /** apimart and apigo add a `type` to job errors. */
  type?: string;
}

export interface JobScript {
  /** Minimum number of status responses that show the job queued (default 0). */
  queuedPolls?: number;
  /** Upstream ms spent queued after submission (default 1 000). */
  queuedMs?: number;
  /** Upstream ms spent running (default 5 000). */
  runMs?: number;
  progress?: ProgressCurve;
  /** Default `'succeed'`. */
  outcome?: Outcome;
  /** Error reported for `fail` (and overrides the defaults of `moderation`, `cancel`, `expire`). */
  failure?: JobFailure;
  /** apimart `estimated_time` in seconds (default: queuedMs + runMs, rounded up, at least 1). */
  estimatedTime?: number;
  /** How long result URLs / content stay downloadable after completion, upstream ms (default per fake). */
  resultTtlMs?: number;
  /** apimart `actual_time` in seconds (default: the real upstream duration from creation to finish). */
  actualSeconds?: number;
  /** The first `notFoundPolls` status calls for this job answer 404, then it "appears". */
  notFoundPolls?: number;
  /** apimart `cost` (float) reported on completion; absent unless set (or `costPerSecond` is set on the fake). */
  cost?: number;
  /** Serve a video of exactly this many bytes for this job (a valid MP4 padded with a `free` box). */
  videoBytes?: number;
}

export interface ScriptContext {
  /** 0-based submission index within the fake. */
  index: number;
  kind: 'create' | 'remix';
  prompt: string;
  model: string;
  /** The parsed request body (JSON object or rebuilt multipart fields). */
  body: Record<string, unknown>;
  /** Deterministic per-job RNG (derived from the fake's `seed` and `index`). */
  rng: () => number;
}

export type ScriptSelector = JobScript | ((ctx: ScriptContext) => JobScript);

export type Phase = 'queued' | 'running' | 'succeeded' | 'failed' | 'moderated' | 'cancelled' | 'expired';

export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set(['succeeded', 'failed', 'moderated', 'cancelled', 'expired']);

export interface ResolvedScript {
  queuedPolls: number;
  queuedMs: number;
  runMs: number;
  progress: ProgressCurve;
  outcome: Outcome;
  failure: JobFailure | undefined;
  estimatedTime: number;
  resultTtlMs: number;
  actualSeconds: number | undefined;
  notFoundPolls: number;
  cost: number | undefined;
  videoBytes: number | undefined;
}

export function resolveScript(script: JobScript, defaults: { resultTtlMs: number }): ResolvedScript {
  const queuedMs = nonNegative(script.queuedMs ?? 1_000, 'queuedMs');
  const runMs = nonNegative(script.runMs ?? 5_000, 'runMs');
  return {
    queuedPolls: nonNegative(script.queuedPolls ?? 0, 'queuedPolls'),
    queuedMs,
    runMs,
    progress: script.progress ?? 'linear',
    outcome: script.outcome ?? 'succeed',
    failure: script.failure,
    estimatedTime: script.estimatedTime ?? Math.max(1, Math.ceil((queuedMs + runMs) / 1000)),
    resultTtlMs: nonNegative(script.resultTtlMs ?? defaults.resultTtlMs, 'resultTtlMs'),
    actualSeconds: script.actualSeconds,
    notFoundPolls: nonNegative(script.notFoundPolls ?? 0, 'notFoundPolls'),
    cost: script.cost,
    videoBytes: script.videoBytes,
  };
}

function nonNegative(n: number, name: string): number {
  if (!(n >= 0) || !Number.isFinite(n)) throw new RangeError(`script.${name} must be a finite number >= 0, got ${n}`);
  return n;
}

export function selectScript(selector: ScriptSelector, ctx: ScriptContext): JobScript {
  return typeof selector === 'function' ? selector(ctx) : selector;
}

/** One download attempt of a job's result (content endpoint or CDN URL). */
export interface DownloadRecord {
  /** Real wall time the request arrived. */
  at: number;
  /** Real wall time the response ended (fully sent, aborted or cut). */
  endedAt: number;
  status: number;
  bytesSent: number;
  /** The full body was sent. */
  complete: boolean;
  /** The client went away before the body was sent. */
  aborted: boolean;
  variant: string;
  range: string | undefined;
}

/** What a status call observed. */
export interface Observation {
  phase: Phase;
  progress: number;
}

/**
 * The state of one scripted upstream job. Fakes create these on submit and call `observe()` on
 * every status call; tests read the counters and timestamps.
 */
export class ScriptedJob {
  readonly id: string;
  readonly index: number;
  readonly kind: 'create' | 'remix';
  readonly model: string;
  readonly prompt: string;
  /** Parsed submit body. */
  readonly body: Record<string, unknown>;
  readonly script: ResolvedScript;
  /** Upstream ms at submission. */
  readonly createdAt: number;
  /** Real wall ms at submission. */
  readonly createdAtWall: number;
  /** Sequence number of the submit request in the fake's request log. */
  readonly requestSeq: number;

  /** Every status call about this job, including ones answered 404 by `notFoundPolls`. */
  statusCalls = 0;
  /** Status calls answered with a 404 because of `notFoundPolls`. */
  notFoundServed = 0;
  /** Status responses that showed the job queued. */
  queuedPollsServed = 0;
  /** Status responses that showed the job running. */
  runningPollsServed = 0;
  /** Last progress value reported in a status response. */
  lastProgress = 0;
  /** Upstream ms at which running started (known once the queue conditions are met). */
  runningAt: number | undefined;
  /** Real wall ms when a status response first reported a terminal state. */
  firstTerminalSeenAtWall: number | undefined;
  /** Real wall ms of the last status call. */
  lastStatusAtWall: number | undefined;
  readonly downloads: DownloadRecord[] = [];
  deleted = false;
  /** Set when the job was cancelled from outside (e.g. DELETE while running). */
  cancelledAt: number | undefined;

  private nthQueuedPollAt: number | undefined;

  constructor(
    private readonly clock: FakeClock,
    init: {
      id: string;
      index: number;
      kind: 'create' | 'remix';
      model: string;
      prompt: string;
      body: Record<string, unknown>;
      script: ResolvedScript;
      requestSeq: number;
      createdAt?: number;
    },
  ) {
    this.id = init.id;
    this.index = init.index;
    this.kind = init.kind;
    this.model = init.model;
    this.prompt = init.prompt;
    this.body = init.body;
    this.script = init.script;
    this.requestSeq = init.requestSeq;
    this.createdAt = init.createdAt ?? clock.now();
    this.createdAtWall = wallNow();
    if (this.script.queuedPolls === 0) this.runningAt = this.createdAt + this.script.queuedMs;
  }

  /** Cancels the job from the upstream side (e.g. a user cancelling in a dashboard), effective now. */
  cancel(): void {
    if (!this.terminal) this.cancelledAt = this.clock.now();
  }

  private refresh(): void {
    if (this.runningAt === undefined && this.nthQueuedPollAt !== undefined) {
      this.runningAt = Math.max(this.createdAt + this.script.queuedMs, this.nthQueuedPollAt);
    }
  }

  /** Upstream ms at which the job finishes (undefined while the queue conditions are unmet). */
  get finishedAt(): number | undefined {
    this.refresh();
    if (this.cancelledAt !== undefined) return this.cancelledAt;
    return this.runningAt === undefined ? undefined : this.runningAt + this.script.runMs;
  }

  /** Upstream ms until which the result stays downloadable (successful jobs only). */
  get resultExpiresAt(): number | undefined {
    const f = this.finishedAt;
    if (f === undefined || this.cancelledAt !== undefined || this.script.outcome !== 'succeed') return undefined;
    return Math.floor(f / 1000) * 1000 + this.script.resultTtlMs;
  }

  /** Current phase, without counting a status call. */
  phase(now = this.clock.now()): Phase {
    this.refresh();
    if (this.cancelledAt !== undefined && now >= this.cancelledAt) return 'cancelled';
    if (this.runningAt === undefined || now < this.runningAt) return 'queued';
    if (now < this.runningAt + this.script.runMs) return 'running';
    switch (this.script.outcome) {
      case 'succeed':
        return 'succeeded';
      case 'fail':
        return 'failed';
      case 'moderation':
        return 'moderated';
      case 'cancel':
        return 'cancelled';
      case 'expire':
        return 'expired';
    }
  }

  get terminal(): boolean {
    return TERMINAL_PHASES.has(this.phase());
  }

  /** The result is past its TTL. */
  resultExpired(now = this.clock.now()): boolean {
    const exp = this.resultExpiresAt;
    return exp !== undefined && now >= exp;
  }

  /**
   * Real wall ms at which the terminal state became observable (exact, from the clock history),
   * or undefined while the job is not finished.
   */
  get completedAtWall(): number | undefined {
    const f = this.finishedAt;
    if (f === undefined || this.clock.now() < f) return undefined;
    return this.clock.wallAt(f);
  }

  /** Detection delay: first terminal status response minus the moment it became observable. */
  get detectionDelayMs(): number | undefined {
    const c = this.completedAtWall;
    return c === undefined || this.firstTerminalSeenAtWall === undefined ? undefined : this.firstTerminalSeenAtWall - c;
  }

  /** Whether the next status call should be answered 404 (consumes one `notFoundPolls`). */
  takeNotFound(): boolean {
    this.statusCalls++;
    this.lastStatusAtWall = wallNow();
    if (this.notFoundServed < this.script.notFoundPolls) {
      this.notFoundServed++;
      return true;
    }
    return false;
  }

  /** Records a status response: advances poll-driven transitions and returns what it showed. */
  observe(): Observation {
    const now = this.clock.now();
    const phase = this.phase(now);
    let progress = 0;
    if (phase === 'queued') {
      this.queuedPollsServed++;
      if (this.nthQueuedPollAt === undefined && this.queuedPollsServed >= this.script.queuedPolls) this.nthQueuedPollAt = now;
    } else if (phase === 'running') {
      progress = this.progressAt(now, this.runningPollsServed);
      this.runningPollsServed++;
    } else if (phase === 'succeeded') {
      progress = 100;
    } else {
      progress = this.lastProgress;
    }
    this.lastProgress = progress;
    if (TERMINAL_PHASES.has(phase) && this.firstTerminalSeenAtWall === undefined) this.firstTerminalSeenAtWall = wallNow();
    return { phase, progress };
  }

  /** What the submit response shows: the job is never reported running before its first status call. */
  observeSubmit(): Observation {
    const o = this.peek();
    return o.phase === 'running' ? { phase: 'queued', progress: 0 } : o;
  }

  /** Progress as it would be shown now, without counting a call. */
  peek(): Observation {
    const now = this.clock.now();
    const phase = this.phase(now);
    if (phase === 'queued') return { phase, progress: 0 };
    if (phase === 'running') return { phase, progress: this.progressAt(now, this.runningPollsServed) };
    return { phase, progress: phase === 'succeeded' ? 100 : this.lastProgress };
  }

  private progressAt(now: number, pollIndex: number): number {
    const runMs = this.script.runMs;
    const start = this.runningAt ?? now;
    const fraction = runMs > 0 ? Math.min(Math.max((now - start) / runMs, 0), 0.999999) : 0;
    const curve = this.script.progress;
    let value: number;
    if (curve === 'linear') value = Math.min(99, Math.floor(fraction * 100));
    else if (curve === 'none') value = 0;
    else if (typeof curve === 'function') value = curve(fraction, pollIndex);
    else if (isReadonlyArray(curve)) value = curve.length === 0 ? 0 : (curve[Math.min(curve.length - 1, Math.floor(fraction * curve.length))] ?? 0);
    else value = curve.perPoll.length === 0 ? 0 : (curve.perPoll[Math.min(curve.perPoll.length - 1, pollIndex)] ?? 0);
    return Math.min(100, Math.max(0, Math.round(value)));
  }
}

function isReadonlyArray(v: unknown): v is readonly number[] {
  return Array.isArray(v);
}

const DIRECTIVE = /\[\[fake:([^\]]*)\]\]/g;

/**
 * A selector that merges `[[fake: key=value ...]]` directives found in the prompt over `base`.
 * Keys: `outcome`, `queuedPolls`, `queuedMs`, `runMs`, `progress` (`linear`|`none`|`10,50,90`),
 * `estimatedTime`, `resultTtlMs`, `actualSeconds`, `notFoundPolls`, `cost`, `videoBytes`,
 * `code` and `message` (failure). Unknown keys throw, so typos surface in tests.
 */
export function promptDirectives(base: ScriptSelector = {}): (ctx: ScriptContext) => JobScript {
  return (ctx) => {
    const script: JobScript = { ...selectScript(base, ctx) };
    for (const match of ctx.prompt.matchAll(DIRECTIVE)) {
      for (const token of (match[1] ?? '').trim().split(/\s+/).filter(Boolean)) {
        const eq = token.indexOf('=');
        const key = eq < 0 ? token : token.slice(0, eq);
        const value = eq < 0 ? '' : token.slice(eq + 1);
        applyDirective(script, key, value);
      }
    }
    return script;
  };
}

const OUTCOMES: readonly Outcome[] = ['succeed', 'fail', 'moderation', 'cancel', 'expire'];

function applyDirective(script: JobScript, key: string, value: string): void {
  const num = (): number => {
    const n = Number(value);
    if (value === '' || !Number.isFinite(n)) throw new Error(`fake directive ${key}= needs a number, got '${value}'`);
    return n;
  };
  switch (key) {
    case 'outcome':
      if (!OUTCOMES.includes(value as Outcome)) throw new Error(`fake directive outcome=${value} is not one of ${OUTCOMES.join('|')}`);
      script.outcome = value as Outcome;
      return;
    case 'queuedPolls':
      script.queuedPolls = num();
      return;
    case 'queuedMs':
      script.queuedMs = num();
      return;
    case 'runMs':
      script.runMs = num();
      return;
    case 'estimatedTime':
      script.estimatedTime = num();
      return;
    case 'resultTtlMs':
      script.resultTtlMs = num();
      return;
    case 'actualSeconds':
      script.actualSeconds = num();
      return;
    case 'notFoundPolls':
      script.notFoundPolls = num();
      return;
    case 'cost':
      script.cost = num();
      return;
    case 'videoBytes':
      script.videoBytes = num();
      return;
    case 'progress':
      if (value === 'linear' || value === 'none') script.progress = value;
      else script.progress = value.split(',').map((v) => Number(v));
      return;
    case 'code':
      script.failure = { code: value, message: script.failure?.message ?? 'Video generation failed.' };
      return;
    case 'message':
      script.failure = { code: script.failure?.code ?? 'internal_error', message: value.replace(/_/g, ' ') };
      return;
    default:
      throw new Error(`unknown fake directive '${key}'`);
  }
}
