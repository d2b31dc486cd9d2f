import { z } from 'zod';
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
import type { VideoRequest } from '../../core/video-request.js';
import { UpstreamError } from '../types.js';
import { mediaRef } from '../media.js';
import { asRecord, str } from '../parse.js';
import { RUNWAY_IMAGE_MAX_BYTES, RUNWAY_MODELS, publicFigureThreshold, refuseRunway, runwayRatio } from './models.js';
import { isRunwayTask, parseRunwayTask, runwayFailureKind } from './status.js';

/**
 * Runway's developer API (`https://api.dev.runwayml.com`, upstreams.md §6).
 *
 * - every request carries `Authorization: Bearer <secret>` and `X-Runway-Version` (Runway refuses
 *   requests without it);
 * - submit: `POST /v1/text_to_video` or, with a frame, `POST /v1/image_to_video`, camelCase
 *   `{model, promptText, promptImage, ratio ("1280:720"), duration (integer), seed, audio,
 *   contentModeration}` → `{id}`; `promptImage` is a data URI or a link to our copy, or
 *   `[{uri, position: "first" | "last"}]` with a last frame;
 * - status: `GET /v1/tasks/{id}`: `PENDING` / `THROTTLED` → `RUNNING` (`progress` 0..1) →
 *   `SUCCEEDED` (`output: [url]`, expiring in 24–48 h) | `FAILED` (`failure`, `failureCode`) |
 *   `CANCELLED`;
 * - cancel: `DELETE /v1/tasks/{id}` → 204;
 * - errors `{"error": "…", "issues"?}`; 429 is the daily cap.
 * Runway takes no callback and no idempotency key.
 */
export const runwayOptions = z
  .object({
    /** The `X-Runway-Version` sent (default 2024-11-06). */
    api_version: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date like 2024-11-06').optional(),
    /** Default `contentModeration.publicFigureThreshold`; a request's `content_moderation` option wins. */
    public_figure_threshold: z.enum(['auto', 'low']).optional(),
  })
  .strict();

export type RunwayOptions = z.infer<typeof runwayOptions>;

export const RUNWAY_API_VERSION = '2024-11-06';

class RunwayAdapter implements UpstreamAdapter {
  readonly type = 'runway';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;

  constructor(private readonly o: RunwayOptions) {}

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return {
      ...(c.headers ?? {}),
      'x-runway-version': this.o.api_version ?? RUNWAY_API_VERSION,
      ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}),
    };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseRunway(req, upstreamModel);
  }

  /** The base may be given with or without `/v1`. */
  private async call(http: UpstreamHttp, req: UpstreamRequest): Promise<UpstreamResponse> {
    const path = /\/v1$/.test(http.baseUrl) ? req.path! : `/v1${req.path!}`;
    try {
      return await http.send({ ...req, path });
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'http') {
        const kind = runwayFailureKind(err.detail.code, err.detail.upstreamMessage, err.detail.status);
        throw new UpstreamError('http', err.message, { ...err.detail, kind });
      }
      throw err;
    }
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const m = RUNWAY_MODELS[job.model];
    const ratio = m ? runwayRatio(m, r) : undefined;
    if (!m || !ratio) {
      const refusal = refuseRunway(r, job.model) ?? { param: 'aspect_ratio', message: `${job.model} makes no such shape.` };
      throw new UpstreamError('http', refusal.message, { status: 400, kind: 'invalid', param: refusal.param, upstreamMessage: refusal.message });
    }
    const ref = (x: UpstreamMedia) => mediaRef(x, { maxBytes: RUNWAY_IMAGE_MAX_BYTES, inline: 'data-url' });
    const body: Record<string, unknown> = { model: job.model, promptText: r.prompt, ratio, duration: r.seconds };
    if (r.firstFrame && r.lastFrame) {
      body.promptImage = [
        { uri: await ref(r.firstFrame), position: 'first' },
        { uri: await ref(r.lastFrame), position: 'last' },
      ];
    } else if (r.firstFrame) {
      body.promptImage = await ref(r.firstFrame);
    }
    if (r.seed !== undefined) body.seed = r.seed;
    if (m.audio) body.audio = r.audio;
    const threshold = publicFigureThreshold(r.options.content_moderation) ?? this.o.public_figure_threshold;
    if (threshold) body.contentModeration = { publicFigureThreshold: threshold };
    const path = r.firstFrame ? '/image_to_video' : '/text_to_video';
    const res = await this.call(http, { method: 'POST', path, json: body, purpose: 'submit' });
    const id = str(asRecord(res.body)?.id);
    if (!id) throw new UpstreamError('malformed', 'the create answer carries no id');
    return { upstreamId: id, status: { state: 'waiting', raw: 'PENDING' } };
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    const res = await this.call(http, { method: 'GET', path: `/tasks/${encodeURIComponent(upstreamId)}`, purpose: 'status' });
    if (!isRunwayTask(res.body)) throw new UpstreamError('malformed', 'the task has no status');
    return parseRunwayTask(res.body);
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the succeeded task carries no output URL');
    return { video: last.resultUrl };
  }

  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'DELETE', path: `/tasks/${encodeURIComponent(upstreamId)}`, purpose: 'status' });
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await this.call(http, { method: 'GET', path: '/organization', purpose: 'probe' });
  }
}

export const runway: AdapterDefinition<RunwayOptions> = {
  type: 'runway',
  description: 'Runway: /v1/text_to_video and /v1/image_to_video, /v1/tasks/{id}, Bearer key and X-Runway-Version',
  options: runwayOptions,
  baseUrl: () => 'https://api.dev.runwayml.com',
  create: (options) => new RunwayAdapter(options),
};
