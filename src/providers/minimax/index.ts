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
  UpstreamStatus,
  UpstreamSubmit,
} from '../types.js';
import { CallbackRejected, UpstreamError } from '../types.js';
import { mediaRef } from '../media.js';
import { asRecord, str } from '../parse.js';
import type { Json } from '../parse.js';
import { IMAGE_MAX_BYTES, MEDIA_MAX_BYTES, minimaxModel, ratioOf, refuseMinimax, resolutionOf } from './models.js';
import { FILE_REF, MINIMAX_STATUS_TABLE, baseRespError, minimaxCode, parseV1Task, parseV2Task, v2ErrorKind } from './status.js';

/**
 * MiniMax (Hailuo, H3), upstreams.md §8: two API generations, chosen by the upstream model name
 * (models.ts). Hosts `https://api.minimax.io` (international, option `region: global`) and
 * `https://api.minimaxi.com` (`region: mainland`), or any `base_url`; the key must belong to the host. Auth: `Authorization: Bearer <api key>`.
 *
 * - V1 (Hailuo 2.3, 2.3-Fast, 02, the 01 generation): `POST /v1/video_generation` `{model,
 *   prompt, duration, resolution, first_frame_image, last_frame_image, subject_reference,
 *   prompt_optimizer, fast_pretreatment, callback_url}` → `{task_id, base_resp}`; poll `GET
 *   /v1/query/video_generation?task_id=` (`Preparing|Queueing|Processing|Success|Fail`); a
 *   success names a `file_id`, whose `download_url` (valid about an hour) comes from `GET
 *   /v1/files/retrieve?file_id=`. Errors arrive as HTTP 200 with `base_resp.status_code` ≠ 0.
 *   There is no cancel.
 * - V2 (H3, H3-Max): `POST /v2/video_generation` `{model, content[], resolution, duration,
 *   ratio, extra, callback_url}` → `{task_id}`; poll `GET /v2/query/video_generation/{id}` →
 *   `{task:{status, content:{url}, usage:{output_seconds}, error}}`; `DELETE
 *   /v2/video_generation/{id}` cancels a queued task. Errors are HTTP errors
 *   `{type:"error", error:{type, message, http_code}}`.
 *
 * Media: a signed link to our copy when the gateway has a public URL, else images as `data:`
 * URLs (at most 20 MB); reference video and audio (V2) only as links. Callbacks: MiniMax first
 * POSTs `{"challenge": …}` to the callback URL and registers it only when the same challenge is
 * echoed within 3 s; later posts carry the task id and a status word. MiniMax signs nothing: the
 * unguessable per-task URL is the authentication, and the gateway checks the job itself.
 * No lookup of a lost submit: nothing we send can find the task again.
 */
/** MiniMax's hosts: the key must belong to the host. */
export const MINIMAX_REGIONS = { global: 'https://api.minimax.io', mainland: 'https://api.minimaxi.com' } as const;

export const minimaxOptions = z
  .object({
    /** The host that serves the channel when it gives no `base_url`. */
    region: z.enum(['global', 'mainland']).optional(),
  })
  .strict();

export type MinimaxOptions = z.infer<typeof minimaxOptions>;

/** A V1 `download_url` is valid for about an hour from when it is handed out. */
const DOWNLOAD_URL_TTL_MS = 55 * 60_000;
/** V2 result URLs are time-limited (MiniMax does not say for how long): copy them at once. */
const V2_RESULT_TTL_MS = 55 * 60_000;

/** Upstream ids carry their API: `v1:<task_id>` or `v2:<task_id>`. */
function splitId(upstreamId: string): { api: 'v1' | 'v2'; id: string } {
  const m = /^(v1|v2):(.+)$/.exec(upstreamId);
  if (!m) throw new UpstreamError('malformed', `not a MiniMax job id: ${upstreamId}`);
  return { api: m[1] as 'v1' | 'v2', id: m[2]! };
}

