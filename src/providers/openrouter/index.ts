import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { VideoRequest } from '../../core/video-request.js';
import type {
  AdapterDefinition,
  AuthContext,
  CallbackContext,
  CallbackVerdict,
  ResultSources,
  UpstreamAccepted,
  UpstreamAdapter,
  UpstreamCallback,
  UpstreamHttp,
  UpstreamMedia,
  UpstreamRequest,
  UpstreamResponse,
  UpstreamStatus,
  UpstreamSubmit,
} from '../types.js';
import { CallbackRejected, UpstreamError } from '../types.js';
import { mediaRef } from '../media.js';
import { asRecord, isRecord, str } from '../parse.js';
import { openrouterFailureKind, parseOpenrouterJob } from './status.js';

/**
 * OpenRouter's video API (`https://openrouter.ai`, with or without `/api/v1`), Bearer key.
 *
 * - submit: `POST /api/v1/videos` `{model, prompt, duration, resolution, aspect_ratio,
 *   generate_audio, seed, frame_images: [{type: "image_url", image_url: {url}, frame_type}],
 *   input_references: [{type: "image_url", image_url: {url}}], callback_url}` → 202 `{id,
 *   polling_url, status}`;
 * - status: `GET {polling_url}` (kept with the job; relative to the API origin): `pending`,
 *   `in_progress`, `completed` (`unsigned_urls`, `usage.cost`), `failed` (`error`), `cancelled`,
 *   `expired`;
 * - content: `GET /api/v1/videos/{id}/content?index=0` — it needs the key, and it is on the
 *   channel's own origin, so the download carries it (an `unsigned_urls` entry elsewhere is not
 *   trusted with the key);
 * - callbacks: OpenRouter POSTs `{type: "video.generation.completed" | …failed | …cancelled |
 *   …expired, data: {id, status, …}}`; with the workspace's signing secret as the channel's
 *   `webhook_secret`, `X-OpenRouter-Signature: t=<unix>,v1=<hex HMAC-SHA256("{t},{body}")>` is
 *   verified (±5 min); without it the unguessable URL is the authentication.
 * Which durations, resolutions, ratios, frames, audio and seed a model takes is listed by
 * `GET /api/v1/videos/models`; the channel may copy a model's sets into `options.models` so that
 * what the model cannot do is refused before anything is sent; otherwise OpenRouter decides
 * (a 400 with its reason). Images go as links to our copy with a public URL, else as data: URLs.
 */
const capabilities = z
  .object({
    durations: z.array(z.number().int().positive()).optional(),
    resolutions: z.array(z.string()).optional(),
    aspect_ratios: z.array(z.string()).optional(),
    frame_images: z.array(z.enum(['first_frame', 'last_frame'])).optional(),
    generate_audio: z.boolean().optional(),
    seed: z.boolean().optional(),
    input_references: z.boolean().optional(),
  })
  .strict();

export const openrouterOptions = z
  .object({
    /** What each upstream model takes, as `GET /api/v1/videos/models` lists it. */
    models: z.record(z.string(), capabilities).default({}),
    /** Sent as `HTTP-Referer` / `X-Title` (OpenRouter's app attribution). */
    referer: z.string().url().optional(),
    title: z.string().min(1).max(200).optional(),
  })
  .strict();

export type OpenrouterOptions = z.infer<typeof openrouterOptions>;
type Capabilities = z.infer<typeof capabilities>;

const IMAGE_MAX_BYTES = 10 * 1024 * 1024;
const SKEW_S = 300;

export function openrouterResolution(req: Pick<VideoRequest, 'resolution'>): string {
  if (req.resolution === 'standard') return '720p';
  if (req.resolution === 'high') return '1080p';
  return req.resolution;
}

type Refusal = { param: string; message: string } | null;

