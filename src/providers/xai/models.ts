import type { VideoRequest } from '../../core/video-request.js';

/**
 * What Grok Imagine's video models take (docs.x.ai video generation guide, vercel/ai
 * `packages/xai`, models-and-parameters.md §2): `grok-imagine-video` and
 * `grok-imagine-video-1.5` (and dated or suffixed names of them). 1–15 s; 480p or 720p, and
 * 1080p on 1.5 for text-to-video only (frames and references are capped at 720p); seven ratios;
 * a first frame (`image`) or up to seven reference images, not both; no last frame, seed,
 * negative prompt or modes. The videos carry sound whatever is asked (there is no switch).
 */
export interface XaiModel {
  seconds: { min: number; max: number };
  /** Tiers for text-to-video. */
  resolutions: readonly string[];
  /** Tiers when a frame or references are given. */
  imageResolutions: readonly string[];
  ratios: readonly string[];
  referenceImages: number;
}

const RATIOS = ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3'];

export function xaiModel(name: string): XaiModel {
  const v15 = /1[.-]5/.test(name.toLowerCase());
  return {
    seconds: { min: 1, max: 15 },
    resolutions: v15 ? ['480p', '720p', '1080p'] : ['480p', '720p'],
    imageResolutions: ['480p', '720p'],
    ratios: RATIOS,
    referenceImages: 7,
  };
}

/** Grok's tier for a request (Sora's `standard` / `high` read as 720p / 1080p). */
export function xaiResolution(req: Pick<VideoRequest, 'resolution'>): string {
  if (req.resolution === 'standard') return '720p';
  if (req.resolution === 'high') return '1080p';
  return req.resolution;
}

/** Inline images (data: URLs) are kept under 10 MB; links to our copy are used when there is a public URL. */
export const XAI_IMAGE_MAX_BYTES = 10 * 1024 * 1024;

type Refusal = { param: string; message: string } | null;

export function refuseXai(req: VideoRequest, upstreamModel: string): Refusal {
  const m = xaiModel(upstreamModel);
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (!Number.isInteger(req.seconds) || req.seconds < m.seconds.min || req.seconds > m.seconds.max) return no('seconds', `makes videos of ${m.seconds.min} to ${m.seconds.max} seconds, not ${req.seconds}.`);
  const withImages = !!req.firstFrame || req.references.length > 0;
  const tiers = withImages ? m.imageResolutions : m.resolutions;
  const tier = xaiResolution(req);
  if (!tiers.includes(tier)) return no('resolution', `makes ${tiers.join(', ')} videos${withImages ? ' from images' : ''}, not ${tier}.`);
  if (req.aspectRatio !== 'adaptive' && !m.ratios.includes(req.aspectRatio)) return no('aspect_ratio', `makes ${m.ratios.join(', ')} videos, not ${req.aspectRatio}.`);
  if (req.seed !== undefined) return no('seed', 'takes no seed.');
  if (req.negativePrompt !== undefined) return no('negative_prompt', 'takes no negative prompt.');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  if (req.lastFrame) return no('last_frame', 'takes no last frame.');
  if (req.firstFrame && req.firstFrame.kind !== 'image') return no('first_frame', 'takes an image as first frame.');
  if (req.references.length > 0 && req.firstFrame) return no('references', 'takes either a first frame or reference images, not both.');
  if (req.references.some((r) => r.kind !== 'image')) return no('references', 'takes reference images only (no video or audio).');
  if (req.references.length > m.referenceImages) return no('references', `takes at most ${m.referenceImages} reference images.`);
  for (const f of [req.firstFrame, ...req.references]) {
    if (f?.width !== undefined && f.height !== undefined) {
      const r = f.width / f.height;
      if (r < 0.25 || r > 4) return no(f.role === 'reference' ? 'references' : f.role, 'takes images between 1:4 and 4:1.');
    }
  }
  const unknown = Object.keys(req.options).filter((k) => k !== 'user');
  if (unknown.length > 0) return no(unknown[0]!, 'takes no such option (only `user`).');
  return null;
}
