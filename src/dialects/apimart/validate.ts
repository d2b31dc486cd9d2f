/**
 * Request validation for POST /v1/videos/generations, in apimart's terms (seed document
 * 002 and spec/apimart-apigo.md §2). Every error is a 400 that names the field and, where there
 * is a fixed set, lists the allowed values.
 */
import type { Catalog, ModelSpec, Size } from '../../core/catalog.js';
import { defaultSizeOf, durationsOf, parseSize, sizesOf as sizeTexts } from '../../core/catalog.js';

/** Resolution tier by the frame's shorter side (Sora's standard = 720p, high = 1024p). */
type Tier = '720p' | '1024p' | '1080p';
function tierOf(size: Size): Tier {
  const short = Math.min(size.width, size.height);
  if (short >= 1080) return '1080p';
  if (short >= 1024) return '1024p';
  return '720p';
}
import type { ApiError } from '../../core/errors.js';
import { invalid } from '../../core/errors.js';

export const DEFAULT_MODEL = 'sora-2-preview';
export const PROMPT_MAX = 32_000;

export type Orientation = 'landscape' | 'portrait' | 'square';

export interface GenerationRequest {
  model: ModelSpec;
  prompt: string;
  seconds: number;
  /** Orientation asked for with aspect_ratio (the reference image may override it). */
  orientation: Orientation;
  tier: Tier;
  /** Size for the asked orientation and resolution. */
  size: Size;
  /** The first image_urls entry (the only one used), if any. */
  imageUrl: string | null;
  /** Canonical spelling of what was asked for, kept with the task. */
  aspectRatio: string;
  resolution: string;
}

const describe = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the decimal ${v}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  return 'an object';
};

const list = (values: readonly (string | number)[]): string =>
  values.length <= 2 ? values.join(' or ') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;

const missing = (param: string, what: string): ApiError => invalid(param, `${param} is required: ${what}.`, 'missing_required_parameter');

/** Aspect ratio spellings → orientation. */
const ASPECTS: Record<string, Orientation> = {
  landscape: 'landscape',
  '16:9': 'landscape',
  portrait: 'portrait',
  '9:16': 'portrait',
  square: 'square',
  '1:1': 'square',
};
const ASPECT_CANONICAL: Record<Orientation, string> = { landscape: '16:9', portrait: '9:16', square: '1:1' };

/** Resolution names → pricing tier. `standard`/`high` are apimart's; the pixel names are accepted too. */
const RESOLUTIONS: Record<string, Tier> = { standard: '720p', high: '1024p', '720p': '720p', '1024p': '1024p', '1080p': '1080p' };
const TIER_NAME: Record<Tier, string> = { '720p': 'standard', '1024p': 'high', '1080p': '1080p' };

export function orientationOf(size: Size): Orientation {
  if (size.width > size.height) return 'landscape';
  if (size.height > size.width) return 'portrait';
  return 'square';
}

const sizesOf = (model: ModelSpec): Size[] => sizeTexts(model).map((s) => parseSize(s)!).filter(Boolean);

/** The model's size for an orientation at a tier, if it makes one. */
export function pickSize(model: ModelSpec, orientation: Orientation, tier: Tier): Size | undefined {
  return sizesOf(model).find((s) => orientationOf(s) === orientation && tierOf(s) === tier);
}

const fmt = (s: Size): string => `${s.width}x${s.height}`;

/** "720x1280 / 1280x720": the sizes a model makes at a tier. */
function sizesAt(model: ModelSpec, tier: Tier): string {
  return sizesOf(model).filter((s) => tierOf(s) === tier).map(fmt).join(' / ');
}

