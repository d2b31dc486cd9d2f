/**
 * /docs: the OpenAPI document rendered as one self-contained HTML page (no script, style or font
 * from anywhere else, so it works offline and under a strict CSP). Rendered on the server from
 * the same document /openapi.json serves; a few lines of inline script filter the operations as
 * you type in the search box.
 */
import { createHash } from 'node:crypto';

type Json = Record<string, unknown>;

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Inline `code` and **bold** in descriptions, nothing more. */
const text = (s: unknown): string =>
  esc(s ?? '')
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>');

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

class SchemaView {
  constructor(private readonly components: Record<string, Json>) {}

  private resolve(s: Json): { schema: Json; name?: string } {
    const ref = s.$ref;
    if (typeof ref !== 'string') return { schema: s };
    const parts = ref.replace('#/components/schemas/', '').split('/');
    let node: unknown = this.components[parts[0]!];
    for (const p of parts.slice(1)) node = (node as Json | undefined)?.[p];
    return { schema: (node as Json | undefined) ?? {}, name: parts[0] };
  }

  typeOf(s: Json): string {
    const { schema, name } = this.resolve(s);
    if (name && parts(schema).length === 0) return esc(name);
    if (Array.isArray(schema.anyOf ?? schema.oneOf)) return ((schema.anyOf ?? schema.oneOf) as Json[]).map((x) => this.typeOf(x)).join(' | ');
    if (schema.enum) return (schema.enum as unknown[]).map((v) => `<code>${esc(JSON.stringify(v))}</code>`).join(' | ');
    if (schema.const !== undefined) return `<code>${esc(JSON.stringify(schema.const))}</code>`;
    const t = Array.isArray(schema.type) ? (schema.type as string[]).join(' | ') : (schema.type as string | undefined);
    if (t === 'array' && schema.items) return `array of ${this.typeOf(schema.items as Json)}`;
    const fmt = schema.format ? ` (${esc(schema.format)})` : '';
    return `${esc(t ?? (name ?? 'any'))}${fmt}${name ? ` <span class="ref">${esc(name)}</span>` : ''}`;
  }

  /** Nested list of an object's properties (depth-limited; named schemas are expanded once per path). */
  render(s: Json, depth = 0, seen: string[] = []): string {
    const { schema, name } = this.resolve(s);
    if (name && seen.includes(name)) return '';
    const next = name ? [...seen, name] : seen;
    if (depth > 5) return '';
    const alts = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
    if (alts) return alts.map((a) => this.render(a, depth, next)).join('');
    if (schema.type === 'array' && schema.items) return this.render(schema.items as Json, depth, next);
    const props = parts(schema);
    if (props.length === 0) return '';
    const required = new Set((schema.required as string[] | undefined) ?? []);
    const items = props.map(([key, p]) => {
      const { schema: ps } = this.resolve(p);
      const desc = (p.description ?? ps.description) as string | undefined;
      const extra = [
        ps.default !== undefined ? `default <code>${esc(JSON.stringify(ps.default))}</code>` : '',
        ps.maxLength !== undefined ? `max length ${esc(ps.maxLength)}` : '',
        meaningful(ps.minimum) ? `≥ ${esc(ps.minimum)}` : '',
        meaningful(ps.maximum) ? `≤ ${esc(ps.maximum)}` : '',
      ].filter(Boolean);
      return `<li><code class="prop">${esc(key)}</code> <span class="type">${this.typeOf(p)}</span>${required.has(key) ? ' <span class="req">required</span>' : ''}${
        desc ? ` — ${text(desc)}` : ''
      }${extra.length ? ` <span class="muted">(${extra.join(', ')})</span>` : ''}${this.render(p, depth + 1, next)}</li>`;
    });
    return `<ul class="schema">${items.join('')}</ul>`;
  }
}

/** A bound worth showing (not the ±2^53 every integer gets). */
const meaningful = (n: unknown): boolean => typeof n === 'number' && Math.abs(n) < Number.MAX_SAFE_INTEGER;

function parts(schema: Json): [string, Json][] {
  return Object.entries((schema.properties as Record<string, Json> | undefined) ?? {});
}

