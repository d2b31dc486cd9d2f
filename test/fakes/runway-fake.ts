/**
 * Fake Runway developer API (test fixture, never product code):
 *
 * - every route demands `Authorization: Bearer <key>` (401 `{"error"}`) **and**
 *   `X-Runway-Version: 2024-11-06` (400 `{"error"}` without it or with another date);
 * - `POST /v1/text_to_video` and `POST /v1/image_to_video`: camelCase `{model, promptText,
 *   promptImage, ratio ("1280:720"), duration (integer), seed, audio, contentModeration}`; the
 *   ratio and duration are checked per model (`gen4.5`, `gen4_turbo` image-only, the hosted
 *   `veo3.1`, `veo3.1_fast`, `veo3`); `promptImage` is an https URL, a `data:image/…` URI or
 *   `[{uri, position: "first" | "last"}]`; any other field is a 400 with `issues`. Answers `{id}`
 *   (a UUID) only;
 * - `GET /v1/tasks/{id}`: `PENDING` (and `THROTTLED` on the second queued poll) → `RUNNING`
 *   (`progress` 0..1) → `SUCCEEDED` (`output: [url]` on the CDN origin, expiring) | `FAILED`
 *   (`failure`, `failureCode`: `SAFETY.OUTPUT.VIDEO` for moderation, the script's code else) |
 *   `CANCELLED`;
 * - `DELETE /v1/tasks/{id}` → 204 (cancels a running task, deletes a finished one);
 * - `GET /v1/organization` (the probe).
 */
import { randomUUID } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface RunwayFakeOptions extends CommonFakeOptions {
  /** Result lifetime after completion, upstream ms (default 24 h). */
  resultTtlMs?: number;
}

export interface RunwayJobParams {
  endpoint: 'text_to_video' | 'image_to_video';
  model: string;
  seconds: number;
  ratio: string;
  resultUrl: string;
  cancelled: boolean;
  deleted: boolean;
  /** The status words served, in order. */
  words: string[];
}

class RunwayError extends Error {
  constructor(
    readonly http: number,
    message: string,
    readonly issues?: unknown[],
  ) {
    super(message);
  }
}

export const RUNWAY_VERSION = '2024-11-06';
const GEN4 = ['1280:720', '720:1280', '1104:832', '960:960', '832:1104', '1584:672'];
const VEO = ['1280:720', '720:1280', '1080:1920', '1920:1080'];
const MODELS: Record<string, { text: boolean; ratios: string[]; durations: number[]; last: boolean; audio: boolean }> = {
  'gen4.5': { text: true, ratios: GEN4, durations: [2, 3, 4, 5, 6, 7, 8, 9, 10], last: false, audio: false },
  gen4_turbo: { text: false, ratios: GEN4, durations: [2, 3, 4, 5, 6, 7, 8, 9, 10], last: false, audio: false },
  'veo3.1': { text: true, ratios: VEO, durations: [4, 6, 8], last: true, audio: true },
  'veo3.1_fast': { text: true, ratios: VEO, durations: [4, 6, 8], last: true, audio: true },
  veo3: { text: true, ratios: VEO, durations: [8], last: false, audio: true },
};
const FIELDS = new Set(['model', 'promptText', 'promptImage', 'ratio', 'duration', 'seed', 'audio', 'contentModeration']);

