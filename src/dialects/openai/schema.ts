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
// The broad body only checks types: validate.ts gives the precise 400 for values (route() runs it first).
const looseImage = z.union([
  z.string(),
  z
    .object({
      image_url: z.string().optional().meta({ description: 'A base64 data URL or an http(s) URL of a JPEG, PNG or WebP image.' }),
      file_id: z.string().optional().meta({ description: 'Not supported by this gateway (a 400 says so).' }),
    })
    .meta({ description: 'In multipart, sent as input_reference[image_url].' }),
]);
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
    prompt: z.string().describe(`What the video shows (1 to ${PROMPT_MAX} characters).`),
    seconds: z.string().optional().describe("Length in seconds, as a string (OpenAI); which lengths depend on the model (GET /v1/models). Or `duration`."),
    duration: integer.optional().describe('Length in seconds, as an integer. Must agree with `seconds` if both are given.'),
    size: z.string().optional().describe('"WxH"; which sizes depend on the model. Or `aspect_ratio` + `resolution`; both forms given must agree.'),
    aspect_ratio: z.string().optional().describe(`One of ${ASPECT_RATIOS.join(', ')} the model makes; \`adaptive\`: follow the first frame.`),
    resolution: z.string().optional().describe(`One of ${RESOLUTIONS.join(', ')} the model makes (any case).`),
    generate_audio: flag.optional().describe('Make an audio track ("true"/"false" in multipart). Aliases: `audio`, `sound`.'),
    audio: flag.optional().describe('Alias of generate_audio.'),
    sound: flag.optional().describe('Alias of generate_audio.'),
    negative_prompt: z.string().optional(),
    seed: integer.optional(),
    mode: z.string().optional().describe('Model mode (e.g. Kling std / pro).'),
    input_reference: looseImage.optional().describe('First frame (fitted to the frame: scaled and centre-cropped): a file part, {image_url} (a data URL or an http(s) URL), or that URL as a string.'),
    last_frame: looseImage.optional().describe('Last frame, in the same forms (fitted like the first).'),
    reference_images: z.union([z.array(looseImage), z.string()]).optional().describe('Reference images: URLs or {image_url} objects (multipart: file parts reference_images[]).'),
    metadata: z.union([z.record(z.string(), z.unknown()), z.string()]).optional().describe("The model's own options (a JSON string in multipart)."),
    callback_url: z.string().optional().describe("An https URL that receives the video.* events of this video, signed with the key's callback secret."),
  }).meta({ id: 'OpenAICreateVideo' });
}

/** POST /v1/videos/{id}/remix. */
export const openaiRemixBody = z.object({
  prompt: z.string().meta({ description: 'What to change in the source video.' }),
  callback_url: z.string().optional(),
});

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
