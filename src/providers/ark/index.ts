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
import { asRecord, str } from '../parse.js';
import { BODY_MAX_BYTES, IMAGE_MAX_BYTES, arkModel, arkRatio, arkResolution, refuseArk } from './models.js';
import { arkFailureKind, parseArkTask } from './status.js';

/**
 * Seedance on Volcengine Ark and BytePlus ModelArk (upstreams.md §11): one protocol, two base
 * URLs (`https://ark.cn-beijing.volces.com/api/v3`, `https://ark.ap-southeast.bytepluses.com/api/v3`).
 *
 * - submit: `POST /contents/generations/tasks` with `content[]` — the prompt as `text`, frames and
 *   reference images as `image_url` items with `role` `first_frame` / `last_frame` /
 *   `reference_image`, reference video and audio (2.x) as `video_url` / `audio_url` items — and
 *   typed top-level parameters: `ratio`, `resolution`, integer `duration`, boolean
 *   `generate_audio`, integer `seed`, `watermark: false`, `callback_url`.
 * - status: `GET /contents/generations/tasks/{id}`; words by status.ts; `error.code` read into a
 *   failure kind; `content.video_url` (valid 24 h) fetched without the key; `duration` is the
 *   length delivered, which billing settles on.
 * - cancel: `DELETE /contents/generations/tasks/{id}` (Ark cancels only a queued task; a running
 *   one finishes and is not charged to the client, whose task is already cancelled).
 * - callbacks: Ark POSTs the task object to `callback_url` on every change, unsigned: the
 *   unguessable per-task URL is the authentication, and the gateway checks the task itself.
 * Media: a signed link to our copy when the gateway has a public URL, else images as data: URLs
 * (at most 30 MB each, 64 MB a request). There is no lookup of a lost submit: Ark keeps nothing
 * we send that a task list could be searched by.
 */
export const arkOptions = z
  .object({
    /** Ark's "AI generated" watermark (off by default). */
    watermark: z.boolean().default(false),
    /** `flex` runs cheaper and later on the models that have it. */
    service_tier: z.enum(['default', 'flex']).optional(),
    /** Seconds a task may wait in Ark's queue before it expires (3600–259200; Ark's default 48 h). */
    execution_expires_after: z.number().int().min(3600).max(259_200).optional(),
  })
  .strict();

export type ArkOptions = z.infer<typeof arkOptions>;

class ArkAdapter implements UpstreamAdapter {
  readonly type = 'ark';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: ArkOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseArk(req, upstreamModel);
  }

  /** The base may be given with or without `/api/v3`. */
  private path(http: UpstreamHttp, p: string): string {
    return /\/api\/v3$/.test(http.baseUrl) ? p : `/api/v3${p}`;
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      return await http.send({ ...req, path: this.path(http, req.path!) });
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http' && err.detail.code) {
        throw new UpstreamError('http', err.message, { ...err.detail, kind: arkFailureKind(err.detail.code, err.detail.upstreamMessage) });
      }
      throw err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const m = arkModel(job.model);
    const r = job.request;
    let inlineBytes = 0;
    const ref = async (media: UpstreamMedia) => {
      const v = await mediaRef(media, { maxBytes: IMAGE_MAX_BYTES, inline: 'data-url' });
      if (v.startsWith('data:')) inlineBytes += v.length;
      return v;
    };
    const content: Record<string, unknown>[] = [{ type: 'text', text: r.prompt }];
    if (r.firstFrame) content.push({ type: 'image_url', image_url: { url: await ref(r.firstFrame) }, role: 'first_frame' });
    if (r.lastFrame) content.push({ type: 'image_url', image_url: { url: await ref(r.lastFrame) }, role: 'last_frame' });
    for (const media of r.references) {
      const url = await ref(media);
      if (media.kind === 'video') content.push({ type: 'video_url', video_url: { url }, role: 'reference_video' });
      else if (media.kind === 'audio') content.push({ type: 'audio_url', audio_url: { url }, role: 'reference_audio' });
      else content.push({ type: 'image_url', image_url: { url }, role: 'reference_image' });
    }
    if (inlineBytes > BODY_MAX_BYTES - 1024 * 1024) {
      throw new UpstreamError('http', 'the images are too large to send inline', {
        status: 413,
        kind: 'invalid',
        upstreamMessage: 'The frames and references together are larger than the 64 MB Seedance accepts in one request; set VIDGATE_PUBLIC_URL so that they are sent as links.',
      });
    }
    const body: Record<string, unknown> = {
      model: job.model,
      content,
      ratio: arkRatio(r, m),
      resolution: arkResolution(r),
      duration: r.seconds,
      watermark: this.o.watermark,
    };
    if (m.audio) body.generate_audio = r.audio;
    if (r.seed !== undefined) body.seed = r.seed;
    if (typeof r.options.camera_fixed === 'boolean') body.camera_fixed = r.options.camera_fixed;
    if (this.o.service_tier) body.service_tier = this.o.service_tier;
    if (this.o.execution_expires_after) body.execution_expires_after = this.o.execution_expires_after;
    if (job.callbackUrl) body.callback_url = job.callbackUrl;
    const res = await this.call(http, { method: 'POST', path: '/contents/generations/tasks', json: body, purpose: 'submit' });
    const id = str(asRecord(res.body)?.id);
    if (!id) throw new UpstreamError('malformed', 'the create answer carries no task id');
    return { upstreamId: id, status: { state: 'waiting', raw: 'queued' } };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await this.call(http, { method: 'GET', path: `/contents/generations/tasks/${encodeURIComponent(upstreamId)}`, purpose: 'status' });
    const t = asRecord(res.body);
    if (!t || typeof t.status !== 'string') throw new UpstreamError('malformed', 'the task has no status');
    return parseArkTask(t);
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished task carries no video_url');
    return { video: last.resultUrl, ...(last.resultExpiresAtMs === undefined ? {} : { expiresAtMs: last.resultExpiresAtMs }) };
  }

  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'DELETE', path: `/contents/generations/tasks/${encodeURIComponent(upstreamId)}`, purpose: 'status' });
  }

  callback(req: UpstreamCallback, ctx: CallbackContext): CallbackVerdict {
    let t: Record<string, unknown> | undefined;
    try {
      t = asRecord(JSON.parse(req.body.toString('utf8')));
    } catch {
      throw new CallbackRejected('the body is not JSON');
    }
    if (!t) throw new CallbackRejected('the body is not a task');
    const id = str(t.id);
    const job = !id || !ctx.upstreamId ? 'unknown' : id === ctx.upstreamId ? 'this' : 'other';
    return { job, ...(typeof t.status === 'string' ? { state: parseArkTask(t).state } : {}) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/contents/generations/tasks', query: { page_num: '1', page_size: '1' }, purpose: 'probe' });
  }
}

export const ark: AdapterDefinition<ArkOptions> = {
  type: 'ark',
  description: 'Seedance on Volcengine Ark / BytePlus ModelArk: /api/v3/contents/generations/tasks',
  options: arkOptions,
  create: (options) => new ArkAdapter(options),
};