function tiersOf(model: ModelSpec): Tier[] {
  const order: Tier[] = ['720p', '1024p', '1080p'];
  const have = new Set(sizesOf(model).map(tierOf));
  return order.filter((t) => have.has(t));
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

function parseAspect(value: unknown, model: ModelSpec): Orientation {
  const allowed = 'landscape or 16:9, portrait or 9:16';
  if (value === undefined || value === null || value === '') return 'landscape';
  if (typeof value !== 'string') throw invalid('aspect_ratio', `aspect_ratio must be a string (${allowed}), but got ${describe(value)}.`, 'invalid_type');
  const orientation = ASPECTS[value.trim().toLowerCase()];
  if (!orientation) {
    throw invalid('aspect_ratio', `aspect_ratio '${value}' is not supported. Allowed values: ${allowed}.`, 'invalid_value');
  }
  if (!sizesOf(model).some((s) => orientationOf(s) === orientation)) {
    if (orientation === 'square') {
      throw invalid(
        'aspect_ratio',
        `aspect_ratio '${value}' is not supported: square (1:1) videos are not supported by ${model.id}. Use landscape (16:9) or portrait (9:16).`,
        'unsupported_value',
      );
    }
    throw invalid('aspect_ratio', `aspect_ratio '${value}' is not supported by ${model.id}.`, 'unsupported_value');
  }
  return orientation;
}

function parseResolution(value: unknown, model: ModelSpec, catalog: Catalog): Tier {
  const tiers = tiersOf(model);
  const allowedNames = tiers.map((t) => `'${TIER_NAME[t]}' (${sizesAt(model, t)})`);
  const allowed = `Allowed values for ${model.id}: ${list(allowedNames)}.`;
  if (value === undefined || value === null || value === '') {
    return tierOf(defaultSizeOf(model));
  }
  if (typeof value !== 'string') throw invalid('resolution', `resolution must be a string, but got ${describe(value)}. ${allowed}`, 'invalid_type');
  const tier = RESOLUTIONS[value.trim().toLowerCase()];
  if (!tier) throw invalid('resolution', `resolution '${value}' is not supported. ${allowed}`, 'invalid_value');
  if (!tiers.includes(tier)) {
    // Point at the models that do offer it, same family first (sora-2-preview → sora-2-pro-preview).
    const family = model.id.endsWith('-preview');
    const offering = catalog
      .list()
      .filter((m) => tiersOf(m).includes(tier))
      .sort((a, b) => Number(b.id.endsWith('-preview') === family) - Number(a.id.endsWith('-preview') === family))
      .map((m) => m.id);
    const where = offering.length ? ` It is only available on ${list(offering.slice(0, 3))}.` : '';
    throw invalid('resolution', `resolution '${value}' is not available on ${model.id}.${where} ${allowed}`, 'unsupported_value');
  }
  return tier;
}

function parseImageUrls(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const example = 'e.g. ["https://example.com/reference.jpg"]';
  if (!Array.isArray(value)) {
    throw invalid('image_urls', `image_urls must be an array of image URLs (${example}), but got ${describe(value)}.`, 'invalid_type');
  }
  value.forEach((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') {
      throw invalid(`image_urls[${i}]`, `image_urls[${i}] must be a non-empty URL string, but got ${describe(item)}.`, 'invalid_type');
    }
  });
  return value.length > 0 ? (value[0] as string).trim() : null;
}

/** Validate a generation request body. Order: model first (it decides the rest), then the fields as documented. */
export function parseGeneration(fields: Record<string, unknown>, catalog: Catalog): GenerationRequest {
  const model = parseModel(fields.model, catalog);
  const prompt = parsePrompt(fields.prompt);
  const seconds = parseDuration(fields.duration, model);
  const orientation = parseAspect(fields.aspect_ratio, model);
  const tier = parseResolution(fields.resolution, model, catalog);
  const size = pickSize(model, orientation, tier);
  if (!size) {
    throw invalid(
      'aspect_ratio',
      `aspect_ratio '${String(fields.aspect_ratio ?? 'landscape')}' is not available at resolution '${TIER_NAME[tier]}' on ${model.id}.`,
      'unsupported_value',
    );
  }
  const imageUrl = parseImageUrls(fields.image_urls);
  return {
    model,
    prompt,
    seconds,
    orientation,
    tier,
    size,
    imageUrl,
    aspectRatio: ASPECT_CANONICAL[orientation],
    resolution: TIER_NAME[tier],
  };
}

/**
 * The size once the reference image is known: its own orientation overrides aspect_ratio (a
 * square image keeps the asked orientation unless the model makes square videos). The
 * resolution asked for is kept.
 */
export function sizeForImage(req: GenerationRequest, image: Size, param: string): Size {
  let orientation = orientationOf(image);
  if (orientation === 'square' && !pickSize(req.model, 'square', req.tier)) orientation = req.orientation;
  const size = pickSize(req.model, orientation, req.tier);
  if (!size) {
    throw invalid(
      param,
      `${param} is a ${orientation} image (${image.width}x${image.height}), and its aspect ratio decides the video's, but ${req.model.id} makes no ${orientation} videos at resolution '${TIER_NAME[req.tier]}'. Use an image in one of the supported aspect ratios.`,
      'unsupported_image_aspect_ratio',
    );
  }
  return size;
}
