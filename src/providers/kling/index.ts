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
import { signJwt } from '../jwt.js';
import { mediaRef } from '../media.js';
import { asRecord, isRecord, str } from '../parse.js';
import type { Json } from '../parse.js';
import { verifyStandardWebhook } from '../standard-webhooks.js';
import { IMAGE_MAX_BYTES, klingModel, modeOf, ratioOf, refuseKling, tierOf } from './models.js';
import { envelopeError, klingError, parseKlingTask } from './status.js';

/**
 * Kling AI (Kuaishou), upstreams.md §7: two API generations side by side, chosen by the upstream
 * model name.
 *
 * - flat (`kling-v1` … `kling-v2-6`, and `kling-v3` by `model_name`): `POST
 *   /v1/videos/text2video` or `/v1/videos/image2video` (when there is a frame), `duration` a
 *   string, `mode` std/pro, `sound` on/off, `negative_prompt`, `image` / `image_tail`,
 *   `camera_control` and `cfg_scale` from the request's options; poll `GET
 *   /v1/videos/{kind}/{task_id}`; `task_status` `submitted|processing|succeed|failed`, the reason in
 *   `task_status_msg`, the video in `task_result.videos[]`.
 * - path-versioned (`kling-3.0`, `kling-3.0-turbo`, `kling-3.0-omni`, …): `POST
 *   /{text-to-video|image-to-video|omni-video}/{model}` with `contents[]` (prompt, first/last
 *   frame, reference images and video), `settings` (resolution, aspect ratio, integer duration,
 *   audio, multi_shot) and `options` (callback, external id, watermark off); poll `GET
 *   /tasks?task_ids=`; `succeeded`, the video in `outputs[]`.
 *
 * Auth: `Authorization: Bearer <JWT>`, HS256 over `{iss: access_key, exp: +30 min, nbf: -5 s}`
 * signed with the secret key, minted once per channel and renewed before it expires; or a plain
 * `api_key` (Kling's newer keys). Errors come as HTTP errors or as HTTP 200 with `code` ≠ 0,
 * both read through Kling's code table. Images go as a signed link to our copy when the gateway
 * has a public URL, else as bare base64 (Kling refuses a `data:` prefix), at most 10 MB.
 * Callbacks: `callback_url` on both APIs (the same envelope as a status answer); a 3.x callback
 * is also verified against its Standard-Webhooks signature when the channel has a
 * `webhook_secret`. A submit whose answer was lost is found again by its `external_task_id`.
 */
export const klingOptions = z
  .object({
    /** Let Kling stamp its watermark on 3.x videos (off by default). */
    watermark: z.boolean().default(false),
  })
  .strict();

export type KlingOptions = z.infer<typeof klingOptions>;

const JWT_LIFETIME_S = 1800;

type FlatKind = 'text2video' | 'image2video';

/** Upstream ids carry the route the job lives on: `text2video:<id>`, `image2video:<id>` (flat) or `tasks:<id>` (3.x). */
function splitId(upstreamId: string): { route: FlatKind | 'tasks'; id: string } {
  const i = upstreamId.indexOf(':');
  const route = upstreamId.slice(0, i);
  if (i < 0 || (route !== 'text2video' && route !== 'image2video' && route !== 'tasks')) throw new UpstreamError('malformed', `not a Kling job id: ${upstreamId}`);
  return { route, id: upstreamId.slice(i + 1) };
}

/** Kling-specific request options the flat API takes as they are. */
const FLAT_EXTRAS = ['camera_control', 'cfg_scale'] as const;

