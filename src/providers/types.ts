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
  /**
   * A stored blob of the task (reference image, other media inputs): its bytes, or undefined
   * when it is gone. A failure of the gateway's storage throws (the step is retried later).
   */
  readBlob(key: string): Promise<Buffer | undefined>;
  /**
   * A stored blob as a local file, for tools that need a path: the file itself on local storage,
   * a copy inside workDir when storage is a bucket (so only from fetch()). Undefined when gone.
   */
  blobFile(key: string): Promise<string | undefined>;
  /** The stored video of another task (remix source) as a local file, like blobFile; undefined when gone. */
  sourceVideo(taskId: string): Promise<string | undefined>;
  /**
   * Persist provider state (and the serving provider) now, keeping the lease: for decisions that
   * must be durable before a side effect (e.g. "about to submit to channel X"). False when the
   * lease was lost, in which case the caller must not go on.
   */
  checkpoint(patch: { provider?: string; providerState: Record<string, unknown> }): Promise<boolean>;
}

export type SubmitOutcome =
  | {
      ok: true;
      upstreamId: string | null;
      state?: Record<string, unknown>;
      nextCheckInMs: number;
      provider?: string;
      /** Called once the outcome is recorded (the task waits on its job in the database): the provider's hold on a job slot ends. */
      recorded?: () => void;
    }
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
  /**
   * When the upstream stops serving this result (ms). While the gateway's own storage fails, the
   * worker keeps trying until then (and fails with `storage_unavailable` after). Unset: the
   * result can be fetched again at any time (storage trouble is then waited out for up to a day).
   */
  validUntil?: number;
  /** Seconds of video the upstream reports it delivered: billing settles on them instead of the probe. */
  reportedSeconds?: number;
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

/**
 * Credentials of a channel, opened from their sealed form only in memory. Besides the one API key
 * and extra headers every adapter may use, an adapter declares the fields it takes
 * (`AdapterDefinition.credentials`, e.g. Kling's `access_key` / `secret_key`, Vertex's
 * `service_account`); their values are in `fields`, by name.
 */
export interface ChannelCredentials {
  apiKey?: string;
  /** Extra headers (OpenAI-Organization, …); treated as secrets too. */
  headers?: Record<string, string>;
  /** The adapter's declared credential fields, by name. */
  fields?: Record<string, string>;
}

/** A credential an adapter takes besides `api_key`. */
export interface CredentialField {
  /** snake_case, e.g. `secret_key`. The config file also takes `<name>_env` and `<name>_file`. */
  name: string;
  description: string;
}

/** A token minted by an adapter (a signed JWT, an OAuth access token) and when it stops working. */
export interface MintedToken {
  token: string;
  expiresAtMs: number;
}

/**
 * The channel's token cache (channels/tokens.ts). A token is minted once however many requests
 * wait for it, kept until shortly before it expires (a tenth of its life, between 30 s and 5 min),
 * and dropped when the upstream answers 401. Times are wall-clock (tokens are checked by the
 * upstream's clock, not the gateway's).
 */
export interface TokenCache {
  get(key: string, mint: () => Promise<MintedToken>): Promise<string>;
}

