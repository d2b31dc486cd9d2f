/**
 * One way to declare a route: its path parameters, query, body and answers as Zod schemas, once.
 * `route()` registers it with Fastify, validates what comes in against those schemas (errors in
 * the route's dialect, naming the parameter) and keeps the declaration on the route's config,
 * where the OpenAPI generator (openapi.ts) reads it from Fastify's route table. There is no other
 * description of the API to keep in step.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../core/errors.js';
import type { RequestBody } from './body.js';
import { readBody } from './body.js';
import type { Dialect } from './types.js';
import { routeOf } from './types.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Who may call: an API key (Bearer), an API key or a stream token, the admin token, the metrics token, or anyone. */
export type Auth = 'key' | 'key_or_stream_token' | 'admin' | 'metrics' | 'public';

/** One documented answer: a JSON body (a Zod schema), another media type, or no body. */
export interface Answer {
  description: string;
  schema?: z.ZodType;
  /** Media type when it is not JSON (video/mp4, text/event-stream, text/html …). */
  media?: string[];
  headers?: Record<string, string>;
  example?: unknown;
}

export interface Example {
  summary: string;
  value: unknown;
}

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  url: string;
  /** Section of the docs. */
  tag: string;
  summary: string;
  description?: string;
  auth: Auth;
  /** Error envelope (and wording of validation errors); the admin API uses OpenAI's. */
  dialect?: Dialect;
  params?: P;
  query?: Q;
  body?: B;
  /** How the body may be sent (default JSON). Multipart bodies are read with readBody. */
  bodyTypes?: ('json' | 'multipart')[];
  /**
   * The handler's own checks of a body the schema refused, run first so that the caller gets
   * their wording (which can name what the catalogue allows); the schema's error otherwise.
   */
  explain?: (body: RequestBody) => void;
  /** Multipart parts that are files (buffered, up to maxFileBytes); `lists` take several parts each. */
  files?: { names: string[]; lists?: string[]; maxFileBytes: number };
  bodyExamples?: Record<string, Example>;
  /** Request headers worth documenting (Idempotency-Key …): name → description. */
  headers?: Record<string, string>;
  responses: Record<number, Answer | z.ZodType>;
  bodyLimit?: number;
  /** Extra Fastify config (streamToken …). */
  config?: Record<string, unknown>;
  /**
   * Serialise the 200 answer with Fastify's compiled serializer (from its schema) instead of
   * JSON.stringify: for hot read routes. Properties the schema does not declare are dropped.
   */
  fastJson?: boolean;
}

export interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The body as read (multipart: fields and files) when the route takes one. */
  raw: RequestBody;
}

/** The declaration as stored on the route's config. */
export type StoredSpec = RouteSpec<z.ZodType, z.ZodType, z.ZodType>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's declaration (route.ts), for validation and the OpenAPI document. */
    api?: StoredSpec;
  }
}

const EMPTY = z.object({});
const NO_BODY: RequestBody = { fields: {}, files: new Map(), fileLists: new Map(), multipart: false };

/** Register a declared route. The handler gets the validated params, query and body. */
export function route<P extends z.ZodType = typeof EMPTY, Q extends z.ZodType = typeof EMPTY, B extends z.ZodType = typeof EMPTY>(
  app: FastifyInstance,
  spec: RouteSpec<P, Q, B>,
  handler: (req: FastifyRequest, reply: FastifyReply, input: Input<z.output<P>, z.output<Q>, z.output<B>>) => Promise<unknown>,
): void {
  const dialect = spec.dialect ?? 'openai';
  const config = {
    ...spec.config,
    dialect,
    ...(spec.auth === 'admin' ? { admin: true } : {}),
    ...(spec.auth === 'public' || spec.auth === 'metrics' ? { public: true } : {}),
    ...(spec.auth === 'key_or_stream_token' ? { streamToken: true } : {}),
    api: spec as unknown as StoredSpec,
  };
  const opts: RouteShorthandOptions = { config };
  if (spec.bodyLimit) opts.bodyLimit = spec.bodyLimit;
  if (spec.fastJson) {
    const ok = spec.responses[200];
    const schema = ok instanceof z.ZodType ? ok : ok?.schema;
    if (schema) opts.schema = { response: { 200: z.toJSONSchema(schema, { target: 'draft-7', io: 'output' }) } };
  }
  const multipart = spec.bodyTypes?.includes('multipart') ?? false;
  app.route({
    method: spec.method,
    url: spec.url,
    ...opts,
    handler: async (req, reply) => {
      const params = check(spec.params ?? EMPTY, req.params ?? {}, dialect, 'path') as z.output<P>;
      // A route without a query schema ignores the query string (no parse on hot reads).
      const query = (spec.query ? check(spec.query, singleValues(spec.query, req.query, dialect), dialect, 'query') : {}) as z.output<Q>;
      let raw = NO_BODY;
      let body = {} as z.output<B>;
      if (spec.body) {
        raw = multipart
          ? await readBody(req, { fileFields: spec.files?.names ?? [], fileLists: spec.files?.lists, maxFileBytes: spec.files?.maxFileBytes ?? 0 })
          : jsonBody(req);
        // File parts are checked by readBody (size) and the handler (is it an image); the schema
        // checks every other field. The document shows the file parts as binary (openapi.ts).
        body = check(spec.body, raw.fields, dialect, 'body', spec.explain && (() => spec.explain!(raw))) as z.output<B>;
      }
      return handler(req, reply, { params, query, body, raw });
    },
  });
}

