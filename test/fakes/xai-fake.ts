/**
 * Fake xAI API for Grok Imagine video (test fixture, never product code):
 *
 * - `POST /v1/videos/generations` (Bearer): `model` (`grok-imagine-video`,
 *   `grok-imagine-video-1.5`), `prompt`, integer `duration` 1–15, `aspect_ratio` (16:9, 9:16,
 *   1:1, 4:3, 3:4, 3:2, 2:3), `resolution` (480p, 720p; 1080p on 1.5 without images), `image:
 *   {url}` or `reference_images: [{url}]` (1–7, not with `image`; http(s) or data:image URLs),
 *   `user`; any other field is refused. Answers `{"request_id"}`.
 * - `GET /v1/videos/{request_id}`: `{"status":"pending","progress"}` → `done` with `video: {url,
 *   duration, respect_moderation}`, `model`, `usage: {cost_in_usd_ticks}` | `failed` with
 *   `error: {code, message}` | `expired`; a moderated job is `done` with
 *   `respect_moderation: false`. Result URLs on the CDN origin, temporary (default 1 h).
 * - `GET /v1/models`: the model list (the probe).
 * - errors `{"code": "<gRPC-style sentence>", "error": "<message>"}`; an unknown or missing key is
 *   a **400** "Incorrect API key provided" (as xAI answers), a wrong path a 404.
 */
import { randomUUID } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface XaiFakeOptions extends CommonFakeOptions {
  /** Result lifetime after completion, upstream ms (default 1 h). */
  resultTtlMs?: number;
  /** USD per second billed (reported as cost_in_usd_ticks, 1e-10 USD each). Default 0.05. */
  usdPerSecond?: number;
}

export interface XaiJobParams {
  model: string;
  seconds: number;
  resultUrl: string;
}

