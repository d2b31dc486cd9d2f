import type { ModelSpec } from '../catalog.js';
import { OPENAI_MODELS } from './openai.js';

/** The built-in catalogue, one file per maker. */
export const BUILTIN_MODELS: ModelSpec[] = [...OPENAI_MODELS];
