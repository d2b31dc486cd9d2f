/**
 * Fake Volcengine Ark / BytePlus ModelArk content-generation API for Seedance (test fixture,
 * never product code), under `/api/v3`:
 *
 * - `POST /contents/generations/tasks` (Bearer): `model`, `content[]` of `{type:"text",text}`,
 *   `{type:"image_url",image_url:{url},role}` (`first_frame` | `last_frame` | `reference_image`;
 *   an http(s) URL or a `data:image/…;base64,` URL), `video_url` / `audio_url` items
 *   (`reference_video` / `reference_audio`, URLs); typed parameters — integer `duration`, boolean
 *   `generate_audio` / `watermark` / `camera_fixed`, integer `seed` (-1 … 2^31-1), `ratio`,
 *   `resolution` — checked against the model family (no seed on 2.x, no audio on 1.0, durations);
 *   frames and references cannot be mixed. Answers `{"id":"cgt-…"}`.
 * - `GET /contents/generations/tasks/{id}`: `queued` → `running` → `succeeded` | `failed`
 *   (`error:{code,message}`) | `expired` | `cancelled`; `content.video_url` on the CDN origin,
 *   valid 24 h; `duration`, `resolution`, `ratio`, `framespersecond`, and
 *   `usage.completion_tokens` = W × H × 24 × seconds / 1024 (it drives Ark's billing).
 * - `GET /contents/generations/tasks?page_num=&page_size=&filter.status=&filter.task_ids=`.
 * - `DELETE /contents/generations/tasks/{id}`: cancels a `queued` task, deletes a finished one,
 *   refuses a `running` one.
 * - errors `{"error":{"code","message","param","type"}}` (`AuthenticationError`,
 *   `InvalidParameter`, `RateLimitExceeded…`, `InternalServiceError`).
 * - with a `callback_url`, the task object is POSTed (unsigned) on every change, retried 3 times
 *   when the answer is not a 2xx.
 */
import { randomBytes } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, Phase, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface ArkFakeOptions extends CommonFakeOptions {
  /** Result lifetime after completion, upstream ms (default 24 h). */
  resultTtlMs?: number;
}

export interface ArkJobParams {
  model: string;
  seconds: number;
  resolution: string;
  ratio: string;
  generateAudio: boolean | undefined;
  seed: number;
  resultUrl: string;
  deleted: boolean;
}

class ArkError extends Error {
  constructor(
    readonly http: number,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly type = 'BadRequest',
  ) {
    super(message);
  }
}

/** Output sizes by resolution and ratio (Seedance 2.x). */
const SIZES: Record<string, Record<string, [number, number]>> = {
  '480p': { '16:9': [864, 496], '9:16': [496, 864], '1:1': [640, 640], '4:3': [752, 560], '3:4': [560, 752], '21:9': [992, 432], '9:21': [432, 992] },
  '720p': { '16:9': [1280, 720], '9:16': [720, 1280], '1:1': [960, 960], '4:3': [1112, 834], '3:4': [834, 1112], '21:9': [1470, 630], '9:21': [630, 1470] },
  '1080p': { '16:9': [1920, 1080], '9:16': [1080, 1920], '1:1': [1440, 1440], '4:3': [1664, 1248], '3:4': [1248, 1664], '21:9': [2206, 946], '9:21': [946, 2206] },
  '4k': { '16:9': [3840, 2160], '9:16': [2160, 3840], '1:1': [2880, 2880], '4:3': [3328, 2496], '3:4': [2496, 3328], '21:9': [4412, 1892], '9:21': [1892, 4412] },
};

function family(model: string): { min: number; max: number; seed: boolean; audio: boolean } {
  if (/seedance-2-5/.test(model)) return { min: 4, max: 30, seed: false, audio: true };
  if (/seedance-2-0/.test(model)) return { min: 4, max: 15, seed: false, audio: true };
  if (/seedance-1-5/.test(model)) return { min: 4, max: 12, seed: true, audio: true };
  if (/seedance-1-0/.test(model)) return { min: 2, max: 12, seed: true, audio: false };
  throw new ArkError(404, 'InvalidEndpointOrModel.NotFound', `The model ${model} does not exist or you do not have access to it.`, 'model', 'NotFound');
}

const HOUR = 3_600_000;