class XaiError extends Error {
  constructor(
    readonly http: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MODELS = ['grok-imagine-video', 'grok-imagine-video-1.5'];
const RATIOS = ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3'];
const FIELDS = new Set(['model', 'prompt', 'duration', 'aspect_ratio', 'resolution', 'image', 'reference_images', 'user', 'output']);
const INVALID = 'Client specified an invalid argument';

export class XaiFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, XaiJobParams>();
  private readonly opts: XaiFakeOptions;

  constructor(opts: XaiFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.server = new FakeServer({
      name: 'xai',
      faults: this.faults,
      rng: this.streamRng(0x7a1),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
  }

  /** Base URL as xAI documents it (`https://api.x.ai/v1`). */
  get baseURL(): string {
    return `${this.url}/v1`;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/v1/videos/generations') return { route: method === 'POST' ? 'submit' : 'unknown' };
    if (path === '/v1/models' && method === 'GET') return { route: 'list' };
    const m = /^\/v1\/videos\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: decodeURIComponent(m[1]!) };
    return { route: 'unknown' };
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new XaiError(404, 'Some requested entity was not found', `No handler for ${req.method} ${req.path}`);
      const key = this.bearer(req);
      if (!key || !this.isValidKey(key)) {
        throw new XaiError(400, INVALID, `Incorrect API key provided: ${key ? `${key.slice(0, 2)}***${key.slice(-4)}` : 'none'}. You can obtain an API key from https://console.x.ai.`);
      }
      if (req.route === 'submit') return this.submit(req);
      if (req.route === 'list') return jsonReply(200, { object: 'list', data: MODELS.map((id) => ({ id, object: 'model', owned_by: 'xai' })) });
      return this.status(req);
    } catch (err) {
      if (err instanceof XaiError) return jsonReply(err.http, { code: err.code, error: err.message });
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply {
    if (action.type === 'notFound') return jsonReply(404, { code: 'Some requested entity was not found', error: `Video request ${req.jobId ?? ''} not found.` });
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    const code = action.code ?? (action.status === 429 ? 'Too many requests' : action.status >= 500 ? 'Internal error' : INVALID);
    return jsonReply(action.status, { code, error: action.message ?? 'The service is currently unavailable.' }, headers);
  }

  private imageUrl(v: unknown, field: string): void {
    const url = isRecord(v) ? v.url : undefined;
    if (typeof url !== 'string' || !(/^https?:\/\//.test(url) || /^data:image\/(png|jpeg|jpg|webp);base64,[A-Za-z0-9+/]+=*$/.test(url))) {
      throw new XaiError(400, INVALID, `${field}.url must be an http(s) URL or a base64 data:image URL.`);
    }
  }

  private submit(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new XaiError(400, INVALID, 'The request body must be a JSON object.');
    const b = req.json;
    for (const k of Object.keys(b)) if (!FIELDS.has(k)) throw new XaiError(400, INVALID, `Argument not supported: ${k}`);
    if (typeof b.model !== 'string' || !MODELS.includes(b.model)) throw new XaiError(404, 'Some requested entity was not found', `The model ${String(b.model)} does not exist or your team does not have access to it.`);
    if (typeof b.prompt !== 'string' || !b.prompt) throw new XaiError(400, INVALID, 'prompt is required.');
    const duration = b.duration ?? 6;
    if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 1 || duration > 15) throw new XaiError(400, INVALID, 'duration must be an integer between 1 and 15.');
    if (b.aspect_ratio !== undefined && (typeof b.aspect_ratio !== 'string' || !RATIOS.includes(b.aspect_ratio))) throw new XaiError(400, INVALID, `Invalid aspect_ratio: ${String(b.aspect_ratio)}`);
    const images = b.image !== undefined || b.reference_images !== undefined;
    const tiers = b.model === 'grok-imagine-video-1.5' && !images ? ['480p', '720p', '1080p'] : ['480p', '720p'];
    if (b.resolution !== undefined && (typeof b.resolution !== 'string' || !tiers.includes(b.resolution))) throw new XaiError(400, INVALID, `Invalid resolution ${String(b.resolution)}; supported: ${tiers.join(', ')}.`);
    if (b.image !== undefined) this.imageUrl(b.image, 'image');
    if (b.reference_images !== undefined) {
      if (b.image !== undefined) throw new XaiError(400, INVALID, 'image and reference_images cannot be used together.');
      if (!Array.isArray(b.reference_images) || b.reference_images.length < 1 || b.reference_images.length > 7) throw new XaiError(400, INVALID, 'reference_images takes 1 to 7 images.');
      b.reference_images.forEach((r, i) => this.imageUrl(r, `reference_images[${i}]`));
    }
    const id = randomUUID();
    const job = this.createJob(req, { id, kind: 'create', model: b.model, prompt: b.prompt, body: b }, this.opts.resultTtlMs ?? 3_600_000);
    const resultUrl = this.cdn.publish({
      path: `/xai-vidgen-public/${id}.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    this.params.set(id, { model: b.model, seconds: duration, resultUrl });
    return jsonReply(200, { request_id: id });
  }

  private status(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job) throw new XaiError(404, 'Some requested entity was not found', `Video request ${req.jobId ?? ''} not found.`);
    if (job.takeNotFound()) throw new XaiError(404, 'Some requested entity was not found', `Video request ${job.id} not found.`);
    return jsonReply(200, this.render(job, job.observe()));
  }

  /** A request object as xAI renders it. */
  render(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const f = job.script.failure;
    switch (obs.phase) {
      case 'queued':
        return { status: 'pending', model: p.model, progress: 0 };
      case 'running':
        return { status: 'pending', model: p.model, progress: Math.max(1, obs.progress) };
      case 'succeeded':
      case 'moderated': {
        const ticks = Math.round(p.seconds * (this.opts.usdPerSecond ?? 0.05) * 1e10);
        return {
          status: 'done',
          model: p.model,
          progress: 100,
          video: { url: p.resultUrl, duration: p.seconds, respect_moderation: obs.phase === 'succeeded' },
          usage: { cost_in_usd_ticks: ticks },
        };
      }
      case 'expired':
        return { status: 'expired', model: p.model };
      case 'cancelled':
      case 'failed':
        return { status: 'failed', model: p.model, error: { code: f?.code ?? 'internal_error', message: f?.message ?? 'Video generation failed.' } };
    }
  }
}

/** Starts an xAI fake (API + CDN) on 127.0.0.1 random ports. */
export async function startXaiFake(opts: XaiFakeOptions = {}): Promise<XaiFake> {
  return new XaiFake(opts).start();
}
