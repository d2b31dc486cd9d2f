import type { Catalog, ModelSpec, Size } from '../../core/catalog.js';
import { aspectRatiosOf, defaultSizeOf, durationsOf, formatSize, parseSize, resolutionsOf, sizesOf } from '../../core/catalog.js';
import type { CreateFields } from '../../core/create.js';
import type { AspectRatio, Resolution } from '../../core/video-request.js';
import { ASPECT_RATIOS, RESOLUTIONS } from '../../core/video-request.js';
import type { Shape, Voice } from '../request.js';
import {
  byRatioOrder, checkAspectRatio, checkAudio, checkDuration, checkMedia, checkMode, checkNegativePrompt, checkOptions, checkResolution,
  checkSeed, quoteList, sameResolution, shapeAt, shapeOfSize, sizeForImage,
} from '../request.js';
import type { ApiError} from '../../core/errors.js';
import { invalid } from '../../core/errors.js';
import type { ReferenceInput } from '../../core/reference.js';
import type { RequestBody } from '../../http/body.js';

/** Validation in OpenAI's wording: every error is a 400 invalid_request_error naming the param. */

export const PROMPT_MAX = 32_000;

const typeName = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
};


export const missing = (param: string): ApiError => invalid(param, `Missing required parameter: '${param}'.`, 'missing_required_parameter');

const wrongType = (param: string, expected: string, got: unknown): ApiError =>
  invalid(param, `Invalid type for '${param}': expected ${expected}, but got ${typeName(got)} instead.`, 'invalid_type');

export function parsePrompt(value: unknown): string {
  if (value === undefined || value === null) throw missing('prompt');
  if (typeof value !== 'string') throw wrongType('prompt', 'a string', value);
  const length = [...value].length;
  if (value.trim().length === 0) {
    throw invalid('prompt', "Invalid 'prompt': empty string. Expected a string describing the video, with at least one non-blank character.", 'empty_string');
  }
  if (length > PROMPT_MAX) {
    throw invalid(
      'prompt',
      `Invalid 'prompt': string too long. Expected a string with maximum length ${PROMPT_MAX}, but got a string with length ${length} instead.`,
      'string_above_max_length',
    );
  }
  return value;
}

export function parseModel(value: unknown, catalog: Catalog, fallback: string): ModelSpec {
  if (value === undefined || value === null || value === '') return catalog.get(fallback)!;
  if (typeof value !== 'string') throw wrongType('model', 'a string', value);
  const model = catalog.get(value);
  if (!model) {
    throw invalid(
      'model',
      `Invalid value for 'model': '${value}' is not a video model served by this gateway. Available models: ${catalog.list().map((m) => m.id).join(', ')}.`,
      'model_not_found',
    );
  }
  return model;
}

/** `seconds` is a string on the wire; a JSON number gets the 400 OpenAI gives. */
export function parseSeconds(value: unknown, model: ModelSpec): number {
  const allowed = durationsOf(model).map(String);
  if (value === undefined || value === null || value === '') return model.defaults.seconds;
  if (typeof value !== 'string') throw wrongType('seconds', `one of ${quoteList(allowed)}`, value);
  if (!allowed.includes(value)) {
    throw invalid(
      'seconds',
      `Invalid value for 'seconds': '${value}'. Supported values for ${model.id} are ${quoteList(allowed)} (a string).`,
      'invalid_value',
    );
  }
  return Number(value);
}

export function parseSizeParam(value: unknown, model: ModelSpec, catalog: Catalog): Size {
  if (value === undefined || value === null || value === '') return defaultSizeOf(model);
  if (typeof value !== 'string') throw wrongType('size', 'a string such as 720x1280', value);
  const sizes = sizesOf(model);
  if (!sizes.includes(value)) {
    const elsewhere = catalog.list().filter((m) => sizesOf(m).includes(value)).map((m) => m.id);
    const hint = elsewhere.length ? ` ${value} is available on ${elsewhere.slice(0, 3).join(', ')}.` : '';
    throw invalid(
      'size',
      `Invalid value for 'size': '${value}'. Supported values for ${model.id} are ${quoteList(sizes)}.${hint}`,
      'invalid_value',
    );
  }
  return parseSize(value)!;
}