export interface AuthContext {
  credentials: ChannelCredentials;
  tokens: TokenCache;
  /** The channel's client, for token exchanges (`auth: false`, usually an absolute `trusted` URL). */
  http: UpstreamHttp;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path appended to the channel's base URL, e.g. `/videos/abc`. Either this or `url`. */
  path?: string;
  /**
   * An absolute URL. The channel's credentials go only to the channel's own origin; another origin
   * is reached without them, under the outbound address policy — unless `trusted` (a URL from the
   * operator's configuration, e.g. an OAuth token endpoint), then directly.
   */
  url?: string;
  trusted?: boolean;
  query?: Record<string, string>;
  json?: unknown;
  /** A multipart/form-data body (encoded by the channel's client, with a Content-Length). */
  form?: FormPart[];
  /** An application/x-www-form-urlencoded body (OAuth token exchanges). */
  urlencoded?: Record<string, string>;
  headers?: Record<string, string>;
  /** `false`: send no credentials (token exchanges, pre-signed upload URLs). */
  auth?: false;
  /** Largest answer accepted (default 4 MiB; raise it for protocols that inline results). */
  maxBytes?: number;
  /** Abandons the request (a listener's long poll when its channel goes away). */
  signal?: AbortSignal;
  /**
   * The adapter's reading of a non-2xx JSON answer, for envelopes that carry more than a code and
   * a message (ComfyUI's per-node `node_errors`): what it returns overrides the generic parse.
   * The body is only seen here, never kept.
   */
  readError?(body: unknown, status: number): Partial<Pick<UpstreamErrorDetail, 'code' | 'type' | 'param' | 'kind' | 'upstreamMessage'>> | undefined;
  /**
   * - `submit`: the request that creates the job: a longer timeout, a fresh connection, and a
   *   transport failure after sending is "outcome unknown";
   * - `upload`: an input sent before the submit (an image upload): long timeout, and any failure
   *   certainly created no job;
   * - `status` / `probe`: short timeouts, pooled connections.
   */
  purpose: 'submit' | 'upload' | 'status' | 'probe';
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

/**
 * What a refusal or a failed job is about, as the adapter reads its provider's codes. It decides
 * the stable code the caller sees (channels/errors.ts) and what routing does: `auth` and `quota`
 * take the channel out of rotation, `rate_limit` pauses it, `invalid` and `moderation` fail the
 * task with the provider's reason.
 */
export type FailureKind = 'moderation' | 'invalid' | 'quota' | 'auth' | 'rate_limit' | 'timeout' | 'internal';

export interface UpstreamErrorDetail {
  status?: number;
  code?: string;
  type?: string;
  param?: string;
  /** The adapter's reading of the provider's code, when it has one. */
  kind?: FailureKind;
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

/** One status observation, normalised. JSON-serialisable (it is kept in the task's provider state): never put result bytes here. */
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
  error?: { code?: string; message?: string; type?: string; kind?: FailureKind };
  /** A result URL given in the status body (apimart, older apigo). */
  resultUrl?: string;
  resultExpiresAtMs?: number;
  /** Seconds of video the provider says it delivered: billing settles on it instead of the probe. */
  deliveredSeconds?: number;
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
  /**
   * A per-task URL on the gateway for the provider to call when the job changes (only for
   * adapters with `callback`, and only when the gateway has a public URL).
   */
  callbackUrl?: string;
}

export interface UpstreamAccepted {
  upstreamId: string;
  status?: UpstreamStatus;
}

/**
 * Where one result file is:
 * - a URL: fetched with the channel's credentials on the channel's own origin, without them
 *   elsewhere (redirects are followed, hop by hop under the outbound address policy);
 * - `{ url, credentials: true }`: a URL on another origin that needs the channel's credentials too
 *   (an object store the adapter addresses with the same token); redirects away from it drop them;
 * - `{ data }`: bytes the provider returned inline.
 */
export type ResultSource = string | { url: string; credentials: true } | { data: Buffer };

export interface ResultSources {
  video: ResultSource;
  thumbnail?: ResultSource;
  spritesheet?: ResultSource;
  /** When the upstream stops serving them (ms). */
  expiresAtMs?: number;
}

/** What arrived at a task's callback URL. */
export interface UpstreamCallback {
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The body exactly as received (signatures are computed over these bytes). */
  body: Buffer;
  /** The callback URL as the provider was given it (for signatures that cover the URL, e.g. Vidu's). */
  url?: string;
}

export interface CallbackContext {
  credentials: ChannelCredentials;
  /** The task's upstream id, or null while the submit's answer is not recorded yet. */
  upstreamId: string | null;
  /** Wall-clock ms (signature timestamps). */
  nowMs: number;
  /** The channel's client, e.g. to fetch published verification keys (a JWKS) or a signing secret. */
  http: UpstreamHttp;
  /** The channel's cache, e.g. for those keys (`{ token: JSON text, expiresAtMs }`). */
  tokens: TokenCache;
}

/**
 * An authentic callback, read. The gateway only takes it as a reason to check the job now (the
 * check asks the provider); it never completes a task from a callback body alone.
 */
export interface CallbackVerdict {
  /** Whose job it speaks of: this task's, another's (then it is refused), or it does not say. */
  job: 'this' | 'other' | 'unknown';
  /** The state it reports, if any: a non-final one spares the check. */
  state?: UpstreamState;
  /** An answer the protocol expects (MiniMax echoes a challenge); default 200 `{"ok":true}`. */
  reply?: { status: number; body: unknown };
}

/** Thrown by `callback` when what arrived is not authentic (bad or missing signature). */
export class CallbackRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CallbackRejected';
  }
}

