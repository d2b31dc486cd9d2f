import { createHash, randomUUID } from 'node:crypto';
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
  UpstreamStatus,
  UpstreamSubmit,
} from '../types.js';
import { UpstreamError } from '../types.js';
import { imageWithin } from '../media.js';
import { asRecord, num, str } from '../parse.js';
import type { Json } from '../parse.js';
import { PIXVERSE_IMAGE_MAX_BYTES, pixverseModel, pixverseQuality, refusePixverse } from './models.js';
import { parsePixverseVideo, pixverseError } from './status.js';

/**
 * PixVerse (`https://app-api.pixverse.ai`), headers `API-KEY` and `Ai-trace-id`.
 *
 * - frames are uploaded first: `POST /openapi/v2/image/upload` (multipart `image`) →
 *   `Resp.img_id`;
 * - submit: `POST /openapi/v2/video/text/generate` (`aspect_ratio`), `/video/img/generate`
 *   (`img_id`) or `/video/transition/generate` (`first_frame_img`, `last_frame_img`): `model`,
 *   `prompt`, `negative_prompt`, integer `duration`, `quality`, `seed`, `motion_mode`, `style`,
 *   `generate_audio_switch` → `Resp.video_id`;
 * - status: `GET /openapi/v2/video/result/{id}`: `Resp.status` 1 done (`url`), 5 generating,
 *   7 moderation failure, 8 failed;
 * - every answer is `{ErrCode, ErrMsg, Resp}`; `ErrCode` ≠ 0 is an error whatever the HTTP status.
 *
 * `Ai-trace-id` is PixVerse's idempotency key: a request carrying one it has seen returns the
 * earlier result instead of doing the work again. Uploads and the submit carry ids derived from
 * the task's idempotency key, so a resend after a lost answer (or a crash) finds the same image and
 * the same video instead of making a second one; status reads carry a fresh id each (a reused one
 * would return a stale status). The result URL is fetched without the key; the probe decides the
 * length billed.
 */
export const pixverseOptions = z.object({}).strict();

export type PixverseOptions = z.infer<typeof pixverseOptions>;

/** A UUID (v4 layout) derived from a string: stable for the same input. */
export function traceId(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

class PixverseAdapter implements UpstreamAdapter {
  readonly type = 'pixverse';
  readonly idempotentSubmit = true;
  readonly supportsRemix = false;

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { 'api-key': c.apiKey } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refusePixverse(req, upstreamModel);
  }

  /** One call with its trace id; the envelope's `ErrCode` read. Returns `Resp`. */
  private async call(http: UpstreamHttp, req: UpstreamRequest, trace: string): Promise<Json> {
    const path = /\/openapi\/v2$/.test(http.baseUrl) ? req.path! : `/openapi/v2${req.path!}`;
    let body: Json | undefined;
    try {
      body = asRecord((await http.send({ ...req, path, headers: { ...(req.headers ?? {}), 'ai-trace-id': trace } })).body);
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        const code = num(err.detail.code);
        if (code !== undefined && code !== 0) throw pixverseError(code, err.detail.upstreamMessage, err.detail);
      }
      throw err;
    }
    if (!body) throw new UpstreamError('malformed', 'the answer is not a JSON object');
    const code = num(body.ErrCode);
    if (code === undefined) throw new UpstreamError('malformed', 'the answer has no ErrCode');
    if (code !== 0) throw pixverseError(code, str(body.ErrMsg));
    const resp = asRecord(body.Resp);
    if (!resp) throw new UpstreamError('malformed', 'the answer has no Resp');
    return resp;
  }

  private async upload(http: UpstreamHttp, media: UpstreamMedia, key: string): Promise<number> {
    const { data, contentType } = await imageWithin(media, PIXVERSE_IMAGE_MAX_BYTES);
    const ext = contentType === 'image/jpeg' ? 'jpg' : contentType === 'image/webp' ? 'webp' : 'png';
    const resp = await this.call(http, { method: 'POST', path: '/image/upload', form: [{ name: 'image', filename: `${media.role}.${ext}`, contentType, data }], purpose: 'upload' }, traceId(`${key}:upload:${media.role}`));
    const id = num(resp.img_id);
    if (id === undefined) throw new UpstreamError('malformed', 'the upload answer carries no img_id');
    return id;
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const m = pixverseModel(job.model);
    const body: Record<string, unknown> = {
      model: job.model,
      prompt: r.prompt,
      duration: r.seconds,
      quality: pixverseQuality(r),
    };
    let route = '/video/text/generate';
    if (r.firstFrame && r.lastFrame) {
      route = '/video/transition/generate';
      body.first_frame_img = await this.upload(http, r.firstFrame, job.idempotencyKey);
      body.last_frame_img = await this.upload(http, r.lastFrame, job.idempotencyKey);
    } else if (r.firstFrame) {
      route = '/video/img/generate';
      body.img_id = await this.upload(http, r.firstFrame, job.idempotencyKey);
    } else {
      body.aspect_ratio = r.aspectRatio;
    }
    if (r.negativePrompt) body.negative_prompt = r.negativePrompt;
    if (r.seed !== undefined) body.seed = r.seed;
    if (m.audio) body.generate_audio_switch = r.audio;
    if (r.options.motion_mode !== undefined) body.motion_mode = r.options.motion_mode;
    if (r.options.style !== undefined) body.style = r.options.style;
    const resp = await this.call(http, { method: 'POST', path: route, json: body, purpose: 'submit' }, traceId(`${job.idempotencyKey}:generate`));
    const id = str(resp.video_id);
    if (!id) throw new UpstreamError('malformed', 'the create answer carries no video_id');
    return { upstreamId: id, status: { state: 'waiting', raw: 'submitted' } };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const resp = await this.call(http, { method: 'GET', path: `/video/result/${encodeURIComponent(upstreamId)}`, purpose: 'status' }, randomUUID());
    if (resp.status === undefined) throw new UpstreamError('malformed', 'the result has no status');
    return parsePixverseVideo(resp);
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished video carries no url');
    return { video: last.resultUrl };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/account/balance', purpose: 'probe' }, randomUUID());
  }
}

export const pixverse: AdapterDefinition<PixverseOptions> = {
  type: 'pixverse',
  description: 'PixVerse: image upload, text/img/transition generate, API-KEY auth, Ai-trace-id as the idempotency key',
  options: pixverseOptions,
  create: () => new PixverseAdapter(),
};
