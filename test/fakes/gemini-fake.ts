/**
 * Fake Gemini API (test fixture, never product code), under `/v1beta`, key in `x-goog-api-key`
 * (or `?key=`): a wrong key is answered 400 INVALID_ARGUMENT "API key not valid" (as Google
 * does), a missing one 403 PERMISSION_DENIED.
 *
 * - Veo: `POST /models/{model}:predictLongRunning` (body checked by google.ts: images only as
 *   `bytesBase64Encoded` + `mimeType`, `inlineData` refused, no seed / generateAudio on this API,
 *   `webhookConfig.uris` taken) → `{name:"models/{model}/operations/{id}"}`; `GET
 *   /models/{model}/operations/{id}` → `{name}` with **no `done` key** while running, then
 *   `response.generateVideoResponse.generatedSamples[0].video.uri`, or `error:{code,message}`, or
 *   empty samples with `raiMediaFilteredCount` / `raiMediaFilteredReasons`.
 * - Files: `GET /files/{id}:download?alt=media` demands the key and answers **302** to the bytes
 *   on the CDN origin (which expire after 2 days); `GET /files/{id}` → `{state}` `PROCESSING`
 *   for `fileProcessingPolls` reads, then `ACTIVE`.
 * - Gemini Omni: `POST /interactions` (snake_case only; `background:true` answers `{id, status}`
 *   at once, `background:false` blocks until the video exists), `GET /interactions/{id}`
 *   (`queued` → `in_progress` → `completed` | `failed` (`errors[]`) | `cancelled` | `incomplete`;
 *   the video in `steps[]` → `model_output` → `content[]` → `video`, **inline `data` even when
 *   created with `delivery:"uri"`** unless `getDelivery: 'as-requested'`; a moderated request
 *   completes with a text refusal and no video), `POST /interactions/{id}/cancel`.
 * - `GET /models` (probe). Errors in Google's envelope `{"error":{"code","message","status"}}`.
 * Callbacks (dynamic webhooks) go to `webhookConfig.uris` / `webhook_config.uris` when the job
 * ends: the thin Standard-Webhooks event `{type:"video.generated"|"interaction.completed"|…,
 * version:"v1", timestamp, data:{id}}` with `webhook-id`, `webhook-timestamp` and, in
 * `webhook-signature`, an RS256 JWT (`kid`, `iss`, `aud` = the URL, `iat`, `exp` +5 min) signed
 * with the fake's key, published at `GET /.well-known/jwks.json` (as hookdeck's write-up of
 * Google's docs describes it; a secondary source).
 */
import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { FakeUpstreamBase } from './base.js';
import type { CommonFakeOptions } from './base.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { GoogleError, googleErrorReply, googleFaultReply, validateVeoBody } from './google.js';
import type { VeoParams } from './google.js';
import { FakeServer, jsonReply } from './http.js';
import type { RecordedRequest, Reply, RouteName } from './http.js';
import { readAll } from './payload.js';
import type { Phase, ScriptedJob } from './script.js';
import { isRecord } from './util.js';

export interface GeminiFakeOptions extends CommonFakeOptions {
  /** Result lifetime after completion, upstream ms (default 2 days). */
  resultTtlMs?: number;
  /** Reads of a Files API file answered `PROCESSING` before it is `ACTIVE` (default 1). */
  fileProcessingPolls?: number;
  /** `GET /interactions/{id}` returns the video inline (default, as Google does) or as the create asked. */
  getDelivery?: 'inline' | 'as-requested';
}

export interface GeminiJobParams {
  kind: 'veo' | 'omni';
  model: string;
  veo?: VeoParams;
  omni?: { task: string; aspectRatio: string; resolution: string; delivery: string; images: number };
  fileId: string;
  fileReads: number;
  name: string;
}

const DAY = 86_400_000;
const OMNI_TASKS = ['text_to_video', 'image_to_video', 'reference_to_video', 'edit', 'extend'];

export class GeminiFake extends FakeUpstreamBase {
  protected readonly server: FakeServer;
  readonly params = new Map<string, GeminiJobParams>();
  private readonly opts: GeminiFakeOptions;
  private readonly byFile = new Map<string, string>();
  private readonly fileUrls = new Map<string, string>();
  /** Signs dynamic-webhook JWTs; its public half is served as the JWKS. */
  private readonly signingKey: KeyObject;
  private readonly publicJwk: Record<string, unknown>;
  readonly signingKid = `gemini-webhooks-${randomBytes(4).toString('hex')}`;

