import type { ModelSpec } from '../catalog.js';
import { BASE } from './common.js';

/**
 * Alibaba Wan on Model Studio / DashScope (models-and-parameters.md §2). Text-to-video and
 * image-to-video are separate model ids. Wan 3.0 is not in Alibaba's published API reference
 * yet and is not built in.
 */
const SOURCE_26 = 'Alibaba Cloud Model Studio, Wan text-to-video / image-to-video API reference (alibabacloud.com/help/en/model-studio/text-to-video-api-reference); sizes 1280*720 … 1632*1248; $0.10/s 720P, $0.15/s 1080P';
const SOURCE_27 = 'Alibaba Cloud Model Studio, Wan 2.7 API reference (resolution 720P/1080P, duration 2–15); price as Wan 2.6 (verify)';

const SIZES = {
  '720p': { '16:9': '1280x720', '9:16': '720x1280', '1:1': '960x960', '4:3': '1088x832', '3:4': '832x1088' },
  '1080p': { '16:9': '1920x1080', '9:16': '1080x1920', '1:1': '1440x1440', '4:3': '1632x1248', '3:4': '1248x1632' },
} as const;

const wan = {
  ...BASE,
  ownedBy: 'alibaba',
  sizes: SIZES,
  audio: { mode: 'optional', default: true },
  negativePrompt: true,
  seed: { min: 0, max: 2_147_483_647 },
  options: ['prompt_extend', 'shot_type', 'watermark'],
  pricing: [
    { resolution: '720p', usdPerSecond: 0.1 },
    { resolution: '1080p', usdPerSecond: 0.15 },
  ],
} satisfies Partial<ModelSpec>;

export const ALIBABA_MODELS: ModelSpec[] = [
  {
    ...wan,
    id: 'wan2.6-t2v',
    name: 'Wan 2.6 (text to video)',
    aliases: ['wan-2.6', 'wan2.6'],
    description: 'Wan 2.6 text to video: 720P or 1080P, 5, 10 or 15 s, audio, multi-shot',
    source: SOURCE_26,
    durations: { values: [5, 10, 15] },
    defaults: { aspectRatio: '16:9', resolution: '1080p', seconds: 5 },
    firstFrame: false,
  },
  {
    ...wan,
    id: 'wan2.6-i2v',
    name: 'Wan 2.6 (image to video)',
    aliases: ['wan-2.6-i2v'],
    description: 'Wan 2.6 image to video: the first frame’s shape at 720P or 1080P, 5, 10 or 15 s, audio',
    source: SOURCE_26,
    adaptive: true,
    durations: { values: [5, 10, 15] },
    defaults: { aspectRatio: 'adaptive', resolution: '1080p', seconds: 5 },
  },
  {
    ...wan,
    id: 'wan2.7-t2v',
    name: 'Wan 2.7 (text to video)',
    aliases: ['wan-2.7', 'wan2.7'],
    description: 'Wan 2.7 text to video: 720P or 1080P, 2–15 s, audio',
    source: SOURCE_27,
    durations: { min: 2, max: 15, step: 1 },
    defaults: { aspectRatio: '16:9', resolution: '1080p', seconds: 5 },
    firstFrame: false,
  },
  {
    ...wan,
    id: 'wan2.7-i2v',
    name: 'Wan 2.7 (image to video)',
    aliases: ['wan-2.7-i2v'],
    description: 'Wan 2.7 image to video: first frame, optional last frame, 720P or 1080P, 2–15 s, audio',
    source: SOURCE_27,
    adaptive: true,
    lastFrame: true,
    durations: { min: 2, max: 15, step: 1 },
    defaults: { aspectRatio: 'adaptive', resolution: '1080p', seconds: 5 },
  },
];
