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

const describe = (v: unknown): string => (typeof v === 'string' ? `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}` : Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`);

/**
 * Every field of apimart's common set (any model), types only: validate.ts gives the precise 400
 * for values (route() runs it first). A model's own options come flat besides these.
 */
export const apimartCreateBody = z
  .object({
    model: z.string().optional().meta({ description: 'The video model or an alias (default sora-2-preview); GET /v1/models lists them.', examples: ['sora-2-preview'] }),
    prompt: z.string().meta({ description: 'What the video shows.', examples: ['A calico cat playing a piano on stage'] }),
    duration: z
      .number({
        error: (iss) =>
          typeof iss.input === 'string' && /^\s*\d+\s*$/.test(iss.input)
            ? `duration must be an integer, but got ${describe(iss.input)}. Send ${iss.input.trim()} without quotes.`
            : undefined,
      })
      .optional()
      .meta({ description: 'Clip length in seconds, an integer from the model’s set.' }),
    aspect_ratio: z.string().optional().meta({ description: `From the model's set: ${ASPECT_RATIOS.join(', ')} (landscape, portrait, square too). A first frame's own shape wins.` }),
    resolution: z.string().optional().meta({ description: '480p / 720p / 1080p / 4K in any case, as the model offers; Sora: standard (720p) or high (1024p).' }),
    image_urls: z
      .array(z.string({ error: (iss) => `${iss.path?.length ? `image_urls[${String(iss.path[iss.path.length - 1])}]` : 'image_urls[]'} must be a non-empty URL string, but got ${describe(iss.input)}.` }), {
        error: (iss) => `image_urls must be an array of image URLs (e.g. ["https://example.com/reference.jpg"]), but got ${describe(iss.input)}.`,
      })
      .optional()
      .meta({ description: "http(s) URLs with the model's meaning: the first frame (only the first entry used); first + last frame; or reference images." }),
    first_frame_image: z.string().optional().meta({ description: 'The first frame: an http(s) URL or a data: URL.' }),
    last_frame_image: z.string().optional().meta({ description: 'The last frame: an http(s) URL or a data: URL.' }),
    reference_images: z.array(z.string()).optional().meta({ description: 'Reference images (http(s) URLs), on models that take frames and references.' }),
    negative_prompt: z.string().optional(),
    seed: z.number().optional(),
    generate_audio: z.boolean().optional(),
    mode: z.string().optional().meta({ description: 'Model mode (e.g. Kling std / pro).' }),
    callback_url: z.string().optional().meta({ description: 'An https URL that receives the task\'s events, signed with the key\'s callback secret.' }),
  })
  .meta({ id: 'ApimartCreateGeneration' });

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
