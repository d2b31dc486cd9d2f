import { z } from 'zod';
import { MONEY_BOUNDS } from '../billing/money.js';
import { RESOLUTIONS } from '../core/video-request.js';
import type { Resolution } from '../core/video-request.js';
import { ADAPTERS } from '../providers/index.js';
import { checkCredentialFields, credentialConfigFields, credentialFields, credentialPatchFields } from './credentials.js';

/**
 * A channel = one upstream account: an adapter type, a base URL, credentials, the public models
 * it serves (and under which upstream names), routing weights and limits, and optional pricing.
 * The same shape (snake_case) is used in the config file and by the admin API.
 */

export const CHANNEL_ID_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const RESERVED_IDS = new Set(['sandbox']);

const httpUrl = z
  .string()
  .trim()
  .max(2000)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials, query or fragment, e.g. https://api.apimart.ai')
  .transform((s) => s.replace(/\/+$/, ''));

/** USD per second by resolution ('1024p' is the older name of Sora's 'high'). */
const resolutionPrices = z
  .object(Object.fromEntries([...RESOLUTIONS, '1024p'].map((r) => [r, z.number().min(0).max(MONEY_BOUNDS.maxUsdPerSecond)])) as Record<Resolution | '1024p', z.ZodNumber>)
  .partial()
  .strict();

const modelEntry = z.union([
  z.string().trim().min(1).max(200),
  z
    .object({
      /** Public model id (must be in the catalogue). */
      model: z.string().trim().min(1).max(200),
      /** Name sent upstream (default: the public id). */
      upstream_model: z.string().trim().min(1).max(200).optional(),
      /** This channel's price for this model, USD per second by resolution (overrides list price and markup). */
      usd_per_second: resolutionPrices.optional(),
    })
    .strict(),
]);

const limit = z.number().int().positive().max(1_000_000).nullable();
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'header names are letters, digits and dashes');

const fields = {
  name: z.string().trim().min(1).max(200).optional(),
  /** Required unless the adapter derives it from its options (a region). */
  base_url: httpUrl.optional(),
  /** The upstream API key (sealed at rest, never returned). */
  api_key: z.string().trim().min(1).max(8192).optional(),
  /** Extra request headers, e.g. OpenAI-Organization (sealed like the key, never returned). */
  headers: z.record(headerName, z.string().max(8192)).optional(),
  models: z.array(modelEntry).min(1, 'a channel serves at least one model').max(500),
  /** Higher goes first. */
  priority: z.number().int().min(-1000).max(1000).optional(),
  /** Share of traffic within its priority tier. */
  weight: z.number().int().min(1).max(1000).optional(),
  /** Requests in flight to the upstream at once (per gateway process). */
  concurrency: limit.optional(),
  /** Requests per minute to the upstream (per gateway process). */
  rpm: limit.optional(),
  /** Unfinished upstream jobs at once (Azure allows 2). */
  max_jobs: limit.optional(),
  /** Multiplier on the list price for tasks served here (1.2 = +20 %). */
  markup: z.number().positive().max(MONEY_BOUNDS.maxMarkup).nullable().optional(),
  /** A task on this channel fails when it is not done this long after creation. */
  deadline_minutes: z.number().int().min(1).max(7 * 24 * 60).nullable().optional(),
  enabled: z.boolean().optional(),
  /** Adapter options (see docs/providers.md). */
  options: z.record(z.string(), z.unknown()).optional(),
};

function checkOptions(v: { type?: string; options?: Record<string, unknown> }, ctx: z.RefinementCtx): void {
  if (!v.type) return;
  const def = ADAPTERS[v.type];
  if (!def) return;
  const r = def.options.safeParse(v.options ?? {});
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', path: ['options', ...issue.path.map(String)], message: issue.message });
  }
}

/** The base URL an adapter derives from a channel's options (its region), if it does. */
export function defaultBaseUrl(type: string, options: Record<string, unknown> | undefined): string | undefined {
  const def = ADAPTERS[type];
  const parsed = def?.options.safeParse(options ?? {});
  return def?.baseUrl && parsed?.success ? def.baseUrl(parsed.data as never) : undefined;
}

