/**
 * Request validation for POST /v1/videos/generations, in apimart's terms (seed document
 * 002 and spec/apimart-apigo.md §2, §5). Every error is a 400 that names the field and, where
 * there is a fixed set, lists the allowed values. Each model's fields are checked against its
 * capabilities (core/catalog.ts): `duration` and `aspect_ratio` from its sets, `resolution`
 * 720p/1080p/4K in any case (Sora's standard/high kept), `image_urls` with the model's meaning
 * (first frame; first + last frame; or reference images), `first_frame_image`,
 * `last_frame_image`, `negative_prompt`, `seed`, `generate_audio`, `mode`, and the model's own
 * option keys, flat in the body as apimart takes them.
 */
import type { Catalog, FixedRatio, ModelSpec, Size } from '../../core/catalog.js';
import { aspectRatiosOf, durationsOf, resolutionsOf, sizeOf } from '../../core/catalog.js';
import type { CreateFields } from '../../core/create.js';
import type { ApiError } from '../../core/errors.js';
import { invalid } from '../../core/errors.js';
import type { ReferenceInput } from '../../core/reference.js';
import type { AspectRatio, Resolution } from '../../core/video-request.js';
import type { Voice } from '../request.js';
import {
  byRatioOrder, checkAudio, checkMedia, checkMode, checkNegativePrompt, checkOptions, checkSeed, plainList, sameResolution, shapeAt, sizeForImage,
} from '../request.js';

export const DEFAULT_MODEL = 'sora-2-preview';
export const PROMPT_MAX = 32_000;

/** What the dialect parsed, ready for core/create.ts, plus what the task keeps for display. */
export interface GenerationRequest extends CreateFields {
  /** The apimart spelling of what was asked for, kept with the task (params). */
  aspectName: string;
  resolutionName: string;
  /** The first frame's URL as given (image_urls[0] / first_frame_image), kept with the task. */
  imageUrl: string | null;
}

/** What image_urls means on a model. */
export type ImageUrlsMeaning = 'first_frame' | 'first_last_frame' | 'references' | 'none';

export function imageUrlsMeaning(model: ModelSpec): ImageUrlsMeaning {
  if (model.firstFrame && model.lastFrame) return 'first_last_frame';
  if (model.firstFrame) return 'first_frame';
  if (model.references.images > 0) return 'references';
  return 'none';
}

const describe = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the decimal ${v}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  return 'an object';
};

const list = plainList;

const missing = (param: string, what: string): ApiError => invalid(param, `${param} is required: ${what}.`, 'missing_required_parameter');

/** Capability refusals in apimart's wording. */
export const apimartVoice: Voice = {
  notAllowed: (param, value, model, allowed) => invalid(param, `${param} '${value}' is not supported. Allowed values for ${model.id}: ${list(allowed)}.`, 'invalid_value'),
  notTaken: (param, model, detail) => invalid(param, `${param} is not supported by ${model.id}: ${detail}`, 'unsupported_parameter'),
};

/** apimart's names of aspect ratios (besides the ratios themselves). */
const ASPECT_NAMES: Record<string, AspectRatio> = { landscape: '16:9', portrait: '9:16', square: '1:1' };
const NAME_OF: Partial<Record<AspectRatio, string>> = { '16:9': 'landscape', '9:16': 'portrait', '1:1': 'square' };

/** Resolution spellings, any case; `1024p` is Sora's `high`. */
const RESOLUTION_NAMES: Record<string, Resolution> = {
  '480p': '480p', '720p': '720p', '1080p': '1080p', '4k': '4k', standard: 'standard', high: 'high', '1024p': 'high',
};

/** "720x1280 / 1280x720": the sizes a model makes at a resolution. */
const sizesAt = (model: ModelSpec, r: Resolution): string => Object.values(model.sizes[r] ?? {}).join(' / ');

/** The resolutions as apimart names them: Sora's 720p is shown as `standard` where both name the same frames. */
function shownResolutions(model: ModelSpec): Resolution[] {
  const all = resolutionsOf(model);
  return all.filter((r) => !(r === '720p' && all.includes('standard') && sameResolution(model, '720p', 'standard')));
}

