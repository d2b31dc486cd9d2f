/**
 * Fake apimart task API upstream (test fixture, never product code).
 *
 * - `POST /v1/videos/generations` (JSON, Bearer) answers, depending on `submitFormat`:
 *   - `legacy` (default): `{"code":200,"data":[{"status":"submitted","task_id":"task_01…"}]}`;
 *   - `versioned` (default when `X-APIMart-Response-Version: 2026-07-27` is sent):
 *     `{"code":200,"data":{"id":"task_…","object":"generation.task","status":"pending"}}` plus the
 *     `x-apimart-response-version` response header;
 *   - `object` (older docs): `data:{id, object:"video.generation.task", model, status:"pending",
 *     progress:0, created, task_info:{can_cancel, estimated_time}, type:"video"}`.
 * - `Idempotency-Key` (1–191 visible ASCII, else 400): the same key and body returns the same task
 *   with `idempotency-replayed: true` and counts no submission (`fake.replays` counts them); the
 *   same key with a different body → **422** `idempotency_key_reused`; the same key while the first
 *   request is still being answered → **409** `idempotency_key_in_use` (the IETF
 *   Idempotency-Key draft's codes; apimart documents neither). Keys are scoped per API key and
 *   remembered for `idempotencyTtlMs` of upstream time. A submit whose connection was reset after
 *   the task was created (`fault.reset({ after: true })`) is replayed by a retry with the same key.
 * - `GET /v1/tasks/{id}?language=` → `{"code":200,"data":{…}}` with keys sorted alphabetically
 *   (as in the captured responses): `pending` → `processing` (rising `progress`,
 *   `estimated_time`) → `completed` (`actual_time`, `completed`, `result.videos[].url` as an array —
 *   or a string with `urlFormat: 'string'` —, `expires_at`, `cost` when configured) / `failed`
 *   (`error:{code,message,type}`) / `cancelled`.
 * - Result URLs live on `fake.cdn` (another port = another origin) and answer 403 (or 404) after
 *   `expires_at`; `fake.cdn.leaks()` lists CDN requests that carried credentials.
 * - HTTP errors: `{"error":{"message","type","code","param"}}`.
 *
 * `APIMART_CAPTURE` reproduces the captured sora-2 response pair of `apimart-apigo.md` §3.3 byte
 * for byte through the normal renderer (`fixtures/apimart-capture-*.json`).
 *
 * @example
 * const fake = await startApimartFake({ apiKey: 'sk-test', timeScale: 120,
 *   script: { queuedPolls: 1, runMs: 300_000, estimatedTime: 600, resultTtlMs: 86_400_000 } });
 * // POST `${fake.url}/v1/videos/generations` with Idempotency-Key …
 * fake.submissionCount;                  // 1, even after replays
 * fake.job(taskId).completedAtWall;      // exact real time it became observable as completed
 * expect(fake.cdn.leaks()).toEqual([]);  // the API key never reached the CDN
 */
import { readFileSync } from 'node:fs';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply, textReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { JobFailure, Observation, ScriptedJob, ScriptSelector } from './script.js';
import { isRecord, randomUuid, stableStringify, ulid } from './util.js';

export type ApimartSubmitFormat = 'legacy' | 'object' | 'versioned';

export interface ApimartFakeOptions extends CommonFakeOptions {
  /** `'auto'` (default): versioned when `X-APIMart-Response-Version: 2026-07-27` is sent, else legacy. */
  submitFormat?: 'auto' | ApimartSubmitFormat;
  /** `result.videos[].url` as an array (default) or a plain string. */
  urlFormat?: 'array' | 'string';
  /** Result URL lifetime after completion, upstream ms (default 72 h, the current contract; the capture shows 24 h). */
  resultTtlMs?: number;
  /** Report `cost = duration × costPerSecond` on completion (absent by default, as in the capture). */
  costPerSecond?: number;
  /** Allowed models and durations; unknown models → 400. Default: any model, any positive integer duration. */
  models?: Record<string, { durations?: readonly number[] }>;
  /** How long idempotency keys are remembered, upstream ms (default 24 h). */
  idempotencyTtlMs?: number;
  /** `ulid` (default): `task_01K…`; `unified`: older `task-unified-<unix>-<8 chars>`. */
  taskIdStyle?: 'ulid' | 'unified';
  /** Overrides task id generation. */
  taskId?: (ctx: { index: number; now: number }) => string;
  /** Overrides the result URL (then nothing is published on the fake CDN). */
  resultUrl?: (job: ScriptedJob) => string;
}

