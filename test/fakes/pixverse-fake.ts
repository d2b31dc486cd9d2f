/**
 * Fake PixVerse platform API (test fixture, never product code), under `/openapi/v2`:
 *
 * - every request needs `API-KEY` and an `Ai-trace-id` (a UUID). A trace id the fake has answered
 *   successfully before gets **the same answer again** and does nothing else (no second upload, no
 *   second job: `replays` counts them) — PixVerse's idempotency.
 * - `POST /image/upload` (multipart `image`: PNG, JPEG or WebP, at most 20 MB) → `Resp.img_id`.
 * - `POST /video/text/generate` (`aspect_ratio` required), `/video/img/generate` (`img_id`),
 *   `/video/transition/generate` (`first_frame_img`, `last_frame_img`): `model` (v3.5 … v6, c1),
 *   `prompt` (≤ 2048), integer `duration` (5/8 on older models, 5/8/10 on v5.5, 1–15 on v6/c1;
 *   1080p shorter), `quality` (360p, 540p, 720p, 1080p), `negative_prompt`, `seed`,
 *   `motion_mode`, `style`, boolean `generate_audio_switch` (v5 and later); unknown or misplaced
 *   fields refused; image ids must be this account's uploads → `Resp.video_id`.
 * - `GET /video/result/{id}`: `Resp.status` 5 (generating) → 1 (`url` on the CDN origin) | 7
 *   (moderation) | 8 (failed); `outputWidth`, `outputHeight`, `size`.
 * - `GET /account/balance`: the credits (the probe).
 * - every answer is HTTP 200 `{ErrCode, ErrMsg, Resp}`: 10005 bad key, 400017 invalid parameter,
 *   500043 credits used up, 500044 concurrency limit, 500054 moderation, 500030 not found.
 */
import { randomInt } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface PixverseFakeOptions extends CommonFakeOptions {
  resultTtlMs?: number;
}

export interface PixverseJobParams {
  route: string;
  model: string;
  seconds: number;
  quality: string;
  traceId: string;
  imgIds: number[];
  resultUrl: string;
}

class PxError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SIZES: Record<string, [number, number]> = { '360p': [640, 360], '540p': [960, 540], '720p': [1280, 720], '1080p': [1920, 1080] };
const COMMON = ['model', 'prompt', 'negative_prompt', 'duration', 'quality', 'seed', 'motion_mode', 'style', 'generate_audio_switch', 'template_id', 'water_mark'];

function family(model: string): { seconds: number[]; max1080: number; ratios: string[]; audio: boolean } {
  if (model === 'v6' || model === 'c1') return { seconds: Array.from({ length: 15 }, (_, i) => i + 1), max1080: 15, ratios: ['16:9', '4:3', '1:1', '3:4', '9:16', '2:3', '3:2', '21:9'], audio: true };
  if (model === 'v5.5') return { seconds: [5, 8, 10], max1080: 8, ratios: ['16:9', '4:3', '1:1', '3:4', '9:16'], audio: true };
  if (model === 'v5') return { seconds: [5, 8], max1080: 5, ratios: ['16:9', '4:3', '1:1', '3:4', '9:16'], audio: true };
  if (['v4.5', 'v4', 'v3.5'].includes(model)) return { seconds: [5, 8], max1080: 5, ratios: ['16:9', '4:3', '1:1', '3:4', '9:16'], audio: false };
  throw new PxError(400017, `Invalid parameter: model ${model} is not supported`);
}

