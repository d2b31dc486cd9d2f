import type { ModelSpec } from '../catalog.js';
import { BASE } from './common.js';

/**
 * MiniMax (upstreams.md §8). Hailuo's 768P is listed as the 720p tier at its real frame size.
 * H3's 2K tier has no place in the catalogue's resolutions and is not offered.
 */
const SOURCE_V1 = 'MiniMax video generation V1 (platform.minimax.io/docs api-reference video-generation); prices upstreams.md §8 (Hailuo 2.3 per video: 768P 6 s $0.28, 10 s $0.56, 1080P 6 s $0.49; listed at the dearer per-second rate)';
const SOURCE_V2 = 'MiniMax video generation V2 (platform.minimax.io/docs api-reference video-generation-v2-create); prices upstreams.md §8 (H3 $0.08/s at 768P, H3-Max $0.05/s at 480P, $0.08/s at 768P); 768P frame sizes by ratio derived from the 768 px short side';

const P768 = {
  '16:9': '1366x768',
  '9:16': '768x1366',
  '1:1': '768x768',
  '4:3': '1024x768',
  '3:4': '768x1024',
  '21:9': '1792x768',
} as const;

export const MINIMAX_MODELS: ModelSpec[] = [
  {
    ...BASE,
    id: 'MiniMax-Hailuo-2.3',
    name: 'Hailuo 2.3',
    ownedBy: 'minimax',
    aliases: ['hailuo-2.3', 'minimax-hailuo-2.3'],
    description: 'MiniMax Hailuo 2.3: 768P or 1080P, 6 or 10 s (10 s not at 1080P), 16:9 or the first frame’s shape; no audio',
    source: SOURCE_V1,
    sizes: { '720p': { '16:9': '1366x768' }, '1080p': { '16:9': '1920x1080' } },
    adaptive: true,
    durations: { values: [6, 10] },
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 6 },
    options: ['prompt_optimizer', 'fast_pretreatment'],
    pricing: [
      { resolution: '720p', usdPerSecond: 0.056 },
      { resolution: '1080p', usdPerSecond: 0.082 },
    ],
  },
  {
    ...BASE,
    id: 'MiniMax-H3',
    name: 'MiniMax H3',
    ownedBy: 'minimax',
    aliases: ['minimax-h3', 'h3'],
    description: 'MiniMax H3: 768P, 4–15 s, six aspect ratios or the first frame’s shape, audio always; first/last frame and reference image, video and audio',
    source: SOURCE_V2,
    sizes: { '720p': P768 },
    adaptive: true,
    durations: { min: 4, max: 15, step: 1 },
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 5 },
    audio: { mode: 'always' },
    lastFrame: true,
    references: { images: 1, videos: 1, audios: 1 },
    options: ['prompt_expansion_mode'],
    pricing: [{ usdPerSecond: 0.08 }],
  },
  {
    ...BASE,
    id: 'MiniMax-H3-Max',
    name: 'MiniMax H3 Max',
    ownedBy: 'minimax',
    aliases: ['minimax-h3-max', 'h3-max'],
    description: 'MiniMax H3 Max: 480P or 768P, 5–15 s, audio always',
    source: SOURCE_V2,
    sizes: {
      '480p': { '16:9': '854x480', '9:16': '480x854', '1:1': '480x480', '4:3': '640x480', '3:4': '480x640', '21:9': '1120x480' },
      '720p': P768,
    },
    adaptive: true,
    durations: { min: 5, max: 15, step: 1 },
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 5 },
    audio: { mode: 'always' },
    lastFrame: true,
    references: { images: 1, videos: 1, audios: 1 },
    options: ['prompt_expansion_mode'],
    pricing: [
      { resolution: '480p', usdPerSecond: 0.05 },
      { resolution: '720p', usdPerSecond: 0.08 },
    ],
  },
];