export const APIMART_RESPONSE_VERSION = '2026-07-27';

interface IdempotencyEntry {
  fingerprint: string;
  taskId: string;
  state: 'in-flight' | 'done';
  at: number;
}

/** Per-task request parameters. */
export interface ApimartJobParams {
  duration: number | undefined;
  aspectRatio: string | undefined;
  idempotencyKey: string | undefined;
  resultUrl: string;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const HOUR = 3_600_000;
const KEY_RE = /^[!-~]{1,191}$/;

export class ApimartFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, ApimartJobParams>();
  /** Idempotent replays answered (not counted as submissions). */
  replays = 0;
  private readonly opts: ApimartFakeOptions;
  private readonly idem = new Map<string, IdempotencyEntry>();

  constructor(opts: ApimartFakeOptions = {}) {
    const defaultScript: ScriptSelector = { queuedMs: 1_000, runMs: 5_000 };
    super(opts, defaultScript);
    this.opts = opts;
    this.server = new FakeServer({
      name: 'apimart',
      faults: this.faults,
      rng: this.streamRng(0x1a7),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.maxRecordedRequests === undefined ? {} : { maxRecordedRequests: opts.maxRecordedRequests }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
  }

  /** Base URL for an adapter (the origin; paths start with `/v1`). */
  get baseURL(): string {
    return this.url;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  /** The task `data` object as a status call would show it now, without counting a call. */
  render(id: string): Record<string, unknown> {
    const job = this.job(id);
    return this.renderTask(job, job.peek());
  }

  // ---------------------------------------------------------------- routing

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/v1/videos/generations' && method === 'POST') return { route: 'submit' };
    const m = /^\/v1\/tasks\/([^/]+)\/?$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: decodeURIComponent(m[1] as string) };
    return { route: 'unknown' };
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new ApiError(404, `Invalid URL (${req.method} ${req.path})`, 'invalid_request_error', 'not_found');
      this.authenticate(req);
      return req.route === 'submit' ? this.submit(req) : this.status(req);
    } catch (err) {
      if (err instanceof ApiError) return this.errorReply(err);
      throw err;
    }
  }

  private errorReply(e: ApiError): Reply {
    return jsonReply(e.status, { error: { message: e.message, type: e.type, code: e.code, param: e.param } }, e.headers);
  }

  private faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply {
    if (action.type === 'notFound') return this.errorReply(this.taskNotFound(req.jobId ?? ''));
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = action.retryAfter instanceof Date ? action.retryAfter.toUTCString() : String(action.retryAfter);
    if (action.retryAfterMs !== undefined) headers['retry-after-ms'] = String(action.retryAfterMs);
    if (action.body !== undefined) {
      return typeof action.body === 'string'
        ? textReply(action.status, action.body, action.contentType ?? 'application/json', headers)
        : jsonReply(action.status, action.body, headers);
    }
    const d = defaultError(action.status);
    return jsonReply(
      action.status,
      {
        error: {
          message: action.message ?? d.message,
          type: action.errorType ?? d.type,
          code: action.code === undefined ? d.code : action.code,
          param: action.param === undefined ? null : action.param,
        },
      },
      headers,
    );
  }

  private taskNotFound(id: string): ApiError {
    return new ApiError(404, `Task not found: ${id}`, 'invalid_request_error', 'task_not_found', 'task_id');
  }

  private authenticate(req: RecordedRequest): void {
    const key = this.bearer(req);
    if (key === undefined) throw new ApiError(401, 'Missing API key. Send it as "Authorization: Bearer <key>".', 'authentication_error', 'missing_api_key');
    if (!this.isValidKey(key)) throw new ApiError(401, 'Invalid API key.', 'authentication_error', 'invalid_api_key');
  }

  // ---------------------------------------------------------------- submit

