/**
 * The model catalogue: which public model ids exist (and their aliases), what each can make
 * (aspect ratios, resolutions with the exact pixel size of every pair, durations, audio, frames,
 * references, negative prompt, seed, modes, option keys) and its list price per second by
 * resolution, audio and mode. The built-in models live in ./models/; operators add or override
 * models in the config file (config.ts turns those entries into `ModelOverride`s).
 */
import { BUILTIN_MODELS } from './models/index.js';
import type { AspectRatio, Resolution } from './video-request.js';
import { ASPECT_RATIOS, RESOLUTIONS } from './video-request.js';

export { BUILTIN_MODELS };

export interface Size {
  width: number;
  height: number;
}

/** Aspect ratios that have a pixel size ('adaptive' follows the first frame). */
export type FixedRatio = Exclude<AspectRatio, 'adaptive'>;
export const FIXED_RATIOS = ASPECT_RATIOS.filter((r): r is FixedRatio => r !== 'adaptive');

/** Allowed durations: an explicit list, or a range with a step (both ends included). */
export type Durations = { values: number[] } | { min: number; max: number; step: number };

/** none; optional with its default; always on (cannot be turned off). */
export type AudioSupport = { mode: 'none' } | { mode: 'optional'; default: boolean } | { mode: 'always' };

export type Lifecycle = { status: 'active' } | { status: 'retired'; retiredOn: string; replacement?: string };

/** One price: the most specific matching row wins (fields absent = any). */
export interface PriceRow {
  resolution?: Resolution;
  audio?: boolean;
  mode?: string;
  usdPerSecond: number;
}

export interface ModelSpec {
  /** Provider's own model id (e.g. 'veo-3.1-fast-generate-001', 'kling-v3'). */
  id: string;
  /** Display name. */
  name: string;
  /** Maker: 'google', 'kuaishou', 'bytedance', 'openai', … */
  ownedBy: string;
  /** Other spellings (apimart's 'veo3.1-fast' …), resolved by Catalog.get. */
  aliases: string[];
  lifecycle: Lifecycle;
  description?: string;
  /** Where the capabilities and prices come from (URL or document), shown in docs/models.md. */
  source?: string;
  /**
   * Exact pixel size "WxH" of every offered (resolution, aspect ratio) pair, in documented order.
   * The offered resolutions and fixed aspect ratios are exactly the keys present here.
   */
  sizes: Partial<Record<Resolution, Partial<Record<FixedRatio, string>>>>;
  /** The model can follow the first frame's shape ('adaptive' accepted as aspect ratio). */
  adaptive: boolean;
  durations: Durations;
  defaults: { aspectRatio: AspectRatio; resolution: Resolution; seconds: number; mode?: string };
  audio: AudioSupport;
  firstFrame: boolean;
  /** A last frame (always together with a first frame unless lastFrameAlone). */
  lastFrame: boolean;
  lastFrameAlone?: boolean;
  /** Maximum counts, 0 = not taken. */
  references: { images: number; videos: number; audios: number };
  /** References and first/last frames cannot be combined in one request. */
  referencesExclusive?: boolean;
  negativePrompt: boolean;
  seed?: { min: number; max: number };
  /** E.g. Kling ['std', 'pro']; defaults.mode is the default. */
  modes?: string[];
  /** Model-specific option keys accepted in `metadata`. */
  options: string[];
  /** USD per second (list price). */
  pricing: PriceRow[];
}

/** What prices a video: its resolution, whether it has audio, and the model's mode. */
export interface PriceQuery {
  resolution: Resolution;
  audio: boolean;
  mode?: string;
}

// ---------------------------------------------------------------- sizes

export function parseSize(size: string): Size | null {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(size);
  if (!m) return null;
  return { width: Number(m[1]), height: Number(m[2]) };
}

export const formatSize = (s: Size): string => `${s.width}x${s.height}`;

// ---------------------------------------------------------------- pure helpers

/** The offered resolutions, in declared order. */
export function resolutionsOf(m: ModelSpec): Resolution[] {
  return (Object.keys(m.sizes) as Resolution[]).filter((r) => Object.keys(m.sizes[r] ?? {}).length > 0);
}

