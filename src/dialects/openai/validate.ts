import type { Catalog, ModelSpec, Size } from '../../core/catalog.js';
import { defaultSizeOf, durationsOf, parseSize, sizesOf } from '../../core/catalog.js';
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

const quoteList = (values: string[]): string => {
  const q = values.map((v) => `'${v}'`);
  return q.length <= 2 ? q.join(' or ') : `${q.slice(0, -1).join(', ')}, or ${q[q.length - 1]}`;
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
 */
export function parseReference(body: RequestBody): ReferenceInput | null {
  const file = body.files.get('input_reference');
  const value = body.fields.input_reference;
  if (file) {
    if (value !== undefined) {
      throw invalid('input_reference', "Provide 'input_reference' either as a file or as input_reference[image_url], not both.");
    }
    return { kind: 'bytes', data: file.data, param: 'input_reference' };
  }
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') {
    if (/^(data:|https?:\/\/)/i.test(value.trim())) return urlReference(value.trim(), 'input_reference');
    throw invalid('input_reference', "Invalid type for 'input_reference': expected a file, but got a string instead.", 'invalid_type');
  }
  if (typeof value !== 'object' || Array.isArray(value)) throw wrongType('input_reference', 'a file or an object with image_url', value);
  const obj = value as Record<string, unknown>;
  if (obj.file_id !== undefined) {
    throw invalid(
      'input_reference',
      "input_reference.file_id is not supported by this gateway: upload the image as a file part, or pass input_reference.image_url (a data URL or an http(s) URL).",
      'unsupported_parameter',
    );
  }
  if (typeof obj.image_url !== 'string' || obj.image_url.trim() === '') {
    throw invalid('input_reference', "input_reference must contain 'image_url': a base64 data URL or an http(s) URL of a jpeg, png or webp image.");
  }
  return urlReference(obj.image_url.trim(), 'input_reference');
}

function urlReference(url: string, param: string): ReferenceInput {
  if (/^data:/i.test(url)) return { kind: 'data-url', url, param };
  if (/^https?:\/\//i.test(url)) return { kind: 'url', url, param };
  throw invalid(param, `'${param}' image_url must be a data: URL or an http(s) URL.`, 'invalid_url');
}
