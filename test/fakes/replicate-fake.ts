/**
 * Fake Replicate predictions API (test fixture, never product code):
 *
 * - `Authorization: Bearer <token>` (legacy `Token <token>` too), else 401 problem details;
 * - `POST /v1/models/{owner}/{name}/predictions`, `POST /v1/deployments/{owner}/{name}/predictions`
 *   (a deployment runs one of the fake's models) and `POST /v1/predictions {version}`; the body is
 *   `{input, webhook?, webhook_events_filter?}`; an unknown top-level key, or an input field the
 *   model's schema does not have (or of the wrong type, or outside its enum) is a **422** with
 *   `invalid_fields`. Answers 201 with the whole prediction (`status: "starting"`, absolute
 *   `urls.get` / `urls.cancel`);
 * - `Prefer: wait[=N]` on a create blocks until the prediction ends (or N s, at most 60);
 * - `GET /v1/predictions/{id}`: `starting` → `processing` (tqdm lines in `logs`) → `succeeded`
 *   (`output`: one URL on the CDN origin, or an array for models that say so) | `failed` (`error`)
 *   | `canceled`; after the TTL (1 h) `data_removed: true`, `output: null` and the URL 404s;
 * - `POST /v1/predictions/{id}/cancel` → the prediction, `canceled`;
 * - `GET /v1/webhooks/default/secret` → `{key: "whsec_…"}`; `GET /v1/account`;
 * - webhooks: the full prediction POSTed to `webhook` for the events in
 *   `webhook_events_filter` (`start`, `completed`; default all), signed the Standard Webhooks way.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import type { Observation, Phase, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export type ReplicateFieldType = 'string' | 'integer' | 'number' | 'boolean' | 'uri' | 'uri[]';

export interface ReplicateFakeModel {
  /** `owner/name`. */
  id: string;
  version: string;
  fields: Record<string, { type: ReplicateFieldType; enum?: unknown[]; required?: boolean }>;
  /** The input field holding the length in seconds (for the record). */
  durationField?: string;
  /** Output as an array of URLs instead of one. */
  arrayOutput?: boolean;
}

export const REPLICATE_FAKE_MODELS: ReplicateFakeModel[] = [
  {
    id: 'minimax/hailuo-02',
    version: 'a'.repeat(64),
    fields: {
      prompt: { type: 'string', required: true },
      first_frame_image: { type: 'uri' },
      last_frame_image: { type: 'uri' },
      duration: { type: 'integer', enum: [6, 10] },
      resolution: { type: 'string', enum: ['512p', '768p', '1080p'] },
      prompt_optimizer: { type: 'boolean' },
    },
    durationField: 'duration',
  },
  {
    id: 'wan-video/wan-2.5-t2v',
    version: 'b'.repeat(64),
    fields: {
      prompt: { type: 'string', required: true },
      negative_prompt: { type: 'string' },
      seed: { type: 'integer' },
      duration: { type: 'integer', enum: [5, 10] },
      size: { type: 'string', enum: ['1280*720', '720*1280', '1920*1080'] },
      aspect_ratio: { type: 'string', enum: ['16:9', '9:16'] },
    },
    durationField: 'duration',
    arrayOutput: true,
  },
];

export interface ReplicateFakeOptions extends CommonFakeOptions {
  /** Outputs are deleted this long after completion, upstream ms (default 1 h). */
  resultTtlMs?: number;
  /** The account's webhook signing secret (default a random `whsec_…`). */
  webhookSecret?: string;
  /** Deployments: `owner/name` → model id. */
  deployments?: Record<string, string>;
  models?: ReplicateFakeModel[];
}

export interface ReplicateJobParams {
  via: 'model' | 'deployment' | 'version';
  model: string;
  input: Record<string, unknown>;
  resultUrl: string;
  arrayOutput: boolean;
  cancelled: boolean;
  webhook?: string;
  events: string[];
}

class ProblemError extends Error {
  constructor(
    readonly http: number,
    readonly title: string,
    readonly detail: string,
    readonly invalid?: { type: string; field: string; description: string }[],
  ) {
    super(detail);
  }
}

const TOP = new Set(['input', 'version', 'webhook', 'webhook_events_filter', 'stream']);
const EVENTS = ['start', 'output', 'logs', 'completed'];

