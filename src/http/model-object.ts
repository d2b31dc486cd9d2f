import type { ModelSpec, PriceRow } from '../core/catalog.js';
import { aspectRatiosOf, defaultSizeOf, durationsOf, formatSize, resolutionsOf, sizesOf } from '../core/catalog.js';

/** "720p_audio_pro"-style key of a price row ('any' where the row names no dimension). */
export function skuOf(row: PriceRow): string {
  const parts = [row.resolution ?? 'any'];
  if (row.audio !== undefined) parts.push(row.audio ? 'audio' : 'no_audio');
  if (row.mode !== undefined) parts.push(row.mode);
  return parts.join('_');
}

/**
 * A model as GET /v1/models shows it: OpenAI's model object (`id`, `object`, `created`,
 * `owned_by`) with OpenRouter's capability fields (`supported_*`, `generate_audio`, `seed`,
 * `allowed_passthrough_parameters`, `pricing_skus`), the lifecycle, and the details those
 * fields cannot say (defaults, audio mode, references, seed range, modes, price rows).
 * `pricing` is the rows in effect (the operator's overrides included).
 */
export function modelObject(m: ModelSpec, created: number, pricing: PriceRow[] = m.pricing) {
  const durations = durationsOf(m);
  const frames = [...(m.firstFrame ? ['first_frame'] : []), ...(m.lastFrame ? ['last_frame'] : [])];
  const sizes: Record<string, Record<string, string>> = {};
  for (const r of resolutionsOf(m)) sizes[r] = { ...m.sizes[r] } as Record<string, string>;
  return {
    id: m.id,
    object: 'model',
    created,
    owned_by: m.ownedBy,
    type: 'video',
    name: m.name,
    canonical_slug: `${m.ownedBy}/${m.id}`,
    description: m.description ?? null,
    aliases: m.aliases,
    lifecycle:
      m.lifecycle.status === 'active'
        ? { status: 'active', retired_on: null, replacement: null }
        : { status: 'retired', retired_on: m.lifecycle.retiredOn, replacement: m.lifecycle.replacement ?? null },
    supported_aspect_ratios: aspectRatiosOf(m),
    supported_resolutions: resolutionsOf(m),
    supported_sizes: sizesOf(m),
    /** The exact pixel size of every (resolution, aspect ratio) pair. */
    sizes_by_resolution: sizes,
    supported_durations: durations,
    durations: 'values' in m.durations ? { values: durations } : { min: m.durations.min, max: m.durations.max, step: m.durations.step },
    supported_frame_images: frames,
    generate_audio: m.audio.mode !== 'none',
    audio: m.audio.mode === 'optional' ? { mode: 'optional', default: m.audio.default } : { mode: m.audio.mode },
    seed: m.seed !== undefined,
    seed_range: m.seed ? { min: m.seed.min, max: m.seed.max } : null,
    negative_prompt: m.negativePrompt,
    references: { images: m.references.images, videos: m.references.videos, audios: m.references.audios, exclusive_with_frames: m.referencesExclusive === true },
    last_frame_alone: m.lastFrameAlone === true,
    modes: m.modes ?? [],
    allowed_passthrough_parameters: m.options,
    defaults: {
      aspect_ratio: m.defaults.aspectRatio,
      resolution: m.defaults.resolution,
      size: formatSize(defaultSizeOf(m)),
      duration: m.defaults.seconds,
      generate_audio: m.audio.mode === 'always' || (m.audio.mode === 'optional' && m.audio.default),
      mode: m.defaults.mode ?? null,
    },
    pricing: {
      currency: 'USD',
      unit: 'second',
      /** The most specific matching row prices a video (null = any). */
      rows: pricing.map((p) => ({ resolution: p.resolution ?? null, generate_audio: p.audio ?? null, mode: p.mode ?? null, usd_per_second: p.usdPerSecond })),
    },
    pricing_skus: Object.fromEntries(pricing.map((p) => [skuOf(p), String(p.usdPerSecond)])),
    source: m.source ?? null,
    // The Sora-era fields, kept for existing clients.
    sizes: sizesOf(m),
    seconds: durations.map(String),
    default_size: formatSize(defaultSizeOf(m)),
    default_seconds: String(m.defaults.seconds),
  };
}

export type ModelObject = ReturnType<typeof modelObject>;
