import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import sharp from 'sharp';
import type { TaskFailure } from '../core/errors.js';
import type { Task } from '../core/task.js';
import { MediaToolUnavailable } from '../media/ffmpeg.js';
import { probeVideo } from '../media/probe.js';
import type { MediaInfo } from '../media/probe.js';
import type { CheckOutcome, FetchOutcome, Provider, ResultSource, ResultSources, StepContext, SubmitOutcome, UpstreamAccepted, UpstreamMedia, UpstreamStatus, UpstreamSubmit } from '../providers/types.js';
import { requestOf } from '../core/video-request.js';
import type { MediaInput, VideoRequest } from '../core/video-request.js';
import { RetryLater, UpstreamError } from '../providers/types.js';
import type { TaskStore } from '../store/tasks.js';
import { Semaphore } from '../util/semaphore.js';
import type { CallbackLinks } from './callbacks.js';
import { download, DownloadError } from './download.js';
import type { DownloadLimits, DownloadTarget } from './download.js';
import { CODES, describeUpstreamError, isQuota, jobFailure, rejectionFailure, scrub, scrubStatus, trimReason, withoutPaths } from './errors.js';
import type { MediaLinks } from './reference.js';
import type { ChannelRuntime, Channels } from './registry.js';
import { nextCheck } from './schedule.js';
import type { PollMemory, PollPolicy } from './schedule.js';

/**
 * What the channel provider keeps on a task (task.providerState.ch). Every decision that must
 * survive a crash is written here before it is acted on.
 */
export interface ChannelState {
  /**
   * A submit that was sent (or about to be) and whose answer is not yet recorded; `lookups`:
   * how often the job was looked for upstream since (channels without idempotency).
   */
  pending?: { channel: string; key: string; at: number; n: number; lookups?: number };
  /** Channels that certainly did not get this job in the current round. */
  tried?: string[];
  /** Rounds in which no channel took the job. */
  rounds?: number;
  submittedAt?: number;
  poll?: PollMemory;
  /** Consecutive 404s and other failed checks. */
  nf?: number;
  errs?: number;
  /** The last status seen (the result's location when it is done). */
  last?: UpstreamStatus;
  /** A callback URL was registered with the submit: polling is only the fallback. */
  cb?: boolean;
  fetchAttempts?: number;
  /** Status calls made for this job (metrics). */
  checks?: number;
  /** When the job finished upstream: the upstream's own time, else when a check first saw it (metrics). */
  doneAt?: number;
}

/** How often the job of a submit whose answer was lost is looked for upstream before giving up. */
export const LOOKUP_ATTEMPTS = 6;

export interface ChannelProviderOptions {
  poll: PollPolicy;
  notFoundLimit: number;
  downloadConcurrency: number;
  downloadAttempts: number;
  maxResultBytes: number;
  downloadIdleTimeoutMs: number;
  minDownloadBytesPerSecond: number;
  /** Checks of a job whose provider will call back come this far apart (the fallback for lost callbacks). */
  callbackPollMs: number;
}

const stateOf = (task: Task): ChannelState => ({ ...((task.providerState.ch as ChannelState | undefined) ?? {}) });

/** What a finished task's channel state says about its polling (for metrics); nothing for other providers. */
export function upstreamFacts(task: Task): { statusCalls?: number; upstreamDoneAt?: number } {
  const ch = task.providerState.ch as ChannelState | undefined;
  if (!ch) return {};
  return { statusCalls: ch.checks ?? 0, ...(ch.doneAt === undefined ? {} : { upstreamDoneAt: ch.doneAt }) };
}
const withState = (task: Task, ch: ChannelState): Record<string, unknown> => ({ ...task.providerState, ch });

/** Why a channel did not take a job in this round, and when it might. */
type Skip = { retryAt: number; broken?: string };

/**
 * The Provider for every upstream channel: routing and failover on submit, the polling
 * schedule, 404 tolerance and deadlines on check, and the download into blob storage on fetch.
 * The protocol work is the adapter's (providers/<type>/).
 */
export class ChannelProvider implements Provider {
  readonly id = 'channels';
  private readonly downloads: Semaphore;
  private readonly warned = new Set<string>();

  constructor(
    private readonly channels: Channels,
    private readonly store: TaskStore,
    private readonly links: MediaLinks,
    private readonly callbacks: CallbackLinks,
    private readonly opts: ChannelProviderOptions,
    private readonly log: FastifyBaseLogger,
    private readonly rng: () => number = Math.random,
  ) {
    this.downloads = new Semaphore(opts.downloadConcurrency);
  }

  private jitter(ms = 100): number {
    return Math.floor(this.rng() * ms);
  }

