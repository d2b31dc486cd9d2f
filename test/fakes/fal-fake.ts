/**
 * Fake fal queue API (test fixture, never product code):
 *
 * - `Authorization: Key <key>` (**not** Bearer), else 401 `{"detail"}`; every answer carries
 *   `x-fal-request-id`;
 * - `POST /{owner}/{app}[/{path}][?fal_webhook=<url>]`: the endpoint's input as the body, checked
 *   against its schema (unknown fields, wrong types, values outside an enum → 422 `{"detail":
 *   [{loc, msg, type}]}`) → `{request_id, response_url, status_url, cancel_url, queue_position,
 *   status: "IN_QUEUE"}`; the URLs are on the **app-level** path (`/{owner}/{app}/requests/{id}`,
 *   without the endpoint's sub-path), so a URL built from the submit path is a 404;
 * - `GET …/requests/{id}/status[?logs=1]`: **202** `IN_QUEUE` (`queue_position`) / `IN_PROGRESS`
 *   (`logs`), **200** `COMPLETED` (`metrics.inference_time`);
 * - `GET …/requests/{id}`: the output `{video: {url, content_type, file_name, file_size}, seed}`
 *   (URL on the CDN origin, expiring), or the job's error: 422 `content_policy_violation`
 *   (moderation), 500 `{detail, error_type}` + `X-Fal-Error-Type` (failure), 504
 *   `request_timeout` (expired), 400 `request_cancelled`; 400 "still in progress" before it ends;
 * - `PUT …/requests/{id}/cancel`: 202 while queued, 400 once it started;
 * - webhooks on completion: `{request_id, gateway_request_id, status: "OK" | "ERROR", payload,
 *   error}` with `X-Fal-Webhook-Request-Id`, `-User-Id`, `-Timestamp`, `-Signature` (hex Ed25519
 *   over `request_id\nuser_id\ntimestamp\nsha256hex(body)`); the fake's own JWKS at
 *   `GET /.well-known/jwks.json` (`jwksUrl`).
 */
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Phase, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'uri';

export interface FalFakeEndpoint {
  id: string;
  fields: Record<string, { type: FieldType; enum?: unknown[]; required?: boolean }>;
}

export const FAL_FAKE_ENDPOINTS: FalFakeEndpoint[] = [
  {
    id: 'fal-ai/kling-video/v2.1/pro/text-to-video',
    fields: { prompt: { type: 'string', required: true }, duration: { type: 'string', enum: ['5', '10'] }, aspect_ratio: { type: 'string', enum: ['16:9', '9:16', '1:1'] }, negative_prompt: { type: 'string' }, cfg_scale: { type: 'number' } },
  },
  {
    id: 'fal-ai/kling-video/v2.1/pro/image-to-video',
    fields: { prompt: { type: 'string', required: true }, image_url: { type: 'uri', required: true }, tail_image_url: { type: 'uri' }, duration: { type: 'string', enum: ['5', '10'] }, negative_prompt: { type: 'string' }, cfg_scale: { type: 'number' } },
  },
  {
    id: 'fal-ai/veo3.1',
    fields: { prompt: { type: 'string', required: true }, duration: { type: 'string', enum: ['4s', '6s', '8s'] }, aspect_ratio: { type: 'string', enum: ['16:9', '9:16'] }, resolution: { type: 'string', enum: ['720p', '1080p'] }, generate_audio: { type: 'boolean' }, seed: { type: 'integer' }, negative_prompt: { type: 'string' } },
  },
];

export interface FalFakeOptions extends CommonFakeOptions {
  /** Result lifetime after completion, upstream ms (default 7 days). */
  resultTtlMs?: number;
  endpoints?: FalFakeEndpoint[];
  /** The user id in webhook headers. */
  userId?: string;
}

export interface FalJobParams {
  endpoint: string;
  app: string;
  input: Record<string, unknown>;
  resultUrl: string;
  cancelled: boolean;
  webhook?: string;
}

class FalError extends Error {
  constructor(
    readonly http: number,
    readonly detail: unknown,
    readonly errorType?: string,
  ) {
    super(typeof detail === 'string' ? detail : 'fal error');
  }
}

