import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { VideoRequest } from '../../core/video-request.js';
import { isRecord } from '../parse.js';

/**
 * A ComfyUI channel's workflow: an API-format graph (`{"<node id>": {class_type, inputs}}`, what
 * ComfyUI's "Export (API)" writes) and where the canonical request goes in it. Each slot names a
 * node id and one of its input names; the adapter writes the request's value there in a copy of
 * the graph for every job. A frame slot (a `LoadImage` node) that a request does not use is
 * removed with the links into it, so one workflow serves text- and image-to-video when the node
 * that consumes the image takes it as optional (Wan's `start_image`, `end_image`).
 */
const slot = z
  .object({
    /** Node id in the API-format workflow, e.g. "6". */
    node: z.string().min(1),
    /** Input name of that node, e.g. "text". */
    input: z.string().min(1),
  })
  .strict();

export type Slot = z.infer<typeof slot>;

export const SLOT_NAMES = ['prompt', 'negative_prompt', 'seed', 'width', 'height', 'frames', 'fps', 'first_frame', 'last_frame'] as const;
export type SlotName = (typeof SLOT_NAMES)[number];

export const comfyuiOptions = z
  .object({
    /** Path of the API-format workflow JSON (absolute, or relative to the gateway's working directory). */
    workflow_file: z.string().min(1),
    /** Where the request goes in the workflow. `prompt` is required; the others are optional. */
    inputs: z
      .object({
        prompt: slot,
        negative_prompt: slot.optional(),
        seed: slot.optional(),
        width: slot.optional(),
        height: slot.optional(),
        /** Frame count (`length` of Wan / LTX / Hunyuan latents): seconds × fps, rounded to `frame_step`·n + 1. */
        frames: slot.optional(),
        /** Frame rate of the saved video (CreateVideo `fps`, VHS_VideoCombine `frame_rate`). */
        fps: slot.optional(),
        /** A LoadImage node's `image`: the uploaded first frame. */
        first_frame: slot.optional(),
        last_frame: slot.optional(),
      })
      .strict(),
    /** The node whose output is the video (SaveVideo, SaveWEBM, VHS_VideoCombine…). */
    output_node: z.string().min(1),
    /** Frame rate the model makes (Wan 2.2 5B 24, Wan 2.1 / 14B 16, LTX 24/25, Hunyuan 24). */
    fps: z.number().int().min(1).max(120).default(24),
    /** Frame counts the model takes are `frame_step`·n + 1 (Wan and Hunyuan 4, LTX 8). */
    frame_step: z.number().int().min(1).max(64).default(4),
    /** Most frames the workflow can make on this server's GPU (longer requests are refused). */
    max_frames: z.number().int().min(1).optional(),
    /** Width and height must be multiples of this (Wan 16, LTX 32). */
    size_multiple: z.number().int().min(1).max(256).default(16),
    /** The websocket client id vidgate queues under (default: a random one per gateway process). */
    client_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
    /** Follow jobs on the `/ws` websocket (false: poll `/history` only, e.g. behind a proxy without websockets). */
    websocket: z.boolean().default(true),
    /** Subfolder of ComfyUI's input directory the frames are uploaded to. */
    upload_subfolder: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('vidgate'),
  })
  .strict()
  .superRefine((o, ctx) => {
    const problem = checkWorkflow(o);
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
  });

export type ComfyuiOptions = z.infer<typeof comfyuiOptions>;

export interface ApiNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string };
}

export type ApiWorkflow = Record<string, ApiNode>;