/** Fixed ratios in declared order (over all resolutions), then 'adaptive' if the model follows the first frame. */
export function aspectRatiosOf(m: ModelSpec): AspectRatio[] {
  const out: AspectRatio[] = [];
  for (const r of resolutionsOf(m)) for (const ratio of Object.keys(m.sizes[r]!) as FixedRatio[]) if (!out.includes(ratio)) out.push(ratio);
  if (m.adaptive) out.push('adaptive');
  return out;
}

/** The allowed durations as a list (a range expanded by its step). */
export function durationsOf(m: ModelSpec): number[] {
  const d = m.durations;
  if ('values' in d) return [...d.values];
  const out: number[] = [];
  for (let s = d.min; s <= d.max + 1e-9; s += d.step) out.push(Math.round(s * 1000) / 1000);
  return out;
}

export function sizeOf(m: ModelSpec, resolution: Resolution, ratio: FixedRatio): Size | undefined {
  const text = m.sizes[resolution]?.[ratio];
  return text === undefined ? undefined : (parseSize(text) ?? undefined);
}

/** The (resolution, ratio) pair a "WxH" size is, first match in declared order. */
export function pairOfSize(m: ModelSpec, size: string): { resolution: Resolution; aspectRatio: FixedRatio } | undefined {
  for (const resolution of resolutionsOf(m)) {
    for (const [ratio, text] of Object.entries(m.sizes[resolution]!) as [FixedRatio, string][]) {
      if (text === size) return { resolution, aspectRatio: ratio };
    }
  }
  return undefined;
}

/** Every distinct "WxH" the model makes, in declared order. */
export function sizesOf(m: ModelSpec): string[] {
  const out: string[] = [];
  for (const r of resolutionsOf(m)) for (const text of Object.values(m.sizes[r]!) as string[]) if (!out.includes(text)) out.push(text);
  return out;
}

/** The default size: the default resolution at the default ratio (the first ratio when adaptive). */
export function defaultSizeOf(m: ModelSpec): Size {
  const at = m.sizes[m.defaults.resolution] ?? {};
  const ratio = m.defaults.aspectRatio === 'adaptive' ? (Object.keys(at)[0] as FixedRatio) : m.defaults.aspectRatio;
  return sizeOf(m, m.defaults.resolution, ratio)!;
}

/** Audio on by default? */
export function defaultAudio(m: ModelSpec): boolean {
  return m.audio.mode === 'always' || (m.audio.mode === 'optional' && m.audio.default);
}

/** Sora's apimart 'standard' is the same frame as 720p: one price class. */
const SAME_AS_720P = new Set<string>(['720p', 'standard']);

/** The price row that applies: the most specific row whose given fields all match (first wins a tie). */
export function priceRowFor(rows: readonly PriceRow[], q: PriceQuery): PriceRow | undefined {
  let best: PriceRow | undefined;
  let bestScore = -1;
  for (const row of rows) {
    if (row.resolution !== undefined && row.resolution !== q.resolution && !(SAME_AS_720P.has(row.resolution) && SAME_AS_720P.has(q.resolution))) continue;
    if (row.audio !== undefined && row.audio !== q.audio) continue;
    if (row.mode !== undefined && row.mode !== q.mode) continue;
    // An exact resolution beats Sora's standard/720p equivalence.
    const res = row.resolution === undefined ? 0 : row.resolution === q.resolution ? 1 : 0.5;
    const score = res + (row.audio !== undefined ? 1 : 0) + (row.mode !== undefined ? 1 : 0);
    if (score > bestScore) {
      best = row;
      bestScore = score;
    }
  }
  return best;
}

/** List price in USD per second, or undefined when nothing prices that combination. */
export function listPrice(m: ModelSpec, q: PriceQuery): number | undefined {
  return priceRowFor(m.pricing, { ...q, mode: q.mode ?? m.defaults.mode })?.usdPerSecond;
}

// ---------------------------------------------------------------- checking a model

