/**
 * Fake OpenAI-style `/v1/videos` upstream (test fixture, never product code), in four flavours:
 *
 * | flavor         | paths            | auth                         | waiting / running        | job error                 |
 * |----------------|------------------|------------------------------|--------------------------|---------------------------|
 * | `openai`       | `/v1/videos…`    | `Authorization: Bearer`      | `queued` / `in_progress` | `{code,message}`          |
 * | `azure`        | `/openai/v1/videos…` (+ optional `?api-version=`) | `api-key` or Bearer | `queued` / `in_progress` | `{code,message}` |
 * | `apigo`        | `/v1/videos…`    | Bearer                       | `pending` / `in_progress`| `{code,message,type}`     |
 * | `apigo-legacy` | `/v1/videos…`    | Bearer                       | `queued` / `processing`, flat `url` (CDN origin) and `quality:"standard"` | `{code,message,type}` |
 *
 * Endpoints: `POST /videos` (multipart with bracket keys, or JSON), `GET /videos` (list with
 * `after`/`limit`/`order`), `GET /videos/{id}`, `GET|HEAD /videos/{id}/content?variant=video|
 * thumbnail|spritesheet` (Range supported), `DELETE /videos/{id}`, `POST /videos/{id}/remix`.
 * Validation reproduces the documented 400s: numeric `seconds` ("Invalid type for 'seconds' …"),
 * a text part where the `input_reference` file belongs, a reference image whose dimensions differ
 * from `size` ("Inpaint image must match the requested width and height"), bad `size`/`seconds`.
 * Responses carry `x-request-id`; `pollAfterMs` adds `openai-poll-after-ms` to status responses.
 *
 * Every request is recorded (`fake.requests`, with `body` and `fieldTypes`), every accepted
 * create/remix is counted (`fake.submissions`), and each job follows a script (see `script.ts`)
 * in upstream time (see `clock.ts`). Faults: `fake.faults` (see `faults.ts`); routes `submit`,
 * `status`, `list`, `content`, `delete`, `remix`, and `cdn` for the apigo-legacy `url`.
 *
 * Unverified details (the real service is gone): the status/message of content requests before
 * completion (400 `video_not_ready`), after expiry (404 `video_expired`), unknown ids (404
 * `video_not_found`), and `expired` as a job status (OpenAI Batch; `failed` + code on apigo).
 *
 * @example
 * const fake = await startOpenAIVideosFake({ flavor: 'openai', apiKey: 'sk-test', timeScale: 60,
 *   script: { queuedPolls: 1, runMs: 30_000, progress: 'linear' } });
 * const client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.baseURL });
 * const video = await client.videos.create({ prompt: 'a cat', seconds: '4' });
 * fake.requests[0].fieldTypes.seconds;   // 'string'
 * fake.job(video.id).statusCalls;        // counted per job
 * await fake.close();
 */
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, isUploadedFile, jsonReply, rangeReply, textReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import { bufferSource, fixtures } from './payload.js';
import type { ByteSource } from './payload.js';
import type { JobFailure, Observation, ScriptedJob, ScriptSelector } from './script.js';
import { imageSize, isRecord, randomHex, randomUuid, typeWording } from './util.js';

export type OpenAIFlavor = 'openai' | 'apigo' | 'apigo-legacy' | 'azure';