  private submit(req: RecordedRequest): Reply {
    const rawKey = req.headers['idempotency-key'];
    const key = typeof rawKey === 'string' ? rawKey : undefined;
    if (key !== undefined && !KEY_RE.test(key)) {
      throw new ApiError(400, 'Idempotency-Key must contain 1-191 visible ASCII characters without spaces.', 'invalid_request_error', 'invalid_idempotency_key', 'Idempotency-Key');
    }
    if (req.bodyKind === 'invalid-json') throw new ApiError(400, 'Request body is not valid JSON.', 'invalid_request_error', 'invalid_json');
    if (req.bodyKind !== 'json' && req.bodyKind !== 'none') {
      throw new ApiError(400, `Unsupported Content-Type '${req.contentType ?? ''}'; send application/json.`, 'invalid_request_error', 'unsupported_content_type');
    }
    if (req.bodyKind === 'json' && !isRecord(req.json)) throw new ApiError(400, 'Request body must be a JSON object.', 'invalid_request_error', 'invalid_request');
    const body = isRecord(req.json) ? req.json : {};
    const format = this.formatFor(req);

    const now = this.clock.now();
    const scope = `${this.bearer(req) ?? ''}\u0000${key ?? ''}`;
    const fingerprint = stableStringify(body);
    if (key !== undefined) {
      const entry = this.idem.get(scope);
      if (entry && now - entry.at > (this.opts.idempotencyTtlMs ?? 24 * HOUR)) this.idem.delete(scope);
      else if (entry) {
        if (entry.fingerprint !== fingerprint) {
          throw new ApiError(422, 'Idempotency-Key has already been used with a different request body.', 'invalid_request_error', 'idempotency_key_reused', 'Idempotency-Key');
        }
        if (entry.state === 'in-flight') {
          throw new ApiError(409, 'A request with this Idempotency-Key is still being processed.', 'invalid_request_error', 'idempotency_key_in_use', 'Idempotency-Key', { 'retry-after': '1' });
        }
        const job = this.jobs.get(entry.taskId);
        if (job) {
          this.replays++;
          return this.submitReply(job, format, { 'idempotency-replayed': 'true' });
        }
      }
    }

    const { model, prompt, duration, aspectRatio } = this.validate(body);
    const index = this.jobs.size;
    const id =
      this.opts.taskId?.({ index, now }) ??
      (this.opts.taskIdStyle === 'unified' ? `task-unified-${Math.floor(now / 1000)}-${randomAlnum(this.rng, 8)}` : `task_${ulid(now, this.rng)}`);
    if (this.jobs.has(id)) throw new Error(`apimart fake: duplicate task id ${id}`);
    const job = this.createJob(req, { id, kind: 'create', model, prompt, body }, this.opts.resultTtlMs ?? 72 * HOUR);
    let resultUrl: string;
    if (this.opts.resultUrl) resultUrl = this.opts.resultUrl(job);
    else {
      const digits = Array.from({ length: 16 }, () => Math.floor(this.rng() * 10)).join('');
      resultUrl = this.cdn.publish({
        path: `/f/video/${digits}-${randomUuid(this.rng)}-video_${id}.mp4`,
        jobId: id,
        source: () => this.videoFor(job),
        expiresAt: () => job.resultExpiresAt,
        available: () => job.phase() === 'succeeded',
        onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
      });
    }
    this.params.set(id, { duration, aspectRatio, idempotencyKey: key, resultUrl });
    const reply = this.submitReply(job, format, {});
    if (key === undefined) return reply;
    const entry: IdempotencyEntry = { fingerprint, taskId: id, state: 'in-flight', at: now };
    this.idem.set(scope, entry);
    // The key stays "in flight" until the response has ended (sent, aborted or reset).
    return {
      ...reply,
      onSent: () => {
        entry.state = 'done';
      },
    };
  }

  private formatFor(req: RecordedRequest): ApimartSubmitFormat {
    const forced = this.opts.submitFormat ?? 'auto';
    if (forced !== 'auto') return forced;
    return req.headers['x-apimart-response-version'] === APIMART_RESPONSE_VERSION ? 'versioned' : 'legacy';
  }

