/**
 * The create body of POST /v1/videos as a Zod schema: `openaiCreateBody` is every field the
 * dialect reads (the JSON form; multipart sends the same names as strings, file parts for the
 * images, `reference_images[]` for several); `openaiCreateBodyFor(model)` narrows it to what one
 * model takes (its durations, sizes, aspect ratios, resolutions, audio, frames, references,
 * options), which GET /v1/model-schema publishes as JSON Schema. validate.ts enforces the same
 * rules with OpenAI's error wording.
 */
import { z } from 'zod';
import type { Catalog, ModelSpec } from '../../core/catalog.js';
import { aspectRatiosOf, durationsOf, resolutionsOf, sizesOf } from '../../core/catalog.js';
import { ASPECT_RATIOS, RESOLUTIONS } from '../../core/video-request.js';
import { byRatioOrder } from '../request.js';
import { PROMPT_MAX } from './validate.js';

const imageUrl = z.string().regex(/^(data:|https?:\/\/)/i).describe('A data: URL (base64) or an http(s) URL of a JPEG, PNG or WebP image.');
const imageInput = z.union([imageUrl, z.object({ image_url: imageUrl }).describe('{"image_url": …}; multipart: a file part instead')]);
const callbackUrl = z.string().regex(/^https?:\/\//i).describe('Notified (signed webhook) when the video finishes.');
const prompt = z.string().min(1).max(PROMPT_MAX).describe('What the video shows.');
// Multipart sends every value as a string: the broad schema takes those forms too.
const flag = z.union([z.boolean(), z.enum(['true', 'false'])]);
const integer = z.union([z.int(), z.string().regex(/^-?\d{1,15}$/)]);

/**
 * Every field of the create body (any model). With a catalogue, `model` names the models served.
 * (A function, like the OpenAPI document's use of it: GET /v1/model-schema gives one model's body.)
 */
export function openaiCreateBody(catalog?: Catalog) {
  return z.object({
    model: z
      .string()
      .optional()
      .describe(`Model id or alias (GET /v1/models); default sora-2.${catalog ? ` This gateway serves: ${catalog.list().map((m) => m.id).join(', ')}.` : ''}`),
    prompt,
    seconds: z.string().regex(/^\d+$/).optional().describe('Length in seconds, as a string (OpenAI). Or `duration`.'),
    duration: integer.optional().describe('Length in seconds, as an integer. Must agree with `seconds` if both are given.'),
    size: z.string().regex(/^\d{2,5}x\d{2,5}$/).optional().describe('"WxH". Or `aspect_ratio` + `resolution`; both forms given must agree.'),
    aspect_ratio: z.enum(ASPECT_RATIOS).optional().describe('`adaptive`: follow the first frame.'),
    resolution: z.enum(RESOLUTIONS).optional(),
    generate_audio: flag.optional().describe('Make an audio track ("true"/"false" in multipart). Aliases: `audio`, `sound`.'),
    audio: flag.optional().describe('Alias of generate_audio.'),
    sound: flag.optional().describe('Alias of generate_audio.'),
    negative_prompt: z.string().optional(),
    seed: integer.optional(),
    mode: z.string().optional().describe('Model mode (e.g. Kling std / pro).'),
    input_reference: imageInput.optional().describe('First frame (fitted to the frame: scaled and centre-cropped).'),
    last_frame: imageInput.optional().describe('Last frame (fitted like the first).'),
    reference_images: z.array(imageInput).optional().describe('Reference images (multipart: file parts reference_images[]).'),
    metadata: z.union([z.record(z.string(), z.unknown()), z.string()]).optional().describe("The model's own options (a JSON string in multipart)."),
    callback_url: callbackUrl.optional(),
  }).meta({ id: 'OpenAICreateVideo' });
}

const literalSet = <T extends string | number>(values: T[]) => (values.length === 1 ? z.literal(values[0]!) : z.literal(values as [T, ...T[]]));

/** The audio flag's schema on a model: fixed when the model cannot choose. */
export function audioSchema(m: ModelSpec) {
  if (m.audio.mode === 'none') return z.literal(false);
  if (m.audio.mode === 'always') return z.literal(true);
  return z.boolean();
}

/** The create body one model takes: only its fields, each narrowed to its values. */
export function openaiCreateBodyFor(m: ModelSpec) {
  const durations = durationsOf(m);
  const audio = audioSchema(m);
  const shape: Record<string, z.ZodType> = {
    model: z.enum([m.id, ...m.aliases] as [string, ...string[]]),
    prompt,
    seconds: z.enum(durations.map(String) as [string, ...string[]]).optional(),
    duration: literalSet(durations).optional(),
    size: z.enum(sizesOf(m) as [string, ...string[]]).optional(),
    aspect_ratio: z.enum(byRatioOrder(aspectRatiosOf(m)) as [string, ...string[]]).optional(),
    resolution: z.enum(resolutionsOf(m) as [string, ...string[]]).optional(),
    generate_audio: audio.optional(),
    audio: audio.optional(),
    sound: audio.optional(),
    callback_url: callbackUrl.optional(),
  };
  if (m.negativePrompt) shape.negative_prompt = z.string();
  if (m.seed) shape.seed = z.int().min(m.seed.min).max(m.seed.max);
  if (m.modes?.length) shape.mode = z.enum(m.modes as [string, ...string[]]);
  if (m.firstFrame) shape.input_reference = imageInput;
  if (m.lastFrame) shape.last_frame = imageInput;
  if (m.references.images > 0) shape.reference_images = z.array(imageInput).max(m.references.images);
  if (m.options.length) shape.metadata = z.strictObject(Object.fromEntries(m.options.map((k) => [k, z.unknown()]))).partial();
  for (const k of ['negative_prompt', 'seed', 'mode', 'input_reference', 'last_frame', 'reference_images', 'metadata']) {
    if (shape[k]) shape[k] = shape[k].optional();
  }
  return z.strictObject(shape).describe(`POST /v1/videos for ${m.id}`);
}
