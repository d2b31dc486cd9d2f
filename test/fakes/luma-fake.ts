/**
 * Fake Luma Agents API (test fixture, never product code):
 *
 * - `Authorization: Bearer <key>` (keys `luma-api-…`), else 401;
 * - `POST /v1/generations` `{model ("ray-3.2"), type: "video", prompt (1–6000), aspect_ratio?
 *   (16:9, 9:16, 1:1, 4:3, 3:4, 21:9), video: {resolution: "540p" | "720p" | "1080p", duration:
 *   "5s" | "10s" (a **string**), loop, hdr, exr_export, start_frame, end_frame, keyframes},
 *   user_id}`; an ImageRef is exactly one of `{url}`, `{data, media_type}`, `{generation_id}`;
 *   anything else is a 400 (422 for an unknown field). Answers the Generation
 *   (`state: "queued"`);
 * - `GET /v1/generations/{id}`: `queued` → `processing` → `completed` (`output: [{type: "video",
 *   url}]`, presigned on the CDN origin for 1 h) | `failed` (`failure_code` from Luma's enum:
 *   `content_moderated` for moderation, the script's code else `generation_failed`;
 *   `failure_reason`);
 * - every answer carries `X-RateLimit-Limit`, `-Remaining`, `-Reset`; errors `{"detail"}`
 *   (the envelope of Luma's other API; the Agents API's own is not documented).
 */
import { randomUUID } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface LumaFakeOptions extends CommonFakeOptions {
  /** Presigned output lifetime, upstream ms (default 1 h). */
  resultTtlMs?: number;
}

export interface LumaJobParams {
  model: string;
  seconds: number;
  resolution: string;
  resultUrl: string;
  frames: string[];
}

class LumaError extends Error {
  constructor(
    readonly http: number,
    message: string,
  ) {
    super(message);
  }
}

const MODELS = ['ray-3.2'];
const RATIOS = ['16:9', '9:16', '1:1', '4:3', '3:4', '21:9'];
const TOP = new Set(['model', 'type', 'prompt', 'aspect_ratio', 'video', 'user_id']);
const VIDEO = new Set(['resolution', 'duration', 'loop', 'hdr', 'exr_export', 'start_frame', 'end_frame', 'keyframes', 'keyframe_indexes']);

