import type { TaskFailure } from './errors.js';
import type { VideoRequest } from './video-request.js';

/**
 * The one canonical Task. Dialects render it in their own vocabulary; providers drive it.
 *
 * status (what callers see):   queued → in_progress → completed | failed | cancelled
 * stage  (what the worker does): submit → wait → fetch → done
 */
export type TaskStatus = 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled';
export type Stage = 'submit' | 'wait' | 'fetch' | 'done';
export type Origin = 'openai' | 'apimart';
export type TaskKind = 'generate' | 'remix';
export type Variant = 'video' | 'thumbnail' | 'spritesheet';

export const TERMINAL: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

/** Dialect-specific request details kept for display and for the providers. */
export interface TaskParams {
  aspectRatio?: string;
  resolution?: string;
  imageUrl?: string;
  callbackUrl?: string;
  /** Sent to this channel and no other (operator test jobs): no failover. */
  channel?: string;
}

export interface Task {
  id: string;
  keyId: string;
  origin: Origin;
  kind: TaskKind;
  model: string;
  prompt: string;
  seconds: number;
  width: number;
  height: number;
  status: TaskStatus;
  progress: number;
  error: TaskFailure | null;
  remixedFrom: string | null;
  hasReference: boolean;
  params: TaskParams;
  /** The canonical request as created (media as blob keys); null for tasks created before it was stored. */
  request?: VideoRequest | null;
  /** Hash of the create request body (recognises client retries). */
  bodyHash: string | null;
  provider: string | null;
  upstreamId: string | null;
  /** Quoted price in micro-USD per second of video (kept for the task's life). */
  priceMicros: number;
  /** Held amount: seconds × price. */
  quoteMicros: number;
  /** Charged amount once settled; null until then (0 after a release). */
  costMicros: number | null;
  /** Duration of the delivered video as probed, in seconds. */
  actualSeconds: number | null;
  stage: Stage;
  providerState: Record<string, unknown>;
  nextRunAt: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  expiresAt: number | null;
  deletedAt: number | null;
  updatedAt: number;
}

export interface Asset {
  taskId: string;
  variant: Variant;
  path: string;
  bytes: number;
  sha256: string;
  contentType: string;
}

export const CONTENT_TYPES: Record<Variant, string> = {
  video: 'video/mp4',
  thumbnail: 'image/webp',
  spritesheet: 'image/jpeg',
};

export const FILE_NAMES: Record<Variant, string> = {
  video: 'video.mp4',
  thumbnail: 'thumbnail.webp',
  spritesheet: 'spritesheet.jpg',
};
