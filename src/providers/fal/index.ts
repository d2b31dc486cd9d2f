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
  UpstreamRequest,
  UpstreamResponse,
  UpstreamStatus,
  UpstreamSubmit,
} from '../types.js';
import { CallbackRejected, UpstreamError } from '../types.js';
import { inputMapSchema, inputsByMap, refuseByMap } from '../input-map.js';
import { asRecord, isRecord, str } from '../parse.js';
import { FAL_JWKS_URL, falKeysOf, verifyFalWebhook } from './webhook.js';
import { falErrorOf, falFailureKind, falVideoOf, parseFalStatus } from './status.js';

/**
 * fal's queue API (`https://queue.fal.run`, upstreams.md §5), `Authorization: Key <key>`.
 *
 * - the upstream model is the endpoint id (`fal-ai/kling-video/v2.1/pro/text-to-video`); with a
 *   frame, the mapping's `image_endpoint` is used when it names one. Submit: `POST
 *   /{endpoint}[?fal_webhook=<url>]` with the model's input as the body (built by the channel's
 *   per-endpoint input mapping, input-map.ts) → `{request_id, status_url, response_url,
 *   cancel_url, queue_position}`. Those URLs live on the app-level path (without the endpoint's
 *   sub-path): they are kept as given and never rebuilt;
 * - status: `GET {status_url}?logs=1`: 202 `IN_QUEUE` (`queue_position`) / `IN_PROGRESS`
 *   (`logs`), 200 `COMPLETED`; then `GET {response_url}`: the output (`video.url`) or an error
 *   answer (`{detail}` — a 422 list with `type`, or a string with `error_type`), the job's failure;
 * - cancel: `PUT {cancel_url}` (202; 400 once it started);
 * - webhooks: `{request_id, status: "OK" | "ERROR", payload, error}` signed with Ed25519 over
 *   `request_id\nuser_id\ntimestamp\nsha256(body)`, checked against the JWKS (`jwks_url`).
 */
const falModel = inputMapSchema.extend({
  /** The endpoint used when the request has a first frame (e.g. `…/image-to-video`); it needs its own entry in `models`. */
  image_endpoint: z.string().regex(/^[\w.-]+\/[\w.-]+(\/[\w.-]+)*$/, 'an endpoint id like fal-ai/app/path').optional(),
});

export const falOptions = z
  .object({
    /** Input mapping by endpoint id. */
    models: z.record(z.string(), falModel).default({}),
    /** Where fal's webhook keys are published (default fal's JWKS). */
    jwks_url: z.string().url().optional(),
    /** `X-Fal-Queue-Priority`. */
    priority: z.enum(['normal', 'low']).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    for (const [endpoint, m] of Object.entries(o.models)) {
      if (m.image_endpoint && !o.models[m.image_endpoint]) {
        ctx.addIssue({ code: 'custom', path: ['models', endpoint, 'image_endpoint'], message: `${m.image_endpoint} needs its own entry in models (its input mapping)` });
      }
    }
  });

export type FalOptions = z.infer<typeof falOptions>;

const ENDPOINT = /^[\w.-]+\/[\w.-]+(\/[\w.-]+)*$/;
const JWKS_TTL_MS = 24 * 3_600_000;

/** The upstream id keeps the request id and the three URLs fal gave. */
export function falIdOf(upstreamId: string): { id: string; response: string; status: string; cancel: string } {
  const [id, response, status, cancel] = upstreamId.split('#');
  if (!id || !response || !status || !cancel) throw new UpstreamError('malformed', 'the fal request id does not carry its URLs');
  return { id, response, status, cancel };
}

