import type { VideoRequest } from '../../core/video-request.js';

/**
 * What Luma's Agents API video models take (lumalabs/luma-agents-typescript `generations.ts`,
 * upstreams.md §9A): `ray-3.2` (and later `ray-…` ids): 5 or 10 s (sent as "5s" / "10s"),
 * 540p / 720p / 1080p, six ratios (or none: Luma then picks), a start and an end frame; no
 * sound, seed, negative prompt or reference images. `loop` and `hdr` are options.
 */
export const LUMA_SECONDS = [5, 10];
export const LUMA_RATIOS = ['16:9', '9:16', '1:1', '4:3', '3:4', '21:9'];
/** Canonical tier → Luma's word (Luma's lowest tier, 540p, has no canonical tier). */
export const LUMA_RESOLUTIONS: Readonly<Record<string, string>> = { '720p': '720p', standard: '720p', '1080p': '1080p', high: '1080p' };
export const LUMA_OPTIONS = ['loop', 'hdr'];
/** Inline images are kept under 10 MB (Luma fails larger ones with `image_too_large`). */
export const LUMA_IMAGE_MAX_BYTES = 10 * 1024 * 1024;

type Refusal = { param: string; message: string } | null;

export function refuseLuma(req: VideoRequest, upstreamModel: string): Refusal {
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (!/^ray-/.test(upstreamModel)) return { param: 'model', message: `${upstreamModel} is not a Luma video model (ray-…).` };
  if (!LUMA_SECONDS.includes(req.seconds)) return no('seconds', `makes videos of ${LUMA_SECONDS.join(' or ')} seconds, not ${req.seconds}.`);
  if (!LUMA_RESOLUTIONS[req.resolution]) return no('resolution', `makes 720p or 1080p videos here, not ${req.resolution}.`);
  if (req.aspectRatio !== 'adaptive' && !LUMA_RATIOS.includes(req.aspectRatio)) return no('aspect_ratio', `makes ${LUMA_RATIOS.join(', ')} videos, not ${req.aspectRatio}.`);
  if (req.firstFrame && req.firstFrame.kind !== 'image') return no('first_frame', 'takes an image as start frame.');
  if (req.lastFrame && req.lastFrame.kind !== 'image') return no('last_frame', 'takes an image as end frame.');
  if (req.references.length > 0) return no('references', 'takes no reference images.');
  if (req.audio) return no('audio', 'makes no sound.');
  if (req.seed !== undefined) return no('seed', 'takes no seed.');
  if (req.negativePrompt !== undefined) return no('negative_prompt', 'takes no negative prompt.');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  if (req.prompt.length > 6000) return no('prompt', 'takes prompts of at most 6000 characters.');
  for (const [k, v] of Object.entries(req.options)) {
    if (!LUMA_OPTIONS.includes(k)) return no(k, 'takes no such option (only loop, hdr).');
    if (typeof v !== 'boolean') return no(k, `takes ${k} as true or false.`);
  }
  return null;
}
