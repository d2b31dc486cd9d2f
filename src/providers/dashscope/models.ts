import type { VideoRequest } from '../../core/video-request.js';

/**
 * What each Wan model on DashScope (Alibaba Model Studio) takes, by its upstream name
 * (models-and-parameters.md §2): the request form, the job kind, resolutions, lengths and sound.
 *
 * - Up to 2.6 (`wan2.6-t2v`, `wan2.6-i2v[-flash]`, `wan2.5-*-preview`, `wan2.2-*`, `wan2.1-*`):
 *   text-to-video takes `parameters.size` "W*H" from a fixed table; image-to-video takes
 *   `input.img_url` and `parameters.resolution` "720P" (the image decides the shape); `-kf2v`
 *   models take `input.first_frame_url` + `last_frame_url` (on the image2video path). 2.5 and
 *   2.6 make sound (`parameters.audio`) and take a driving `input.audio_url`; 2.6 text-to-video
 *   takes `shot_type`.
 * - 2.7 and later (`wan2.7-t2v`, `wan2.7-i2v`, `wan2.7-r2v`, `wan3.0-…`): `parameters.resolution`
 *   "720P" / "1080P", `ratio` (text-to-video, and reference-to-video without a first frame),
 *   integer `duration` 2–15; image-to-video carries its first frame, last frame and driving audio
 *   in `input.media[]` (`{type: "first_frame" | "last_frame" | "driving_audio", url}`),
 *   reference-to-video its 1–5 reference images and videos (`reference_image`,
 *   `reference_video`; at most 10 s with a video) and an optional first frame; text-to-video a
 *   custom audio track as `input.audio_url`. Sound is always made.
 * A name of no known family is read by its version and kind with the widest rules of its form,
 * and DashScope has the last word.
 */
export interface WanModel {
  form: 'size' | 'resolution';
  kind: 't2v' | 'i2v' | 'kf2v' | 'r2v';
  /** Canonical tiers the model makes. */
  tiers: readonly string[];
  seconds: readonly number[];
  /** Makes sound, and whether it can be switched off (`parameters.audio`). */
  audio: 'none' | 'switch' | 'always';
  /** Takes a driving audio (`input.audio_url`). */
  drivingAudio: boolean;
  lastFrame: boolean;
  shotType: boolean;
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

function version(n: string): number | undefined {
  const m = /wan(\d+)(?:\.(\d+))?/.exec(n);
  return m ? Number(m[1]) + Number(m[2] ?? 0) / 10 : undefined;
}

export function wanModel(name: string): WanModel {
  const n = name.toLowerCase();
  const v = version(n) ?? 2.6;
  const kind: WanModel['kind'] = /kf2v/.test(n) ? 'kf2v' : /i2v/.test(n) ? 'i2v' : /r2v/.test(n) ? 'r2v' : 't2v';
  if (v >= 2.7) {
    const k = kind === 'kf2v' ? 'i2v' : kind;
    return { form: 'resolution', kind: k, tiers: ['720p', '1080p'], seconds: range(2, 15), audio: 'always', drivingAudio: k !== 'r2v', lastFrame: k === 'i2v', shotType: false };
  }
  // Reference-to-video exists from 2.7 on.
  if (kind === 'r2v') return { form: 'resolution', kind, tiers: ['720p', '1080p'], seconds: range(2, 10), audio: 'always', drivingAudio: false, lastFrame: false, shotType: false };
  if (v >= 2.6) {
    return { form: 'size', kind, tiers: ['720p', '1080p'], seconds: [5, 10, 15], audio: 'switch', drivingAudio: true, lastFrame: kind === 'kf2v', shotType: true };
  }
  if (v >= 2.5) {
    return { form: 'size', kind, tiers: ['480p', '720p', '1080p'], seconds: [5, 10], audio: 'switch', drivingAudio: true, lastFrame: kind === 'kf2v', shotType: false };
  }
  // 2.2 and 2.1: silent, 5 s.
  const tiers = /turbo|flash/.test(n) ? ['480p', '720p'] : /2\.2.*plus/.test(n) ? ['480p', '1080p'] : ['720p'];
  return { form: 'size', kind, tiers: kind === 'kf2v' ? ['480p', '720p', '1080p'] : tiers, seconds: [5], audio: 'none', drivingAudio: false, lastFrame: kind === 'kf2v', shotType: false };
}

/** Text-to-video frame sizes of the `size` form, by tier and ratio. */
export const WAN_SIZES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  '480p': { '16:9': '832*480', '9:16': '480*832', '1:1': '624*624' },
  '720p': { '16:9': '1280*720', '9:16': '720*1280', '1:1': '960*960', '4:3': '1088*832', '3:4': '832*1088' },
  '1080p': { '16:9': '1920*1080', '9:16': '1080*1920', '1:1': '1440*1440', '4:3': '1632*1248', '3:4': '1248*1632' },
};
const WAN27_RATIOS = ['16:9', '9:16', '1:1', '4:3', '3:4'];