export class LumaFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, LumaJobParams>();
  private readonly opts: LumaFakeOptions;
  private remaining = 1000;

  constructor(opts: LumaFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.server = new FakeServer({
      name: 'luma',
      faults: this.faults,
      rng: this.streamRng(0x10a),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
  }

  get baseURL(): string {
    return `${this.url}/v1`;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/v1/generations') return { route: method === 'POST' ? 'submit' : 'unknown' };
    const m = /^\/v1\/generations\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: decodeURIComponent(m[1]!) };
    return { route: 'unknown' };
  }

  private rate(): Record<string, string> {
    this.remaining = Math.max(0, this.remaining - 1);
    return { 'x-ratelimit-limit': '1000', 'x-ratelimit-remaining': String(this.remaining), 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 60) };
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new LumaError(404, 'Not Found');
      const key = this.bearer(req);
      if (!key || !this.isValidKey(key)) throw new LumaError(401, 'Invalid API key');
      const reply = req.route === 'submit' ? this.submit(req) : this.status(req);
      return { ...reply, headers: { ...this.rate(), ...(reply.headers ?? {}) } };
    } catch (err) {
      if (err instanceof LumaError) return jsonReply(err.http, { detail: err.message }, this.rate());
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault, _req: RecordedRequest): Reply {
    if (action.type === 'notFound') return jsonReply(404, { detail: 'Generation not found' });
    const headers: Record<string, string> = { ...this.rate(), ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.status === 429) headers['x-ratelimit-remaining'] = '0';
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    return jsonReply(action.status, { detail: action.message ?? (action.status === 429 ? 'Rate limit exceeded' : 'Internal Server Error') }, headers);
  }

  private imageRef(v: unknown, field: string): string {
    if (!isRecord(v)) throw new LumaError(400, `${field} must be an object`);
    const kinds = ['url', 'data', 'generation_id'].filter((k) => v[k] !== undefined);
    if (kinds.length !== 1) throw new LumaError(400, `${field} must have exactly one of url, data, generation_id`);
    if (kinds[0] === 'url' && (typeof v.url !== 'string' || !/^https?:\/\//.test(v.url))) throw new LumaError(400, `${field}.url must be an http(s) URL`);
    if (kinds[0] === 'data') {
      if (typeof v.data !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(v.data)) throw new LumaError(400, `${field}.data must be base64 (without a data: prefix)`);
      if (typeof v.media_type !== 'string' || !/^image\/(png|jpeg|webp)$/.test(v.media_type)) throw new LumaError(400, `${field}.media_type must be image/png, image/jpeg or image/webp`);
    }
    return kinds[0]!;
  }

  private submit(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new LumaError(400, 'Invalid JSON body');
    const b = req.json;
    for (const k of Object.keys(b)) if (!TOP.has(k)) throw new LumaError(422, `Unknown field: ${k}`);
    if (typeof b.model !== 'string' || !MODELS.includes(b.model)) throw new LumaError(400, `Unknown model: ${String(b.model)}`);
    if (b.type !== 'video') throw new LumaError(400, 'type must be video, video_edit or video_reframe');
    if (typeof b.prompt !== 'string' || b.prompt.length < 1 || b.prompt.length > 6000) throw new LumaError(400, 'prompt must be 1 to 6000 characters');
    if (b.aspect_ratio !== undefined && (typeof b.aspect_ratio !== 'string' || !RATIOS.includes(b.aspect_ratio))) throw new LumaError(400, `Invalid aspect_ratio: ${String(b.aspect_ratio)}`);
    const v = isRecord(b.video) ? b.video : {};
    for (const k of Object.keys(v)) if (!VIDEO.has(k)) throw new LumaError(422, `Unknown field: video.${k}`);
    const resolution = v.resolution ?? '720p';
    if (typeof resolution !== 'string' || !['540p', '720p', '1080p'].includes(resolution)) throw new LumaError(400, `Invalid video.resolution: ${String(resolution)}`);
    const duration = v.duration ?? '5s';
    if (typeof duration !== 'string' || !['5s', '10s'].includes(duration)) throw new LumaError(400, `video.duration must be "5s" or "10s", not ${JSON.stringify(duration)}`);
    for (const k of ['loop', 'hdr', 'exr_export']) if (v[k] !== undefined && typeof v[k] !== 'boolean') throw new LumaError(400, `video.${k} must be a boolean`);
    const frames: string[] = [];
    if (v.start_frame !== undefined) frames.push(`start:${this.imageRef(v.start_frame, 'video.start_frame')}`);
    if (v.end_frame !== undefined) frames.push(`end:${this.imageRef(v.end_frame, 'video.end_frame')}`);
    const id = randomUUID();
    const job = this.createJob(req, { id, kind: 'create', model: b.model, prompt: b.prompt, body: b }, this.opts.resultTtlMs ?? 3_600_000);
    const resultUrl = this.cdn.publish({
      path: `/luma-agents-output/${id}/video.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    this.params.set(id, { model: b.model, seconds: duration === '10s' ? 10 : 5, resolution, resultUrl, frames });
    return jsonReply(201, this.render(job, { phase: 'queued', progress: 0 }));
  }

  private status(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job || job.takeNotFound()) throw new LumaError(404, 'Generation not found');
    return jsonReply(200, this.render(job, job.observe()));
  }

  /** A Generation as Luma renders it. */
  render(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const base = { id: job.id, created_at: new Date(job.createdAt).toISOString(), model: p.model, type: 'video' };
    const f = job.script.failure;
    switch (obs.phase) {
      case 'queued':
        return { ...base, state: 'queued' };
      case 'running':
        return { ...base, state: 'processing' };
      case 'succeeded':
        return { ...base, state: 'completed', output: [{ type: 'video', url: p.resultUrl }] };
      case 'moderated':
        return { ...base, state: 'failed', failure_code: f?.code ?? 'content_moderated', failure_reason: f?.message ?? 'The prompt or an input image was flagged by content moderation.' };
      default:
        return { ...base, state: 'failed', failure_code: f?.code ?? 'generation_failed', failure_reason: f?.message ?? 'Generation failed.' };
    }
  }
}

/** Starts a Luma fake (API + CDN) on 127.0.0.1 random ports. */
export async function startLumaFake(opts: LumaFakeOptions = {}): Promise<LumaFake> {
  return new LumaFake(opts).start();
}
