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
import { AUDIO_MAX_BYTES, IMAGE_MAX_BYTES, VIDEO_MAX_BYTES, ratioOf, refuseWan, resolutionWord, sizeOf, tierOf, wanModel } from './models.js';
import { dashscopeError, parseDashscopeTask } from './status.js';

/**
 * Wan on Alibaba Cloud Model Studio (DashScope), models-and-parameters.md §2. The key, the base
 * URL and the model must be of one region: the `region` option picks its host (`cn-beijing`
 * `https://dashscope.aliyuncs.com`, `ap-southeast-1` `https://dashscope-intl.aliyuncs.com`,
 * `us-east-1` `https://dashscope-us.aliyuncs.com`), or `base_url` names one (a workspace domain
 * `https://{WorkspaceId}.{region}.maas.aliyuncs.com`), with or without `/api/v1`.
 *
 * - submit: `POST /services/aigc/video-generation/video-synthesis` (first-and-last-frame `kf2v`
 *   models: `/services/aigc/image2video/video-synthesis`) with `X-DashScope-Async: enable`,
 *   `{model, input:{prompt, negative_prompt, img_url | first_frame_url + last_frame_url | media[],
 *   audio_url}, parameters:{size | resolution, ratio, duration, audio, seed, prompt_extend,
 *   watermark, shot_type}}` → `{output:{task_id, task_status:"PENDING"}, request_id}` (forms by
 *   model family: models.ts).
 * - status: `GET /tasks/{task_id}`; words by status.ts; a failed task's reason in `output.code` /
 *   `output.message`; `output.video_url` (valid 24 h) fetched without the key; the length made
 *   (`usage.output_video_duration` / `video_duration` / `duration`) settles the bill.
 * - cancel: `POST /tasks/{task_id}/cancel` (DashScope cancels only a PENDING task).
 * - errors: HTTP errors `{request_id, code, message}` read by code (status.ts).
 * Frames go as a signed link to our copy when the gateway has a public URL, else as `data:` URLs
 * (at most 10 MB); a driving audio only as a link. DashScope has no callbacks for these tasks and
 * nothing that finds a lost submit again.
 */
/** Model Studio's regional API hosts, by region id (the key, the host and the model must be of one region). */
export const DASHSCOPE_REGIONS = {
  'cn-beijing': 'https://dashscope.aliyuncs.com',
  'ap-southeast-1': 'https://dashscope-intl.aliyuncs.com',
  'us-east-1': 'https://dashscope-us.aliyuncs.com',
} as const;

export const dashscopeOptions = z
  .object({
    /** The region whose host serves the channel when it gives no `base_url` (Beijing, Singapore, Virginia). */
    region: z.enum(Object.keys(DASHSCOPE_REGIONS) as [keyof typeof DASHSCOPE_REGIONS]).optional(),
    /** DashScope's "AI generated" watermark (off by default; a request's own `watermark` option wins). */
    watermark: z.boolean().default(false),
    /** Let DashScope rewrite short prompts (`prompt_extend`); a request's own `prompt_extend` option wins. */
    prompt_extend: z.boolean().optional(),
  })
  .strict();

export type DashscopeOptions = z.infer<typeof dashscopeOptions>;

