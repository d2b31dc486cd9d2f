/**
 * Fake MiniMax video API (test fixture, never product code), upstreams.md §8 and §16.2:
 *
 * - Auth: `Authorization: Bearer <key>`. V1 answers a missing key with HTTP 200 and
 *   `base_resp {1004, "login fail…"}`, a wrong one with `{2049, "invalid api key"}`; V2 with HTTP
 *   401 and its error envelope. Every answer carries a `Trace-Id` header.
 * - V1: `POST /v1/video_generation` (`MiniMax-Hailuo-2.3`, `-2.3-Fast` (first frame only),
 *   `MiniMax-Hailuo-02` (512P from a frame, last frame), `T2V-01`, `I2V-01`, `S2V-01`): typed
 *   fields checked (integer `duration` 6/10, not 10 at 1080P; `resolution` per model; frames as
 *   http(s) or `data:image/(jpeg|png|webp);base64,` under 20 MB; `subject_reference` only on
 *   S2V-01); errors as HTTP 200 with `base_resp.status_code` ≠ 0 (2013 invalid params). `GET
 *   /v1/query/video_generation?task_id=` → `Preparing` (first look) / `Queueing` →
 *   `Processing` → `Success` (+ `file_id`, `video_width`, `video_height`) | `Fail` (the reason in
 *   `base_resp`). `GET /v1/files/retrieve?file_id=` → `{file:{…, download_url}}`, each
 *   `download_url` a new CDN link valid `downloadTtlMs` (1 h). `GET /v1/files/list`.
 * - V2: `POST /v2/video_generation` (`MiniMax-H3` 768P/2K 4–15 s, `MiniMax-H3-Max` 480P/768P
 *   5–15 s) with `content[]` items by `role`, `ratio` (text-to-video not `adaptive`); `GET
 *   /v2/query/video_generation/{id}` → `{task:{…, status, content:{url}, usage}}` with
 *   `queued|running|succeeded|failed|cancelled`; `DELETE /v2/video_generation/{id}` cancels a
 *   queued task, deletes a finished one, refuses a running one. Errors
 *   `{"type":"error","error":{type, message, http_code}, request_id}` with the real status.
 * - Callbacks: with a `callback_url` the fake first POSTs `{"challenge": X}` and registers the URL
 *   only when the answer echoes X within 3 s (`challenges` records each try); then it POSTs
 *   `{task_id, status, file_id, base_resp}` with lowercase words (`processing`, `success`,
 *   `failed`) on every change.
 */
import { randomBytes } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, Phase, ScriptedJob } from './script.js';
import { isRecord, wallNow } from './util.js';

export interface MinimaxFakeOptions extends CommonFakeOptions {
  /** Lifetime of each V1 `download_url` from when it is handed out, upstream ms (default 1 h). */
  downloadTtlMs?: number;
  /** Lifetime of a V2 result URL after completion, upstream ms (default 24 h). */
  resultTtlMs?: number;
}

export interface MinimaxJobParams {
  api: 'v1' | 'v2';
  model: string;
  seconds: number;
  resolution: string;
  width: number;
  height: number;
  fileId: string;
  /** V2's result link. */
  resultUrl: string | undefined;
  deleted: boolean;
}

export interface ChallengeRecord {
  jobId: string;
  challenge: string;
  /** The URL answered with the same challenge in time. */
  echoed: boolean;
  at: number;
}

class V1Error extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