  /**
   * Retries of every kind back off exponentially from the polling floor to twice the polling
   * ceiling (1 s … 60 s by default), so one setting scales them all.
   */
  private backoff(n: number): number {
    const { minMs, maxMs } = this.opts.poll;
    return Math.min(2 * maxMs, minMs * 2 ** Math.min(Math.max(0, n), 16));
  }

  private deadline(task: Task, r: ChannelRuntime | undefined): number {
    return task.createdAt + this.channels.deadlineMs(r);
  }

  private deadlineFailure(task: Task, r: ChannelRuntime | undefined, stage: 'submit' | 'wait'): TaskFailure {
    const minutes = Math.round(this.channels.deadlineMs(r) / 60_000);
    return {
      code: CODES.deadline,
      message:
        stage === 'submit'
          ? `No upstream provider could take this video within ${minutes} minutes (they were busy or failing).`
          : `The upstream provider did not finish this video within ${minutes} minutes.`,
    };
  }

  // ================================================================ submit

  async submit(task: Task, ctx: StepContext): Promise<SubmitOutcome> {
    const now = ctx.now();
    const st = stateOf(task);
    const current = task.provider ? this.channels.get(task.provider) : undefined;
    if (now >= this.deadline(task, current)) {
      if (st.pending) return { ok: false, failure: this.unknownFailure() };
      return { ok: false, failure: this.deadlineFailure(task, current, 'submit') };
    }
    if (st.pending) return this.resend(task, ctx, st);

    const job = await this.jobFor(task, ctx);
    if ('failure' in job) return { ok: false, failure: job.failure };

    // A remix goes to the source's channel and nowhere else; so does an operator's test job.
    const order: ChannelRuntime[] = [];
    if (task.remixedFrom || task.params.channel) {
      if (!current || current.deleted) {
        const message = task.remixedFrom
          ? 'The upstream that made the source video of this remix is no longer available.'
          : `The channel '${task.params.channel}' this test job was sent to is no longer available.`;
        return { ok: false, failure: { code: task.remixedFrom ? CODES.source : CODES.unavailable, message } };
      }
      order.push(current);
    } else {
      const tried = new Set(st.tried ?? []);
      const cands = this.channels.candidates(task.model, tried);
      // The channel chosen at create (it quoted the price) goes first while it can take the job.
      if (current && cands.includes(current)) order.push(current, ...cands.filter((c) => c !== current));
      else order.push(...cands);
    }
    if (order.length === 0) {
      if (this.channels.serving(task.model).length === 0 && !task.remixedFrom && !task.params.channel) {
        return { ok: false, failure: { code: CODES.unavailable, message: `No upstream channel serves the model '${task.model}' any more.` } };
      }
      if ((st.tried ?? []).length > 0) return this.nextRound(task, st, now, now);
      // Every channel for the model is disabled: wait (the operator may enable one) until the deadline.
      throw new RetryLater('every channel of this model is disabled', this.opts.poll.maxMs + this.jitter(1000), { state: withState(task, st), quiet: true });
    }

    const skips: Skip[] = [];
    const refusals: string[] = [];
    let failedSends = 0;
    for (const r of order) {
      const upstreamModel = this.channels.upstreamModel(r, task.model) ?? task.model;
      // What this channel's model cannot do is not sent to it (the create-time check would have refused it there).
      const refusal = r.adapter.refuse?.(job.request, upstreamModel);
      if (refusal) {
        refusals.push(`${refusal.message} (${refusal.param})`);
        continue;
      }
      // The job's place among the channel's jobs (max_jobs) is taken before looking, so that steps
      // looking at once see each other; it is held until the task waits on the job in the database.
      const place = this.reserve(r);
      let handedOver = false;
      try {
        if (!(await this.channels.available(r, now, 1))) {
          skips.push({ retryAt: r.breaker.available(now) ? now + 2 * this.opts.poll.minMs : r.breaker.retryAt(now) });
          continue;
        }
        const got = r.limiter.tryAcquire(now);
        const slot = got instanceof Promise ? await got : got;
        if (!slot.ok) {
          // Busy, not failing: wait for this channel rather than spilling onto another.
          throw new RetryLater(`channel ${r.def.id} is at its request limit`, Math.max(0, slot.retryAt - now) + this.jitter(), { state: withState(task, st), quiet: true });
        }
        const permit = r.breaker.acquire(now);
        if (!(permit instanceof Promise ? await permit : permit)) {
          slot.release();
          skips.push({ retryAt: r.breaker.retryAt(now) });
          continue;
        }
        const key = `vidgate-${task.id}-${r.def.id}`;
        const pending = { channel: r.def.id, key, at: now, n: 1 };
        // Durable before anything is sent: a crash from here on is an "outcome unknown" on restart.
        if (!(await ctx.checkpoint({ provider: r.def.id, providerState: withState(task, { ...st, pending }) }))) {
          slot.release();
          throw new RetryLater('lease lost before submit', 0, { quiet: true });
        }
        const callbackUrl = this.callbackUrl(task, r);
        const result = await this.send(r, { ...job, model: upstreamModel, idempotencyKey: key, ...(callbackUrl ? { callbackUrl } : {}) }, slot.release);
        if (result.ok) {
          handedOver = true;
          return holding(this.accepted(task, r, result.upstreamId, result.status, now, !!callbackUrl), place);
        }
        const err = result.error;
        const reason = this.reason(r, err);
        if (err.kind === 'unknown-outcome' || err.kind === 'malformed' || (err.kind === 'http' && (err.detail.status === 504 || err.detail.status === 408))) {
          r.breaker.failure(now, reason);
          return this.unknownOutcome(task, r, { ...st, pending }, reason);
        }
        const status = err.detail.status ?? 0;
        if (err.kind === 'http' && status >= 400 && status < 500 && ![401, 403, 404, 429].includes(status) && !isQuota(err) && err.detail.kind !== 'auth' && err.detail.kind !== 'rate_limit') {
          // The request itself was refused: the channel works, the task fails with the reason.
          r.breaker.success();
          return { ok: false, failure: rejectionFailure(err, r.secrets) };
        }
        // Certainly not delivered: the job goes to the next channel.
        const broken = status === 401 || status === 403 || isQuota(err) || err.detail.kind === 'auth';
        if (status === 429 || err.detail.kind === 'rate_limit') {
          r.breaker.success();
          if (err.detail.retryAfterMs) r.limiter.pause(now + err.detail.retryAfterMs);
        } else {
          r.breaker.failure(now, reason, broken);
        }
        this.log.warn({ task: task.id, channel: r.def.id, reason }, 'submit did not reach the upstream; trying the next channel');
        st.tried = [...(st.tried ?? []), r.def.id];
        failedSends++;
        skips.push({ retryAt: now + (err.detail.retryAfterMs ?? 0), ...(broken ? { broken: reason } : {}) });
      } finally {
        if (!handedOver) place();
      }
    }

    // No channel took it this round.
    if (refusals.length === order.length) {
      return { ok: false, failure: { code: CODES.invalidRequest, message: `No upstream provider of this model can make this video: ${refusals.join('; ')}`.slice(0, 600) } };
    }
    if (skips.length > 0 && skips.every((s) => s.broken)) {
      return {
        ok: false,
        failure: {
          code: CODES.unavailable,
          message: `No upstream provider would take this video: ${skips.map((s) => s.broken).join('; ')}`.slice(0, 600),
        },
      };
    }
    return this.nextRound(task, st, now, Math.min(...skips.map((s) => s.retryAt)), failedSends > 0);
  }