class DashscopeAdapter implements UpstreamAdapter {
  readonly type = 'dashscope';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: DashscopeOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseWan(req, upstreamModel);
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    const path = /\/api\/v1$/.test(http.baseUrl) ? req.path! : `/api/v1${req.path!}`;
    try {
      return await http.send({ ...req, path });
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') throw dashscopeError(err);
      throw err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const m = wanModel(job.model);
    const r = job.request;
    const image = (media: UpstreamMedia) => mediaRef(media, { maxBytes: IMAGE_MAX_BYTES, inline: 'data-url' });
    const input: Record<string, unknown> = { prompt: r.prompt };
    if (r.negativePrompt) input.negative_prompt = r.negativePrompt;
    const audio = r.references.find((x) => x.kind === 'audio');
    const audioUrl = audio ? await mediaRef(audio, { maxBytes: AUDIO_MAX_BYTES, inline: 'data-url' }) : undefined;
    if (m.form === 'resolution' && m.kind !== 't2v') {
      // 2.7+: every non-text input of image- and reference-to-video in media[], each naming its role.
      const media: Array<{ type: string; url: string }> = [];
      if (r.firstFrame) media.push({ type: 'first_frame', url: await image(r.firstFrame) });
      if (r.lastFrame) media.push({ type: 'last_frame', url: await image(r.lastFrame) });
      for (const ref of r.references) {
        if (ref.kind === 'image') media.push({ type: 'reference_image', url: await image(ref) });
        else if (ref.kind === 'video') media.push({ type: 'reference_video', url: await mediaRef(ref, { maxBytes: VIDEO_MAX_BYTES, inline: 'data-url' }) });
      }
      if (audioUrl) media.push({ type: 'driving_audio', url: audioUrl });
      input.media = media;
    } else {
      if (r.firstFrame) input[m.kind === 'i2v' ? 'img_url' : 'first_frame_url'] = await image(r.firstFrame);
      if (r.lastFrame) input.last_frame_url = await image(r.lastFrame);
      if (audioUrl) input.audio_url = audioUrl;
    }

    const watermark = typeof r.options.watermark === 'boolean' ? r.options.watermark : this.o.watermark;
    const parameters: Record<string, unknown> = { duration: r.seconds, watermark };
    if (m.form === 'size' && m.kind === 't2v') parameters.size = sizeOf(r);
    else parameters.resolution = resolutionWord(tierOf(r));
    if (m.form === 'resolution' && (m.kind === 't2v' || (m.kind === 'r2v' && !r.firstFrame))) parameters.ratio = ratioOf(r);
    if (m.audio === 'switch') parameters.audio = r.audio;
    if (r.seed !== undefined) parameters.seed = r.seed;
    const extend = typeof r.options.prompt_extend === 'boolean' ? r.options.prompt_extend : this.o.prompt_extend;
    if (extend !== undefined) parameters.prompt_extend = extend;
    if (typeof r.options.shot_type === 'string') parameters.shot_type = r.options.shot_type;

    const path = m.kind === 'kf2v' ? '/services/aigc/image2video/video-synthesis' : '/services/aigc/video-generation/video-synthesis';
    const res = await this.call(http, { method: 'POST', path, headers: { 'x-dashscope-async': 'enable' }, json: { model: job.model, input, parameters }, purpose: 'submit' });
    const output = asRecord(asRecord(res.body)?.output);
    const id = str(output?.task_id);
    if (!id) throw new UpstreamError('malformed', 'the create answer carries no output.task_id');
    return { upstreamId: id, status: { state: 'waiting', raw: str(output?.task_status) ?? 'PENDING' } };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await this.call(http, { method: 'GET', path: `/tasks/${encodeURIComponent(upstreamId)}`, purpose: 'status' });
    const body = asRecord(res.body);
    if (!body || typeof asRecord(body.output)?.task_status !== 'string') throw new UpstreamError('malformed', 'the task has no output.task_status');
    return parseDashscopeTask(body, Date.now());
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished task carries no output.video_url');
    return { video: last.resultUrl, ...(last.resultExpiresAtMs === undefined ? {} : { expiresAtMs: last.resultExpiresAtMs }) };
  }

  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'POST', path: `/tasks/${encodeURIComponent(upstreamId)}/cancel`, purpose: 'status' });
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/tasks', query: { page_no: '1', page_size: '1' }, purpose: 'probe' });
  }
}

export const dashscope: AdapterDefinition<DashscopeOptions> = {
  type: 'dashscope',
  description: 'Wan on Alibaba Cloud Model Studio (DashScope): video-synthesis with X-DashScope-Async, /api/v1/tasks',
  options: dashscopeOptions,
  baseUrl: (o) => (o.region ? DASHSCOPE_REGIONS[o.region] : undefined),
  create: (options) => new DashscopeAdapter(options),
};