/** A JSON body (or none); a multipart body on a JSON-only route is refused with a 415. */
function jsonBody(req: FastifyRequest): RequestBody {
  if (req.isMultipart()) {
    throw new ApiError({
      status: 415,
      type: 'invalid_request_error',
      code: 'unsupported_media_type',
      message: `${req.method} ${routeOf(req).url} takes a JSON body: send Content-Type: application/json.`,
    });
  }
  const body = req.body;
  if (body === undefined || body === null) return NO_BODY;
  if (typeof body !== 'object' || Array.isArray(body)) throw validationError(null, 'The request body must be a JSON object.', 'invalid_json');
  return { fields: body as Record<string, unknown>, files: new Map(), fileLists: new Map(), multipart: false };
}

/**
 * The query as single values: a parameter given more than once (?after=a&after=b) is a 400 naming
 * it, unless the schema takes a list there. Unknown parameters are ignored, as before.
 */
function singleValues(schema: z.ZodType | undefined, query: unknown, dialect: Dialect): Record<string, unknown> {
  const q = (query ?? {}) as Record<string, unknown>;
  const shape = schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(q)) {
    if (!Object.hasOwn(shape, key)) continue;
    if (Array.isArray(value) && !acceptsList(shape[key]!)) {
      const message =
        dialect === 'apimart'
          ? `${key} was given ${value.length} times: give it once.`
          : `Invalid value for '${key}': the parameter was given ${value.length} times; give it once.`;
      throw validationError(key, message, 'duplicate_parameter');
    }
    out[key] = value;
  }
  return out;
}

function acceptsList(schema: z.ZodType): boolean {
  let s: unknown = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) s = (s as z.ZodOptional).unwrap();
  return s instanceof z.ZodArray;
}

type Where = 'path' | 'query' | 'body';

function check(schema: z.ZodType, value: unknown, dialect: Dialect, where: Where, explain?: () => void): unknown {
  // Valid input takes Zod's compiled path (a parse with per-call options is ten times slower);
  // only a refused one is parsed again, with the options that word the error for the caller.
  const ok = schema.safeParse(value);
  if (ok.success) return ok.data;
  const r = schema.safeParse(value, { reportInput: true, error: (iss: unknown) => describeIssue(iss as Issue, dialect, where) } as never);
  if (r.success) return r.data;
  explain?.();
  const issue = r.error.issues[0]! as unknown as Issue & { message: string };
  const param = paramName(issue.path);
  // A bad path parameter is a resource that does not exist, as for an unknown id.
  if (where === 'path') {
    throw new ApiError({ status: 404, type: 'invalid_request_error', code: 'not_found', param, message: issue.message });
  }
  throw validationError(param, issue.message, codeOf(issue));
}

const validationError = (param: string | null, message: string, code: string): ApiError =>
  new ApiError({ status: 400, type: 'invalid_request_error', param, message, code });

interface Issue {
  code: string;
  path?: PropertyKey[];
  input?: unknown;
  expected?: string;
  values?: unknown[];
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  format?: string;
  keys?: string[];
}

/** `image_urls[0]`, `input_reference.image_url`: the param as the caller wrote it. */
export function paramName(path: PropertyKey[] | undefined): string | null {
  let out = '';
  for (const p of path ?? []) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || null;
}

function codeOf(issue: Issue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'missing_required_parameter';
  if (issue.code === 'invalid_type') return 'invalid_type';
  if (issue.code === 'invalid_value' && issue.input !== undefined && typeof issue.input !== typeof issue.values?.[0]) return 'invalid_type';
  if (issue.code === 'too_big' && issue.origin === 'string') return 'string_above_max_length';
  if (issue.code === 'too_small' && issue.origin === 'string') return issue.minimum === 1 ? 'empty_string' : 'string_below_min_length';
  if (issue.code === 'unrecognized_keys') return 'unknown_parameter';
  return 'invalid_value';
}

