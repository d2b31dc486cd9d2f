import { z } from 'zod';
import type { VideoRequest } from '../core/video-request.js';
import { mediaRef } from './media.js';
import type { UpstreamMedia } from './types.js';

/**
 * Where a canonical request goes in a model's free-form input object, for hosts whose inputs
 * differ per model (Replicate predictions, fal endpoints): the operator says, per upstream model,
 * which input field takes the prompt, the first / last frame, the duration (and in what form),
 * the aspect ratio, the tier… and which values the model accepts. What the request carries and
 * the model has no field for is refused before anything is sent; what the model does not accept
 * (a length, a ratio, a tier outside its lists) is refused too.
 */
export const inputMapSchema = z
  .object({
    /** Field of the prompt (default `prompt`). */
    prompt: z.string().min(1).default('prompt'),
    negative_prompt: z.string().min(1).optional(),
    seed: z.string().min(1).optional(),
    /** Field of the first frame (a URL or data URI). */
    first_frame: z.string().min(1).optional(),
    last_frame: z.string().min(1).optional(),
    /** Field of the reference images (an array of URLs / data URIs). */
    references: z.string().min(1).optional(),
    max_references: z.number().int().positive().optional(),
    duration: z.string().min(1).optional(),
    /** How the length is written: `5` (integer), `"5"` (string) or `"5s"` (seconds_suffix). */
    duration_format: z.enum(['integer', 'string', 'seconds_suffix']).default('integer'),
    /** The lengths the model makes (seconds); unset: any length is passed on. */
    durations: z.array(z.number().int().positive()).min(1).optional(),
    aspect_ratio: z.string().min(1).optional(),
    /** The ratios the model makes (`16:9`, …); unset: any ratio is passed on. */
    aspect_ratios: z.array(z.string().min(1)).min(1).optional(),
    resolution: z.string().min(1).optional(),
    /** Tier → the model's word for it (`{"720p": "768p"}`); its keys are the tiers the model makes. */
    resolutions: z.record(z.string(), z.string()).optional(),
    /** Field of the sound switch (a boolean). */
    audio: z.string().min(1).optional(),
    /** Request options passed on as inputs of the same name. */
    options: z.array(z.string().min(1)).optional(),
    /** Constant inputs sent with every request. */
    fixed: z.record(z.string(), z.unknown()).optional(),
    /** Largest inline image (MB) when the gateway has no public URL (default 10). */
    image_max_mb: z.number().positive().max(100).optional(),
  })
  .strict();

export type InputMap = z.infer<typeof inputMapSchema>;

type Refusal = { param: string; message: string } | null;

/** Sora's `standard` / `high` read as 720p / 1080p. */
const tierOf = (r: VideoRequest['resolution']): string => (r === 'standard' ? '720p' : r === 'high' ? '1080p' : r);

/** What this model (by its mapping) cannot do with the request, or null. */
export function refuseByMap(req: VideoRequest, upstreamModel: string, map: InputMap | undefined): Refusal {
  if (!map) return { param: 'model', message: `The channel has no input mapping for ${upstreamModel} (options.models).` };
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (map.durations && !map.durations.includes(req.seconds)) return no('seconds', `makes videos of ${map.durations.join(', ')} seconds, not ${req.seconds}.`);
  if (req.aspectRatio !== 'adaptive' && map.aspect_ratios && !map.aspect_ratios.includes(req.aspectRatio)) return no('aspect_ratio', `makes ${map.aspect_ratios.join(', ')} videos, not ${req.aspectRatio}.`);
  if (map.resolutions && !(tierOf(req.resolution) in map.resolutions)) return no('resolution', `makes ${Object.keys(map.resolutions).join(', ')} videos, not ${tierOf(req.resolution)}.`);
  if (req.firstFrame && (!map.first_frame || req.firstFrame.kind !== 'image')) return no('first_frame', 'takes no first frame image.');
  if (req.lastFrame && (!map.last_frame || req.lastFrame.kind !== 'image')) return no('last_frame', 'takes no last frame image.');
  if (req.references.length > 0 && (!map.references || req.references.some((r) => r.kind !== 'image'))) return no('references', 'takes no reference images.');
  if (map.max_references !== undefined && req.references.length > map.max_references) return no('references', `takes at most ${map.max_references} reference images.`);
  if (req.negativePrompt !== undefined && !map.negative_prompt) return no('negative_prompt', 'takes no negative prompt.');
  if (req.seed !== undefined && !map.seed) return no('seed', 'takes no seed.');
  if (req.audio && !map.audio) return no('audio', 'makes no sound.');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  const allowed = new Set(map.options ?? []);
  const unknown = Object.keys(req.options).find((k) => !allowed.has(k));
  if (unknown) return no(unknown, `takes no such option${allowed.size ? ` (only ${[...allowed].join(', ')})` : ''}.`);
  return null;
}

/** The model's input object for a request the mapping accepts. */
export async function inputsByMap(req: VideoRequest<UpstreamMedia>, map: InputMap): Promise<Record<string, unknown>> {
  const maxBytes = (map.image_max_mb ?? 10) * 1024 * 1024;
  const ref = (m: UpstreamMedia) => mediaRef(m, { maxBytes, inline: 'data-url' });
  const out: Record<string, unknown> = { ...(map.fixed ?? {}) };
  out[map.prompt] = req.prompt;
  if (map.duration) out[map.duration] = map.duration_format === 'integer' ? req.seconds : map.duration_format === 'string' ? String(req.seconds) : `${req.seconds}s`;
  if (map.aspect_ratio && req.aspectRatio !== 'adaptive') out[map.aspect_ratio] = req.aspectRatio;
  if (map.resolution) out[map.resolution] = map.resolutions?.[tierOf(req.resolution)] ?? tierOf(req.resolution);
  if (map.audio) out[map.audio] = req.audio;
  if (req.negativePrompt !== undefined && map.negative_prompt) out[map.negative_prompt] = req.negativePrompt;
  if (req.seed !== undefined && map.seed) out[map.seed] = req.seed;
  if (req.firstFrame && map.first_frame) out[map.first_frame] = await ref(req.firstFrame);
  if (req.lastFrame && map.last_frame) out[map.last_frame] = await ref(req.lastFrame);
  if (req.references.length > 0 && map.references) out[map.references] = await Promise.all(req.references.map(ref));
  for (const k of map.options ?? []) if (req.options[k] !== undefined) out[k] = req.options[k];
  return out;
}
