import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ADAPTERS } from '../providers/index.js';
import type { ChannelCredentials } from '../providers/types.js';

/**
 * Channel credentials beyond the one API key: each adapter declares the fields it takes
 * (`AdapterDefinition.credentials`). The admin API and the CLI take them by name (`access_key`);
 * the config file also as `<name>_env` (an environment variable) and `<name>_file` (a file's
 * content, e.g. a service-account key). They are sealed with the key and the headers, never shown
 * (views list only which are set), and every value — and every string inside a JSON value, such
 * as a service account's private key — is scrubbed from upstream text.
 */

/** Every credential field name some adapter declares. */
export const CREDENTIAL_NAMES: readonly string[] = [...new Set(Object.values(ADAPTERS).flatMap((a) => (a.credentials ?? []).map((f) => f.name)))];

const value = z.string().trim().min(1).max(65_536);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);

/*
 * Shapes to spread into the channel schemas. Their names depend on the registered adapters, so
 * they are validated at run time but not typed: read them with credentialsOf() / patchCredentials().
 */
type Untyped = Record<never, never>;
/** Admin API create fields. */
export const credentialFields = Object.fromEntries(CREDENTIAL_NAMES.map((n) => [n, value.optional()])) as Untyped;
/** Admin API patch fields (null removes). */
export const credentialPatchFields = Object.fromEntries(CREDENTIAL_NAMES.map((n) => [n, value.nullable().optional()])) as Untyped;
/** Config-file fields: the value, or where to read it. */
export const credentialConfigFields = Object.fromEntries(
  CREDENTIAL_NAMES.flatMap((n) => [
    [n, value.optional()],
    [`${n}_env`, envName.optional()],
    [`${n}_file`, z.string().min(1).max(4096).optional()],
  ]),
) as Untyped;

/** Issues for credential fields the channel's type does not take, or combinations it cannot use. */
export function checkCredentialFields(v: Record<string, unknown>, ctx: z.RefinementCtx, opts: { config?: boolean; complete?: boolean } = {}): void {
  const def = typeof v.type === 'string' ? ADAPTERS[v.type] : undefined;
  if (!def) return;
  const takes = new Set((def.credentials ?? []).map((f) => f.name));
  for (const n of CREDENTIAL_NAMES) {
    for (const key of opts.config ? [n, `${n}_env`, `${n}_file`] : [n]) {
      if (v[key] === undefined || v[key] === null) continue;
      if (!takes.has(n)) {
        const known = [...takes].join(', ');
        ctx.addIssue({ code: 'custom', path: [key], message: `a '${def.type}' channel takes no '${n}'${known ? ` (it takes ${known})` : ''}` });
      }
    }
    if (opts.config && [n, `${n}_env`, `${n}_file`].filter((k) => v[k] !== undefined).length > 1) {
      ctx.addIssue({ code: 'custom', path: [`${n}_env`], message: `give one of ${n}, ${n}_env and ${n}_file` });
    }
  }
  if (opts.complete && !opts.config) {
    const problem = def.checkCredentials?.(credentialsOf(v));
    if (problem) ctx.addIssue({ code: 'custom', path: [firstCredential(def.credentials?.map((f) => f.name) ?? [])], message: problem });
  }
}

const firstCredential = (names: string[]): string => names[0] ?? 'api_key';

/** Credentials from a create input (admin API) or a resolved config entry. */
export function credentialsOf(input: Record<string, unknown>): ChannelCredentials {
  const fields: Record<string, string> = {};
  for (const n of CREDENTIAL_NAMES) if (typeof input[n] === 'string') fields[n] = input[n];
  return {
    ...(typeof input.api_key === 'string' ? { apiKey: input.api_key } : {}),
    ...(input.headers && typeof input.headers === 'object' ? { headers: input.headers as Record<string, string> } : {}),
    ...(Object.keys(fields).length ? { fields } : {}),
  };
}

