/**
 * The model catalogue: which public model ids exist, which sizes and durations each accepts,
 * and the default USD price per second of video for each resolution tier.
 * Operators extend or override it through configuration (see config.ts).
 */
export interface Size {
  width: number;
  height: number;
}

/** Resolution tier used for pricing: the shorter side of the frame. */
export type Tier = '720p' | '1024p' | '1080p';

export interface ModelSpec {
  id: string;
  /** Sizes as "WxH" strings, in the order they are documented. */
  sizes: string[];
  /** Allowed durations in seconds. */
  seconds: number[];
  defaultSize: string;
  defaultSeconds: number;
  /** USD per second of video by tier. A size whose tier has no price is not offered. */
  pricePerSecond: Partial<Record<Tier, number>>;
  description?: string;
}

const SORA_SECONDS = [4, 8, 12, 16, 20];
const PORTRAIT_LANDSCAPE_720 = ['720x1280', '1280x720'];
const PRO_SIZES = [...PORTRAIT_LANDSCAPE_720, '1024x1792', '1792x1024', '1080x1920', '1920x1080'];

const sora2 = (id: string): ModelSpec => ({
  id,
  sizes: PORTRAIT_LANDSCAPE_720,
  seconds: SORA_SECONDS,
  defaultSize: '720x1280',
  defaultSeconds: 4,
  pricePerSecond: { '720p': 0.1 },
  description: 'Sora 2 class model, 720p portrait or landscape',
});

const sora2Pro = (id: string): ModelSpec => ({
  id,
  sizes: PRO_SIZES,
  seconds: SORA_SECONDS,
  defaultSize: '720x1280',
  defaultSeconds: 4,
  pricePerSecond: { '720p': 0.3, '1024p': 0.5, '1080p': 0.7 },
  description: 'Sora 2 Pro class model, up to 1080p',
});

/** Built-in catalogue: the OpenAI ids and their snapshots, plus apimart's preview ids. */
export const BUILTIN_MODELS: ModelSpec[] = [
  sora2('sora-2'),
  sora2('sora-2-2025-10-06'),
  sora2('sora-2-2025-12-08'),
  sora2Pro('sora-2-pro'),
  sora2Pro('sora-2-pro-2025-10-06'),
  { ...sora2('sora-2-preview'), seconds: [4, 8, 12], description: 'apimart Sora 2 preview: 4, 8 or 12 s at 720p' },
  {
    ...sora2Pro('sora-2-pro-preview'),
    sizes: [...PORTRAIT_LANDSCAPE_720, '1024x1792', '1792x1024'],
    seconds: [4, 8, 12],
    pricePerSecond: { '720p': 0.3, '1024p': 0.5 },
    description: 'apimart Sora 2 Pro preview: 4, 8 or 12 s, standard or high resolution',
  },
];

export function parseSize(size: string): Size | null {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(size);
  if (!m) return null;
  return { width: Number(m[1]), height: Number(m[2]) };
}

export const formatSize = (s: Size): string => `${s.width}x${s.height}`;

export function tierOf(size: Size): Tier {
  const short = Math.min(size.width, size.height);
  if (short >= 1080) return '1080p';
  if (short >= 1024) return '1024p';
  return '720p';
}

export class Catalog {
  private readonly byId = new Map<string, ModelSpec>();

  constructor(models: ModelSpec[]) {
    for (const m of models) this.byId.set(m.id, m);
  }

  get(id: string): ModelSpec | undefined {
    return this.byId.get(id);
  }

  list(): ModelSpec[] {
    return [...this.byId.values()];
  }

  /** Catalogue price in USD per second for a model at a size (undefined when not priced). */
  price(model: ModelSpec, size: Size): number | undefined {
    return model.pricePerSecond[tierOf(size)];
  }
}

/** Merge operator overrides into the built-in list (same id replaces, new ids are added). */
export function buildCatalog(overrides: ModelSpec[] = []): Catalog {
  const merged = new Map(BUILTIN_MODELS.map((m) => [m.id, m]));
  for (const m of overrides) merged.set(m.id, { ...merged.get(m.id), ...m });
  return new Catalog([...merged.values()]);
}