  constructor(opts: GeminiFakeOptions = {}) {
    super(opts, { queuedMs: 1_000, runMs: 5_000 });
    this.opts = opts;
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.signingKey = pair.privateKey;
    this.publicJwk = { ...pair.publicKey.export({ format: 'jwk' }), kid: this.signingKid, alg: 'RS256', use: 'sig' };
    this.server = new FakeServer({
      name: 'gemini',
      faults: this.faults,
      rng: this.streamRng(0x6e1),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.maxRecordedRequests === undefined ? {} : { maxRecordedRequests: opts.maxRecordedRequests }),
      route: (method, path) => this.route(method, path),
      handle: (req) => this.handle(req),
      faultReply: (action, req) => this.faultReply(action, req),
    });
  }

  /** Base URL as the SDK uses it (with `/v1beta`). */
  get baseURL(): string {
    return `${this.url}/v1beta`;
  }

  /** Where the keys that sign the webhooks are published. */
  get jwksURL(): string {
    return `${this.url}/.well-known/jwks.json`;
  }

  /** A webhook JWT as the fake signs them (tests forge others with their own keys). */
  signWebhookJwt(claims: Record<string, unknown>, key: KeyObject = this.signingKey, kid = this.signingKid): string {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${enc({ alg: 'RS256', typ: 'JWT', kid })}.${enc(claims)}`;
    return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
  }

  async start(): Promise<this> {
    await this.startServers();
    return this;
  }

  // ---------------------------------------------------------------- routing

  private route(method: string, path: string): { route: RouteName; jobId?: string } {
    if (method === 'POST' && /^\/v1beta\/models\/[^/:]+:predictLongRunning$/.test(path)) return { route: 'submit' };
    if (method === 'POST' && path === '/v1beta/interactions') return { route: 'submit' };
    let m = /^\/v1beta\/models\/[^/]+\/operations\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: m[1] };
    m = /^\/v1beta\/interactions\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: m[1] };
    m = /^\/v1beta\/interactions\/([^/]+)\/cancel$/.exec(path);
    if (m && method === 'POST') return { route: 'delete', jobId: m[1] };
    m = /^\/v1beta\/files\/([^/:]+):download$/.exec(path);
    if (m && method === 'GET') return { route: 'content', jobId: this.byFile.get(m[1]!) };
    m = /^\/v1beta\/files\/([^/:]+)$/.exec(path);
    if (m && method === 'GET') return { route: 'status', jobId: this.byFile.get(m[1]!) };
    if (method === 'GET' && (path === '/v1beta/models' || path === '/.well-known/jwks.json')) return { route: 'list' };
    return { route: 'unknown' };
  }

  private async handle(req: RecordedRequest): Promise<Reply> {
    try {
      if (req.route === 'unknown') throw new GoogleError(404, `The requested URL ${req.path} was not found on this server.`);
      if (req.path === '/.well-known/jwks.json') return jsonReply(200, { keys: [this.publicJwk] }, { 'cache-control': 'public, max-age=3600' });
      const key = typeof req.headers['x-goog-api-key'] === 'string' ? req.headers['x-goog-api-key'] : req.query.key;
      if (!key) throw new GoogleError(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
      if (!this.isValidKey(key)) throw new GoogleError(400, 'API key not valid. Please pass a valid API key.');
      if (req.path.startsWith('/v1beta/files/')) return req.route === 'content' ? this.download(req) : this.file(req);
      if (req.route === 'list') return jsonReply(200, { models: [{ name: 'models/veo-3.1-generate-preview' }, { name: 'models/gemini-omni-1.1-flash' }], nextPageToken: 'next' });
      if (req.path === '/v1beta/interactions') return await this.createInteraction(req);
      if (req.path.startsWith('/v1beta/interactions/')) return req.route === 'delete' ? this.cancelInteraction(req) : this.getInteraction(req);
      if (req.route === 'submit') return this.submitVeo(req);
      return this.operation(req);
    } catch (err) {
      if (err instanceof GoogleError) return googleErrorReply(err);
      throw err;
    }
  }

  private faultReply(action: ErrorFault | NotFoundFault, req: RecordedRequest): Reply {
    return googleFaultReply(action, `${req.path.includes('/interactions/') ? 'Interaction' : 'Operation'} ${req.jobId ?? ''} not found.`);
  }

  // ---------------------------------------------------------------- jobs

  private publishFile(job: ScriptedJob): string {
    const fileId = randomBytes(6).toString('hex');
    this.byFile.set(fileId, job.id);
    this.fileUrls.set(
      fileId,
      this.cdn.publish({
        path: `/gemini-files/${fileId}.mp4`,
        jobId: job.id,
        source: () => this.videoFor(job),
        expiresAt: () => job.resultExpiresAt,
        available: () => job.phase() === 'succeeded',
        onDownload: (r, result) => this.recordDownload(job, r, result, 'video'),
      }),
    );
    return fileId;
  }

  private fileUri(fileId: string): string {
    return `${this.url}/v1beta/files/${fileId}:download?alt=media`;
  }

  private callbackUrls(v: unknown): string[] {
    if (v === undefined) return [];
    if (!isRecord(v) || !Array.isArray(v.uris) || !v.uris.every((u) => typeof u === 'string' && /^https?:\/\//.test(u))) throw new GoogleError(400, 'webhook config uris must be http(s) URLs.');
    return v.uris as string[];
  }

  private follow(job: ScriptedJob, urls: string[], kind: 'veo' | 'omni', name: string): void {
    for (const url of urls) {
      this.followCallbacks(job, url, (phase: Phase) => {
        if (phase === 'queued' || phase === 'running') return undefined;
        const type = kind === 'veo' ? (phase === 'succeeded' || phase === 'moderated' ? 'video.generated' : 'video.failed') : phase === 'succeeded' || phase === 'moderated' ? 'interaction.completed' : 'interaction.failed';
        const now = Math.floor(Date.now() / 1000);
        const body = JSON.stringify({ type, version: 'v1', timestamp: new Date().toISOString(), data: { id: name } });
        const jwt = this.signWebhookJwt({ iss: 'https://generativelanguage.googleapis.com', aud: url, iat: now, exp: now + 300 });
        return { body, headers: { 'webhook-id': `msg_${randomBytes(8).toString('hex')}`, 'webhook-timestamp': String(now), 'webhook-signature': jwt } };
      });
    }
  }

  private submitVeo(req: RecordedRequest): Reply {
    if (req.bodyKind !== 'json') throw new GoogleError(400, 'Invalid JSON payload received.');
    const model = decodeURIComponent(/\/models\/([^/:]+):/.exec(req.path)![1]!);
    const p = validateVeoBody(model, req.json, 'gemini');
    const urls = this.callbackUrls((req.json as Record<string, unknown>).webhookConfig);
    const id = randomBytes(6).toString('hex');
    const name = `models/${model}/operations/${id}`;
    const job = this.createJob(req, { id, kind: 'create', model, prompt: p.prompt, body: req.json as Record<string, unknown> }, this.opts.resultTtlMs ?? 2 * DAY);
    this.params.set(id, { kind: 'veo', model, veo: p, fileId: this.publishFile(job), fileReads: 0, name });
    this.follow(job, urls, 'veo', name);
    return jsonReply(200, { name });
  }

  private operation(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    const p = job ? this.params.get(job.id) : undefined;
    if (!job || !p || p.kind !== 'veo' || `/v1beta/${p.name}` !== req.path) throw new GoogleError(404, `Operation ${req.path.slice(8)} not found.`);
    if (job.takeNotFound()) throw new GoogleError(404, `Operation ${p.name} not found.`);
    job.observe();
    this.touch(job.id);
    return jsonReply(200, this.renderOperation(job));
  }

  renderOperation(job: ScriptedJob): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const phase = job.peek().phase;
    const name = p.name;
    if (phase === 'queued' || phase === 'running') return { name };
    const type = 'type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse';
    const f = job.script.failure;
    switch (phase) {
      case 'succeeded':
        return { name, done: true, response: { '@type': type, generateVideoResponse: { generatedSamples: [{ video: { uri: this.fileUri(p.fileId) } }] } } };
      case 'moderated':
        return {
          name,
          done: true,
          response: { '@type': type, generateVideoResponse: { raiMediaFilteredCount: 1, raiMediaFilteredReasons: [f?.message ?? 'We encountered an issue with the audio for your prompt. You have not been charged for this request.'] } },
        };
      case 'cancelled':
        return { name, done: true, error: { code: 1, message: 'The operation was cancelled.' } };
      case 'expired':
        return { name, done: true, error: { code: 4, message: 'Deadline expired before operation could complete.' } };
      default:
        return { name, done: true, error: { code: f?.code && /^\d+$/.test(f.code) ? Number(f.code) : 13, message: f?.message ?? 'Internal error encountered.' } };
    }
  }

  // ---------------------------------------------------------------- files

  private download(req: RecordedRequest): Reply {
    const fileId = /\/files\/([^/:]+):download$/.exec(req.path)![1]!;
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    const url = this.fileUrls.get(fileId);
    if (!job || !url || job.peek().phase !== 'succeeded' || req.query.alt !== 'media') throw new GoogleError(404, `File ${fileId} not found.`);
    if (job.resultExpired()) throw new GoogleError(404, `File ${fileId} has expired.`);
    return { status: 302, headers: { location: url }, body: '', contentType: 'text/html' };
  }

  private file(req: RecordedRequest): Reply {
    const fileId = /\/files\/([^/:]+)$/.exec(req.path)![1]!;
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    const p = job ? this.params.get(job.id) : undefined;
    if (!job || !p || job.peek().phase !== 'succeeded' || job.resultExpired()) throw new GoogleError(404, `File files/${fileId} not found.`);
    p.fileReads++;
    const state = p.fileReads <= (this.opts.fileProcessingPolls ?? 1) ? 'PROCESSING' : 'ACTIVE';
    const expires = new Date((job.resultExpiresAt ?? this.clock.now() + 2 * DAY)).toISOString();
    return jsonReply(200, { name: `files/${fileId}`, mimeType: 'video/mp4', sizeBytes: String(this.videoFor(job).size), state, uri: this.fileUri(fileId), expirationTime: expires, source: 'GENERATED' });
  }

  // ---------------------------------------------------------------- interactions

  private async createInteraction(req: RecordedRequest): Promise<Reply> {
    const b = req.json;
    if (req.bodyKind !== 'json' || !isRecord(b)) throw new GoogleError(400, 'Invalid JSON payload received.');
    for (const k of Object.keys(b)) if (/[A-Z]/.test(k)) throw new GoogleError(400, `Invalid JSON payload received. Unknown name "${k}": Cannot find field.`);
    if (typeof b.model !== 'string' || !/^gemini-omni/.test(b.model)) throw new GoogleError(404, `models/${String(b.model)} is not found or does not support video output.`);
    let prompt = '';
    let images = 0;
    if (typeof b.input === 'string') prompt = b.input;
    else if (Array.isArray(b.input)) {
      for (const item of b.input) {
        if (!isRecord(item)) throw new GoogleError(400, 'input items must be objects.');
        if (item.type === 'text' && typeof item.text === 'string') prompt += item.text;
        else if (item.type === 'image') {
          if (!(typeof item.uri === 'string' || (typeof item.data === 'string' && /^[A-Za-z0-9+/]+=*$/.test(item.data) && ['image/png', 'image/jpeg', 'image/webp'].includes(String(item.mime_type))))) {
            throw new GoogleError(400, 'An image input needs data and mime_type, or a uri.');
          }
          images++;
        } else throw new GoogleError(400, `Unsupported input type: ${String(item.type)}.`);
      }
    } else throw new GoogleError(400, 'input is required.');
    if (!prompt.trim()) throw new GoogleError(400, 'A text prompt is required.');
    const rf = b.response_format;
    if (!isRecord(rf) || rf.type !== 'video') throw new GoogleError(400, 'response_format.type must be video for this model.');
    const aspectRatio = rf.aspect_ratio ?? '16:9';
    if (aspectRatio !== '16:9' && aspectRatio !== '9:16') throw new GoogleError(400, `Unsupported aspect_ratio ${JSON.stringify(aspectRatio)}.`);
    const resolution = rf.resolution ?? '720p';
    if (!['360p', '720p', '1080p', '4k'].includes(String(resolution))) throw new GoogleError(400, `Unsupported resolution ${JSON.stringify(resolution)}.`);
    const delivery = rf.delivery ?? 'inline';
    if (delivery !== 'inline' && delivery !== 'uri') throw new GoogleError(400, 'delivery must be inline or uri.');
    const vc = isRecord(b.generation_config) && isRecord(b.generation_config.video_config) ? b.generation_config.video_config : {};
    const task = vc.task ?? (images ? 'image_to_video' : 'text_to_video');
    if (!OMNI_TASKS.includes(String(task))) throw new GoogleError(400, `Unsupported video task ${JSON.stringify(task)}.`);
    if ((task === 'image_to_video' || task === 'reference_to_video') && images === 0) throw new GoogleError(400, `${String(task)} needs an image input.`);
    const urls = this.callbackUrls(b.webhook_config);
    const id = `v1_${randomBytes(12).toString('base64url')}`;
    const job = this.createJob(req, { id, kind: 'create', model: b.model, prompt, body: b }, this.opts.resultTtlMs ?? 2 * DAY);
    this.params.set(id, { kind: 'omni', model: b.model, omni: { task: String(task), aspectRatio: String(aspectRatio), resolution: String(resolution), delivery: String(delivery), images }, fileId: this.publishFile(job), fileReads: 0, name: id });
    this.follow(job, urls, 'omni', id);
    if (b.background === true) return jsonReply(200, { id, object: 'interaction', status: 'in_progress', model: b.model, created: new Date(this.clock.now()).toISOString() });
    // Synchronous: the call blocks until the video exists.
    while (!job.terminal) await new Promise((r) => setTimeout(r, 50));
    job.observe();
    return jsonReply(200, this.renderInteraction(job, delivery === 'uri'));
  }

  private getInteraction(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    const p = job ? this.params.get(job.id) : undefined;
    if (!job || !p || p.kind !== 'omni') throw new GoogleError(404, `Interaction ${req.jobId ?? ''} not found.`);
    if (job.takeNotFound()) throw new GoogleError(404, `Interaction ${job.id} not found.`);
    job.observe();
    this.touch(job.id);
    return jsonReply(200, this.renderInteraction(job, this.opts.getDelivery === 'as-requested' && p.omni!.delivery === 'uri'));
  }

  private cancelInteraction(req: RecordedRequest): Reply {
    const job = req.jobId ? this.jobs.get(req.jobId) : undefined;
    if (!job || this.params.get(job.id)?.kind !== 'omni') throw new GoogleError(404, `Interaction ${req.jobId ?? ''} not found.`);
    if (job.terminal) throw new GoogleError(400, `Interaction ${job.id} is already ${job.phase()}.`, 'FAILED_PRECONDITION');
    job.cancel();
    this.touch(job.id);
    return jsonReply(200, this.renderInteraction(job, false));
  }

  renderInteraction(job: ScriptedJob, uri: boolean): Record<string, unknown> {
    const p = this.params.get(job.id)!;
    const phase = job.peek().phase;
    const base = { id: job.id, object: 'interaction', model: p.model, created: new Date(job.createdAt).toISOString() };
    const f = job.script.failure;
    switch (phase) {
      case 'queued':
        return { ...base, status: 'queued' };
      case 'running':
        return { ...base, status: 'in_progress' };
      case 'succeeded': {
        const video = uri ? { type: 'video', mime_type: 'video/mp4', uri: this.fileUri(p.fileId) } : { type: 'video', mime_type: 'video/mp4', data: readAll(this.videoFor(job)).toString('base64') };
        return {
          ...base,
          status: 'completed',
          steps: [{ type: 'user_input' }, { type: 'thought', summary: [{ type: 'text', text: 'Planning the shot.' }] }, { type: 'model_output', content: [video] }],
          usage: { output_tokens_by_modality: [{ modality: 'video', tokens: 5792 * (job.script.actualSeconds ?? 8) }] },
        };
      }
      case 'moderated':
        return { ...base, status: 'completed', steps: [{ type: 'user_input' }, { type: 'model_output', content: [{ type: 'text', text: f?.message ?? "I can't create that video because it may violate our safety policies." }] }] };
      case 'cancelled':
        return { ...base, status: 'cancelled' };
      case 'expired':
        return { ...base, status: 'incomplete', errors: [{ code: 'DEADLINE_EXCEEDED', message: 'The interaction did not finish in time.' }] };
      default:
        return { ...base, status: 'failed', errors: [{ code: f?.code ?? 'INTERNAL', message: f?.message ?? 'An internal error has occurred.' }] };
    }
  }

  /** Omni jobs by submission, for tests. */
  interactionIds(): string[] {
    return [...this.params.entries()].filter(([, p]) => p.kind === 'omni').map(([id]) => id);
  }
}

/** Starts a Gemini API fake (API + CDN) on 127.0.0.1 random ports. */
export async function startGeminiFake(opts: GeminiFakeOptions = {}): Promise<GeminiFake> {
  return new GeminiFake(opts).start();
}
