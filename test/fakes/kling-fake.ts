/**
 * Fake Kling AI upstream (test fixture, never product code), both API generations:
 *
 * - flat: `POST /v1/videos/{text2video,image2video}` (`model_name`, `duration` a **string**,
 *   `mode`, `sound` on/off for kling-v2-6 and kling-v3, `image` / `image_tail` as a URL or bare
 *   base64 — a `data:` prefix is refused with 1201 —, `external_task_id` unique per account),
 *   `GET /v1/videos/{kind}/{task_id | external_task_id}`, `GET /v1/videos/{kind}` (list);
 *   `task_status` `submitted` → `processing` → **`succeed`** | `failed` (+ `task_status_msg`),
 *   `task_result.videos[]`.
 * - path-versioned 3.x: `POST /{text-to-video,image-to-video,omni-video}/{model}` with
 *   `contents[]`, `settings` (integer `duration` 3–15, `resolution`, `aspect_ratio`, `audio`) and
 *   `options` (`callback_url`, `external_task_id`, `watermark_info`); `GET
 *   /tasks?task_ids=…|external_task_ids=…` answers `data` as an **array**; `succeeded`, `outputs[]`.
 *
 * Auth exactly as Kling checks it: `Authorization: Bearer <JWT>` — HS256, `iss` an access key
 * of `accessKeys`, signed with its secret key, `exp` / `nbf` honoured against the wall clock
 * (401 with code 1004 expired, 1003 not yet valid, 1002 invalid, 1001 missing) — or a plain key
 * of `apiKey`. Errors are `{code, message, request_id}` with Kling's codes; over
 * `maxConcurrentJobs` a submit is answered **HTTP 200 with code 1303**. Results live on the CDN
 * origin for `resultTtlMs` (default 30 days). With a `callback_url` the fake POSTs the task
 * envelope on every change; 3.x callbacks carry Standard-Webhooks headers signed with
 * `webhookSecret` when one is set.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, Phase, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface KlingFakeOptions extends CommonFakeOptions {
  /** Access key → secret key pairs whose JWTs are accepted. */
  accessKeys?: Record<string, string>;
  /** Signs 3.x callbacks (Standard Webhooks, `whsec_…`). */
  webhookSecret?: string;
  /** Answer HTTP 200 + code 1303 when this many jobs are unfinished. */
  maxConcurrentJobs?: number;
  /** Result lifetime after completion, upstream ms (default 30 days). */
  resultTtlMs?: number;
}

/** Per-job request details. */
export interface KlingJobParams {
  api: 'flat' | 'path';
  kind: string;
  externalTaskId: string | undefined;
  seconds: number;
  resultUrl: string;
}

const FLAT_MODELS: Record<string, { seconds: string[]; sound: boolean; cfg: boolean }> = {
  'kling-v1': { seconds: ['5', '10'], sound: false, cfg: true },
  'kling-v1-5': { seconds: ['5', '10'], sound: false, cfg: true },
  'kling-v1-6': { seconds: ['5', '10'], sound: false, cfg: true },
  'kling-v2-master': { seconds: ['5', '10'], sound: false, cfg: false },
  'kling-v2-1': { seconds: ['5', '10'], sound: false, cfg: false },
  'kling-v2-1-master': { seconds: ['5', '10'], sound: false, cfg: false },
  'kling-v2-5-turbo': { seconds: ['5', '10'], sound: false, cfg: false },
  'kling-v2-6': { seconds: ['5', '10'], sound: true, cfg: false },
  'kling-v3': { seconds: Array.from({ length: 13 }, (_, i) => String(i + 3)), sound: true, cfg: false },
};
const PATH_MODELS = new Set(['kling-3.0', 'kling-3.0-turbo', 'kling-3.0-omni']);