class V2Error extends Error {
  constructor(
    readonly http: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const V1_MODELS: Record<string, { res: string[]; t2v: boolean; i2v: boolean; last: boolean; subject: boolean; legacy: boolean }> = {
  'MiniMax-Hailuo-2.3': { res: ['768P', '1080P'], t2v: true, i2v: true, last: false, subject: false, legacy: false },
  'MiniMax-Hailuo-2.3-Fast': { res: ['768P', '1080P'], t2v: false, i2v: true, last: false, subject: false, legacy: false },
  'MiniMax-Hailuo-02': { res: ['512P', '768P', '1080P'], t2v: true, i2v: true, last: true, subject: false, legacy: false },
  'T2V-01': { res: ['720P'], t2v: true, i2v: false, last: false, subject: false, legacy: true },
  'T2V-01-Director': { res: ['720P'], t2v: true, i2v: false, last: false, subject: false, legacy: true },
  'I2V-01': { res: ['720P'], t2v: false, i2v: true, last: false, subject: false, legacy: true },
  'I2V-01-Director': { res: ['720P'], t2v: false, i2v: true, last: false, subject: false, legacy: true },
  'I2V-01-live': { res: ['720P'], t2v: false, i2v: true, last: false, subject: false, legacy: true },
  'S2V-01': { res: ['720P'], t2v: true, i2v: false, last: false, subject: true, legacy: true },
};
const V2_MODELS: Record<string, { res: string[]; min: number; max: number }> = {
  'MiniMax-H3': { res: ['768P', '2K'], min: 4, max: 15 },
  'MiniMax-H3-Max': { res: ['480P', '768P'], min: 5, max: 15 },
};
const V2_RATIOS = ['adaptive', '16:9', '9:16', '21:9', '4:3', '1:1', '3:4'];
const HEIGHTS: Record<string, number> = { '480P': 480, '512P': 512, '720P': 720, '768P': 768, '1080P': 1080, '2K': 1440 };
const HOUR = 3_600_000;

export class MinimaxFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, MinimaxJobParams>();
  readonly challenges: ChallengeRecord[] = [];
  private readonly opts: MinimaxFakeOptions;
  private readonly files = new Map<string, string>();
  private downloads = 0;

  constructor(opts: MinimaxFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.server = new FakeServer({
      name: 'minimax',
      faults: this.faults,
      rng: this.streamRng(0x3131),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.maxRecordedRequests === undefined ? {} : { maxRecordedRequests: opts.maxRecordedRequests }),
      route: (method, path, query) => this.route(method, path, query),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
  }

  /** Base URL as MiniMax documents it (the host: paths carry /v1 and /v2). */
  get baseURL(): string {
    return this.url;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  private route(method: string, path: string, query: URLSearchParams): { route: RouteName; jobId?: string } {
    const id = (v: string | null | undefined) => (v ? { jobId: v } : {});
    if (path === '/v1/video_generation' || path === '/v2/video_generation') return { route: method === 'POST' ? 'submit' : 'unknown' };
    // V1 names the job in the query string (and its file by a file id).
    if (path === '/v1/query/video_generation' && method === 'GET') return { route: 'status', ...id(query.get('task_id')) };
    if (path === '/v1/files/retrieve' && method === 'GET') return { route: 'content', ...id(this.files.get(query.get('file_id') ?? '')) };
    if (path === '/v1/files/list' && method === 'GET') return { route: 'list' };
    const q = /^\/v2\/query\/video_generation\/([^/]+)$/.exec(path);
    if (q && method === 'GET') return { route: 'status', jobId: decodeURIComponent(q[1]!) };
    const d = /^\/v2\/video_generation\/([^/]+)$/.exec(path);
    if (d && method === 'DELETE') return { route: 'delete', jobId: decodeURIComponent(d[1]!) };
    return { route: 'unknown' };
  }

  private isV2(req: RecordedRequest): boolean {
    return req.path.startsWith('/v2/');
  }

  private trace(): Record<string, string> {
    return { 'trace-id': randomBytes(16).toString('hex') };
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') {
        if (this.isV2(req)) throw new V2Error(404, 'not_found_error', `${req.method} ${req.path} not found`);
        return jsonReply(404, { base_resp: { status_code: 1000, status_msg: 'not found' } }, this.trace());
      }
      const key = this.bearer(req);
      if (!key || !this.isValidKey(key)) {
        if (this.isV2(req)) throw new V2Error(401, 'authorized_error', key ? 'invalid api key (2049)' : 'login fail: Please carry the API secret key in the Authorization field of the request header (1004)');
        throw new V1Error(key ? 2049 : 1004, key ? 'invalid api key' : "login fail: Please carry the API secret key in the 'Authorization' field of the request header");
      }
      if (this.isV2(req)) {
        if (req.route === 'submit') return this.submitV2(req);
        if (req.route === 'delete') return this.removeV2(req);
        return this.statusV2(req);
      }
      switch (req.route) {
        case 'submit':
          return this.submitV1(req);
        case 'content':
          return this.retrieve(req);
        case 'list':
          return this.ok({ files: [...this.files.keys()].map((file_id) => ({ file_id, purpose: 'video_generation', filename: 'output_aigc.mp4' })) });
        default:
          return this.statusV1(req);
      }
    } catch (err) {
      if (err instanceof V1Error) return this.ok({}, err.code, err.message);
      if (err instanceof V2Error) return this.v2Error(err);
      throw err;
    }
  }

  private ok(body: Record<string, unknown>, code = 0, msg = 'success'): Reply {
    return jsonReply(200, { ...body, base_resp: { status_code: code, status_msg: msg } }, this.trace());
  }

  private v2Error(e: V2Error): Reply {
    return jsonReply(e.http, { type: 'error', error: { type: e.type, message: e.message, http_code: String(e.http) }, request_id: randomBytes(12).toString('hex') }, this.trace());
  }

  private faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply {
    const v2 = this.isV2(req);
    if (action.type === 'notFound') {
      return v2 ? this.v2Error(new V2Error(404, 'not_found_error', 'task not found')) : this.ok({}, 2013, 'invalid params, task not found');
    }
    const headers: Record<string, string> = { ...this.trace(), ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    if (v2) {
      const type = action.errorType ?? (action.status === 429 ? 'rate_limit_error' : action.status === 401 ? 'authorized_error' : action.status >= 500 ? 'server_error' : 'bad_request_error');
      return jsonReply(action.status, { type: 'error', error: { type, message: action.message ?? 'internal error', http_code: String(action.status) }, request_id: 'req' }, headers);
    }
    // V1 reports its errors inside HTTP 200; other statuses come from the proxies in front of it.
    const code = Number(action.code ?? (action.status === 429 ? 1002 : 1000));
    return jsonReply(action.status, { base_resp: { status_code: code, status_msg: action.message ?? (code === 1002 ? 'rate limit exceeded' : 'unknown error') } }, headers);
  }

  // ---------------------------------------------------------------- media

  private image(field: string, v: unknown, throws: (m: string) => Error): void {
    if (typeof v !== 'string' || v === '') throw throws(`${field} must be a string`);
    if (/^https?:\/\//.test(v) || v.startsWith('mm_file://')) return;
    const m = /^data:image\/(jpeg|jpg|png|webp);base64,([A-Za-z0-9+/]+=*)$/.exec(v);
    if (!m) throw throws(`${field} must be a URL or a data:image/(jpeg|png|webp);base64 URL`);
    if (Buffer.from(m[2]!, 'base64').length >= 20 * 1024 * 1024) throw throws(`${field} must be smaller than 20MB`);
  }

  private newJob(req: RecordedRequest, api: 'v1' | 'v2', model: string, prompt: string, body: Record<string, unknown>, p: Omit<MinimaxJobParams, 'fileId' | 'resultUrl' | 'deleted' | 'api' | 'model'>): ScriptedJob {
    const id = api === 'v1' ? String(300_000_000_000_000 + Math.floor(this.rng() * 99_999_999_999_999)) : `vgt-${randomBytes(10).toString('hex')}`;
    const job = this.createJob(req, { id, kind: 'create', model, prompt, body }, this.opts.resultTtlMs ?? 24 * HOUR);
    const fileId = String(400_000_000_000_000 + Math.floor(this.rng() * 99_999_999_999_999));
    this.files.set(fileId, id);
    const resultUrl =
      api === 'v2'
        ? this.cdn.publish({
            path: `/minimax-video/${id}/output.mp4`,
            jobId: id,
            source: () => this.videoFor(job),
            expiresAt: () => job.resultExpiresAt,
            available: () => job.phase() === 'succeeded',
            onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
          })
        : undefined;
    this.params.set(id, { api, model, fileId, resultUrl, deleted: false, ...p });
    if (typeof body.callback_url === 'string') void this.handshake(job, body.callback_url);
    return job;
  }

  /** The callback registration: POST a challenge; only an echo within 3 s registers the URL. */
  private async handshake(job: ScriptedJob, url: string): Promise<void> {
    const challenge = randomBytes(16).toString('hex');
    let echoed = false;
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ challenge }), signal: AbortSignal.timeout(3_000) });
      const body = (await res.json().catch(() => undefined)) as unknown;
      echoed = res.ok && isRecord(body) && body.challenge === challenge;
    } catch {
      echoed = false;
    }
    this.challenges.push({ jobId: job.id, challenge, echoed, at: wallNow() });
    if (!echoed) return;
    this.followCallbacks(job, url, (phase) => {
      const word = this.callbackWord(job, phase);
      if (!word) return undefined;
      const p = this.params.get(job.id)!;
      return { body: JSON.stringify({ task_id: job.id, status: word, ...(word === 'success' && p.api === 'v1' ? { file_id: p.fileId } : {}), base_resp: { status_code: 0, status_msg: 'success' } }) };
    });
  }

  private callbackWord(job: ScriptedJob, phase: Phase): string | undefined {
    if (this.params.get(job.id)!.api === 'v2') return phase === 'queued' ? undefined : this.v2Word(phase);
    switch (phase) {
      case 'running':
        return 'processing';
      case 'succeeded':
        return 'success';
      case 'queued':
        return undefined;
      default:
        return 'failed';
    }
  }

  // ---------------------------------------------------------------- V1

  private submitV1(req: RecordedRequest): Reply {
    const bad = (m: string) => new V1Error(2013, `invalid params, ${m}`);
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw bad('the body must be JSON');
    const b = req.json;
    const spec = typeof b.model === 'string' ? V1_MODELS[b.model] : undefined;
    if (!spec) throw bad(`model ${String(b.model)} is not supported`);
    const model = b.model as string;
    if (typeof b.prompt !== 'string' && !b.first_frame_image) throw bad('prompt is required');
    if (typeof b.prompt === 'string' && b.prompt.length > 2000) throw bad('prompt must be at most 2000 characters');
    for (const f of ['prompt_optimizer', 'fast_pretreatment']) if (b[f] !== undefined && typeof b[f] !== 'boolean') throw bad(`${f} must be a boolean`);
    if (b.fast_pretreatment !== undefined && spec.legacy) throw bad(`fast_pretreatment is not supported by ${model}`);
    const resolution = b.resolution ?? (spec.legacy ? '720P' : '768P');
    if (typeof resolution !== 'string' || !spec.res.includes(resolution)) throw bad(`resolution ${String(resolution)} is not supported by ${model}`);
    const duration = b.duration ?? 6;
    if (typeof duration !== 'number' || !Number.isInteger(duration)) throw bad('duration must be an integer');
    if (duration !== 6 && (duration !== 10 || spec.legacy)) throw bad(`duration ${duration} is not supported by ${model}`);
    if (duration === 10 && resolution === '1080P') throw bad('duration 10 is not supported at 1080P');
    const frame = b.first_frame_image !== undefined;
    if (frame) {
      if (!spec.i2v) throw bad(`first_frame_image is not supported by ${model}`);
      this.image('first_frame_image', b.first_frame_image, bad);
    } else if (!spec.t2v) throw bad(`${model} requires first_frame_image`);
    if (resolution === '512P' && !frame) throw bad('512P requires first_frame_image');
    if (b.last_frame_image !== undefined) {
      if (!spec.last) throw bad(`last_frame_image is not supported by ${model}`);
      this.image('last_frame_image', b.last_frame_image, bad);
    }
    if (b.subject_reference !== undefined || spec.subject) {
      if (!spec.subject) throw bad(`subject_reference is not supported by ${model}`);
      const refs = b.subject_reference;
      if (!Array.isArray(refs) || refs.length !== 1 || !isRecord(refs[0]) || refs[0].type !== 'character' || !Array.isArray(refs[0].image) || refs[0].image.length !== 1) {
        throw bad('subject_reference must be [{type:"character", image:[one image]}]');
      }
      this.image('subject_reference.image', refs[0].image[0], bad);
    }
    if (b.callback_url !== undefined && typeof b.callback_url !== 'string') throw bad('callback_url must be a string');
    const height = HEIGHTS[resolution]!;
    const job = this.newJob(req, 'v1', model, String(b.prompt ?? ''), b, { seconds: duration, resolution, height, width: Math.round((height * 16) / 9) });
    return this.ok({ task_id: job.id });
  }

  private live(id: string | undefined, notFound: () => Error): ScriptedJob {
    const job = id ? this.jobs.get(id) : undefined;
    if (!job || this.params.get(job.id)?.deleted) throw notFound();
    return job;
  }

  private statusV1(req: RecordedRequest): Reply {
    const notFound = () => new V1Error(2013, 'invalid params, task_id not found');
    const job = this.live(req.query.task_id, notFound);
    if (this.params.get(job.id)!.api !== 'v1') throw notFound();
    if (job.takeNotFound()) throw notFound();
    const first = job.statusCalls === 0;
    const obs = job.observe();
    this.touch(job.id);
    const p = this.params.get(job.id)!;
    const f = job.script.failure;
    switch (obs.phase) {
      case 'queued':
        return this.ok({ task_id: job.id, status: first ? 'Preparing' : 'Queueing', file_id: '' });
      case 'running':
        return this.ok({ task_id: job.id, status: 'Processing', file_id: '' });
      case 'succeeded':
        return this.ok({ task_id: job.id, status: 'Success', file_id: p.fileId, video_width: p.width, video_height: p.height });
      case 'moderated':
        return this.ok({ task_id: job.id, status: 'Fail', file_id: '' }, Number(f?.code ?? 1027) || 1027, f?.message ?? 'output video sensitive');
      default:
        return this.ok({ task_id: job.id, status: 'Fail', file_id: '' }, Number(f?.code ?? 1000) || 1000, f?.message ?? (obs.phase === 'expired' ? 'task expired' : 'video generation failed'));
    }
  }

  private retrieve(req: RecordedRequest): Reply {
    const fileId = req.query.file_id ?? '';
    const jobId = this.files.get(fileId);
    const job = jobId ? this.jobs.get(jobId) : undefined;
    if (!job || job.phase() !== 'succeeded') throw new V1Error(2013, 'invalid params, file not found');
    const handedOut = this.clock.now();
    const ttl = this.opts.downloadTtlMs ?? HOUR;
    const url = this.cdn.publish({
      path: `/minimax-files/${fileId}/${++this.downloads}/output_aigc.mp4`,
      jobId: job.id,
      source: () => this.videoFor(job),
      expiresAt: () => handedOut + ttl,
      available: () => true,
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    return this.ok({ file: { file_id: Number(fileId), bytes: 0, created_at: Math.floor(handedOut / 1000), filename: 'output_aigc.mp4', purpose: 'video_generation', download_url: url } });
  }

  // ---------------------------------------------------------------- V2

  private submitV2(req: RecordedRequest): Reply {
    const bad = (m: string) => new V2Error(400, 'bad_request_error', `invalid params, ${m} (2013)`);
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw bad('the body must be JSON');
    const b = req.json;
    const spec = typeof b.model === 'string' ? V2_MODELS[b.model] : undefined;
    if (!spec) throw bad(`model ${String(b.model)} is not supported`);
    if (!Array.isArray(b.content) || b.content.length === 0) throw bad('content is required');
    let prompt = '';
    const roles: string[] = [];
    for (const item of b.content) {
      if (!isRecord(item)) throw bad('content items must be objects');
      if (item.type === 'text') {
        if (typeof item.text !== 'string') throw bad('text must be a string');
        prompt = item.text;
      } else if (item.type === 'image_url') {
        if (!['first_frame', 'last_frame', 'reference_image'].includes(String(item.role))) throw bad(`role ${String(item.role)} is invalid for image_url`);
        this.image('image_url.url', isRecord(item.image_url) ? item.image_url.url : undefined, bad);
        roles.push(String(item.role));
      } else if (item.type === 'video_url' || item.type === 'audio_url') {
        const want = item.type === 'video_url' ? 'reference_video' : 'reference_audio';
        if (item.role !== want) throw bad(`role must be ${want} for ${item.type}`);
        const u = isRecord(item[item.type]) ? (item[item.type] as Record<string, unknown>).url : undefined;
        if (typeof u !== 'string' || !/^(https?:\/\/|mm_file:\/\/|data:)/.test(u)) throw bad(`${item.type}.url must be a URL`);
        roles.push(want);
      } else throw bad(`content type ${String(item.type)} is invalid`);
    }
    if (roles.includes('last_frame') && !roles.includes('first_frame')) throw bad('last_frame requires first_frame');
    const duration = b.duration ?? 5;
    if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < spec.min || duration > spec.max) throw bad(`duration must be an integer from ${spec.min} to ${spec.max}`);
    const resolution = b.resolution ?? '768P';
    if (typeof resolution !== 'string' || !spec.res.includes(resolution)) throw bad(`resolution ${String(resolution)} is not supported by ${String(b.model)}`);
    const ratio = b.ratio ?? (roles.includes('first_frame') ? 'adaptive' : undefined);
    if (typeof ratio !== 'string' || !V2_RATIOS.includes(ratio)) throw bad('ratio is required and must be one of ' + V2_RATIOS.join(', '));
    if (ratio === 'adaptive' && !roles.includes('first_frame')) throw bad('ratio adaptive requires a first_frame');
    if (b.extra !== undefined && !isRecord(b.extra)) throw bad('extra must be an object');
    const height = HEIGHTS[resolution]!;
    const [rw, rh] = ratio === 'adaptive' ? [16, 9] : ratio.split(':').map(Number);
    const width = Math.round((height * rw!) / rh!);
    const job = this.newJob(req, 'v2', b.model as string, prompt, b, { seconds: duration, resolution, height: rw! >= rh! ? height : width, width: rw! >= rh! ? width : height });
    return jsonReply(200, { task_id: job.id }, this.trace());
  }

  private v2Word(phase: Phase): string {
    switch (phase) {
      case 'queued':
        return 'queued';
      case 'running':
        return 'running';
      case 'succeeded':
        return 'succeeded';
      case 'cancelled':
        return 'cancelled';
      default:
        return 'failed';
    }
  }

  renderV2(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const status = this.v2Word(obs.phase);
    const f = job.script.failure;
    const error =
      obs.phase === 'moderated'
        ? { code: f?.code ?? '1027', message: f?.message ?? 'output video sensitive' }
        : obs.phase === 'failed' || obs.phase === 'expired'
          ? { code: f?.code ?? '1000', message: f?.message ?? (obs.phase === 'expired' ? 'task expired' : 'video generation failed') }
          : undefined;
    return {
      id: job.id,
      model: p.model,
      status,
      created_at: Math.floor(job.createdAt / 1000),
      updated_at: Math.floor((job.terminal ? (job.finishedAt ?? this.clock.now()) : this.clock.now()) / 1000),
      ...(status === 'succeeded' ? { content: { url: p.resultUrl } } : {}),
      resolution: p.resolution,
      duration: p.seconds,
      ratio: `${p.width}:${p.height}`,
      task_type: 'video_generation',
      modality: 'video',
      ...(status === 'succeeded' ? { usage: { total_seconds: p.seconds, input_seconds: 0, output_seconds: p.seconds, input_image_count: 0 } } : {}),
      ...(error ? { error } : {}),
    };
  }

  private statusV2(req: RecordedRequest): Reply {
    const notFound = () => new V2Error(404, 'not_found_error', `task ${req.jobId ?? ''} not found`);
    const job = this.live(req.jobId, notFound);
    if (job.takeNotFound()) throw notFound();
    const obs = job.observe();
    this.touch(job.id);
    return jsonReply(200, { task: this.renderV2(job, obs), request_id: randomBytes(12).toString('hex') }, this.trace());
  }

  private removeV2(req: RecordedRequest): Reply {
    const job = this.live(req.jobId, () => new V2Error(404, 'not_found_error', `task ${req.jobId ?? ''} not found`));
    const phase = job.phase();
    if (phase === 'running') throw new V2Error(400, 'bad_request_error', 'the task is running and cannot be cancelled (2013)');
    if (phase === 'queued') {
      job.cancel();
      this.touch(job.id);
    } else {
      this.params.get(job.id)!.deleted = true;
    }
    return jsonReply(200, { request_id: randomBytes(12).toString('hex') }, this.trace());
  }
}

/** Starts a MiniMax fake (API + CDN) on 127.0.0.1 random ports. */
export async function startMinimaxFake(opts: MinimaxFakeOptions = {}): Promise<MinimaxFake> {
  return new MinimaxFake(opts).start();
}
