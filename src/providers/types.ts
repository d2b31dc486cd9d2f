import type { TaskFailure } from '../core/errors.js';
import type { Task } from '../core/task.js';

/**
 * What every provider implements. The worker calls submit once, check until the job is done,
 * then fetch to get the files; it persists each outcome before the next call, so a provider
 * keeps whatever it needs between calls in `state` (it comes back as task.providerState).
 */
export interface Provider {
  readonly id: string;
  submit(task: Task, ctx: StepContext): Promise<SubmitOutcome>;
  check(task: Task, ctx: StepContext): Promise<CheckOutcome>;
  /** Produce the result files inside ctx.workDir. */
  fetch(task: Task, ctx: StepContext): Promise<FetchOutcome | { ok: false; failure: TaskFailure }>;
  /** Best-effort cancellation of a job that was already submitted. */
  cancel?(task: Task): Promise<void>;
}

export interface StepContext {
  signal: AbortSignal;
  now(): number;
  /** Scratch directory for fetch(); created by the worker. */
  workDir: string;
  /** Absolute path of a stored blob (reference image, remix source video). */
  blobPath(rel: string): string;
  /** The stored video of another task (remix source), if it still exists. */
  sourceVideo(taskId: string): string | undefined;
}

export type SubmitOutcome =
  | { ok: true; upstreamId: string | null; state?: Record<string, unknown>; nextCheckInMs: number }
  | { ok: false; failure: TaskFailure };

export type CheckOutcome =
  | { state: 'queued' | 'in_progress'; progress?: number; nextCheckInMs: number; providerState?: Record<string, unknown> }
  | { state: 'succeeded'; providerState?: Record<string, unknown> }
  | { state: 'failed'; failure: TaskFailure };

export interface FetchOutcome {
  ok: true;
  /** Paths inside ctx.workDir. Stills are derived locally when missing. */
  video: string;
  thumbnail?: string;
  spritesheet?: string;
}

/** Thrown by a provider when a step should be tried again later (network error, 429, 5xx). */
export class RetryLater extends Error {
  constructor(message: string, readonly afterMs?: number) {
    super(message);
    this.name = 'RetryLater';
  }
}
