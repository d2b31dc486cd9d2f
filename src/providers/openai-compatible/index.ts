import { z } from 'zod';
import type { VideoRequest } from '../../core/video-request.js';
import type { AdapterDefinition, AuthContext, FormPart, ResultSources, UpstreamAccepted, UpstreamAdapter, UpstreamHttp, UpstreamMedia, UpstreamStatus, UpstreamSubmit } from '../types.js';
import { UpstreamError } from '../types.js';
import { asRecord, str, unixMs } from '../parse.js';
import { parseVideo } from './status.js';

/**
 * The OpenAI `/v1/videos` protocol as spoken by OpenAI-compatible servers: apigo-type gateways,
 * new-api, LiteLLM, another vidgate, and Azure OpenAI's v1 form (`api-key` header, optional
 * `api-version`, base URL `https://<resource>.openai.azure.com/openai/v1`).
 *
 * - base_url is what the openai SDK calls baseURL: it ends in `/v1` (or `/openai/v1`).
 * - submit: `POST /videos`, multipart by default (every server in the list accepts it; apigo
 *   accepts nothing else) or JSON; `seconds` is always a string, `size` is `WxH`, the reference
 *   image is the `input_reference` file part (JSON: `{image_url}` with a data or https URL).
 *   Remix: `POST /videos/{id}/remix {prompt}`.
 * - the request's fields beyond OpenAI's own (`aspect_ratio`, `resolution`, `duration`,
 *   `generate_audio`, `negative_prompt`, `seed`, `mode`, `last_frame`, `reference_images`,
 *   `metadata`) are sent only when the channel lists them in `extra_fields` (its upstream takes
 *   them: another vidgate, new-api, …). A request that needs one the channel does not list (a
 *   negative prompt, seed, mode, last frame, references or options) is refused by the channel
 *   (another channel may serve it; with none, the create is a 400).
 * - status: `GET /videos/{id}`; words normalised by status.ts.
 * - result: `GET /videos/{id}/content` (+ `?variant=thumbnail|spritesheet`), or the flat `url`
 *   older apigo puts on the video object (fetched without credentials when it is on another host).
 * - a submit whose answer was lost (no idempotency): `GET /videos` newest first, for the video
 *   with our prompt, model, size and seconds (or remix source) created around the time we sent
 *   it; see `find`.
 */

/** A lost submit's job was created within this much of the time we sent it (clock skew included). */
const FIND_WINDOW_MS = 5 * 60_000;
/** Pages of `GET /videos?limit=100` read back at most. */
const FIND_PAGES = 10;
export const openaiCompatibleOptions = z
  .object({
    /** `bearer`: Authorization: Bearer KEY (default); `api-key`: the api-key header (Azure). */
    auth: z.enum(['bearer', 'api-key']).default('bearer'),
    /** Sent as ?api-version= on every request (Azure; optional on the v1 API). */
    api_version: z.string().min(1).max(64).optional(),
    /** Submit body: multipart/form-data (default) or JSON. */
    body: z.enum(['multipart', 'json']).default('multipart'),
    /** Fetch the thumbnail and spritesheet variants from the upstream (default true); else they are made locally. */
    variants: z.boolean().default(true),
    /**
     * The upstream honours Idempotency-Key on create (another vidgate does): a submit whose
     * outcome is unknown is then resent with the same key instead of failing the task.
     */
    idempotency: z.boolean().default(false),
    /** Fields beyond OpenAI's own that the upstream takes (vidgate's dialect, new-api's): sent when the request has them. */
    extra_fields: z
      .array(z.enum(['aspect_ratio', 'resolution', 'duration', 'generate_audio', 'negative_prompt', 'seed', 'mode', 'last_frame', 'reference_images', 'metadata']))
      .default([]),
  })
  .strict();

export type ExtraField = OpenAICompatibleOptions['extra_fields'][number];

export type OpenAICompatibleOptions = z.infer<typeof openaiCompatibleOptions>;

class OpenAICompatibleAdapter implements UpstreamAdapter {
  readonly type = 'openai-compatible';
  readonly supportsRemix = true;
  readonly idempotentSubmit: boolean;

  constructor(private readonly o: OpenAICompatibleOptions) {
    this.idempotentSubmit = o.idempotency;
  }

  private takes(field: ExtraField): boolean {
    return this.o.extra_fields.includes(field);
  }