class KlingError extends Error {
  constructor(
    readonly http: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const DAY = 86_400_000;

export class KlingFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, KlingJobParams>();
  /** Distinct JWTs seen (renewals show up here). */
  readonly tokensSeen = new Set<string>();
  private readonly opts: KlingFakeOptions;
  private readonly byExternal = new Map<string, string>();

  constructor(opts: KlingFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.server = new FakeServer({
      name: 'kling',
      faults: this.faults,
      rng: this.streamRng(0x6b1),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.maxRecordedRequests === undefined ? {} : { maxRecordedRequests: opts.maxRecordedRequests }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
  }

  get baseURL(): string {
    return this.url;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  // ---------------------------------------------------------------- routing

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (method === 'POST' && /^\/v1\/videos\/(text2video|image2video)$/.test(path)) return { route: 'submit' };
    if (method === 'POST' && /^\/(text-to-video|image-to-video|omni-video)\/[^/]+$/.test(path)) return { route: 'submit' };
    const one = /^\/v1\/videos\/(text2video|image2video)\/([^/]+)$/.exec(path);
    if (method === 'GET' && one) return { route: 'status', jobId: this.resolveId(decodeURIComponent(one[2]!)) };
    if (method === 'GET' && /^\/v1\/videos\/(text2video|image2video)$/.test(path)) return { route: 'list' };
    if (method === 'GET' && path === '/tasks') return { route: 'status' };
    return { route: 'unknown' };
  }

  private resolveId(id: string): string {
    return this.byExternal.get(id) ?? id;
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new KlingError(404, 1202, `The requested method is invalid: ${req.method} ${req.path}`);
      this.authenticate(req);
      switch (req.route) {
        case 'submit':
          return this.submit(req);
        case 'list':
          return this.ok({ data: [] });
        default:
          return req.path === '/tasks' ? this.tasks(req) : this.flatStatus(req);
      }
    } catch (err) {
      if (err instanceof KlingError) return this.errorReply(err);
      throw err;
    }
  }

  private ok(payload: Record<string, unknown>): Reply {
    return jsonReply(200, { code: 0, message: 'SUCCEED', request_id: this.requestId(), ...payload });
  }

  private requestId(): string {
    return `${Math.floor(this.rng() * 1e16)}`;
  }

  private errorReply(e: KlingError): Reply {
    return jsonReply(e.http, { code: e.code, message: e.message, request_id: this.requestId() });
  }

  private faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply {
    if (action.type === 'notFound') return this.errorReply(new KlingError(404, 1203, `task ${req.jobId ?? ''} not found`));
    const code = action.code ? Number(action.code) : action.status === 401 ? 1000 : action.status === 429 ? 1302 : action.status >= 500 ? 5000 : 1200;
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    return jsonReply(action.status, { code, message: action.message ?? 'Server error, please try again later', request_id: this.requestId() }, headers);
  }

  // ---------------------------------------------------------------- auth

  private authenticate(req: RecordedRequest): void {
    const token = this.bearer(req);
    if (!token) throw new KlingError(401, 1001, 'Authorization is empty');
    if (this.isValidKey(token)) return;
    const parts = token.split('.');
    if (parts.length !== 3) throw new KlingError(401, 1002, 'Authorization is invalid');
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as Record<string, unknown>;
      payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as Record<string, unknown>;
    } catch {
      throw new KlingError(401, 1002, 'Authorization is invalid');
    }
    const sk = typeof payload.iss === 'string' ? this.opts.accessKeys?.[payload.iss] : undefined;
    if (header.alg !== 'HS256' || !sk) throw new KlingError(401, 1002, 'Authorization is invalid');
    const expected = createHmac('sha256', sk).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2]!, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new KlingError(401, 1002, 'Authorization is invalid');
    const now = Date.now() / 1000;
    if (typeof payload.exp !== 'number' || payload.exp <= now) throw new KlingError(401, 1004, 'Authorization has expired');
    if (typeof payload.nbf === 'number' && payload.nbf > now) throw new KlingError(401, 1003, 'Authorization is not yet valid');
    this.tokensSeen.add(token);
  }

  // ---------------------------------------------------------------- submit

