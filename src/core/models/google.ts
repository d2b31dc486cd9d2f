import type { ModelSpec } from '../catalog.js';
import { BASE, UINT32, pair } from './common.js';

/**
 * Google Veo 3.1 on Vertex AI (the `-001` ids; apimart's spellings are aliases). The Gemini API's
 * `-preview` ids (reportedly shut down 2026-10-22) are not aliased: a client asking for a retired
 * model is told so rather than silently given another.
 * 16:9 / 9:16 at 720p, 1080p and (not Lite) 4k; 4, 6 or 8 s (Google: 1080p and 4k are made at
 * 8 s); first and last frame; up to 3 reference images (not with frames); negative prompt; seed;
 * audio on by default, off on request (Vertex `generateAudio`).
 */
const SOURCE =
  'Vertex AI Veo 3.1 model pages (cloud.google.com/vertex-ai/generative-ai/docs/models/veo/3-1-generate) and ai.google.dev/gemini-api/docs/veo; prices: upstreams.md §3A/§15 (audio on), Vertex "video only" rates for audio off (standard 0.20, fast 0.10)';

const veo = {
  ...BASE,
  ownedBy: 'google',
  source: SOURCE,
  durations: { values: [4, 6, 8] },
  defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 8 },
  audio: { mode: 'optional', default: true },
  lastFrame: true,
  references: { images: 3, videos: 0, audios: 0 },
  referencesExclusive: true,
  negativePrompt: true,
  seed: UINT32,
  options: ['person_generation', 'enhance_prompt'],
} satisfies Partial<ModelSpec>;

const SIZES = { '720p': pair('1280x720'), '1080p': pair('1920x1080'), '4k': pair('3840x2160') };

export const GOOGLE_MODELS: ModelSpec[] = [
  {
    ...veo,
    id: 'veo-3.1-generate-001',
    name: 'Veo 3.1',
    aliases: ['veo3.1', 'veo3.1-quality', 'veo3.1-quality-official'],
    description: 'Google Veo 3.1 Standard: 720p, 1080p or 4k, 4–8 s, native audio',
    sizes: SIZES,
    pricing: [
      { resolution: '720p', usdPerSecond: 0.4 },
      { resolution: '1080p', usdPerSecond: 0.4 },
      { resolution: '4k', usdPerSecond: 0.6 },
      { resolution: '720p', audio: false, usdPerSecond: 0.2 },
      { resolution: '1080p', audio: false, usdPerSecond: 0.2 },
    ],
  },
  {
    ...veo,
    id: 'veo-3.1-fast-generate-001',
    name: 'Veo 3.1 Fast',
    aliases: ['veo3.1-fast', 'veo3.1-fast-official'],
    description: 'Google Veo 3.1 Fast: 720p, 1080p or 4k, 4–8 s, native audio',
    sizes: SIZES,
    pricing: [
      { resolution: '720p', usdPerSecond: 0.1 },
      { resolution: '1080p', usdPerSecond: 0.12 },
      { resolution: '4k', usdPerSecond: 0.3 },
      { resolution: '720p', audio: false, usdPerSecond: 0.1 },
      { resolution: '1080p', audio: false, usdPerSecond: 0.1 },
    ],
  },
  {
    ...veo,
    id: 'veo-3.1-lite-generate-001',
    name: 'Veo 3.1 Lite',
    aliases: ['veo3.1-lite'],
    description: 'Google Veo 3.1 Lite (preview on Vertex): 720p or 1080p, 4–8 s, native audio; no 4k, no reference images',
    sizes: { '720p': SIZES['720p'], '1080p': SIZES['1080p'] },
    references: { images: 0, videos: 0, audios: 0 },
    referencesExclusive: false,
    pricing: [
      { resolution: '720p', usdPerSecond: 0.05 },
      { resolution: '1080p', usdPerSecond: 0.08 },
    ],
  },
];
