import type { VideoRequest } from '../../core/video-request.js';

/**
 * What each Seedance model takes on Ark / ModelArk, by family of its upstream name
 * (`seedance-2-5`, `seedance-2-0[-fast|-mini]`, `seedance-1-5-pro`, `seedance-1-0-pro[-fast]`,
 * `seedance-1-0-lite-i2v|t2v`; BytePlus prefixes `dreamina-`, Volcengine `doubao-`), from
 * ModelArk's video-generation reference (models-and-parameters research, upstreams.md §11). A
 * name of no known family gets the most permissive rules and the upstream has the last word.
 */
export interface ArkModel {
  seconds: { min: number; max: number };
  resolutions: readonly string[];
  ratios: readonly string[];
  /** Text-to-video may be `adaptive` (1.0 wants a fixed ratio without a frame). */
  adaptiveWithoutFrame: boolean;
  audio: boolean;
  seed: boolean;
  cameraFixed: boolean;
  lastFrame: boolean;
  referenceImages: number;
  referenceVideos: number;
  referenceAudio: number;
  /** Reference audio alone (without an image or video) is enough. */
  audioOnlyReferences: boolean;
}

const RATIOS_2X = ['16:9', '4:3', '1:1', '3:4', '9:16', '21:9', 'adaptive'];
const RATIOS_1X = [...RATIOS_2X, '9:21'];

export function arkModel(name: string): ArkModel {
  const n = name.toLowerCase();
  if (/seedance-2-5/.test(n)) {
    return { seconds: { min: 4, max: 30 }, resolutions: ['480p', '720p', '1080p'], ratios: RATIOS_2X, adaptiveWithoutFrame: true, audio: true, seed: false, cameraFixed: false, lastFrame: true, referenceImages: 30, referenceVideos: 10, referenceAudio: 10, audioOnlyReferences: true };
  }
  if (/seedance-2-0/.test(n)) {
    const small = /fast|mini/.test(n);
    return { seconds: { min: 4, max: 15 }, resolutions: small ? ['480p', '720p'] : ['480p', '720p', '1080p', '4k'], ratios: RATIOS_2X, adaptiveWithoutFrame: true, audio: true, seed: false, cameraFixed: false, lastFrame: true, referenceImages: 9, referenceVideos: 3, referenceAudio: 3, audioOnlyReferences: false };
  }
  if (/seedance-1-5/.test(n)) {
    return { seconds: { min: 4, max: 12 }, resolutions: ['480p', '720p', '1080p'], ratios: RATIOS_1X, adaptiveWithoutFrame: true, audio: true, seed: true, cameraFixed: true, lastFrame: true, referenceImages: 0, referenceVideos: 0, referenceAudio: 0, audioOnlyReferences: false };
  }
  if (/seedance-1-0/.test(n)) {
    const lite = /lite/.test(n);
    return {
      seconds: { min: 2, max: 12 },
      resolutions: lite ? ['480p', '720p'] : ['480p', '720p', '1080p'],
      ratios: RATIOS_1X,
      adaptiveWithoutFrame: false,
      audio: false,
      seed: true,
      cameraFixed: true,
      lastFrame: !/fast/.test(n),
      referenceImages: /lite-i2v/.test(n) ? 4 : 0,
      referenceVideos: 0,
      referenceAudio: 0,
      audioOnlyReferences: false,
    };
  }
  return { seconds: { min: 1, max: 30 }, resolutions: ['480p', '720p', '1080p', '4k'], ratios: RATIOS_1X, adaptiveWithoutFrame: true, audio: true, seed: true, cameraFixed: true, lastFrame: true, referenceImages: 30, referenceVideos: 10, referenceAudio: 10, audioOnlyReferences: true };
}

/** Seedance's tier for a request (Sora's `standard` / `high` read as 720p / 1080p). */
export function arkResolution(req: Pick<VideoRequest, 'resolution'>): string {
  if (req.resolution === 'standard') return '720p';
  if (req.resolution === 'high') return '1080p';
  return req.resolution;
}