  private validate(body: Record<string, unknown>): { model: string; prompt: string; duration: number | undefined; aspectRatio: string | undefined } {
    const { model, prompt, duration, aspect_ratio: aspectRatio } = body;
    if (typeof model !== 'string' || model === '') throw new ApiError(400, 'model is required and must be a string.', 'invalid_request_error', 'invalid_parameter', 'model');
    const spec = this.opts.models?.[model];
    if (this.opts.models && !spec) throw new ApiError(400, `Model '${model}' is not supported.`, 'invalid_request_error', 'model_not_found', 'model');
    if (typeof prompt !== 'string' || prompt === '') throw new ApiError(400, 'prompt is required and must be a string.', 'invalid_request_error', 'invalid_parameter', 'prompt');
    if (duration !== undefined) {
      if (typeof duration !== 'number' || !Number.isInteger(duration) || duration <= 0) {
        throw new ApiError(400, `duration must be a positive integer, got ${JSON.stringify(duration)}.`, 'invalid_request_error', 'invalid_parameter', 'duration');
      }
      if (spec?.durations && !spec.durations.includes(duration)) {
        throw new ApiError(400, `duration ${duration} is not supported by ${model}; allowed: ${spec.durations.join(', ')}.`, 'invalid_request_error', 'invalid_parameter', 'duration');
      }
    }
    if (aspectRatio !== undefined && typeof aspectRatio !== 'string') {
      throw new ApiError(400, 'aspect_ratio must be a string.', 'invalid_request_error', 'invalid_parameter', 'aspect_ratio');
    }
    return { model, prompt, duration, aspectRatio };
  }

  private submitReply(job: ScriptedJob, format: ApimartSubmitFormat, headers: Record<string, string>): Reply {
    switch (format) {
      case 'legacy':
        return jsonReply(200, { code: 200, data: [{ status: 'submitted', task_id: job.id }] }, headers);
      case 'object':
        return jsonReply(
          200,
          {
            code: 200,
            data: {
              id: job.id,
              object: 'video.generation.task',
              model: job.model,
              status: 'pending',
              progress: 0,
              created: Math.floor(job.createdAt / 1000),
              task_info: { can_cancel: true, estimated_time: job.script.estimatedTime },
              type: 'video',
            },
          },
          headers,
        );
      case 'versioned':
        return jsonReply(
          200,
          { code: 200, data: { id: job.id, object: 'generation.task', status: 'pending' } },
          { ...headers, 'x-apimart-response-version': APIMART_RESPONSE_VERSION },
        );
    }
  }

  // ---------------------------------------------------------------- status

  private status(req: RecordedRequest): Reply {
    const job = this.jobs.get(req.jobId ?? '');
    if (!job) throw this.taskNotFound(req.jobId ?? '');
    if (job.takeNotFound()) throw this.taskNotFound(job.id);
    const data = this.renderTask(job, job.observe());
    return { status: 200, contentType: 'application/json', body: `{"code":200,"data":${stableStringify(data)}}` };
  }

  private failureOf(job: ScriptedJob, phase: Observation['phase']): JobFailure | undefined {
    const f = job.script.failure;
    switch (phase) {
      case 'failed':
        return f ?? { code: 'generation_failed', message: 'Video generation failed.', type: 'server_error' };
      case 'moderated':
        return f ?? { code: 'content_policy_violation', message: 'The request was rejected by the content safety system.', type: 'invalid_request_error' };
      case 'expired':
        return f ?? { code: 'task_expired', message: 'The task expired before it could be processed.', type: 'server_error' };
      default:
        return undefined;
    }
  }

  private renderTask(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id);
    const data: Record<string, unknown> = {
      created: Math.floor(job.createdAt / 1000),
      estimated_time: job.script.estimatedTime,
      id: job.id,
      progress: obs.progress,
    };
    switch (obs.phase) {
      case 'queued':
        data.status = 'pending';
        break;
      case 'running':
        data.status = 'processing';
        break;
      case 'succeeded':
        data.status = 'completed';
        break;
      case 'cancelled':
        data.status = 'cancelled';
        break;
      default:
        data.status = 'failed';
    }
    const finished = job.finishedAt;
    if (obs.phase !== 'queued' && obs.phase !== 'running' && finished !== undefined) {
      const completed = Math.floor(finished / 1000);
      data.completed = completed;
      data.actual_time = job.script.actualSeconds ?? Math.round((finished - job.createdAt) / 1000);
      const failure = this.failureOf(job, obs.phase);
      if (failure) data.error = { code: failure.code, message: failure.message, type: failure.type ?? 'server_error' };
      if (obs.phase === 'succeeded') {
        const url = p?.resultUrl ?? '';
        const expiresAt = job.resultExpiresAt;
        data.result = {
          videos: [{ url: this.opts.urlFormat === 'string' ? url : [url], expires_at: expiresAt === undefined ? completed : Math.floor(expiresAt / 1000) }],
        };
        const cost = job.script.cost ?? (this.opts.costPerSecond === undefined ? undefined : Math.round((p?.duration ?? 4) * this.opts.costPerSecond * 10_000) / 10_000);
        if (cost !== undefined) data.cost = cost;
      }
    }
    return data;
  }
}