/**
 * input_reference: a file part, or an object {image_url} (a data URL, or an http(s) URL).
 * A bare string that is a URL is accepted too; any other string gets OpenAI's invalid_type 400.
 * `last_frame` takes the same forms.
 */
export function parseReference(body: RequestBody, param = 'input_reference'): ReferenceInput | null {
  const file = body.files.get(param);
  const value = body.fields[param];
  if (file) {
    if (value !== undefined) {
      throw invalid(param, `Provide '${param}' either as a file or as ${param}[image_url], not both.`);
    }
    return { kind: 'bytes', data: file.data, param };
  }
  if (value === undefined || value === null || value === '') return null;
  return imageInput(value, param, true);
}

/** One image given as a URL string or as {image_url}. `fileExpected`: the field also takes a file part (wording). */
function imageInput(value: unknown, param: string, fileExpected: boolean): ReferenceInput {
  if (typeof value === 'string') {
    if (/^(data:|https?:\/\/)/i.test(value.trim())) return urlReference(value.trim(), param);
    throw invalid(
      param,
      fileExpected
        ? `Invalid type for '${param}': expected a file, but got a string instead.`
        : `Invalid value for '${param}': expected a data: URL or an http(s) URL of an image.`,
      fileExpected ? 'invalid_type' : 'invalid_url',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw wrongType(param, fileExpected ? 'a file or an object with image_url' : 'an image URL or an object with image_url', value);
  const obj = value as Record<string, unknown>;
  if (obj.file_id !== undefined) {
    throw invalid(
      param,
      `${param}.file_id is not supported by this gateway: upload the image as a file part, or pass ${param}.image_url (a data URL or an http(s) URL).`,
      'unsupported_parameter',
    );
  }
  if (typeof obj.image_url !== 'string' || obj.image_url.trim() === '') {
    throw invalid(param, `${param} must contain 'image_url': a base64 data URL or an http(s) URL of a jpeg, png or webp image.`);
  }
  return urlReference(obj.image_url.trim(), param);
}

/** reference_images: file parts `reference_images[]`, or an array of URLs / {image_url} objects. */
export function parseReferenceImages(body: RequestBody): ReferenceInput[] {
  const files = [...(body.fileLists.get('reference_images[]') ?? []), ...(body.fileLists.get('reference_images') ?? [])];
  const value = body.fields.reference_images;
  const out: ReferenceInput[] = files.map((f, i) => ({ kind: 'bytes', data: f.data, param: `reference_images[${i}]` }));
  if (value === undefined || value === null || value === '') return out;
  const items = Array.isArray(value) ? value : body.multipart && typeof value === 'string' ? [value] : null;
  if (!items) throw wrongType('reference_images', 'an array of image URLs or {image_url} objects', value);
  items.forEach((item, i) => out.push(imageInput(item, `reference_images[${files.length + i}]`, false)));
  return out;
}

function urlReference(url: string, param: string): ReferenceInput {
  if (/^data:/i.test(url)) return { kind: 'data-url', url, param };
  if (/^https?:\/\//i.test(url)) return { kind: 'url', url, param };
  throw invalid(param, `'${param}' image_url must be a data: URL or an http(s) URL.`, 'invalid_url');
}

/** Capability refusals in OpenAI's wording. */
export const openaiVoice: Voice = {
  notAllowed: (param, value, model, allowed) =>
    invalid(param, `Invalid value for '${param}': '${value}'. Supported values for ${model.id} are ${quoteList(allowed)}.`, 'invalid_value'),
  notTaken: (param, model, detail) => invalid(param, `Unsupported parameter: '${param}' is not supported by ${model.id}: ${detail}`, 'unsupported_parameter'),
};

const absent = (v: unknown): boolean => v === undefined || v === null || v === '';

/** A boolean; multipart sends "true" / "false". */
function parseBool(v: unknown, param: string): boolean | undefined {
  if (absent(v)) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw wrongType(param, 'a boolean', v);
}

/** An integer; multipart sends digits. */
function parseInteger(v: unknown, param: string, multipart: boolean): number | undefined {
  if (absent(v)) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (multipart && typeof v === 'string' && /^-?\d{1,15}$/.test(v.trim())) return Number(v.trim());
  throw wrongType(param, 'an integer', v);
}

function parseText(v: unknown, param: string, max = PROMPT_MAX): string | undefined {
  if (absent(v)) return undefined;
  if (typeof v !== 'string') throw wrongType(param, 'a string', v);
  if ([...v].length > max) throw invalid(param, `Invalid '${param}': string too long. Expected a string with maximum length ${max}.`, 'string_above_max_length');
  return v;
}

/**
 * Values of multipart bracket fields (`metadata[loop]=true`, what the SDKs send for an object
 * in a multipart body) read back as JSON would have them: `true` / `false` and numbers.
 */
function typedFormValues(v: unknown): unknown {
  if (typeof v === 'string') {
    if (v === 'true' || v === 'false') return v === 'true';
    return /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(v) && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  if (Array.isArray(v)) return v.map(typedFormValues);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typedFormValues(x)]));
  return v;
}

/** metadata: an object of the model's option keys (in multipart a JSON string, or bracket fields). */
function parseMetadata(v: unknown, multipart: boolean): Record<string, unknown> {
  if (absent(v)) return {};
  let value = v;
  if (typeof v === 'string') {
    try {
      value = JSON.parse(v);
    } catch {
      throw invalid('metadata', `Invalid value for 'metadata': expected a JSON object${multipart ? ' (a JSON string in multipart)' : ''}.`, 'invalid_json');
    }
  } else if (multipart) {
    value = typedFormValues(v);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw wrongType('metadata', 'an object', value);
  return value as Record<string, unknown>;
}

const AUDIO_PARAMS = ['generate_audio', 'audio', 'sound'] as const;

/** generate_audio, or its aliases audio / sound; several given must agree. */
function parseAudio(f: Record<string, unknown>, model: ModelSpec): boolean {
  let found: { param: string; value: boolean } | undefined;
  for (const param of AUDIO_PARAMS) {
    const value = parseBool(f[param], param);
    if (value === undefined) continue;
    if (found && found.value !== value) {
      throw invalid(param, `'${found.param}' (${found.value}) and '${param}' (${value}) disagree: give the audio flag once.`, 'conflicting_parameters');
    }
    found ??= { param, value };
  }
  return checkAudio(model, found?.value, found?.param ?? 'generate_audio', openaiVoice);
}

function parseResolutionField(v: unknown, model: ModelSpec): Resolution | undefined {
  if (absent(v)) return undefined;
  const offered = resolutionsOf(model);
  if (typeof v !== 'string') throw wrongType('resolution', `one of ${quoteList(offered)}`, v);
  const r = v.trim().toLowerCase();
  if (!(RESOLUTIONS as readonly string[]).includes(r)) throw openaiVoice.notAllowed('resolution', v, model, offered);
  return checkResolution(model, r as Resolution, v, 'resolution', openaiVoice);
}

function parseAspectField(v: unknown, model: ModelSpec): AspectRatio | undefined {
  if (absent(v)) return undefined;
  const offered = byRatioOrder(aspectRatiosOf(model));
  if (typeof v !== 'string') throw wrongType('aspect_ratio', `one of ${quoteList(offered)}`, v);
  const a = v.trim().toLowerCase();
  if (!(ASPECT_RATIOS as readonly string[]).includes(a)) throw openaiVoice.notAllowed('aspect_ratio', v, model, offered);
  return checkAspectRatio(model, a as AspectRatio, v, 'aspect_ratio', openaiVoice);
}

/** `size`, or `aspect_ratio` + `resolution` (each defaulting to the model's); both forms must agree. */
function parseShape(f: Record<string, unknown>, model: ModelSpec, catalog: Catalog): Shape {
  const resolution = parseResolutionField(f.resolution, model);
  const aspectRatio = parseAspectField(f.aspect_ratio, model);
  if (!absent(f.size)) {
    const size = parseSizeParam(f.size, model, catalog);
    const shape = shapeOfSize(model, formatSize(size), 'size', openaiVoice);
    if (aspectRatio !== undefined && aspectRatio !== shape.aspectRatio) {
      throw invalid('aspect_ratio', `'size' ${formatSize(size)} is ${shape.aspectRatio}, but 'aspect_ratio' is '${aspectRatio}': give one of them, or make them agree.`, 'conflicting_parameters');
    }
    if (resolution !== undefined && !sameResolution(model, resolution, shape.resolution)) {
      throw invalid('resolution', `'size' ${formatSize(size)} is ${shape.resolution} on ${model.id}, but 'resolution' is '${resolution}': give one of them, or make them agree.`, 'conflicting_parameters');
    }
    return { ...shape, resolution: resolution ?? shape.resolution };
  }
  return shapeAt(model, aspectRatio ?? model.defaults.aspectRatio, resolution ?? model.defaults.resolution, aspectRatio !== undefined || resolution === undefined ? 'aspect_ratio' : 'resolution', openaiVoice);
}

/** The length: `seconds` (a string) or `duration` (an integer); both given must agree. */
function parseLength(f: Record<string, unknown>, model: ModelSpec, multipart: boolean): number {
  const fromSeconds = absent(f.seconds) ? undefined : parseSeconds(f.seconds, model);
  const duration = parseInteger(f.duration, 'duration', multipart);
  if (duration !== undefined) checkDuration(model, duration, 'duration', openaiVoice);
  if (fromSeconds !== undefined && duration !== undefined && fromSeconds !== duration) {
    throw invalid('duration', `'seconds' ('${String(f.seconds)}') and 'duration' (${duration}) disagree: give the length once.`, 'conflicting_parameters');
  }
  return fromSeconds ?? duration ?? model.defaults.seconds;
}

/**
 * A whole create body (JSON or multipart) checked against the model's capabilities: every field
 * but the callback URL, in canonical form. Pure apart from reading `body`; the images are loaded
 * and checked by core/create.ts.
 */
export function parseCreateFields(body: RequestBody, catalog: Catalog, fallbackModel: string): CreateFields {
  const f = body.fields;
  const prompt = parsePrompt(f.prompt);
  const model = parseModel(f.model, catalog, fallbackModel);
  const seconds = parseLength(f, model, body.multipart);
  const shape = parseShape(f, model, catalog);
  const audio = parseAudio(f, model);
  const mode = checkMode(model, parseText(f.mode, 'mode', 64), 'mode', openaiVoice);
  const negativePrompt = checkNegativePrompt(model, parseText(f.negative_prompt, 'negative_prompt'), 'negative_prompt', openaiVoice);
  const seed = checkSeed(model, parseInteger(f.seed, 'seed', body.multipart), 'seed', openaiVoice);
  const options = checkOptions(model, parseMetadata(f.metadata, body.multipart), 'metadata', openaiVoice);
  const firstFrame = parseReference(body);
  const lastFrame = parseReference(body, 'last_frame');
  const references = parseReferenceImages(body);
  checkMedia(model, { firstFrame, firstParam: 'input_reference', lastFrame, lastParam: 'last_frame', references, referencesParam: 'reference_images' }, openaiVoice);
  const adaptive = shape.aspectRatio === 'adaptive' && firstFrame;
  const given = (k: string) => !absent(f[k]);
  // The fields an upstream's refusal may name, as this request spelled them.
  const names: Record<string, string> = {
    seconds: !given('seconds') && given('duration') ? 'duration' : 'seconds',
    aspect_ratio: !given('aspect_ratio') && given('size') ? 'size' : 'aspect_ratio',
    resolution: !given('resolution') && given('size') ? 'size' : 'resolution',
    audio: AUDIO_PARAMS.find(given) ?? 'generate_audio',
    first_frame: 'input_reference',
    references: 'reference_images',
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
    reference: firstFrame,
    lastFrame,
    references,
    ...(adaptive ? { sizeFromReference: (image: Size) => sizeForImage(model, shape.resolution, image)!.size } : {}),
    fieldName: (field) => names[field] ?? (Object.hasOwn(options, field) ? `metadata.${field}` : field),
  };
}