export function refuseOpenrouter(req: VideoRequest, upstreamModel: string, caps: Capabilities | undefined): Refusal {
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (req.negativePrompt !== undefined) return no('negative_prompt', 'takes no negative prompt through OpenRouter.');
  if (req.mode !== undefined) return no('mode', 'has no modes through OpenRouter.');
  const keys = Object.keys(req.options);
  if (keys.length > 0) return no(keys[0]!, 'takes no model-specific options through OpenRouter.');
  if (req.lastFrame && !req.firstFrame) return no('last_frame', 'needs a first frame with a last frame.');
  if (req.references.some((r) => r.kind !== 'image')) return no('references', 'takes reference images only through this gateway.');
  if (!caps) return null;
  if (caps.durations && !caps.durations.includes(req.seconds)) return no('seconds', `makes videos of ${caps.durations.join(', ')} seconds, not ${req.seconds}.`);
  const tier = openrouterResolution(req);
  if (caps.resolutions && !caps.resolutions.includes(tier)) return no('resolution', `makes ${caps.resolutions.join(', ')} videos, not ${tier}.`);
  if (caps.aspect_ratios && req.aspectRatio !== 'adaptive' && !caps.aspect_ratios.includes(req.aspectRatio)) return no('aspect_ratio', `makes ${caps.aspect_ratios.join(', ')} videos, not ${req.aspectRatio}.`);
  if (caps.frame_images) {
    if (req.firstFrame && !caps.frame_images.includes('first_frame')) return no('first_frame', 'takes no first frame.');
    if (req.lastFrame && !caps.frame_images.includes('last_frame')) return no('last_frame', 'takes no last frame.');
  }
  if (req.audio && caps.generate_audio === false) return no('audio', 'makes no sound.');
  if (req.seed !== undefined && caps.seed === false) return no('seed', 'takes no seed.');
  if (req.references.length > 0 && caps.input_references === false) return no('references', 'takes no reference images.');
  return null;
}

/** Upstream ids: the job id, and `#<polling path>` when OpenRouter's polling_url is not `/api/v1/videos/{id}`. */
function splitId(upstreamId: string): { id: string; polling: string } {
  const i = upstreamId.indexOf('#');
  const id = i < 0 ? upstreamId : upstreamId.slice(0, i);
  return { id, polling: i < 0 ? `/api/v1/videos/${encodeURIComponent(id)}` : upstreamId.slice(i + 1) };
}