/** Reads and checks an API-format workflow file; throws an Error with a sentence saying what is wrong. */
export function loadWorkflow(file: string): ApiWorkflow {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`the workflow file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new Error('the workflow file is not JSON');
  }
  if (!isRecord(j)) throw new Error('the workflow file is not a JSON object');
  if (Array.isArray(j.nodes) && Array.isArray(j.links)) {
    throw new Error('the workflow file is in the UI format; save it from ComfyUI with "Export (API)"');
  }
  const ids = Object.keys(j);
  if (ids.length === 0) throw new Error('the workflow has no nodes');
  for (const id of ids) {
    const n = j[id];
    if (!isRecord(n) || typeof n.class_type !== 'string' || !isRecord(n.inputs)) {
      throw new Error(`node "${id}" of the workflow has no class_type and inputs (is it in the API format?)`);
    }
  }
  return j as unknown as ApiWorkflow;
}

function checkWorkflow(o: Pick<ComfyuiOptions, 'workflow_file' | 'inputs' | 'output_node'>): { path: string; message: string } | null {
  let wf: ApiWorkflow;
  try {
    wf = loadWorkflow(o.workflow_file);
  } catch (err) {
    return { path: 'workflow_file', message: `${(err as Error).message}.` };
  }
  if (!wf[o.output_node]) return { path: 'output_node', message: `the workflow has no node "${o.output_node}".` };
  for (const name of SLOT_NAMES) {
    const s = o.inputs[name];
    if (s && !wf[s.node]) return { path: `inputs.${name}`, message: `the workflow has no node "${s.node}".` };
  }
  if (!!o.inputs.width !== !!o.inputs.height) return { path: 'inputs', message: 'map width and height together, or neither.' };
  return null;
}

/** A copy of the workflow with the request in it (frame slots get the uploaded file names). */
export function fillWorkflow(
  wf: ApiWorkflow,
  o: ComfyuiOptions,
  req: VideoRequest<unknown>,
  images: { first_frame?: string; last_frame?: string },
): ApiWorkflow {
  const out = structuredClone(wf);
  const set = (s: Slot | undefined, value: unknown) => {
    if (s) out[s.node]!.inputs[s.input] = value;
  };
  set(o.inputs.prompt, req.prompt);
  if (req.negativePrompt !== undefined) set(o.inputs.negative_prompt, req.negativePrompt);
  if (req.seed !== undefined) set(o.inputs.seed, req.seed);
  set(o.inputs.width, req.width);
  set(o.inputs.height, req.height);
  set(o.inputs.frames, frameCount(req.seconds, o));
  set(o.inputs.fps, o.fps);
  for (const role of ['first_frame', 'last_frame'] as const) {
    const s = o.inputs[role];
    if (!s) continue;
    const name = images[role];
    if (name !== undefined) set(s, name);
    else dropNode(out, s.node);
  }
  return out;
}

/** Removes a node and every link into it (an unused optional image input). */
function dropNode(wf: ApiWorkflow, id: string): void {
  delete wf[id];
  for (const n of Object.values(wf)) {
    for (const [k, v] of Object.entries(n.inputs)) {
      if (Array.isArray(v) && v.length === 2 && String(v[0]) === id) delete n.inputs[k];
    }
  }
}

/** seconds × fps rounded to the nearest `frame_step`·n + 1 (at least one step). */
export function frameCount(seconds: number, o: Pick<ComfyuiOptions, 'fps' | 'frame_step'>): number {
  const n = Math.max(1, Math.round((seconds * o.fps - 1) / o.frame_step));
  return n * o.frame_step + 1;
}

type Refusal = { param: string; message: string } | null;

/** What the channel's workflow mapping cannot express for this request. */
export function refuseComfy(req: VideoRequest, o: ComfyuiOptions, model: string): Refusal {
  const no = (param: string, message: string): Refusal => ({ param, message: `${model} ${message}` });
  const m = o.inputs;
  if (req.negativePrompt !== undefined && !m.negative_prompt) return no('negative_prompt', 'takes no negative prompt on this server (its workflow has no place for one).');
  if (req.seed !== undefined) {
    if (!m.seed) return no('seed', 'takes no seed on this server (its workflow has no place for one).');
    if (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > Number.MAX_SAFE_INTEGER) return no('seed', 'takes a seed from 0 to 2^53-1.');
  }
  if (req.firstFrame && !m.first_frame) return no('first_frame', 'takes no first frame on this server (its workflow has no image input).');
  if (req.lastFrame && !m.last_frame) return no('last_frame', 'takes no last frame on this server (its workflow has no last-frame input).');
  for (const f of [req.firstFrame, req.lastFrame]) {
    if (f && f.kind !== 'image') return no(f.role, 'takes frames as images only.');
  }
  if (req.references.length > 0) return no('references', 'takes no reference media on this server.');
  if (req.audio) return no('audio', 'makes no sound on this server.');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  const extra = Object.keys(req.options);
  if (extra.length > 0) return no(extra[0]!, `takes no option "${extra[0]}" on this server.`);
  if (m.width && (req.width % o.size_multiple !== 0 || req.height % o.size_multiple !== 0)) {
    return no('size', `makes widths and heights that are multiples of ${o.size_multiple}, not ${req.width}x${req.height}.`);
  }
  if (m.frames && o.max_frames !== undefined && frameCount(req.seconds, o) > o.max_frames) {
    const most = Math.floor((o.max_frames - 1) / o.frame_step) * o.frame_step + 1;
    return no('seconds', `makes at most ${most} frames at ${o.fps} fps (${(most / o.fps).toFixed(1)} s) on this server, not ${req.seconds} s.`);
  }
  return null;
}
