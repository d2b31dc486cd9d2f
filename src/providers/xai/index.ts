import { z } from 'zod';
import type { VideoRequest } from '../../core/video-request.js';
import type {
  AdapterDefinition,
  AuthContext,
  ResultSources,
  UpstreamAccepted,
  UpstreamAdapter,
  UpstreamHttp,
  UpstreamMedia,
  UpstreamRequest,
  UpstreamResponse,
  UpstreamStatus,
  UpstreamSubmit,
} from '../types.js';
import { UpstreamError } from '../types.js';
import { mediaRef } from '../media.js';
import { asRecord, str } from '../parse.js';
import { XAI_IMAGE_MAX_BYTES, refuseXai, xaiResolution } from './models.js';
import { parseXaiVideo, xaiFailureKind } from './status.js';

/**
 * xAI Grok Imagine video (`https://api.x.ai`, models-and-parameters.md §2).
 *
 * - submit: `POST /v1/videos/generations` `{model, prompt, duration (integer), aspect_ratio,
 *   resolution, image: {url} | reference_images: [{url}]}` → `{request_id}`;
 * - status: `GET /v1/videos/{request_id}`: `pending` → `done` (`video.url`, `video.duration`,
 *   `usage.cost_in_usd_ticks`, `progress`) | `failed` (`error: {code, message}`) | `expired`;
 *   a `done` video with `respect_moderation: false` is a moderation failure;
 * - errors `{"error": {…}}` or `{"code", "error": "<message>"}`; an unknown key is answered 400
 *   "Incorrect API key provided" (read as an auth failure, so the channel leaves rotation);
 * - auth `Authorization: Bearer <key>`; images as a link to our copy or a data: URL;
 * - the result URL (`vidgen.x.ai`) is temporary and fetched without the key; the delivered
 *   `video.duration` settles the bill; the reported cost is kept for the operator.
 * xAI takes no callback and no idempotency key, and has no cancel.
 */
export const xaiOptions = z
  .object({
    /** An end-user id sent as `user` (xAI's abuse monitoring); a request's own `user` option wins. */
    user: z.string().min(1).max(256).optional(),
  })
  .strict();

export type XaiOptions = z.infer<typeof xaiOptions>;

class XaiAdapter implements UpstreamAdapter {
  readonly type = 'xai';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: XaiOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseXai(req, upstreamModel);
  }

  /** The base may be given with or without `/v1`. */
  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    const path = /\/v1$/.test(http.baseUrl) ? req.path! : `/v1${req.path!}`;
    try {
      return await http.send({ ...req, path });
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        const kind = xaiFailureKind(err.detail.code, err.detail.upstreamMessage, err.detail.status);
        // A bad key comes as a 400: say 401, so that routing takes the channel out of rotation.
        const status = kind === 'auth' ? 401 : kind === 'quota' ? 402 : err.detail.status;
        throw new UpstreamError('http', err.message, { ...err.detail, kind, ...(status === undefined ? {} : { status }) });
      }
      throw err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const ref = (m: UpstreamMedia) => mediaRef(m, { maxBytes: XAI_IMAGE_MAX_BYTES, inline: 'data-url' });
    const body: Record<string, unknown> = {
      model: job.model,
      prompt: r.prompt,
      duration: r.seconds,
      resolution: xaiResolution(r),
    };
    // `adaptive` follows the frame (xAI's default with an image); otherwise the ratio asked.
    if (r.aspectRatio !== 'adaptive') body.aspect_ratio = r.aspectRatio;
    if (r.firstFrame) body.image = { url: await ref(r.firstFrame) };
    if (r.references.length > 0) body.reference_images = await Promise.all(r.references.map(async (m) => ({ url: await ref(m) })));
    const user = str(r.options.user) ?? this.o.user;
    if (user) body.user = user;
    const res = await this.call(http, { method: 'POST', path: '/videos/generations', json: body, purpose: 'submit' });
    const id = str(asRecord(res.body)?.request_id);
    if (!id) throw new UpstreamError('malformed', 'the create answer carries no request_id');
    return { upstreamId: id, status: { state: 'waiting', raw: 'pending' } };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await this.call(http, { method: 'GET', path: `/videos/${encodeURIComponent(upstreamId)}`, purpose: 'status' });
    const t = asRecord(res.body);
    if (!t || (typeof t.status !== 'string' && !asRecord(t.video))) throw new UpstreamError('malformed', 'the video request has no status');
    return parseXaiVideo(t);
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished request carries no video.url');
    return { video: last.resultUrl };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/models', purpose: 'probe' });
  }
}

export const xai: AdapterDefinition<XaiOptions> = {
  type: 'xai',
  description: 'xAI Grok Imagine video: /v1/videos/generations and /v1/videos/{request_id}, Bearer key',
  options: xaiOptions,
  create: (options) => new XaiAdapter(options),
};