/** Problems of a model entry, each as [field, message]; empty when the entry is sound. */
export function modelProblems(m: ModelSpec): [string, string][] {
  const out: [string, string][] = [];
  const res = resolutionsOf(m);
  for (const r of Object.keys(m.sizes)) {
    if (!(RESOLUTIONS as readonly string[]).includes(r)) out.push([`sizes.${r}`, `unknown resolution; use one of ${RESOLUTIONS.join(', ')}`]);
    for (const [ratio, text] of Object.entries(m.sizes[r as Resolution] ?? {})) {
      if (!(FIXED_RATIOS as readonly string[]).includes(ratio)) out.push([`sizes.${r}.${ratio}`, `unknown aspect ratio; use one of ${FIXED_RATIOS.join(', ')}`]);
      if (typeof text !== 'string' || !parseSize(text)) out.push([`sizes.${r}.${ratio}`, `must be a pixel size such as 1280x720, not ${JSON.stringify(text)}`]);
    }
  }
  if (res.length === 0) out.push(['sizes', 'at least one resolution with one aspect ratio is required']);
  const durations = durationsOf(m);
  if (durations.length === 0 || durations.some((d) => !(d > 0))) out.push(['durations', 'must be positive seconds (a list, or min/max/step)']);
  if ('min' in m.durations && !(m.durations.step > 0)) out.push(['durations.step', 'must be positive']);
  const d = m.defaults;
  if (res.length && !res.includes(d.resolution)) out.push(['defaults.resolution', `'${d.resolution}' is not offered; the model offers ${res.join(', ')}`]);
  const ratios = aspectRatiosOf(m);
  if (ratios.length && !ratios.includes(d.aspectRatio)) out.push(['defaults.aspectRatio', `'${d.aspectRatio}' is not offered; the model offers ${ratios.join(', ')}`]);
  else if (res.includes(d.resolution) && d.aspectRatio !== 'adaptive' && !sizeOf(m, d.resolution, d.aspectRatio)) {
    out.push(['defaults.aspectRatio', `'${d.aspectRatio}' has no size at ${d.resolution}`]);
  }
  if (durations.length && !durations.includes(d.seconds)) out.push(['defaults.seconds', `${d.seconds} is not one of the durations (${durations.join(', ')})`]);
  if (m.modes?.length) {
    if (d.mode === undefined || !m.modes.includes(d.mode)) out.push(['defaults.mode', `must be one of the modes (${m.modes.join(', ')})`]);
  } else if (d.mode !== undefined) out.push(['defaults.mode', 'the model has no modes']);
  if (m.lastFrame && !m.firstFrame && !m.lastFrameAlone) out.push(['lastFrame', 'a last frame needs a first frame (or lastFrameAlone)']);
  if (m.seed && !(Number.isInteger(m.seed.min) && Number.isInteger(m.seed.max) && m.seed.min <= m.seed.max)) out.push(['seed', 'min and max must be integers, min <= max']);
  for (const k of ['images', 'videos', 'audios'] as const) {
    const n = m.references[k];
    if (!Number.isInteger(n) || n < 0) out.push([`references.${k}`, 'must be a whole number >= 0']);
  }
  if (m.lifecycle.status === 'retired' && !/^\d{4}-\d{2}-\d{2}$/.test(m.lifecycle.retiredOn)) out.push(['lifecycle.retiredOn', 'must be a date YYYY-MM-DD']);
  m.pricing.forEach((p, i) => {
    if (!(p.usdPerSecond >= 0)) out.push([`pricing.${i}.usdPerSecond`, 'must be a number >= 0']);
    if (p.resolution !== undefined && !res.includes(p.resolution)) out.push([`pricing.${i}.resolution`, `'${p.resolution}' is not offered; the model offers ${res.join(', ')}`]);
    if (p.mode !== undefined && !m.modes?.includes(p.mode)) out.push([`pricing.${i}.mode`, `'${p.mode}' is not one of the model's modes`]);
  });
  return out;
}