export interface OpenAIVideosFakeOptions extends CommonFakeOptions {
  /** Default `'openai'`. */
  flavor?: OpenAIFlavor;
  /** Accepted `seconds` values (default `4 8 12 16 20`). */
  seconds?: readonly string[];
  /** Accepted sizes (default the six documented sizes). */
  sizes?: readonly string[];
  /** Accepted models (Azure: deployment names). Default: any string. Unknown → 400 (Azure: 404 DeploymentNotFound). */
  models?: readonly string[];
  /** Accept JSON create bodies (default true; set false to mimic a multipart-only apigo). */
  acceptJson?: boolean;
  /** Check that a reference image matches `size` (default true; unreadable images pass). */
  validateReferenceSize?: boolean;
  /** Result lifetime after completion, upstream ms (default 1 h; Azure 24 h). */
  resultTtlMs?: number;
  /** Answer 429 when this many jobs are unfinished (Azure documents 2). */
  maxConcurrentJobs?: number;
  /** `Retry-After` seconds on the concurrency 429 (default 1). */
  concurrencyRetryAfter?: number;
  /** Send `openai-poll-after-ms` on status responses. */
  pollAfterMs?: number;
  /** Content-Type of `variant=video` (default `video/mp4`; the spec also allows `application/binary`). */
  videoContentType?: 'video/mp4' | 'application/binary';
  /** apigo: emit `error:{code:"",message:"",type:""}` on unfailed jobs, like the docs example. Default false. */
  emptyErrorObject?: boolean;
}

/** The per-job parameters the fake keeps next to the script state. */
export interface OpenAIJobParams {
  seconds: string;
  size: string;
  remixedFrom: string | null;
  /** What arrived as `input_reference` (a file part, `{image_url}` or `{file_id}`). */
  inputReference: { kind: 'file'; filename: string; contentType: string; size: number; sha256: string } | { kind: 'image_url'; value: string } | { kind: 'file_id'; value: string } | undefined;
  cdnUrl: string;
}

const DEFAULT_SECONDS = ['4', '8', '12', '16', '20'] as const;
const DEFAULT_SIZES = ['720x1280', '1280x720', '1024x1792', '1792x1024', '1080x1920', '1920x1080'] as const;
const HOUR = 3_600_000;

const CF_PAGE = (status: number, title: string): string =>
  `<!DOCTYPE html>\n<html>\n<head><title>${status} ${title}</title></head>\n<body>\n<center><h1>${status} ${title}</h1></center>\n<hr><center>cloudflare</center>\n</body>\n</html>\n`;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null,
    readonly code: string | null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const oxford = (values: readonly string[], conj: 'or' | 'and'): string => {
  const q = values.map((v) => `'${v}'`);
  if (q.length <= 1) return q.join('');
  if (q.length === 2) return `${q[0]} ${conj} ${q[1]}`;
  return `${q.slice(0, -1).join(', ')}, ${conj} ${q[q.length - 1]}`;
};

export class OpenAIVideosFake extends FakeUpstreamBase {
  readonly flavor: OpenAIFlavor;
  protected readonly server: FakeServer;
  /** Per-job request parameters. */
  readonly params = new Map<string, OpenAIJobParams>();
  private readonly opts: OpenAIVideosFakeOptions;
  private readonly prefix: string;
  private readonly idRng: () => number;
  private readonly headerRng: () => number;

  constructor(opts: OpenAIVideosFakeOptions = {}) {
    const defaultScript: ScriptSelector = { queuedMs: 1_000, runMs: 5_000 };
    super(opts, defaultScript);
    this.opts = opts;
    this.flavor = opts.flavor ?? 'openai';
    this.prefix = this.flavor === 'azure' ? '/openai/v1' : '/v1';
    this.idRng = this.streamRng(0x1d);
    this.headerRng = this.streamRng(0x4e);
    this.server = new FakeServer({
      name: this.flavor,
      faults: this.faults,
      rng: this.streamRng(0x1a7),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.maxRecordedRequests === undefined ? {} : { maxRecordedRequests: opts.maxRecordedRequests }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
      commonHeaders: () => this.commonHeaders(),
    });
  }

  /** What to use as the SDK/adapter base URL: `<url>/v1`, or `<url>/openai/v1` for Azure. */
  get baseURL(): string {
    return this.url + this.prefix;
  }

  /** Start listening (called by `startOpenAIVideosFake`). */
  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  /** The video object as a status call would show it now, without counting a call. */
  render(id: string): Record<string, unknown> {
    const job = this.job(id);
    return this.renderVideo(job, job.peek());
  }

