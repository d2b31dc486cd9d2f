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
import { asRecord, str } from '../parse.js';
import { VIDU_IMAGE_MAX_BYTES, refuseVidu, viduEndpoint, viduModel, viduResolution } from './models.js';
import { parseViduTask, viduFailureKind } from './status.js';

/**
 * Vidu (`https://api.vidu.com`, China `https://api.vidu.cn`), `Authorization: Token <key>`.
 *
 * - submit: `POST /ent/v2/{text2video|img2video|start-end2video|reference2video}`, chosen by
 *   what the request carries (nothing, a first frame, first + last frame, reference images):
 *   `{model, prompt, images[], duration (integer), seed, aspect_ratio (text and reference only),
 *   resolution, movement_amplitude, bgm, audio (q3), off_peak, payload, callback_url}` →
 *   `{task_id, state: "created", credits}`;
 * - status: `GET /ent/v2/tasks/{id}/creations`: `created`, `queueing`, `processing`, `success`,
 *   `failed` (`err_code`, a named code read into a kind); `creations[].url` valid 24 h, fetched
 *   without the key;
 * - cancel: `POST /ent/v2/tasks/{id}/cancel` (Vidu cancels a task that has not started);
 * - errors: the HTTP status with `{code, reason, message}` (`reason` the named code);
 * - callbacks: Vidu POSTs the task to `callback_url`, signed: `X-HMAC-SIGNATURE` =
 *   base64(HMAC-SHA256(api key, "POST\n{path}\n{query}\nvidu\n{Date}\n" + the headers named
 *   by `X-HMAC-SIGNED-HEADERS` as "Name:value\n")); unsigned, stale (±5 min) or badly signed
 *   callbacks are refused.
 * Images go as a link to our copy when the gateway has a public URL, else as data: URLs (under
 * 10 MB decoded). `payload` carries the idempotency key, so a task can be recognised by it.
 */
export const viduOptions = z
  .object({
    /** Off-peak generation (cheaper, within 48 h) for every task of the channel. */
    off_peak: z.boolean().default(false),
  })
  .strict();

export type ViduOptions = z.infer<typeof viduOptions>;

const SKEW_S = 300;