  /** What the request asks for that this upstream cannot be told (the channel does not list the field). */
  refuse(req: VideoRequest): { param: string; message: string } | null {
    // Only what a client asks for explicitly: the size (and so the shape) always goes, and the
    // audio flag and aspect ratio follow the upstream's own default when it cannot be told.
    const needs: [ExtraField, boolean][] = [
      ['negative_prompt', req.negativePrompt !== undefined],
      ['seed', req.seed !== undefined],
      ['mode', req.mode !== undefined],
      ['last_frame', req.lastFrame !== undefined],
      ['reference_images', req.references.length > 0],
      ['metadata', Object.keys(req.options).length > 0],
    ];
    for (const [field, needed] of needs) {
      if (needed && !this.takes(field)) {
        return { param: field, message: `this channel's OpenAI-compatible upstream is not configured to take '${field}' (channel option extra_fields)` };
      }
    }
    return null;
  }

  /** The extra fields this channel sends, as JSON values. */
  private extras(r: VideoRequest<UpstreamMedia>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (this.takes('aspect_ratio')) out.aspect_ratio = r.aspectRatio;
    if (this.takes('resolution')) out.resolution = r.resolution;
    if (this.takes('duration')) out.duration = r.seconds;
    if (this.takes('generate_audio')) out.generate_audio = r.audio;
    if (this.takes('negative_prompt') && r.negativePrompt !== undefined) out.negative_prompt = r.negativePrompt;
    if (this.takes('seed') && r.seed !== undefined) out.seed = r.seed;
    if (this.takes('mode') && r.mode !== undefined) out.mode = r.mode;
    if (this.takes('metadata') && Object.keys(r.options).length) out.metadata = r.options;
    return out;
  }

  auth({ credentials: c }: AuthContext): Record<string, string> {
    const h: Record<string, string> = { ...(c.headers ?? {}) };
    if (c.apiKey) {
      if (this.o.auth === 'api-key') h['api-key'] = c.apiKey;
      else h.authorization = `Bearer ${c.apiKey}`;
    }
    return h;
  }

  private query(extra: Record<string, string> = {}): Record<string, string> {
    return this.o.api_version ? { 'api-version': this.o.api_version, ...extra } : extra;
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const headers = { 'idempotency-key': job.idempotencyKey };
    const r = job.request;
    const frame = r.firstFrame;
    let res;
    if (job.remixOf) {
      res = await http.send({ method: 'POST', path: `/videos/${encodeURIComponent(job.remixOf)}/remix`, query: this.query(), json: { prompt: r.prompt }, headers, purpose: 'submit' });
    } else if (this.o.body === 'json') {
      const body: Record<string, unknown> = { model: job.model, prompt: r.prompt, seconds: String(r.seconds), size: `${r.width}x${r.height}`, ...this.extras(r) };
      if (frame) body.input_reference = { image_url: imageUrl(frame) };
      if (r.lastFrame && this.takes('last_frame')) body.last_frame = { image_url: imageUrl(r.lastFrame) };
      if (r.references.length && this.takes('reference_images')) body.reference_images = r.references.map((m) => ({ image_url: imageUrl(m) }));
      res = await http.send({ method: 'POST', path: '/videos', query: this.query(), json: body, headers, purpose: 'submit' });
    } else {
      const form: FormPart[] = [
        { name: 'model', value: job.model },
        { name: 'prompt', value: r.prompt },
        { name: 'seconds', value: String(r.seconds) },
        { name: 'size', value: `${r.width}x${r.height}` },
      ];
      for (const [name, value] of Object.entries(this.extras(r))) form.push({ name, value: typeof value === 'object' ? JSON.stringify(value) : String(value) });
      if (frame) form.push({ name: 'input_reference', filename: 'reference.png', contentType: frame.contentType, data: frame.data });
      if (r.lastFrame && this.takes('last_frame')) form.push({ name: 'last_frame', filename: 'last_frame.png', contentType: r.lastFrame.contentType, data: r.lastFrame.data });
      if (this.takes('reference_images')) {
        r.references.forEach((m, i) => form.push({ name: 'reference_images[]', filename: `reference-${i + 1}.${m.contentType.split('/')[1] ?? 'png'}`, contentType: m.contentType, data: m.data }));
      }
      res = await http.send({ method: 'POST', path: '/videos', query: this.query(), form, headers, purpose: 'submit' });
    }
    const id = str(asRecord(res.body)?.id);
    if (!id) throw new UpstreamError('malformed', 'the create response carries no video id');
    return { upstreamId: id, status: parseVideo(res.body, res.headers) };
  }

