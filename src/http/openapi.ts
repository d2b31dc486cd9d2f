/**
 * The OpenAPI 3.1 document, generated from Fastify's route table: each route declared with
 * route() (route.ts) carries its Zod schemas, which are the ones its requests are validated with.
 * Served at GET /openapi.json and /openapi.yaml, and rendered at /docs (docs-page.ts).
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import YAML from 'yaml';
import { z } from 'zod';
import type { Answer, StoredSpec } from './route.js';
import { route } from './route.js';
import { DOCS_CSP, renderDocsPage } from './docs-page.js';

type Json = Record<string, unknown>;

/** The routes Fastify registered, as seen by an onRoute hook on the root instance. */
export class RouteTable {
  readonly routes: RouteOptions[] = [];

  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (r) => {
      this.routes.push(r);
    });
  }

  /** Method + URL pairs (HEAD routes Fastify adds for GETs left out). */
  list(): { method: string; url: string; spec?: StoredSpec }[] {
    const out: { method: string; url: string; spec?: StoredSpec }[] = [];
    for (const r of this.routes) {
      const methods = Array.isArray(r.method) ? r.method : [r.method];
      for (const m of methods) {
        if (m === 'HEAD' && methods.length === 1 && this.routes.some((o) => o.url === r.url && o.method === 'GET')) continue;
        out.push({ method: m, url: r.url, spec: (r.config as { api?: StoredSpec } | undefined)?.api });
      }
    }
    return out;
  }
}

export interface DocInfo {
  version: string;
  serverUrl?: string;
}

const SECURITY: Record<string, Json> = {
  apiKey: { type: 'http', scheme: 'bearer', description: 'A vidgate API key: `Authorization: Bearer vg_live_…` (or the `api-key` header Azure clients send).' },
  adminToken: { type: 'http', scheme: 'bearer', description: 'The operator token, VIDGATE_ADMIN_TOKEN: `Authorization: Bearer <token>`.' },
  streamToken: { type: 'apiKey', in: 'query', name: 'access_token', description: 'A short-lived stream token from POST /v1/stream_tokens, for EventSource (which cannot send headers).' },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'VIDGATE_METRICS_TOKEN (not an API key, not the admin token).' },
};

const securityOf = (auth: StoredSpec['auth']): Json[] => {
  switch (auth) {
    case 'key':
      return [{ apiKey: [] }];
    case 'key_or_stream_token':
      return [{ apiKey: [] }, { streamToken: [] }];
    case 'admin':
      return [{ adminToken: [] }];
    case 'metrics':
      return [{ metricsToken: [] }];
    default:
      return [];
  }
};

const ERROR_COMPONENTS: Record<string, Json> = {
  OpenAIError: {
    type: 'object',
    description: 'The error envelope of the OpenAI dialect, the console endpoints and the admin API.',
    properties: {
      error: {
        type: 'object',
        properties: {
          message: { type: 'string' },
          type: { type: 'string', examples: ['invalid_request_error'] },
          param: { type: ['string', 'null'], description: 'The parameter at fault, when one is.' },
          code: { type: ['string', 'null'], examples: ['invalid_value'] },
        },
        required: ['message', 'type', 'param', 'code'],
      },
    },
    required: ['error'],
    example: { error: { message: "Invalid value for 'limit': '500'. Expected an integer from 0 to 100.", type: 'invalid_request_error', param: 'limit', code: 'invalid_value' } },
  },
  ApimartError: {
    type: 'object',
    description: 'The error envelope of the apimart dialect: the HTTP status repeated as `code`, and the error object.',
    properties: {
      code: { type: 'integer' },
      error: { $ref: '#/components/schemas/OpenAIError/properties/error' },
    },
    required: ['code', 'error'],
    example: { code: 400, error: { message: 'duration 5 is not supported. Allowed values for sora-2-preview: 4, 8 or 12 (seconds, as an integer).', type: 'invalid_request_error', code: 'invalid_value', param: 'duration' } },
  },
};

/** Convert one Zod schema; named sub-schemas (meta id) go to components. */
function convert(schema: z.ZodType, io: 'input' | 'output', components: Json): Json {
  const js = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete js.$schema;
  const defs = js.$defs as Record<string, Json> | undefined;
  delete js.$defs;
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (v && typeof v === 'object') {
      const o: Json = {};
      for (const [k, x] of Object.entries(v)) {
        o[k] = k === '$ref' && typeof x === 'string' ? x.replace('#/$defs/', '#/components/schemas/') : rewrite(x);
      }
      return o;
    }
    return v;
  };
  for (const [name, def] of Object.entries(defs ?? {})) components[name] ??= rewrite(def);
  return rewrite(js) as Json;
}

