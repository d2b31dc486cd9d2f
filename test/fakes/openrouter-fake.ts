/**
 * Fake OpenRouter video API (test fixture, never product code), Bearer key:
 *
 * - `POST /api/v1/videos`: `model` (one of the fake's models), `prompt`, integer `duration`,
 *   `resolution`, `aspect_ratio`, boolean `generate_audio`, integer `seed`, `frame_images`
 *   (`{type:"image_url", image_url:{url}, frame_type}`), `input_references`, `callback_url`
 *   (https, or http on loopback), `provider`; every value checked against the model's sets as
 *   `GET /api/v1/videos/models` lists them (a 400 otherwise) → **202** `{id, polling_url,
 *   status:"pending"}`. The polling path can be made to differ from `/api/v1/videos/{id}`
 *   (`pollingPath`) to prove the adapter follows `polling_url`.
 * - `GET {polling_url}`: `pending` → `in_progress` (`progress`) → `completed` (`unsigned_urls`
 *   pointing at the content endpoint, `generation_id`, `usage: {cost, is_byok}`) | `failed`
 *   (`error` string) | `cancelled` | `expired`.
 * - `GET /api/v1/videos/{id}/content?index=0`: the MP4, **only with the key** (401 without),
 *   Range honoured, 404 before completion, 410 after the result's lifetime.
 * - errors `{"error": {"code": <http>, "message", "metadata"?}}`.
 * - callbacks: on the terminal state, `{type:"video.generation.<status>", created_at, data:{…}}`
 *   with `X-OpenRouter-Idempotency-Key`, and `X-OpenRouter-Signature: t=…,v1=<hex HMAC-SHA256
 *   ("{t},{body}")>` when the fake has a `webhookSecret`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply, rangeReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, Phase, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface OpenrouterModel {
  id: string;
  supported_durations: number[];
  supported_resolutions: string[];
  supported_aspect_ratios: string[];
  supported_frame_images: string[];
  generate_audio: boolean;
  seed: boolean;
}

export const OPENROUTER_FAKE_MODELS: OpenrouterModel[] = [
  { id: 'google/veo-3.1', supported_durations: [4, 6, 8], supported_resolutions: ['720p', '1080p'], supported_aspect_ratios: ['16:9', '9:16'], supported_frame_images: ['first_frame', 'last_frame'], generate_audio: true, seed: true },
  { id: 'alibaba/wan-2.6', supported_durations: [5, 10, 15], supported_resolutions: ['720p', '1080p'], supported_aspect_ratios: ['16:9', '9:16', '1:1'], supported_frame_images: ['first_frame'], generate_audio: true, seed: true },
];

export interface OpenrouterFakeOptions extends CommonFakeOptions {
  resultTtlMs?: number;
  /** Signs callbacks (the workspace's webhook signing secret). */
  webhookSecret?: string;
  /** The polling path of a job (default `/api/v1/videos/{id}`). */
  pollingPath?: (id: string) => string;
  models?: OpenrouterModel[];
}

export interface OpenrouterJobParams {
  model: string;
  seconds: number;
  polling: string;
}

class OrError extends Error {
  constructor(
    readonly http: number,
    message: string,
  ) {
    super(message);
  }
}

const FIELDS = new Set(['model', 'prompt', 'duration', 'resolution', 'aspect_ratio', 'size', 'generate_audio', 'seed', 'frame_images', 'input_references', 'callback_url', 'provider']);