class MinimaxAdapter implements UpstreamAdapter {
  readonly type = 'minimax';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseMinimax(req, upstreamModel);
  }

  /** One call with MiniMax's errors read: V1's `base_resp` inside a 200, V2's typed envelope. */
  private async call(http: UpstreamHttp, req: UpstreamRequest, api: 'v1' | 'v2'): Promise<Json> {
    let body: Json | undefined;
    try {
      body = asRecord((await http.send(req)).body);
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        const d = err.detail;
        const kind = v2ErrorKind(d.type, d.upstreamMessage, d.status) ?? (d.code && /^\d+$/.test(d.code) ? minimaxCode(Number(d.code)).kind : undefined);
        throw new UpstreamError('http', err.message, { ...d, ...(kind ? { kind } : {}) });
      }
      throw err;
    }
    if (!body) throw new UpstreamError('malformed', 'the answer is not a JSON object');
    if (api === 'v1' || body.base_resp !== undefined) {
      // A V1 query of a failed job carries the failure in base_resp next to its status: that is the job's outcome, not an error.
      const failedTask = typeof body.status === 'string' && MINIMAX_STATUS_TABLE[body.status.toLowerCase()] === 'failed';
      const err = failedTask ? undefined : baseRespError(body);
      if (err) throw err;
    }
    return body;
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const m = minimaxModel(job.model);
    const r = job.request;
    const image = (media: UpstreamMedia) => mediaRef(media, { maxBytes: IMAGE_MAX_BYTES, inline: 'data-url' });
    const resolution = resolutionOf(r, m);
    if (m.api === 'v1') {
      const body: Record<string, unknown> = { model: job.model, prompt: r.prompt };
      if (m.sendsShape) {
        body.duration = r.seconds;
        if (resolution) body.resolution = resolution;
      }
      if (typeof r.options.prompt_optimizer === 'boolean') body.prompt_optimizer = r.options.prompt_optimizer;
      if (typeof r.options.fast_pretreatment === 'boolean') body.fast_pretreatment = r.options.fast_pretreatment;
      if (r.firstFrame) body.first_frame_image = await image(r.firstFrame);
      if (r.lastFrame) body.last_frame_image = await image(r.lastFrame);
      if (m.subjectReference) body.subject_reference = [{ type: 'character', image: await Promise.all(r.references.map(image)) }];
      if (job.callbackUrl) body.callback_url = job.callbackUrl;
      const res = await this.call(http, { method: 'POST', path: '/v1/video_generation', json: body, purpose: 'submit' }, 'v1');
      const id = str(res.task_id);
      if (!id) throw new UpstreamError('malformed', 'the create answer carries no task_id');
      return { upstreamId: `v1:${id}`, status: { state: 'waiting', raw: 'Queueing' } };
    }
    const content: Record<string, unknown>[] = [{ type: 'text', text: r.prompt }];
    if (r.firstFrame) content.push({ type: 'image_url', image_url: { url: await image(r.firstFrame) }, role: 'first_frame' });
    if (r.lastFrame) content.push({ type: 'image_url', image_url: { url: await image(r.lastFrame) }, role: 'last_frame' });
    for (const ref of r.references) {
      if (ref.kind === 'image') content.push({ type: 'image_url', image_url: { url: await image(ref) }, role: 'reference_image' });
      else {
        const url = await mediaRef(ref, { maxBytes: MEDIA_MAX_BYTES, inline: 'data-url' });
        content.push(ref.kind === 'video' ? { type: 'video_url', video_url: { url }, role: 'reference_video' } : { type: 'audio_url', audio_url: { url }, role: 'reference_audio' });
      }
    }
    const body: Record<string, unknown> = { model: job.model, content, duration: r.seconds, ratio: ratioOf(r) };
    if (resolution) body.resolution = resolution;
    if (typeof r.options.prompt_expansion_mode === 'string') body.extra = { prompt_expansion_mode: r.options.prompt_expansion_mode };
    if (job.callbackUrl) body.callback_url = job.callbackUrl;
    const res = await this.call(http, { method: 'POST', path: '/v2/video_generation', json: body, purpose: 'submit' }, 'v2');
    const id = str(res.task_id) ?? str(asRecord(res.task)?.id);
    if (!id) throw new UpstreamError('malformed', 'the create answer carries no task_id');
    return { upstreamId: `v2:${id}`, status: { state: 'waiting', raw: 'queued' } };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const { api, id } = splitId(upstreamId);
    if (api === 'v1') {
      let body: Json;
      try {
        body = await this.call(http, { method: 'GET', path: '/v1/query/video_generation', query: { task_id: id }, purpose: 'status' }, 'v1');
      } catch (err) {
        // The only parameter of a query is the task id: "invalid params" means MiniMax does not know it.
        if (err instanceof UpstreamError && err.detail.code === '2013') throw new UpstreamError('http', err.message, { ...err.detail, status: 404 });
        throw err;
      }
      if (typeof body.status !== 'string') throw new UpstreamError('malformed', 'the task has no status');
      return parseV1Task(body);
    }
    const body = await this.call(http, { method: 'GET', path: `/v2/query/video_generation/${encodeURIComponent(id)}`, purpose: 'status' }, 'v2');
    const t = asRecord(body.task);
    if (!t || typeof t.status !== 'string') throw new UpstreamError('malformed', 'the task has no status');
    return parseV2Task(t);
  }

  async results(upstreamId: string, last: UpstreamStatus, http: UpstreamHttp): Promise<ResultSources> {
    const { api } = splitId(upstreamId);
    if (api === 'v2') {
      if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished task carries no content.url');
      return { video: last.resultUrl, expiresAtMs: (last.completedAtMs ?? Date.now()) + V2_RESULT_TTL_MS };
    }
    if (!last.resultUrl?.startsWith(FILE_REF)) throw new UpstreamError('malformed', 'the finished task names no file_id');
    // A fresh download_url each time: the one handed out earlier may have expired.
    const body = await this.call(http, { method: 'GET', path: '/v1/files/retrieve', query: { file_id: last.resultUrl.slice(FILE_REF.length) }, purpose: 'status' }, 'v1');
    const url = str(asRecord(body.file)?.download_url);
    if (!url) throw new UpstreamError('malformed', 'the file carries no download_url');
    return { video: url, expiresAtMs: Date.now() + DOWNLOAD_URL_TTL_MS };
  }

  /** V2 cancels a queued task (and deletes a finished one); V1 has no cancel. */
  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    const { api, id } = splitId(upstreamId);
    if (api === 'v1') return;
    await this.call(http, { method: 'DELETE', path: `/v2/video_generation/${encodeURIComponent(id)}`, purpose: 'status' }, 'v2');
  }

  callback(req: UpstreamCallback, ctx: CallbackContext): CallbackVerdict {
    let parsed: unknown;
    try {
      parsed = JSON.parse(req.body.toString('utf8'));
    } catch {
      throw new CallbackRejected('the body is not JSON');
    }
    const root = asRecord(parsed);
    if (!root) throw new CallbackRejected('the body is not an object');
    // The registration handshake: echo the challenge (within 3 s) or MiniMax sends nothing more.
    // It says nothing about the job (`waiting` spares a check).
    if (typeof root.challenge === 'string') return { job: 'unknown', state: 'waiting', reply: { status: 200, body: { challenge: root.challenge } } };
    const t = asRecord(root.task) ?? root;
    const id = str(t.task_id) ?? str(t.id);
    const mine = ctx.upstreamId ? splitId(ctx.upstreamId).id : undefined;
    const job = !id || !mine ? 'unknown' : id === mine ? 'this' : 'other';
    const word = str(t.status);
    return { job, ...(word ? { state: parseV1Task({ status: word }).state } : {}) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/v1/files/list', query: { purpose: 'video_generation' }, purpose: 'probe' }, 'v1');
  }
}

export const minimax: AdapterDefinition<MinimaxOptions> = {
  type: 'minimax',
  description: 'MiniMax Hailuo (V1 /v1/video_generation) and H3 (V2 /v2/video_generation), Bearer API key',
  options: minimaxOptions,
  baseUrl: (o) => (o.region ? MINIMAX_REGIONS[o.region] : undefined),
  create: () => new MinimaxAdapter(),
};
