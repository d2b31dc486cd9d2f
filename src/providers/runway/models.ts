import type { VideoRequest } from '../../core/video-request.js';

/**
 * What the models Runway serves take (runwayml/sdk-node `image-to-video.ts`, `text-to-video.ts`;
 * upstreams.md §6): Runway's own `gen4.5` (text or image) and `gen4_turbo` (image only), and the
 * Veo models Runway hosts under its own ids (`veo3.1`, `veo3.1_fast`, `veo3`). The ratio is a
 * pixel pair; Gen-4 makes 720p-class frames in six shapes, 2–10 s; Veo makes 720p or 1080p in
 * 16:9 or 9:16, 4, 6 or 8 s, with sound, from a first and optionally a last frame.
 * A model outside this table is refused (its parameters are not known, so nothing is guessed).
 */
export interface RunwayModel {
  text: boolean;
  image: boolean;
  lastFrame: boolean;
  /** Allowed seconds (a list) or a range. */
  seconds: readonly number[] | { min: number; max: number };
  /** Pixel pairs by canonical ratio and tier. */
  ratios: Readonly<Record<string, Readonly<Record<string, string>>>>;
  audio: boolean;
  seed: boolean;
  /** Longest promptText. */
  promptChars: number;
}

const GEN4_RATIOS = {
  '16:9': { '720p': '1280:720' },
  '9:16': { '720p': '720:1280' },
  '4:3': { '720p': '1104:832' },
  '3:4': { '720p': '832:1104' },
  '1:1': { '720p': '960:960' },
  '21:9': { '720p': '1584:672' },
};
const VEO_RATIOS = {
  '16:9': { '720p': '1280:720', '1080p': '1920:1080' },
  '9:16': { '720p': '720:1280', '1080p': '1080:1920' },
};

export const RUNWAY_MODELS: Readonly<Record<string, RunwayModel>> = {
  'gen4.5': { text: true, image: true, lastFrame: false, seconds: { min: 2, max: 10 }, ratios: GEN4_RATIOS, audio: false, seed: true, promptChars: 1000 },
  gen4_turbo: { text: false, image: true, lastFrame: false, seconds: { min: 2, max: 10 }, ratios: GEN4_RATIOS, audio: false, seed: true, promptChars: 1000 },
  'veo3.1': { text: true, image: true, lastFrame: true, seconds: [4, 6, 8], ratios: VEO_RATIOS, audio: true, seed: false, promptChars: 4000 },
  'veo3.1_fast': { text: true, image: true, lastFrame: true, seconds: [4, 6, 8], ratios: VEO_RATIOS, audio: true, seed: false, promptChars: 4000 },
  veo3: { text: true, image: true, lastFrame: false, seconds: [8], ratios: VEO_RATIOS, audio: true, seed: false, promptChars: 4000 },
};

/** Data-URI images are limited to 5 MB by Runway (links have 16 MB). */
export const RUNWAY_IMAGE_MAX_BYTES = 5 * 1024 * 1024;

/** Runway's tier for a request (Sora's `standard` / `high` read as 720p / 1080p). */
export function runwayTier(req: Pick<VideoRequest, 'resolution'>): string {
  if (req.resolution === 'standard') return '720p';
  if (req.resolution === 'high') return '1080p';
  return req.resolution;
}

/** The canonical ratio of a request: as asked, or (adaptive) the shape of the frame to be made. */
function ratioOf(req: Pick<VideoRequest, 'aspectRatio' | 'width' | 'height'>): string {
  if (req.aspectRatio !== 'adaptive') return req.aspectRatio;
  const r = req.width / req.height;
  const shapes: [string, number][] = [['16:9', 16 / 9], ['9:16', 9 / 16], ['4:3', 4 / 3], ['3:4', 3 / 4], ['1:1', 1], ['21:9', 21 / 9]];
  return shapes.reduce((best, s) => (Math.abs(s[1] - r) < Math.abs(best[1] - r) ? s : best))[0];
}

/** The pixel pair Runway wants for this request on this model, or undefined when it makes no such shape. */
export function runwayRatio(m: RunwayModel, req: Pick<VideoRequest, 'aspectRatio' | 'resolution' | 'width' | 'height'>): string | undefined {
  return m.ratios[ratioOf(req)]?.[runwayTier(req)];
}

const OPTIONS = new Set(['content_moderation']);

/** The request's `content_moderation` option: `"auto"` / `"low"`, or `{publicFigureThreshold}`. */
export function publicFigureThreshold(v: unknown): 'auto' | 'low' | undefined {
  const t = typeof v === 'object' && v !== null ? (v as Record<string, unknown>).publicFigureThreshold ?? (v as Record<string, unknown>).public_figure_threshold : v;
  return t === 'auto' || t === 'low' ? t : undefined;
}

type Refusal = { param: string; message: string } | null;

export function refuseRunway(req: VideoRequest, upstreamModel: string): Refusal {
  const m = RUNWAY_MODELS[upstreamModel];
  if (!m) return { param: 'model', message: `Runway model ${upstreamModel} is not one vidgate knows (${Object.keys(RUNWAY_MODELS).join(', ')}).` };
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  const okSeconds = Array.isArray(m.seconds) ? (m.seconds as readonly number[]).includes(req.seconds) : Number.isInteger(req.seconds) && req.seconds >= (m.seconds as { min: number }).min && req.seconds <= (m.seconds as { max: number }).max;
  if (!okSeconds) {
    const allowed = Array.isArray(m.seconds) ? (m.seconds as readonly number[]).join(', ') : `${(m.seconds as { min: number }).min} to ${(m.seconds as { max: number }).max}`;
    return no('seconds', `makes videos of ${allowed} seconds, not ${req.seconds}.`);
  }
  if (!runwayRatio(m, req)) {
    const shapes = Object.entries(m.ratios).flatMap(([r, t]) => Object.keys(t).map((tier) => `${r} ${tier}`));
    return no(req.aspectRatio !== 'adaptive' && !m.ratios[req.aspectRatio] ? 'aspect_ratio' : 'resolution', `makes ${shapes.join(', ')} videos, not ${req.aspectRatio} ${runwayTier(req)}.`);
  }
  if (!m.text && !req.firstFrame) return no('first_frame', 'makes videos from an image only: give a first frame.');
  if (req.firstFrame && req.firstFrame.kind !== 'image') return no('first_frame', 'takes an image as first frame.');
  if (req.lastFrame && (!m.lastFrame || req.lastFrame.kind !== 'image')) return no('last_frame', 'takes no last frame.');
  if (req.lastFrame && !req.firstFrame) return no('last_frame', 'takes a last frame only with a first frame.');
  if (req.references.length > 0) return no('references', 'takes no reference images.');
  if (req.audio && !m.audio) return no('audio', 'makes no sound.');
  if (req.seed !== undefined && !m.seed) return no('seed', 'takes no seed.');
  if (req.seed !== undefined && (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > 4294967295)) return no('seed', 'takes a seed from 0 to 4294967295.');
  if (req.negativePrompt !== undefined) return no('negative_prompt', 'takes no negative prompt.');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  if (req.prompt.length > m.promptChars) return no('prompt', `takes prompts of at most ${m.promptChars} characters.`);
  for (const [k, v] of Object.entries(req.options)) {
    if (!OPTIONS.has(k)) return no(k, 'takes no such option (only `content_moderation`).');
    if (!publicFigureThreshold(v)) return no(k, 'takes `content_moderation` "auto" or "low" (or `{"publicFigureThreshold": …}`).');
  }
  return null;
}
