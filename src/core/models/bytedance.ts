import type { ModelSpec } from '../catalog.js';
import { BASE, perSecondFromTokens } from './common.js';

/**
 * ByteDance Seedance on BytePlus ModelArk (upstreams.md §11): token-billed, tokens/s =
 * W × H × 24 / 1024; priced here per second from that formula at the 16:9 size of each
 * resolution. BytePlus ids are `dreamina-…` / `seedance-…`; Volcengine's `doubao-…` and apimart's
 * spellings are aliases. `adaptive` follows the first frame (or lets the model choose).
 */
const SOURCE_15 = 'BytePlus ModelArk video generation API (docs.byteplus.com/en/docs/ModelArk/1520757) and pricing (1099320): 1.5 Pro $2.40/M tokens with audio, $1.20/M without (Runware lists the same: 720p 5 s $0.26 with audio, $0.13 without)';
const SOURCE_2X = 'BytePlus ModelArk video generation API (docs.byteplus.com/en/docs/ModelArk/1520757; Seedance 2.0 pixel table) and pricing (1099320): 2.x ≈ $7/M tokens without video input (upstreams.md §11 gives $4.3–7.7/M; verify)';

/** Seedance 1.5 Pro and 2.x pixel table (ModelArk; Runware's model pages list the same sizes). */
const SIZES_2X = {
  '480p': { '16:9': '864x496', '4:3': '752x560', '1:1': '640x640', '3:4': '560x752', '9:16': '496x864', '21:9': '992x432' },
  '720p': { '16:9': '1280x720', '4:3': '1112x834', '1:1': '960x960', '3:4': '834x1112', '9:16': '720x1280', '21:9': '1470x630' },
  '1080p': { '16:9': '1920x1080', '4:3': '1664x1248', '1:1': '1440x1440', '3:4': '1248x1664', '9:16': '1080x1920', '21:9': '2206x946' },
} as const;

const seedance = {
  ...BASE,
  ownedBy: 'bytedance',
  adaptive: true,
  audio: { mode: 'optional', default: true },
  lastFrame: true,
  seed: { min: -1, max: 4_294_967_295 },
  options: ['camera_fixed', 'watermark', 'return_last_frame', 'service_tier'],
} satisfies Partial<ModelSpec>;

const byResolution = (sizes: Record<string, { '16:9': string }>, usdPerMillion: number, audio?: boolean) =>
  Object.entries(sizes).map(([resolution, s]) => ({ resolution: resolution as '480p' | '720p' | '1080p', ...(audio === undefined ? {} : { audio }), usdPerSecond: perSecondFromTokens(s['16:9'], usdPerMillion) }));

export const BYTEDANCE_MODELS: ModelSpec[] = [
  {
    ...seedance,
    id: 'seedance-1-5-pro-251215',
    name: 'Seedance 1.5 Pro',
    aliases: ['seedance-1-5-pro', 'seedance-1.5-pro', 'doubao-seedance-1-5-pro', 'doubao-seedance-1-5-pro-251215', 'doubao-seedance-1.5-pro'],
    description: 'Seedance 1.5 Pro: 480p–1080p, 4–12 s, optional audio, first and last frame, seed',
    source: SOURCE_15,
    sizes: SIZES_2X,
    durations: { min: 4, max: 12, step: 1 },
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 5 },
    pricing: [...byResolution(SIZES_2X, 2.4, true), ...byResolution(SIZES_2X, 1.2, false)],
  },
  {
    ...seedance,
    id: 'dreamina-seedance-2-0-260128',
    name: 'Seedance 2.0',
    aliases: ['seedance-2.0', 'seedance-2-0', 'doubao-seedance-2.0', 'doubao-seedance-2-0', 'doubao-seedance-2-0-260128'],
    description: 'Seedance 2.0: 480p–1080p, 4–15 s, audio on by default; up to 9 reference images, 3 videos, 3 audio clips (not with frames)',
    source: SOURCE_2X,
    sizes: SIZES_2X,
    durations: { min: 4, max: 15, step: 1 },
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 5 },
    references: { images: 9, videos: 3, audios: 3 },
    referencesExclusive: true,
    seed: undefined,
    options: ['watermark', 'return_last_frame', 'service_tier'],
    pricing: byResolution(SIZES_2X, 7),
  },
  {
    ...seedance,
    id: 'dreamina-seedance-2-5-260628',
    name: 'Seedance 2.5',
    aliases: ['seedance-2.5', 'seedance-2-5', 'doubao-seedance-2.5', 'doubao-seedance-2-5'],
    description: 'Seedance 2.5 (2026-08-08): 480p–1080p, 4–30 s, audio on by default; up to 30 reference images, 10 videos, 10 audio clips',
    source: `${SOURCE_2X}; 2.5 limits: models-and-parameters.md §2 (up to 30 s)`,
    sizes: SIZES_2X,
    durations: { min: 4, max: 30, step: 1 },
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 5 },
    references: { images: 30, videos: 10, audios: 10 },
    referencesExclusive: true,
    seed: undefined,
    options: ['watermark', 'return_last_frame', 'service_tier'],
    pricing: byResolution(SIZES_2X, 7),
  },
];
