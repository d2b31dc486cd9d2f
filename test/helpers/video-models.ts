/**
 * Models of today's classes declared in the config file, as an operator would add them (the
 * catalogue's vocabulary, core/model-config.ts). The dialect tests run against these.
 */
// Sizes in the config's short form ("WxH" list: resolution and ratio read from each size).
const P720 = ['1280x720', '720x1280'];
const P1080 = ['1920x1080', '1080x1920'];

export const TEST_MODELS = [
  {
    // Veo 3.1 class: 720p / 1080p, 4–8 s, audio on by default, first + last frame or up to 3 references.
    id: 'test-veo',
    name: 'Veo-class test model',
    ownedBy: 'google',
    aliases: ['test-veo-fast'],
    sizes: [...P720, ...P1080],
    durations: [4, 6, 8],
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 8 },
    audio: { mode: 'optional', default: true },
    firstFrame: true,
    lastFrame: true,
    references: { images: 3 },
    referencesExclusive: true,
    negativePrompt: true,
    seed: { min: 0, max: 4294967295 },
    options: ['person_generation'],
    pricing: [{ usdPerSecond: 0.1 }, { resolution: '1080p', usdPerSecond: 0.15 }, { audio: true, usdPerSecond: 0.15 }, { resolution: '1080p', audio: true, usdPerSecond: 0.2 }],
  },
  {
    // Kling class: square too, modes std / pro, 5 or 10 s, silent unless asked.
    id: 'test-kling',
    name: 'Kling-class test model',
    ownedBy: 'kuaishou',
    sizes: [...P720, '720x720', ...P1080, '1080x1080'],
    durations: [5, 10],
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 5, mode: 'std' },
    modes: ['std', 'pro'],
    audio: { mode: 'optional', default: false },
    firstFrame: true,
    lastFrame: true,
    negativePrompt: true,
    options: ['cfg_scale', 'camera_control'],
    pricing: [{ mode: 'std', usdPerSecond: 0.07 }, { mode: 'pro', usdPerSecond: 0.12 }],
  },
  {
    // Seedance class: adaptive, many ratios, 480p–1080p (4:3 and 21:9 only at 720p), any length 4–12 s, references.
    id: 'test-seedance',
    name: 'Seedance-class test model',
    ownedBy: 'bytedance',
    sizes: ['864x480', '480x864', '480x480', '1280x720', '720x1280', '960x960', '1112x834', '1470x630', ...P1080],
    adaptive: true,
    durations: { min: 4, max: 12, step: 1 },
    defaults: { aspectRatio: 'adaptive', resolution: '720p', seconds: 5 },
    audio: { mode: 'always' },
    firstFrame: true,
    lastFrame: true,
    references: { images: 4 },
    referencesExclusive: true,
    seed: { min: -1, max: 2147483647 },
    options: ['camera_fixed', 'watermark'],
    pricing: [{ usdPerSecond: 0.05 }],
  },
  {
    // Vidu Q3 reference class: references only (no frames), 720p.
    id: 'test-vidu-ref',
    name: 'Reference-to-video test model',
    ownedBy: 'shengshu',
    sizes: ['1280x720', '720x1280', '720x720'],
    durations: [4, 8],
    defaults: { aspectRatio: '16:9', resolution: '720p', seconds: 4 },
    audio: { mode: 'none' },
    firstFrame: false,
    lastFrame: false,
    references: { images: 3 },
    options: [],
    pricing: [{ usdPerSecond: 0.05 }],
  },
];