const pathOf = (url: string): { path: string; names: string[] } => {
  const names: string[] = [];
  const path = url.replace(/:([A-Za-z0-9_]+)/g, (_m, n: string) => (names.push(n), `{${n}}`)).replace(/\*$/, () => (names.push('path'), '{path}'));
  return { path, names };
};

function parameters(spec: StoredSpec | undefined, names: string[], components: Json): Json[] {
  const out: Json[] = [];
  const fromObject = (schema: z.ZodType | undefined, where: 'path' | 'query') => {
    if (!schema) return;
    const js = convert(schema, 'input', components);
    const props = (js.properties ?? {}) as Record<string, Json>;
    const required = new Set((js.required as string[] | undefined) ?? []);
    for (const [name, s] of Object.entries(props)) {
      const { description, ...rest } = s;
      out.push({ name, in: where, required: where === 'path' || required.has(name), ...(description ? { description } : {}), schema: rest });
    }
  };
  fromObject(spec?.params, 'path');
  for (const n of names) if (!out.some((p) => p.name === n)) out.push({ name: n, in: 'path', required: true, schema: { type: 'string' } });
  fromObject(spec?.query, 'query');
  for (const [name, description] of Object.entries(spec?.headers ?? {})) out.push({ name, in: 'header', required: false, description, schema: { type: 'string' } });
  return out;
}

function answer(a: Answer | z.ZodType, components: Json): Json {
  const ans: Answer = a instanceof z.ZodType ? { description: 'OK', schema: a } : a;
  const out: Json = { description: ans.description };
  if (ans.headers) out.headers = Object.fromEntries(Object.entries(ans.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }]));
  if (ans.schema) {
    out.content = { 'application/json': { schema: convert(ans.schema, 'output', components), ...(ans.example !== undefined ? { example: ans.example } : {}) } };
  } else if (ans.media) {
    out.content = Object.fromEntries(ans.media.map((m) => [m, { schema: m.startsWith('text/') ? { type: 'string' } : { type: 'string', contentMediaType: m } }]));
  }
  return out;
}

const cap = (w: string): string => w[0]!.toUpperCase() + w.slice(1);

/** getV1VideosById, getConsoleIndex, getConsoleWildcard: unique per method and URL. */
function operationId(method: string, url: string): string {
  const words = url.split('/').flatMap((seg, i, all) => {
    if (seg === '' ) return i === all.length - 1 && i > 1 ? ['Index'] : [];
    if (seg === '*') return ['Wildcard'];
    if (seg.startsWith(':')) return [`By${cap(seg.slice(1))}`];
    return seg.split(/[_.-]/).filter(Boolean).map(cap);
  });
  return `${method.toLowerCase()}${words.join('')}`;
}

/** The multipart form of a body: the declared file parts may be sent as files. */
function withFileParts(schema: Json, files: string[], lists: string[], components: Json): Json {
  if (files.length === 0 && lists.length === 0) return schema;
  let target = schema;
  const ref = schema.$ref;
  if (typeof ref === 'string') target = (components[ref.replace('#/components/schemas/', '')] as Json | undefined) ?? schema;
  const props = { ...((target.properties as Record<string, Json> | undefined) ?? {}) };
  for (const name of files) {
    const file = { type: 'string', format: 'binary', description: 'A file part.' };
    props[name] = props[name] ? { anyOf: [file, props[name]] } : file;
  }
  for (const list of lists) {
    const name = list.replace(/\[\]$/, '');
    const files = { type: 'array', items: { type: 'string', format: 'binary' }, description: `File parts named ${list}.` };
    props[name] = props[name] ? { anyOf: [files, props[name]] } : files;
  }
  const { $ref: _ref, ...rest } = target;
  return { ...rest, properties: props };
}

