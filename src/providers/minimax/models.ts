import type { VideoRequest } from '../../core/video-request.js';

/**
 * What each MiniMax video model takes, by its upstream name (upstreams.md §8): which API it is
 * on, its resolutions and lengths, frames and references. A name of no known family gets its
 * API's most permissive rules and the upstream has the last word.
 *
 * - V1 (`POST /v1/video_generation`): `MiniMax-Hailuo-2.3` (text or first frame; 768P 6/10 s,
 *   1080P 6 s), `MiniMax-Hailuo-2.3-Fast` (first frame only), `MiniMax-Hailuo-02` (also 512P
 *   from a first frame, and a last frame), the 01 generation (`T2V-01[-Director]`,
 *   `I2V-01[-Director|-live]`, `S2V-01` with one subject-reference image; 720P, 6 s). No aspect
 *   ratio field: text-to-video is 16:9, a frame decides its own shape. No sound, seed or negative
 *   prompt.
 * - V2 (`POST /v2/video_generation`): `MiniMax-H3` (768P or 2K, 4–15 s) and `MiniMax-H3-Max`
 *   (480P or 768P, 5–15 s); `content[]` with first/last frame, reference images, video and
 *   audio; `ratio`; sound is always made.
 */
export interface MinimaxModel {
  api: 'v1' | 'v2';
  /** Resolution words the model takes, by canonical tier. */
  tiers: Readonly<Partial<Record<string, string>>>;
  /** Extra resolution words a client may name in `options.resolution` (H3's 2K). */
  extraResolutions: readonly string[];
  /** Accepted lengths for each resolution word (V1) or a range (V2). */
  seconds: (resolution: string) => readonly number[];
  /** Text-to-video is possible (2.3-Fast and I2V-01 need a first frame). */
  textToVideo: boolean;
  /** A first frame is possible (T2V-01 takes none). */
  firstFrame: boolean;
  /** Resolutions made only from a first frame (Hailuo-02's 512P). */
  frameOnly: readonly string[];
  lastFrame: boolean;
  /** V1: subject-reference images (S2V-01 takes exactly one). */
  subjectReference: boolean;
  /** V2: reference media. */
  references: boolean;
  /** V1: sends `duration` / `resolution` (the 01 generation takes neither). */
  sendsShape: boolean;
  fastPretreatment: boolean;
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const HAILUO_SECONDS = (res: string): readonly number[] => (res === '1080P' ? [6] : [6, 10]);

export function minimaxModel(name: string): MinimaxModel {
  const n = name.toLowerCase();
  const v1 = (m: Partial<MinimaxModel>): MinimaxModel => ({
    api: 'v1',
    tiers: { '720p': '768P', standard: '768P', '1080p': '1080P', high: '1080P' },
    extraResolutions: [],
    seconds: HAILUO_SECONDS,
    textToVideo: true,
    firstFrame: true,
    frameOnly: [],
    lastFrame: false,
    subjectReference: false,
    references: false,
    sendsShape: true,
    fastPretreatment: true,
    ...m,
  });
  if (/^minimax-h3/.test(n)) {
    const max = /^minimax-h3-max/.test(n);
    return {
      api: 'v2',
      tiers: max ? { '480p': '480P', '720p': '768P', standard: '768P' } : { '720p': '768P', standard: '768P' },
      extraResolutions: max ? [] : ['2K'],
      seconds: () => (max ? range(5, 15) : range(4, 15)),
      textToVideo: true,
      firstFrame: true,
      frameOnly: [],
      lastFrame: true,
      subjectReference: false,
      references: true,
      sendsShape: true,
      fastPretreatment: false,
    };
  }
  if (/hailuo-2\.3-fast/.test(n)) return v1({ textToVideo: false });
  if (/hailuo-2\.3/.test(n)) return v1({});
  if (/hailuo-02/.test(n)) return v1({ tiers: { '480p': '512P', '720p': '768P', standard: '768P', '1080p': '1080P', high: '1080P' }, frameOnly: ['512P'], lastFrame: true });
  const legacy = { tiers: { '720p': '720P', standard: '720P' }, seconds: () => [6], sendsShape: false, fastPretreatment: false };
  if (/^t2v-01/.test(n)) return v1({ ...legacy, firstFrame: false });
  if (/^i2v-01/.test(n)) return v1({ ...legacy, textToVideo: false });
  if (/^s2v-01/.test(n)) return v1({ ...legacy, firstFrame: false, subjectReference: true });
  // A name of no known family (a newer Hailuo): V1's widest rules; MiniMax has the last word.
  return v1({ tiers: { '480p': '512P', '720p': '768P', standard: '768P', '1080p': '1080P', high: '1080P' }, lastFrame: true });
}

/** The resolution word to send: the client's `options.resolution` where the model has extra ones, else by tier. */
export function resolutionOf(req: Pick<VideoRequest, 'resolution' | 'options'>, m: MinimaxModel): string | undefined {
  const asked = req.options.resolution;
  if (typeof asked === 'string' && m.extraResolutions.includes(asked)) return asked;
  return m.tiers[req.resolution];
}

/** V2 `ratio`: as asked; text-to-video cannot be `adaptive`, so the closest fixed one is taken from the frame size. */
export function ratioOf(req: Pick<VideoRequest, 'aspectRatio' | 'width' | 'height' | 'firstFrame'>): string {
  if (req.aspectRatio !== 'adaptive' || req.firstFrame) return req.aspectRatio;
  const r = req.width / req.height;
  const candidates: Array<[string, number]> = [['16:9', 16 / 9], ['9:16', 9 / 16], ['21:9', 21 / 9], ['4:3', 4 / 3], ['1:1', 1], ['3:4', 3 / 4]];
  return candidates.reduce((best, c) => (Math.abs(Math.log(c[1] / r)) < Math.abs(Math.log(best[1] / r)) ? c : best))[0];
}

const V2_RATIOS = ['adaptive', '16:9', '9:16', '21:9', '4:3', '1:1', '3:4'];
export const PROMPT_MAX = 2000;
/** Frames and reference images: JPG, PNG or WebP, under 20 MB, at least 300 px on the short side, between 2:5 and 5:2. */
export const IMAGE_MAX_BYTES = 20 * 1024 * 1024;
/** Reference video and audio (V2) go as links; their limits are MiniMax's to check. */
export const MEDIA_MAX_BYTES = 100 * 1024 * 1024;
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'];

type Refusal = { param: string; message: string } | null;

/** What a MiniMax model cannot do with this request (checked at create time and before every submit). */
export function refuseMinimax(req: VideoRequest, upstreamModel: string): Refusal {
  const m = minimaxModel(upstreamModel);
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (m.api === 'v1' && req.prompt.length > PROMPT_MAX) return no('prompt', `takes prompts of at most ${PROMPT_MAX} characters.`);
  const asked = req.options.resolution;
  if (asked !== undefined && !(typeof asked === 'string' && m.extraResolutions.includes(asked))) {
    return no('resolution', m.extraResolutions.length ? `takes options.resolution ${m.extraResolutions.join(', ')} only.` : 'takes no options.resolution (ask for a resolution tier).');
  }
  const res = resolutionOf(req, m);
  if (!res) return no('resolution', `makes ${[...new Set(Object.keys(m.tiers).filter((t) => t !== 'standard' && t !== 'high'))].join(', ')}${m.extraResolutions.length ? ` (or options.resolution ${m.extraResolutions.join(', ')})` : ''} videos, not ${req.resolution}.`);
  const seconds = m.seconds(res);
  if (!seconds.includes(req.seconds)) {
    const allowed = seconds.length > 3 ? `${seconds[0]} to ${seconds.at(-1)}` : seconds.join(' or ');
    return no('seconds', `makes ${allowed} second videos at ${res}, not ${req.seconds}.`);
  }
  if (m.api === 'v1' && req.audio) return no('audio', 'makes no sound.');
  if (req.seed !== undefined) return no('seed', 'takes no seed.');
  if (req.negativePrompt !== undefined) return no('negative_prompt', 'takes no negative prompt (describe what to avoid in the prompt).');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  if (req.firstFrame && !m.firstFrame) return no('first_frame', 'takes no first frame.');
  if (!req.firstFrame && !m.textToVideo) return no('first_frame', 'makes videos from a first frame only.');
  if (!req.firstFrame && m.frameOnly.includes(res)) return no('resolution', `makes ${res} only from a first frame.`);
  if (req.lastFrame && !m.lastFrame) return no('last_frame', 'takes no last frame.');
  if (req.lastFrame && !req.firstFrame) return no('last_frame', 'needs a first frame with a last frame.');
  if (m.api === 'v1' && !req.firstFrame && req.aspectRatio !== '16:9' && req.aspectRatio !== 'adaptive') {
    return no('aspect_ratio', `makes 16:9 videos from text (a first frame decides its own shape), not ${req.aspectRatio}.`);
  }
  if (m.api === 'v2' && !V2_RATIOS.includes(req.aspectRatio)) return no('aspect_ratio', `makes ${V2_RATIOS.filter((r) => r !== 'adaptive').join(', ')} videos, not ${req.aspectRatio}.`);
  if (m.subjectReference) {
    if (req.references.length !== 1 || req.references[0]!.kind !== 'image') return no('references', 'needs exactly one subject-reference image.');
  } else if (!m.references && req.references.length > 0) {
    return no('references', 'takes no references.');
  }
  for (const f of [req.firstFrame, req.lastFrame, ...req.references]) {
    if (!f || f.kind !== 'image') continue;
    const param = f.role === 'reference' ? 'references' : f.role;
    if (!IMAGE_TYPES.includes(f.contentType)) return no(param, 'takes JPG, PNG or WebP images.');
    if (f.width !== undefined && f.height !== undefined) {
      if (Math.min(f.width, f.height) < 300) return no(param, 'takes images of at least 300 pixels on the short side.');
      const r = f.width / f.height;
      if (r < 0.4 || r > 2.5) return no(param, 'takes images between 2:5 and 5:2.');
    }
  }
  for (const f of [req.firstFrame, req.lastFrame]) if (f && f.kind !== 'image') return no(f.role, 'takes images as frames.');
  const o = req.options;
  if (o.prompt_optimizer !== undefined && (m.api !== 'v1' || typeof o.prompt_optimizer !== 'boolean')) return no('prompt_optimizer', m.api === 'v1' ? 'takes prompt_optimizer as true or false.' : 'takes prompt_expansion_mode instead of prompt_optimizer.');
  if (o.fast_pretreatment !== undefined && (!m.fastPretreatment || typeof o.fast_pretreatment !== 'boolean')) return no('fast_pretreatment', m.fastPretreatment ? 'takes fast_pretreatment as true or false.' : 'takes no fast_pretreatment.');
  if (o.prompt_expansion_mode !== undefined && (m.api !== 'v2' || typeof o.prompt_expansion_mode !== 'string' || o.prompt_expansion_mode.length > 40)) return no('prompt_expansion_mode', m.api === 'v2' ? 'takes prompt_expansion_mode as a short string.' : 'takes prompt_optimizer instead of prompt_expansion_mode.');
  return null;
}