  private submit(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new KlingError(400, 1200, 'Request body must be a JSON object');
    const body = req.json;
    const flat = req.path.startsWith('/v1/');
    const parsed = flat ? this.validateFlat(req.path.endsWith('image2video') ? 'image2video' : 'text2video', body) : this.validatePath(req.path, body);
    if (parsed.externalTaskId !== undefined) {
      if (typeof parsed.externalTaskId !== 'string' || parsed.externalTaskId === '') throw new KlingError(400, 1201, 'external_task_id is invalid');
      if (this.byExternal.has(parsed.externalTaskId)) throw new KlingError(400, 1201, 'external_task_id already exists');
    }
    const max = this.opts.maxConcurrentJobs;
    if (max !== undefined && this.jobList().filter((j) => !j.terminal).length >= max) {
      return jsonReply(200, { code: 1303, message: 'parallel task over resource pack limit', request_id: this.requestId() });
    }
    const id = String(Date.now() * 1000 + Math.floor(this.rng() * 1000));
    const job = this.createJob(req, { id, kind: 'create', model: parsed.model, prompt: parsed.prompt, body }, this.opts.resultTtlMs ?? 30 * DAY);
    const resultUrl = this.cdn.publish({
      path: `/kcdn/cdn-videos/${randomBytes(8).toString('hex')}/${id}.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    this.params.set(id, { api: flat ? 'flat' : 'path', kind: parsed.kind, externalTaskId: parsed.externalTaskId, seconds: parsed.seconds, resultUrl });
    if (parsed.externalTaskId) this.byExternal.set(parsed.externalTaskId, id);
    if (parsed.callbackUrl) {
      this.followCallbacks(job, parsed.callbackUrl, () => this.callbackFor(job));
    }
    const view = this.renderTask(job, job.observeSubmit());
    return this.ok({ data: flat ? { task_id: id, task_status: view.task_status, task_info: view.task_info, created_at: view.created_at, updated_at: view.updated_at } : { id, status: view.status } });
  }

  private image(field: string, v: unknown): void {
    if (typeof v !== 'string' || v === '') throw new KlingError(400, 1201, `${field} is invalid`);
    if (v.startsWith('data:')) throw new KlingError(400, 1201, `${field} is invalid: base64 must not carry a data: prefix`);
    if (/^https?:\/\//.test(v)) return;
    if (!/^[A-Za-z0-9+/]+=*$/.test(v)) throw new KlingError(400, 1201, `${field} is neither a URL nor base64`);
    if (Buffer.from(v, 'base64').length > 10 * 1024 * 1024) throw new KlingError(400, 1201, `${field} is larger than 10MB`);
  }

  private validateFlat(kind: string, b: Record<string, unknown>) {
    const model = b.model_name === undefined ? 'kling-v1' : b.model_name;
    const spec = typeof model === 'string' ? FLAT_MODELS[model] : undefined;
    if (!spec) throw new KlingError(400, 1201, `model_name is invalid: ${String(model)}`);
    const prompt = b.prompt;
    if (kind === 'text2video' && (typeof prompt !== 'string' || prompt === '')) throw new KlingError(400, 1201, 'prompt is required');
    if (prompt !== undefined && (typeof prompt !== 'string' || prompt.length > 2500)) throw new KlingError(400, 1201, 'prompt is invalid');
    if (b.negative_prompt !== undefined && (typeof b.negative_prompt !== 'string' || b.negative_prompt.length > 2500)) throw new KlingError(400, 1201, 'negative_prompt is invalid');
    const duration = b.duration ?? '5';
    if (typeof duration !== 'string') throw new KlingError(400, 1201, 'duration must be a string');
    if (!spec.seconds.includes(duration)) throw new KlingError(400, 1201, `duration ${duration} is not supported by ${model}`);
    if (b.mode !== undefined && b.mode !== 'std' && b.mode !== 'pro') throw new KlingError(400, 1201, 'mode is invalid');
    if (b.sound !== undefined) {
      if (!spec.sound) throw new KlingError(400, 1201, `sound is not supported by ${model}`);
      if (b.sound !== 'on' && b.sound !== 'off') throw new KlingError(400, 1201, 'sound is invalid');
      if (b.sound === 'on' && model === 'kling-v2-6' && b.mode !== 'pro') throw new KlingError(400, 1201, 'sound is only supported in pro mode');
    }
    if (b.cfg_scale !== undefined && (!spec.cfg || typeof b.cfg_scale !== 'number' || b.cfg_scale < 0 || b.cfg_scale > 1)) throw new KlingError(400, 1201, 'cfg_scale is invalid');
    if (kind === 'text2video') {
      if (b.aspect_ratio !== undefined && !['16:9', '9:16', '1:1'].includes(String(b.aspect_ratio))) throw new KlingError(400, 1201, 'aspect_ratio is invalid');
      if (b.image !== undefined || b.image_tail !== undefined) throw new KlingError(400, 1201, 'image is not a parameter of text2video');
    } else {
      if (b.image === undefined && b.image_tail === undefined) throw new KlingError(400, 1201, 'image is required');
      if (b.image !== undefined) this.image('image', b.image);
      if (b.image_tail !== undefined) this.image('image_tail', b.image_tail);
    }
    if (b.callback_url !== undefined && typeof b.callback_url !== 'string') throw new KlingError(400, 1201, 'callback_url is invalid');
    return {
      model: String(model),
      prompt: typeof prompt === 'string' ? prompt : '',
      kind,
      seconds: Number(duration),
      externalTaskId: b.external_task_id as string | undefined,
      callbackUrl: b.callback_url as string | undefined,
    };
  }

  private validatePath(path: string, b: Record<string, unknown>) {
    const [, kind, model] = /^\/([^/]+)\/([^/]+)$/.exec(path)!;
    if (!PATH_MODELS.has(decodeURIComponent(model!))) throw new KlingError(404, 1203, `model ${model} not found`);
    const contents = b.contents;
    if (!Array.isArray(contents) || contents.length === 0) throw new KlingError(400, 1201, 'contents is required');
    let prompt = '';
    for (const c of contents) {
      if (!isRecord(c) || typeof c.type !== 'string') throw new KlingError(400, 1201, 'contents item is invalid');
      if (c.type === 'prompt') {
        if (typeof c.text !== 'string' || c.text.length > 3072) throw new KlingError(400, 1201, 'prompt is invalid');
        prompt = c.text;
      } else if (c.type === 'first_frame' || c.type === 'last_frame' || c.type === 'refer_image') {
        if (c.type === 'refer_image' && kind !== 'omni-video') throw new KlingError(400, 1201, 'refer_image needs the omni-video model');
        this.image(c.type, c.url);
      } else if (c.type === 'feature_video' || c.type === 'base_video') {
        if (kind !== 'omni-video') throw new KlingError(400, 1201, `${c.type} needs the omni-video model`);
        if (typeof c.url !== 'string' || !/^https?:\/\//.test(c.url)) throw new KlingError(400, 1201, `${c.type} must be a URL`);
      } else {
        throw new KlingError(400, 1201, `contents type ${c.type} is invalid`);
      }
    }
    if (kind === 'image-to-video' && !contents.some((c) => isRecord(c) && c.type === 'first_frame')) throw new KlingError(400, 1201, 'first_frame is required');
    const s = isRecord(b.settings) ? b.settings : {};
    const duration = s.duration ?? 5;
    if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 3 || duration > 15) throw new KlingError(400, 1201, 'settings.duration must be an integer from 3 to 15');
    if (s.resolution !== undefined && !['720p', '1080p', '4k'].includes(String(s.resolution))) throw new KlingError(400, 1201, 'settings.resolution is invalid');
    if (s.resolution === '4k' && String(model).includes('turbo')) throw new KlingError(400, 1201, 'settings.resolution 4k is not supported by turbo');
    if (s.aspect_ratio !== undefined && !['16:9', '9:16', '1:1'].includes(String(s.aspect_ratio))) throw new KlingError(400, 1201, 'settings.aspect_ratio is invalid');
    if (s.audio !== undefined && !['native', 'original', 'off'].includes(String(s.audio))) throw new KlingError(400, 1201, 'settings.audio is invalid');
    const o = isRecord(b.options) ? b.options : {};
    return {
      model: decodeURIComponent(model!),
      prompt,
      kind: kind!,
      seconds: duration,
      externalTaskId: o.external_task_id as string | undefined,
      callbackUrl: typeof o.callback_url === 'string' ? o.callback_url : undefined,
    };
  }

  // ---------------------------------------------------------------- status

  private flatStatus(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job || this.params.get(job.id)?.api !== 'flat') throw new KlingError(404, 1203, 'task not found');
    if (job.takeNotFound()) throw new KlingError(404, 1203, 'task not found');
    const obs = job.observe();
    this.touch(job.id);
    return this.ok({ data: this.renderTask(job, obs) });
  }

  private tasks(req: RecordedRequest): Reply {
    const ids = (req.query.task_ids ?? '').split(',').filter(Boolean);
    const external = (req.query.external_task_ids ?? '').split(',').filter(Boolean);
    const jobs = [...ids, ...external.map((e) => this.byExternal.get(e) ?? '')].map((id) => this.jobs.get(id)).filter((j): j is ScriptedJob => !!j && this.params.get(j.id)?.api === 'path');
    req.jobId = jobs[0]?.id;
    return this.ok({
      data: jobs.map((j) => {
        if (ids.length && j.takeNotFound()) return undefined;
        const obs = ids.length ? j.observe() : j.peek();
        this.touch(j.id);
        return this.renderTask(j, obs);
      }).filter(Boolean),
    });
  }

  private failureMessage(job: ScriptedJob, phase: Phase): string {
    switch (phase) {
      case 'moderated':
        return job.script.failure?.message ?? 'Failure to pass the risk control system';
      case 'expired':
        return 'Task timed out';
      case 'cancelled':
        return 'Task cancelled';
      default:
        return job.script.failure?.message ?? 'Generation failed, please try again later';
    }
  }

  /** A task as Kling renders it (flat or 3.x shape). */
  renderTask(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const flat = p.api === 'flat';
    const word = obs.phase === 'queued' ? 'submitted' : obs.phase === 'running' ? 'processing' : obs.phase === 'succeeded' ? (flat ? 'succeed' : 'succeeded') : 'failed';
    const created = Math.floor(job.createdAt);
    const updated = Math.floor(job.terminal ? (job.finishedAt ?? this.clock.now()) : this.clock.now());
    const video = { id: `v${job.id}`, url: p.resultUrl, duration: String(p.seconds) };
    if (flat) {
      return {
        task_id: job.id,
        task_status: word,
        ...(word === 'failed' ? { task_status_msg: this.failureMessage(job, obs.phase) } : {}),
        task_info: p.externalTaskId ? { external_task_id: p.externalTaskId } : {},
        created_at: created,
        updated_at: updated,
        ...(word === 'succeed' ? { task_result: { videos: [video] }, final_unit_deduction: String(p.seconds * 0.1) } : {}),
      };
    }
    return {
      id: job.id,
      status: word,
      ...(word === 'failed' ? { status_msg: this.failureMessage(job, obs.phase) } : {}),
      external_task_id: p.externalTaskId,
      created_at: created,
      updated_at: updated,
      ...(word === 'succeeded' ? { outputs: [{ type: 'video', url: p.resultUrl, duration: String(p.seconds) }], billing: [{ charge_type: 'video', amount: p.seconds }] } : {}),
    };
  }

  private callbackFor(job: ScriptedJob): { body: string; headers?: Record<string, string> } {
    const p = this.params.get(job.id)!;
    const body = JSON.stringify({ code: 0, message: 'SUCCEED', request_id: this.requestId(), data: this.renderTask(job, job.peek()) });
    if (p.api === 'flat' || !this.opts.webhookSecret) return { body };
    const id = `msg_${randomBytes(8).toString('hex')}`;
    const ts = String(Math.floor(Date.now() / 1000));
    const key = Buffer.from(this.opts.webhookSecret.replace(/^whsec_/, ''), 'base64');
    const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
    return { body, headers: { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` } };
  }
}

/** Starts a Kling fake (API + CDN) on 127.0.0.1 random ports. */
export async function startKlingFake(opts: KlingFakeOptions = {}): Promise<KlingFake> {
  return new KlingFake(opts).start();
}
