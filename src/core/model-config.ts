/**
 * `models:` in the config file: operators add models or change built-in ones with the catalogue's
 * own vocabulary (camelCase, like the rest of the file). Short forms for hand-written entries:
 * `sizes` as a list of "WxH" (resolution and aspect ratio read from the size), `seconds` as the
 * list of durations, `pricePerSecond` as USD per second by resolution, `defaultSize` and
 * `defaultSeconds` for the defaults, `audio` as 'none' | 'optional' | 'always'.
 */
import { z } from 'zod';
import { MONEY_BOUNDS } from '../billing/money.js';
import type { Durations, FixedRatio, ModelOverride, ModelSpec, PriceRow } from './catalog.js';
import { BUILTIN_MODELS, Catalog, FIXED_RATIOS, ModelConfigError, buildCatalog, pairOfSize, parseSize } from './catalog.js';
import type { Resolution } from './video-request.js';
import { ASPECT_RATIOS, RESOLUTIONS } from './video-request.js';

const wxh = z.string().regex(/^\d{2,5}x\d{2,5}$/, 'must be a pixel size such as 1280x720');
const resolution = z.enum(RESOLUTIONS);
const fixedRatio = z.enum(FIXED_RATIOS as [FixedRatio, ...FixedRatio[]]);
const seconds = z.number().positive();
const usd = z.number().min(0).max(MONEY_BOUNDS.maxUsdPerSecond);

const durations = z.union([
  z.array(seconds).min(1),
  z.object({ min: seconds, max: seconds, step: seconds }).strict().refine((d) => d.min <= d.max, 'min must not exceed max'),
]);

const audio = z.union([
  z.enum(['none', 'optional', 'always']),
  z.object({ mode: z.literal('none') }).strict(),
  z.object({ mode: z.literal('optional'), default: z.boolean().default(false) }).strict(),
  z.object({ mode: z.literal('always') }).strict(),
]);

