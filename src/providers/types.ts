import type { z } from 'zod';
import type { TaskFailure } from '../core/errors.js';
import type { Task } from '../core/task.js';
import type { MediaInfo } from '../media/probe.js';
import type { MediaInput, VideoRequest } from '../core/video-request.js';

/**
 * What the worker drives. The worker calls submit once, check until the job is done, then fetch
 * to get the files; it persists each outcome before the next call, so a provider keeps whatever
 * it needs between calls in `state` (it comes back as task.providerState).
 *
 * Two providers implement it: the built-in sandbox (providers/sandbox/) and the channel provider
 * (channels/provider.ts), which serves every upstream channel through an UpstreamAdapter (below).
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
  /**
   * Persist provider state (and the serving provider) now, keeping the lease: for decisions that
   * must be durable before a side effect (e.g. "about to submit to channel X"). False when the
   * lease was lost, in which case the caller must not go on.
   */
  checkpoint(patch: { provider?: string; providerState: Record<string, unknown> }): boolean;
}

export type SubmitOutcome =
  | { ok: true; upstreamId: string | null; state?: Record<string, unknown>; nextCheckInMs: number; provider?: string }
  | { ok: false; failure: TaskFailure };

export type CheckOutcome =
  | { state: 'queued' | 'in_progress'; progress?: number; nextCheckInMs: number; providerState?: Record<string, unknown> }
  | { state: 'succeeded'; providerState?: Record<string, unknown> }
  | { state: 'failed'; failure: TaskFailure; providerState?: Record<string, unknown> };

export interface FetchOutcome {
  ok: true;
  /** Paths inside ctx.workDir. Stills are derived locally when missing. */
  video: string;
  thumbnail?: string;
  spritesheet?: string;
  /** The video as already probed by the provider (saves a second probe). */
  probed?: MediaInfo;
}

/**
 * Thrown by a provider when a step should be tried again later (network error, 429, 5xx, a busy
 * channel). `state` is merged into the task's provider state; `quiet` keeps routine deferrals
 * (a saturated channel) out of the info log.
 */
export class RetryLater extends Error {
  constructor(
    message: string,
    readonly afterMs?: number,
    readonly opts: { state?: Record<string, unknown>; quiet?: boolean } = {},
  ) {
    super(message);
    this.name = 'RetryLater';
  }
}

// ---------------------------------------------------------------------------------------------
// Upstream adapters: one folder each under providers/, registered in providers/index.ts.
//
// An adapter only translates between the canonical task and one wire protocol. Everything
// around it — routing and failover, circuit breakers, rate and concurrency limits, the polling
// schedule, deadlines, downloads into blob storage, error trimming and redaction — lives once in
// channels/, so a new adapter is a single folder that implements this interface.
// ---------------------------------------------------------------------------------------------

/** Credentials of a channel, opened from their sealed form only in memory. */
export interface ChannelCredentials {
  apiKey?: string;
  /** Extra headers (OpenAI-Organization, …); treated as secrets too. */
  headers?: Record<string, string>;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path appended to the channel's base URL, e.g. `/videos/abc`. */
  path: string;
  query?: Record<string, string>;
  json?: unknown;
  /** A multipart/form-data body (encoded by the channel's client, with a Content-Length). */
  form?: FormPart[];
  headers?: Record<string, string>;
  /**
   * submit: a longer timeout, a fresh connection, and transport failures after sending are
   * "outcome unknown"; status / probe / content: short timeouts, pooled connections.
   */
  purpose: 'submit' | 'status' | 'probe';
}

export type FormPart = { name: string; value: string } | { name: string; filename: string; contentType: string; data: Buffer };

export interface UpstreamResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** Parsed JSON body. */
  body: unknown;
}

/** The channel-bound HTTP client an adapter gets: auth, timeouts and error classification included. */
export interface UpstreamHttp {
  /** Channel base URL without a trailing slash. */
  readonly baseUrl: string;
  /** Throws UpstreamError for anything but a 2xx JSON answer. */
  send(req: UpstreamRequest): Promise<UpstreamResponse>;
}

