import { z } from 'zod';
import type { AdapterDefinition, AuthContext, ResultSources, UpstreamAccepted, UpstreamAdapter, UpstreamHttp, UpstreamMedia, UpstreamStatus, UpstreamSubmit } from '../types.js';
import { UpstreamError } from '../types.js';
import { asRecord, isRecord, num, str } from '../parse.js';
import type { Json } from '../parse.js';
import { parseTask } from './status.js';

/**
 * apimart's task API (apimart-apigo.md): `POST /v1/videos/generations` (JSON, `Idempotency-Key`)
 * and `GET /v1/tasks/{id}`.
 *
 * - base_url is the origin (`https://api.apimart.ai`); a trailing `/v1` is accepted and dropped.
 * - submit maps our request onto apimart's fields: `duration` (integer seconds), `aspect_ratio`
 *   from the orientation (or the apimart client's own value), `resolution` (`high` for the
 *   1024p sizes of the Sora pro models, `1080p` for 1080p, else the model default; or the
 *   client's own value), `image_urls` with the fitted reference (a URL served by the gateway when
 *   VIDGATE_PUBLIC_URL is set, else a data: URL) and the last frame as its second entry (apimart's
 *   first + last frame), reference images as `image_urls` when there are no frames; with
 *   `frame_fields` the frames go as `first_frame_image` / `last_frame_image` instead (the Veo
 *   "official" models); `negative_prompt`, `seed`, `generate_audio`, `mode` and the model's own
 *   options (flat, as apimart takes them). Every submit carries an Idempotency-Key that is
 *   stable for the task on this channel, so a submit whose outcome is unknown is simply resent.
 * - both submit shapes are read: `data:[{task_id}]` (legacy) and `data:{id}` (object/versioned);
 *   an HTTP 200 with `code` ≠ 200 in the envelope is an error.
 * - results: `result.videos[].url` (array or string) and the fallbacks of §3.5, fetched from the
 *   CDN without credentials.
 */
export const apimartOptions = z
  .object({
    /** Ask for the 2026-07-27 object responses (X-APIMart-Response-Version). Both are read either way. */
    response_version: z.boolean().default(false),
    /** `language` query parameter of the status call (error messages come in this language). */
    language: z.enum(['en', 'zh', 'ko', 'ja']).default('en'),
    /** Model-specific fields added to every submit (e.g. `{"mode":"pro"}` for Kling). */
    extra_body: z.record(z.string(), z.unknown()).optional(),
    /** Send the frames as first_frame_image / last_frame_image (Veo "official" models) rather than in image_urls. */
    frame_fields: z.boolean().default(false),
  })
  .strict();

export type ApimartOptions = z.infer<typeof apimartOptions>;

export const APIMART_RESPONSE_VERSION = '2026-07-27';

function aspectOf(width: number, height: number): string {
  if (width === height) return '1:1';
  return width > height ? '16:9' : '9:16';
}

/** The envelope's `code` when it signals an error inside an HTTP 200. */
function envelopeError(body: Json): UpstreamError | undefined {
  const code = num(body.code);
  if (code === undefined || code === 200 || code === 0) return undefined;
  const error = asRecord(body.error);
  const message = str(error?.message) ?? str(body.msg) ?? str(body.message) ?? `apimart answered code ${code}`;
  return new UpstreamError('http', message, {
    status: code >= 400 && code < 600 ? code : 400,
    code: str(error?.code) ?? String(code),
    type: str(error?.type),
    upstreamMessage: message,
  });
}

class ApimartAdapter implements UpstreamAdapter {
  readonly type = 'apimart';
  readonly idempotentSubmit = true;
  readonly supportsRemix = false;

