import type { VideoRequest } from '../../core/video-request.js';

/**
 * What each Kling model takes, by its upstream name (Kling's capability map, upstreams.md §7,
 * models-and-parameters research): which API it is on, its lengths, sound, frames, references
 * and extras. A name Kling adds later is read by its family (`kling-v…` flat, `kling-N.N…`
 * path-versioned) with that family's most permissive rules, and the upstream has the last word.
 */
export interface KlingModel {
  /** `flat`: `/v1/videos/{text2video,image2video}` with `model_name`; `path`: `/{kind}/{model}` (3.x). */
  api: 'flat' | 'path';
  /** Accepted lengths in seconds. */
  seconds: readonly number[];
  /** Native audio (`sound: on` / `settings.audio: native`). */
  sound: boolean;
  /** Sound only in `pro` mode (kling-v2-6). */
  soundNeedsPro: boolean;
  resolutions: readonly string[];
  /** Reference images / videos (3.x omni: `refer_image`, `feature_video`). */
  referenceImages: number;
  referenceVideos: number;
  negativePrompt: boolean;
  /** Flat-API extras a client may pass in `options` (`camera_control`, `cfg_scale`). */
  camera: boolean;
  cfgScale: boolean;
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

export function klingModel(name: string): KlingModel {
  const n = name.toLowerCase();
  if (/^kling-\d+(\.\d+)?/.test(n)) {
    const omni = n.endsWith('-omni');
    const turbo = n.includes('turbo');
    return {
      api: 'path',
      seconds: range(3, 15),
      sound: !turbo,
      soundNeedsPro: false,
      resolutions: turbo ? ['720p', '1080p'] : ['720p', '1080p', '4k'],
      referenceImages: omni ? 7 : 0,
      referenceVideos: omni ? 1 : 0,
      negativePrompt: false,
      camera: false,
      cfgScale: false,
    };
  }
  const v1 = /^kling-v1(-|$)/.test(n);
  const v3 = /^kling-v3/.test(n);
  return {
    api: 'flat',
    seconds: v3 ? range(3, 15) : [5, 10],
    sound: v3 || n.startsWith('kling-v2-6'),
    soundNeedsPro: n.startsWith('kling-v2-6'),
    resolutions: ['720p', '1080p'],
    referenceImages: 0,
    referenceVideos: 0,
    negativePrompt: true,
    camera: v1,
    cfgScale: v1,
  };
}

/** The resolution tier a request asks for, in Kling's terms (Sora's `standard` / `high` read as 720p / 1080p). */
export function tierOf(req: Pick<VideoRequest, 'resolution'>): string {
  if (req.resolution === 'standard') return '720p';
  if (req.resolution === 'high') return '1080p';
  return req.resolution;
}

/** Flat API: `std` makes 720p, `pro` 1080p; an explicit mode wins. */
export function modeOf(req: Pick<VideoRequest, 'mode' | 'resolution'>): 'std' | 'pro' {
  if (req.mode === 'std' || req.mode === 'pro') return req.mode;
  return tierOf(req) === '1080p' ? 'pro' : 'std';
}

const RATIOS = ['16:9', '9:16', '1:1'] as const;

/** Text-to-video aspect ratio; `adaptive` (no frame to follow) becomes the closest of Kling's three. */
export function ratioOf(req: Pick<VideoRequest, 'aspectRatio' | 'width' | 'height'>): string {
  if ((RATIOS as readonly string[]).includes(req.aspectRatio)) return req.aspectRatio;
  return req.width === req.height ? '1:1' : req.width > req.height ? '16:9' : '9:16';
}

const PROMPT_MAX = 2500;
/** Images: jpg/png, at most 10 MB, at least 300 px a side, aspect between 1:2.5 and 2.5:1. */
export const IMAGE_MAX_BYTES = 10 * 1024 * 1024;

type Refusal = { param: string; message: string } | null;

/** What a Kling model cannot do with this request (checked at create time and before every submit). */
export function refuseKling(req: VideoRequest, upstreamModel: string): Refusal {
  const m = klingModel(upstreamModel);
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (!m.seconds.includes(req.seconds)) {
    const allowed = m.seconds.length > 4 ? `${m.seconds[0]} to ${m.seconds.at(-1)}` : m.seconds.join(' or ');
    return no('seconds', `makes videos of ${allowed} seconds, not ${req.seconds}.`);
  }
  if (req.prompt.length > PROMPT_MAX) return no('prompt', `takes prompts of at most ${PROMPT_MAX} characters.`);
  const tier = tierOf(req);
  if (!m.resolutions.includes(tier)) return no('resolution', `makes ${m.resolutions.join(', ')} videos, not ${tier}.`);
  if (m.api === 'flat' && req.mode !== undefined && modeOf(req) === 'std' && tier === '1080p') return no('mode', 'makes 720p in mode std; ask for mode pro for 1080p.');
  if (req.mode !== undefined && req.mode !== 'std' && req.mode !== 'pro') return no('mode', `has the modes std and pro, not '${req.mode}'.`);
  if (req.audio && !m.sound) return no('audio', 'makes no sound.');
  if (req.audio && m.soundNeedsPro && modeOf(req) !== 'pro') return no('audio', 'makes sound only in mode pro.');
  if (req.negativePrompt !== undefined) {
    if (!m.negativePrompt) return no('negative_prompt', 'takes no negative prompt (describe what to avoid in the prompt).');
    if (req.negativePrompt.length > PROMPT_MAX) return no('negative_prompt', `takes negative prompts of at most ${PROMPT_MAX} characters.`);
  }
  if (req.seed !== undefined) return no('seed', 'takes no seed.');
  if (req.lastFrame && !req.firstFrame) return no('last_frame', 'needs a first frame with a last frame.');
  if (!req.firstFrame && !(RATIOS as readonly string[]).includes(req.aspectRatio) && req.aspectRatio !== 'adaptive') {
    return no('aspect_ratio', `makes ${RATIOS.join(', ')} videos, not ${req.aspectRatio}.`);
  }
  for (const f of [req.firstFrame, req.lastFrame]) {
    if (!f) continue;
    if (f.kind !== 'image') return no(f.role, 'takes images as frames.');
    if (f.width !== undefined && f.height !== undefined) {
      if (Math.min(f.width, f.height) < 300) return no(f.role, 'takes frames of at least 300 pixels a side.');
      const r = f.width / f.height;
      if (r < 0.4 || r > 2.5) return no(f.role, 'takes frames between 1:2.5 and 2.5:1.');
    }
  }
  const images = req.references.filter((r) => r.kind === 'image').length;
  const videos = req.references.filter((r) => r.kind === 'video').length;
  if (req.references.some((r) => r.kind === 'audio')) return no('references', 'takes no reference audio.');
  if (images > m.referenceImages) return no('references', m.referenceImages ? `takes at most ${m.referenceImages} reference images.` : 'takes no reference images.');
  if (videos > m.referenceVideos) return no('references', m.referenceVideos ? `takes at most ${m.referenceVideos} reference video.` : 'takes no reference videos.');
  const o = req.options;
  if (o.camera_control !== undefined && !m.camera) return no('camera_control', 'takes no camera control.');
  if (o.camera_control !== undefined && req.lastFrame) return no('camera_control', 'cannot combine camera control with a last frame.');
  if (o.cfg_scale !== undefined && !m.cfgScale) return no('cfg_scale', 'takes no cfg_scale.');
  if (o.cfg_scale !== undefined && !(typeof o.cfg_scale === 'number' && o.cfg_scale >= 0 && o.cfg_scale <= 1)) return no('cfg_scale', 'takes a cfg_scale between 0 and 1.');
  if (o.multi_shot !== undefined && (m.api !== 'path' || typeof o.multi_shot !== 'boolean')) return no('multi_shot', 'takes multi_shot (true or false) on the 3.x models only.');
  return null;
}
