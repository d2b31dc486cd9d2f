/**
 * Contract check: every request a test file sends to a gateway (through fetch, which the openai
 * SDK uses too) and every answer it gets are validated against the gateway's own OpenAPI
 * document (/openapi.json). An answer whose status or body the document does not describe, or an
 * accepted request the document says is invalid, fails the test file (afterAll), so a route whose
 * schema lies cannot pass its integration tests.
 *
 * Use: call `checkContract()` at the top of a test file, before anything makes a client.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, expect } from 'vitest';

type Json = Record<string, unknown>;
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

interface Operation {
  method: string;
  template: string;
  re: RegExp;
  op: Json;
}

/** /v1/videos/{id} → ^/v1/videos/([^/]+)$; a trailing {path} (a wildcard route) takes the rest. */
function templateRegExp(template: string): RegExp {
  const parts = template.split(/(\{[^}]+\})/).map((part, i, all) => {
    if (!part.startsWith('{')) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    return part === '{path}' && i === all.length - 2 ? '(.*)' : '([^/]+)';
  });
  return new RegExp(`^${parts.join('')}$`);
}

/** One gateway's document, compiled. */
export class Contract {
  private readonly ajv: Ajv2020;
  private readonly ops: Operation[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();
  /** Operations seen during the run (method + path template). */
  readonly covered = new Set<string>();

  constructor(readonly doc: Json) {
    this.ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema(doc, 'doc');
    for (const [template, methods] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      const re = templateRegExp(template);
      for (const [method, op] of Object.entries(methods)) this.ops.push({ method: method.toUpperCase(), template, re, op });
    }
    // Literal paths before templated ones (/v1/videos/generations before /v1/videos/{id}).
    this.ops.sort((a, b) => (a.template.includes('{') ? 1 : 0) - (b.template.includes('{') ? 1 : 0));
  }

  private validator(pointer: string): ValidateFunction {
    let v = this.compiled.get(pointer);
    if (!v) {
      v = this.ajv.compile({ $ref: `doc#${pointer}` });
      this.compiled.set(pointer, v);
    }
    return v;
  }

  private check(pointer: string, value: unknown): string | null {
    const v = this.validator(pointer);
    if (v(value)) return null;
    return this.ajv.errorsText(v.errors, { dataVar: 'body' });
  }

  find(method: string, path: string): Operation | undefined {
    const m = method === 'HEAD' ? 'GET' : method;
    return this.ops.find((o) => o.method === m && o.re.test(path));
  }

  /**
   * Problems with one exchange (empty when it matches the document). `requestBody` is the parsed
   * JSON body when the request sent one; `responseBody` the parsed JSON answer, if JSON.
   */
  verify(x: { method: string; url: URL; requestJson?: unknown; status: number; contentType: string; responseJson?: unknown }): string[] {
    const problems: string[] = [];
    const where = `${x.method} ${x.url.pathname}${x.url.search} → ${x.status}`;
    const op = this.find(x.method, x.url.pathname);
    if (!op) return x.status === 404 ? [] : [`${where}: no operation in the document`];
    this.covered.add(`${op.method} ${op.template}`);
    const esc = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
    const base = `/paths/${esc(op.template)}/${op.method.toLowerCase()}`;
    const accepted = x.status >= 200 && x.status < 300;
    if (accepted) {
      // The request was accepted: the document must accept it too.
      const params = (op.op.parameters as Json[] | undefined) ?? [];
      params.forEach((p, i) => {
        if (p.in !== 'query') return;
        const values = x.url.searchParams.getAll(p.name as string);
        if (values.length === 0) {
          if (p.required) problems.push(`${where}: required query parameter ${String(p.name)} missing but accepted`);
          return;
        }
        const err = this.check(`${base}/parameters/${i}/schema`, values[0]);
        if (err) problems.push(`${where}: query ${String(p.name)}=${values[0]} accepted but the document refuses it: ${err}`);
      });
      const rb = op.op.requestBody as { content?: Json } | undefined;
      if (x.requestJson !== undefined) {
        if (!rb?.content?.['application/json']) problems.push(`${where}: a JSON body was accepted but the document has none`);
        else {
          const err = this.check(`${base}/requestBody/content/application~1json/schema`, x.requestJson);
          if (err) problems.push(`${where}: request body accepted but the document refuses it: ${err}`);
        }
      }
    }
    const responses = op.op.responses as Record<string, Json>;
    const key = [String(x.status), `${String(x.status)[0]}XX`, 'default'].find((k) => responses[k]);
    if (!key) return [...problems, `${where}: status ${x.status} is not documented`];
    const content = responses[key]!.content as Record<string, Json> | undefined;
    if (x.responseJson !== undefined && content?.['application/json']?.schema) {
      const err = this.check(`${base}/responses/${key}/content/application~1json/schema`, x.responseJson);
      if (err) problems.push(`${where}: the answer does not match the document: ${err} — ${JSON.stringify(x.responseJson).slice(0, 400)}`);
    } else if (content && x.status !== 304 && x.status !== 204 && x.method !== 'HEAD') {
      const type = x.contentType.split(';')[0]!.trim();
      if (type && !Object.keys(content).some((m) => m === type || (m.endsWith('/*') && type.startsWith(m.slice(0, -1))))) {
        problems.push(`${where}: answered ${type}, the document says ${Object.keys(content).join(', ')}`);
      }
    }
    return problems;
  }
}

/** Patch fetch for this test file: exchanges with any vidgate gateway are checked against its document. */
export function checkContract(): { contracts: Map<string, Contract | null>; problems: string[] } {
  const original = globalThis.fetch;
  const contracts = new Map<string, Contract | null>();
  const problems: string[] = [];
  const contractFor = async (origin: string): Promise<Contract | null> => {
    if (!contracts.has(origin)) {
      let c: Contract | null = null;
      try {
        const res = await original(`${origin}/openapi.json`);
        const doc = res.ok && (res.headers.get('content-type') ?? '').includes('json') ? ((await res.json()) as Json) : null;
        if (doc && typeof doc.openapi === 'string' && (doc.info as Json | undefined)?.title === 'vidgate') c = new Contract(doc);
      } catch {
        c = null;
      }
      contracts.set(origin, c);
    }
    return contracts.get(origin)!;
  };

  const patched: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const contract = url.protocol.startsWith('http') && url.pathname !== '/openapi.json' ? await contractFor(url.origin) : null;
    if (!contract) return original(input, init);
    let requestJson: unknown;
    if ((request.headers.get('content-type') ?? '').includes('application/json') && request.body) {
      const text = await request.clone().text();
      try {
        requestJson = text.trim() === '' ? undefined : JSON.parse(text);
      } catch {
        requestJson = undefined;
      }
    }
    const res = await original(request);
    const contentType = res.headers.get('content-type') ?? '';
    let responseJson: unknown;
    if (contentType.includes('application/json') && request.method !== 'HEAD') {
      try {
        responseJson = await res.clone().json();
      } catch {
        responseJson = undefined;
      }
    }
    problems.push(...contract.verify({ method: request.method, url, requestJson, status: res.status, contentType, responseJson }));
    return res;
  };

  beforeAll(() => {
    globalThis.fetch = patched;
  });
  afterAll(() => {
    globalThis.fetch = original;
    expect(problems, 'exchanges that contradict /openapi.json').toEqual([]);
  });
  return { contracts, problems };
}
