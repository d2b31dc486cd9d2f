/**
 * Fake DashScope (Alibaba Cloud Model Studio) video-synthesis API for Wan (test fixture, never
 * product code), models-and-parameters.md §2, under `/api/v1`:
 *
 * - Auth: `Authorization: Bearer <key>`; a wrong key is `401 {code:"InvalidApiKey"}`. A submit
 *   without `X-DashScope-Async: enable` is `403 {code:"AccessDenied", message:"current user api
 *   does not support synchronous calls"}`.
 * - `POST /services/aigc/video-generation/video-synthesis` (t2v, i2v) and
 *   `POST /services/aigc/image2video/video-synthesis` (kf2v): `{model, input, parameters}`
 *   checked per family — up to 2.6: text-to-video `parameters.size` from the fixed table,
 *   image-to-video `input.img_url` + `parameters.resolution`, kf2v `first_frame_url` +
 *   `last_frame_url`, `parameters.audio` (boolean) only on 2.5/2.6, durations 5/10/15 (2.6), 5/10
 *   (2.5), 5 (older); 2.7+: `resolution` "720P"/"1080P", `ratio` for text, integer `duration`
 *   2–15, image-to-video and reference-to-video inputs only in `input.media[]` by role
 *   (`first_frame`, `last_frame`, `driving_audio`; `reference_image` / `reference_video`, 1–5, at
 *   most 10 s with a video), text-to-video none; no `audio` switch. Images as http(s) URLs or
 *   `data:image/…;base64,` (≤ 10 MB); `input.audio_url` only as a URL. Errors `{request_id, code,
 *   message}` (`InvalidParameter`, `DataInspectionFailed`, `Throttling.RateQuota`, …). Answers
 *   `{request_id, output:{task_id, task_status:"PENDING"}}`.
 * - `GET /tasks/{id}` → `PENDING` → `RUNNING` → `SUCCEEDED` (`output.video_url` on the CDN origin,
 *   valid 24 h; `usage.video_duration`, `output_video_duration`, `video_count`, `SR`) | `FAILED`
 *   (`output.code`, `output.message`) | `CANCELED`; a task id it does not know answers HTTP 200
 *   with `task_status:"UNKNOWN"`.
 * - `POST /tasks/{id}/cancel`: only a `PENDING` task (else 400 `UnsupportedOperation`).
 * - `GET /tasks?page_no=&page_size=`: the task list.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, Phase, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface DashscopeFakeOptions extends CommonFakeOptions {
  /** Result lifetime after completion, upstream ms (default 24 h). */
  resultTtlMs?: number;
}

export interface DashscopeJobParams {
  model: string;
  seconds: number;
  width: number;
  height: number;
  tier: string;
  resultUrl: string;
}

class DsError extends Error {
  constructor(
    readonly http: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const SIZES: Record<string, Record<string, string>> = {
  '480P': { '16:9': '832*480', '9:16': '480*832', '1:1': '624*624' },
  '720P': { '16:9': '1280*720', '9:16': '720*1280', '1:1': '960*960', '4:3': '1088*832', '3:4': '832*1088' },
  '1080P': { '16:9': '1920*1080', '9:16': '1080*1920', '1:1': '1440*1440', '4:3': '1632*1248', '3:4': '1248*1632' },
};
const HOUR = 3_600_000;

function family(model: string): { v: number; kind: 't2v' | 'i2v' | 'kf2v' | 'r2v'; seconds: number[]; audio: boolean } {
  const m = /^wan(\d+)\.(\d+)-(t2v|i2v|kf2v|r2v)/.exec(model);
  if (!m) throw new DsError(400, 'InvalidParameter', `Model not exist: ${model}`);
  const v = Number(m[1]) + Number(m[2]) / 10;
  const kind = m[3] as 't2v' | 'i2v' | 'kf2v' | 'r2v';
  if (v >= 2.7) return { v, kind, seconds: Array.from({ length: 14 }, (_, i) => i + 2), audio: false };
  if (v >= 2.6) return { v, kind, seconds: [5, 10, 15], audio: true };
  if (v >= 2.5) return { v, kind, seconds: [5, 10], audio: true };
  return { v, kind, seconds: [5], audio: false };
}

const stamp = (ms: number): string => new Date(ms + 8 * HOUR).toISOString().replace('T', ' ').replace('Z', '');

export class DashscopeFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, DashscopeJobParams>();
  private readonly opts: DashscopeFakeOptions;

  constructor(opts: DashscopeFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.server = new FakeServer({
      name: 'dashscope',
      faults: this.faults,
      rng: this.streamRng(0xd5),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.maxRecordedRequests === undefined ? {} : { maxRecordedRequests: opts.maxRecordedRequests }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action) => this.faultReply(action),
    });
  }