function parsePrompt(value: unknown): string {
  if (value === undefined || value === null) throw missing('prompt', 'describe the video to generate (scene, action, mood)');
  if (typeof value !== 'string') throw invalid('prompt', `prompt must be a string, but got ${describe(value)}.`, 'invalid_type');
  if (value.trim() === '') throw invalid('prompt', 'prompt must not be empty: describe the video to generate.', 'empty_string');
  const length = [...value].length;
  if (length > PROMPT_MAX) {
    throw invalid('prompt', `prompt is too long: at most ${PROMPT_MAX} characters are allowed, but it has ${length}.`, 'string_above_max_length');
  }
  return value;
}

function parseModel(value: unknown, catalog: Catalog): ModelSpec {
  if (value === undefined || value === null || value === '') return catalog.get(DEFAULT_MODEL) ?? catalog.list()[0]!;
  if (typeof value !== 'string') throw invalid('model', `model must be a string such as "${DEFAULT_MODEL}", but got ${describe(value)}.`, 'invalid_type');
  const model = catalog.get(value);
  if (!model) {
    throw invalid(
      'model',
      `model '${value}' is not supported. Supported models: ${catalog.list().map((m) => m.id).join(', ')}.`,
      'model_not_found',
    );
  }
  return model;
}

function parseDuration(value: unknown, model: ModelSpec): number {
  const allowed = durationsOf(model);
  if (value === undefined || value === null) return model.defaults.seconds;
  const suffix = `Allowed values for ${model.id}: ${list(allowed)} (seconds, as an integer).`;
  if (typeof value !== 'number') {
    const hint = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? ` Send ${value.trim()} without quotes.` : '';
    throw invalid('duration', `duration must be an integer, but got ${describe(value)}.${hint} ${suffix}`, 'invalid_type');
  }
  if (!Number.isInteger(value) || !allowed.includes(value)) {
    throw invalid('duration', `duration ${value} is not supported. ${suffix}`, 'invalid_value');
  }
  return value;
}

/** "landscape or 16:9, portrait or 9:16": the model's ratios in apimart's spellings. */
function aspectChoices(model: ModelSpec): string {
  return byRatioOrder(aspectRatiosOf(model))
    .map((r) => (NAME_OF[r] ? `${NAME_OF[r]} or ${r}` : r))
    .join(', ');
}

/** The asked aspect ratio (undefined: not given). */
function parseAspect(value: unknown, model: ModelSpec): AspectRatio | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const allowed = aspectChoices(model);
  if (typeof value !== 'string') throw invalid('aspect_ratio', `aspect_ratio must be a string (${allowed}), but got ${describe(value)}.`, 'invalid_type');
  const key = value.trim().toLowerCase();
  const candidate = ASPECT_NAMES[key] ?? key;
  const ratio = aspectRatiosOf(model).find((r) => r === candidate);
  if (!ratio) {
    if (candidate === '1:1') {
      const use = byRatioOrder(aspectRatiosOf(model)).map((r) => (NAME_OF[r] ? `${NAME_OF[r]} (${r})` : r));
      throw invalid(
        'aspect_ratio',
        `aspect_ratio '${value}' is not supported: square (1:1) videos are not supported by ${model.id}. Use ${list(use)}.`,
        'unsupported_value',
      );
    }
    throw invalid('aspect_ratio', `aspect_ratio '${value}' is not supported. Allowed values: ${allowed}.`, 'invalid_value');
  }
  return ratio;
}

/** The asked resolution (undefined: not given). */
function parseResolution(value: unknown, model: ModelSpec, catalog: Catalog): Resolution | undefined {
  const shown = shownResolutions(model);
  const allowed = `Allowed values for ${model.id}: ${list(shown.map((r) => `'${r}' (${sizesAt(model, r)})`))}.`;
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid('resolution', `resolution must be a string, but got ${describe(value)}. ${allowed}`, 'invalid_type');
  const asked = RESOLUTION_NAMES[value.trim().toLowerCase()];
  if (!asked) throw invalid('resolution', `resolution '${value}' is not supported. ${allowed}`, 'invalid_value');
  const offered = resolutionsOf(model);
  const match = offered.find((r) => sameResolution(model, r, asked) || (r === asked));
  if (!match) {
    // Point at the models that do offer it, same family first (sora-2-preview → sora-2-pro-preview).
    const family = model.id.endsWith('-preview');
    const offering = catalog
      .list()
      .filter((m) => resolutionsOf(m).includes(asked))
      .sort((a, b) => Number(b.id.endsWith('-preview') === family) - Number(a.id.endsWith('-preview') === family))
      .map((m) => m.id);
    const where = offering.length ? ` It is only available on ${list(offering.slice(0, 3))}.` : '';
    throw invalid('resolution', `resolution '${value}' is not available on ${model.id}.${where} ${allowed}`, 'unsupported_value');
  }
  return asked;
}

