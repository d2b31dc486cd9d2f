import type { ModelSpec } from '../catalog.js';
import { BASE } from './common.js';

/**
 * Kuaishou Kling (official API, upstreams.md §7). Modes: `std` (720p) and `pro` (1080p). Prices
 * in Kling units (≈ $0.14 per unit on resource packs). 16:9, 9:16 and 1:1; image-to-video
 * follows the image (adaptive).
 */
const SOURCE_26 = 'Kling API docs (kling.ai/document-api, text2video / image2video; apimart kling-v2-6 page); prices upstreams.md §7 (2.6: 0.3 U/s std, 0.5 U/s pro, 1 U/s pro with sound); 1:1 frame sizes derived from the short side';
const SOURCE_3 = 'Kling API docs (kling.ai/document-api, Kling 3.0; apimart kling-v3 page); prices upstreams.md §7/§15 (0.6–1.2 U/s ≈ $0.084–0.168/s; 4k 3 U/s = $0.42/s); 1:1 and 4k frame sizes derived from the short side';

const P720 = { '16:9': '1280x720', '9:16': '720x1280', '1:1': '720x720' } as const;
const P1080 = { '16:9': '1920x1080', '9:16': '1080x1920', '1:1': '1080x1080' } as const;
const P4K = { '16:9': '3840x2160', '9:16': '2160x3840', '1:1': '2160x2160' } as const;

const kling = {
  ...BASE,
  ownedBy: 'kuaishou',
  adaptive: true,
  lastFrame: true,
  negativePrompt: true,
  modes: ['std', 'pro'],
} satisfies Partial<ModelSpec>;

export const KUAISHOU_MODELS: ModelSpec[] = [
  {
    ...kling,
    id: 'kling-v2-6',
    name: 'Kling 2.6',
    aliases: ['kling-2.6', 'kling-v2.6'],
    description: 'Kling 2.6: std 720p silent, pro 1080p with optional sound; 5 or 10 s',
    source: SOURCE_26,
    sizes: { '720p': P720, '1080p': P1080 },
    durations: { values: [5, 10] },
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 5, mode: 'std' },
    audio: { mode: 'optional', default: false },
    options: ['cfg_scale', 'camera_control'],
    // pro makes 1080p: a 1080p video is priced as pro whatever mode was named.
    pricing: [
      { resolution: '1080p', usdPerSecond: 0.07 },
      { resolution: '1080p', audio: true, usdPerSecond: 0.14 },
      { mode: 'std', usdPerSecond: 0.042 },
      { mode: 'pro', usdPerSecond: 0.07 },
      { mode: 'pro', audio: true, usdPerSecond: 0.14 },
    ],
  },
  {
    ...kling,
    id: 'kling-v3',
    name: 'Kling 3.0',
    aliases: ['kling-3.0', 'kling-v3-0'],
    description: 'Kling 3.0: std 720p, pro 1080p, 4k; 3–15 s; native sound; multi-shot',
    source: SOURCE_3,
    sizes: { '720p': P720, '1080p': P1080, '4k': P4K },
    durations: { min: 3, max: 15, step: 1 },
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 5, mode: 'std' },
    audio: { mode: 'optional', default: false },
    options: ['multi_shot', 'cfg_scale'],
    pricing: [
      { resolution: '4k', usdPerSecond: 0.42 },
      { resolution: '1080p', usdPerSecond: 0.168 },
      { mode: 'std', usdPerSecond: 0.084 },
      { mode: 'pro', usdPerSecond: 0.168 },
    ],
  },
];