class OpenrouterAdapter implements UpstreamAdapter {
  readonly type = 'openrouter';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: OpenrouterOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return {
      ...(this.o.referer ? { 'http-referer': this.o.referer } : {}),
      ...(this.o.title ? { 'x-title': this.o.title } : {}),
      ...(c.headers ?? {}),
      ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}),
    };
  }

  refuse(req: VideoRequest, upstreamModel: string): Refusal {
    return refuseOpenrouter(req, upstreamModel, this.o.models[upstreamModel]);
  }

  /** The API's origin: the base URL may carry `/api/v1`. */
  private origin(http: UpstreamHttp): string {
    return new URL(http.baseUrl).origin;
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      return await http.send(req.path ? { ...req, path: undefined, url: `${this.origin(http)}${req.path}` } : req);
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        throw new UpstreamError('http', err.message, { ...err.detail, kind: openrouterFailureKind(err.detail.upstreamMessage, err.detail.status) });
      }
      throw err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const image = async (m: UpstreamMedia) => ({ type: 'image_url', image_url: { url: await mediaRef(m, { maxBytes: IMAGE_MAX_BYTES, inline: 'data-url' }) } });
    const body: Record<string, unknown> = {
      model: job.model,
      prompt: r.prompt,
      duration: r.seconds,
      resolution: openrouterResolution(r),
    };
    // A model described without sound gets no audio switch at all (a value outside its sets is a 400).
    if (this.o.models[job.model]?.generate_audio !== false) body.generate_audio = r.audio;
    if (r.aspectRatio !== 'adaptive') body.aspect_ratio = r.aspectRatio;
    if (r.seed !== undefined) body.seed = r.seed;
    const frames: unknown[] = [];
    if (r.firstFrame) frames.push({ ...(await image(r.firstFrame)), frame_type: 'first_frame' });
    if (r.lastFrame) frames.push({ ...(await image(r.lastFrame)), frame_type: 'last_frame' });
    if (frames.length > 0) body.frame_images = frames;
    if (r.references.length > 0) body.input_references = await Promise.all(r.references.map(image));
    if (job.callbackUrl) body.callback_url = job.callbackUrl;
    const res = await this.call(http, { method: 'POST', path: '/api/v1/videos', json: body, purpose: 'submit' });
    const t = asRecord(res.body);
    const id = str(t?.id);
    if (!t || !id) throw new UpstreamError('malformed', 'the create answer carries no id');
    let polling = `/api/v1/videos/${encodeURIComponent(id)}`;
    const given = str(t.polling_url);
    if (given) {
      const u = new URL(given, this.origin(http));
      // The key goes only to the API's own origin: a polling URL elsewhere is not followed.
      if (u.origin !== this.origin(http)) throw new UpstreamError('malformed', 'the polling_url is on another origin');
      polling = `${u.pathname}${u.search}`;
    }
    const upstreamId = polling === `/api/v1/videos/${encodeURIComponent(id)}` ? id : `${id}#${polling}`;
    return { upstreamId, status: parseOpenrouterJob(t) };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await this.call(http, { method: 'GET', path: splitId(upstreamId).polling, purpose: 'status' });
    const t = asRecord(res.body);
    if (!t || typeof t.status !== 'string') throw new UpstreamError('malformed', 'the job has no status');
    return parseOpenrouterJob(t);
  }

  results(upstreamId: string, last: UpstreamStatus, http: UpstreamHttp): ResultSources {
    const origin = this.origin(http);
    // The content endpoint needs the key: only a URL on the API's own origin gets it.
    if (last.resultUrl && new URL(last.resultUrl).origin === origin) return { video: last.resultUrl };
    return { video: `${origin}/api/v1/videos/${encodeURIComponent(splitId(upstreamId).id)}/content?index=0` };
  }

  callback(req: UpstreamCallback, ctx: CallbackContext): CallbackVerdict {
    const secret = ctx.credentials.fields?.webhook_secret;
    if (secret) verifyOpenrouterSignature(secret, req.headers['x-openrouter-signature'], req.body, ctx.nowMs);
    let event: unknown;
    try {
      event = JSON.parse(req.body.toString('utf8'));
    } catch {
      throw new CallbackRejected('the body is not JSON');
    }
    const data = isRecord(event) && isRecord(event.data) ? event.data : undefined;
    if (!data) throw new CallbackRejected('the body is not a video event');
    const id = str(data.id);
    const mine = ctx.upstreamId ? splitId(ctx.upstreamId).id : undefined;
    const job = !id || !mine ? 'unknown' : id === mine ? 'this' : 'other';
    return { job, ...(typeof data.status === 'string' ? { state: parseOpenrouterJob(data).state } : {}) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/api/v1/videos/models', purpose: 'probe' });
  }
}

/** `X-OpenRouter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t},{raw body}">`. */
export function verifyOpenrouterSignature(secret: string, header: string | undefined, body: Buffer, nowMs: number): void {
  if (!header) throw new CallbackRejected('the X-OpenRouter-Signature header is missing');
  const parts = new Map(header.split(',').map((p) => {
    const i = p.indexOf('=');
    return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as [string, string];
  }));
  const t = parts.get('t');
  if (!t || !/^\d+$/.test(t) || Math.abs(nowMs / 1000 - Number(t)) > SKEW_S) throw new CallbackRejected('the signature timestamp is too old or too new');
  const expected = createHmac('sha256', secret).update(`${t},`).update(body).digest();
  for (const [k, v] of parts) {
    if (k !== 'v1' || !/^[0-9a-f]{64}$/i.test(v)) continue;
    if (timingSafeEqual(Buffer.from(v, 'hex'), expected)) return;
  }
  throw new CallbackRejected('the OpenRouter signature does not match');
}

export const openrouter: AdapterDefinition<OpenrouterOptions> = {
  type: 'openrouter',
  description: 'OpenRouter video API: /api/v1/videos, its polling_url, authenticated content downloads, signed callbacks',
  options: openrouterOptions,
  credentials: [{ name: 'webhook_secret', description: 'the workspace webhook signing secret (optional; then unsigned callbacks are refused)' }],
  create: (options) => new OpenrouterAdapter(options),
};
