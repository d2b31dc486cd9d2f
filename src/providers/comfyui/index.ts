import { createHash, randomUUID } from 'node:crypto';
import type { VideoRequest } from '../../core/video-request.js';
import type {
  AdapterDefinition,
  AuthContext,
  ListenContext,
  ResultSources,
  UpstreamAccepted,
  UpstreamAdapter,
  UpstreamHttp,
  UpstreamMedia,
  UpstreamStatus,
  UpstreamSubmit,
} from '../types.js';
import { UpstreamError } from '../types.js';
import { imageWithin } from '../media.js';
import { asRecord, str } from '../parse.js';
import { ComfySession } from './listener.js';
import { parseHistoryEntry, queuePlace, readPromptError } from './status.js';
import type { OutputFile } from './status.js';
import { comfyuiOptions, fillWorkflow, loadWorkflow, refuseComfy } from './workflow.js';
import type { ApiWorkflow, ComfyuiOptions } from './workflow.js';

/**
 * The operator's own ComfyUI servers (upstreams.md §10), one channel per server, each running one
 * API-format workflow (workflow.ts says how the request goes into it).
 *
 * - inputs: frames are uploaded with `POST /upload/image` (multipart `image`, `type=input`, a
 *   `subfolder`, `overwrite`) and their `subfolder/name` written into the LoadImage node;
 * - submit: `POST /prompt {prompt, client_id, prompt_id}` — the prompt id derived from the task's
 *   key; a 400 carries `error` and `node_errors`, read into one reason naming each node (invalid
 *   input). ComfyUI does not deduplicate prompt ids, so a resend could run twice: not idempotent;
 * - progress: the websocket `/ws?clientId=` (listener.ts) pokes the task on its events; a check
 *   while the socket has just reported the prompt running answers from that, any other reads
 *   `GET /history/{id}` and, while that is empty, `GET /queue`; a prompt in neither was lost with
 *   a restart of the server (ComfyUI keeps its queue and history in memory) and fails;
 * - result: the output node's video (`images` + `animated`, `gifs`, `videos`) fetched with
 *   `GET /view?filename=&subfolder=&type=`;
 * - cancel: `POST /queue {delete}` while pending, `POST /interrupt {prompt_id}` while running.
 * Auth: ComfyUI has none; behind a reverse proxy the channel's `api_key` goes as a Bearer token
 * (or any `headers`), on the websocket too.
 */

/** ComfyUI's default upload limit (`--max-upload-size`, 100 MB). */
const UPLOAD_MAX_BYTES = 100 * 1024 * 1024;
/** Checks of a prompt the websocket follows come this far apart (they are only the fallback). */
const FOLLOWED_POLL_MS = 30_000;