export class OpenrouterFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, OpenrouterJobParams>();
  private readonly opts: OpenrouterFakeOptions;
  private readonly models: OpenrouterModel[];

  constructor(opts: OpenrouterFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.models = opts.models ?? OPENROUTER_FAKE_MODELS;
    this.server = new FakeServer({
      name: 'openrouter',
      faults: this.faults,
      rng: this.streamRng(0x0e0),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action) => this.faultReply(action),
    });
  }

  get baseURL(): string {
    return `${this.url}/api/v1`;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  private pollingOf(id: string): string {
    return this.opts.pollingPath?.(id) ?? `/api/v1/videos/${id}`;
  }

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/api/v1/videos' && method === 'POST') return { route: 'submit' };
    if (path === '/api/v1/videos/models' && method === 'GET') return { route: 'list' };
    const content = /^\/api\/v1\/videos\/([^/]+)\/content$/.exec(path);
    if (content && method === 'GET') return { route: 'content', jobId: decodeURIComponent(content[1]!) };
    if (method === 'GET') {
      for (const [id, p] of this.params) if (p.polling.split('?')[0] === path) return { route: 'status', jobId: id };
      const m = /^\/api\/v1\/videos\/([^/]+)$/.exec(path);
      if (m && !this.opts.pollingPath) return { route: 'status', jobId: decodeURIComponent(m[1]!) };
    }
    return { route: 'unknown' };
  }

  private error(e: OrError): Reply {
    return jsonReply(e.http, { error: { code: e.http, message: e.message } });
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new OrError(404, 'Not Found');
      const key = this.bearer(req);
      if (!key) throw new OrError(401, 'No auth credentials found');
      if (!this.isValidKey(key)) throw new OrError(401, 'User not found.');
      switch (req.route) {
        case 'submit':
          return this.submit(req);
        case 'list':
          return jsonReply(200, { data: this.models });
        case 'content':
          return this.content(req);
        default:
          return this.status(req);
      }
    } catch (err) {
      if (err instanceof OrError) return this.error(err);
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault): Reply {
    if (action.type === 'notFound') return this.error(new OrError(404, 'Video generation job not found'));
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    return { ...this.error(new OrError(action.status, action.message ?? 'Internal Server Error')), headers };
  }

  private image(v: unknown, field: string): void {
    const url = isRecord(v) && v.type === 'image_url' && isRecord(v.image_url) ? v.image_url.url : undefined;
    if (typeof url !== 'string' || !(/^https?:\/\//.test(url) || /^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/]+=*$/.test(url))) throw new OrError(400, `${field} must be {type:"image_url", image_url:{url}} with an http(s) or data:image URL`);
  }

  private submit(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new OrError(400, 'Invalid JSON body');
    const b = req.json;
    for (const k of Object.keys(b)) if (!FIELDS.has(k)) throw new OrError(400, `Unrecognized key: "${k}"`);
    const m = this.models.find((x) => x.id === b.model);
    if (!m) throw new OrError(400, `${String(b.model)} is not a valid video model ID`);
    if (typeof b.prompt !== 'string' || !b.prompt) throw new OrError(400, 'prompt is required');
    if (b.duration !== undefined && (typeof b.duration !== 'number' || !m.supported_durations.includes(b.duration))) throw new OrError(400, `duration ${String(b.duration)} is not supported by ${m.id}; supported: ${m.supported_durations.join(', ')}`);
    if (b.resolution !== undefined && !m.supported_resolutions.includes(String(b.resolution))) throw new OrError(400, `resolution ${String(b.resolution)} is not supported by ${m.id}`);
    if (b.aspect_ratio !== undefined && !m.supported_aspect_ratios.includes(String(b.aspect_ratio))) throw new OrError(400, `aspect_ratio ${String(b.aspect_ratio)} is not supported by ${m.id}`);
    if (b.generate_audio !== undefined && (typeof b.generate_audio !== 'boolean' || (b.generate_audio && !m.generate_audio))) throw new OrError(400, `generate_audio is not supported by ${m.id}`);
    if (b.seed !== undefined && (!m.seed || typeof b.seed !== 'number' || !Number.isInteger(b.seed))) throw new OrError(400, `seed is not supported by ${m.id}`);
    if (b.frame_images !== undefined) {
      if (!Array.isArray(b.frame_images)) throw new OrError(400, 'frame_images must be an array');
      for (const f of b.frame_images) {
        this.image(f, 'frame_images[]');
        if (!m.supported_frame_images.includes(String((f as Record<string, unknown>).frame_type))) throw new OrError(400, `frame_type ${String((f as Record<string, unknown>).frame_type)} is not supported by ${m.id}`);
      }
    }
    if (b.input_references !== undefined) {
      if (!Array.isArray(b.input_references)) throw new OrError(400, 'input_references must be an array');
      b.input_references.forEach((f) => this.image(f, 'input_references[]'));
    }
    if (b.callback_url !== undefined && (typeof b.callback_url !== 'string' || !/^(https:\/\/|http:\/\/127\.0\.0\.1[:/])/.test(b.callback_url))) throw new OrError(400, 'callback_url must be an https URL');
    const id = `job-${randomBytes(10).toString('hex')}`;
    const job = this.createJob(req, { id, kind: 'create', model: m.id, prompt: b.prompt, body: b }, this.opts.resultTtlMs ?? 3_600_000);
    const polling = this.pollingOf(id);
    this.params.set(id, { model: m.id, seconds: typeof b.duration === 'number' ? b.duration : m.supported_durations[0]!, polling });
    if (typeof b.callback_url === 'string') {
      const url = b.callback_url;
      this.followCallbacks(job, url, (phase) => (['queued', 'running'].includes(phase) ? undefined : this.signedCallback(job, phase)));
    }
    return jsonReply(202, { id, polling_url: polling, status: 'pending' });
  }

  /** A callback event as OpenRouter sends it (signed when the fake has a secret). */
  signedCallback(job: ScriptedJob, phase: Phase, overrides: { t?: number; secret?: string } = {}): { body: string; headers: Record<string, string> } {
    const data = this.render(job, { phase, progress: phase === 'succeeded' ? 100 : 0 });
    const body = JSON.stringify({ type: `video.generation.${String(data.status)}`, created_at: new Date().toISOString(), data });
    const headers: Record<string, string> = { 'X-OpenRouter-Idempotency-Key': `${job.id}:${String(data.status)}` };
    const secret = overrides.secret ?? this.opts.webhookSecret;
    if (secret) {
      const t = String(overrides.t ?? Math.floor(Date.now() / 1000));
      headers['X-OpenRouter-Signature'] = `t=${t},v1=${createHmac('sha256', secret).update(`${t},${body}`).digest('hex')}`;
    }
    return { body, headers };
  }

  private status(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job || job.takeNotFound()) throw new OrError(404, 'Video generation job not found');
    const obs = job.observe();
    this.touch(job.id);
    return jsonReply(200, this.render(job, obs));
  }

  private content(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job || job.phase() !== 'succeeded') throw new OrError(404, 'Video content not found');
    if (req.query.index !== undefined && req.query.index !== '0') throw new OrError(404, 'Video content not found');
    if (job.resultExpired()) throw new OrError(410, 'Video content has expired');
    const reply = rangeReply(req, this.videoFor(job), { 'content-type': 'video/mp4' });
    return { ...reply, onSent: (result) => this.recordDownload(job, req, result, 'video') };
  }

  private word(phase: Phase): string {
    switch (phase) {
      case 'queued':
        return 'pending';
      case 'running':
        return 'in_progress';
      case 'succeeded':
        return 'completed';
      case 'cancelled':
        return 'cancelled';
      case 'expired':
        return 'expired';
      default:
        return 'failed';
    }
  }

  render(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const status = this.word(obs.phase);
    const f = job.script.failure;
    return {
      id: job.id,
      polling_url: p.polling,
      status,
      model: p.model,
      ...(status === 'in_progress' ? { progress: obs.progress } : {}),
      ...(status === 'completed'
        ? { generation_id: `gen-${job.id.slice(4)}`, unsigned_urls: [`${this.url}/api/v1/videos/${job.id}/content?index=0`], usage: { cost: Math.round(p.seconds * 0.4 * 100) / 100, is_byok: false } }
        : {}),
      ...(status === 'failed' ? { error: obs.phase === 'moderated' ? (f?.message ?? 'The output was flagged by the provider content policy.') : (f?.message ?? 'Video generation failed at the provider.') } : {}),
    };
  }
}

export async function startOpenrouterFake(opts: OpenrouterFakeOptions = {}): Promise<OpenrouterFake> {
  return new OpenrouterFake(opts).start();
}