function checkBaseUrl(v: { type?: string; base_url?: string; options?: Record<string, unknown> }, ctx: z.RefinementCtx): void {
  if (v.base_url || !v.type || !ADAPTERS[v.type]) return;
  if (!defaultBaseUrl(v.type, v.options)) ctx.addIssue({ code: 'custom', path: ['base_url'], message: ADAPTERS[v.type]!.baseUrl ? 'give base_url or a region in options' : 'base_url is required' });
}

/** A registered adapter type (checked when parsed, so that every registered adapter counts). */
const typeField = z.string().refine((t) => Object.hasOwn(ADAPTERS, t), {
  error: () => `must be one of ${Object.keys(ADAPTERS).join(', ')}`,
});

const idField = z
  .string()
  .regex(CHANNEL_ID_RE, 'ids are 1–63 lower-case letters, digits, dots, dashes or underscores')
  .refine((id) => !RESERVED_IDS.has(id), 'this id is reserved');

export const channelCreateSchema = z
  .object({ id: idField, type: typeField, ...fields, ...credentialFields })
  .strict()
  .superRefine(checkOptions)
  .superRefine(checkBaseUrl)
  .superRefine((v, ctx) => checkCredentialFields(v, ctx, { complete: true }));

/** PATCH: every field optional; api_key null removes the key. The id and the type never change. */
export const channelPatchSchema = z
  .object({
    name: fields.name,
    base_url: httpUrl.optional(),
    api_key: z.string().trim().min(1).max(8192).nullable().optional(),
    headers: fields.headers.nullable(),
    models: fields.models.optional(),
    priority: fields.priority,
    weight: fields.weight,
    concurrency: fields.concurrency,
    rpm: fields.rpm,
    max_jobs: fields.max_jobs,
    markup: fields.markup,
    deadline_minutes: fields.deadline_minutes,
    enabled: fields.enabled,
    options: fields.options,
    ...credentialPatchFields,
  })
  .strict();

/** In the config file credentials may come from environment variables (`<name>_env`) or files (`<name>_file`) instead. */
export const channelConfigSchema = z
  .object({ id: idField, type: typeField, ...fields, api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(), ...credentialConfigFields })
  .strict()
  .superRefine(checkOptions)
  .superRefine(checkBaseUrl)
  .superRefine((v, ctx) => {
    if (v.api_key && v.api_key_env) ctx.addIssue({ code: 'custom', path: ['api_key_env'], message: 'give api_key or api_key_env, not both' });
    checkCredentialFields(v, ctx, { config: true });
  });

export type ChannelCreateInput = z.infer<typeof channelCreateSchema>;
export type ChannelPatchInput = z.infer<typeof channelPatchSchema>;
export type ChannelConfigInput = z.infer<typeof channelConfigSchema>;

export interface ChannelModel {
  model: string;
  upstreamModel: string;
  usdPerSecond?: Partial<Record<Resolution | '1024p', number>>;
}

/** A channel as the gateway keeps it (credentials apart). */
export interface ChannelDef {
  id: string;
  name: string;
  type: string;
  baseUrl: string;
  models: ChannelModel[];
  priority: number;
  weight: number;
  concurrency: number | null;
  rpm: number | null;
  maxJobs: number | null;
  markup: number | null;
  deadlineMinutes: number | null;
  enabled: boolean;
  options: Record<string, unknown>;
  source: 'config' | 'api';
}

export function normaliseModels(models: ChannelCreateInput['models']): ChannelModel[] {
  return models.map((m) =>
    typeof m === 'string'
      ? { model: m, upstreamModel: m }
      : { model: m.model, upstreamModel: m.upstream_model ?? m.model, ...(m.usd_per_second ? { usdPerSecond: m.usd_per_second } : {}) },
  );
}

/** A validated create input (API or config) as a definition. */
export function toDef(input: ChannelCreateInput, source: ChannelDef['source']): ChannelDef {
  return {
    id: input.id,
    name: input.name ?? input.id,
    type: input.type,
    // Present, or derivable (checkBaseUrl).
    baseUrl: input.base_url ?? defaultBaseUrl(input.type, input.options)!,
    models: normaliseModels(input.models),
    priority: input.priority ?? 0,
    weight: input.weight ?? 1,
    concurrency: input.concurrency ?? null,
    rpm: input.rpm ?? null,
    maxJobs: input.max_jobs ?? null,
    markup: input.markup ?? null,
    deadlineMinutes: input.deadline_minutes ?? null,
    enabled: input.enabled ?? true,
    options: input.options ?? {},
    source,
  };
}