/** Apply a PATCH's credential changes (a value sets, null removes). */
export function patchCredentials(c: ChannelCredentials, patch: Record<string, unknown>): ChannelCredentials {
  const out: ChannelCredentials = { ...c, ...(c.fields ? { fields: { ...c.fields } } : {}) };
  if (patch.api_key !== undefined) {
    if (patch.api_key === null) delete out.apiKey;
    else out.apiKey = patch.api_key as string;
  }
  if (patch.headers !== undefined) {
    if (patch.headers === null) delete out.headers;
    else out.headers = patch.headers as Record<string, string>;
  }
  for (const n of CREDENTIAL_NAMES) {
    if (patch[n] === undefined) continue;
    const fields = (out.fields ??= {});
    if (patch[n] === null) delete fields[n];
    else fields[n] = patch[n] as string;
  }
  if (out.fields && Object.keys(out.fields).length === 0) delete out.fields;
  return out;
}

/**
 * Read `api_key_env` and every `<name>_env` / `<name>_file` of a config-file channel into the
 * plain fields (the config file's own problems as sentences naming the field).
 */
export function resolveCredentialSources(c: Record<string, unknown>, env: NodeJS.ProcessEnv, where: string): string[] {
  const problems: string[] = [];
  const fromEnv = (key: string, target: string) => {
    const name = c[key];
    if (typeof name !== 'string') return;
    const v = env[name];
    if (!v) problems.push(`${where}.${key} (config file): the environment variable ${name} is not set`);
    else c[target] = v;
    delete c[key];
  };
  fromEnv('api_key_env', 'api_key');
  for (const n of CREDENTIAL_NAMES) {
    fromEnv(`${n}_env`, n);
    const file = c[`${n}_file`];
    if (typeof file === 'string') {
      try {
        const text = readFileSync(file, 'utf8').trim();
        if (!text) problems.push(`${where}.${n}_file (config file): ${file} is empty`);
        else c[n] = text;
      } catch (err) {
        problems.push(`${where}.${n}_file (config file): cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      delete c[`${n}_file`];
    }
  }
  const def = typeof c.type === 'string' ? ADAPTERS[c.type] : undefined;
  const problem = problems.length ? undefined : def?.checkCredentials?.(credentialsOf(c));
  if (problem) problems.push(`${where} (config file): ${problem}`);
  return problems;
}

/** Whether anything is set (a channel without credentials stores null). */
export function hasCredentials(c: ChannelCredentials): boolean {
  return !!(c.apiKey || (c.headers && Object.keys(c.headers).length) || (c.fields && Object.keys(c.fields).length));
}

export function sameCredentials(a: ChannelCredentials, b: ChannelCredentials): boolean {
  const norm = (c: ChannelCredentials) => JSON.stringify([c.apiKey ?? '', c.headers ?? {}, Object.entries(c.fields ?? {}).sort()]);
  return norm(a) === norm(b);
}

/**
 * The strings to scrub from upstream text: every credential value, and inside a JSON value (a
 * service-account key) every string long enough to matter, also as it appears JSON-escaped.
 */
export function secretValues(c: ChannelCredentials): string[] {
  const out = new Set<string>();
  const add = (v: string) => {
    if (v.length < 4) return;
    out.add(v);
    const escaped = JSON.stringify(v).slice(1, -1);
    if (escaped !== v) out.add(escaped);
  };
  const leaves = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.length >= 16) add(v);
    } else if (v && typeof v === 'object') for (const x of Object.values(v)) leaves(x);
  };
  for (const v of [c.apiKey, ...Object.values(c.headers ?? {}), ...Object.values(c.fields ?? {})]) {
    if (typeof v !== 'string') continue;
    add(v);
    if (v.trimStart().startsWith('{')) {
      try {
        leaves(JSON.parse(v));
      } catch {
        // not JSON after all
      }
    }
  }
  // Longest first, so that a value containing another is removed whole.
  return [...out].sort((a, b) => b.length - a.length);
}

/** Names of the declared credential fields that are set (for views; values are never shown). */
export function credentialNamesSet(c: ChannelCredentials): string[] {
  return Object.keys(c.fields ?? {}).sort();
}
