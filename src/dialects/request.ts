/**
 * What both dialects check against a model's capabilities (core/catalog.ts) once a field's type
 * is right: durations, aspect ratio and resolution (and so the exact size), audio, mode, negative
 * prompt, seed, model-specific options, first / last frame and references. Whatever the model
 * cannot do is a 400 naming the field and listing what the model allows; nothing is changed
 * silently. Each dialect words the errors its own way (a Voice).
 */
import type { FixedRatio, ModelSpec, Size } from '../core/catalog.js';
import { aspectRatiosOf, durationsOf, pairOfSize, parseSize, resolutionsOf, sizeOf, sizesOf } from '../core/catalog.js';
import type { ApiError } from '../core/errors.js';
import { invalid } from '../core/errors.js';
import type { ReferenceInput } from '../core/reference.js';
import type { AspectRatio, Resolution } from '../core/video-request.js';
import { ASPECT_RATIOS } from '../core/video-request.js';

/** How a dialect words a capability refusal. */
export interface Voice {
  /** `value` is not in the model's set for `param`; `allowed` lists the set in the dialect's wording. */
  notAllowed(param: string, value: string, model: ModelSpec, allowed: string[]): ApiError;
  /** The model takes no `param` at all. */
  notTaken(param: string, model: ModelSpec, detail: string): ApiError;
}

export const quoteList = (values: readonly (string | number)[]): string => {
  const q = values.map((v) => `'${v}'`);
  return q.length <= 2 ? q.join(' or ') : `${q.slice(0, -1).join(', ')}, or ${q[q.length - 1]}`;
};

export const plainList = (values: readonly (string | number)[]): string =>
  values.length <= 2 ? values.join(' or ') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;

/** Aspect ratios in a fixed, readable order (16:9 first) — the model's own order is its documentation's. */
export const byRatioOrder = (ratios: readonly AspectRatio[]): AspectRatio[] =>
  [...ratios].sort((a, b) => ASPECT_RATIOS.indexOf(a) - ASPECT_RATIOS.indexOf(b));

/** Sora's apimart names of the same frames: `standard` is 720p. */
const SAME_FRAMES: Partial<Record<Resolution, Resolution>> = { standard: '720p', '720p': 'standard' };

/** Two resolutions name the same frames on this model (Sora's `standard` and `720p`). */
export function sameResolution(model: ModelSpec, a: Resolution, b: Resolution): boolean {
  if (a === b) return true;
  if (SAME_FRAMES[a] !== b) return false;
  const sa = model.sizes[a];
  const sb = model.sizes[b];
  return !!sa && !!sb && JSON.stringify(sa) === JSON.stringify(sb);
}

export function checkDuration(model: ModelSpec, seconds: number, param: string, voice: Voice, shown: (n: number) => string = String): number {
  const allowed = durationsOf(model);
  if (!allowed.includes(seconds)) throw voice.notAllowed(param, shown(seconds), model, allowed.map(shown));
  return seconds;
}

export interface Shape {
  aspectRatio: AspectRatio;
  resolution: Resolution;
  size: Size;
}

/** The first fixed ratio a model makes at a resolution (what `adaptive` shows before a first frame decides). */
function firstRatioAt(model: ModelSpec, resolution: Resolution): FixedRatio | undefined {
  return Object.keys(model.sizes[resolution] ?? {})[0] as FixedRatio | undefined;
}

export function checkResolution(model: ModelSpec, value: Resolution, raw: string, param: string, voice: Voice): Resolution {
  const offered = resolutionsOf(model);
  if (!offered.includes(value)) throw voice.notAllowed(param, raw, model, offered);
  return value;
}

export function checkAspectRatio(model: ModelSpec, value: AspectRatio, raw: string, param: string, voice: Voice): AspectRatio {
  const offered = aspectRatiosOf(model);
  if (!offered.includes(value)) throw voice.notAllowed(param, raw, model, byRatioOrder(offered));
  return value;
}

/**
 * The frame of an aspect ratio at a resolution, both already offered by the model. `adaptive`
 * (the first frame decides) starts from the model's first ratio at that resolution.
 */
export function shapeAt(model: ModelSpec, aspectRatio: AspectRatio, resolution: Resolution, param: string, voice: Voice): Shape {
  const ratio = aspectRatio === 'adaptive' ? firstRatioAt(model, resolution) : aspectRatio;
  const size = ratio ? sizeOf(model, resolution, ratio) : undefined;
  if (!size) {
    const here = byRatioOrder(Object.keys(model.sizes[resolution] ?? {}) as FixedRatio[]);
    throw voice.notAllowed(param, aspectRatio, model, here.length ? here.map((r) => `${r} at ${resolution}`) : here);
  }
  return { aspectRatio, resolution, size };
}

/** A "WxH" size the model makes: its resolution and ratio. */
export function shapeOfSize(model: ModelSpec, size: string, param: string, voice: Voice): Shape {
  const pair = pairOfSize(model, size);
  if (!pair) throw voice.notAllowed(param, size, model, sizesOf(model));
  return { aspectRatio: pair.aspectRatio, resolution: pair.resolution, size: parseSize(size)! };
}

