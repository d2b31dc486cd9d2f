import { z } from 'zod';
import type { VideoRequest } from '../../core/video-request.js';
import type {
  AdapterDefinition,
  AuthContext,
  CallbackContext,
  CallbackVerdict,
  ChannelCredentials,
  ResultSources,
  UpstreamAccepted,
  UpstreamAdapter,
  UpstreamCallback,
  UpstreamHttp,
  UpstreamRequest,
  UpstreamResponse,
  UpstreamStatus,
  UpstreamSubmit,
} from '../types.js';
import { CallbackRejected, UpstreamError } from '../types.js';
import { asRecord, isRecord, str } from '../parse.js';
import type { Json } from '../parse.js';
import { VEO_STATES, filteredError, googleHttpError, operationError, refuseVeo, veoBody, veoImage } from '../veo.js';
import { verifyGeminiWebhookJwt } from './webhook.js';
import { OMNI_RESULT_TTL_MS, VEO_RESULT_TTL_MS, fileIdOf, findVideo, interactionError, omniTask, parseFileState, parseInteractionWord, refuseOmni } from './omni.js';

/**
 * The Gemini API (`https://generativelanguage.googleapis.com/v1beta`, `x-goog-api-key`), two
 * protocols chosen by the upstream model name (upstreams.md §3A, §3B):
 *
 * - Veo (`veo-…`): `POST /models/{model}:predictLongRunning` with `instances[0]` (images as
 *   `bytesBase64Encoded` + `mimeType`) and `parameters`; poll `GET /{operation name}`: `done`
 *   absent or false → running, `error` → failed, empty `generatedSamples` → filtered (moderation,
 *   with `raiMediaFilteredReasons`); the video at
 *   `response.generateVideoResponse.generatedSamples[0].video.uri`, a download that needs the
 *   key and redirects to the bytes (kept 2 days). `webhookConfig.uris` carries the task's
 *   callback URL.
 * - Gemini Omni (any other model): the Interactions API in background mode, `POST /interactions
 *   {model, input[], response_format:{type:"video",…}, generation_config.video_config.task,
 *   background:true, store:true, webhook_config}`, poll `GET /interactions/{id}` (status words in
 *   omni.ts); the video is read out of `steps[]` (`model_output` → `content[]` → `video`) as
 *   inline `data` or a Files API `uri`, whose file must be `ACTIVE` before it is downloaded.
 *   Cancel: `POST /interactions/{id}/cancel`.
 * Errors: google.rpc `{error:{code,message,status}}`. Callbacks (`{type, data:{id}}` events):
 * the per-task unguessable URL authenticates them, and with `webhook_jwks_url` the RS256 JWT
 * Google puts in `webhook-signature` is verified too (webhook.ts); a callback only triggers a check.
 */
export const geminiOptions = z
  .object({
    /** `personGeneration` sent with every Veo request (allow_all, allow_adult, dont_allow; the EU, UK, CH and MENA allow only allow_adult). */
    person_generation: z.enum(['allow_all', 'allow_adult', 'dont_allow']).optional(),
    /** How Gemini Omni returns the video: a Files API URI (default; inline data caps out around 4 MB) or inline. */
    delivery: z.enum(['uri', 'inline']).default('uri'),
    /**
     * Verify the RS256 JWT Google puts in each callback's `webhook-signature` against this key set
     * (Google's: https://generativelanguage.googleapis.com/.well-known/jwks.json). Unset: the
     * per-task URL alone authenticates callbacks.
     */
    webhook_jwks_url: z.string().url().optional(),
  })
  .strict();

export type GeminiOptions = z.infer<typeof geminiOptions>;

/** Inline results come as base64 in JSON. */
const INLINE_MAX_BYTES = 512 * 1024 * 1024;

const isVeo = (model: string): boolean => /^veo-/i.test(model);
const isInteraction = (upstreamId: string): boolean => upstreamId.startsWith('interactions/');