function operation(method: string, url: string, spec: StoredSpec | undefined, components: Json): Json {
  const { names } = pathOf(url);
  const opId = operationId(method, url);
  if (!spec) {
    return {
      operationId: opId,
      tags: ['Other'],
      summary: `${method} ${url}`,
      parameters: parameters(undefined, names, components),
      responses: {
        200: { description: 'The file or page.' },
        '4XX': { description: 'Not found (or refused), in the OpenAI error envelope.', content: { 'application/json': { schema: { $ref: '#/components/schemas/OpenAIError' } } } },
      },
    };
  }
  const error = { $ref: `#/components/schemas/${spec.dialect === 'apimart' ? 'ApimartError' : 'OpenAIError'}` };
  const op: Json = {
    operationId: opId,
    tags: [spec.tag],
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    security: securityOf(spec.auth),
    parameters: parameters(spec, names, components),
  };
  if (spec.body) {
    const schema = convert(spec.body, 'input', components);
    const examples = spec.bodyExamples;
    const types = spec.bodyTypes ?? ['json'];
    op.requestBody = {
      required: Array.isArray(schema.required) && schema.required.length > 0,
      content: Object.fromEntries(
        types.map((t) => [
          t === 'json' ? 'application/json' : 'multipart/form-data',
          { schema: t === 'multipart' ? withFileParts(schema, spec.files?.names ?? [], spec.files?.lists ?? [], components) : schema, ...(examples ? { examples } : {}) },
        ]),
      ),
    };
  }
  const responses: Json = {};
  for (const [status, a] of Object.entries(spec.responses)) responses[status] = answer(a, components);
  responses['4XX'] = { description: 'The request was refused: the envelope names the parameter at fault, when one is.', content: { 'application/json': { schema: error } } };
  responses['5XX'] = { description: 'The gateway could not serve the request now (storage trouble, overload): retry later.', content: { 'application/json': { schema: error } } };
  op.responses = responses;
  return op;
}

/** Build the OpenAPI document from the routes registered so far. */
export function buildDocument(table: RouteTable, info: DocInfo): Json {
  const components: Json = { ...ERROR_COMPONENTS };
  const paths: Record<string, Json> = {};
  const tags = new Set<string>();
  for (const r of table.list()) {
    if (r.method === 'HEAD' || r.method === 'OPTIONS') continue;
    const { path } = pathOf(r.url);
    const op = operation(r.method, r.url, r.spec, components);
    for (const t of op.tags as string[]) tags.add(t);
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'vidgate',
      version: info.version,
      description:
        'Self-hosted video-generation API gateway. Two client dialects over the same durable tasks: the OpenAI Videos API (`/v1/videos`) and the apimart task API (`/v1/videos/generations`, `/v1/tasks`). Errors use the envelope of the route\'s dialect and name the parameter at fault.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    tags: [...tags].map((name) => ({ name })),
    paths,
    components: { schemas: components, securitySchemes: SECURITY },
  };
}

/** GET /openapi.json, /openapi.yaml and /docs (all public: the document holds no secrets). */
export function openapiRoutes(table: RouteTable, info: DocInfo) {
  let cached: { json: string; yaml: string; html: string } | null = null;
  const built = () => {
    if (!cached) {
      const doc = buildDocument(table, info);
      cached = { json: JSON.stringify(doc), yaml: YAML.stringify(doc, { aliasDuplicateObjects: false }), html: renderDocsPage(doc) };
    }
    return cached;
  };
  return async (app: FastifyInstance): Promise<void> => {
    route(app, { method: 'GET', url: '/openapi.json', tag: 'Docs', summary: 'This API as an OpenAPI 3.1 document (JSON)', auth: 'public', responses: { 200: { description: 'The document.', media: ['application/json'] } } }, async (_req, reply) =>
      reply.type('application/json').header('cache-control', 'no-cache').send(built().json),
    );
    route(app, { method: 'GET', url: '/openapi.yaml', tag: 'Docs', summary: 'This API as an OpenAPI 3.1 document (YAML)', auth: 'public', responses: { 200: { description: 'The document.', media: ['application/yaml'] } } }, async (_req, reply) =>
      reply.type('application/yaml').header('cache-control', 'no-cache').send(built().yaml),
    );
    route(app, { method: 'GET', url: '/docs', tag: 'Docs', summary: 'This API as a readable, searchable page', auth: 'public', responses: { 200: { description: 'The page (self-contained: no external scripts, styles or fonts).', media: ['text/html'] } } }, async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('content-security-policy', DOCS_CSP)
        .send(built().html),
    );
  };
}
