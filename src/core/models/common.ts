import type { FixedRatio, ModelSpec } from '../catalog.js';

/** Frame sizes by aspect ratio at one resolution. */
export type RatioSizes = Partial<Record<FixedRatio, string>>;

/** 16:9 and 9:16 at a short side (the common landscape / portrait pair). */
export const pair = (landscape: string): RatioSizes => {
  const [w, h] = landscape.split('x');
  return { '16:9': landscape, '9:16': `${h}x${w}` };
};

/** The fields most models share; each model file spreads it and says what differs. */
export const BASE = {
  aliases: [] as string[],
  lifecycle: { status: 'active' } as ModelSpec['lifecycle'],
  adaptive: false,
  audio: { mode: 'none' } as ModelSpec['audio'],
  firstFrame: true,
  lastFrame: false,
  references: { images: 0, videos: 0, audios: 0 },
  negativePrompt: false,
  options: [] as string[],
};

/** Seeds as unsigned 32-bit integers (Veo, Runway, Seedance: -1 = random). */
export const UINT32 = { min: 0, max: 4_294_967_295 };
export const INT32 = { min: 0, max: 2_147_483_647 };

/**
 * USD per second of a token-billed model (Seedance): tokens/s = width × height × 24 fps / 1024,
 * priced per million tokens. Rounded to 1/10000 USD.
 */
export function perSecondFromTokens(size: string, usdPerMillion: number): number {
  const [w, h] = size.split('x').map(Number) as [number, number];
  return Math.round(((w * h * 24) / 1024) * usdPerMillion * 1e-6 * 10_000) / 10_000;
}
