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
import type { InputMap } from '../input-map.js';
import { asRecord, isRecord, str } from '../parse.js';
import { verifyStandardWebhook } from '../standard-webhooks.js';
import { parseReplicatePrediction, replicateFailureKind } from './status.js';

/**
 * Replicate's predictions API (`https://api.replicate.com`, with or without `/v1`; upstreams.md §4).
 *
 * - the upstream model names where the prediction runs: `owner/name` → `POST
 *   /v1/models/{owner}/{name}/predictions` (an official model), `deployments/owner/name` → `POST
 *   /v1/deployments/{owner}/{name}/predictions` (a private deployment), `owner/name:<version>` →
 *   `POST /v1/predictions {version}`; the body is `{input, webhook?, webhook_events_filter}`
 *   and the input object is built by the channel's per-model mapping (input-map.ts), since
 *   every model has its own fields (unknown ones are a 422);
 * - status: `GET /v1/predictions/{id}`: `starting` → `processing` (tqdm progress in `logs`) →
 *   `succeeded` (`output`: a URL, or an array) | `failed` (`error`) | `canceled` | `aborted`;
 *   outputs are deleted after an hour (`data_removed`);
 * - cancel: `POST /v1/predictions/{id}/cancel`;
 * - webhooks: the full prediction POSTed to `webhook` on `start` and `completed`, signed the
 *   Standard Webhooks way with the account's `whsec_…` secret (the channel's `webhook_secret`,
 *   or `GET /v1/webhooks/default/secret`, cached a day);
 * - errors: problem details `{title, detail, status, invalid_fields?}`; 429 with Retry-After.
 */
export const replicateOptions = z
  .object({
    /** Input mapping by upstream model (`owner/name`, `deployments/owner/name` or `owner/name:<version>`). */
    models: z.record(z.string(), inputMapSchema).default({}),
  })
  .strict();

export type ReplicateOptions = z.infer<typeof replicateOptions>;

/** Where a prediction of this upstream model is created. */
export function replicateTarget(model: string): { path: string; version?: string } | null {
  const dep = /^deployments\/([\w.-]+)\/([\w.-]+)$/.exec(model);
  if (dep) return { path: `/deployments/${dep[1]}/${dep[2]}/predictions` };
  const ver = /^([\w.-]+)\/([\w.-]+):([0-9a-f]{64})$/.exec(model);
  if (ver) return { path: '/predictions', version: ver[3]! };
  const m = /^([\w.-]+)\/([\w.-]+)$/.exec(model);
  if (m) return { path: `/models/${m[1]}/${m[2]}/predictions` };
  return null;
}

const SECRET_TTL_MS = 24 * 3_600_000;

class ReplicateAdapter implements UpstreamAdapter {
  readonly type = 'replicate';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: ReplicateOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  private map(model: string): InputMap | undefined {
    return this.o.models[model];
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    if (!replicateTarget(upstreamModel)) return { param: 'model', message: `${upstreamModel} is not a Replicate model (owner/name), deployment (deployments/owner/name) or version (owner/name:<64 hex>).` };
    return refuseByMap(req, upstreamModel, this.map(upstreamModel));
  }

  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    const path = /\/v1$/.test(http.baseUrl) ? req.path! : `/v1${req.path!}`;
    try {
      return await http.send({ ...req, path });
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        const kind = replicateFailureKind(err.detail.upstreamMessage, err.detail.status);
        throw new UpstreamError('http', err.message, { ...err.detail, kind });
      }
      throw err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const target = replicateTarget(job.model);
    const map = this.map(job.model);
    const refusal = this.refuse(job.request, job.model);
    if (!target || !map || refusal) {
      const message = refusal?.message ?? `${job.model} cannot be served.`;
      throw new UpstreamError('http', message, { status: 400, kind: 'invalid', param: refusal?.param ?? 'model', upstreamMessage: message });
    }
    const body: Record<string, unknown> = { input: await inputsByMap(job.request, map) };
    if (target.version) body.version = target.version;
    if (job.callbackUrl) {
      body.webhook = job.callbackUrl;
      body.webhook_events_filter = ['start', 'completed'];
    }
    const res = await this.call(http, { method: 'POST', path: target.path, json: body, purpose: 'submit' });
    const p = asRecord(res.body);
    const id = str(p?.id);
    if (!p || !id) throw new UpstreamError('malformed', 'the create answer carries no prediction id');
    return { upstreamId: id, ...(typeof p.status === 'string' ? { status: parseReplicatePrediction(p) } : {}) };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await this.call(http, { method: 'GET', path: `/predictions/${encodeURIComponent(upstreamId)}`, purpose: 'status' });
    const p = asRecord(res.body);
    if (!p || typeof p.status !== 'string') throw new UpstreamError('malformed', 'the prediction has no status');
    return parseReplicatePrediction(p);
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the succeeded prediction carries no output URL');
    return { video: last.resultUrl };
  }

  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'POST', path: `/predictions/${encodeURIComponent(upstreamId)}/cancel`, purpose: 'status' });
  }

  /** The signing secret: the channel's own, or the account's (asked once a day). */
  private async secret(ctx: CallbackContext): Promise<string> {
    const own = ctx.credentials.fields?.webhook_secret;
    if (own) return own;
    return ctx.tokens.get('replicate-webhook-secret', async () => {
      const res = await this.call(ctx.http, { method: 'GET', path: '/webhooks/default/secret', purpose: 'status' });
      const key = str(asRecord(res.body)?.key);
      if (!key) throw new UpstreamError('malformed', 'the webhook secret answer carries no key');
      return { token: key, expiresAtMs: Date.now() + SECRET_TTL_MS };
    });
  }

  async callback(req: UpstreamCallback, ctx: CallbackContext): Promise<CallbackVerdict> {
    let secret: string;
    try {
      secret = await this.secret(ctx);
    } catch {
      throw new CallbackRejected('the webhook signing secret could not be obtained');
    }
    verifyStandardWebhook(secret, req.headers, req.body, ctx.nowMs);
    let p: unknown;
    try {
      p = JSON.parse(req.body.toString('utf8'));
    } catch {
      throw new CallbackRejected('the body is not JSON');
    }
    if (!isRecord(p) || typeof p.id !== 'string') throw new CallbackRejected('the body is not a prediction');
    const job = !ctx.upstreamId ? 'unknown' : p.id === ctx.upstreamId ? 'this' : 'other';
    return { job, ...(typeof p.status === 'string' ? { state: parseReplicatePrediction(p).state } : {}) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/account', purpose: 'probe' });
  }
}

export const replicate: AdapterDefinition<ReplicateOptions> = {
  type: 'replicate',
  description: 'Replicate predictions on models, deployments and versions; per-model input mapping; signed webhooks; cancel',
  options: replicateOptions,
  baseUrl: () => 'https://api.replicate.com',
  credentials: [{ name: 'webhook_secret', description: 'the whsec_… webhook signing secret (optional; else asked of GET /v1/webhooks/default/secret)' }],
  create: (options) => new ReplicateAdapter(options),
};