export const modelEntrySchema = z
  .object({
    id: z.string().trim().min(1).max(200),
    name: z.string().min(1).optional(),
    ownedBy: z.string().min(1).optional(),
    aliases: z.array(z.string().trim().min(1).max(200)).optional(),
    description: z.string().optional(),
    source: z.string().optional(),
    lifecycle: z
      .union([
        z.object({ status: z.literal('active') }).strict(),
        z.object({ status: z.literal('retired'), retiredOn: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD'), replacement: z.string().optional() }).strict(),
      ])
      .optional(),
    sizes: z.union([z.partialRecord(resolution, z.partialRecord(fixedRatio, wxh)), z.array(wxh).min(1)]).optional(),
    adaptive: z.boolean().optional(),
    durations: durations.optional(),
    seconds: z.array(seconds).min(1).optional(),
    defaults: z
      .object({ aspectRatio: z.enum(ASPECT_RATIOS).optional(), resolution: resolution.optional(), seconds: seconds.optional(), mode: z.string().optional() })
      .strict()
      .optional(),
    defaultSize: wxh.optional(),
    defaultSeconds: seconds.optional(),
    audio: audio.optional(),
    firstFrame: z.boolean().optional(),
    lastFrame: z.boolean().optional(),
    lastFrameAlone: z.boolean().optional(),
    references: z.object({ images: z.number().int().min(0).max(100).optional(), videos: z.number().int().min(0).max(100).optional(), audios: z.number().int().min(0).max(100).optional() }).strict().optional(),
    referencesExclusive: z.boolean().optional(),
    negativePrompt: z.boolean().optional(),
    seed: z.object({ min: z.number().int(), max: z.number().int() }).strict().optional(),
    modes: z.array(z.string().min(1)).min(1).optional(),
    options: z.array(z.string().min(1)).optional(),
    pricing: z.array(z.object({ resolution: resolution.optional(), audio: z.boolean().optional(), mode: z.string().optional(), usdPerSecond: usd }).strict()).optional(),
    /** Short form of `pricing`: USD per second by resolution ('1024p' is read as Sora's 'high'). */
    pricePerSecond: z.partialRecord(z.union([resolution, z.literal('1024p')]), usd).optional(),
  })
  .strict();

export type ModelEntry = z.infer<typeof modelEntrySchema>;

const RATIO_VALUE: Record<FixedRatio, number> = { '16:9': 16 / 9, '9:16': 9 / 16, '1:1': 1, '4:3': 4 / 3, '3:4': 3 / 4, '21:9': 21 / 9, '9:21': 9 / 21 };

/** The aspect ratio a pixel size is (within 3 %), if it is one of ours. */
export function ratioOfSize(width: number, height: number): FixedRatio | undefined {
  const r = width / height;
  let best: FixedRatio | undefined;
  let err = Infinity;
  for (const [name, v] of Object.entries(RATIO_VALUE) as [FixedRatio, number][]) {
    const e = Math.abs(r / v - 1);
    if (e < err) [best, err] = [name, e];
  }
  return err <= 0.03 ? best : undefined;
}

/** The resolution tier of a pixel size, by its shorter side (1024 is Sora's 'high'). */
export function resolutionOfSize(width: number, height: number): Resolution {
  const short = Math.min(width, height);
  if (short < 600) return '480p';
  if (short < 1000) return '720p';
  if (short < 1080) return 'high';
  if (short < 2000) return '1080p';
  return '4k';
}

const fail = (e: ModelEntry, field: string, detail: string): never => {
  throw new ModelConfigError(e.id, field, detail);
};

function sizesFromList(e: ModelEntry, list: string[]): ModelSpec['sizes'] {
  const out: ModelSpec['sizes'] = {};
  list.forEach((text, i) => {
    const s = parseSize(text)!;
    const ratio = ratioOfSize(s.width, s.height) ?? fail(e, `sizes.${i}`, `${text} is not one of the aspect ratios ${FIXED_RATIOS.join(', ')}`);
    const res = resolutionOfSize(s.width, s.height);
    const at = (out[res] ??= {});
    if (at[ratio] !== undefined && at[ratio] !== text) fail(e, `sizes.${i}`, `${text} and ${at[ratio]} are both ${ratio} at ${res}; give sizes as a map by resolution and aspect ratio`);
    at[ratio] = text;
  });
  return out;
}

/** One config entry as catalogue changes (short forms expanded). `base` is the built-in model it changes, if any. */
export function toModelOverride(e: ModelEntry, base?: ModelSpec): ModelOverride {
  const o: ModelOverride = { id: e.id };
  for (const k of ['name', 'ownedBy', 'aliases', 'description', 'source', 'lifecycle', 'adaptive', 'firstFrame', 'lastFrame', 'lastFrameAlone', 'referencesExclusive', 'negativePrompt', 'seed', 'modes', 'options'] as const) {
    if (e[k] !== undefined) (o as Record<string, unknown>)[k] = e[k];
  }
  if (e.sizes !== undefined) o.sizes = Array.isArray(e.sizes) ? sizesFromList(e, e.sizes) : (e.sizes as ModelSpec['sizes']);
  if (e.durations !== undefined && e.seconds !== undefined) fail(e, 'seconds', 'give durations or seconds, not both');
  const d = e.durations ?? e.seconds;
  if (d !== undefined) o.durations = (Array.isArray(d) ? { values: d } : d) as Durations;
  if (e.audio !== undefined) {
    o.audio = typeof e.audio === 'string' ? (e.audio === 'optional' ? { mode: 'optional', default: false } : { mode: e.audio }) : e.audio;
  }
  if (e.references !== undefined) o.references = { images: 0, videos: 0, audios: 0, ...base?.references, ...e.references };
  if (e.pricing !== undefined && e.pricePerSecond !== undefined) fail(e, 'pricePerSecond', 'give pricing or pricePerSecond, not both');
  if (e.pricing !== undefined) o.pricing = e.pricing as PriceRow[];
  if (e.pricePerSecond !== undefined) {
    // Like the older three-tier form (720p, 1024p = Sora's 'high', 1080p): a price for a
    // resolution the model does not make is ignored. The full `pricing` form is strict.
    const offered = o.sizes ?? base?.sizes ?? {};
    o.pricing = Object.entries(e.pricePerSecond)
      .map(([r, usdPerSecond]) => ({ resolution: (r === '1024p' ? 'high' : r) as Resolution, usdPerSecond: usdPerSecond! }))
      .filter((p) => offered[p.resolution] !== undefined);
  }
  const defaults: ModelOverride['defaults'] = { ...e.defaults };
  const sizes = o.sizes ?? base?.sizes;
  if (e.defaultSize !== undefined) {
    if (e.defaults?.resolution !== undefined || e.defaults?.aspectRatio !== undefined) fail(e, 'defaultSize', 'give defaultSize or defaults.resolution/aspectRatio, not both');
    const pair = sizes ? pairOfSize({ sizes } as ModelSpec, e.defaultSize) : undefined;
    if (!pair) fail(e, 'defaultSize', `${e.defaultSize} is not one of the model's sizes`);
    Object.assign(defaults, pair);
  } else if (o.sizes !== undefined && base === undefined && Array.isArray(e.sizes) && defaults.resolution === undefined && defaults.aspectRatio === undefined) {
    Object.assign(defaults, pairOfSize({ sizes: o.sizes } as ModelSpec, e.sizes[0]!));
  }
  if (e.defaultSeconds !== undefined) {
    if (e.defaults?.seconds !== undefined) fail(e, 'defaultSeconds', 'give defaultSeconds or defaults.seconds, not both');
    defaults.seconds = e.defaultSeconds;
  }
  if (Object.keys(defaults).length) o.defaults = defaults;
  return o;
}

/** The catalogue from the config's `models:` entries (throws ModelConfigError naming the model and field). */
export function catalogFromConfig(entries: ModelEntry[], builtins: ModelSpec[] = BUILTIN_MODELS): Catalog {
  const byId = new Map(builtins.map((m) => [m.id, m]));
  return buildCatalog(entries.map((e) => toModelOverride(e, byId.get(e.id))), builtins);
}

// Exported for tests that want a fresh catalogue of only the built-ins.
export const builtinCatalog = (): Catalog => new Catalog(BUILTIN_MODELS);