class GeminiAdapter implements UpstreamAdapter {
  readonly type = 'gemini';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: GeminiOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { 'x-goog-api-key': c.apiKey } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return isVeo(upstreamModel) ? refuseVeo(req, upstreamModel, 'gemini') : refuseOmni(req, upstreamModel);
  }

  /** The base may be given with or without `/v1beta`. */
  private path(http: UpstreamHttp, p: string): string {
    return /\/v1beta$/.test(http.baseUrl) ? p : `/v1beta${p}`;
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      return await http.send({ ...req, path: this.path(http, req.path!) });
    } catch (err) {
      throw err instanceof UpstreamError ? googleHttpError(err) : err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    return isVeo(job.model) ? this.submitVeo(job, http) : this.submitOmni(job, http);
  }

  private async submitVeo(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const body: Json = await veoBody(job.request, job.model, 'gemini', this.o.person_generation ? { personGeneration: this.o.person_generation } : {});
    if (job.callbackUrl) body.webhookConfig = { uris: [job.callbackUrl] };
    const res = await this.call(http, { method: 'POST', path: `/models/${encodeURIComponent(job.model)}:predictLongRunning`, json: body, purpose: 'submit' });
    const name = str(asRecord(res.body)?.name);
    if (!name || !/^models\/[^/]+\/operations\/[^/]+$/.test(name)) throw new UpstreamError('malformed', 'the answer carries no operation name');
    return { upstreamId: name, status: { ...VEO_STATES.running, raw: 'submitted' } };
  }

  private async submitOmni(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const input: Json[] = [{ type: 'text', text: r.prompt }];
    for (const m of [...(r.firstFrame ? [r.firstFrame] : []), ...r.references]) {
      const img = await veoImage(m);
      input.push({ type: 'image', data: img.bytesBase64Encoded, mime_type: img.mimeType });
    }
    const body: Json = {
      model: job.model,
      input,
      response_format: { type: 'video', aspect_ratio: r.width >= r.height ? '16:9' : '9:16', resolution: r.resolution === 'standard' ? '720p' : r.resolution, delivery: this.o.delivery },
      generation_config: { video_config: { task: omniTask(r) } },
      background: true,
      store: true,
    };
    if (job.callbackUrl) body.webhook_config = { uris: [job.callbackUrl] };
    const res = await this.call(http, { method: 'POST', path: '/interactions', json: body, purpose: 'submit' });
    const t = asRecord(res.body);
    const id = str(t?.id);
    if (!t || !id) throw new UpstreamError('malformed', 'the answer carries no interaction id');
    return { upstreamId: `interactions/${id}`, status: parseInteractionWord(str(t.status) ?? 'in_progress') };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    if (!isInteraction(upstreamId)) return parseGeminiOperation(await this.operation(upstreamId, http));
    const t = await this.interaction(upstreamId, http);
    const word = str(t.status) ?? '';
    const s = parseInteractionWord(word);
    if (s.state === 'failed' || s.state === 'cancelled') return { ...s, error: interactionError(t, s) };
    if (s.state !== 'succeeded') return s;
    const video = findVideo(t);
    if (!video) return { state: 'failed', raw: word, error: interactionError(t, s, 'The interaction completed without a video.') };
    const out: UpstreamStatus = { ...s, completedAtMs: Date.now() };
    const uri = str(video.uri);
    if (uri && !str(video.data)) {
      if (!/\/files\/[^/:?]+/.test(uri)) {
        out.resultUrl = uri;
        return out;
      }
      // A Files API file: downloadable once it is ACTIVE.
      const file = await this.call(http, { method: 'GET', path: `/files/${encodeURIComponent(fileIdOf(uri))}`, purpose: 'status' });
      const f = parseFileState(asRecord(file.body) ?? {});
      if (f.state !== 'succeeded') return f;
      out.resultUrl = downloadUri(uri);
      out.resultExpiresAtMs = Date.now() + OMNI_RESULT_TTL_MS;
    }
    return out;
  }

  private async operation(name: string, http: UpstreamHttp): Promise<Json> {
    if (!/^models\/[^/]+\/operations\/[^/]+$/.test(name)) throw new UpstreamError('malformed', 'not a Gemini API operation name');
    const res = await this.call(http, { method: 'GET', path: `/${name}`, maxBytes: INLINE_MAX_BYTES, purpose: 'status' });
    const op = asRecord(res.body);
    if (!op) throw new UpstreamError('malformed', 'the operation is not a JSON object');
    return op;
  }

  private async interaction(upstreamId: string, http: UpstreamHttp): Promise<Json> {
    const res = await this.call(http, { method: 'GET', path: `/${upstreamId}`, maxBytes: INLINE_MAX_BYTES, purpose: 'status' });
    const t = asRecord(res.body);
    if (!t || typeof t.status !== 'string') throw new UpstreamError('malformed', 'the interaction has no status');
    return t;
  }

  async results(upstreamId: string, last: UpstreamStatus, http: UpstreamHttp): Promise<ResultSources> {
    // A file URI on the API's origin: fetched with the key, its redirect to the bytes without it.
    if (last.resultUrl) return { video: last.resultUrl, ...(last.resultExpiresAtMs === undefined ? {} : { expiresAtMs: last.resultExpiresAtMs }) };
    // Inline bytes are not kept in the task's status: ask again.
    if (isInteraction(upstreamId)) {
      const video = findVideo(await this.interaction(upstreamId, http));
      const data = str(video?.data);
      if (data) return { video: { data: Buffer.from(data, 'base64') } };
      const uri = str(video?.uri);
      if (uri) return { video: downloadUri(uri) };
    } else {
      const sample = firstSample(await this.operation(upstreamId, http));
      const data = str(sample?.encodedVideo) ?? str(sample?.bytesBase64Encoded);
      if (data) return { video: { data: Buffer.from(data, 'base64') } };
      const uri = str(sample?.uri);
      if (uri) return { video: downloadUri(uri) };
    }
    throw new UpstreamError('malformed', 'the finished job carries no video');
  }

  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    // Veo operations have no cancel on the Gemini API; interactions do.
    if (isInteraction(upstreamId)) await this.call(http, { method: 'POST', path: `/${upstreamId}/cancel`, purpose: 'status' });
  }

  async callback(req: UpstreamCallback, ctx: CallbackContext): Promise<CallbackVerdict> {
    if (this.o.webhook_jwks_url) await verifyGeminiWebhookJwt(req.headers, ctx, this.o.webhook_jwks_url);
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      throw new CallbackRejected('the body is not JSON');
    }
    const root = asRecord(body);
    if (!root) throw new CallbackRejected('the body is not an event');
    const data = isRecord(root.data) ? root.data : root;
    const named = str(data.name) ?? str(data.operation) ?? str(data.id) ?? str(asRecord(data.interaction)?.id);
    const mine = ctx.upstreamId ? (isInteraction(ctx.upstreamId) ? ctx.upstreamId.slice('interactions/'.length) : ctx.upstreamId) : undefined;
    const theirs = named?.replace(/^interactions\//, '');
    // A Veo event may name the operation in full or by its id.
    const same = !!theirs && !!mine && (theirs === mine || mine.endsWith(`/operations/${theirs}`));
    const job = !theirs || !mine ? 'unknown' : same ? 'this' : 'other';
    const type = str(root.type) ?? '';
    const state = /\.(failed|expired)$/.test(type) ? 'failed' : /\.cancelled$/.test(type) ? 'cancelled' : /\.(completed|generated|succeeded)$/.test(type) ? 'succeeded' : undefined;
    return { job, ...(state ? { state } : {}) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/models', query: { pageSize: '1' }, purpose: 'probe' });
  }
}