function urlString(item: unknown, param: string): string {
  if (typeof item !== 'string' || item.trim() === '') {
    throw invalid(param, `${param} must be a non-empty URL string, but got ${describe(item)}.`, 'invalid_type');
  }
  return item.trim();
}

function parseUrlArray(value: unknown, param: string): string[] {
  if (value === undefined || value === null) return [];
  const example = 'e.g. ["https://example.com/reference.jpg"]';
  if (!Array.isArray(value)) {
    throw invalid(param, `${param} must be an array of image URLs (${example}), but got ${describe(value)}.`, 'invalid_type');
  }
  return value.map((item, i) => urlString(item, `${param}[${i}]`));
}

/** first_frame_image / last_frame_image: an http(s) URL, or a data: URL (base64). */
function parseFrameImage(value: unknown, param: string): ReferenceInput | null {
  if (value === undefined || value === null || value === '') return null;
  const url = urlString(value, param);
  return /^data:/i.test(url) ? { kind: 'data-url', url, param } : { kind: 'url', url, param };
}

const urlInput = (url: string, param: string): ReferenceInput => ({ kind: 'url', url, param });

function parseBoolean(value: unknown, param: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalid(param, `${param} must be a boolean (true or false), but got ${describe(value)}.`, 'invalid_type');
  return value;
}

function parseString(value: unknown, param: string, max = PROMPT_MAX): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(param, `${param} must be a string, but got ${describe(value)}.`, 'invalid_type');
  if ([...value].length > max) throw invalid(param, `${param} is too long: at most ${max} characters are allowed.`, 'string_above_max_length');
  return value;
}

function parseInteger(value: unknown, param: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(param, `${param} must be an integer, but got ${describe(value)}.`, 'invalid_type');
  return value;
}

/** Fields of the common set; any other key is one of the model's own options (or ignored when the model has none of that name). */
const COMMON = new Set([
  'model', 'prompt', 'duration', 'aspect_ratio', 'resolution', 'image_urls', 'first_frame_image', 'last_frame_image', 'reference_images',
  'negative_prompt', 'seed', 'generate_audio', 'mode', 'callback_url',
]);

/** The frames and references of a request, by what image_urls means on the model. */
function parseImages(fields: Record<string, unknown>, model: ModelSpec) {
  const urls = parseUrlArray(fields.image_urls, 'image_urls');
  const first = parseFrameImage(fields.first_frame_image, 'first_frame_image');
  const last = parseFrameImage(fields.last_frame_image, 'last_frame_image');
  const references = parseUrlArray(fields.reference_images, 'reference_images').map((u, i) => urlInput(u, `reference_images[${i}]`));
  const meaning = imageUrlsMeaning(model);
  let firstFrame: ReferenceInput | null = first;
  let lastFrame: ReferenceInput | null = last;
  let firstParam = 'first_frame_image';
  let lastParam = 'last_frame_image';
  let referencesParam = 'reference_images';
  if (urls.length > 0) {
    if (meaning === 'none') throw apimartVoice.notTaken('image_urls', model, 'it takes no images (text-to-video only).');
    if (meaning === 'references') {
      if (references.length) throw invalid('reference_images', `Give the reference images of ${model.id} once: in image_urls or in reference_images.`, 'conflicting_parameters');
      references.push(...urls.map((u, i) => urlInput(u, `image_urls[${i}]`)));
      referencesParam = 'image_urls';
    } else {
      if (first) throw invalid('first_frame_image', 'Give the first frame once: as image_urls[0] or as first_frame_image.', 'conflicting_parameters');
      firstFrame = urlInput(urls[0]!, 'image_urls[0]');
      firstParam = 'image_urls';
      if (meaning === 'first_last_frame') {
        if (urls.length > 2) {
          throw invalid('image_urls', `image_urls on ${model.id} is the first frame and, optionally, the last frame: at most 2 URLs, but got ${urls.length}.`, 'array_above_max_length');
        }
        if (urls.length === 2) {
          if (last) throw invalid('last_frame_image', 'Give the last frame once: as image_urls[1] or as last_frame_image.', 'conflicting_parameters');
          lastFrame = urlInput(urls[1]!, 'image_urls[1]');
          lastParam = 'image_urls';
        }
      }
      // 'first_frame': only the first entry is used, as apimart documents (the others are never fetched).
    }
  }
  return { firstFrame, lastFrame, references, firstParam, lastParam, referencesParam };
}