/** The ratio to send: as asked, or — where `adaptive` needs a frame to follow — the closest fixed one. */
export function arkRatio(req: Pick<VideoRequest, 'aspectRatio' | 'width' | 'height' | 'firstFrame'>, m: ArkModel): string {
  if (req.aspectRatio !== 'adaptive' || req.firstFrame || m.adaptiveWithoutFrame) return req.aspectRatio;
  const r = req.width / req.height;
  const candidates: Array<[string, number]> = [['16:9', 16 / 9], ['4:3', 4 / 3], ['1:1', 1], ['3:4', 3 / 4], ['9:16', 9 / 16], ['21:9', 21 / 9]];
  return candidates.reduce((best, c) => (Math.abs(Math.log(c[1] / r)) < Math.abs(Math.log(best[1] / r)) ? c : best))[0];
}

/** Images: at most 30 MB, 300–6000 px a side, aspect 0.4–2.5; a request body at most 64 MB. */
export const IMAGE_MAX_BYTES = 30 * 1024 * 1024;
export const BODY_MAX_BYTES = 64 * 1024 * 1024;

type Refusal = { param: string; message: string } | null;

/** What a Seedance model cannot do with this request. */
export function refuseArk(req: VideoRequest, upstreamModel: string): Refusal {
  const m = arkModel(upstreamModel);
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (req.seconds < m.seconds.min || req.seconds > m.seconds.max) return no('seconds', `makes videos of ${m.seconds.min} to ${m.seconds.max} seconds, not ${req.seconds}.`);
  const tier = arkResolution(req);
  if (!m.resolutions.includes(tier)) return no('resolution', `makes ${m.resolutions.join(', ')} videos, not ${tier}.`);
  if (!m.ratios.includes(req.aspectRatio)) return no('aspect_ratio', `makes ${m.ratios.join(', ')} videos, not ${req.aspectRatio}.`);
  if (req.audio && !m.audio) return no('audio', 'makes no sound.');
  if (req.seed !== undefined && !m.seed) return no('seed', 'takes no seed.');
  if (req.seed !== undefined && (req.seed < -1 || req.seed > 2_147_483_647)) return no('seed', 'takes a seed from -1 to 2147483647.');
  if (req.negativePrompt !== undefined) return no('negative_prompt', 'takes no negative prompt (describe what to avoid in the prompt).');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  if (req.lastFrame && !req.firstFrame) return no('last_frame', 'needs a first frame with a last frame.');
  if (req.lastFrame && !m.lastFrame) return no('last_frame', 'takes no last frame.');
  if (req.options.camera_fixed !== undefined && (!m.cameraFixed || typeof req.options.camera_fixed !== 'boolean')) return no('camera_fixed', m.cameraFixed ? 'takes camera_fixed as true or false.' : 'takes no camera_fixed.');
  for (const f of [req.firstFrame, req.lastFrame, ...req.references]) {
    if (!f || f.kind !== 'image') continue;
    if (f.bytes !== undefined && f.bytes > IMAGE_MAX_BYTES && f.role === 'reference') return no('references', 'takes reference images of at most 30 MB.');
    if (f.width !== undefined && f.height !== undefined) {
      const param = f.role === 'reference' ? 'references' : f.role;
      if (Math.min(f.width, f.height) < 300 || Math.max(f.width, f.height) > 6000) return no(param, 'takes images of 300 to 6000 pixels a side.');
      const r = f.width / f.height;
      if (r < 0.4 || r > 2.5) return no(param, 'takes images between 0.4 and 2.5 wide for their height.');
    }
  }
  const count = (kind: string) => req.references.filter((r) => r.kind === kind).length;
  const [images, videos, audio] = [count('image'), count('video'), count('audio')];
  if (req.references.length > 0 && req.firstFrame) return no('references', 'takes either frames or references, not both.');
  if (images > m.referenceImages) return no('references', m.referenceImages ? `takes at most ${m.referenceImages} reference images.` : 'takes no reference images.');
  if (videos > m.referenceVideos) return no('references', m.referenceVideos ? `takes at most ${m.referenceVideos} reference videos.` : 'takes no reference videos.');
  if (audio > m.referenceAudio) return no('references', m.referenceAudio ? `takes at most ${m.referenceAudio} reference audio clips.` : 'takes no reference audio.');
  if (audio > 0 && images + videos === 0 && !m.audioOnlyReferences) return no('references', 'needs a reference image or video with reference audio.');
  return null;
}