const RATIO_VALUE: Record<FixedRatio, number> = { '16:9': 16 / 9, '9:16': 9 / 16, '1:1': 1, '4:3': 4 / 3, '3:4': 3 / 4, '21:9': 21 / 9, '9:21': 9 / 21 };

/**
 * The frame that follows an image at a resolution: the model's ratio closest to the image's
 * (on a log scale, so 16:9 and 9:16 are equally far from 1:1; a tie keeps the declared order).
 */
export function sizeForImage(model: ModelSpec, resolution: Resolution, image: Size, only?: (r: FixedRatio) => boolean): { ratio: FixedRatio; size: Size } | undefined {
  const target = Math.log(image.width / image.height);
  let best: { ratio: FixedRatio; size: Size } | undefined;
  let err = Infinity;
  for (const [ratio, text] of Object.entries(model.sizes[resolution] ?? {}) as [FixedRatio, string][]) {
    if (only && !only(ratio)) continue;
    const e = Math.abs(Math.log(RATIO_VALUE[ratio]) - target);
    if (e < err - 1e-9) [best, err] = [{ ratio, size: parseSize(text)! }, e];
  }
  return best;
}

/** The audio flag: what the model does when not asked; refused when the model cannot honour it. */
export function checkAudio(model: ModelSpec, value: boolean | undefined, param: string, voice: Voice): boolean {
  const a = model.audio;
  if (value === undefined) return a.mode === 'always' || (a.mode === 'optional' && a.default);
  if (value && a.mode === 'none') throw voice.notTaken(param, model, 'it makes silent videos only; leave it out or set it to false.');
  if (!value && a.mode === 'always') throw voice.notTaken(param, model, 'it always makes an audio track; leave it out or set it to true.');
  return value;
}

export function checkMode(model: ModelSpec, value: string | undefined, param: string, voice: Voice): string | undefined {
  const modes = model.modes ?? [];
  // Not asked: left to the model (or its adapter, e.g. Kling's mode follows the resolution).
  if (value === undefined) return undefined;
  if (modes.length === 0) throw voice.notTaken(param, model, 'it has no modes.');
  if (!modes.includes(value)) throw voice.notAllowed(param, value, model, modes);
  return value;
}

export function checkNegativePrompt(model: ModelSpec, value: string | undefined, param: string, voice: Voice): string | undefined {
  if (value === undefined) return undefined;
  if (!model.negativePrompt) throw voice.notTaken(param, model, 'it takes no negative prompt.');
  return value;
}

export function checkSeed(model: ModelSpec, value: number | undefined, param: string, voice: Voice): number | undefined {
  if (value === undefined) return undefined;
  if (!model.seed) throw voice.notTaken(param, model, 'it takes no seed.');
  if (value < model.seed.min || value > model.seed.max) {
    throw invalid(param, `${param} ${value} is out of range for ${model.id}: use an integer from ${model.seed.min} to ${model.seed.max}.`, 'invalid_value');
  }
  return value;
}

/** Model-specific options: only the keys the model lists. `where` names the container in errors ('metadata', or '' when flat). */
export function checkOptions(model: ModelSpec, options: Record<string, unknown>, where: string, voice: Voice): Record<string, unknown> {
  for (const key of Object.keys(options)) {
    if (!model.options.includes(key)) {
      const param = where ? `${where}.${key}` : key;
      throw model.options.length
        ? voice.notAllowed(param, key, model, model.options)
        : voice.notTaken(param, model, 'it takes no model-specific options.');
    }
  }
  return options;
}

export interface MediaDraft {
  firstFrame?: ReferenceInput | Buffer | null;
  firstParam: string;
  lastFrame?: ReferenceInput | null;
  lastParam: string;
  references: ReferenceInput[];
  referencesParam: string;
}

/** Frames and references the model takes, in the numbers it takes them. */
export function checkMedia(model: ModelSpec, d: MediaDraft, voice: Voice): void {
  if (d.firstFrame && !model.firstFrame) throw voice.notTaken(d.firstParam, model, 'it takes no first frame (image-to-video).');
  if (d.lastFrame) {
    if (!model.lastFrame) throw voice.notTaken(d.lastParam, model, 'it takes no last frame.');
    if (!d.firstFrame && !model.lastFrameAlone) throw voice.notTaken(d.lastParam, model, `a last frame needs a first frame too (${d.firstParam}).`);
  }
  const max = model.references.images;
  if (d.references.length > 0) {
    if (max === 0) throw voice.notTaken(d.referencesParam, model, 'it takes no reference images.');
    if (d.references.length > max) {
      throw invalid(d.referencesParam, `${d.referencesParam} has ${d.references.length} images, but ${model.id} takes at most ${max}.`, 'array_above_max_length');
    }
    if (model.referencesExclusive && (d.firstFrame || d.lastFrame)) {
      throw invalid(
        d.referencesParam,
        `${model.id} takes either frames (${d.firstParam}${model.lastFrame ? `, ${d.lastParam}` : ''}) or reference images (${d.referencesParam}), not both in one request.`,
        'unsupported_combination',
      );
    }
  }
}
