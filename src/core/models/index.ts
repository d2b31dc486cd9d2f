import type { ModelSpec } from '../catalog.js';
import { ALIBABA_MODELS } from './alibaba.js';
import { BYTEDANCE_MODELS } from './bytedance.js';
import { GOOGLE_MODELS } from './google.js';
import { KUAISHOU_MODELS } from './kuaishou.js';
import { MINIMAX_MODELS } from './minimax.js';
import { OPENAI_MODELS } from './openai.js';
import { OTHER_MODELS } from './others.js';

/** The built-in catalogue, by maker. The Sora ids come first (the default model is sora-2). */
export const BUILTIN_MODELS: ModelSpec[] = [
  ...OPENAI_MODELS,
  ...GOOGLE_MODELS,
  ...KUAISHOU_MODELS,
  ...BYTEDANCE_MODELS,
  ...MINIMAX_MODELS,
  ...ALIBABA_MODELS,
  ...OTHER_MODELS,
];