function defaultError(status: number): { message: string; type: string; code: string } {
  switch (status) {
    case 400:
      return { message: 'Invalid request.', type: 'invalid_request_error', code: 'invalid_request' };
    case 401:
      return { message: 'Invalid API key.', type: 'authentication_error', code: 'invalid_api_key' };
    case 402:
      return { message: 'Insufficient balance.', type: 'insufficient_quota', code: 'insufficient_balance' };
    case 403:
      return { message: 'Forbidden.', type: 'permission_error', code: 'forbidden' };
    case 404:
      return { message: 'Not found.', type: 'invalid_request_error', code: 'not_found' };
    case 408:
      return { message: 'Request timed out.', type: 'timeout_error', code: 'request_timeout' };
    case 409:
      return { message: 'Conflict.', type: 'invalid_request_error', code: 'conflict' };
    case 429:
      return { message: 'Rate limit exceeded, please retry later.', type: 'rate_limit_error', code: 'rate_limit_exceeded' };
    case 500:
      return { message: 'Internal server error.', type: 'server_error', code: 'internal_error' };
    case 502:
      return { message: 'Bad gateway: the upstream provider returned an invalid response.', type: 'upstream_error', code: 'bad_gateway' };
    case 503:
      return { message: 'Service temporarily unavailable.', type: 'server_error', code: 'service_unavailable' };
    case 504:
      return { message: 'Gateway timeout: the upstream provider did not respond in time.', type: 'upstream_error', code: 'gateway_timeout' };
    default:
      return { message: `HTTP ${status}`, type: status >= 500 ? 'server_error' : 'invalid_request_error', code: `http_${status}` };
  }
}

function randomAlnum(rng: () => number, n: number): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < n; i++) out += chars[Math.floor(rng() * chars.length)];
  return out;
}

/** Starts an apimart fake (API + CDN) on 127.0.0.1 random ports (API port fixed with `port`). */
export async function startApimartFake(opts: ApimartFakeOptions = {}): Promise<ApimartFake> {
  return new ApimartFake(opts).start();
}

const CAPTURE_URL =
  'https://upload.apimart.ai/f/video/9998234998953836-b97ab050-d420-446e-8a3b-387822f0045f-video_task_01KBS40K78KGHZ9SDBWQSGSXRK.mp4';

/**
 * The captured apimart `sora-2` pair (`apimart-apigo.md` §3.3). With `options()` the fake, frozen
 * at the capture's `created` time, answers the first status call with exactly
 * `processingBody()`; after `fake.clock.advance(advanceMs)` it answers exactly `completedBody()`.
 */
export const APIMART_CAPTURE = {
  taskId: 'task_01KBS40K78KGHZ9SDBWQSGSXRK',
  created: 1765000891,
  url: CAPTURE_URL,
  /** Upstream ms between the two captured responses' task start and completion. */
  advanceMs: 155_000,
  options(): ApimartFakeOptions {
    return {
      timeScale: 0,
      startAt: 1765000891_000,
      taskId: () => 'task_01KBS40K78KGHZ9SDBWQSGSXRK',
      resultUrl: () => CAPTURE_URL,
      script: { queuedMs: 0, runMs: 155_000, progress: { perPoll: [91] }, estimatedTime: 600, resultTtlMs: 86_400_000 },
    };
  },
  processingBody: (): string => readFileSync(new URL('./fixtures/apimart-capture-processing.json', import.meta.url), 'utf8'),
  completedBody: (): string => readFileSync(new URL('./fixtures/apimart-capture-completed.json', import.meta.url), 'utf8'),
};