/** The canonical tier of a request (Sora's `standard` / `high` read as 720p / 1080p). */
export function tierOf(req: Pick<VideoRequest, 'resolution'>): string {
  if (req.resolution === 'standard') return '720p';
  if (req.resolution === 'high') return '1080p';
  return req.resolution;
}

/** DashScope's resolution word: "720P". */
export const resolutionWord = (tier: string): string => tier.toUpperCase();

/** The ratio of a request; `adaptive` without a frame becomes the closest fixed one of `ratios`. */
export function ratioOf(req: Pick<VideoRequest, 'aspectRatio' | 'width' | 'height'>, ratios: readonly string[] = WAN27_RATIOS): string {
  if (req.aspectRatio !== 'adaptive') return req.aspectRatio;
  const r = req.width / req.height;
  const value = (s: string) => {
    const [a, b] = s.split(':').map(Number);
    return a! / b!;
  };
  return ratios.reduce((best, c) => (Math.abs(Math.log(value(c) / r)) < Math.abs(Math.log(value(best) / r)) ? c : best));
}

/** `size` for text-to-video: the request's exact frame when DashScope has it, else the tier's frame of its ratio. */
export function sizeOf(req: Pick<VideoRequest, 'aspectRatio' | 'width' | 'height' | 'resolution'>): string | undefined {
  const table = WAN_SIZES[tierOf(req)];
  if (!table) return undefined;
  const exact = `${req.width}*${req.height}`;
  if (Object.values(table).includes(exact)) return exact;
  return table[ratioOf(req, Object.keys(table))];
}

export const PROMPT_MAX = 1500;
export const PROMPT_MAX_27 = 5000;
export const NEGATIVE_MAX = 500;
/** Frames: JPEG, PNG, BMP or WebP, at most 10 MB, 240–8000 px a side (links or `data:` URLs). */
export const IMAGE_MAX_BYTES = 10 * 1024 * 1024;
/** A driving audio: wav or mp3, 3–30 s, at most 15 MB, as a link. */
export const AUDIO_MAX_BYTES = 15 * 1024 * 1024;
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/bmp', 'image/webp'];
/** Reference-to-video: images and videos together. */
export const R2V_MAX_REFERENCES = 5;
/** A reference video: MP4 or MOV, 1–30 s, at most 100 MB, as a link. */
export const VIDEO_MAX_BYTES = 100 * 1024 * 1024;

type Refusal = { param: string; message: string } | null;

