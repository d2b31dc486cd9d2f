import type { VideoRequest } from '../../core/video-request.js';

/**
 * What Vidu's models take (platform.vidu.com docs: text-to-video, image-to-video, start-end,
 * reference-to-video; models-and-parameters.md §2), by family of the model name: `viduq3-pro` /
 * `viduq3-turbo` (1–16 s, 540p–1080p, sound), `viduq2[-pro|-turbo]` (1–10 s, 540p–1080p),
 * `viduq1` (5 s, 1080p), `vidu2.0` / `vidu1.5` (4 or 8 s; 360p–1080p, 8 s only 720p; 2.0 has
 * no text-to-video). A name of no known family gets the most permissive rules.
 */
export type ViduEndpoint = 'text2video' | 'img2video' | 'start-end2video' | 'reference2video';

export interface ViduModel {
  seconds: readonly number[] | { min: number; max: number };
  resolutions: readonly string[];
  /** Resolutions at 8 s (vidu2.0 / 1.5), when they differ. */
  longResolutions?: readonly string[];
  endpoints: readonly ViduEndpoint[];
  /** The `audio` switch (direct audio-video generation). */
  audio: boolean;
  referenceImages: number;
}

const ALL: readonly ViduEndpoint[] = ['text2video', 'img2video', 'start-end2video', 'reference2video'];

export function viduModel(name: string): ViduModel {
  const n = name.toLowerCase();
  if (/q3/.test(n)) return { seconds: { min: 1, max: 16 }, resolutions: ['540p', '720p', '1080p'], endpoints: ALL, audio: true, referenceImages: 7 };
  if (/q2/.test(n)) return { seconds: { min: 1, max: 10 }, resolutions: ['540p', '720p', '1080p'], endpoints: ALL, audio: false, referenceImages: 7 };
  if (/q1/.test(n)) return { seconds: [5], resolutions: ['1080p'], endpoints: ALL, audio: false, referenceImages: 7 };
  if (/2\.0/.test(n)) return { seconds: [4, 8], resolutions: ['360p', '720p', '1080p'], longResolutions: ['720p'], endpoints: ['img2video', 'start-end2video', 'reference2video'], audio: false, referenceImages: 3 };
  if (/1\.5/.test(n)) return { seconds: [4, 8], resolutions: ['360p', '720p', '1080p'], longResolutions: ['720p'], endpoints: ALL, audio: false, referenceImages: 3 };
  return { seconds: { min: 1, max: 16 }, resolutions: ['360p', '540p', '720p', '1080p'], endpoints: ALL, audio: true, referenceImages: 7 };
}

/** The endpoint a request goes to: by what it carries. */
export function viduEndpoint(req: Pick<VideoRequest, 'firstFrame' | 'lastFrame' | 'references'>): ViduEndpoint {
  if (req.references.length > 0) return 'reference2video';
  if (req.firstFrame && req.lastFrame) return 'start-end2video';
  if (req.firstFrame) return 'img2video';
  return 'text2video';
}

/** Vidu's tier for a request (Sora's `standard` / `high` read as 720p / 1080p). */
export function viduResolution(req: Pick<VideoRequest, 'resolution'>): string {
  if (req.resolution === 'standard') return '720p';
  if (req.resolution === 'high') return '1080p';
  return req.resolution;
}

/** Ratios `aspect_ratio` takes (text and reference endpoints; frames decide the shape otherwise). */
export const VIDU_RATIOS = ['16:9', '9:16', '1:1'];
export const MOVEMENT = ['auto', 'small', 'medium', 'large'];
/** A base64 image must decode to under 10 MB (a URL may point at up to 50 MB). */
export const VIDU_IMAGE_MAX_BYTES = 10 * 1024 * 1024;

type Refusal = { param: string; message: string } | null;

export function refuseVidu(req: VideoRequest, upstreamModel: string): Refusal {
  const m = viduModel(upstreamModel);
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  const secs = m.seconds;
  if (Array.isArray(secs) ? !secs.includes(req.seconds) : !Number.isInteger(req.seconds) || req.seconds < (secs as { min: number }).min || req.seconds > (secs as { max: number }).max) {
    return no('seconds', `makes videos of ${Array.isArray(secs) ? secs.join(' or ') : `${(secs as { min: number }).min} to ${(secs as { max: number }).max}`} seconds, not ${req.seconds}.`);
  }
  const tiers = req.seconds === 8 && m.longResolutions ? m.longResolutions : m.resolutions;
  const tier = viduResolution(req);
  if (!tiers.includes(tier)) return no('resolution', `makes ${tiers.join(', ')} videos${m.longResolutions && req.seconds === 8 ? ' of 8 seconds' : ''}, not ${tier}.`);
  if (req.lastFrame && !req.firstFrame) return no('last_frame', 'needs a first frame with a last frame.');
  if (req.references.length > 0 && req.firstFrame) return no('references', 'takes either frames or reference images, not both.');
  const endpoint = viduEndpoint(req);
  if (!m.endpoints.includes(endpoint)) return no(endpoint === 'text2video' ? 'prompt' : 'references', `has no ${endpoint} (give it a first frame).`);
  if ((endpoint === 'text2video' || endpoint === 'reference2video') && req.aspectRatio !== 'adaptive' && !VIDU_RATIOS.includes(req.aspectRatio)) {
    return no('aspect_ratio', `makes ${VIDU_RATIOS.join(', ')} videos, not ${req.aspectRatio}.`);
  }
  if (req.audio && !m.audio) return no('audio', 'makes no sound (a background track is the `bgm` option).');
  if (req.negativePrompt !== undefined) return no('negative_prompt', 'takes no negative prompt.');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  if (req.seed !== undefined && (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > 2_147_483_647)) return no('seed', 'takes a seed from 0 to 2147483647.');
  if (req.references.some((r) => r.kind !== 'image')) return no('references', 'takes reference images only.');
  if (req.references.length > m.referenceImages) return no('references', `takes at most ${m.referenceImages} reference images.`);
  for (const f of [req.firstFrame, req.lastFrame, ...req.references]) {
    if (f?.width !== undefined && f.height !== undefined) {
      const r = f.width / f.height;
      if (r <= 0.25 || r >= 4) return no(f.role === 'reference' ? 'references' : f.role, 'takes images between 1:4 and 4:1.');
    }
  }
  const o = req.options;
  if (o.movement_amplitude !== undefined && !MOVEMENT.includes(String(o.movement_amplitude))) return no('movement_amplitude', `takes movement_amplitude ${MOVEMENT.join(', ')}.`);
  if (o.bgm !== undefined && typeof o.bgm !== 'boolean') return no('bgm', 'takes bgm as true or false.');
  if (o.off_peak !== undefined && typeof o.off_peak !== 'boolean') return no('off_peak', 'takes off_peak as true or false.');
  const unknown = Object.keys(o).filter((k) => !['movement_amplitude', 'bgm', 'off_peak'].includes(k));
  if (unknown.length > 0) return no(unknown[0]!, 'takes no such option (movement_amplitude, bgm, off_peak).');
  return null;
}