export class ArkFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, ArkJobParams>();
  private readonly opts: ArkFakeOptions;

  constructor(opts: ArkFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.callbackRetries = 3;
    this.server = new FakeServer({
      name: 'ark',
      faults: this.faults,
      rng: this.streamRng(0xa4c),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.maxRecordedRequests === undefined ? {} : { maxRecordedRequests: opts.maxRecordedRequests }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
  }

  /** Base URL as ModelArk documents it (with `/api/v3`). */
  get baseURL(): string {
    return `${this.url}/api/v3`;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/api/v3/contents/generations/tasks') return { route: method === 'POST' ? 'submit' : method === 'GET' ? 'list' : 'unknown' };
    const m = /^\/api\/v3\/contents\/generations\/tasks\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: decodeURIComponent(m[1]!) };
    if (m && method === 'DELETE') return { route: 'delete', jobId: decodeURIComponent(m[1]!) };
    return { route: 'unknown' };
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new ArkError(404, 'NotFound', `The requested resource ${req.method} ${req.path} was not found.`, null, 'NotFound');
      const key = this.bearer(req);
      if (!key || !this.isValidKey(key)) throw new ArkError(401, 'AuthenticationError', 'The API key in the request is missing or invalid.', null, 'Unauthorized');
      switch (req.route) {
        case 'submit':
          return this.submit(req);
        case 'list':
          return this.list(req);
        case 'delete':
          return this.remove(req);
        default:
          return this.status(req);
      }
    } catch (err) {
      if (err instanceof ArkError) return this.errorReply(err);
      throw err;
    }
  }

  private errorReply(e: ArkError): Reply {
    return jsonReply(e.http, { error: { code: e.code, message: e.message, param: e.param ?? '', type: e.type } });
  }

  private faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply {
    if (action.type === 'notFound') return this.errorReply(new ArkError(404, 'ResourceNotFound', `The task ${req.jobId ?? ''} was not found.`, 'id', 'NotFound'));
    const code = action.code ?? (action.status === 429 ? 'RateLimitExceeded.EndpointRPMExceeded' : action.status === 401 ? 'AuthenticationError' : action.status >= 500 ? 'InternalServiceError' : 'InvalidParameter');
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    return jsonReply(action.status, { error: { code, message: action.message ?? 'The service encountered an unexpected internal error.', param: action.param ?? '', type: action.errorType ?? 'InternalServerError' } }, headers);
  }

  // ---------------------------------------------------------------- submit

  private mediaUrl(field: string, v: unknown, kind: 'image' | 'video' | 'audio'): void {
    if (typeof v !== 'string' || v === '') throw new ArkError(400, 'InvalidParameter', `${field}.url is required`, `content.${field}`);
    if (/^https?:\/\//.test(v) || /^asset:\/\//.test(v)) return;
    if (kind === 'image' && /^data:image\/(png|jpeg|jpg|webp|bmp|tiff|gif);base64,[A-Za-z0-9+/]+=*$/.test(v)) {
      if (Buffer.from(v.slice(v.indexOf(',') + 1), 'base64').length > 30 * 1024 * 1024) throw new ArkError(400, 'InvalidParameter.OversizeImage', 'The image is larger than 30 MB.', `content.${field}`);
      return;
    }
    throw new ArkError(400, 'InvalidParameter', `${field}.url must be an http(s) URL${kind === 'image' ? ' or a data:image/<format>;base64 URL' : ''}`, `content.${field}`);
  }

  private submit(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new ArkError(400, 'InvalidParameter', 'The request body must be a JSON object.');
    const b = req.json;
    if (typeof b.model !== 'string' || !b.model) throw new ArkError(400, 'MissingParameter', 'The parameter model is required.', 'model');
    const fam = family(b.model);
    if (!Array.isArray(b.content) || b.content.length === 0) throw new ArkError(400, 'MissingParameter', 'The parameter content is required.', 'content');
    let prompt = '';
    const roles: string[] = [];
    for (const item of b.content) {
      if (!isRecord(item)) throw new ArkError(400, 'InvalidParameter', 'content items must be objects', 'content');
      switch (item.type) {
        case 'text':
          if (typeof item.text !== 'string') throw new ArkError(400, 'InvalidParameter', 'text must be a string', 'content.text');
          prompt = item.text;
          break;
        case 'image_url':
          this.mediaUrl('image_url', isRecord(item.image_url) ? item.image_url.url : undefined, 'image');
          if (!['first_frame', 'last_frame', 'reference_image'].includes(String(item.role ?? 'first_frame'))) throw new ArkError(400, 'InvalidParameter', `role ${String(item.role)} is invalid for image_url`, 'content.role');
          roles.push(String(item.role ?? 'first_frame'));
          break;
        case 'video_url':
          this.mediaUrl('video_url', isRecord(item.video_url) ? item.video_url.url : undefined, 'video');
          if (item.role !== 'reference_video') throw new ArkError(400, 'InvalidParameter', 'role must be reference_video for video_url', 'content.role');
          roles.push('reference_video');
          break;
        case 'audio_url':
          this.mediaUrl('audio_url', isRecord(item.audio_url) ? item.audio_url.url : undefined, 'audio');
          if (item.role !== 'reference_audio') throw new ArkError(400, 'InvalidParameter', 'role must be reference_audio for audio_url', 'content.role');
          roles.push('reference_audio');
          break;
        default:
          throw new ArkError(400, 'InvalidParameter', `content type ${String(item.type)} is invalid`, 'content.type');
      }
    }
    const frames = roles.some((r) => r === 'first_frame' || r === 'last_frame');
    if (frames && roles.some((r) => r.startsWith('reference_'))) throw new ArkError(400, 'InvalidParameter', 'first/last frames and reference media cannot be used together', 'content');
    if (roles.includes('last_frame') && !roles.includes('first_frame')) throw new ArkError(400, 'InvalidParameter', 'last_frame requires first_frame', 'content');
    const duration = b.duration ?? 5;
    if (typeof duration !== 'number' || !Number.isInteger(duration)) throw new ArkError(400, 'InvalidParameter', 'The parameter duration must be an integer.', 'duration');
    if (duration !== -1 && (duration < fam.min || duration > fam.max)) throw new ArkError(400, 'InvalidParameter', `The parameter duration must be between ${fam.min} and ${fam.max} for ${b.model}.`, 'duration');
    const resolution = b.resolution ?? '720p';
    if (typeof resolution !== 'string' || !SIZES[resolution]) throw new ArkError(400, 'InvalidParameter', 'The parameter resolution is invalid.', 'resolution');
    const ratio = b.ratio ?? (frames ? 'adaptive' : '16:9');
    if (typeof ratio !== 'string' || (ratio !== 'adaptive' && !SIZES['720p']![ratio])) throw new ArkError(400, 'InvalidParameter', 'The parameter ratio is invalid.', 'ratio');
    for (const f of ['generate_audio', 'watermark', 'camera_fixed', 'return_last_frame']) {
      if (b[f] !== undefined && typeof b[f] !== 'boolean') throw new ArkError(400, 'InvalidParameter', `The parameter ${f} must be a boolean.`, f);
    }
    if (b.generate_audio === true && !fam.audio) throw new ArkError(400, 'InvalidParameter', `generate_audio is not supported by ${b.model}.`, 'generate_audio');
    if (b.seed !== undefined) {
      if (!fam.seed) throw new ArkError(400, 'InvalidParameter', `seed is not supported by ${b.model}.`, 'seed');
      if (typeof b.seed !== 'number' || !Number.isInteger(b.seed) || b.seed < -1 || b.seed > 2_147_483_647) throw new ArkError(400, 'InvalidParameter', 'The parameter seed is out of range.', 'seed');
    }
    if (b.callback_url !== undefined && typeof b.callback_url !== 'string') throw new ArkError(400, 'InvalidParameter', 'callback_url must be a string', 'callback_url');
    const now = this.clock.now();
    const stamp = new Date(now).toISOString().replace(/\D/g, '').slice(0, 14);
    const id = `cgt-${stamp}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const job = this.createJob(req, { id, kind: 'create', model: b.model, prompt, body: b }, this.opts.resultTtlMs ?? 24 * HOUR);
    const resultUrl = this.cdn.publish({
      path: `/ark-content-generation/${stamp.slice(0, 8)}/${id}/video.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    const seconds = duration === -1 ? 5 : duration;
    this.params.set(id, {
      model: b.model,
      seconds,
      resolution,
      ratio,
      generateAudio: b.generate_audio as boolean | undefined,
      seed: typeof b.seed === 'number' ? b.seed : Math.floor(this.rng() * 2_147_483_647),
      resultUrl,
      deleted: false,
    });
    if (typeof b.callback_url === 'string') {
      const url = b.callback_url;
      this.followCallbacks(job, url, () => ({ body: JSON.stringify(this.renderTask(job, job.peek())) }));
    }
    return jsonReply(200, { id });
  }

  // ---------------------------------------------------------------- status, list, delete

  private live(id: string | undefined): ScriptedJob {
    const job = id ? this.jobs.get(id) : undefined;
    if (!job || this.params.get(job.id)?.deleted) throw new ArkError(404, 'ResourceNotFound', `The task ${id ?? ''} was not found.`, 'id', 'NotFound');
    return job;
  }

  private status(req: RecordedRequest): Reply {
    const job = this.live(req.jobId);
    if (job.takeNotFound()) throw new ArkError(404, 'ResourceNotFound', `The task ${job.id} was not found.`, 'id', 'NotFound');
    const obs = job.observe();
    this.touch(job.id);
    return jsonReply(200, this.renderTask(job, obs));
  }

  private list(req: RecordedRequest): Reply {
    const ids = req.query['filter.task_ids']?.split(',').filter(Boolean);
    const status = req.query['filter.status'];
    const size = Math.max(1, Math.min(500, Number(req.query.page_size ?? 10) || 10));
    const page = Math.max(1, Number(req.query.page_num ?? 1) || 1);
    const items = this.jobList()
      .filter((j) => !this.params.get(j.id)?.deleted && (!ids || ids.includes(j.id)))
      .map((j) => this.renderTask(j, j.peek()))
      .filter((t) => !status || t.status === status)
      .reverse();
    return jsonReply(200, { items: items.slice((page - 1) * size, page * size), total: items.length });
  }

  private remove(req: RecordedRequest): Reply {
    const job = this.live(req.jobId);
    const phase = job.phase();
    if (phase === 'running') throw new ArkError(400, 'InvalidParameter', 'Only queued tasks can be cancelled; the task is running.', 'id');
    if (phase === 'queued') {
      job.cancel();
      this.touch(job.id);
    } else {
      this.params.get(job.id)!.deleted = true;
    }
    return jsonReply(200, {});
  }

  private word(phase: Phase): string {
    switch (phase) {
      case 'queued':
        return 'queued';
      case 'running':
        return 'running';
      case 'succeeded':
        return 'succeeded';
      case 'cancelled':
        return 'cancelled';
      case 'expired':
        return 'expired';
      default:
        return 'failed';
    }
  }

  /** A task object as Ark renders it. */
  renderTask(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const status = this.word(obs.phase);
    const ratio = p.ratio === 'adaptive' ? '16:9' : p.ratio;
    const [w, h] = SIZES[p.resolution]![ratio] ?? [1280, 720];
    const finished = job.terminal ? (job.finishedAt ?? this.clock.now()) : this.clock.now();
    const f = job.script.failure;
    const error =
      obs.phase === 'failed'
        ? { code: f?.code ?? 'InternalServiceError', message: f?.message ?? 'The service encountered an unexpected internal error.' }
        : obs.phase === 'moderated'
          ? { code: f?.code ?? 'OutputVideoSensitiveContentDetected', message: f?.message ?? 'The request failed because the output video may contain sensitive information.' }
          : obs.phase === 'expired'
            ? { code: 'TaskExpired', message: 'The task was not run before execution_expires_after.' }
            : null;
    const tokens = Math.round((w * h * 24 * p.seconds) / 1024);
    return {
      id: job.id,
      model: p.model,
      status,
      error,
      created_at: Math.floor(job.createdAt / 1000),
      updated_at: Math.floor(finished / 1000),
      ...(status === 'succeeded' ? { content: { video_url: p.resultUrl } } : {}),
      seed: p.seed,
      resolution: p.resolution,
      ratio: p.ratio,
      duration: p.seconds,
      framespersecond: 24,
      ...(p.generateAudio === undefined ? {} : { generate_audio: p.generateAudio }),
      draft: false,
      service_tier: 'default',
      execution_expires_after: 172_800,
      ...(status === 'succeeded' ? { usage: { completion_tokens: tokens, total_tokens: tokens } } : {}),
    };
  }
}

/** Starts an Ark fake (API + CDN) on 127.0.0.1 random ports. */
export async function startArkFake(opts: ArkFakeOptions = {}): Promise<ArkFake> {
  return new ArkFake(opts).start();
}