class ViduAdapter implements UpstreamAdapter {
  readonly type = 'vidu';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: ViduOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Token ${c.apiKey}` } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseVidu(req, upstreamModel);
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      return await http.send(req);
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        // `reason` is the named code (`CreditInsufficient`, `TaskPromptPolicyViolation`, …).
        const code = err.detail.type ?? err.detail.code;
        const kind = viduFailureKind(code, err.detail.status);
        throw new UpstreamError('http', err.message, { ...err.detail, ...(code ? { code } : {}), kind, ...(kind === 'quota' ? { status: 402 } : {}) });
      }
      throw err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const m = viduModel(job.model);
    const endpoint = viduEndpoint(r);
    const image = (media: UpstreamMedia) => mediaRef(media, { maxBytes: VIDU_IMAGE_MAX_BYTES, inline: 'data-url' });
    const body: Record<string, unknown> = {
      model: job.model,
      prompt: r.prompt,
      duration: r.seconds,
      resolution: viduResolution(r),
      payload: job.idempotencyKey,
    };
    const frames = [r.firstFrame, r.lastFrame].filter((f): f is UpstreamMedia => !!f);
    const images = endpoint === 'reference2video' ? r.references : frames;
    if (images.length > 0) body.images = await Promise.all(images.map(image));
    if ((endpoint === 'text2video' || endpoint === 'reference2video') && r.aspectRatio !== 'adaptive') body.aspect_ratio = r.aspectRatio;
    if (r.seed !== undefined) body.seed = r.seed;
    if (m.audio) body.audio = r.audio;
    if (r.options.movement_amplitude !== undefined) body.movement_amplitude = r.options.movement_amplitude;
    if (r.options.bgm !== undefined) body.bgm = r.options.bgm;
    const offPeak = typeof r.options.off_peak === 'boolean' ? r.options.off_peak : this.o.off_peak;
    if (offPeak) body.off_peak = true;
    if (job.callbackUrl) body.callback_url = job.callbackUrl;
    const res = await this.call(http, { method: 'POST', path: `/ent/v2/${endpoint}`, json: body, purpose: 'submit' });
    const t = asRecord(res.body);
    const id = str(t?.task_id);
    if (!t || !id) throw new UpstreamError('malformed', 'the create answer carries no task_id');
    return { upstreamId: id, status: parseViduTask(t, Date.now()) };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await this.call(http, { method: 'GET', path: `/ent/v2/tasks/${encodeURIComponent(upstreamId)}/creations`, purpose: 'status' });
    const t = asRecord(res.body);
    if (!t || typeof t.state !== 'string') throw new UpstreamError('malformed', 'the task has no state');
    return parseViduTask(t, Date.now());
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished task carries no creation url');
    return { video: last.resultUrl, ...(last.resultExpiresAtMs === undefined ? {} : { expiresAtMs: last.resultExpiresAtMs }) };
  }

  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'POST', path: `/ent/v2/tasks/${encodeURIComponent(upstreamId)}/cancel`, json: { id: upstreamId }, purpose: 'status' });
  }

  callback(req: UpstreamCallback, ctx: CallbackContext): CallbackVerdict {
    verifyViduSignature(req, ctx.credentials.apiKey, ctx.nowMs);
    let t: Record<string, unknown> | undefined;
    try {
      t = asRecord(JSON.parse(req.body.toString('utf8')));
    } catch {
      throw new CallbackRejected('the body is not JSON');
    }
    if (!t) throw new CallbackRejected('the body is not a task');
    const id = str(t.id) ?? str(t.task_id);
    const job = !id || !ctx.upstreamId ? 'unknown' : id === ctx.upstreamId ? 'this' : 'other';
    const word = str(t.state);
    return { job, ...(word ? { state: parseViduTask(t, ctx.nowMs).state } : {}) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/ent/v2/tasks', query: { 'paper.page': '0', 'paper.pagesz': '1' }, purpose: 'probe' });
  }
}

/**
 * Vidu's callback signature (platform.vidu.com "callback signature"): HMAC-SHA256 keyed with the
 * API key the task was created with, over the method, the callback URL's path and query, the
 * access key `vidu`, the `Date` header and the headers `X-HMAC-SIGNED-HEADERS` names.
 */
export function viduSigningString(method: string, url: string, date: string, signed: Array<[string, string]>): string {
  const u = new URL(url);
  const query = u.search.startsWith('?') ? u.search.slice(1) : u.search;
  return `${method.toUpperCase()}\n${u.pathname || '/'}\n${query}\nvidu\n${date}\n${signed.map(([k, v]) => `${k}:${v}\n`).join('')}`;
}

function verifyViduSignature(req: UpstreamCallback, apiKey: string | undefined, nowMs: number): void {
  const h = req.headers;
  const signature = h['x-hmac-signature'];
  const date = h.date;
  const names = h['x-hmac-signed-headers'];
  if (!signature || !date || !names || !req.url) throw new CallbackRejected('the Vidu signature headers are missing');
  if (!apiKey) throw new CallbackRejected('the channel has no key to check the signature with');
  if ((h['x-hmac-algorithm'] ?? 'hmac-sha256').toLowerCase() !== 'hmac-sha256') throw new CallbackRejected('the signature algorithm is not hmac-sha256');
  const at = Date.parse(date);
  if (!Number.isFinite(at) || Math.abs(nowMs - at) > SKEW_S * 1000) throw new CallbackRejected('the callback Date is too old or too new');
  const list = names.split(';').map((n) => n.trim()).filter(Boolean);
  if (!list.some((n) => n.toLowerCase() === 'date') || !list.some((n) => n.toLowerCase() === 'x-request-nonce')) throw new CallbackRejected('the signature does not cover Date and x-request-nonce');
  const signed = list.map((n): [string, string] => [n, h[n.toLowerCase()] ?? '']);
  const expected = createHmac('sha256', apiKey).update(viduSigningString('POST', req.url, date, signed)).digest();
  const given = Buffer.from(signature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new CallbackRejected('the Vidu signature does not match');
}

export const vidu: AdapterDefinition<ViduOptions> = {
  type: 'vidu',
  description: 'Vidu: /ent/v2 text2video, img2video, start-end2video and reference2video by what the request carries, Token auth, signed callbacks',
  options: viduOptions,
  create: (options) => new ViduAdapter(options),
};