  /** The regional host as Model Studio documents it (paths carry /api/v1). */
  get baseURL(): string {
    return this.url;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/api/v1/services/aigc/video-generation/video-synthesis' || path === '/api/v1/services/aigc/image2video/video-synthesis') return { route: method === 'POST' ? 'submit' : 'unknown' };
    if (path === '/api/v1/tasks' || path === '/api/v1/tasks/') return { route: method === 'GET' ? 'list' : 'unknown' };
    const c = /^\/api\/v1\/tasks\/([^/]+)\/cancel$/.exec(path);
    if (c && method === 'POST') return { route: 'delete', jobId: decodeURIComponent(c[1]!) };
    const t = /^\/api\/v1\/tasks\/([^/]+)$/.exec(path);
    if (t && method === 'GET') return { route: 'status', jobId: decodeURIComponent(t[1]!) };
    return { route: 'unknown' };
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new DsError(404, 'NotFound', `${req.method} ${req.path} is not found`);
      const key = this.bearer(req);
      if (!key || !this.isValidKey(key)) throw new DsError(401, 'InvalidApiKey', 'Invalid API-key provided.');
      switch (req.route) {
        case 'submit':
          return this.submit(req);
        case 'list':
          return this.list(req);
        case 'delete':
          return this.cancel(req);
        default:
          return this.status(req);
      }
    } catch (err) {
      if (err instanceof DsError) return this.errorReply(err);
      throw err;
    }
  }

  private errorReply(e: DsError, headers: Record<string, string> = {}): Reply {
    return jsonReply(e.http, { request_id: randomUUID(), code: e.code, message: e.message }, headers);
  }

  private faultReply(action: ErrorFault | NotFoundFault): Reply {
    if (action.type === 'notFound') return this.errorReply(new DsError(404, 'NotFound', 'The task is not found.'));
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    const code = action.code ?? (action.status === 429 ? 'Throttling.RateQuota' : action.status === 401 ? 'InvalidApiKey' : action.status >= 500 ? 'InternalError' : 'InvalidParameter');
    const message = action.message ?? (action.status === 429 ? 'Requests rate limit exceeded, please try again later.' : 'An internal error has occured, please try again later or contact service support.');
    return this.errorReply(new DsError(action.status, code, message), headers);
  }

  private image(field: string, v: unknown): void {
    if (typeof v !== 'string' || v === '') throw new DsError(400, 'InvalidParameter', `Field required: input.${field}`);
    if (/^(https?|oss):\/\//.test(v)) return;
    const m = /^data:image\/(jpeg|jpg|png|bmp|webp);base64,([A-Za-z0-9+/]+=*)$/.exec(v);
    if (!m) throw new DsError(400, 'InvalidParameter.DataInspection', `The media format of input.${field} is not supported or incorrect.`);
    if (Buffer.from(m[2]!, 'base64').length > 10 * 1024 * 1024) throw new DsError(400, 'InvalidParameter', `input.${field} exceeds 10MB.`);
  }

  private submit(req: RecordedRequest): Reply {
    if (req.headers['x-dashscope-async'] !== 'enable') throw new DsError(403, 'AccessDenied', 'current user api does not support synchronous calls');
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new DsError(400, 'InvalidParameter', 'The request body is not valid JSON.');
    const b = req.json;
    if (typeof b.model !== 'string') throw new DsError(400, 'InvalidParameter', 'Field required: model');
    const fam = family(b.model);
    const kf2vPath = req.path.includes('/image2video/');
    if ((fam.kind === 'kf2v') !== kf2vPath) throw new DsError(400, 'InvalidParameter', `Model ${b.model} is not supported on this endpoint.`);
    const input = isRecord(b.input) ? b.input : undefined;
    const p = isRecord(b.parameters) ? b.parameters : {};
    if (!input) throw new DsError(400, 'InvalidParameter', 'Field required: input');
    const bad = (m: string) => new DsError(400, 'InvalidParameter', m);
    if (typeof input.prompt !== 'string' && fam.kind === 't2v') throw bad('Field required: input.prompt');
    if (typeof input.prompt === 'string' && input.prompt.length > 5000) throw bad('input.prompt is too long');
    if (input.negative_prompt !== undefined && (typeof input.negative_prompt !== 'string' || input.negative_prompt.length > 500)) throw bad('input.negative_prompt must be a string of at most 500 characters');
    const duration = p.duration ?? 5;
    if (typeof duration !== 'number' || !Number.isInteger(duration) || !fam.seconds.includes(duration)) throw bad(`The duration ${String(duration)} is not supported by ${b.model}.`);
    if (p.audio !== undefined && (!fam.audio || typeof p.audio !== 'boolean')) throw bad(fam.audio ? 'parameters.audio must be a boolean' : `parameters.audio is not supported by ${b.model}`);
    if (input.audio_url !== undefined && (typeof input.audio_url !== 'string' || !/^https?:\/\//.test(input.audio_url) || fam.v < 2.5)) throw bad('input.audio_url must be a URL of a model that takes audio');
    for (const f of ['prompt_extend', 'watermark']) if (p[f] !== undefined && typeof p[f] !== 'boolean') throw bad(`parameters.${f} must be a boolean`);
    if (p.seed !== undefined && (typeof p.seed !== 'number' || !Number.isInteger(p.seed) || p.seed < 0 || p.seed > 2_147_483_647)) throw bad('parameters.seed is out of range');
    if (p.shot_type !== undefined && (fam.v !== 2.6 || fam.kind !== 't2v' || !['single', 'multi'].includes(String(p.shot_type)))) throw bad('parameters.shot_type is invalid');
    let tier: string;
    let size: string;
    if (fam.v < 2.7 && fam.kind === 't2v') {
      if (p.resolution !== undefined || p.ratio !== undefined) throw bad(`${b.model} takes parameters.size, not resolution/ratio`);
      const s = p.size ?? '1280*720';
      const t = Object.keys(SIZES).find((k) => Object.values(SIZES[k]!).includes(String(s)));
      if (!t || (fam.v >= 2.6 && t === '480P')) throw bad(`The size ${String(s)} is not supported.`);
      [tier, size] = [t, String(s)];
    } else {
      if (p.size !== undefined) throw bad(`${b.model} takes parameters.resolution, not size`);
      const r = p.resolution ?? (fam.v >= 2.7 ? '1080P' : '720P');
      if (typeof r !== 'string' || !SIZES[r] || (fam.v >= 2.6 && r === '480P')) throw bad(`The resolution ${String(r)} is not supported.`);
      tier = r;
      let ratio = '16:9';
      if (fam.kind === 't2v' || (fam.kind === 'r2v' && p.ratio !== undefined)) {
        ratio = String(p.ratio ?? '16:9');
        if (!SIZES[r]![ratio]) throw bad(`The ratio ${ratio} is not supported.`);
      } else if (p.ratio !== undefined) throw bad('parameters.ratio is not supported for image-to-video');
      size = SIZES[r]![ratio]!;
    }
    if (fam.v >= 2.7) {
      // 2.7+: image- and reference-to-video carry their inputs in media[] by role; text-to-video has no media.
      for (const f of ['img_url', 'first_frame_url', 'last_frame_url']) if (input[f] !== undefined) throw bad(`input.${f} is not supported by ${b.model}; use input.media`);
      const media = input.media;
      if (fam.kind === 't2v') {
        if (media !== undefined) throw bad(`input.media is not supported by ${b.model}`);
      } else {
        if (!Array.isArray(media) || media.length === 0) throw bad('Field required: input.media');
        const roles = media.map((item, i) => {
          if (!isRecord(item) || typeof item.type !== 'string') throw bad(`input.media[${i}].type is required`);
          if (item.type === 'first_frame' || item.type === 'last_frame' || item.type === 'reference_image') this.image(`media[${i}].url`, item.url);
          else if (typeof item.url !== 'string' || !/^https?:\/\//.test(item.url)) throw bad(`input.media[${i}].url must be a URL`);
          return item.type;
        });
        const allowed = fam.kind === 'r2v' ? ['first_frame', 'reference_image', 'reference_video'] : ['first_frame', 'last_frame', 'driving_audio', 'first_clip'];
        const odd = roles.find((t) => !allowed.includes(t));
        if (odd) throw bad(`media type ${odd} is not supported by ${b.model}`);
        if (fam.kind === 'i2v' && !roles.includes('first_frame') && !roles.includes('first_clip')) throw bad('input.media needs a first_frame or a first_clip');
        const refs = roles.filter((t) => t.startsWith('reference_')).length;
        if (fam.kind === 'r2v' && (refs < 1 || refs > 5)) throw bad('input.media needs 1 to 5 reference_image or reference_video entries');
        if (fam.kind === 'r2v' && roles.includes('reference_video') && duration > 10) throw bad('duration must be at most 10 with a reference_video');
      }
      if (input.audio_url !== undefined && fam.kind !== 't2v') throw bad(`input.audio_url is not supported by ${b.model}; use a driving_audio media entry`);
    } else if (fam.kind === 't2v') {
      for (const f of ['img_url', 'first_frame_url', 'last_frame_url']) if (input[f] !== undefined) throw bad(`input.${f} is not supported by ${b.model}`);
    } else if (fam.kind === 'i2v') {
      this.image('img_url', input.img_url);
      if (input.first_frame_url !== undefined || input.last_frame_url !== undefined) throw bad(`${b.model} takes input.img_url`);
    } else {
      this.image('first_frame_url', input.first_frame_url);
      this.image('last_frame_url', input.last_frame_url);
      if (input.img_url !== undefined) throw bad(`${b.model} takes input.first_frame_url`);
    }
    const [w, h] = size.split('*').map(Number) as [number, number];
    const id = randomUUID();
    const job = this.createJob(req, { id, kind: 'create', model: b.model, prompt: String(input.prompt ?? ''), body: b }, this.opts.resultTtlMs ?? 24 * HOUR);
    const resultUrl = this.cdn.publish({
      path: `/dashscope-result/${id}/${randomBytes(4).toString('hex')}.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    this.params.set(id, { model: b.model, seconds: duration, width: w, height: h, tier, resultUrl });
    return jsonReply(200, { request_id: randomUUID(), output: { task_id: id, task_status: 'PENDING' } });
  }

  private word(phase: Phase): string {
    switch (phase) {
      case 'queued':
        return 'PENDING';
      case 'running':
        return 'RUNNING';
      case 'succeeded':
        return 'SUCCEEDED';
      case 'cancelled':
        return 'CANCELED';
      default:
        return 'FAILED';
    }
  }

  renderTask(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const status = this.word(obs.phase);
    const f = job.script.failure;
    const error =
      obs.phase === 'moderated'
        ? { code: f?.code ?? 'DataInspectionFailed', message: f?.message ?? 'Output data may contain inappropriate content.' }
        : obs.phase === 'failed'
          ? { code: f?.code ?? 'InternalError', message: f?.message ?? 'An internal error has occured during execution.' }
          : obs.phase === 'expired'
            ? { code: 'RequestTimeOut', message: 'The task timed out in the queue.' }
            : undefined;
    const running = job.runningAt;
    return {
      request_id: randomUUID(),
      output: {
        task_id: job.id,
        task_status: status,
        submit_time: stamp(job.createdAt),
        ...(running !== undefined && obs.phase !== 'queued' ? { scheduled_time: stamp(running) } : {}),
        ...(job.terminal ? { end_time: stamp(job.finishedAt ?? this.clock.now()) } : {}),
        ...(status === 'SUCCEEDED' ? { video_url: p.resultUrl, orig_prompt: job.prompt, actual_prompt: job.prompt } : {}),
        ...(error ?? {}),
      },
      ...(status === 'SUCCEEDED'
        ? { usage: { duration: p.seconds, video_duration: p.seconds, output_video_duration: p.seconds, video_count: 1, video_ratio: `${p.width}*${p.height}`, SR: Number(p.tier.replace('P', '')) } }
        : {}),
    };
  }

  private status(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job || job.takeNotFound()) return jsonReply(200, { request_id: randomUUID(), output: { task_id: req.jobId ?? '', task_status: 'UNKNOWN' } });
    const obs = job.observe();
    this.touch(job.id);
    return jsonReply(200, this.renderTask(job, obs));
  }

  private cancel(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job) throw new DsError(404, 'NotFound', 'The task is not found.');
    if (job.phase() !== 'queued') throw new DsError(400, 'UnsupportedOperation', 'Failed to cancel the task, please confirm if the task is in PENDING status.');
    job.cancel();
    this.touch(job.id);
    return jsonReply(200, { request_id: randomUUID() });
  }

  private list(req: RecordedRequest): Reply {
    const size = Math.max(1, Math.min(100, Number(req.query.page_size ?? 10) || 10));
    const page = Math.max(1, Number(req.query.page_no ?? 1) || 1);
    const items = this.jobList()
      .reverse()
      .map((j) => this.renderTask(j, j.peek()).output as Record<string, unknown>);
    return jsonReply(200, { request_id: randomUUID(), data: items.slice((page - 1) * size, page * size), total: items.length, total_page: Math.ceil(items.length / size), page_no: page, page_size: size });
  }
}

/** Starts a DashScope fake (API + CDN) on 127.0.0.1 random ports. */
export async function startDashscopeFake(opts: DashscopeFakeOptions = {}): Promise<DashscopeFake> {
  return new DashscopeFake(opts).start();
}