/**
 * How an upstream call went wrong:
 * - `unreachable`: the request certainly did not reach the provider (refused, DNS, TLS, connect timeout);
 * - `unknown-outcome`: it was sent but no answer came (timeout, reset) — it may have been acted on;
 * - `http`: the provider answered with a non-2xx status (`status`, parsed `code` / `message`);
 * - `malformed`: a 2xx whose body is not what the protocol promises.
 */
export type UpstreamErrorKind = 'unreachable' | 'unknown-outcome' | 'http' | 'malformed';

export interface UpstreamErrorDetail {
  status?: number;
  code?: string;
  type?: string;
  param?: string;
  /** The provider's own reason (already parsed out of its envelope; trimmed and redacted later). */
  upstreamMessage?: string;
  /** From Retry-After / retry-after-ms. */
  retryAfterMs?: number;
}

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    readonly detail: UpstreamErrorDetail = {},
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/** Normalised upstream job states (every upstream word maps onto one of these; see upstreams.md §14). */
export type UpstreamState = 'waiting' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'expired';

/** One status observation, normalised. JSON-serialisable (it is kept in the task's provider state). */
export interface UpstreamStatus {
  state: UpstreamState;
  /** The upstream's own status word. */
  raw: string;
  /** The word was not in the adapter's table (it is then treated as `waiting`). */
  unrecognised?: boolean;
  /** 0–100. */
  progress?: number;
  /** Upstream estimate of the job's total time from creation, in seconds. */
  estimatedSeconds?: number;
  createdAtMs?: number;
  completedAtMs?: number;
  error?: { code?: string; message?: string; type?: string };
  /** A result URL given in the status body (apimart, older apigo). */
  resultUrl?: string;
  resultExpiresAtMs?: number;
  /** Upstream's reported cost of the job (informational). */
  cost?: number;
  /** Upstream's hint for the next poll (openai-poll-after-ms). */
  pollAfterMs?: number;
}

/** A media input loaded for an upstream: its bytes, and a link to our copy when one can be given. */
export interface UpstreamMedia extends MediaInput {
  data: Buffer;
  /** A signed, expiring link to the gateway's copy (only when VIDGATE_PUBLIC_URL is set). */
  publicUrl?: string;
}

/** A create request in upstream terms (the channel already mapped the public model). */
export interface UpstreamSubmit {
  taskId: string;
  /** Upstream model name. */
  model: string;
  /** The canonical request, with its media loaded. */
  request: VideoRequest<UpstreamMedia>;
  /** Upstream id of the source video on this channel (remix). */
  remixOf?: string;
  /** Stable for this task on this channel: safe to resend where the protocol honours it. */
  idempotencyKey: string;
}

export interface UpstreamAccepted {
  upstreamId: string;
  status?: UpstreamStatus;
}

/** Where the result files are: absolute URLs. Credentials are only ever sent to the channel's own origin. */
export interface ResultSources {
  video: string;
  thumbnail?: string;
  spritesheet?: string;
  /** When the upstream stops serving them (ms). */
  expiresAtMs?: number;
}

export interface UpstreamAdapter {
  readonly type: string;
  /** Resending a submit with the same idempotency key cannot create a second job. */
  readonly idempotentSubmit: boolean;
  readonly supportsRemix: boolean;
  /** Headers that authenticate a request to this upstream. */
  authHeaders(credentials: ChannelCredentials): Record<string, string>;
  submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted>;
  status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus>;
  results(upstreamId: string, last: UpstreamStatus, http: UpstreamHttp): ResultSources;
  /** A cheap authenticated call proving the channel is reachable and the key works. */
  probe(http: UpstreamHttp): Promise<void>;
}

/** What an adapter folder exports: its type name, its option schema and a factory. */
export interface AdapterDefinition<O = unknown> {
  type: string;
  description: string;
  /** Adapter-specific `options` of a channel (validated on create and on config load). */
  options: z.ZodType<O>;
  create(options: O): UpstreamAdapter;
}