  /**
   * No channel took the job this round: start over when the earliest one may (out of rotation,
   * full), and after an exponential backoff when sends failed.
   */
  private nextRound(task: Task, st: ChannelState, now: number, earliest: number, failed = true): never {
    const rounds = (st.rounds ?? 0) + (failed ? 1 : 0);
    const backoff = failed ? this.backoff(rounds - 1) : this.opts.poll.minMs;
    const next: ChannelState = { ...st, tried: [], rounds };
    delete next.pending;
    throw new RetryLater('no channel could take the job now', Math.max(backoff, earliest - now) + this.jitter(500), { state: withState(task, next), quiet: !failed });
  }

  /** A submit whose outcome was unknown: resend with the same key where that is safe, else fail. */
  private async resend(task: Task, ctx: StepContext, st: ChannelState): Promise<SubmitOutcome> {
    const now = ctx.now();
    const pending = st.pending!;
    const r = this.channels.get(pending.channel);
    if (!r) return { ok: false, failure: this.unknownFailure() };
    if (!r.adapter.idempotentSubmit) return r.adapter.find ? this.lookUp(task, ctx, st, r) : { ok: false, failure: this.unknownFailure() };
    const job = await this.jobFor(task, ctx);
    if ('failure' in job) return { ok: false, failure: job.failure };
    const got = r.limiter.tryAcquire(now);
    const slot = got instanceof Promise ? await got : got;
    if (!slot.ok) throw new RetryLater('channel busy', Math.max(0, slot.retryAt - now) + this.jitter(), { state: withState(task, st), quiet: true });
    const next = { ...pending, n: pending.n + 1, at: now };
    if (!(await ctx.checkpoint({ provider: r.def.id, providerState: withState(task, { ...st, pending: next }) }))) {
      slot.release();
      throw new RetryLater('lease lost before submit', 0, { quiet: true });
    }
    const upstreamModel = this.channels.upstreamModel(r, task.model) ?? task.model;
    const callbackUrl = this.callbackUrl(task, r);
    const place = this.reserve(r);
    const result = await this.send(r, { ...job, model: upstreamModel, idempotencyKey: pending.key, ...(callbackUrl ? { callbackUrl } : {}) }, slot.release);
    if (result.ok) return holding(this.accepted(task, r, result.upstreamId, result.status, now, !!callbackUrl), place);
    place();
    const err = result.error;
    const status = err.detail.status ?? 0;
    const reason = this.reason(r, err);
    // A definitive refusal of the request ends it; anything else (including "still in use")
    // is retried with the same key on the same channel: the first attempt may have created the job.
    if (err.kind === 'http' && status >= 400 && status < 500 && ![401, 403, 408, 409, 429].includes(status) && !isQuota(err) && err.detail.kind !== 'auth' && err.detail.kind !== 'rate_limit') {
      return { ok: false, failure: rejectionFailure(err, r.secrets) };
    }
    if (err.kind === 'http' && status === 429 && err.detail.retryAfterMs) r.limiter.pause(now + err.detail.retryAfterMs);
    return this.unknownOutcome(task, r, { ...st, pending: next }, reason);
  }