/** What a Wan model cannot do with this request (checked at create time and before every submit). */
export function refuseWan(req: VideoRequest, upstreamModel: string): Refusal {
  const m = wanModel(upstreamModel);
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (!m.seconds.includes(req.seconds)) {
    const allowed = m.seconds.length > 3 ? `${m.seconds[0]} to ${m.seconds.at(-1)}` : m.seconds.join(' or ');
    return no('seconds', `makes videos of ${allowed} seconds, not ${req.seconds}.`);
  }
  const promptMax = m.form === 'resolution' ? PROMPT_MAX_27 : PROMPT_MAX;
  if (req.prompt.length > promptMax) return no('prompt', `takes prompts of at most ${promptMax} characters.`);
  const tier = tierOf(req);
  if (!m.tiers.includes(tier)) return no('resolution', `makes ${m.tiers.join(', ')} videos, not ${tier}.`);
  if (m.kind === 't2v' || (m.kind === 'r2v' && !req.firstFrame)) {
    if (req.firstFrame) return no('first_frame', 'makes videos from text only (use its image-to-video model for a first frame).');
    const ratios = m.form === 'size' ? Object.keys(WAN_SIZES[tier] ?? {}) : WAN27_RATIOS;
    if (req.aspectRatio !== 'adaptive' && !ratios.includes(req.aspectRatio)) return no('aspect_ratio', `makes ${ratios.join(', ')} videos at ${tier}, not ${req.aspectRatio}.`);
  } else if (!req.firstFrame && m.kind !== 'r2v') {
    return no('first_frame', 'makes videos from a first frame only.');
  }
  if (req.lastFrame && !m.lastFrame) return no('last_frame', 'takes no last frame.');
  if (m.kind === 'kf2v' && !req.lastFrame) return no('last_frame', 'needs a first and a last frame.');
  if (req.audio && m.audio === 'none') return no('audio', 'makes no sound.');
  if (req.negativePrompt !== undefined && req.negativePrompt.length > NEGATIVE_MAX) return no('negative_prompt', `takes negative prompts of at most ${NEGATIVE_MAX} characters.`);
  if (req.seed !== undefined && (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > 2_147_483_647)) return no('seed', 'takes a seed from 0 to 2147483647.');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  for (const f of [req.firstFrame, req.lastFrame]) {
    if (!f) continue;
    if (f.kind !== 'image' || !IMAGE_TYPES.includes(f.contentType)) return no(f.role, 'takes JPEG, PNG, BMP or WebP images as frames.');
    if (f.width !== undefined && f.height !== undefined && (Math.min(f.width, f.height) < 240 || Math.max(f.width, f.height) > 8000)) return no(f.role, 'takes frames of 240 to 8000 pixels a side.');
  }
  const audio = req.references.filter((r) => r.kind === 'audio');
  const visual = req.references.length - audio.length;
  if (m.kind === 'r2v') {
    if (visual < 1 || visual > R2V_MAX_REFERENCES) return no('references', `needs 1 to ${R2V_MAX_REFERENCES} reference images or videos.`);
    if (req.references.some((r) => r.kind === 'video') && req.seconds > 10) return no('seconds', 'makes at most 10 seconds with a reference video.');
    for (const ref of req.references) {
      if (ref.kind === 'image' && !IMAGE_TYPES.includes(ref.contentType)) return no('references', 'takes JPEG, PNG, BMP or WebP reference images.');
      if (ref.kind === 'video' && ref.durationSeconds !== undefined && (ref.durationSeconds < 1 || ref.durationSeconds > 30)) return no('references', 'takes reference videos of 1 to 30 seconds.');
    }
  } else if (visual > 0) return no('references', 'takes no reference images or videos.');
  if (audio.length > 1 || (audio.length === 1 && !m.drivingAudio)) return no('references', m.drivingAudio ? 'takes one driving audio.' : 'takes no audio.');
  const a = audio[0];
  if (a?.durationSeconds !== undefined && (a.durationSeconds < 3 || a.durationSeconds > 30)) return no('references', 'takes a driving audio of 3 to 30 seconds.');
  if (a?.bytes !== undefined && a.bytes > AUDIO_MAX_BYTES) return no('references', 'takes a driving audio of at most 15 MB.');
  const o = req.options;
  if (o.prompt_extend !== undefined && typeof o.prompt_extend !== 'boolean') return no('prompt_extend', 'takes prompt_extend as true or false.');
  if (o.watermark !== undefined && typeof o.watermark !== 'boolean') return no('watermark', 'takes watermark as true or false.');
  if (o.shot_type !== undefined && (!m.shotType || m.kind !== 't2v' || (o.shot_type !== 'single' && o.shot_type !== 'multi'))) return no('shot_type', m.shotType && m.kind === 't2v' ? "takes shot_type 'single' or 'multi'." : 'takes no shot_type.');
  if (o.shot_type === 'multi' && o.prompt_extend === false) return no('shot_type', 'makes multi-shot videos only with prompt_extend on.');
  return null;
}
