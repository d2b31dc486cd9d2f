import type { ModelSpec } from '../catalog.js';

/**
 * OpenAI Sora 2 (API shut down 2026-09-24; the ids keep working on vidgate and its sandbox) and
 * apimart's Sora previews. Portrait or landscape only, no audio claimed, no square.
 */
const SOURCE = 'https://platform.openai.com/docs/guides/video-generation (Sora 2 sizes and durations); https://openai.com/api/pricing (list prices)';
const RETIRED = { status: 'retired', retiredOn: '2026-09-24' } as const;
const SECONDS = [4, 8, 12, 16, 20];
const P720 = { '9:16': '720x1280', '16:9': '1280x720' } as const;
const HIGH = { '9:16': '1024x1792', '16:9': '1792x1024' } as const;
const P1080 = { '9:16': '1080x1920', '16:9': '1920x1080' } as const;

const base = {
  ownedBy: 'openai',
  aliases: [] as string[],
  lifecycle: RETIRED,
  source: SOURCE,
  adaptive: false,
  defaults: { aspectRatio: '9:16', resolution: '720p', seconds: 4 },
  audio: { mode: 'none' },
  firstFrame: true,
  lastFrame: false,
  references: { images: 0, videos: 0, audios: 0 },
  negativePrompt: false,
  options: [] as string[],
} satisfies Partial<ModelSpec>;

const sora2 = (id: string, name: string): ModelSpec => ({
  ...base,
  id,
  name,
  description: 'Sora 2 class model, 720p portrait or landscape',
  sizes: { '720p': P720, standard: P720 },
  durations: { values: SECONDS },
  pricing: [{ usdPerSecond: 0.1 }],
});

const sora2Pro = (id: string, name: string): ModelSpec => ({
  ...base,
  id,
  name,
  description: 'Sora 2 Pro class model, up to 1080p',
  sizes: { '720p': P720, standard: P720, high: HIGH, '1080p': P1080 },
  durations: { values: SECONDS },
  pricing: [
    { usdPerSecond: 0.3 },
    { resolution: 'high', usdPerSecond: 0.5 },
    { resolution: '1080p', usdPerSecond: 0.7 },
  ],
});

export const OPENAI_MODELS: ModelSpec[] = [
  sora2('sora-2', 'Sora 2'),
  sora2('sora-2-2025-10-06', 'Sora 2 (2025-10-06)'),
  sora2('sora-2-2025-12-08', 'Sora 2 (2025-12-08)'),
  sora2Pro('sora-2-pro', 'Sora 2 Pro'),
  sora2Pro('sora-2-pro-2025-10-06', 'Sora 2 Pro (2025-10-06)'),
  {
    ...sora2('sora-2-preview', 'Sora 2 preview (apimart)'),
    durations: { values: [4, 8, 12] },
    description: 'apimart Sora 2 preview: 4, 8 or 12 s at 720p',
    source: 'https://docs.apimart.ai (Sora 2 preview video generation)',
  },
  {
    ...sora2Pro('sora-2-pro-preview', 'Sora 2 Pro preview (apimart)'),
    sizes: { '720p': P720, standard: P720, high: HIGH },
    durations: { values: [4, 8, 12] },
    pricing: [{ usdPerSecond: 0.3 }, { resolution: 'high', usdPerSecond: 0.5 }],
    description: 'apimart Sora 2 Pro preview: 4, 8 or 12 s, standard or high resolution',
    source: 'https://docs.apimart.ai (Sora 2 Pro preview video generation)',
  },
];