class FalAdapter implements UpstreamAdapter {
  readonly type = 'fal';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: FalOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Key ${c.apiKey}` } : {}) };
  }

  /** The endpoint a request goes to (the image endpoint when it has a frame and one is named) and its mapping. */
  private pick(model: string, req: VideoRequest): { endpoint: string; map: FalOptions['models'][string] | undefined } {
    const map = this.o.models[model];
    if (req.firstFrame && map?.image_endpoint) return { endpoint: map.image_endpoint, map: this.o.models[map.image_endpoint] };
    return { endpoint: model, map };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    if (!ENDPOINT.test(upstreamModel)) return { param: 'model', message: `${upstreamModel} is not a fal endpoint id (owner/app[/path]).` };
    const { endpoint, map } = this.pick(upstreamModel, req);
    return refuseByMap(req, endpoint, map);
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      return await http.send(req);
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        const kind = falFailureKind(err.detail.type, err.detail.upstreamMessage, err.detail.status);
        throw new UpstreamError('http', err.message, { ...err.detail, kind });
      }
      throw err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const { endpoint, map } = this.pick(job.model, job.request);
    const refusal = this.refuse(job.request, job.model);
    if (!map || refusal) {
      const message = refusal?.message ?? `${job.model} cannot be served.`;
      throw new UpstreamError('http', message, { status: 400, kind: 'invalid', param: refusal?.param ?? 'model', upstreamMessage: message });
    }
    const res = await this.call(http, {
      method: 'POST',
      path: `/${endpoint}`,
      json: await inputsByMap(job.request, map),
      ...(job.callbackUrl ? { query: { fal_webhook: job.callbackUrl } } : {}),
      ...(this.o.priority ? { headers: { 'x-fal-queue-priority': this.o.priority } } : {}),
      purpose: 'submit',
    });
    const b = asRecord(res.body);
    const id = str(b?.request_id);
    const urls = [str(b?.response_url), str(b?.status_url), str(b?.cancel_url)];
    if (!id || urls.some((u) => !u || !/^https?:\/\//.test(u) || u.includes('#'))) throw new UpstreamError('malformed', 'the queue answer lacks request_id or its URLs');
    return { upstreamId: [id, ...urls].join('#'), status: { state: 'waiting', raw: str(b?.status) ?? 'IN_QUEUE' } };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const u = falIdOf(upstreamId);
    const res = await this.call(http, { method: 'GET', url: u.status, query: { logs: '1' }, purpose: 'status' });
    const s = asRecord(res.body);
    if (!s || typeof s.status !== 'string') throw new UpstreamError('malformed', 'the queue status has no status');
    const out = parseFalStatus(s);
    if (out.state !== 'succeeded') return out;
    // COMPLETED says the request ended; its result says how.
    try {
      const r = await this.call(http, { method: 'GET', url: u.response, purpose: 'status' });
      const v = falVideoOf(r.body);
      if (!v.url) {
        const e = falErrorOf(r.body);
        return { ...out, state: 'failed', error: { code: 'no_video', message: e.message ?? 'The result carries no video.', kind: 'internal' } };
      }
      return { ...out, resultUrl: v.url, ...(v.seconds !== undefined ? { deliveredSeconds: v.seconds } : {}) };
    } catch (err) {
      // fal's own trouble (throttled, a gateway error without a type) is asked again later.
      if (!(err instanceof UpstreamError) || err.kind !== 'http' || err.detail.status === 429 || ([502, 503, 504].includes(err.detail.status ?? 0) && !err.detail.type)) throw err;
      const message = err.detail.upstreamMessage ?? err.message;
      if (/cancel/i.test(`${err.detail.type ?? ''} ${message}`)) return { ...out, state: 'cancelled', error: { ...(err.detail.type ? { code: err.detail.type } : {}), message, kind: 'internal' } };
      return { ...out, state: 'failed', error: { ...(err.detail.type ? { code: err.detail.type } : {}), message, kind: falFailureKind(err.detail.type, message, err.detail.status) } };
    }
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished request carries no video.url');
    return { video: last.resultUrl };
  }

  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'PUT', url: falIdOf(upstreamId).cancel, purpose: 'status' });
  }

  async callback(req: UpstreamCallback, ctx: CallbackContext): Promise<CallbackVerdict> {
    let jwks: unknown;
    try {
      const text = await ctx.tokens.get('fal-jwks', async () => {
        const res = await ctx.http.send({ method: 'GET', url: this.o.jwks_url ?? FAL_JWKS_URL, trusted: true, auth: false, purpose: 'status' });
        return { token: JSON.stringify(res.body), expiresAtMs: Date.now() + JWKS_TTL_MS };
      });
      jwks = JSON.parse(text) as unknown;
    } catch {
      throw new CallbackRejected('fal’s webhook keys could not be fetched');
    }
    const { requestId } = verifyFalWebhook(req.headers, req.body, falKeysOf(jwks), ctx.nowMs);
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      throw new CallbackRejected('the body is not JSON');
    }
    if (!isRecord(body) || str(body.request_id) !== requestId) throw new CallbackRejected('the body does not match the signed request id');
    const mine = ctx.upstreamId ? ctx.upstreamId.split('#')[0] : undefined;
    const job = !mine ? 'unknown' : mine === requestId ? 'this' : 'other';
    const status = str(body.status);
    return { job, ...(status === 'OK' ? { state: 'succeeded' as const } : status === 'ERROR' ? { state: 'failed' as const } : {}) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    // A status call on a request that does not exist: 404 with a valid key, 401 without.
    try {
      await this.call(http, { method: 'GET', path: '/fal-ai/any/requests/00000000-0000-0000-0000-000000000000/status', purpose: 'probe' });
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http' && (err.detail.status === 404 || err.detail.status === 400)) return;
      throw err;
    }
  }
}

export const fal: AdapterDefinition<FalOptions> = {
  type: 'fal',
  description: 'fal queue API: submit, status_url with logs and queue position, response_url, cancel_url; per-endpoint input mapping; Ed25519-signed webhooks',
  options: falOptions,
  baseUrl: () => 'https://queue.fal.run',
  create: (options) => new FalAdapter(options),
};