  constructor(private readonly o: ApimartOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  private path(http: UpstreamHttp, p: string): string {
    // The base may be given with /v1; our paths carry it.
    return /\/v1$/.test(http.baseUrl) ? p.replace(/^\/v1/, '') : p;
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const body: Record<string, unknown> = {
      ...(this.o.extra_body ?? {}),
      model: job.model,
      prompt: r.prompt,
      duration: r.seconds,
      aspect_ratio: r.aspectRatio === 'adaptive' ? aspectOf(r.width, r.height) : r.aspectRatio,
    };
    // 720p is every model's default: left out, so models that only know standard/high accept it.
    if (r.resolution !== '720p' && r.resolution !== 'standard') body.resolution = r.resolution === '4k' ? '4K' : r.resolution;
    const link = (m: UpstreamMedia) => m.publicUrl ?? `data:${m.contentType};base64,${m.data.toString('base64')}`;
    if (this.o.frame_fields) {
      if (r.firstFrame) body.first_frame_image = link(r.firstFrame);
      if (r.lastFrame) body.last_frame_image = link(r.lastFrame);
    } else if (r.firstFrame || r.lastFrame) {
      body.image_urls = [r.firstFrame, r.lastFrame].filter((m): m is UpstreamMedia => m !== undefined).map(link);
    }
    if (r.references.length) {
      if (r.firstFrame || r.lastFrame) body.reference_images = r.references.map(link);
      else body.image_urls = r.references.map(link);
    }
    if (r.negativePrompt !== undefined) body.negative_prompt = r.negativePrompt;
    if (r.seed !== undefined) body.seed = r.seed;
    if (r.audio) body.generate_audio = true;
    if (r.mode !== undefined) body.mode = r.mode;
    Object.assign(body, r.options);
    const headers: Record<string, string> = { 'idempotency-key': job.idempotencyKey };
    if (this.o.response_version) headers['x-apimart-response-version'] = APIMART_RESPONSE_VERSION;
    const res = await http.send({ method: 'POST', path: this.path(http, '/v1/videos/generations'), json: body, headers, purpose: 'submit' });
    const envelope = asRecord(res.body);
    if (!envelope) throw new UpstreamError('malformed', 'the submit answer is not a JSON object');
    const err = envelopeError(envelope);
    if (err) throw err;
    const data = envelope.data;
    const first = Array.isArray(data) ? asRecord(data[0]) : asRecord(data);
    const id = str(first?.task_id) ?? str(first?.id);
    if (!first || !id) throw new UpstreamError('malformed', 'the submit answer carries no task id');
    // The older object form is a full task (pending, estimated_time); the others only say "submitted".
    return { upstreamId: id, status: parseTask(first) };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await http.send({
      method: 'GET',
      path: this.path(http, `/v1/tasks/${encodeURIComponent(upstreamId)}`),
      query: { language: this.o.language },
      purpose: 'status',
    });
    const envelope = asRecord(res.body);
    if (!envelope) throw new UpstreamError('malformed', 'the task answer is not a JSON object');
    const err = envelopeError(envelope);
    if (err) throw err;
    // `{code, data:{…}}`, or the task object itself (older documentation samples).
    const data = isRecord(envelope.data) ? envelope.data : envelope;
    if (typeof data.status !== 'string') throw new UpstreamError('malformed', 'the task answer has no status');
    return parseTask(data);
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the completed task carries no result URL');
    return { video: last.resultUrl, ...(last.resultExpiresAtMs === undefined ? {} : { expiresAtMs: last.resultExpiresAtMs }) };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    try {
      await http.send({ method: 'GET', path: this.path(http, '/v1/tasks/vidgate-probe'), query: { language: this.o.language }, purpose: 'probe' });
    } catch (err) {
      // "No such task" proves the API is there and the key was accepted.
      if (err instanceof UpstreamError && err.kind === 'http' && (err.detail.status === 404 || err.detail.status === 400)) return;
      throw err;
    }
  }
}

export const apimart: AdapterDefinition<ApimartOptions> = {
  type: 'apimart',
  description: 'apimart task API: POST /v1/videos/generations, GET /v1/tasks/{id}',
  options: apimartOptions,
  create: (options) => new ApimartAdapter(options),
};