class KlingAdapter implements UpstreamAdapter {
  readonly type = 'kling';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: KlingOptions) {}

  async auth({ credentials: c, tokens }: AuthContext): Promise<Record<string, string>> {
    const ak = c.fields?.access_key;
    const sk = c.fields?.secret_key;
    if (ak && sk) {
      const token = await tokens.get('jwt', async () => {
        const now = Math.floor(Date.now() / 1000);
        return { token: signJwt({ iss: ak, exp: now + JWT_LIFETIME_S, nbf: now - 5 }, sk, 'HS256'), expiresAtMs: (now + JWT_LIFETIME_S) * 1000 };
      });
      return { ...(c.headers ?? {}), authorization: `Bearer ${token}` };
    }
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseKling(req, upstreamModel);
  }

  /** One call, with Kling's envelope and error codes read. */
  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse & { body: Json }> {
    let res: UpstreamResponse;
    try {
      res = await http.send(req);
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') throw klingError(err.detail, err.message);
      throw err;
    }
    const body = asRecord(res.body);
    if (!body) throw new UpstreamError('malformed', 'the answer is not a JSON object');
    const err = envelopeError(body);
    if (err) throw err;
    return { ...res, body };
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const m = klingModel(job.model);
    const r = job.request;
    const image = async (media: NonNullable<typeof r.firstFrame>) => mediaRef(media, { maxBytes: IMAGE_MAX_BYTES, inline: 'base64' });
    if (m.api === 'flat') {
      const kind: FlatKind = r.firstFrame ? 'image2video' : 'text2video';
      const body: Record<string, unknown> = {
        model_name: job.model,
        prompt: r.prompt,
        mode: modeOf(r),
        duration: String(r.seconds),
        external_task_id: job.idempotencyKey,
      };
      if (kind === 'text2video') body.aspect_ratio = ratioOf(r);
      if (r.negativePrompt) body.negative_prompt = r.negativePrompt;
      if (m.sound) body.sound = r.audio ? 'on' : 'off';
      for (const k of FLAT_EXTRAS) if (r.options[k] !== undefined) body[k] = r.options[k];
      if (r.firstFrame) body.image = await image(r.firstFrame);
      if (r.lastFrame) body.image_tail = await image(r.lastFrame);
      if (job.callbackUrl) body.callback_url = job.callbackUrl;
      const res = await this.call(http, { method: 'POST', path: `/v1/videos/${kind}`, json: body, purpose: 'submit' });
      return this.accepted(kind, res.body);
    }
    const contents: Record<string, unknown>[] = [{ type: 'prompt', text: r.prompt }];
    if (r.firstFrame) contents.push({ type: 'first_frame', url: await image(r.firstFrame) });
    if (r.lastFrame) contents.push({ type: 'last_frame', url: await image(r.lastFrame) });
    for (const ref of r.references) {
      contents.push(ref.kind === 'video' ? { type: 'feature_video', url: await mediaRef(ref, { maxBytes: 200 * 1024 * 1024, inline: 'base64' }) } : { type: 'refer_image', url: await image(ref) });
    }
    const settings: Record<string, unknown> = { resolution: tierOf(r), duration: r.seconds, multi_shot: r.options.multi_shot === true };
    if (!r.firstFrame) settings.aspect_ratio = ratioOf(r);
    if (m.sound) settings.audio = r.audio ? 'native' : 'off';
    const options: Record<string, unknown> = { external_task_id: job.idempotencyKey, watermark_info: { enabled: this.o.watermark } };
    if (job.callbackUrl) options.callback_url = job.callbackUrl;
    const kind = job.model.toLowerCase().endsWith('-omni') ? 'omni-video' : r.firstFrame ? 'image-to-video' : 'text-to-video';
    const res = await this.call(http, { method: 'POST', path: `/${kind}/${encodeURIComponent(job.model)}`, json: { contents, settings, options }, purpose: 'submit' });
    return this.accepted('tasks', res.body);
  }

  private accepted(route: FlatKind | 'tasks', body: Json): UpstreamAccepted {
    const data = asRecord(body.data);
    const id = str(data?.task_id) ?? str(data?.id);
    if (!data || !id) throw new UpstreamError('malformed', 'the create answer carries no task id');
    return { upstreamId: `${route}:${id}`, status: parseKlingTask(data) };
  }

  /** The task object of a status or lookup answer (3.x answers with an array, or an object). */
  private task(body: Json, id: string | undefined, field: 'id' | 'external'): Json | undefined {
    const data = body.data;
    const list = Array.isArray(data) ? data : [data];
    return list.map(asRecord).find((t): t is Json => {
      if (!t) return false;
      if (id === undefined) return true;
      return field === 'id' ? (str(t.task_id) ?? str(t.id)) === id : (str(t.external_task_id) ?? str(asRecord(t.task_info)?.external_task_id)) === id;
    });
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const { route, id } = splitId(upstreamId);
    const req: UpstreamRequest =
      route === 'tasks'
        ? { method: 'GET', path: '/tasks', query: { task_ids: id }, purpose: 'status' }
        : { method: 'GET', path: `/v1/videos/${route}/${encodeURIComponent(id)}`, purpose: 'status' };
    const res = await this.call(http, req);
    const t = this.task(res.body, route === 'tasks' ? id : undefined, 'id');
    if (!t) throw new UpstreamError('http', 'Kling does not list this task', { status: 404, upstreamMessage: `no task ${id}` });
    if (typeof (t.task_status ?? t.status) !== 'string') throw new UpstreamError('malformed', 'the task has no status');
    return parseKlingTask(t);
  }

  /** A submit whose answer was lost: the task made with our external_task_id, if any. */
  async find(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted | null> {
    const key = job.idempotencyKey;
    try {
      if (klingModel(job.model).api === 'path') {
        const res = await this.call(http, { method: 'GET', path: '/tasks', query: { external_task_ids: key }, purpose: 'status' });
        const t = this.task(res.body, key, 'external') ?? (Array.isArray(res.body.data) && res.body.data.length === 1 ? asRecord(res.body.data[0]) : undefined);
        const id = t && (str(t.id) ?? str(t.task_id));
        return t && id ? { upstreamId: `tasks:${id}`, status: parseKlingTask(t) } : null;
      }
      const kind: FlatKind = job.request.firstFrame ? 'image2video' : 'text2video';
      const res = await this.call(http, { method: 'GET', path: `/v1/videos/${kind}/${encodeURIComponent(key)}`, purpose: 'status' });
      const t = asRecord(res.body.data);
      const id = t && str(t.task_id);
      return t && id ? { upstreamId: `${kind}:${id}`, status: parseKlingTask(t) } : null;
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http' && err.detail.status === 404) return null;
      throw err;
    }
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished task carries no video');
    return { video: last.resultUrl, ...(last.resultExpiresAtMs === undefined ? {} : { expiresAtMs: last.resultExpiresAtMs }) };
  }

  callback(req: UpstreamCallback, ctx: CallbackContext): CallbackVerdict {
    const secret = ctx.credentials.fields?.webhook_secret;
    const v3 = ctx.upstreamId ? ctx.upstreamId.startsWith('tasks:') : req.headers['webhook-signature'] !== undefined;
    // 3.x callbacks are signed (Standard Webhooks) when the account has a webhook secret; the flat API signs nothing.
    if (secret && v3) verifyStandardWebhook(secret, req.headers, req.body, ctx.nowMs);
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      throw new CallbackRejected('the body is not JSON');
    }
    const root = asRecord(body);
    const t = isRecord(root?.data) ? root.data : root;
    if (!t) throw new CallbackRejected('the body is not a task');
    const id = str(t.task_id) ?? str(t.id);
    const mine = ctx.upstreamId ? splitId(ctx.upstreamId).id : undefined;
    const job = !id || !mine ? 'unknown' : id === mine ? 'this' : 'other';
    const word = str(t.task_status) ?? str(t.status);
    return { job, ...(word ? { state: parseKlingTask(t).state } : {}) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/v1/videos/text2video', query: { pageNum: '1', pageSize: '1' }, purpose: 'probe' });
  }
}

export const kling: AdapterDefinition<KlingOptions> = {
  type: 'kling',
  description: 'Kling AI: the flat /v1/videos API (kling-v1 … kling-v2-6, kling-v3) and the path-versioned 3.x API, JWT auth',
  options: klingOptions,
  credentials: [
    { name: 'access_key', description: 'the access key (the JWT issuer)' },
    { name: 'secret_key', description: 'the secret key that signs the JWT' },
    { name: 'webhook_secret', description: 'the whsec_… secret that signs 3.x callbacks (optional; then unsigned ones are refused)' },
  ],
  checkCredentials(c: ChannelCredentials): string | null {
    const ak = c.fields?.access_key;
    const sk = c.fields?.secret_key;
    if (!!ak !== !!sk) return 'a kling channel needs access_key and secret_key together';
    if (!ak && !c.apiKey) return 'a kling channel needs access_key and secret_key (or an api_key)';
    return null;
  },
  create: (options) => new KlingAdapter(options),
};
