import type { Catalog, FixedRatio, ModelSpec, Size } from '../core/catalog.js';
import { aspectRatiosOf, defaultAudio, durationsOf, formatSize, pairOfSize, resolutionsOf, sizeOf } from '../core/catalog.js';
import { invalid } from '../core/errors.js';
import type { AspectRatio, Resolution } from '../core/video-request.js';
import { parseModel, parseSeconds, parseSizeParam } from '../dialects/openai/validate.js';

/** What GET /v1/quote prices: the create request's shape and price dimensions. */
export interface QuoteParams {
  model: ModelSpec;
  seconds: number;
  resolution: Resolution;
  aspectRatio: AspectRatio;
  /** The frame size, or null when the first frame decides it ('adaptive'). */
  size: Size | null;
  audio: boolean;
  mode?: string;
}

const choices = (values: readonly (string | number)[]): string => values.map((v) => `'${v}'`).join(', ');

function bool(param: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw invalid(param, `Invalid value for '${param}': '${value}'. Expected 'true' or 'false'.`);
}

/**
 * The quote's query, in the OpenAI dialect's vocabulary: `model`; `size` ("WxH") or
 * `aspect_ratio` + `resolution`; `seconds` or `duration`; `generate_audio` (or `audio`, `sound`);
 * `mode`. Defaults are the model's. Anything the model cannot do is a 400 naming the parameter.
 */
export function parseQuoteParams(q: Record<string, string | undefined>, catalog: Catalog, fallbackModel: string): QuoteParams {
  const model = parseModel(q.model, catalog, fallbackModel);

  let seconds = q.seconds !== undefined && q.seconds !== '' ? parseSeconds(q.seconds, model) : model.defaults.seconds;
  if (q.duration !== undefined && q.duration !== '') {
    const d = Number(q.duration);
    const allowed = durationsOf(model);
    if (!Number.isInteger(d) || !allowed.includes(d)) {
      throw invalid('duration', `Invalid value for 'duration': '${q.duration}'. Supported values for ${model.id} are ${choices(allowed)}.`);
    }
    if (q.seconds !== undefined && q.seconds !== '' && d !== seconds) throw invalid('duration', `'duration' (${d}) and 'seconds' (${seconds}) disagree; give one.`);
    seconds = d;
  }

  let resolution: Resolution = model.defaults.resolution;
  let aspectRatio: AspectRatio = model.defaults.aspectRatio;
  let size: Size | null;
  if (q.size !== undefined && q.size !== '') {
    size = parseSizeParam(q.size, model, catalog);
    const pair = pairOfSize(model, formatSize(size))!;
    for (const [param, given, actual] of [['resolution', q.resolution, pair.resolution], ['aspect_ratio', q.aspect_ratio, pair.aspectRatio]] as const) {
      if (given && given.toLowerCase() !== actual && !(param === 'resolution' && equivalent(given.toLowerCase(), actual))) {
        throw invalid(param, `'${param}' (${given}) and 'size' (${q.size}) disagree; give one.`);
      }
    }
    resolution = q.resolution && equivalent(q.resolution.toLowerCase(), pair.resolution) ? (q.resolution.toLowerCase() as Resolution) : pair.resolution;
    aspectRatio = pair.aspectRatio;
  } else {
    if (q.resolution) {
      const r = q.resolution.toLowerCase();
      const offered = resolutionsOf(model);
      if (!offered.includes(r as Resolution)) throw invalid('resolution', `Invalid value for 'resolution': '${q.resolution}'. Supported values for ${model.id} are ${choices(offered)}.`);
      resolution = r as Resolution;
    }
    if (q.aspect_ratio) {
      const ratios = aspectRatiosOf(model);
      if (!ratios.includes(q.aspect_ratio as AspectRatio)) throw invalid('aspect_ratio', `Invalid value for 'aspect_ratio': '${q.aspect_ratio}'. Supported values for ${model.id} are ${choices(ratios)}.`);
      aspectRatio = q.aspect_ratio as AspectRatio;
    }
    if (aspectRatio === 'adaptive') size = null;
    else {
      size = sizeOf(model, resolution, aspectRatio as FixedRatio) ?? null;
      if (!size) throw invalid('aspect_ratio', `${model.id} makes no ${aspectRatio} video at ${resolution}.`);
    }
  }

  const audioParam = (['generate_audio', 'audio', 'sound'] as const).find((p) => q[p] !== undefined && q[p] !== '');
  let audio = defaultAudio(model);
  if (audioParam) {
    audio = bool(audioParam, q[audioParam]!);
    if (audio && model.audio.mode === 'none') throw invalid(audioParam, `${model.id} makes no audio; '${audioParam}' can only be false.`);
    if (!audio && model.audio.mode === 'always') throw invalid(audioParam, `${model.id} always makes audio; '${audioParam}' can only be true.`);
  }

  let mode: string | undefined;
  if (q.mode) {
    if (!model.modes?.includes(q.mode)) {
      throw invalid('mode', model.modes?.length ? `Invalid value for 'mode': '${q.mode}'. Supported values for ${model.id} are ${choices(model.modes)}.` : `${model.id} has no modes.`);
    }
    mode = q.mode;
  }
  return { model, seconds, resolution, aspectRatio, size, audio, mode };
}

/** Sora's 'standard' names the same frames as 720p. */
const equivalent = (a: string, b: string): boolean => a === b || (['720p', 'standard'].includes(a) && ['720p', 'standard'].includes(b));