  // ---------------------------------------------------------------- routing

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    const base = `${this.prefix}/videos`;
    if (path === base || path === `${base}/`) return { route: method === 'POST' ? 'submit' : method === 'GET' ? 'list' : 'unknown' };
    if (!path.startsWith(`${base}/`)) return { route: 'unknown' };
    const rest = path.slice(base.length + 1).split('/');
    const id = decodeURIComponent(rest[0] ?? '');
    if (rest.length === 1) {
      if (method === 'GET') return { route: 'status', jobId: id };
      if (method === 'DELETE') return { route: 'delete', jobId: id };
    } else if (rest.length === 2) {
      if (rest[1] === 'content' && (method === 'GET' || method === 'HEAD')) return { route: 'content', jobId: id };
      if (rest[1] === 'remix' && method === 'POST') return { route: 'remix', jobId: id };
    }
    return { route: 'unknown', jobId: id };
  }

  private async handle(req: RecordedRequest): Promise<Reply> {
    try {
      if (req.route === 'unknown') throw this.invalidUrl(req);
      this.authenticate(req);
      switch (req.route) {
        case 'submit':
          return this.submit(req);
        case 'status':
          return this.status(req);
        case 'list':
          return this.list(req);
        case 'content':
          return this.content(req);
        case 'delete':
          return this.remove(req);
        case 'remix':
          return this.remix(req);
        default:
          throw this.invalidUrl(req);
      }
    } catch (err) {
      if (err instanceof HttpError) return this.errorReply(err);
      throw err;
    }
  }

  // ---------------------------------------------------------------- envelopes

  private commonHeaders(): Record<string, string> {
    const h: Record<string, string> = { 'x-request-id': `req_${randomHex(this.headerRng, 32)}` };
    if (this.flavor === 'azure') {
      h['apim-request-id'] = randomUuid(this.headerRng);
      h['x-ms-region'] = 'East US 2';
    }
    return h;
  }

  private errorBody(status: number, message: string, type: string, param: string | null, code: string | null): Record<string, unknown> {
    if (this.flavor === 'azure') return { error: { code: code ?? String(status), message, param, type } };
    return { error: { message, type, param, code } };
  }

  private errorReply(e: HttpError): Reply {
    return jsonReply(e.status, this.errorBody(e.status, e.message, e.type, e.param, e.code), e.headers);
  }

  private invalidUrl(req: RecordedRequest): HttpError {
    if (this.flavor === 'azure') return new HttpError(404, 'Resource not found', 'invalid_request_error', null, '404');
    return new HttpError(404, `Invalid URL (${req.method} ${req.path})`, 'invalid_request_error', null, null);
  }

  private notFound(id: string): HttpError {
    return new HttpError(404, `Video with id '${id}' not found.`, 'invalid_request_error', null, 'video_not_found');
  }

  private faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply {
    if (action.type === 'notFound') {
      return this.errorReply(req.jobId === undefined ? this.invalidUrl(req) : this.notFound(req.jobId));
    }
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = action.retryAfter instanceof Date ? action.retryAfter.toUTCString() : String(action.retryAfter);
    if (action.retryAfterMs !== undefined) headers['retry-after-ms'] = String(action.retryAfterMs);
    if (action.body !== undefined) {
      return typeof action.body === 'string'
        ? textReply(action.status, action.body, action.contentType ?? 'application/json', headers)
        : jsonReply(action.status, action.body, headers);
    }
    const s = action.status;
    const custom = action.code !== undefined || action.message !== undefined || action.errorType !== undefined;
    if (this.flavor !== 'azure' && !custom && (s === 502 || s === 504)) {
      return textReply(s, CF_PAGE(s, s === 502 ? 'Bad Gateway' : 'Gateway Time-out'), 'text/html', headers);
    }
    const d = this.defaultError(s, action.retryAfter);
    return jsonReply(
      s,
      this.errorBody(s, action.message ?? d.message, action.errorType ?? d.type, action.param === undefined ? null : action.param, action.code === undefined ? d.code : action.code),
      headers,
    );
  }

  private defaultError(status: number, retryAfter: ErrorFault['retryAfter']): { message: string; type: string; code: string | null } {
    const azure = this.flavor === 'azure';
    switch (status) {
      case 400:
        return { message: 'Bad request.', type: 'invalid_request_error', code: azure ? 'BadRequest' : null };
      case 401:
        return { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: azure ? '401' : 'invalid_api_key' };
      case 403:
        return { message: 'You are not allowed to perform this request.', type: 'invalid_request_error', code: azure ? '403' : 'permission_denied' };
      case 404:
        return { message: 'Not found.', type: 'invalid_request_error', code: azure ? '404' : null };
      case 408:
        return { message: 'Request timed out.', type: 'timeout_error', code: azure ? '408' : null };
      case 409:
        return { message: 'The request conflicted with another request.', type: 'invalid_request_error', code: azure ? '409' : null };
      case 429:
        return azure
          ? {
              message: `Requests to the Videos_Create Operation under Azure OpenAI API version v1 have exceeded call rate limit of your current AIServices S0 pricing tier. Please retry after ${typeof retryAfter === 'number' ? retryAfter : 1} second${retryAfter === 1 || retryAfter === undefined ? '' : 's'}.`,
              type: 'rate_limit_error',
              code: '429',
            }
          : { message: 'You are sending requests too quickly. Please slow down.', type: 'requests', code: 'slow_down' };
      case 500:
        return { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', code: azure ? 'InternalServerError' : null };
      case 502:
        return { message: 'Bad gateway.', type: 'server_error', code: azure ? 'BadGateway' : null };
      case 503:
        return { message: 'The server is overloaded or not ready yet.', type: 'server_error', code: azure ? 'ServiceUnavailable' : 'server_is_overloaded' };
      case 504:
        return { message: 'Gateway timeout.', type: 'server_error', code: azure ? 'GatewayTimeout' : null };
      default:
        return { message: `HTTP ${status}`, type: status >= 500 ? 'server_error' : 'invalid_request_error', code: azure ? String(status) : null };
    }
  }

  // ---------------------------------------------------------------- auth

  private authenticate(req: RecordedRequest): void {
    const bearer = this.bearer(req);
    if (this.flavor === 'azure') {
      const apiKey = req.headers['api-key'];
      const key = typeof apiKey === 'string' ? apiKey : bearer;
      if (!this.isValidKey(key)) {
        throw new HttpError(
          401,
          'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
          'invalid_request_error',
          null,
          '401',
        );
      }
      return;
    }
    if (bearer === undefined) {
      throw new HttpError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        'invalid_request_error',
        null,
        null,
      );
    }
    if (!this.isValidKey(bearer)) {
      const masked = bearer.length > 8 ? `${bearer.slice(0, 3)}${'*'.repeat(Math.min(20, bearer.length - 7))}${bearer.slice(-4)}` : bearer;
      throw new HttpError(401, `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', null, 'invalid_api_key');
    }
  }

  // ---------------------------------------------------------------- bodies

  private readBody(req: RecordedRequest): Record<string, unknown> {
    switch (req.bodyKind) {
      case 'json':
        if (this.opts.acceptJson === false) throw this.unsupportedContentType(req);
        if (!isRecord(req.json)) {
          throw new HttpError(400, `Invalid type for body: expected an object, but got ${typeWording(req.json)} instead.`, 'invalid_request_error', null, 'invalid_type');
        }
        return req.json;
      case 'multipart':
        return req.body ?? {};
      case 'invalid-json':
        throw new HttpError(
          400,
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
          'invalid_request_error',
          null,
          null,
        );
      case 'invalid-multipart':
        throw new HttpError(400, 'Could not parse multipart form data.', 'invalid_request_error', null, null);
      case 'none':
        return {};
      case 'other':
        throw this.unsupportedContentType(req);
    }
  }

  private unsupportedContentType(req: RecordedRequest): HttpError {
    const accepted = this.opts.acceptJson === false ? "'multipart/form-data'" : "'application/json' and 'multipart/form-data'";
    return new HttpError(400, `Unsupported content type: '${req.contentType ?? ''}'. This API method only accepts ${accepted} requests.`, 'invalid_request_error', null, null);
  }

  private requirePrompt(body: Record<string, unknown>): string {
    const prompt = body.prompt;
    if (prompt === undefined) throw new HttpError(400, "Missing required parameter: 'prompt'.", 'invalid_request_error', 'prompt', 'missing_required_parameter');
    if (typeof prompt !== 'string') throw new HttpError(400, `Invalid type for 'prompt': expected a string, but got ${typeWording(prompt)} instead.`, 'invalid_request_error', 'prompt', 'invalid_type');
    if (prompt.length === 0) {
      throw new HttpError(400, "Invalid 'prompt': string too short. Expected a string with minimum length 1, but got an empty string instead.", 'invalid_request_error', 'prompt', 'string_below_min_length');
    }
    if (prompt.length > 32_000) {
      throw new HttpError(400, `Invalid 'prompt': string too long. Expected a string with maximum length 32000, but got a string with length ${prompt.length} instead.`, 'invalid_request_error', 'prompt', 'string_above_max_length');
    }
    return prompt;
  }

  private validateCreate(body: Record<string, unknown>): { prompt: string; model: string; seconds: string; size: string; ref: OpenAIJobParams['inputReference'] } {
    const prompt = this.requirePrompt(body);
    const model = body.model ?? 'sora-2';
    if (typeof model !== 'string') throw new HttpError(400, `Invalid type for 'model': expected a string, but got ${typeWording(model)} instead.`, 'invalid_request_error', 'model', 'invalid_type');
    if (this.opts.models && !this.opts.models.includes(model)) {
      if (this.flavor === 'azure') {
        throw new HttpError(404, 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.', 'video_generation_user_error', null, 'DeploymentNotFound');
      }
      throw new HttpError(400, `Invalid value: '${model}'. Supported values are: ${oxford(this.opts.models, 'and')}.`, 'invalid_request_error', 'model', 'invalid_value');
    }
    const allowedSeconds = this.opts.seconds ?? DEFAULT_SECONDS;
    const seconds = body.seconds ?? '4';
    if (typeof seconds !== 'string') {
      throw new HttpError(400, `Invalid type for 'seconds': expected one of ${oxford(allowedSeconds, 'or')}, but got ${typeWording(seconds)} instead.`, 'invalid_request_error', 'seconds', 'invalid_type');
    }
    if (!allowedSeconds.includes(seconds)) {
      throw new HttpError(400, `Invalid value: '${seconds}'. Supported values are: ${oxford(allowedSeconds, 'and')}.`, 'invalid_request_error', 'seconds', 'invalid_value');
    }
    const allowedSizes = this.opts.sizes ?? DEFAULT_SIZES;
    const size = body.size ?? '720x1280';
    if (typeof size !== 'string') throw new HttpError(400, `Invalid type for 'size': expected a string, but got ${typeWording(size)} instead.`, 'invalid_request_error', 'size', 'invalid_type');
    if (!/^\d+x\d+$/.test(size) || !allowedSizes.includes(size)) {
      throw new HttpError(400, `Invalid value: '${size}'. Supported values are: ${oxford(allowedSizes, 'and')}.`, 'invalid_request_error', 'size', 'invalid_value');
    }
    return { prompt, model, seconds, size, ref: this.validateReference(body.input_reference, size) };
  }

  private validateReference(ref: unknown, size: string): OpenAIJobParams['inputReference'] {
    if (ref === undefined) return undefined;
    if (isUploadedFile(ref)) {
      const dims = imageSize(ref.bytes);
      const type = ref.contentType.toLowerCase();
      const okType = ['image/jpeg', 'image/png', 'image/webp'].includes(type) || (dims !== undefined && (type === '' || type === 'application/octet-stream'));
      if (!okType) {
        throw new HttpError(400, `Invalid file 'input_reference': unsupported mimetype ('${ref.contentType}'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.`, 'invalid_request_error', 'input_reference', 'unsupported_file');
      }
      if (this.opts.validateReferenceSize !== false && dims) {
        const [w, h] = size.split('x').map(Number);
        if (dims.width !== w || dims.height !== h) throw new HttpError(400, 'Inpaint image must match the requested width and height', 'invalid_request_error', null, null);
      }
      return { kind: 'file', filename: ref.filename, contentType: ref.contentType, size: ref.size, sha256: ref.sha256 };
    }
    if (typeof ref === 'string') {
      throw new HttpError(400, "Invalid type for 'input_reference': expected a file, but got a string instead.", 'invalid_request_error', 'input_reference', 'invalid_type');
    }
    if (!isRecord(ref)) {
      throw new HttpError(400, `Invalid type for 'input_reference': expected an object, but got ${typeWording(ref)} instead.`, 'invalid_request_error', 'input_reference', 'invalid_type');
    }
    const hasUrl = typeof ref.image_url === 'string';
    const hasFile = typeof ref.file_id === 'string';
    if (hasUrl === hasFile) {
      throw new HttpError(400, "Invalid 'input_reference': exactly one of 'image_url' or 'file_id' must be provided.", 'invalid_request_error', 'input_reference', 'invalid_value');
    }
    return hasUrl ? { kind: 'image_url', value: ref.image_url as string } : { kind: 'file_id', value: ref.file_id as string };
  }

  private checkConcurrency(): void {
    const max = this.opts.maxConcurrentJobs;
    if (max === undefined) return;
    let active = 0;
    for (const j of this.jobs.values()) if (!j.deleted && !j.terminal) active++;
    if (active >= max) {
      const retryAfter = this.opts.concurrencyRetryAfter ?? 1;
      const message =
        this.flavor === 'azure'
          ? `Too many concurrent video generation jobs for this resource (limit ${max}). Please retry after ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`
          : `You have reached the maximum number of concurrent video generation jobs (${max}). Please wait for a job to finish and try again.`;
      throw new HttpError(429, message, 'requests', null, this.flavor === 'azure' ? '429' : 'rate_limit_exceeded', { 'retry-after': String(retryAfter) });
    }
  }

  // ---------------------------------------------------------------- handlers

  private newJob(
    req: RecordedRequest,
    init: { kind: 'create' | 'remix'; prompt: string; model: string; seconds: string; size: string; ref: OpenAIJobParams['inputReference']; remixedFrom: string | null; body: Record<string, unknown> },
  ): ScriptedJob {
    const id = `video_${randomHex(this.idRng, 48)}`;
    const ttl = this.opts.resultTtlMs ?? (this.flavor === 'azure' ? 24 * HOUR : HOUR);
    const job = this.createJob(req, { id, kind: init.kind, model: init.model, prompt: init.prompt, body: init.body }, ttl);
    const path = `/videos/${randomHex(this.idRng, 16)}/${id}.mp4`;
    const cdnUrl = this.cdn.publish({
      path,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => !job.deleted && job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'cdn'),
    });
    this.params.set(id, { seconds: init.seconds, size: init.size, remixedFrom: init.remixedFrom, inputReference: init.ref, cdnUrl });
    return job;
  }

  private submit(req: RecordedRequest): Reply {
    const body = this.readBody(req);
    const v = this.validateCreate(body);
    this.checkConcurrency();
    const job = this.newJob(req, { kind: 'create', ...v, remixedFrom: null, body });
    return jsonReply(200, this.renderVideo(job, job.observeSubmit()));
  }

  private remix(req: RecordedRequest): Reply {
    const source = this.lookup(req.jobId ?? '');
    const body = this.readBody(req);
    const prompt = this.requirePrompt(body);
    if (source.phase() !== 'succeeded') {
      throw new HttpError(400, `Video '${source.id}' must be completed before it can be remixed.`, 'invalid_request_error', null, 'invalid_video_state');
    }
    this.checkConcurrency();
    const p = this.params.get(source.id);
    const job = this.newJob(req, {
      kind: 'remix',
      prompt,
      model: source.model,
      seconds: p?.seconds ?? '4',
      size: p?.size ?? '720x1280',
      ref: undefined,
      remixedFrom: source.id,
      body,
    });
    return jsonReply(200, this.renderVideo(job, job.observeSubmit()));
  }

  private lookup(id: string): ScriptedJob {
    const job = this.jobs.get(id);
    if (!job || job.deleted) throw this.notFound(id);
    return job;
  }

  private status(req: RecordedRequest): Reply {
    const job = this.lookup(req.jobId ?? '');
    if (job.takeNotFound()) throw this.notFound(job.id);
    const headers: Record<string, string> = {};
    if (this.opts.pollAfterMs !== undefined) headers['openai-poll-after-ms'] = String(this.opts.pollAfterMs);
    return jsonReply(200, this.renderVideo(job, job.observe()), headers);
  }

  private list(req: RecordedRequest): Reply {
    const limitRaw = req.query.limit;
    const limit = limitRaw === undefined ? 20 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 0 || limit > 100) {
      throw new HttpError(400, `Invalid 'limit': integer must be between 0 and 100, got '${limitRaw}'.`, 'invalid_request_error', 'limit', 'invalid_value');
    }
    const order = req.query.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') {
      throw new HttpError(400, `Invalid value: '${order}'. Supported values are: 'asc' and 'desc'.`, 'invalid_request_error', 'order', 'invalid_value');
    }
    let all = this.jobList().filter((j) => !j.deleted);
    if (order === 'desc') all = all.reverse();
    const after = req.query.after;
    if (after !== undefined) {
      const i = all.findIndex((j) => j.id === after);
      all = i < 0 ? [] : all.slice(i + 1);
    }
    const page = all.slice(0, limit);
    return jsonReply(200, {
      object: 'list',
      data: page.map((j) => this.renderVideo(j, j.peek())),
      first_id: page[0]?.id ?? null,
      last_id: page[page.length - 1]?.id ?? null,
      has_more: all.length > page.length,
    });
  }

  private content(req: RecordedRequest): Reply {
    const job = this.lookup(req.jobId ?? '');
    const variant = req.query.variant ?? 'video';
    let src: ByteSource;
    if (variant === 'video') {
      src = this.videoFor(job);
      if (this.opts.videoContentType === 'application/binary') src = { ...src, contentType: 'application/binary', read: src.read.bind(src) };
    } else if (variant === 'thumbnail') src = bufferSource(fixtures.thumbnailWebp(), 'image/webp');
    else if (variant === 'spritesheet') src = bufferSource(fixtures.spritesheetJpg(), 'image/jpeg');
    else throw new HttpError(400, `Invalid value: '${variant}'. Supported values are: 'video', 'thumbnail', and 'spritesheet'.`, 'invalid_request_error', 'variant', 'invalid_value');
    const phase = job.phase();
    if (phase === 'queued' || phase === 'running') {
      throw new HttpError(400, `Video is not ready yet. Current status: ${this.statusName(phase)}.`, 'invalid_request_error', null, 'video_not_ready');
    }
    if (phase !== 'succeeded') throw new HttpError(400, 'Video generation did not complete; no content is available.', 'invalid_request_error', null, 'video_not_ready');
    if (job.resultExpired()) throw new HttpError(404, 'The content of this video has expired.', 'invalid_request_error', null, 'video_expired');
    const reply = rangeReply(req, src, { 'content-disposition': `attachment; filename="${job.id}.${variant === 'video' ? 'mp4' : variant === 'thumbnail' ? 'webp' : 'jpg'}"` });
    return { ...reply, onSent: (result) => this.recordDownload(job, req, result, variant) };
  }

  private remove(req: RecordedRequest): Reply {
    const job = this.lookup(req.jobId ?? '');
    job.deleted = true;
    return jsonReply(200, { id: job.id, object: 'video.deleted', deleted: true });
  }

  // ---------------------------------------------------------------- rendering

  private statusName(phase: Observation['phase']): string {
    switch (phase) {
      case 'queued':
        return this.flavor === 'apigo' ? 'pending' : 'queued';
      case 'running':
        return this.flavor === 'apigo-legacy' ? 'processing' : 'in_progress';
      case 'succeeded':
        return 'completed';
      case 'expired':
        return this.flavor === 'openai' || this.flavor === 'azure' ? 'expired' : 'failed';
      default:
        return 'failed';
    }
  }

  private failureOf(job: ScriptedJob, phase: Observation['phase']): JobFailure | undefined {
    const f = job.script.failure;
    switch (phase) {
      case 'failed':
        return f ?? { code: 'internal_error', message: 'Video generation failed due to an internal error.', type: 'server_error' };
      case 'moderated':
        return f ?? { code: 'moderation_blocked', message: 'Your request was blocked by our moderation system.', type: 'invalid_request_error' };
      case 'cancelled':
        return f ?? { code: 'cancelled', message: 'The video generation job was cancelled.', type: 'invalid_request_error' };
      case 'expired':
        return this.flavor === 'openai' || this.flavor === 'azure' ? undefined : (f ?? { code: 'expired', message: 'The video generation job expired before it could run.', type: 'server_error' });
      default:
        return undefined;
    }
  }

  private renderVideo(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id);
    const terminal = obs.phase !== 'queued' && obs.phase !== 'running';
    const finished = job.finishedAt;
    const expires = job.resultExpiresAt;
    const failure = this.failureOf(job, obs.phase);
    const apigo = this.flavor === 'apigo' || this.flavor === 'apigo-legacy';
    let error: Record<string, unknown> | null = null;
    if (failure) error = apigo ? { code: failure.code, message: failure.message, type: failure.type ?? 'server_error' } : { code: failure.code, message: failure.message };
    else if (apigo && this.opts.emptyErrorObject) error = { code: '', message: '', type: '' };
    const out: Record<string, unknown> = {
      id: job.id,
      object: 'video',
      created_at: Math.floor(job.createdAt / 1000),
      completed_at: terminal && finished !== undefined ? Math.floor(finished / 1000) : null,
      expires_at: obs.phase === 'succeeded' && expires !== undefined ? Math.floor(expires / 1000) : null,
      status: this.statusName(obs.phase),
      progress: obs.progress,
      model: job.model,
      prompt: job.prompt,
      seconds: p?.seconds ?? '4',
      size: p?.size ?? '720x1280',
      remixed_from_video_id: p?.remixedFrom ?? null,
      error,
    };
    if (apigo) delete out.prompt;
    if (this.flavor === 'apigo-legacy') {
      out.quality = 'standard';
      if (obs.phase === 'succeeded' && p) out.url = p.cdnUrl;
    }
    return out;
  }
}

/** Starts an OpenAI-style videos fake on 127.0.0.1 (random port unless `port` is given). */
export async function startOpenAIVideosFake(opts: OpenAIVideosFakeOptions = {}): Promise<OpenAIVideosFake> {
  return new OpenAIVideosFake(opts).start();
}