  private unknownOutcome(task: Task, r: ChannelRuntime, st: ChannelState, reason: string): SubmitOutcome {
    this.log.warn({ task: task.id, channel: r.def.id, reason, idempotent: r.adapter.idempotentSubmit }, 'submit outcome unknown');
    if (!r.adapter.idempotentSubmit) {
      if (!r.adapter.find) return { ok: false, failure: this.unknownFailure(reason) };
      // No idempotency: look the job up by what was sent, after a moment (a new job may take a
      // moment to be listed). The pending submit stays recorded, so a crash resumes the lookup.
      throw new RetryLater(`submit outcome unknown (${reason}); looking the job up upstream`, this.backoff(0) + this.jitter(250), {
        state: withState(task, st),
      });
    }
    const n = st.pending?.n ?? 1;
    throw new RetryLater(`submit outcome unknown (${reason}); resending with the same idempotency key`, this.backoff(n - 1) + this.jitter(250), {
      state: withState(task, st),
    });
  }

  /**
   * A submit whose answer was lost, on a channel without idempotency: look for the job it may have
   * made (by what was sent: an external id, or prompt, parameters and time) and adopt it when
   * found — the operator pays for it, so the caller gets it. Looked for LOOKUP_ATTEMPTS times
   * with backoff (a new job may take a moment to be listed); then, or when the server cannot
   * list jobs, the task fails with upstream_submit_unknown and counts as unresolved (see
   * Channels.unresolvedSubmits).
   */
  private async lookUp(task: Task, ctx: StepContext, st: ChannelState, r: ChannelRuntime): Promise<SubmitOutcome> {
    const now = ctx.now();
    const pending = st.pending!;
    const job = await this.jobFor(task, ctx);
    if ('failure' in job) return { ok: false, failure: job.failure };
    const got = r.limiter.tryAcquire(now);
    const slot = got instanceof Promise ? await got : got;
    if (!slot.ok) throw new RetryLater('channel busy', Math.max(0, slot.retryAt - now) + this.jitter(), { state: withState(task, st), quiet: true });
    const n = (pending.lookups ?? 0) + 1;
    const upstreamModel = this.channels.upstreamModel(r, task.model) ?? task.model;
    let found: UpstreamAccepted | null = null;
    let why = 'not listed';
    let final = false;
    try {
      found = await r.adapter.find!({ ...job, model: upstreamModel, idempotencyKey: pending.key }, r.http, pending.at, (id) => this.store.followsUpstream(r.def.id, id, task.id));
    } catch (err) {
      const e = err instanceof UpstreamError ? err : new UpstreamError('malformed', (err as Error).message);
      why = this.reason(r, e);
      // The server cannot list jobs (or refuses us): looking again will not help.
      const status = e.detail.status ?? 0;
      final = e.kind === 'http' && status >= 400 && status < 500 && status !== 408 && status !== 429;
    } finally {
      slot.release();
    }
    const metrics = this.channels.telemetry.metrics;
    if (found) {
      metrics?.submitLookup(r.def.id, r.def.type, 'adopted');
      this.log.warn({ task: task.id, channel: r.def.id, upstreamId: found.upstreamId, lookups: n }, 'the job of a submit whose answer was lost was found upstream and adopted');
      const status = found.status && scrubStatus(found.status, r.secrets);
      return this.accepted(task, r, found.upstreamId, status, now, !!this.callbackUrl(task, r));
    }
    if (final || n >= LOOKUP_ATTEMPTS) {
      metrics?.submitLookup(r.def.id, r.def.type, 'unresolved');
      this.log.error({ task: task.id, channel: r.def.id, lookups: n, reason: why }, 'a submit whose answer was lost could not be found upstream: the job may exist there unfollowed');
      return { ok: false, failure: this.unknownFailure(`looked for upstream ${n} time${n === 1 ? '' : 's'}: ${why}`) };
    }
    throw new RetryLater(`the job of a lost submit is not found upstream yet (${why}; lookup ${n})`, this.backoff(n) + this.jitter(500), {
      state: withState(task, { ...st, pending: { ...pending, lookups: n } }),
    });
  }

