import type { FailureKind, UpstreamErrorDetail, UpstreamStatus } from '../types.js';
import { asRecord, isRecord, str } from '../parse.js';
import type { Json } from '../parse.js';

/**
 * Reading ComfyUI's answers (upstreams.md §10, §14): the history entry of a prompt, the queue,
 * and the 400 of a prompt that failed validation.
 *
 * States: a prompt in `queue_pending` is waiting, in `queue_running` running; its history entry
 * says `status.status_str` `success` or `error` (`execution_error` / `execution_interrupted` in
 * `status.messages`). A prompt that is in neither the queue nor the history is unknown to the
 * server: ComfyUI keeps both in memory only, so it was restarted (or its history cleared).
 */

/** Where the video file is in an output node's `ui` output. */
export interface OutputFile {
  filename: string;
  subfolder: string;
  type: string;
}

/**
 * The video of an output node: core SaveVideo / SaveWEBM put it in `images` with `animated`,
 * VideoHelperSuite's VHS_VideoCombine in `gifs`, some custom nodes in `videos`.
 */
export function videoOf(output: unknown): OutputFile | undefined {
  const o = asRecord(output);
  if (!o) return undefined;
  const animated = Array.isArray(o.animated) && o.animated.some((a) => a === true);
  const lists: unknown[] = [o.videos, o.gifs, animated ? o.images : undefined];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      const f = asRecord(item);
      const filename = str(f?.filename);
      if (!f || !filename) continue;
      const format = str(f.format);
      // VHS also lists a PNG of the first frame when asked to save metadata.
      if (format && !/^video\//.test(format) && !/\.(mp4|webm|mov|mkv)$/i.test(filename)) continue;
      return { filename, subfolder: str(f.subfolder) ?? '', type: str(f.type) ?? 'output' };
    }
  }
  return undefined;
}

function messages(entry: Json): Array<[string, Json]> {
  const st = asRecord(entry.status);
  const list = Array.isArray(st?.messages) ? st.messages : [];
  const out: Array<[string, Json]> = [];
  for (const m of list) {
    if (Array.isArray(m) && typeof m[0] === 'string' && isRecord(m[1])) out.push([m[0], m[1]]);
  }
  return out;
}

/** A failure of execution read into a kind: ComfyUI raises Python exceptions. */
export function executionFailureKind(exceptionType: string | undefined, message: string | undefined): FailureKind {
  const t = `${exceptionType ?? ''} ${message ?? ''}`;
  if (/OutOfMemory|out of memory|Allocation on device/i.test(t)) return 'internal';
  if (/not in list|Invalid image file|FileNotFoundError|No such file|ValueError|size mismatch|must be/i.test(t)) return 'invalid';
  return 'internal';
}

/**
 * The history entry of a prompt (`GET /history/{id}` → `{<id>: entry}`) as a status, or
 * undefined when the entry is not complete yet. `view` turns an output file into its URL.
 */
export function parseHistoryEntry(entry: Json, outputNode: string, view: (f: OutputFile) => string): UpstreamStatus | undefined {
  const st = asRecord(entry.status);
  const word = str(st?.status_str);
  const msgs = messages(entry);
  const at = (type: string) => {
    const ts = msgs.find(([t]) => t === type)?.[1].timestamp;
    return typeof ts === 'number' && ts > 0 ? ts : undefined;
  };
  const times: Partial<UpstreamStatus> = {};
  const started = at('execution_start');
  const ended = at('execution_success') ?? at('execution_error') ?? at('execution_interrupted');
  if (started !== undefined) times.createdAtMs = started;
  if (ended !== undefined) times.completedAtMs = ended;

  const interrupted = msgs.find(([t]) => t === 'execution_interrupted');
  if (interrupted) {
    return { state: 'cancelled', raw: 'interrupted', ...times, error: { code: 'execution_interrupted', message: 'The run was interrupted on the ComfyUI server.' } };
  }
  const failed = msgs.find(([t]) => t === 'execution_error');
  if (word === 'error' || failed) {
    const d = failed?.[1] ?? {};
    const type = str(d.exception_type);
    const message = str(d.exception_message)?.trim();
    const where = str(d.node_type) ? `${str(d.node_type)} (node ${str(d.node_id) ?? '?'})` : undefined;
    const text = [where, [type?.replace(/^.*\./, ''), message].filter(Boolean).join(': ')].filter(Boolean).join(': ');
    return {
      state: 'failed',
      raw: 'error',
      ...times,
      error: { code: 'execution_error', message: text || 'The workflow failed on the ComfyUI server.', kind: executionFailureKind(type, message) },
    };
  }
  if (word !== 'success' && st?.completed !== true) return undefined;
  const file = videoOf(asRecord(entry.outputs)?.[outputNode]);
  if (!file) {
    return {
      state: 'failed',
      raw: 'success',
      ...times,
      error: { code: 'no_video_output', message: `The workflow finished but its output node ${outputNode} saved no video.`, kind: 'internal' },
    };
  }
  return { state: 'succeeded', raw: 'success', progress: 100, ...times, resultUrl: view(file) };
}

/** Where a prompt is in `GET /queue` (items are `[number, prompt_id, prompt, extra_data, outputs, …]`). */
export function queuePlace(body: unknown, promptId: string): 'running' | 'pending' | undefined {
  const q = asRecord(body);
  const has = (list: unknown) => Array.isArray(list) && list.some((item) => Array.isArray(item) && item[1] === promptId);
  if (has(q?.queue_running)) return 'running';
  if (has(q?.queue_pending)) return 'pending';
  return undefined;
}

/**
 * A refused `POST /prompt` (HTTP 400): `{error: {type, message, details, extra_info}, node_errors:
 * {<id>: {class_type, errors: [{type, message, details}], dependent_outputs}}}`. A node type the
 * server does not have comes as `missing_node_type` with `node_errors` empty; a model file it does
 * not have as `value_not_in_list` on the loader node. The reason names each node and what is wrong.
 */
export function readPromptError(body: unknown): Partial<UpstreamErrorDetail> | undefined {
  const b = asRecord(body);
  const e = asRecord(b?.error);
  if (!b || !e) return undefined;
  const type = str(e.type);
  const parts: string[] = [];
  const head = [str(e.message), str(e.details)].filter(Boolean).join(' ');
  if (head) parts.push(head);
  const nodeErrors = asRecord(b.node_errors) ?? {};
  for (const [id, v] of Object.entries(nodeErrors)) {
    const n = asRecord(v);
    const errs = Array.isArray(n?.errors) ? n.errors : [];
    const what = errs
      .map((x) => asRecord(x))
      .filter((x): x is Json => !!x)
      .map((x) => [str(x.message), str(x.details)].filter(Boolean).join(': '))
      .filter(Boolean)
      .join('; ');
    parts.push(`node ${id} (${str(n?.class_type) ?? '?'}): ${what || 'invalid'}`);
  }
  return {
    ...(type ? { code: type } : {}),
    kind: 'invalid',
    upstreamMessage: parts.join('; ') || 'The ComfyUI server refused the workflow.',
  };
}
