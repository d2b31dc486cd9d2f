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
import { imageWithin } from '../media.js';
import { asRecord, str } from '../parse.js';
import { LUMA_IMAGE_MAX_BYTES, LUMA_RESOLUTIONS, refuseLuma } from './models.js';
import { lumaHttpKind, parseLumaGeneration } from './status.js';

/**
 * Luma's Agents API (`https://agents.lumalabs.ai/v1`, upstreams.md §9A), `Authorization: Bearer`.
 *
 * - submit: `POST /v1/generations` `{model, type: "video", prompt, aspect_ratio (left out for
 *   adaptive: Luma picks), video: {resolution, duration: "5s" | "10s", loop, hdr, start_frame,
 *   end_frame}, user_id}` → the Generation (`state: "queued"`); frames are ImageRefs, `{url}` (a
 *   link to our copy) or `{data, media_type}`;
 * - status: `GET /v1/generations/{id}`: `queued` → `processing` → `completed` (`output:
 *   [{type: "video", url}]`, presigned for 1 h, fetched without the key) | `failed`
 *   (`failure_code`, `failure_reason`);
 * - no callbacks, no cancel, no idempotency key. The legacy Dream Machine API is not used.
 */
export const lumaOptions = z
  .object({
    /** Sent as `user_id` (Luma's end-user attribution). */
    user_id: z.string().min(1).max(256).optional(),
  })
  .strict();

export type LumaOptions = z.infer<typeof lumaOptions>;

class LumaAdapter implements UpstreamAdapter {
  readonly type = 'luma';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: LumaOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseLuma(req, upstreamModel);
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    const path = /\/v1$/.test(http.baseUrl) ? req.path! : `/v1${req.path!}`;
    try {
      return await http.send({ ...req, path });
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        throw new UpstreamError('http', err.message, { ...err.detail, kind: lumaHttpKind(err.detail.status, err.detail.upstreamMessage) });
      }
      throw err;
    }
  }

  private async imageRef(m: UpstreamMedia): Promise<Record<string, string>> {
    if (m.publicUrl && m.data.length <= LUMA_IMAGE_MAX_BYTES) return { url: m.publicUrl };
    const { data, contentType } = await imageWithin(m, LUMA_IMAGE_MAX_BYTES);
    return { data: data.toString('base64'), media_type: contentType };
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const refusal = refuseLuma(r, job.model);
    if (refusal) throw new UpstreamError('http', refusal.message, { status: 400, kind: 'invalid', param: refusal.param, upstreamMessage: refusal.message });
    const video: Record<string, unknown> = { resolution: LUMA_RESOLUTIONS[r.resolution], duration: `${r.seconds}s` };
    if (typeof r.options.loop === 'boolean') video.loop = r.options.loop;
    if (typeof r.options.hdr === 'boolean') video.hdr = r.options.hdr;
    if (r.firstFrame) video.start_frame = await this.imageRef(r.firstFrame);
    if (r.lastFrame) video.end_frame = await this.imageRef(r.lastFrame);
    const body: Record<string, unknown> = { model: job.model, type: 'video', prompt: r.prompt, video };
    if (r.aspectRatio !== 'adaptive') body.aspect_ratio = r.aspectRatio;
    if (this.o.user_id) body.user_id = this.o.user_id;
    const res = await this.call(http, { method: 'POST', path: '/generations', json: body, purpose: 'submit' });
    const g = asRecord(res.body);
    const id = str(g?.id);
    if (!g || !id) throw new UpstreamError('malformed', 'the create answer carries no generation id');
    return { upstreamId: id, ...(typeof g.state === 'string' ? { status: parseLumaGeneration(g) } : {}) };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await this.call(http, { method: 'GET', path: `/generations/${encodeURIComponent(upstreamId)}`, purpose: 'status' });
    const g = asRecord(res.body);
    if (!g || typeof g.state !== 'string') throw new UpstreamError('malformed', 'the generation has no state');
    return parseLumaGeneration(g);
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the completed generation carries no video output');
    return { video: last.resultUrl };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    // A generation that does not exist: 404 with a valid key, 401 without.
    try {
      await this.call(http, { method: 'GET', path: '/generations/00000000-0000-0000-0000-000000000000', purpose: 'probe' });
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http' && err.detail.status === 404) return;
      throw err;
    }
  }
}

export const luma: AdapterDefinition<LumaOptions> = {
  type: 'luma',
  description: 'Luma Agents API: /v1/generations (ray models), Bearer key',
  options: lumaOptions,
  baseUrl: () => 'https://agents.lumalabs.ai/v1',
  create: (options) => new LumaAdapter(options),
};