  /**
   * A submit whose answer was lost. OpenAI-style servers take no idempotency key, but list their
   * videos (`GET /videos`, newest first) with the prompt on each: the job is the video with the
   * same prompt, model (or a dated snapshot of it), size and seconds — for a remix, the same
   * source — created within FIND_WINDOW_MS of `sentAtMs`, not followed by another task; the
   * closest in time when several match. A server whose videos do not carry the prompt (apigo)
   * cannot be searched safely: null.
   */
  async find(job: UpstreamSubmit, http: UpstreamHttp, sentAtMs: number, taken?: (upstreamId: string) => Promise<boolean>): Promise<UpstreamAccepted | null> {
    let best: { video: Record<string, unknown>; distance: number } | undefined;
    let after: string | undefined;
    for (let page = 0; page < FIND_PAGES; page++) {
      const res = await http.send({ method: 'GET', path: '/videos', query: this.query({ limit: '100', order: 'desc', ...(after ? { after } : {}) }), purpose: 'status' });
      const body = asRecord(res.body);
      if (!body || !Array.isArray(body.data)) throw new UpstreamError('malformed', 'the video list has no data');
      let older = false;
      for (const item of body.data) {
        const v = asRecord(item);
        const id = str(v?.id);
        const created = unixMs(v?.created_at);
        if (!v || !id || created === undefined) continue;
        if (created < sentAtMs - FIND_WINDOW_MS) older = true;
        if (Math.abs(created - sentAtMs) > FIND_WINDOW_MS || !sameJob(v, job) || (await taken?.(id))) continue;
        const distance = Math.abs(created - sentAtMs);
        if (!best || distance < best.distance) best = { video: v, distance };
      }
      const last = str(body.last_id) ?? str(asRecord(body.data[body.data.length - 1])?.id);
      if (older || body.has_more !== true || !last || body.data.length === 0) break;
      after = last;
    }
    return best ? { upstreamId: str(best.video.id)!, status: parseVideo(best.video) } : null;
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await http.send({ method: 'GET', path: `/videos/${encodeURIComponent(upstreamId)}`, query: this.query(), purpose: 'status' });
    const body = asRecord(res.body);
    if (!body || typeof body.status !== 'string') throw new UpstreamError('malformed', 'the video object has no status');
    return parseVideo(body, res.headers);
  }

  results(upstreamId: string, last: UpstreamStatus, http: UpstreamHttp): ResultSources {
    const expires = last.resultExpiresAtMs === undefined ? {} : { expiresAtMs: last.resultExpiresAtMs };
    if (last.resultUrl) return { video: last.resultUrl, ...expires };
    const content = (variant?: string): string => {
      const url = new URL(`${http.baseUrl}/videos/${encodeURIComponent(upstreamId)}/content`);
      for (const [k, v] of Object.entries(this.query(variant ? { variant } : {}))) url.searchParams.set(k, v);
      return url.href;
    };
    return this.o.variants
      ? { video: content(), thumbnail: content('thumbnail'), spritesheet: content('spritesheet'), ...expires }
      : { video: content(), ...expires };
  }

  async probe(http: UpstreamHttp): Promise<void> {
    try {
      await http.send({ method: 'GET', path: '/videos', query: this.query({ limit: '1' }), purpose: 'probe' });
    } catch (err) {
      // Reachable and authenticated, but the server does not list videos (LiteLLM, some gateways).
      if (err instanceof UpstreamError && err.kind === 'http' && [400, 405, 422].includes(err.detail.status ?? 0)) return;
      if (err instanceof UpstreamError && err.kind === 'http' && err.detail.status === 404) {
        throw new UpstreamError('http', 'no /videos API at this base URL (it should end in /v1, or /openai/v1 on Azure)', err.detail);
      }
      throw err;
    }
  }
}

/** An image for a JSON body: our signed link when there is one, else the bytes as a data: URL. */
const imageUrl = (m: UpstreamMedia): string => m.publicUrl ?? `data:${m.contentType};base64,${m.data.toString('base64')}`;

/** Whether a listed video is the one this submit made (see OpenAICompatibleAdapter.find). */
function sameJob(v: Record<string, unknown>, job: UpstreamSubmit): boolean {
  const r = job.request;
  if (typeof v.prompt !== 'string' || v.prompt !== r.prompt) return false;
  if (job.remixOf) return str(v.remixed_from_video_id) === job.remixOf;
  const model = str(v.model);
  if (model !== undefined && model !== job.model && !model.startsWith(`${job.model}-`)) return false;
  if (v.seconds !== undefined && v.seconds !== null && String(v.seconds) !== String(r.seconds)) return false;
  if (typeof v.size === 'string' && v.size !== `${r.width}x${r.height}`) return false;
  return true;
}

export const openaiCompatible: AdapterDefinition<OpenAICompatibleOptions> = {
  type: 'openai-compatible',
  description: 'OpenAI-style /v1/videos: apigo, new-api, LiteLLM, another vidgate, Azure OpenAI v1',
  options: openaiCompatibleOptions,
  create: (options) => new OpenAICompatibleAdapter(options),
};
