/**
 * Fake Vidu API (test fixture, never product code), `Authorization: Token <key>`:
 *
 * - `POST /ent/v2/text2video` (no images), `/img2video` (1 image), `/start-end2video` (2 images),
 *   `/reference2video` (1–7 images): `model`, `prompt`, `images[]` (http(s) URLs or
 *   `data:image/<type>;base64,` under 10 MB decoded), integer `duration` and `resolution` by model
 *   family (q3 1–16 s, q2 1–10 s, q1 5 s, 2.0 / 1.5 4 or 8 s), `aspect_ratio` (text and reference
 *   only: 16:9, 9:16, 1:1), `seed`, `movement_amplitude`, boolean `bgm` / `audio` (q3) /
 *   `off_peak`, `payload`, `callback_url`; a field an endpoint does not take is `FieldUnwanted`, a
 *   model an endpoint does not serve `ModelUnavailable`. Answers the task with `state:"created"`.
 * - `GET /ent/v2/tasks/{id}/creations`: `created` → `queueing` → `processing` → `success`
 *   (`creations[{id, url, cover_url, video:{duration}}]`, URLs on the CDN origin, valid 24 h) |
 *   `failed` (`err_code`: `CreationPolicyViolation` for moderation, `UserCancelled` after a cancel,
 *   the script's code otherwise); `credits`, `payload`.
 * - `POST /ent/v2/tasks/{id}/cancel` `{id}`: only before processing starts, `{}`; else 400.
 * - `GET /ent/v2/tasks` (the list).
 * - errors: the HTTP status with `{code, reason, message, metadata:{trace_id}}`.
 * - callbacks: with `callback_url`, the task is POSTed on `processing`, `success` and `failed`,
 *   signed as Vidu documents (`X-HMAC-SIGNATURE` over method, path, query, `vidu`, Date and the
 *   signed headers, keyed with the API key that created the task); non-2xx answers are retried 3 times.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, Phase, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface ViduFakeOptions extends CommonFakeOptions {
  resultTtlMs?: number;
}

export interface ViduJobParams {
  endpoint: string;
  model: string;
  seconds: number;
  key: string;
  payload: string | undefined;
  resultUrl: string;
  credits: number;
  cancelled: boolean;
}

class ViduError extends Error {
  constructor(
    readonly http: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const ENDPOINTS: Record<string, { images: [number, number]; ratio: boolean }> = {
  text2video: { images: [0, 0], ratio: true },
  img2video: { images: [1, 1], ratio: false },
  'start-end2video': { images: [2, 2], ratio: false },
  reference2video: { images: [1, 7], ratio: true },
};
const COMMON = ['model', 'prompt', 'duration', 'seed', 'resolution', 'movement_amplitude', 'bgm', 'payload', 'callback_url', 'off_peak', 'watermark', 'wm_position', 'wm_url', 'meta_data'];

function family(model: string, endpoint: string): { seconds: number[]; resolutions: (s: number) => string[]; audio: boolean } {
  if (/^viduq3-(pro|turbo)$/.test(model)) return { seconds: range(1, 16), resolutions: () => ['540p', '720p', '1080p'], audio: true };
  if (/^viduq2(-pro|-turbo)?$/.test(model)) return { seconds: range(1, 10), resolutions: () => ['540p', '720p', '1080p'], audio: false };
  if (model === 'viduq1') return { seconds: [5], resolutions: () => ['1080p'], audio: false };
  if ((model === 'vidu2.0' && endpoint !== 'text2video') || model === 'vidu1.5') return { seconds: [4, 8], resolutions: (s) => (s === 8 ? ['720p'] : ['360p', '720p', '1080p']), audio: false };
  throw new ViduError(400, 'ModelUnavailable', 'model unavailable');
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

const DAY = 86_400_000;

export class ViduFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, ViduJobParams>();
  private readonly opts: ViduFakeOptions;

  constructor(opts: ViduFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.callbackRetries = 3;
    this.server = new FakeServer({
      name: 'vidu',
      faults: this.faults,
      rng: this.streamRng(0x51d0),
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
    const submit = /^\/ent\/v2\/(text2video|img2video|start-end2video|reference2video)$/.exec(path);
    if (submit) return { route: method === 'POST' ? 'submit' : 'unknown' };
    if (path === '/ent/v2/tasks' && method === 'GET') return { route: 'list' };
    const status = /^\/ent\/v2\/tasks\/([^/]+)\/creations$/.exec(path);
    if (status && method === 'GET') return { route: 'status', jobId: decodeURIComponent(status[1]!) };
    const cancel = /^\/ent\/v2\/tasks\/([^/]+)\/cancel$/.exec(path);
    if (cancel && method === 'POST') return { route: 'delete', jobId: decodeURIComponent(cancel[1]!) };
    return { route: 'unknown' };
  }

  private token(req: RecordedRequest): string | undefined {
    const m = /^Token\s+(.+)$/.exec(String(req.headers.authorization ?? '').trim());
    return m ? m[1]!.trim() : undefined;
  }

  private error(e: ViduError): Reply {
    return jsonReply(e.http, { code: e.http, reason: e.reason, message: e.message, metadata: { trace_id: randomBytes(16).toString('hex') } });
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new ViduError(404, 'NotFound', 'not found');
      const key = this.token(req);
      if (!key || !this.isValidKey(key)) throw new ViduError(401, 'Unauthorized', 'unauthorized');
      switch (req.route) {
        case 'submit':
          return this.submit(req, key);
        case 'list':
          return jsonReply(200, { tasks: this.jobList().reverse().slice(0, 10).map((j) => this.render(j, j.peek())), next_page_token: '' });
        case 'delete':
          return this.cancel(req);
        default:
          return this.status(req);
      }
    } catch (err) {
      if (err instanceof ViduError) return this.error(err);
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault): Reply {
    if (action.type === 'notFound') return this.error(new ViduError(404, 'TaskNotFound', 'task not found'));
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    const reason = action.code ?? (action.status === 429 ? 'TooManyRequests' : action.status >= 500 ? 'InternalServiceFailure' : 'BadRequest');
    return { ...this.error(new ViduError(action.status, reason, action.message ?? 'internal service failure')), headers: { ...headers, 'content-type': 'application/json' } };
  }

  private submit(req: RecordedRequest, key: string): Reply {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new ViduError(400, 'BadRequest', 'bad request');
    const b = req.json;
    const endpoint = req.path.slice('/ent/v2/'.length);
    const spec = ENDPOINTS[endpoint]!;
    const allowed = new Set([...COMMON, ...(spec.images[1] > 0 ? ['images'] : []), ...(spec.ratio ? ['aspect_ratio'] : []), 'audio']);
    const unwanted = Object.keys(b).filter((k) => !allowed.has(k));
    if (unwanted.length > 0) throw new ViduError(400, 'FieldUnwanted', `unwanted field: ${unwanted.join(',')}`);
    if (typeof b.model !== 'string' || !b.model) throw new ViduError(400, 'FieldLacking', 'field is missing or empty: model');
    const fam = family(b.model, endpoint);
    if (endpoint === 'text2video' && (typeof b.prompt !== 'string' || !b.prompt)) throw new ViduError(400, 'FieldLacking', 'field is missing or empty: prompt');
    const images = b.images ?? [];
    if (!Array.isArray(images) || images.length < spec.images[0] || images.length > spec.images[1]) throw new ViduError(400, 'FieldItemCountOutOfRange', 'field item count out of range: images');
    for (const img of images) {
      if (typeof img !== 'string') throw new ViduError(400, 'FieldInvalid', 'invalid field: images');
      if (/^https?:\/\//.test(img)) continue;
      const m = /^data:image\/(png|jpeg|jpg|webp);base64,([A-Za-z0-9+/]+=*)$/.exec(img);
      if (!m) throw new ViduError(400, 'ImageFormatInvalid', 'invalid image format');
      if (Buffer.from(m[2]!, 'base64').length >= 10 * 1024 * 1024) throw new ViduError(400, 'PageSizeOutOfRange', 'page size out of range');
    }
    const duration = b.duration ?? fam.seconds[0];
    if (typeof duration !== 'number' || !fam.seconds.includes(duration)) throw new ViduError(400, 'FieldInvalid', 'invalid field: duration');
    if (b.resolution !== undefined && (typeof b.resolution !== 'string' || !fam.resolutions(duration).includes(b.resolution))) throw new ViduError(400, 'FieldInvalid', 'invalid field: resolution');
    if (b.aspect_ratio !== undefined && !['16:9', '9:16', '1:1'].includes(String(b.aspect_ratio))) throw new ViduError(400, 'FieldInvalid', 'invalid field: aspect_ratio');
    if (b.movement_amplitude !== undefined && !['auto', 'small', 'medium', 'large'].includes(String(b.movement_amplitude))) throw new ViduError(400, 'FieldInvalid', 'invalid field: movement_amplitude');
    for (const f of ['bgm', 'audio', 'off_peak', 'watermark']) if (b[f] !== undefined && typeof b[f] !== 'boolean') throw new ViduError(400, 'FieldInvalid', `invalid field: ${f}`);
    if (b.audio === true && !fam.audio) throw new ViduError(400, 'FieldInvalid', 'invalid field: audio');
    if (b.seed !== undefined && (typeof b.seed !== 'number' || !Number.isInteger(b.seed) || b.seed < 0)) throw new ViduError(400, 'FieldInvalid', 'invalid field: seed');
    if (b.payload !== undefined && (typeof b.payload !== 'string' || b.payload.length > 1_048_576)) throw new ViduError(400, 'FieldInvalid', 'invalid field: payload');
    if (b.callback_url !== undefined && (typeof b.callback_url !== 'string' || !/^https?:\/\//.test(b.callback_url))) throw new ViduError(400, 'FieldInvalid', 'invalid field: callback_url');
    const id = String(800_000_000_000_000_000n + BigInt(Math.floor(this.rng() * 1e15)));
    const job = this.createJob(req, { id, kind: 'create', model: b.model, prompt: String(b.prompt ?? ''), body: b }, this.opts.resultTtlMs ?? DAY);
    const resultUrl = this.cdn.publish({
      path: `/vidu/creations/${id}/${randomUUID()}.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    const credits = duration * (/1080p/.test(String(b.resolution)) ? 10 : 5);
    this.params.set(id, { endpoint, model: b.model, seconds: duration, key, payload: typeof b.payload === 'string' ? b.payload : undefined, resultUrl, credits, cancelled: false });
    if (typeof b.callback_url === 'string') {
      const url = b.callback_url;
      this.followCallbacks(job, url, (phase) => (phase === 'queued' ? undefined : this.signedCallback(url, job, phase)));
    }
    return jsonReply(200, { task_id: id, type: endpoint, state: 'created', model: b.model, prompt: b.prompt ?? '', images, duration, seed: b.seed ?? Math.floor(this.rng() * 1e9), aspect_ratio: b.aspect_ratio ?? '16:9', resolution: b.resolution ?? '720p', movement_amplitude: b.movement_amplitude ?? 'auto', payload: b.payload ?? '', credits, created_at: new Date(this.clock.now()).toISOString() });
  }

  /** A callback as Vidu signs it: with the key that created the task. */
  signedCallback(url: string, job: ScriptedJob, phase: Phase, overrides: { date?: string; key?: string } = {}): { body: string; headers: Record<string, string> } {
    const p = this.params.get(job.id)!;
    const body = JSON.stringify(this.render(job, { phase, progress: phase === 'succeeded' ? 100 : 0 }));
    const date = overrides.date ?? new Date().toUTCString();
    const nonce = randomUUID();
    const u = new URL(url);
    const signing = `POST\n${u.pathname || '/'}\n${u.search.slice(1)}\nvidu\n${date}\nDate:${date}\nx-request-nonce:${nonce}\n`;
    const signature = createHmac('sha256', overrides.key ?? p.key).update(signing).digest('base64');
    return {
      body,
      headers: { Date: date, 'x-request-nonce': nonce, 'X-HMAC-SIGNED-HEADERS': 'Date;x-request-nonce', 'X-HMAC-SIGNATURE': signature, 'X-HMAC-ALGORITHM': 'hmac-sha256', 'X-HMAC-ACCESS-KEY': 'vidu' },
    };
  }

  private live(id: string | undefined): ScriptedJob {
    const job = id ? this.jobs.get(id) : undefined;
    if (!job) throw new ViduError(404, 'TaskNotFound', 'task not found');
    return job;
  }

  private status(req: RecordedRequest): Reply {
    const job = this.live(req.jobId);
    if (job.takeNotFound()) throw new ViduError(404, 'TaskNotFound', 'task not found');
    const obs = job.observe();
    this.touch(job.id);
    return jsonReply(200, this.render(job, obs));
  }

  private cancel(req: RecordedRequest): Reply {
    const job = this.live(req.jobId);
    if (!isRecord(req.json) || req.json.id !== job.id) throw new ViduError(400, 'FieldInvalid', 'invalid field: id');
    if (job.phase() !== 'queued') throw new ViduError(400, 'BadRequest', 'task state is scheduled, can not cancel');
    job.cancel();
    this.params.get(job.id)!.cancelled = true;
    this.touch(job.id);
    return jsonReply(200, {});
  }

  private word(phase: Phase, job: ScriptedJob): string {
    switch (phase) {
      case 'queued':
        return job.queuedPollsServed <= 1 ? 'created' : 'queueing';
      case 'running':
        return 'processing';
      case 'succeeded':
        return 'success';
      default:
        return 'failed';
    }
  }

  /** The task as the creations answer and callbacks render it. */
  render(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const state = this.word(obs.phase, job);
    const errCode =
      obs.phase === 'moderated'
        ? (job.script.failure?.code ?? 'CreationPolicyViolation')
        : obs.phase === 'cancelled'
          ? 'UserCancelled'
          : obs.phase === 'failed' || obs.phase === 'expired'
            ? (job.script.failure?.code ?? 'InternalServiceFailure')
            : '';
    return {
      id: job.id,
      state,
      err_code: errCode,
      credits: obs.phase === 'succeeded' ? p.credits : 0,
      payload: p.payload ?? '',
      bgm: false,
      off_peak: false,
      creations:
        obs.phase === 'succeeded'
          ? [{ id: `${job.id}01`, url: p.resultUrl, cover_url: `${this.cdn.url}/vidu/covers/${job.id}.jpg`, watermarked_url: '', video: { duration: p.seconds, fps: 24 } }]
          : [],
    };
  }
}

export async function startViduFake(opts: ViduFakeOptions = {}): Promise<ViduFake> {
  return new ViduFake(opts).start();
}