  private unknownFailure(reason?: string): TaskFailure {
    return {
      code: CODES.submitUnknown,
      message:
        // "May have": after a crash mid-submit the request may not have left at all.
        'The video may have reached the upstream provider, but no answer came back' +
        (reason ? ` (${reason})` : '') +
        ". It was not sent again, so that it cannot be made (and paid for) twice; you were not charged. Create it again if you still want it.",
    };
  }

  /** Count a job being submitted to the channel (max_jobs); returns the release, which may be called more than once. */
  private reserve(r: ChannelRuntime): () => void {
    r.submitting++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      r.submitting--;
    };
  }

  private async send(r: ChannelRuntime, job: UpstreamSubmit, release: () => void): Promise<{ ok: true; upstreamId: string; status?: UpstreamStatus } | { ok: false; error: UpstreamError }> {
    r.stats.submits++;
    try {
      const accepted = await r.adapter.submit(job, r.http);
      return { ok: true, upstreamId: accepted.upstreamId, ...(accepted.status ? { status: scrubStatus(accepted.status, r.secrets) } : {}) };
    } catch (err) {
      r.stats.submitFailures++;
      const e = err instanceof UpstreamError ? err : new UpstreamError('unknown-outcome', `the submit failed unexpectedly (${(err as Error).message})`);
      this.channels.noteError(r, this.reason(r, e));
      return { ok: false, error: e };
    } finally {
      release();
    }
  }

  /** The per-task callback URL for this channel, when its protocol calls back and the gateway has a public URL. */
  private callbackUrl(task: Task, r: ChannelRuntime): string | undefined {
    if (!r.adapter.callback) return undefined;
    // Valid a day past the deadline: a provider may retry a callback long after the job ended.
    return this.callbacks.url(task.id, r.def.id, this.deadline(task, r) + 86_400_000);
  }

  /** With a callback registered the provider says when the job changes: checks are only the fallback. */
  private waitFor(st: ChannelState, delayMs: number): number {
    return st.cb ? Math.max(delayMs, this.opts.callbackPollMs) : delayMs;
  }

  private accepted(task: Task, r: ChannelRuntime, upstreamId: string, status: UpstreamStatus | undefined, now: number, cb: boolean): SubmitOutcome {
    r.breaker.success();
    const next: ChannelState = { submittedAt: now, ...(status ? { last: status } : {}), ...(cb ? { cb } : {}) };
    const decision = nextCheck({
      now,
      submittedAt: now,
      status: status && (status.state === 'waiting' || status.state === 'running') ? status : { state: 'waiting', raw: 'submitted' },
      memory: {},
      expected: this.channels.timings.expected(r.def.id, task.model, task.seconds),
      policy: this.opts.poll,
    });
    next.poll = decision.memory;
    this.log.debug({ task: task.id, channel: r.def.id, upstreamId }, 'submitted upstream');
    const done = status && status.state !== 'waiting' && status.state !== 'running';
    return { ok: true, upstreamId, provider: r.def.id, state: { ch: next }, nextCheckInMs: done ? 0 : this.waitFor(next, decision.delayMs) };
  }

  /** The upstream-facing request of a task (everything but the model name and the key), media loaded. */
  private async jobFor(task: Task, ctx: StepContext): Promise<Omit<UpstreamSubmit, 'model' | 'idempotencyKey'> | { failure: TaskFailure }> {
    const req = requestOf(task);
    const linkUntil = this.deadline(task, task.provider ? this.channels.get(task.provider) : undefined) + 3_600_000;
    const load = async (m: MediaInput): Promise<UpstreamMedia> => {
      const data = await ctx.readBlob(m.blob);
      if (!data) throw new Error(`the task's ${m.role.replace('_', ' ')} is no longer stored`);
      const publicUrl = this.links.url(m.blob, linkUntil);
      return { ...m, data, ...(publicUrl ? { publicUrl } : {}) };
    };
    const { firstFrame, lastFrame, references, ...rest } = req;
    const request: VideoRequest<UpstreamMedia> = {
      ...rest,
      references: await Promise.all(references.map(load)),
      ...(firstFrame ? { firstFrame: await load(firstFrame) } : {}),
      ...(lastFrame ? { lastFrame: await load(lastFrame) } : {}),
    };
    const job: Omit<UpstreamSubmit, 'model' | 'idempotencyKey'> = { taskId: task.id, request };
    if (task.remixedFrom) {
      const source = await this.store.get(task.remixedFrom);
      if (!source?.upstreamId || source.provider !== task.provider) {
        return { failure: { code: CODES.source, message: `The source video of this remix (video_${task.remixedFrom}) has no upstream job to remix.` } };
      }
      job.remixOf = source.upstreamId;
    }
    return job;
  }

  private reason(r: ChannelRuntime, err: UpstreamError): string {
    return describeUpstreamError(err, r.secrets);
  }

  // ================================================================ check

  async check(task: Task, ctx: StepContext): Promise<CheckOutcome> {
    const now = ctx.now();
    const r = task.provider ? this.channels.get(task.provider) : undefined;
    const st = stateOf(task);
    if (now >= this.deadline(task, r)) return { state: 'failed', failure: this.deadlineFailure(task, r, 'wait') };
    if (!r || !task.upstreamId) {
      throw new RetryLater(`channel ${task.provider} is not loaded`, this.opts.poll.maxMs, { state: withState(task, st) });
    }
    const got = r.limiter.tryAcquire(now);
    const slot = got instanceof Promise ? await got : got;
    if (!slot.ok) throw new RetryLater(`channel ${r.def.id} is at its request limit`, Math.max(0, slot.retryAt - now) + this.jitter(), { state: withState(task, st), quiet: true });
    const still = (next: ChannelState, delayMs: number): CheckOutcome => ({
      state: task.status === 'in_progress' ? 'in_progress' : 'queued',
      progress: task.progress,
      nextCheckInMs: Math.max(this.opts.poll.minMs, delayMs) + this.jitter(),
      providerState: withState(task, next),
    });
    let status: UpstreamStatus;
    r.stats.checks++;
    st.checks = (st.checks ?? 0) + 1;
    try {
      // Scrubbed before anything logs or keeps it (an upstream may echo the key in its words).
      status = scrubStatus(await r.adapter.status(task.upstreamId, r.http), r.secrets);
    } catch (err) {
      r.stats.checkFailures++;
      const e = err instanceof UpstreamError ? err : new UpstreamError('malformed', (err as Error).message);
      const reason = this.reason(r, e);
      this.channels.noteError(r, reason);
      const s = e.detail.status;
      if (e.kind === 'http' && s === 404) {
        const nf = (st.nf ?? 0) + 1;
        if (nf >= this.opts.notFoundLimit) {
          return {
            state: 'failed',
            failure: { code: CODES.notFound, message: `The upstream provider no longer knows this job (${nf} checks in a row answered "not found": ${reason}).` },
            providerState: withState(task, { ...st, nf }),
          };
        }
        return still({ ...st, nf }, Math.min(this.opts.poll.maxMs, this.opts.poll.minMs * 2 ** nf));
      }
      if (e.kind === 'http' && s === 429) {
        const wait = e.detail.retryAfterMs ?? this.opts.poll.minMs * 2;
        r.limiter.pause(now + wait);
        return still({ ...st, nf: 0 }, wait);
      }
      const errs = (st.errs ?? 0) + 1;
      this.log.info({ task: task.id, channel: r.def.id, reason, errs }, 'status check failed; will retry');
      return still({ ...st, errs, nf: 0 }, Math.max(e.detail.retryAfterMs ?? 0, Math.min(this.opts.poll.maxMs, this.opts.poll.minMs * 2 ** Math.min(errs, 8))));
    } finally {
      slot.release();
    }

    const next: ChannelState = { ...st, nf: 0, errs: 0, last: status };
    if (status.unrecognised) {
      const k = `${r.def.id}:${status.raw}`;
      if (!this.warned.has(k)) {
        if (this.warned.size >= 1000) this.warned.clear(); // upstream words are unbounded; the log is not spammed either way
        this.warned.add(k);
        this.log.warn({ channel: r.def.id, status: status.raw }, 'upstream sent a status word this adapter does not know; treating it as waiting');
      }
    }
    switch (status.state) {
      case 'waiting':
      case 'running': {
        const submittedAt = st.submittedAt ?? task.updatedAt;
        // The reading is as of its answer, which may come well after the request left under load.
        const decision = nextCheck({
          now: ctx.now(),
          submittedAt,
          status,
          memory: st.poll ?? {},
          expected: this.channels.timings.expected(r.def.id, task.model, task.seconds),
          policy: this.opts.poll,
        });
        next.poll = decision.memory;
        return {
          state: status.state === 'running' ? 'in_progress' : 'queued',
          ...(status.progress === undefined ? {} : { progress: status.progress }),
          nextCheckInMs: this.waitFor(next, decision.delayMs),
          providerState: withState(task, next),
        };
      }
      case 'succeeded': {
        const submittedAt = st.submittedAt;
        const duration =
          status.createdAtMs !== undefined && status.completedAtMs !== undefined && status.completedAtMs > status.createdAtMs
            ? status.completedAtMs - status.createdAtMs
            : submittedAt !== undefined
              ? ctx.now() - submittedAt
              : undefined;
        if (duration !== undefined) await this.channels.timings.record(r.def.id, task.model, task.seconds, duration);
        next.doneAt = status.completedAtMs !== undefined && status.completedAtMs <= now ? status.completedAtMs : now;
        return { state: 'succeeded', providerState: withState(task, next) };
      }
      default:
        // Kept: the count of status calls; not the failed status (its upstream text may hold secrets).
        return { state: 'failed', failure: jobFailure(status, r.secrets), providerState: withState(task, st) };
    }
  }

  // ================================================================ fetch

  async fetch(task: Task, ctx: StepContext): Promise<FetchOutcome | { ok: false; failure: TaskFailure }> {
    const now = ctx.now();
    const st = stateOf(task);
    const r = task.provider ? this.channels.get(task.provider) : undefined;
    if (!r || !task.upstreamId || !st.last) {
      // Cannot happen unless the channel's row cannot be loaded (e.g. the master key changed).
      const attempts = (st.fetchAttempts ?? 0) + 1;
      if (attempts >= this.opts.downloadAttempts) {
        return { ok: false, failure: { code: CODES.downloadFailed, message: 'The upstream channel that made this video cannot be reached from this gateway any more.' } };
      }
      throw new RetryLater(`channel ${task.provider} is not loaded`, this.opts.poll.maxMs, { state: withState(task, { ...st, fetchAttempts: attempts }) });
    }
    let sources: ResultSources;
    try {
      sources = await r.adapter.results(task.upstreamId, st.last, r.http);
    } catch (err) {
      const reason = err instanceof UpstreamError ? this.reason(r, err) : trimReason(scrub((err as Error).message, r.secrets));
      if (err instanceof UpstreamError && transient(err)) {
        // Asking where the files are failed for a passing reason: ask again, within the download attempts.
        const attempts = (st.fetchAttempts ?? 0) + 1;
        if (attempts < this.opts.downloadAttempts) {
          throw new RetryLater(`result lookup failed (${reason})`, this.backoff(attempts) + this.jitter(500), { state: withState(task, { ...st, fetchAttempts: attempts }) });
        }
        return { ok: false, failure: { code: CODES.downloadFailed, message: `The upstream's video could not be located after ${attempts} attempts (${reason}).` } };
      }
      return { ok: false, failure: { code: CODES.failed, message: `The upstream provider reported the video done but gave no way to download it (${reason}).` } };
    }
    if (!this.downloads.tryAcquire()) throw new RetryLater('all download slots are busy', 500 + this.jitter(500), { state: withState(task, st), quiet: true });
    try {
      const target: DownloadTarget = {
        channelOrigin: r.origin,
        channelDispatcher: r.pooled,
        authHeaders: () => r.auth(),
        guarded: this.channels.guarded,
        net: this.channels.net,
      };
      const limits: DownloadLimits = {
        maxBytes: this.opts.maxResultBytes,
        idleTimeoutMs: this.opts.downloadIdleTimeoutMs,
        baseTimeoutMs: 60_000,
        minBytesPerSecond: this.opts.minDownloadBytesPerSecond,
        attempts: 3,
        retryDelayMs: Math.min(250, this.opts.poll.minMs),
      };
      const get = async (src: ResultSource, file: string, lim: DownloadLimits): Promise<void> => {
        if (typeof src === 'object' && 'data' in src) {
          if (src.data.length > lim.maxBytes) throw new DownloadError('too_large', `the video is ${src.data.length} bytes, over the ${lim.maxBytes}-byte limit`);
          await writeFile(file, src.data);
          return;
        }
        const url = typeof src === 'string' ? src : src.url;
        const t = typeof src === 'string' ? target : { ...target, credentialsFor: new URL(url).origin };
        await download(url, file, t, lim, ctx.signal);
      };
      const video = path.join(ctx.workDir, 'upstream-video.mp4');
      r.stats.downloads++;
      let probed: MediaInfo;
      const metrics = this.channels.telemetry.metrics;
      const started = performance.now();
      try {
        const fetchVideo = () => get(sources.video, video, limits);
        const tracing = this.channels.telemetry.tracing;
        await (tracing ? tracing.upstream({ channel: r.def.id, provider: r.def.type, purpose: 'download', method: 'GET' }, fetchVideo) : fetchVideo());
        metrics?.upstreamRequest(r.def.id, r.def.type, 'download', 'ok', performance.now() - started);
        probed = await probeVideo(video, { signal: ctx.signal });
        if (probed.width <= 0 || probed.height <= 0 || probed.durationSeconds <= 0) throw new InvalidVideo('it has no picture or no duration');
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        // Our own tool could not start: the gateway's problem, not the upstream's video (the step is retried).
        if (err instanceof MediaToolUnavailable) throw err;
        r.stats.downloadFailures++;
        if (!(err instanceof InvalidVideo) && err instanceof DownloadError) metrics?.upstreamRequest(r.def.id, r.def.type, 'download', err.kind, performance.now() - started);
        return this.fetchFailed(task, r, st, err, sources.expiresAtMs, now);
      }
      const out: FetchOutcome = { ok: true, video, probed, ...(sources.expiresAtMs !== undefined ? { validUntil: sources.expiresAtMs } : {}) };
      if (st.last.deliveredSeconds !== undefined && st.last.deliveredSeconds > 0) out.reportedSeconds = st.last.deliveredSeconds;
      // Stills from the upstream when it has them; made locally otherwise (or when they are not images).
      const still = async (src: ResultSource | undefined, name: string): Promise<string | undefined> => {
        if (!src) return undefined;
        const file = path.join(ctx.workDir, name);
        try {
          await get(src, file, { ...limits, maxBytes: 20 * 1024 * 1024, attempts: 1 });
          const meta = await sharp(file).metadata();
          if (!meta.width || !meta.height) throw new Error('not an image');
          return file;
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          await rm(file, { force: true });
          return undefined;
        }
      };
      const thumbnail = await still(sources.thumbnail, 'upstream-thumbnail');
      const spritesheet = await still(sources.spritesheet, 'upstream-spritesheet');
      if (thumbnail && spritesheet) {
        out.thumbnail = thumbnail;
        out.spritesheet = spritesheet;
      }
      return out;
    } finally {
      this.downloads.release();
    }
  }

  // ================================================================ cancel

  /** The task was cancelled or deleted: cancel its upstream job where the protocol can (best effort). */
  async cancel(task: Task): Promise<void> {
    const r = task.provider ? this.channels.get(task.provider) : undefined;
    if (!r?.adapter.cancel || !task.upstreamId) return;
    try {
      await r.adapter.cancel(task.upstreamId, r.http);
      this.log.info({ task: task.id, channel: r.def.id }, 'upstream job cancelled');
    } catch (err) {
      const reason = err instanceof UpstreamError ? this.reason(r, err) : trimReason(scrub((err as Error).message, r.secrets));
      this.log.info({ task: task.id, channel: r.def.id, reason }, 'the upstream job could not be cancelled');
    }
  }

  private fetchFailed(task: Task, r: ChannelRuntime, st: ChannelState, err: unknown, expiresAtMs: number | undefined, now: number): { ok: false; failure: TaskFailure } {
    const attempts = (st.fetchAttempts ?? 0) + 1;
    const message = trimReason(withoutPaths(scrub(err instanceof Error ? err.message : String(err), r.secrets)));
    this.channels.noteError(r, `download: ${message}`);
    this.log.warn({ task: task.id, channel: r.def.id, attempts, reason: message }, 'result download failed');
    if (err instanceof DownloadError) {
      if (err.kind === 'too_large') return { ok: false, failure: { code: CODES.tooLarge, message: `The upstream's video is too large to keep: ${message}.` } };
      if (err.kind === 'refused') return { ok: false, failure: { code: CODES.downloadFailed, message: `The upstream's video could not be fetched: ${message}.` } };
      if (err.kind === 'gone' && expiresAtMs !== undefined && now >= expiresAtMs) {
        return { ok: false, failure: { code: CODES.resultExpired, message: 'The upstream deleted the video before the gateway could copy it (its link expired).' } };
      }
    }
    if (attempts >= this.opts.downloadAttempts) {
      const code = err instanceof InvalidVideo || !(err instanceof DownloadError) ? CODES.invalidResult : CODES.downloadFailed;
      const what = code === CODES.invalidResult ? 'is not a playable video' : 'could not be downloaded';
      return { ok: false, failure: { code, message: `The upstream's video ${what} after ${attempts} attempts (${message}).` } };
    }
    const wait = err instanceof DownloadError && err.retryAfterMs ? err.retryAfterMs : this.backoff(attempts);
    throw new RetryLater(`download failed (${message})`, wait + this.jitter(500), { state: withState(task, { ...st, fetchAttempts: attempts }) });
  }
}

/** A failure that may pass: the provider could not be reached, timed out, was busy or erred. */
function transient(err: UpstreamError): boolean {
  if (err.kind === 'unreachable' || err.kind === 'unknown-outcome') return true;
  const s = err.detail.status ?? 0;
  return err.kind === 'http' && (s === 408 || s === 429 || s >= 500);
}

class InvalidVideo extends Error {
  constructor(why: string) {
    super(`the file is not a playable video: ${why}`);
  }
}

/** An accepted job keeps its place among the channel's jobs until the outcome is recorded; otherwise the place is freed now. */
function holding(out: SubmitOutcome, place: () => void): SubmitOutcome {
  if (out.ok) return { ...out, recorded: place };
  place();
  return out;
}