/** A model entry or override is unsound: names the model and the field. */
export class ModelConfigError extends Error {
  constructor(
    readonly model: string,
    readonly field: string,
    detail: string,
  ) {
    super(`model '${model}': ${field}: ${detail}`);
    this.name = 'ModelConfigError';
  }
}

// ---------------------------------------------------------------- the catalogue

export class Catalog {
  private readonly byId = new Map<string, ModelSpec>();
  private readonly byAlias = new Map<string, ModelSpec>();

  constructor(models: ModelSpec[]) {
    for (const m of models) this.byId.set(m.id, m);
    for (const m of models) {
      for (const a of m.aliases) {
        const key = a.toLowerCase();
        const other = this.byAlias.get(key) ?? (this.byId.has(a) ? this.byId.get(a) : undefined);
        if (other && other !== m) throw new ModelConfigError(m.id, 'aliases', `'${a}' is already ${other.id === a ? 'a model id' : `an alias of '${other.id}'`}`);
        this.byAlias.set(key, m);
      }
    }
  }

  /** The model with this id or alias (ids exact, aliases in any case). */
  get(idOrAlias: string): ModelSpec | undefined {
    return this.byId.get(idOrAlias) ?? this.byAlias.get(idOrAlias.toLowerCase());
  }

  /** Canonical entries only (aliases are not repeated). */
  list(): ModelSpec[] {
    return [...this.byId.values()];
  }
}

/** An operator's entry: a new model (every required field), or changes to a built-in one. */
export type ModelOverride = Partial<Omit<ModelSpec, 'defaults'>> & { id: string; defaults?: Partial<ModelSpec['defaults']> };

/**
 * Merge operator entries into the built-in list: an entry whose id (or alias) names a built-in
 * model replaces the fields it sets; other entries are new models. Every resulting model is
 * checked; a bad one throws ModelConfigError naming the model and the field.
 */
export function buildCatalog(overrides: ModelOverride[] = [], builtins: ModelSpec[] = BUILTIN_MODELS): Catalog {
  const merged = new Map(builtins.map((m) => [m.id, m]));
  for (const o of overrides) {
    const existing = merged.get(o.id);
    if (existing) {
      merged.set(existing.id, { ...existing, ...o, id: existing.id, defaults: { ...existing.defaults, ...o.defaults } });
      continue;
    }
    for (const field of ['sizes', 'durations'] as const) {
      if (o[field] === undefined) throw new ModelConfigError(o.id, field, 'is required for a model that is not built in');
    }
    // A new model named like a built-in alias takes that name over.
    for (const [id, m] of merged) {
      if (m.aliases.some((a) => a.toLowerCase() === o.id.toLowerCase())) merged.set(id, { ...m, aliases: m.aliases.filter((a) => a.toLowerCase() !== o.id.toLowerCase()) });
    }
    const sizes = o.sizes!;
    const firstRes = (Object.keys(sizes)[0] ?? '720p') as Resolution;
    const firstRatio = (Object.keys(sizes[firstRes] ?? {})[0] ?? '16:9') as FixedRatio;
    const spec: ModelSpec = {
      name: o.id,
      ownedBy: 'vidgate',
      aliases: [],
      lifecycle: { status: 'active' },
      adaptive: false,
      audio: { mode: 'none' },
      firstFrame: true,
      lastFrame: false,
      references: { images: 0, videos: 0, audios: 0 },
      negativePrompt: false,
      options: [],
      pricing: [],
      ...o,
      sizes,
      durations: o.durations!,
      defaults: { aspectRatio: firstRatio, resolution: firstRes, seconds: durationsOfRaw(o.durations!)[0] ?? 0, ...(o.modes?.length ? { mode: o.modes[0] } : {}), ...o.defaults },
    };
    merged.set(o.id, spec);
  }
  for (const m of merged.values()) {
    const problem = modelProblems(m)[0];
    if (problem) throw new ModelConfigError(m.id, problem[0], problem[1]);
  }
  return new Catalog([...merged.values()]);
}

const durationsOfRaw = (d: Durations): number[] => durationsOf({ durations: d } as ModelSpec);
