import type { Task } from './task.js';

/**
 * The canonical video request: what a client asked for, normalised by its dialect and checked
 * against the model's capabilities. Dialects produce it, the task keeps it, providers consume it
 * (adapters map it onto their protocol; the sandbox renders it). No dialect knows a provider and
 * no provider knows a dialect: this type is the only thing between them.
 */

export const ASPECT_RATIOS = ['16:9', '9:16', '1:1', '4:3', '3:4', '21:9', '9:21', 'adaptive'] as const;
/** `adaptive`: follow the first frame's shape. */
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

/** Resolution tiers; `standard` / `high` are Sora's (720p / 1024p class). */
export const RESOLUTIONS = ['480p', '720p', '1080p', '4k', 'standard', 'high'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export type MediaKind = 'image' | 'video' | 'audio';
export type MediaRole = 'first_frame' | 'last_frame' | 'reference';

/** A media input kept in blob storage with the task. */
export interface MediaInput {
  role: MediaRole;
  kind: MediaKind;
  /** Blob key, relative to the blob root (e.g. `<task>/reference.png`). */
  blob: string;
  contentType: string;
  bytes?: number;
  width?: number;
  height?: number;
  durationSeconds?: number;
}

/**
 * The normalised request. Frames are already fitted to `width` x `height` (the one documented
 * adjustment); references are kept as given. `M` is how media is carried: a stored blob
 * (`MediaInput`), or loaded bytes on the way to an upstream (`UpstreamMedia`).
 */
export interface VideoRequest<M = MediaInput> {
  /** Public model id (aliases resolved). */
  model: string;
  prompt: string;
  /** Length in seconds. */
  seconds: number;
  /** As asked (or the model's default); `adaptive` when the first frame decides. */
  aspectRatio: AspectRatio;
  resolution: Resolution;
  /** The exact frame size that will be made. */
  width: number;
  height: number;
  /** An audio track is generated. */
  audio: boolean;
  /** Model mode where the model has modes (Kling `std` / `pro`). */
  mode?: string;
  negativePrompt?: string;
  seed?: number;
  firstFrame?: M;
  lastFrame?: M;
  /** Reference images (and videos / audio where the model takes them), in the order given. */
  references: M[];
  /** Model-specific options (the dialects' `metadata`), only keys the model allows. */
  options: Record<string, unknown>;
}

/** What a task makes, as status reads show it. */
export interface RequestShape {
  aspectRatio: AspectRatio;
  resolution: Resolution;
  audio: boolean;
}

const isRatio = (v: unknown): v is AspectRatio => (ASPECT_RATIOS as readonly unknown[]).includes(v);
const isResolution = (v: unknown): v is Resolution => (RESOLUTIONS as readonly unknown[]).includes(v);

/** The shape of a frame size alone (tasks from before the request was stored). */
function shapeOfSize(width: number, height: number): Omit<RequestShape, 'audio'> {
  const short = Math.min(width, height);
  return {
    aspectRatio: width === height ? '1:1' : width > height ? '16:9' : '9:16',
    resolution: short >= 1080 ? '1080p' : short >= 1024 ? 'high' : '720p',
  };
}

/** The task columns a stored request is completed from. */
export interface RequestColumns {
  id: string;
  model: string;
  prompt: string;
  seconds: number;
  width: number;
  height: number;
  hasReference: boolean;
}

const firstFrameOf = (t: Pick<RequestColumns, 'id' | 'width' | 'height'>): MediaInput => ({
  role: 'first_frame', kind: 'image', blob: `${t.id}/reference.png`, contentType: 'image/png', width: t.width, height: t.height,
});

/**
 * The request column's JSON: only what the task's own columns do not say (prompt, model, length
 * and size have columns; empty lists and the usual first frame are left out). Kept small: it is
 * written on every create.
 */
export function storedRequest(req: VideoRequest, task: Pick<RequestColumns, 'id' | 'width' | 'height'>): string {
  const { prompt: _p, model: _m, seconds: _s, width: _w, height: _h, references, options, firstFrame, ...rest } = req;
  const out: Record<string, unknown> = rest;
  if (references.length) out.references = references;
  if (Object.keys(options).length) out.options = options;
  if (firstFrame) {
    const usual = firstFrameOf(task);
    if (firstFrame.blob !== usual.blob || firstFrame.width !== usual.width || firstFrame.height !== usual.height || firstFrame.contentType !== usual.contentType) out.firstFrame = firstFrame;
    else out.firstFrame = 1;
  }
  return JSON.stringify(out);
}

export function parseStoredRequest(json: string | null, t: RequestColumns): VideoRequest | null {
  if (json === null || json === undefined) return null;
  const s = JSON.parse(json) as Partial<VideoRequest> & { firstFrame?: MediaInput | 1 };
  const { firstFrame, ...rest } = s;
  return {
    ...(rest as Omit<VideoRequest, 'firstFrame'>),
    model: t.model,
    prompt: t.prompt,
    seconds: t.seconds,
    width: t.width,
    height: t.height,
    references: s.references ?? [],
    options: s.options ?? {},
    ...(firstFrame === 1 ? { firstFrame: firstFrameOf(t) } : firstFrame ? { firstFrame } : {}),
  };
}

/** The shape of a status row: from its stored request, else from its size. */
export function shapeOf(json: string | null, width: number, height: number): RequestShape {
  if (json) {
    const r = JSON.parse(json) as Partial<VideoRequest>;
    if (isRatio(r.aspectRatio) && isResolution(r.resolution)) return { aspectRatio: r.aspectRatio, resolution: r.resolution, audio: r.audio === true };
  }
  return { ...shapeOfSize(width, height), audio: false };
}

/** What a task makes, from whatever form it is in (status view or full task). */
export function shapeOfTask(t: { width: number; height: number; shape?: RequestShape; request?: VideoRequest | null }): RequestShape {
  if (t.shape) return t.shape;
  if (t.request) return { aspectRatio: t.request.aspectRatio, resolution: t.request.resolution, audio: t.request.audio };
  return { ...shapeOfSize(t.width, t.height), audio: false };
}

/**
 * The canonical request of a task: the one stored with it, or, for tasks created before the
 * request was stored, one described from their Sora-era columns.
 */
export function requestOf(task: Task): VideoRequest {
  if (task.request) return { ...task.request, model: task.model, prompt: task.prompt };
  const derived = shapeOfSize(task.width, task.height);
  return {
    model: task.model,
    prompt: task.prompt,
    seconds: task.seconds,
    aspectRatio: isRatio(task.params.aspectRatio) ? task.params.aspectRatio : derived.aspectRatio,
    resolution: isResolution(task.params.resolution) ? task.params.resolution : derived.resolution,
    width: task.width,
    height: task.height,
    audio: false,
    ...(task.hasReference ? { firstFrame: firstFrameOf(task) } : {}),
    references: [],
    options: {},
  };
}