export class FalFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, FalJobParams>();
  private readonly opts: FalFakeOptions;
  private readonly endpoints: FalFakeEndpoint[];
  private readonly signingKey: KeyObject;
  /** The public half, as a JWK (`{kty: "OKP", crv: "Ed25519", x}`). */
  readonly jwk: { kty: string; crv: string; x: string };
  readonly userId: string;

  constructor(opts: FalFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.endpoints = opts.endpoints ?? FAL_FAKE_ENDPOINTS;
    this.userId = opts.userId ?? 'user_2fakefaluser0000';
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.signingKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string };
    this.jwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
    this.server = new FakeServer({
      name: 'fal',
      faults: this.faults,
      rng: this.streamRng(0xfa1),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  /** Where the fake publishes its webhook key. */
  get jwksUrl(): string {
    return `${this.url}/.well-known/jwks.json`;
  }

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/.well-known/jwks.json' && method === 'GET') return { route: 'list' };
    const r = /^\/[\w.-]+\/[\w.-]+\/requests\/([^/]+)(\/status|\/cancel)?$/.exec(path);
    if (r) {
      const jobId = decodeURIComponent(r[1]!);
      if (r[2] === '/status' && method === 'GET') return { route: 'status', jobId };
      if (r[2] === '/cancel' && method === 'PUT') return { route: 'delete', jobId };
      if (!r[2] && method === 'GET') return { route: 'content', jobId };
      return { route: 'unknown' };
    }
    if (method === 'POST' && /^\/[\w.-]+\/[\w.-]+(\/[\w.-]+)*$/.test(path)) return { route: 'submit' };
    return { route: 'unknown' };
  }

  private handle(req: RecordedRequest): Reply {
    const rid = req.jobId ?? randomUUID();
    try {
      if (req.route === 'list') return jsonReply(200, { keys: [{ ...this.jwk, kid: 'fake-fal-1', use: 'sig', alg: 'EdDSA' }] });
      if (req.route === 'unknown') throw new FalError(404, 'Not Found');
      const h = req.headers.authorization;
      const key = typeof h === 'string' ? /^Key\s+(.+)$/.exec(h.trim())?.[1] : undefined;
      if (!key || !this.isValidKey(key)) throw new FalError(401, 'No user found for Key ID and Secret');
      let reply: Reply;
      switch (req.route) {
        case 'submit':
          reply = this.submit(req);
          break;
        case 'status':
          reply = this.status(req);
          break;
        case 'content':
          reply = this.result(req);
          break;
        default:
          reply = this.cancel(req);
      }
      return { ...reply, headers: { 'x-fal-request-id': rid, ...(reply.headers ?? {}) } };
    } catch (err) {
      if (err instanceof FalError) return jsonReply(err.http, { detail: err.detail, ...(err.errorType ? { error_type: err.errorType } : {}) }, { 'x-fal-request-id': rid, ...(err.errorType ? { 'x-fal-error-type': err.errorType } : {}) });
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault, _req: RecordedRequest): Reply {
    if (action.type === 'notFound') return jsonReply(404, { detail: 'Request not found' });
    const headers: Record<string, string> = { 'x-fal-request-id': randomUUID(), ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    const type = action.code ?? (action.status === 429 ? 'concurrent_requests_limit' : 'internal_error');
    return jsonReply(action.status, { detail: action.message ?? 'Service unavailable', error_type: type }, { ...headers, 'x-fal-error-type': type });
  }

  private submit(req: RecordedRequest): Reply {
    const endpoint = req.path.slice(1);
    const ep = this.endpoints.find((e) => e.id === endpoint);
    if (!ep) throw new FalError(404, `Application '${endpoint}' not found`);
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new FalError(422, [{ loc: ['body'], msg: 'value is not a valid dict', type: 'type_error.dict' }]);
    const b = req.json;
    const errors: { loc: string[]; msg: string; type: string }[] = [];
    const isUri = (v: unknown) => typeof v === 'string' && (/^https?:\/\//.test(v) || /^data:image\/[\w+.-]+;base64,[A-Za-z0-9+/]+=*$/.test(v));
    for (const [k, v] of Object.entries(b)) {
      const f = ep.fields[k];
      if (!f) {
        errors.push({ loc: ['body', k], msg: 'extra fields not permitted', type: 'value_error.extra' });
        continue;
      }
      const ok = f.type === 'string' ? typeof v === 'string' : f.type === 'integer' ? Number.isInteger(v) : f.type === 'number' ? typeof v === 'number' : f.type === 'boolean' ? typeof v === 'boolean' : isUri(v);
      if (!ok) errors.push({ loc: ['body', k], msg: `value is not a valid ${f.type}`, type: `type_error.${f.type}` });
      else if (f.enum && !f.enum.includes(v)) errors.push({ loc: ['body', k], msg: `unexpected value; permitted: ${f.enum.map((e) => `'${String(e)}'`).join(', ')}`, type: 'value_error.const' });
    }
    for (const [k, f] of Object.entries(ep.fields)) if (f.required && b[k] === undefined) errors.push({ loc: ['body', k], msg: 'field required', type: 'value_error.missing' });
    if (errors.length > 0) throw new FalError(422, errors);
    const webhook = typeof req.query.fal_webhook === 'string' ? req.query.fal_webhook : undefined;
    const id = randomUUID();
    const app = endpoint.split('/').slice(0, 2).join('/');
    const job = this.createJob(req, { id, kind: 'create', model: endpoint, prompt: String(b.prompt ?? ''), body: b }, this.opts.resultTtlMs ?? 7 * 24 * 3_600_000);
    const resultUrl = this.cdn.publish({
      path: `/files/${id.slice(0, 8)}/${id}_output.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    const p: FalJobParams = { endpoint, app, input: b, resultUrl, cancelled: false };
    if (webhook) p.webhook = webhook;
    this.params.set(id, p);
    if (webhook) this.followCallbacks(job, webhook, (phase) => (phase === 'queued' || phase === 'running' ? undefined : this.signedWebhook(job, phase)));
    const base = `${this.url}/${app}/requests/${id}`;
    return jsonReply(200, { status: 'IN_QUEUE', request_id: id, response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel`, queue_position: 2 });
  }

  /** The job of a request path, only under its own app. */
  private live(req: RecordedRequest): ScriptedJob {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    const p = job ? this.params.get(job.id) : undefined;
    if (!job || !p || !req.path.startsWith(`/${p.app}/requests/`)) throw new FalError(404, 'Request not found');
    return job;
  }

  private status(req: RecordedRequest): Reply {
    const job = this.live(req);
    if (job.takeNotFound()) throw new FalError(404, 'Request not found');
    const obs = job.observe();
    this.touch(job.id);
    const p = this.params.get(job.id)!;
    const logs = req.query.logs === '1' || req.query.logs === 'true';
    const base = `${this.url}/${p.app}/requests/${job.id}`;
    if (obs.phase === 'queued') return jsonReply(202, { status: 'IN_QUEUE', queue_position: Math.max(0, 2 - job.queuedPollsServed), response_url: base });
    const lines = [{ message: 'Loading model', level: 'INFO', source: 'stdout', timestamp: new Date(job.createdAt).toISOString() }];
    if (obs.phase === 'running') {
      if (logs) lines.push({ message: `Generating: ${Math.round(obs.progress)}%`, level: 'INFO', source: 'stdout', timestamp: new Date(this.clock.now()).toISOString() });
      return jsonReply(202, { status: 'IN_PROGRESS', response_url: base, ...(logs ? { logs: lines } : { logs: null }) });
    }
    return jsonReply(200, { status: 'COMPLETED', response_url: base, logs: logs ? lines : null, metrics: { inference_time: 41.7 } });
  }

  private errorOf(job: ScriptedJob, phase: Phase): FalError | undefined {
    const f = job.script.failure;
    switch (phase) {
      case 'moderated':
        return new FalError(422, [{ loc: ['body', 'prompt'], msg: f?.message ?? 'The content could not be processed because it contained material flagged by a content checker.', type: 'content_policy_violation' }]);
      case 'failed':
        return new FalError(500, f?.message ?? 'Internal error while running the model', f?.code ?? 'runner_disconnected');
      case 'expired':
        return new FalError(504, f?.message ?? 'Request timed out', 'request_timeout');
      case 'cancelled':
        return new FalError(400, 'Request was cancelled', 'request_cancelled');
      default:
        return undefined;
    }
  }

  private result(req: RecordedRequest): Reply {
    const job = this.live(req);
    const phase = job.phase();
    if (phase === 'queued' || phase === 'running') throw new FalError(400, 'Request is still in progress');
    const e = this.errorOf(job, phase);
    if (e) throw e;
    const p = this.params.get(job.id)!;
    return jsonReply(200, this.output(p));
  }

  private output(p: FalJobParams): Record<string, unknown> {
    return { video: { url: p.resultUrl, content_type: 'video/mp4', file_name: 'output.mp4', file_size: 1_048_576 }, seed: 1234567 };
  }

  private cancel(req: RecordedRequest): Reply {
    const job = this.live(req);
    if (job.phase() !== 'queued') throw new FalError(400, 'Request already started and cannot be cancelled');
    job.cancel();
    this.params.get(job.id)!.cancelled = true;
    this.touch(job.id);
    return jsonReply(202, { status: 'CANCELLATION_REQUESTED' });
  }

  /** A webhook as fal sends it, signed with the fake's Ed25519 key (or another, to test refusals). */
  signedWebhook(job: ScriptedJob, phase: Phase, overrides: { timestamp?: number; key?: KeyObject; requestId?: string } = {}): { body: string; headers: Record<string, string> } {
    const p = this.params.get(job.id)!;
    const e = this.errorOf(job, phase);
    const body = JSON.stringify(
      e
        ? { request_id: job.id, gateway_request_id: job.id, status: 'ERROR', error: `Invalid status code: ${e.http}`, payload: { detail: e.detail } }
        : { request_id: job.id, gateway_request_id: job.id, status: 'OK', payload: this.output(p), error: null },
    );
    const ts = String(overrides.timestamp ?? Math.floor(Date.now() / 1000));
    const rid = overrides.requestId ?? job.id;
    const message = `${rid}\n${this.userId}\n${ts}\n${createHash('sha256').update(body).digest('hex')}`;
    const signature = sign(null, Buffer.from(message), overrides.key ?? this.signingKey).toString('hex');
    return { body, headers: { 'x-fal-webhook-request-id': rid, 'x-fal-webhook-user-id': this.userId, 'x-fal-webhook-timestamp': ts, 'x-fal-webhook-signature': signature } };
  }
}

/** Starts a fal fake (queue API + CDN) on 127.0.0.1 random ports. */
export async function startFalFake(opts: FalFakeOptions = {}): Promise<FalFake> {
  return new FalFake(opts).start();
}