export class PixverseFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, PixverseJobParams>();
  /** Uploaded images by img_id. */
  readonly uploads = new Map<number, { bytes: number; contentType: string; traceId: string }>();
  /** Requests answered from the trace-id cache (nothing done). */
  replays = 0;
  private readonly answered = new Map<string, string>();
  private readonly opts: PixverseFakeOptions;

  constructor(opts: PixverseFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.server = new FakeServer({
      name: 'pixverse',
      faults: this.faults,
      rng: this.streamRng(0x9f5),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action) => this.faultReply(action),
    });
  }

  get baseURL(): string {
    return this.url;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/openapi/v2/image/upload' && method === 'POST') return { route: 'upload' };
    if (/^\/openapi\/v2\/video\/(text|img|transition)\/generate$/.test(path) && method === 'POST') return { route: 'submit' };
    const m = /^\/openapi\/v2\/video\/result\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: decodeURIComponent(m[1]!) };
    if (path === '/openapi/v2/account/balance' && method === 'GET') return { route: 'list' };
    return { route: 'unknown' };
  }

  private envelope(code: number, message: string, resp: unknown = null): Reply {
    return jsonReply(200, { ErrCode: code, ErrMsg: message, Resp: resp });
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') return jsonReply(404, { ErrCode: 404, ErrMsg: 'Not Found', Resp: null });
      const key = req.headers['api-key'];
      if (typeof key !== 'string' || !this.isValidKey(key)) throw new PxError(10005, 'API key is invalid');
      const trace = req.headers['ai-trace-id'];
      if (typeof trace !== 'string' || !UUID.test(trace)) throw new PxError(400017, 'Invalid parameter: Ai-trace-id must be a UUID');
      const earlier = this.answered.get(trace);
      if (earlier !== undefined) {
        this.replays++;
        return { status: 200, body: earlier, contentType: 'application/json' };
      }
      let resp: unknown;
      switch (req.route) {
        case 'upload':
          resp = this.upload(req, trace);
          break;
        case 'submit':
          resp = this.submit(req, trace);
          break;
        case 'list':
          resp = { account_id: 1, credit_monthly: 1000, credit_package: 500 };
          break;
        default:
          resp = this.status(req);
      }
      const body = JSON.stringify({ ErrCode: 0, ErrMsg: 'success', Resp: resp });
      this.answered.set(trace, body);
      return { status: 200, body, contentType: 'application/json' };
    } catch (err) {
      if (err instanceof PxError) return this.envelope(err.code, err.message);
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault): Reply {
    if (action.type === 'notFound') return this.envelope(500030, 'video not found');
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    // An ErrCode fault is an HTTP 200 envelope, as PixVerse answers; other statuses are the gateway in front of it.
    const code = Number(action.code ?? (action.status === 429 ? 500044 : 500000));
    return { ...jsonReply(action.status === 200 || action.code !== undefined ? 200 : action.status, { ErrCode: code, ErrMsg: action.message ?? 'Internal server error', Resp: null }), headers: { ...headers } };
  }

  private upload(req: RecordedRequest, trace: string): unknown {
    const file = req.form?.files.find((f) => f.field === 'image');
    if (req.bodyKind !== 'multipart' || !file) throw new PxError(400017, 'Invalid parameter: image is required (multipart form-data)');
    if (!['image/png', 'image/jpeg', 'image/jpg', 'image/webp'].includes(file.contentType)) throw new PxError(400017, 'Invalid parameter: image must be JPG, PNG or WebP');
    if (file.size > 20 * 1024 * 1024) throw new PxError(400017, 'Invalid parameter: image is larger than 20MB');
    const id = randomInt(100_000_000, 999_999_999);
    this.uploads.set(id, { bytes: file.size, contentType: file.contentType, traceId: trace });
    return { img_id: id, img_url: `${this.cdn.url}/openapi/upload/${id}.png` };
  }

  private imgId(v: unknown, field: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || !this.uploads.has(v)) throw new PxError(400017, `Invalid parameter: ${field} is not an uploaded image`);
    return v;
  }

  private submit(req: RecordedRequest, trace: string): unknown {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new PxError(400017, 'Invalid parameter: body must be JSON');
    const b = req.json;
    const kind = /\/video\/(text|img|transition)\//.exec(req.path)![1]!;
    const allowed = new Set([...COMMON, ...(kind === 'text' ? ['aspect_ratio'] : kind === 'img' ? ['img_id'] : ['first_frame_img', 'last_frame_img'])]);
    for (const k of Object.keys(b)) if (!allowed.has(k)) throw new PxError(400017, `Invalid parameter: ${k}`);
    if (typeof b.model !== 'string') throw new PxError(400017, 'Invalid parameter: model');
    const fam = family(b.model);
    if (typeof b.prompt !== 'string' || !b.prompt || b.prompt.length > 2048) throw new PxError(400017, 'Invalid parameter: prompt');
    if (typeof b.quality !== 'string' || !SIZES[b.quality]) throw new PxError(400017, 'Invalid parameter: quality');
    if (typeof b.duration !== 'number' || !fam.seconds.includes(b.duration)) throw new PxError(400017, 'Invalid parameter: duration');
    if (b.quality === '1080p' && b.duration > fam.max1080) throw new PxError(400017, `Invalid parameter: 1080p does not support ${b.duration}s`);
    if (kind === 'text' && (typeof b.aspect_ratio !== 'string' || !fam.ratios.includes(b.aspect_ratio))) throw new PxError(400017, 'Invalid parameter: aspect_ratio');
    if (b.seed !== undefined && (typeof b.seed !== 'number' || !Number.isInteger(b.seed) || b.seed < 0 || b.seed > 2_147_483_647)) throw new PxError(400017, 'Invalid parameter: seed');
    if (b.motion_mode !== undefined && !['normal', 'fast'].includes(String(b.motion_mode))) throw new PxError(400017, 'Invalid parameter: motion_mode');
    if (b.generate_audio_switch !== undefined && (typeof b.generate_audio_switch !== 'boolean' || (b.generate_audio_switch && !fam.audio))) throw new PxError(400017, 'Invalid parameter: generate_audio_switch');
    const imgIds = kind === 'img' ? [this.imgId(b.img_id, 'img_id')] : kind === 'transition' ? [this.imgId(b.first_frame_img, 'first_frame_img'), this.imgId(b.last_frame_img, 'last_frame_img')] : [];
    const id = String(randomInt(100_000_000_000, 999_999_999_999));
    const job = this.createJob(req, { id, kind: 'create', model: b.model, prompt: b.prompt, body: b }, this.opts.resultTtlMs ?? 7 * 86_400_000);
    const resultUrl = this.cdn.publish({
      path: `/pixverse/mp4/media/web/ori/${id}.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    this.params.set(id, { route: kind, model: b.model, seconds: b.duration, quality: b.quality, traceId: trace, imgIds, resultUrl });
    return { video_id: Number(id), credits: b.duration * 10 };
  }

  private status(req: RecordedRequest): unknown {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job || job.takeNotFound()) throw new PxError(500030, 'video not found');
    return this.render(job, job.observe());
  }

  render(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const [w, h] = SIZES[p.quality]!;
    const status = obs.phase === 'succeeded' ? 1 : obs.phase === 'moderated' ? 7 : obs.phase === 'queued' || obs.phase === 'running' ? 5 : 8;
    return {
      id: Number(job.id),
      status,
      url: status === 1 ? p.resultUrl : '',
      prompt: job.prompt,
      negative_prompt: String(job.body.negative_prompt ?? ''),
      seed: Number(job.body.seed ?? 0),
      outputWidth: w,
      outputHeight: h,
      resolution_ratio: h,
      size: status === 1 ? 1_000_000 : 0,
      style: String(job.body.style ?? ''),
      create_time: new Date(job.createdAt).toISOString(),
      modify_time: new Date(this.clock.now()).toISOString(),
    };
  }
}

export async function startPixverseFake(opts: PixverseFakeOptions = {}): Promise<PixverseFake> {
  return new PixverseFake(opts).start();
}