/** What a long-lived listener (`listen`) gets: it runs while the channel is loaded. */
export interface ListenContext {
  http: UpstreamHttp;
  /** The channel's authentication headers (tokens renewed as needed). */
  auth(): Promise<Record<string, string>>;
  /** Aborted when the channel is changed, removed or the gateway stops. */
  signal: AbortSignal;
  /** A job may have changed: check it now (as a callback would). */
  poke(upstreamId: string): void;
}

export interface UpstreamAdapter {
  readonly type: string;
  /** Resending a submit with the same idempotency key cannot create a second job. */
  readonly idempotentSubmit: boolean;
  readonly supportsRemix: boolean;
  /**
   * Headers that authenticate a request to this upstream: an API key, or a token minted or
   * exchanged through `ctx.tokens` (cached per channel). Called before every request.
   */
  auth(ctx: AuthContext): Promise<Record<string, string>> | Record<string, string>;
  /**
   * Create-time refusal: what this upstream model cannot do with this request (a 400 to the
   * client naming `param`, before any hold; failover skips channels that refuse). Null = fine.
   */
  refuse?(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null;
  submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted>;
  /**
   * Look up a submit whose outcome is unknown (sent at `sentAtMs`, no answer): the job it made,
   * or null when there is none (yet). Only where the protocol can find a job by something we sent
   * (an external id, or the prompt and parameters with the creation time); a match must be
   * unambiguous enough to bill for. `taken` says whether another task already follows an
   * upstream id (such a job is never adopted twice). Throws UpstreamError when it cannot look
   * (an HTTP 4xx: the server does not list jobs; anything else: try again later).
   */
  find?(job: UpstreamSubmit, http: UpstreamHttp, sentAtMs: number, taken?: (upstreamId: string) => Promise<boolean>): Promise<UpstreamAccepted | null>;
  status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus>;
  /** Where the files of a succeeded job are (may ask the provider again, e.g. for inline bytes). */
  results(upstreamId: string, last: UpstreamStatus, http: UpstreamHttp): ResultSources | Promise<ResultSources>;
  /** Cancel an unfinished job (on DELETE / cancel of its task); best effort, errors are logged. */
  cancel?(upstreamId: string, http: UpstreamHttp): Promise<void>;
  /**
   * The protocol takes a per-task callback URL (`job.callbackUrl`). Authenticate what arrived
   * (signature, or the unguessable URL alone where the protocol signs nothing) and read it;
   * throw CallbackRejected when it is not authentic.
   */
  callback?(req: UpstreamCallback, ctx: CallbackContext): CallbackVerdict | Promise<CallbackVerdict>;
  /** A long-lived subscription per channel (ComfyUI's websocket), restarted with backoff when it ends. */
  listen?(ctx: ListenContext): Promise<void>;
  /** A cheap authenticated call proving the channel is reachable and the key works. */
  probe(http: UpstreamHttp): Promise<void>;
}

/** What an adapter folder exports: its type name, its option schema, its credentials and a factory. */
export interface AdapterDefinition<O = unknown> {
  type: string;
  description: string;
  /** Adapter-specific `options` of a channel (validated on create and on config load). */
  options: z.ZodType<O>;
  /** Credentials it takes besides `api_key` (and `headers`). */
  credentials?: readonly CredentialField[];
  /** Which combinations of credentials work: an error sentence, or null. Checked on create, update and config load. */
  checkCredentials?(c: ChannelCredentials): string | null;
  /** The base URL of a channel that names none, from its options (a region); undefined: `base_url` is required. */
  baseUrl?(options: O): string | undefined;
  create(options: O): UpstreamAdapter;
}