/** A Files API URI as its download (`…/files/{id}` → `…/files/{id}:download?alt=media`, as the SDK's downloader does). */
export function downloadUri(uri: string): string {
  return /\/files\/[^/:?]+$/.test(uri) ? `${uri}:download?alt=media` : uri;
}

function firstSample(op: Json): Json | undefined {
  const r = asRecord(asRecord(op.response)?.generateVideoResponse);
  const samples = Array.isArray(r?.generatedSamples) ? r.generatedSamples : [];
  return samples.map((s) => asRecord(asRecord(s)?.video)).find((v) => v && (str(v.uri) || str(v.encodedVideo) || str(v.bytesBase64Encoded)));
}

/** A Veo operation of the Gemini API, normalised (never keeping inline bytes). */
export function parseGeminiOperation(op: Json): UpstreamStatus {
  if (op.done !== true) return { ...VEO_STATES.running };
  const error = asRecord(op.error);
  if (error) return { ...VEO_STATES.failed, error: operationError(error) };
  const response = asRecord(asRecord(op.response)?.generateVideoResponse) ?? {};
  const sample = firstSample(op);
  if (!sample) return { ...VEO_STATES.filtered, error: filteredError(response) };
  const now = Date.now();
  const out: UpstreamStatus = { ...VEO_STATES.succeeded, completedAtMs: now };
  const uri = str(sample.uri);
  if (uri) {
    out.resultUrl = downloadUri(uri);
    out.resultExpiresAtMs = now + VEO_RESULT_TTL_MS;
  }
  return out;
}

export const gemini: AdapterDefinition<GeminiOptions> = {
  type: 'gemini',
  description: 'The Gemini API: Veo through predictLongRunning and Gemini Omni through the Interactions API, x-goog-api-key',
  options: geminiOptions,
  checkCredentials(c: ChannelCredentials): string | null {
    return c.apiKey ? null : 'a gemini channel needs an api_key (a Gemini API key)';
  },
  create: (options) => new GeminiAdapter(options),
};
