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

/**
 * The canonical request of a task. Tasks created before the request was stored are described
 * from their Sora-era columns.
 */
export function requestOf(task: Task): VideoRequest {
  const ratio = task.width === task.height ? '1:1' : task.width > task.height ? '16:9' : '9:16';
  const short = Math.min(task.width, task.height);
  return {
    model: task.model,
    prompt: task.prompt,
    seconds: task.seconds,
    aspectRatio: (ASPECT_RATIOS as readonly string[]).includes(task.params.aspectRatio ?? '') ? (task.params.aspectRatio as AspectRatio) : ratio,
    resolution: (RESOLUTIONS as readonly string[]).includes(task.params.resolution ?? '')
      ? (task.params.resolution as Resolution)
      : short >= 1080 ? '1080p' : short >= 1024 ? 'high' : '720p',
    width: task.width,
    height: task.height,
    audio: false,
    ...(task.hasReference
      ? { firstFrame: { role: 'first_frame', kind: 'image', blob: `${task.id}/reference.png`, contentType: 'image/png', width: task.width, height: task.height } }
      : {}),
    references: [],
    options: {},
  };
}