/** Validate a generation request body. Order: model first (it decides the rest), then the fields as documented. */
export function parseGeneration(fields: Record<string, unknown>, catalog: Catalog): GenerationRequest {
  const model = parseModel(fields.model, catalog);
  const prompt = parsePrompt(fields.prompt);
  const seconds = parseDuration(fields.duration, model);
  const askedRatio = parseAspect(fields.aspect_ratio, model);
  const askedResolution = parseResolution(fields.resolution, model, catalog);
  const resolution = askedResolution ?? model.defaults.resolution;
  // apimart's default is landscape where the model makes it.
  const ratio = askedRatio ?? (sizeOf(model, resolution, '16:9') ? '16:9' : model.defaults.aspectRatio);
  if (ratio !== 'adaptive' && !sizeOf(model, resolution, ratio)) {
    throw invalid(
      'aspect_ratio',
      `aspect_ratio '${String(fields.aspect_ratio ?? NAME_OF[ratio] ?? ratio)}' is not available at resolution '${String(fields.resolution ?? resolution)}' on ${model.id}.`,
      'unsupported_value',
    );
  }
  const shape = shapeAt(model, ratio, resolution, 'aspect_ratio', apimartVoice);
  const audio = checkAudio(model, parseBoolean(fields.generate_audio, 'generate_audio'), 'generate_audio', apimartVoice);
  const mode = checkMode(model, parseString(fields.mode, 'mode', 64), 'mode', apimartVoice);
  const negativePrompt = checkNegativePrompt(model, parseString(fields.negative_prompt, 'negative_prompt'), 'negative_prompt', apimartVoice);
  const seed = checkSeed(model, parseInteger(fields.seed, 'seed'), 'seed', apimartVoice);
  // The model's own options come flat in the body, in apimart's spelling.
  const options = checkOptions(model, Object.fromEntries(Object.entries(fields).filter(([k]) => !COMMON.has(k) && model.options.includes(k))), '', apimartVoice);
  const images = parseImages(fields, model);
  checkMedia(model, images, apimartVoice);
  const first = images.firstFrame;
  // The fields an upstream's refusal may name, as apimart spells them (the model's options are flat).
  const names: Record<string, string> = {
    seconds: 'duration',
    size: 'aspect_ratio',
    audio: 'generate_audio',
    first_frame: images.firstParam,
    last_frame: images.lastParam,
    references: images.referencesParam,
    reference_images: images.referencesParam,
    metadata: Object.keys(options)[0] ?? 'metadata',
  };
  return {
    model,
    prompt,
    seconds,
    size: shape.size,
    aspectRatio: shape.aspectRatio,
    resolution: shape.resolution,
    audio,
    ...(mode !== undefined ? { mode } : {}),
    ...(negativePrompt !== undefined ? { negativePrompt } : {}),
    ...(seed !== undefined ? { seed } : {}),
    options,
    reference: first,
    lastFrame: images.lastFrame,
    references: images.references,
    // apimart: the first frame's own aspect ratio overrides aspect_ratio (a square image keeps
    // the asked one unless the model makes square videos); the asked resolution is kept.
    ...(first ? { sizeFromReference: (image: Size) => frameSize(model, shape.resolution, ratio, image, first.param) } : {}),
    aspectName: shape.aspectRatio,
    resolutionName: shownResolutions(model).includes(shape.resolution) ? shape.resolution : 'standard',
    imageUrl: first && first.kind === 'url' ? first.url : null,
    fieldName: (field) => names[field] ?? field,
  };
}

/** The frame a first frame of this size gets on the model at the resolution. */
function frameSize(model: ModelSpec, resolution: Resolution, asked: AspectRatio, image: Size, param: string): Size {
  if (image.width === image.height && !sizeOf(model, resolution, '1:1') && asked !== 'adaptive') {
    const kept = sizeOf(model, resolution, asked as FixedRatio);
    if (kept) return kept;
  }
  const best = sizeForImage(model, resolution, image);
  if (!best) {
    throw invalid(param, `${param} (${image.width}x${image.height}) cannot be used: ${model.id} makes no video at resolution '${resolution}'.`, 'unsupported_image_aspect_ratio');
  }
  return best.size;
}
