import type { VideoRequest } from '../../core/video-request.js';

/**
 * What PixVerse's models take (docs.platform.pixverse.ai: text-, image-to-video, transition;
 * models-and-parameters.md §2), by model name: `v6` and `c1` (1–15 s, eight ratios, sound),
 * `v5.5` (5, 8 or 10 s, sound), `v5` (5 or 8 s, sound), `v4.5` / `v4` / `v3.5` (5 or 8 s). 1080p
 * makes at most 5 s on the 5/8 s models and 8 s on v5.5. Tiers 360p (turbo), 540p, 720p, 1080p;
 * ratios only for text-to-video (a frame decides the shape otherwise).
 */
export interface PixverseModel {
  seconds: readonly number[];
  /** Longest video at 1080p. */
  max1080: number;
  ratios: readonly string[];
  audio: boolean;
}

const RATIOS = ['16:9', '4:3', '1:1', '3:4', '9:16'];

export function pixverseModel(name: string): PixverseModel {
  const n = name.toLowerCase();
  if (/^(v6|c1)/.test(n)) return { seconds: Array.from({ length: 15 }, (_, i) => i + 1), max1080: 15, ratios: [...RATIOS, '2:3', '3:2', '21:9'], audio: true };
  if (/^v5\.5/.test(n)) return { seconds: [5, 8, 10], max1080: 8, ratios: RATIOS, audio: true };
  if (/^v5/.test(n)) return { seconds: [5, 8], max1080: 5, ratios: RATIOS, audio: true };
  return { seconds: [5, 8], max1080: 5, ratios: RATIOS, audio: false };
}

export function pixverseQuality(req: Pick<VideoRequest, 'resolution'>): string {
  if (req.resolution === 'standard') return '720p';
  if (req.resolution === 'high') return '1080p';
  return req.resolution;
}

/** Uploads: JPG, PNG or WebP, at most 20 MB and 10000 px a side. */
export const PIXVERSE_IMAGE_MAX_BYTES = 20 * 1024 * 1024;
export const MOTION_MODES = ['normal', 'fast'];
export const STYLES = ['anime', '3d_animation', 'day', 'cyberpunk', 'comic'];

type Refusal = { param: string; message: string } | null;

export function refusePixverse(req: VideoRequest, upstreamModel: string): Refusal {
  const m = pixverseModel(upstreamModel);
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (!m.seconds.includes(req.seconds)) return no('seconds', `makes videos of ${m.seconds.length > 5 ? `${m.seconds[0]} to ${m.seconds.at(-1)}` : m.seconds.join(', ')} seconds, not ${req.seconds}.`);
  const q = pixverseQuality(req);
  if (!['720p', '1080p'].includes(q)) return no('resolution', `makes 360p, 540p, 720p or 1080p videos, not ${q}.`);
  if (q === '1080p' && req.seconds > m.max1080) return no('seconds', `makes 1080p videos of at most ${m.max1080} seconds.`);
  if (!req.firstFrame && req.aspectRatio === 'adaptive') return no('aspect_ratio', 'needs a ratio without a first frame (adaptive follows a frame).');
  if (!req.firstFrame && !m.ratios.includes(req.aspectRatio)) return no('aspect_ratio', `makes ${m.ratios.join(', ')} videos, not ${req.aspectRatio}.`);
  if (req.audio && !m.audio) return no('audio', 'makes no sound.');
  if (req.mode !== undefined) return no('mode', 'has no modes (motion_mode is an option).');
  if (req.seed !== undefined && (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > 2_147_483_647)) return no('seed', 'takes a seed from 0 to 2147483647.');
  if (req.negativePrompt !== undefined && req.negativePrompt.length > 2048) return no('negative_prompt', 'takes a negative prompt of at most 2048 characters.');
  if (req.prompt.length > 2048) return no('prompt', 'takes a prompt of at most 2048 characters.');
  if (req.lastFrame && !req.firstFrame) return no('last_frame', 'needs a first frame with a last frame.');
  if (req.references.length > 0) return no('references', 'takes no reference images through this gateway (its fusion mode needs named references).');
  for (const f of [req.firstFrame, req.lastFrame]) {
    if (!f) continue;
    if (f.kind !== 'image') return no(f.role, 'takes images as frames.');
    if (f.width !== undefined && f.height !== undefined && Math.max(f.width, f.height) > 10_000) return no(f.role, 'takes images of at most 10000 pixels a side.');
  }
  const o = req.options;
  if (o.motion_mode !== undefined) {
    if (!MOTION_MODES.includes(String(o.motion_mode))) return no('motion_mode', `takes motion_mode ${MOTION_MODES.join(' or ')}.`);
    if (o.motion_mode === 'fast' && (req.seconds !== 5 || q === '1080p')) return no('motion_mode', 'makes fast motion only at 5 seconds and below 1080p.');
  }
  if (o.style !== undefined && !STYLES.includes(String(o.style))) return no('style', `takes style ${STYLES.join(', ')}.`);
  const unknown = Object.keys(o).filter((k) => k !== 'motion_mode' && k !== 'style');
  if (unknown.length > 0) return no(unknown[0]!, 'takes no such option (motion_mode, style).');
  return null;
}