const example = (v: unknown): string => `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;

export function renderDocsPage(doc: Json): string {
  const info = doc.info as Json;
  const components = ((doc.components as Json).schemas ?? {}) as Record<string, Json>;
  const view = new SchemaView(components);
  const byTag = new Map<string, { method: string; path: string; op: Json }[]>();
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = ((op.tags as string[] | undefined) ?? ['Other'])[0]!;
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push({ method: method.toUpperCase(), path, op });
    }
  }
  const nav: string[] = [];
  const body: string[] = [];
  for (const [tag, ops] of byTag) {
    nav.push(`<li class="tag">${esc(tag)}</li>`);
    body.push(`<h2 id="tag-${slug(tag)}">${esc(tag)}</h2>`);
    for (const { method, path, op } of ops) {
      const id = `op-${esc(op.operationId)}`;
      const search = esc(`${method} ${path} ${op.summary ?? ''} ${tag}`.toLowerCase());
      nav.push(`<li class="op" data-search="${search}"><a href="#${id}"><span class="m m-${method.toLowerCase()}">${method}</span> ${esc(path)}</a></li>`);
      const security = (op.security as Json[] | undefined) ?? [];
      const auth = security.length ? security.map((s) => Object.keys(s).join(' + ')).join(' or ') : 'none';
      const params = (op.parameters as Json[] | undefined) ?? [];
      const paramRows = params
        .map(
          (p) =>
            `<tr><td><code>${esc(p.name)}</code>${p.required ? ' <span class="req">required</span>' : ''}</td><td>${esc(p.in)}</td><td>${view.typeOf(p.schema as Json)}</td><td>${text(p.description ?? '')}</td></tr>`,
        )
        .join('');
      const rb = op.requestBody as Json | undefined;
      let request = '';
      if (rb) {
        const content = rb.content as Record<string, Json>;
        const first = Object.values(content)[0]!;
        const examples = (first.examples as Record<string, { summary: string; value: unknown }> | undefined) ?? {};
        request = `<h4>Request body <span class="muted">${Object.keys(content).map(esc).join(', ')}</span></h4>${view.render(first.schema as Json)}${Object.values(examples)
          .map((e) => `<details><summary>Example: ${esc(e.summary)}</summary>${example(e.value)}</details>`)
          .join('')}`;
      }
      const responses = Object.entries(op.responses as Record<string, Json>)
        .map(([status, r]) => {
          const content = (r.content ?? {}) as Record<string, Json>;
          const media = Object.keys(content);
          const json = content['application/json'];
          const schema = json?.schema as Json | undefined;
          const ex = json?.example;
          return `<div class="resp"><b>${esc(status)}</b> ${text(r.description)} <span class="muted">${media.map(esc).join(', ')}</span>${
            schema ? `<div class="type">${view.typeOf(schema)}</div>${view.render(schema)}` : ''
          }${ex !== undefined ? `<details><summary>Example</summary>${example(ex)}</details>` : ''}</div>`;
        })
        .join('');
      body.push(`<section class="operation" id="${id}" data-search="${search}">
<h3><span class="m m-${method.toLowerCase()}">${method}</span> <code>${esc(path)}</code></h3>
<p class="summary">${text(op.summary)}</p>${op.description ? `<p>${text(op.description)}</p>` : ''}
<p class="muted">Auth: ${esc(auth)}</p>
${params.length ? `<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr>${paramRows}</table>` : ''}
${request}<h4>Responses</h4>${responses}</section>`);
    }
  }
  const schemes = Object.entries(((doc.components as Json).securitySchemes ?? {}) as Record<string, Json>)
    .map(([name, s]) => `<li><code>${esc(name)}</code> — ${text(s.description)}</li>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)} API ${esc(info.version)}</title><style>${CSS}</style></head><body>
<nav><input id="q" type="search" placeholder="Search operations…" aria-label="Search operations"><ul id="nav">${nav.join('')}</ul></nav>
<main><h1>${esc(info.title)} API <span class="muted">${esc(info.version)}</span></h1><p>${text(info.description)}</p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a> · <a href="openapi.yaml">openapi.yaml</a></p>
<h2>Authentication</h2><ul>${schemes}</ul>
${body.join('\n')}</main>
<script>${SCRIPT}</script></body></html>`;
}

const CSS = `body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1b1b1f;display:flex}
nav{position:sticky;top:0;height:100vh;overflow:auto;width:330px;flex:none;border-right:1px solid #ddd;padding:12px;box-sizing:border-box;background:#fafafa}
nav input{width:100%;padding:6px;box-sizing:border-box;margin-bottom:8px}nav ul{list-style:none;padding:0;margin:0}
nav li.tag{font-weight:600;margin-top:10px}nav li.op a{display:block;text-decoration:none;color:inherit;font-size:13px;padding:1px 0;word-break:break-all}
main{padding:16px 32px;max-width:1000px;min-width:0}section.operation{border-top:1px solid #e4e4e4;padding:8px 0 16px}
.m{display:inline-block;min-width:52px;font:600 12px monospace;color:#fff;border-radius:3px;text-align:center;padding:1px 4px}
.m-get{background:#2f7d32}.m-post{background:#1565c0}.m-put{background:#6a1b9a}.m-patch{background:#ef6c00}.m-delete{background:#c62828}
.muted{color:#666;font-size:13px}.req{color:#c62828;font-size:12px}.ref{color:#666;font-size:12px}code{font-size:13px;background:#f1f1f4;padding:0 3px;border-radius:3px}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}
ul.schema{font-size:14px;margin:2px 0;padding-left:20px}pre{background:#f6f6f8;padding:8px;overflow:auto;font-size:13px}
.resp{margin:6px 0}.hidden{display:none}`;

const SCRIPT = `(function(){var q=document.getElementById('q');q.addEventListener('input',function(){var t=q.value.trim().toLowerCase();
document.querySelectorAll('[data-search]').forEach(function(el){el.classList.toggle('hidden',!!t&&el.getAttribute('data-search').indexOf(t)<0);});});})();`;

/** The page's Content-Security-Policy: nothing from anywhere, its own inline style and (by hash) script. */
export const DOCS_CSP = `default-src 'none'; script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