/** A UUID (v4 layout) derived from the task's key: the same task gets the same prompt id. */
export function promptIdFor(key: string): string {
  const h = createHash('sha256').update(`vidgate-comfyui:${key}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const EXT: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

class ComfyuiAdapter implements UpstreamAdapter {
  readonly type = 'comfyui';
  readonly idempotentSubmit = false;
  readonly supportsRemix = false;
  private readonly workflow: ApiWorkflow;
  private readonly session: ComfySession;

  /** The websocket (absent when the channel polls only). */
  readonly listen?: (ctx: ListenContext) => Promise<void>;

  constructor(private readonly o: ComfyuiOptions) {
    this.workflow = loadWorkflow(o.workflow_file);
    this.session = new ComfySession(o.client_id ?? `vidgate-${randomUUID()}`);
    if (o.websocket) this.listen = (ctx) => this.session.run(ctx);
  }

  auth({ credentials: c }: AuthContext): Record<string, string> {
    return { ...(c.headers ?? {}), ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) };
  }

  refuse(req: VideoRequest, upstreamModel: string): { param: string; message: string } | null {
    return refuseComfy(req, this.o, upstreamModel);
  }

  private async upload(http: UpstreamHttp, job: UpstreamSubmit, m: UpstreamMedia): Promise<string> {
    const { data, contentType } = await imageWithin(m, UPLOAD_MAX_BYTES);
    const safeTask = job.taskId.replace(/[^A-Za-z0-9_-]/g, '');
    const filename = `${safeTask}-${m.role.replace('_', '-')}.${EXT[contentType] ?? 'png'}`;
    const res = await http.send({
      method: 'POST',
      path: '/upload/image',
      form: [
        { name: 'image', filename, contentType, data },
        { name: 'type', value: 'input' },
        { name: 'subfolder', value: this.o.upload_subfolder },
        { name: 'overwrite', value: 'true' },
      ],
      purpose: 'upload',
    });
    const b = asRecord(res.body);
    const name = str(b?.name);
    if (!name) throw new UpstreamError('malformed', 'the image upload answer carries no file name');
    const sub = str(b?.subfolder);
    return sub ? `${sub}/${name}` : name;
  }

  async submit(job: UpstreamSubmit, http: UpstreamHttp): Promise<UpstreamAccepted> {
    const r = job.request;
    const images: { first_frame?: string; last_frame?: string } = {};
    if (r.firstFrame) images.first_frame = await this.upload(http, job, r.firstFrame);
    if (r.lastFrame) images.last_frame = await this.upload(http, job, r.lastFrame);
    const prompt = fillWorkflow(this.workflow, this.o, r, images);
    const promptId = promptIdFor(job.idempotencyKey);
    this.session.track(promptId, true);
    let res;
    try {
      res = await http.send({
        method: 'POST',
        path: '/prompt',
        json: { prompt, client_id: this.session.clientId, prompt_id: promptId },
        readError: readPromptError,
        purpose: 'submit',
      });
    } catch (err) {
      this.session.forget(promptId);
      throw err;
    }
    const b = asRecord(res.body);
    const id = str(b?.prompt_id);
    if (!id) throw new UpstreamError('malformed', 'the /prompt answer carries no prompt_id');
    if (id !== promptId) {
      // An older ComfyUI that chooses its own ids.
      this.session.forget(promptId);
      this.session.track(id, true);
    }
    // Accepted with errors on some outputs: ours among them means it will never make the video.
    const nodeErrors = asRecord(b?.node_errors) ?? {};
    const broken = Object.entries(nodeErrors).some(([nodeId, v]) => {
      const deps = asRecord(v)?.dependent_outputs;
      return nodeId === this.o.output_node || (Array.isArray(deps) && deps.map(String).includes(this.o.output_node));
    });
    if (broken) {
      await http.send({ method: 'POST', path: '/queue', json: { delete: [id] }, purpose: 'status' }).catch(() => undefined);
      this.session.forget(id);
      const reason = readPromptError({ error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation' }, node_errors: nodeErrors });
      throw new UpstreamError('http', 'the workflow’s video output failed validation', { status: 400, ...reason });
    }
    // Followed on the websocket: its start and end will be pushed, so the first check can wait.
    return { upstreamId: id, status: { state: 'waiting', raw: 'queued', ...(this.session.followed(id) ? { pollAfterMs: FOLLOWED_POLL_MS } : {}) } };
  }

  private view(http: UpstreamHttp, f: OutputFile): string {
    const q = new URLSearchParams({ filename: f.filename, subfolder: f.subfolder, type: f.type });
    return `${http.baseUrl}/view?${q.toString()}`;
  }

  private async history(id: string, http: UpstreamHttp): Promise<UpstreamStatus | undefined> {
    const res = await http.send({ method: 'GET', path: `/history/${encodeURIComponent(id)}`, maxBytes: 16 * 1024 * 1024, purpose: 'status' });
    const entry = asRecord(asRecord(res.body)?.[id]);
    if (!entry) return undefined;
    return parseHistoryEntry(entry, this.o.output_node, (f) => this.view(http, f));
  }

  async status(upstreamId: string, http: UpstreamHttp): Promise<UpstreamStatus> {
    this.session.track(upstreamId, false);
    if (this.session.runningNow(upstreamId)) {
      // The websocket just said so; its end will come the same way.
      const progress = this.session.progress(upstreamId);
      return { state: 'running', raw: 'executing', ...(progress === undefined ? {} : { progress }), pollAfterMs: FOLLOWED_POLL_MS };
    }
    const done = (s: UpstreamStatus) => {
      this.session.forget(upstreamId);
      return s;
    };
    const finished = await this.history(upstreamId, http);
    if (finished) return done(finished);
    const place = queuePlace((await http.send({ method: 'GET', path: '/queue', maxBytes: 16 * 1024 * 1024, purpose: 'status' })).body, upstreamId);
    if (place) {
      const progress = this.session.progress(upstreamId);
      return {
        state: place === 'running' ? 'running' : 'waiting',
        raw: place,
        ...(place === 'running' && progress !== undefined ? { progress } : {}),
        ...(this.session.followed(upstreamId) ? { pollAfterMs: FOLLOWED_POLL_MS } : {}),
      };
    }
    // It may have left the queue between the two reads: the history has it then.
    const after = await this.history(upstreamId, http);
    if (after) return done(after);
    return done({
      state: 'failed',
      raw: 'unknown',
      error: {
        code: 'prompt_unknown',
        message: 'The ComfyUI server no longer knows this job: it is neither queued, running nor in its history (the server was restarted, which loses its queue and history, or its history was cleared).',
        kind: 'internal',
      },
    });
  }

  results(_upstreamId: string, last: UpstreamStatus): ResultSources {
    if (!last.resultUrl) throw new UpstreamError('malformed', 'the finished prompt has no video output');
    return { video: last.resultUrl };
  }

  async cancel(upstreamId: string, http: UpstreamHttp): Promise<void> {
    const place = queuePlace((await http.send({ method: 'GET', path: '/queue', maxBytes: 16 * 1024 * 1024, purpose: 'status' })).body, upstreamId);
    if (place === 'pending') await http.send({ method: 'POST', path: '/queue', json: { delete: [upstreamId] }, purpose: 'status' });
    // Only when it is the one running: an older ComfyUI ignores prompt_id and interrupts whatever runs.
    else if (place === 'running') await http.send({ method: 'POST', path: '/interrupt', json: { prompt_id: upstreamId }, purpose: 'status' });
    this.session.forget(upstreamId);
  }

  async probe(http: UpstreamHttp): Promise<void> {
    await http.send({ method: 'GET', path: '/system_stats', purpose: 'probe' });
  }
}

export const comfyui: AdapterDefinition<ComfyuiOptions> = {
  type: 'comfyui',
  description: 'Your own ComfyUI servers running an API-format video workflow (Wan, LTX-Video, HunyuanVideo): /prompt, /ws, /history, /view',
  options: comfyuiOptions as unknown as AdapterDefinition<ComfyuiOptions>['options'],
  create: (options) => new ComfyuiAdapter(options),
};