const typeName = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
};

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

const shown = (v: unknown): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
};

const oneOf = (values: unknown[]): string => {
  const q = values.map((v) => `'${String(v)}'`);
  return q.length <= 2 ? q.join(' or ') : `${q.slice(0, -1).join(', ')}, or ${q[q.length - 1]}`;
};

function bounds(issue: Issue): string {
  const n = issue.code === 'too_big' ? issue.maximum : issue.minimum;
  const what = issue.origin === 'string' ? 'characters' : issue.origin === 'array' ? 'items' : '';
  const cmp = issue.code === 'too_big' ? (issue.inclusive === false ? 'less than' : 'at most') : issue.inclusive === false ? 'more than' : 'at least';
  return `${cmp} ${String(n)}${what ? ` ${what}` : ''}`;
}

/** Validation messages in the dialect's wording (schema-level messages take precedence over these). */
function describeIssue(issue: Issue, dialect: Dialect, where: Where): string {
  const param = paramName(issue.path) ?? (where === 'body' ? 'body' : 'parameter');
  const missing = issue.code === 'invalid_type' && issue.input === undefined;
  const input = issue.input;
  if (dialect === 'apimart') {
    if (missing) return `${param} is required.`;
    switch (issue.code) {
      case 'invalid_type':
        return `${param} must be ${EXPECTED[issue.expected ?? ''] ?? issue.expected}, but got ${typeName(input)}.`;
      case 'invalid_value':
        return `${param} '${shown(input)}' is not supported. Allowed values: ${(issue.values ?? []).join(', ')}.`;
      case 'too_big':
      case 'too_small':
        return `${param} must be ${bounds(issue)}.`;
      case 'unrecognized_keys':
        return `unknown field${(issue.keys ?? []).length > 1 ? 's' : ''} ${(issue.keys ?? []).join(', ')}.`;
      default:
        return `${param} '${shown(input)}' is not valid.`;
    }
  }
  if (missing) return `Missing required parameter: '${param}'.`;
  switch (issue.code) {
    case 'invalid_type':
      return `Invalid type for '${param}': expected ${EXPECTED[issue.expected ?? ''] ?? issue.expected}, but got ${typeName(input)} instead.`;
    case 'invalid_value':
      if (typeof input !== typeof issue.values?.[0]) {
        return `Invalid type for '${param}': expected one of ${oneOf(issue.values ?? [])}, but got ${typeName(input)} instead.`;
      }
      return `Invalid value for '${param}': '${shown(input)}'. Supported values are ${oneOf(issue.values ?? [])}.`;
    case 'too_big':
    case 'too_small':
      return `Invalid '${param}': expected ${bounds(issue)}.`;
    case 'unrecognized_keys':
      return `Unrecognized request argument${(issue.keys ?? []).length > 1 ? 's' : ''} supplied: ${(issue.keys ?? []).join(', ')}.`;
    default:
      return `Invalid value for '${param}': '${shown(input)}'.`;
  }
}

// ---- small shared schemas for query strings (every value arrives as a string) ----

/** An integer in a query string from min to max ('' or absent: dflt). */
export function queryInt(name: string, min: number, max: number, dflt: number) {
  const msg = (v: unknown) => `Invalid value for '${name}': '${shown(v)}'. Expected an integer from ${min} to ${max}.`;
  return z
    .string()
    .max(12)
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === '') return dflt;
      const n = /^\d{1,9}$/.test(s) ? Number(s) : NaN;
      if (!(n >= min && n <= max)) {
        ctx.addIssue({ code: 'custom', message: msg(s), input: s });
        return z.NEVER;
      }
      return n;
    })
    .meta({ description: `An integer from ${min} to ${max} (default ${dflt}).`, pattern: '^\\d{1,9}$' });
}

/** An optional string in the query ('' is the same as absent). */
export const optText = (description: string, max = 1000) =>
  z
    .string()
    .max(max)
    .optional()
    .transform((s) => (s === '' ? undefined : s))
    .meta({ description });

/** An optional enum in the query ('' is the same as absent). */
export const optEnum = <T extends string>(values: readonly T[], description: string) =>
  z
    .enum([...values, ''] as unknown as [string, ...string[]])
    .optional()
    .transform((s) => (s === '' ? undefined : (s as T | undefined)))
    .meta({ description: `${description} (empty: any)` });

/** A path parameter: a non-empty string. */
export const pathId = (description: string) => z.string().min(1).max(1000).meta({ description });
