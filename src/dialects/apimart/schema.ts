/**
 * The create body of POST /v1/videos/generations as a Zod schema: `apimartCreateBody` is every
 * field of apimart's common set (spec/apimart-apigo.md §2.2; a model's own options come flat
 * besides them); `apimartCreateBodyFor(model)` narrows it to what one model takes, which
 * GET /v1/model-schema publishes as JSON Schema. validate.ts enforces the same rules with
 * apimart's error wording.
 */
import { z } from 'zod';
import type { ModelSpec } from '../../core/catalog.js';
import { aspectRatiosOf, durationsOf, resolutionsOf } from '../../core/catalog.js';
import type { AspectRatio } from '../../core/video-request.js';
import { ASPECT_RATIOS } from '../../core/video-request.js';
import { audioSchema } from '../openai/schema.js';
import { byRatioOrder } from '../request.js';
import { PROMPT_MAX, imageUrlsMeaning } from './validate.js';

const url = z.string().regex(/^https?:\/\//i).describe('A public http(s) URL.');
const frameImage = z.string().regex(/^(data:|https?:\/\/)/i).describe('An http(s) URL, or a data: URL (base64).');
const prompt = z.string().min(1).max(PROMPT_MAX).describe('Scene, action, mood.');
const NAMES: Partial<Record<AspectRatio, string>> = { '16:9': 'landscape', '9:16': 'portrait', '1:1': 'square' };

/** Every field of apimart's common set (any model). */
export const apimartCreateBody = z.looseObject({
  model: z.string().optional().describe('Model id or alias; default sora-2-preview.'),
  prompt,
  duration: z.int().positive().optional().describe('Seconds, an integer from the model’s set.'),
  aspect_ratio: z.union([z.enum(ASPECT_RATIOS), z.enum(['landscape', 'portrait', 'square'])]).optional(),
  resolution: z.string().optional().describe('720p / 1080p / 4K in any case; Sora: standard / high.'),
  image_urls: z.array(url).optional().describe("The model's meaning: first frame; first + last frame; or reference images."),
  first_frame_image: frameImage.optional(),
  last_frame_image: frameImage.optional(),
  reference_images: z.array(url).optional(),
  negative_prompt: z.string().optional(),
  seed: z.int().optional(),
  generate_audio: z.boolean().optional(),
  mode: z.string().optional(),
  callback_url: url.optional(),
}).meta({ id: 'ApimartCreateGeneration' });

/** Every spelling of each resolution the model takes (apimart accepts any case). */
function resolutionSpellings(m: ModelSpec): string[] {
  const out = new Set<string>();
  for (const r of resolutionsOf(m)) {
    out.add(r);
    out.add(r.toUpperCase());
    if (r === 'high') out.add('1024p');
  }
  return [...out];
}

/** The create body one model takes: only its fields, each narrowed to its values. */
export function apimartCreateBodyFor(m: ModelSpec) {
  const durations = durationsOf(m);
  const ratios = byRatioOrder(aspectRatiosOf(m));
  const meaning = imageUrlsMeaning(m);
  const shape: Record<string, z.ZodType> = {
    model: z.enum([m.id, ...m.aliases] as [string, ...string[]]),
    prompt,
    duration: (durations.length === 1 ? z.literal(durations[0]!) : z.literal(durations as [number, ...number[]])).optional(),
    aspect_ratio: z.enum([...ratios, ...ratios.flatMap((r) => (NAMES[r] ? [NAMES[r]] : []))] as [string, ...string[]]).optional(),
    resolution: z.enum(resolutionSpellings(m) as [string, ...string[]]).optional(),
    generate_audio: audioSchema(m).optional(),
    callback_url: url.optional(),
  };
  if (meaning === 'first_frame') shape.image_urls = z.array(url).describe('Only the first entry is used: the first frame; its own aspect ratio decides the video’s.');
  if (meaning === 'first_last_frame') shape.image_urls = z.array(url).max(2).describe('The first frame and, optionally, the last frame.');
  if (meaning === 'references') shape.image_urls = z.array(url).max(m.references.images).describe('Reference images.');
  if (m.firstFrame) shape.first_frame_image = frameImage;
  if (m.lastFrame) shape.last_frame_image = frameImage;
  if (m.references.images > 0 && meaning !== 'references') shape.reference_images = z.array(url).max(m.references.images);
  if (m.negativePrompt) shape.negative_prompt = z.string();
  if (m.seed) shape.seed = z.int().min(m.seed.min).max(m.seed.max);
  if (m.modes?.length) shape.mode = z.enum(m.modes as [string, ...string[]]);
  for (const k of m.options) shape[k] = z.unknown();
  for (const k of ['image_urls', 'first_frame_image', 'last_frame_image', 'reference_images', 'negative_prompt', 'seed', 'mode', ...m.options]) {
    if (shape[k]) shape[k] = shape[k].optional();
  }
  return z.strictObject(shape).describe(`POST /v1/videos/generations for ${m.id}`);
}
