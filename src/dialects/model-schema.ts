/**
 * GET /v1/model-schema?model=ID: the JSON Schema (draft 2020-12) of one model's create body in
 * each dialect, in apimart's shape (`operation`, `endpoint`, `input_schema`, `schema_version`,
 * `idempotency`, `response_contract`; apimart's dialect at the top, both under `dialects`).
 * Derived from the dialects' Zod schemas narrowed by the model's capabilities, plus the one rule
 * Zod cannot say: which aspect ratios each resolution has.
 */
import { z } from 'zod';
import type { FixedRatio, ModelSpec } from '../core/catalog.js';
import type { AspectRatio, Resolution } from '../core/video-request.js';
import { resolutionsOf } from '../core/catalog.js';
import { apimartCreateBodyFor } from './apimart/schema.js';
import { openaiCreateBodyFor } from './openai/schema.js';
import { byRatioOrder } from './request.js';

export const SCHEMA_VERSION = '2026-11-26';

type JsonSchema = Record<string, unknown>;

const NAMES: Partial<Record<AspectRatio, string>> = { '16:9': 'landscape', '9:16': 'portrait', '1:1': 'square' };

/** The aspect ratios a model takes at one resolution (with `adaptive` when it follows the first frame). */
function ratiosAt(m: ModelSpec, r: Resolution): AspectRatio[] {
  const fixed = byRatioOrder(Object.keys(m.sizes[r] ?? {}) as FixedRatio[]);
  return m.adaptive ? [...fixed, 'adaptive'] : fixed;
}

/**
 * `if resolution is r then aspect_ratio is one of r's ratios` for every resolution that lacks some
 * of the model's ratios (and the same for the default resolution when none is given).
 */
function pairRules(m: ModelSpec, spellings: (r: Resolution) => string[], ratioNames: (ratios: AspectRatio[]) => string[]): JsonSchema[] {
  const all = new Set(resolutionsOf(m).flatMap((r) => ratiosAt(m, r)));
  const rules: JsonSchema[] = [];
  for (const r of resolutionsOf(m)) {
    const here = ratiosAt(m, r);
    if (here.length === all.size) continue;
    const then = { properties: { aspect_ratio: { enum: ratioNames(here) } } };
    rules.push({ if: { properties: { resolution: { enum: spellings(r) } }, required: ['resolution'] }, then });
    if (r === m.defaults.resolution) rules.push({ if: { not: { required: ['resolution'] } }, then });
  }
  return rules;
}

function withRules(schema: JsonSchema, rules: JsonSchema[]): JsonSchema {
  return rules.length ? { ...schema, allOf: rules } : schema;
}

export function openaiInputSchema(m: ModelSpec): JsonSchema {
  const base = z.toJSONSchema(openaiCreateBodyFor(m), { target: 'draft-2020-12' }) as JsonSchema;
  return withRules(base, pairRules(m, (r) => [r], (ratios) => ratios));
}

export function apimartInputSchema(m: ModelSpec): JsonSchema {
  const base = z.toJSONSchema(apimartCreateBodyFor(m), { target: 'draft-2020-12' }) as JsonSchema;
  const spell = (r: Resolution) => [...new Set([r, r.toUpperCase(), ...(r === 'high' ? ['1024p'] : [])])];
  return withRules(base, pairRules(m, spell, (ratios) => [...ratios, ...ratios.flatMap((x) => (NAMES[x] ? [NAMES[x]] : []))]));
}

/** The document GET /v1/model-schema answers for a model. */
export function modelSchemaDocument(m: ModelSpec) {
  const apimart = {
    endpoint: 'POST /v1/videos/generations',
    content_types: ['application/json'],
    input_schema: apimartInputSchema(m),
    response_contract: {
      submit: '{"code":200,"data":[{"status":"submitted","task_id":"task_…"}]} (object form with X-APIMart-Response-Version: 2026-07-27)',
      status: 'GET /v1/tasks/{task_id}',
    },
  };
  const openai = {
    endpoint: 'POST /v1/videos',
    content_types: ['application/json', 'multipart/form-data'],
    input_schema: openaiInputSchema(m),
    response_contract: { submit: 'a Video object', status: 'GET /v1/videos/{video_id}' },
  };
  return {
    model: m.id,
    aliases: m.aliases,
    operation: 'video_generation',
    schema_version: SCHEMA_VERSION,
    endpoint: apimart.endpoint,
    input_schema: apimart.input_schema,
    idempotency: { header: 'Idempotency-Key', format: '1-191 visible ASCII characters', replayed_header: 'idempotency-replayed' },
    response_contract: apimart.response_contract,
    dialects: { apimart, openai },
  };
}