export class ReplicateFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, ReplicateJobParams>();
  readonly webhookSecret: string;
  private readonly opts: ReplicateFakeOptions;
  private readonly models: ReplicateFakeModel[];

  constructor(opts: ReplicateFakeOptions = {}) {
    // Deleted outputs answer 404 (replicate.delivery), not a presigned URL's 403.
    super({ cdnExpiredStatus: 404, ...opts }, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    this.models = opts.models ?? REPLICATE_FAKE_MODELS;
    this.webhookSecret = opts.webhookSecret ?? `whsec_${randomBytes(24).toString('base64')}`;
    this.server = new FakeServer({
      name: 'replicate',
      faults: this.faults,
      rng: this.streamRng(0x4e9),
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
    if (method === 'POST' && (/^\/v1\/(models|deployments)\/[^/]+\/[^/]+\/predictions$/.test(path) || path === '/v1/predictions')) return { route: 'submit' };
    if (method === 'GET' && (path === '/v1/account' || path === '/v1/webhooks/default/secret')) return { route: 'list' };
    const cancel = /^\/v1\/predictions\/([^/]+)\/cancel$/.exec(path);
    if (cancel && method === 'POST') return { route: 'delete', jobId: decodeURIComponent(cancel[1]!) };
    const m = /^\/v1\/predictions\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: decodeURIComponent(m[1]!) };
    return { route: 'unknown' };
  }

  private token(req: RecordedRequest): string | undefined {
    const h = req.headers.authorization;
    if (typeof h !== 'string') return undefined;
    return /^(?:Bearer|Token)\s+(.+)$/i.exec(h.trim())?.[1]?.trim();
  }

  private async handle(req: RecordedRequest): Promise<Reply> {
    try {
      if (req.route === 'unknown') throw new ProblemError(404, 'Not found', 'The requested resource could not be found.');
      const key = this.token(req);
      if (!key || !this.isValidKey(key)) throw new ProblemError(401, 'Unauthenticated', 'You did not pass a valid authentication token');
      switch (req.route) {
        case 'submit':
          return await this.waitIfPreferred(req, this.submit(req));
        case 'list':
          return req.path.endsWith('/secret') ? jsonReply(200, { key: this.webhookSecret }) : jsonReply(200, { type: 'organization', username: 'vidgate-test', name: 'vidgate test' });
        case 'delete':
          return this.cancel(req);
        default:
          return this.status(req);
      }
    } catch (err) {
      if (err instanceof ProblemError) return jsonReply(err.http, { title: err.title, detail: err.detail, status: err.http, ...(err.invalid ? { invalid_fields: err.invalid } : {}) }, { 'content-type': 'application/problem+json' });
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault, _req: RecordedRequest): Reply {
    if (action.type === 'notFound') return jsonReply(404, { title: 'Not found', detail: 'Prediction not found', status: 404 });
    const headers: Record<string, string> = { ...(action.headers ?? {}) };
    if (action.retryAfter !== undefined) headers['retry-after'] = String(action.retryAfter);
    if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
    const title = action.status === 429 ? 'Request was throttled.' : 'Internal server error';
    return jsonReply(action.status, { title, detail: action.message ?? title, status: action.status }, headers);
  }

  private checkInput(m: ReplicateFakeModel, input: Record<string, unknown>): void {
    const invalid: { type: string; field: string; description: string }[] = [];
    const isUri = (v: unknown) => typeof v === 'string' && (/^https?:\/\//.test(v) || /^data:[\w/+.-]+;base64,[A-Za-z0-9+/]+=*$/.test(v));
    for (const [k, v] of Object.entries(input)) {
      const f = m.fields[k];
      if (!f) {
        invalid.push({ type: 'additional_property_not_allowed', field: 'input', description: `Additional property ${k} is not allowed` });
        continue;
      }
      const ok =
        f.type === 'string' ? typeof v === 'string'
        : f.type === 'integer' ? typeof v === 'number' && Number.isInteger(v)
        : f.type === 'number' ? typeof v === 'number'
        : f.type === 'boolean' ? typeof v === 'boolean'
        : f.type === 'uri' ? isUri(v)
        : Array.isArray(v) && v.every(isUri);
      if (!ok) invalid.push({ type: 'invalid_type', field: `input.${k}`, description: `Invalid type. Expected: ${f.type}, given: ${typeof v}` });
      else if (f.enum && !f.enum.includes(v)) invalid.push({ type: 'enum', field: `input.${k}`, description: `${k} must be one of the following: ${f.enum.map((e) => JSON.stringify(e)).join(', ')}` });
    }
    for (const [k, f] of Object.entries(m.fields)) if (f.required && input[k] === undefined) invalid.push({ type: 'required', field: 'input', description: `${k} is required` });
    if (invalid.length > 0) throw new ProblemError(422, 'Input validation failed', invalid.map((i) => `- ${i.field}: ${i.description}`).join('\n'), invalid);
  }

  private submit(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json' || !isRecord(req.json)) throw new ProblemError(400, 'Invalid JSON', 'The request body is not valid JSON.');
    const b = req.json;
    const extra = Object.keys(b).filter((k) => !TOP.has(k));
    if (extra.length > 0) throw new ProblemError(422, 'Input validation failed', `Additional property ${extra[0]} is not allowed`, extra.map((k) => ({ type: 'additional_property_not_allowed', field: '(root)', description: `Additional property ${k} is not allowed` })));
    let via: ReplicateJobParams['via'];
    let m: ReplicateFakeModel | undefined;
    const path = /^\/v1\/(models|deployments)\/([^/]+)\/([^/]+)\/predictions$/.exec(req.path);
    if (path?.[1] === 'models') {
      via = 'model';
      m = this.models.find((x) => x.id === `${path[2]}/${path[3]}`);
      if (!m) throw new ProblemError(404, 'Model not found', `The model ${path[2]}/${path[3]} does not exist or you do not have access to it.`);
      if (b.version !== undefined) throw new ProblemError(422, 'Input validation failed', 'version is not allowed on a model prediction');
    } else if (path?.[1] === 'deployments') {
      via = 'deployment';
      const target = this.opts.deployments?.[`${path[2]}/${path[3]}`];
      m = this.models.find((x) => x.id === target);
      if (!m) throw new ProblemError(404, 'Deployment not found', `The deployment ${path[2]}/${path[3]} does not exist.`);
    } else {
      via = 'version';
      m = this.models.find((x) => x.version === b.version);
      if (!m) throw new ProblemError(422, 'Invalid version', 'The specified version does not exist (or perhaps you do not have permission to use it?)');
    }
    if (!isRecord(b.input)) throw new ProblemError(422, 'Input validation failed', 'input is required');
    this.checkInput(m, b.input);
    if (b.webhook !== undefined && (typeof b.webhook !== 'string' || !/^(https:\/\/|http:\/\/127\.0\.0\.1[:/])/.test(b.webhook))) throw new ProblemError(422, 'Input validation failed', 'webhook must be an HTTPS URL');
    const events = b.webhook_events_filter === undefined ? EVENTS : b.webhook_events_filter;
    if (!Array.isArray(events) || events.some((e) => !EVENTS.includes(String(e)))) throw new ProblemError(422, 'Input validation failed', 'webhook_events_filter must be a subset of start, output, logs, completed');
    const id = randomBytes(13).toString('hex').slice(0, 26);
    const prompt = String(b.input.prompt ?? '');
    const job = this.createJob(req, { id, kind: 'create', model: m.id, prompt, body: b }, this.opts.resultTtlMs ?? 3_600_000);
    const resultUrl = this.cdn.publish({
      path: `/pbxt/${id}/output.mp4`,
      jobId: id,
      source: () => this.videoFor(job),
      expiresAt: () => job.resultExpiresAt,
      available: () => job.phase() === 'succeeded',
      onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
    });
    const p: ReplicateJobParams = { via, model: m.id, input: b.input, resultUrl, arrayOutput: !!m.arrayOutput, cancelled: false, events: events.map(String) };
    if (typeof b.webhook === 'string') p.webhook = b.webhook;
    this.params.set(id, p);
    if (p.webhook) {
      this.followCallbacks(job, p.webhook, (phase) => {
        const event = phase === 'running' ? 'start' : phase === 'queued' ? undefined : 'completed';
        return event && p.events.includes(event) ? this.signedWebhook(job, phase) : undefined;
      });
    }
    return jsonReply(201, this.render(job, { phase: 'queued', progress: 0 }));
  }

  /** `Prefer: wait[=N]` (1–60 s, default 60): the answer waits until the prediction ends or N s pass. */
  private async waitIfPreferred(req: RecordedRequest, reply: Reply): Promise<Reply> {
    const prefer = req.headers.prefer;
    const m = typeof prefer === 'string' ? /^\s*wait(?:=(\d+))?\s*$/.exec(prefer) : null;
    if (!m || reply.status !== 201) return reply;
    const seconds = Math.min(60, Math.max(1, Number(m[1] ?? 60)));
    const id = (JSON.parse(String(reply.body)) as { id: string }).id;
    const job = this.jobs.get(id)!;
    const until = Date.now() + seconds * 1000;
    while (!job.terminal && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    return jsonReply(201, this.render(job, job.observe()));
  }

  /** A webhook as Replicate sends it: the prediction, Standard Webhooks signed. */
  signedWebhook(job: ScriptedJob, phase: Phase, overrides: { timestamp?: number; secret?: string } = {}): { body: string; headers: Record<string, string> } {
    const body = JSON.stringify(this.render(job, { phase, progress: phase === 'succeeded' ? 100 : 0 }));
    const id = `msg_${randomBytes(12).toString('hex')}`;
    const ts = String(overrides.timestamp ?? Math.floor(Date.now() / 1000));
    const secret = overrides.secret ?? this.webhookSecret;
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
    return { body, headers: { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` } };
  }

  private live(id: string | undefined): ScriptedJob {
    const job = id ? this.jobs.get(id) : undefined;
    if (!job) throw new ProblemError(404, 'Not found', 'Prediction not found');
    return job;
  }

  private status(req: RecordedRequest): Reply {
    const job = this.live(req.jobId);
    if (job.takeNotFound()) throw new ProblemError(404, 'Not found', 'Prediction not found');
    const obs = job.observe();
    this.touch(job.id);
    return jsonReply(200, this.render(job, obs));
  }

  private cancel(req: RecordedRequest): Reply {
    const job = this.live(req.jobId);
    if (!job.terminal) {
      job.cancel();
      this.params.get(job.id)!.cancelled = true;
      this.touch(job.id);
    }
    return jsonReply(200, this.render(job, { phase: job.phase(), progress: 0 }));
  }

  /** A prediction as Replicate renders it. */
  render(job: ScriptedJob, obs: Observation): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const m = this.models.find((x) => x.id === p.model)!;
    const removed = obs.phase === 'succeeded' && job.resultExpiresAt !== undefined && this.clock.now() >= job.resultExpiresAt;
    const status =
      obs.phase === 'queued' ? 'starting'
      : obs.phase === 'running' ? 'processing'
      : obs.phase === 'succeeded' ? 'succeeded'
      : obs.phase === 'cancelled' ? 'canceled'
      : 'failed';
    const f = job.script.failure;
    const error =
      obs.phase === 'moderated' ? (f?.message ?? 'The input or output was flagged as sensitive. Please try again with different inputs. (E005)')
      : obs.phase === 'failed' || obs.phase === 'expired' ? (f?.message ?? 'Prediction failed for an unknown reason. (E6716)')
      : null;
    const pct = obs.phase === 'running' ? Math.max(1, Math.round(obs.progress)) : obs.phase === 'succeeded' ? 100 : 0;
    const bar = (n: number) => `${String(n).padStart(3)}%|${'█'.repeat(Math.floor(n / 10)).padEnd(10)}| ${n}/100 [00:0${Math.floor(n / 20)}<00:05,  9.8it/s]`;
    const logs = obs.phase === 'queued' ? '' : removed ? '' : `Using seed: 42\n${bar(Math.min(pct, 100))}\n`;
    const base = `${this.url}/v1/predictions/${job.id}`;
    const output = obs.phase !== 'succeeded' || removed ? null : p.arrayOutput ? [p.resultUrl] : p.resultUrl;
    return {
      id: job.id,
      model: m.id,
      version: m.version,
      input: removed ? {} : p.input,
      logs,
      output,
      data_removed: removed,
      error,
      status,
      source: 'api',
      created_at: new Date(job.createdAt).toISOString(),
      started_at: obs.phase === 'queued' ? null : new Date(job.runningAt ?? job.createdAt).toISOString(),
      completed_at: job.terminal ? new Date(job.finishedAt ?? this.clock.now()).toISOString() : null,
      urls: { get: base, cancel: `${base}/cancel`, stream: `${this.url}/v1/streams/${job.id}`, web: `https://replicate.com/p/${job.id}` },
      metrics: obs.phase === 'succeeded' ? { predict_time: 42.1, total_time: 43.0 } : {},
      ...(p.webhook ? { webhook: p.webhook, webhook_events_filter: p.events } : {}),
    };
  }
}

/** Starts a Replicate fake (API + CDN) on 127.0.0.1 random ports. */
export async function startReplicateFake(opts: ReplicateFakeOptions = {}): Promise<ReplicateFake> {
  return new ReplicateFake(opts).start();
}