export class RunwayFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, RunwayJobParams>();
  private readonly opts: RunwayFakeOptions;

  constructor(opts: RunwayFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.server = new FakeServer({
      name: 'runway',
      faults: this.faults,
      rng: this.streamRng(0x2a7),
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

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (path === '/v1/text_to_video' || path === '/v1/image_to_video') return { route: method === 'POST' ? 'submit' : 'unknown' };
    if (path === '/v1/organization' && method === 'GET') return { route: 'list' };
    const m = /^\/v1\/tasks\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: decodeURIComponent(m[1]!) };
    if (m && method === 'DELETE') return { route: 'delete', jobId: decodeURIComponent(m[1]!) };
    return { route: 'unknown' };
  }

  private handle(req: RecordedRequest): Reply {
    try {
      if (req.route === 'unknown') throw new RunwayError(404, 'Not found');
      const key = this.bearer(req);
      if (!key || !this.isValidKey(key)) throw new RunwayError(401, 'Incorrect or missing API key.');
      const version = req.headers['x-runway-version'];
      if (version === undefined) throw new RunwayError(400, 'You must provide the X-Runway-Version header.');
      if (version !== RUNWAY_VERSION) throw new RunwayError(400, `Unsupported API version: ${String(version)}.`);
      switch (req.route) {
        case 'submit':
          return this.submit(req);
        case 'list':
          return jsonReply(200, { creditBalance: 10_000, tier: { maxMonthlyCreditSpend: 100_000, models: {} }, usage: { models: {} } });
        case 'delete':
          return this.remove(req);
        default:
          return this.status(req);
      }
    } catch (err) {
      if (err instanceof RunwayError) return jsonReply(err.http, { error: err.message, ...(err.issues ? { issues: err.issues } : {}) });
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault, _req: RecordedRequest): Reply {
    if (action.type === 'notFound') return jsonReply(404, { error: 'Task not found.' });
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    const message = action.message ?? (action.status === 429 ? 'You have exceeded the daily task limit.' : 'Service unavailable.');
    return jsonReply(action.status, { error: message }, headers);
  }

  private imageUri(v: unknown, field: string): void {
    if (typeof v !== 'string' || !(/^https?:\/\//.test(v) || /^runway:\/\//.test(v) || /^data:image\/(png|jpeg|jpg|webp);base64,[A-Za-z0-9+/]+=*$/.test(v))) {
      throw new RunwayError(400, 'Validation of body failed', [{ path: [field], message: 'Invalid URI: must be an https URL, a runway:// URI or a data URI.' }]);
    }
  }

  private submit(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new RunwayError(400, 'Invalid JSON body.');
    const b = req.json;
    const issue = (path: string, message: string) => new RunwayError(400, 'Validation of body failed', [{ path: [path], message }]);
    for (const k of Object.keys(b)) if (!FIELDS.has(k)) throw issue(k, `Unrecognized key: "${k}"`);
    const endpoint = req.path.endsWith('image_to_video') ? 'image_to_video' : 'text_to_video';
    const m = typeof b.model === 'string' ? MODELS[b.model] : undefined;
    if (!m) throw issue('model', `Invalid enum value. Received '${String(b.model)}'.`);
    if (endpoint === 'text_to_video' && !m.text) throw issue('model', `${String(b.model)} is not available for text_to_video.`);
    if (typeof b.promptText !== 'string' || b.promptText.length === 0 || b.promptText.length > 1000) throw issue('promptText', 'promptText must be 1 to 1000 characters.');
    if (typeof b.ratio !== 'string' || !m.ratios.includes(b.ratio)) throw issue('ratio', `Invalid enum value. Expected ${m.ratios.map((r) => `'${r}'`).join(' | ')}, received '${String(b.ratio)}'`);
    if (typeof b.duration !== 'number' || !m.durations.includes(b.duration)) throw issue('duration', `duration must be one of ${m.durations.join(', ')}.`);
    if (b.seed !== undefined && (typeof b.seed !== 'number' || !Number.isInteger(b.seed) || b.seed < 0 || b.seed > 4294967295)) throw issue('seed', 'seed must be an integer from 0 to 4294967295.');
    if (b.audio !== undefined && (typeof b.audio !== 'boolean' || !m.audio)) throw issue('audio', 'audio is not supported for this model.');
    if (b.contentModeration !== undefined && (!isRecord(b.contentModeration) || !['auto', 'low'].includes(String(b.contentModeration.publicFigureThreshold)))) throw issue('contentModeration', 'publicFigureThreshold must be auto or low.');
    if (endpoint === 'image_to_video') {
      if (Array.isArray(b.promptImage)) {
        b.promptImage.forEach((p, i) => {
          if (!isRecord(p) || !['first', 'last'].includes(String(p.position))) throw issue(`promptImage.${i}.position`, 'position must be first or last.');
          this.imageUri(p.uri, `promptImage.${i}.uri`);
        });
        if (b.promptImage.some((p) => isRecord(p) && p.position === 'last') && !m.last) throw issue('promptImage', 'This model does not support a last frame.');
      } else {
        this.imageUri(b.promptImage, 'promptImage');
      }
    } else if (b.promptImage !== undefined) {
      throw issue('promptImage', 'Unrecognized key: "promptImage"');
    }
    const id = randomUUID();
    const job = this.createJob(req, { id, kind: 'create', model: b.model as string, prompt: b.promptText, body: b }, this.opts.resultTtlMs ?? 24 * 3_600_000);
    const resultUrl = this.cdn.publish({
      path: `/runway-tasks/${id}/output.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded' && !this.params.get(id)?.deleted,
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    this.params.set(id, { endpoint, model: b.model as string, seconds: b.duration, ratio: b.ratio, resultUrl, cancelled: false, deleted: false, words: [] });
    return jsonReply(200, { id });
  }

  private live(id: string | undefined): ScriptedJob {
    const job = id ? this.jobs.get(id) : undefined;
    if (!job || this.params.get(job.id)?.deleted) throw new RunwayError(404, 'Task not found.');
    return job;
  }

  private status(req: RecordedRequest): Reply {
    const job = this.live(req.jobId);
    if (job.takeNotFound()) throw new RunwayError(404, 'Task not found.');
    const task = this.render(job, job.observe());
    this.params.get(job.id)!.words.push(String(task.status));
    return jsonReply(200, task);
  }

  private remove(req: RecordedRequest): Reply {
    const job = this.live(req.jobId);
    const p = this.params.get(job.id)!;
    if (job.terminal) p.deleted = true;
    else {
      job.cancel();
      p.cancelled = true;
    }
    return { status: 204 };
  }

  /** A task as Runway renders it. */
  render(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const base = { id: job.id, createdAt: new Date(job.createdAt).toISOString() };
    const f = job.script.failure;
    switch (obs.phase) {
      case 'queued':
        return { ...base, status: job.queuedPollsServed === 2 ? 'THROTTLED' : 'PENDING' };
      case 'running':
        return { ...base, status: 'RUNNING', progress: Math.round(obs.progress) / 100 };
      case 'succeeded':
        return { ...base, status: 'SUCCEEDED', output: [p.resultUrl] };
      case 'moderated':
        return { ...base, status: 'FAILED', failure: f?.message ?? 'The output was flagged by our content moderation.', failureCode: f?.code ?? 'SAFETY.OUTPUT.VIDEO' };
      case 'cancelled':
        return { ...base, status: 'CANCELLED' };
      case 'expired':
      case 'failed':
        return { ...base, status: 'FAILED', failure: f?.message ?? 'An unexpected error occurred.', failureCode: f?.code ?? 'INTERNAL.BAD_OUTPUT.CODE01' };
    }
  }
}

/** Starts a Runway fake (API + CDN) on 127.0.0.1 random ports. */
export async function startRunwayFake(opts: RunwayFakeOptions = {}): Promise<RunwayFake> {
  return new RunwayFake(opts).start();
}
