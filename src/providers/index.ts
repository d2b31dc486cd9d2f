import { apimart } from './apimart/index.js';
import { ark } from './ark/index.js';
import { comfyui } from './comfyui/index.js';
import { dashscope } from './dashscope/index.js';
import { fal } from './fal/index.js';
import { gemini } from './gemini/index.js';
import { kling } from './kling/index.js';
import { luma } from './luma/index.js';
import { minimax } from './minimax/index.js';
import { openaiCompatible } from './openai-compatible/index.js';
import type { AdapterDefinition } from './types.js';
import { openrouter } from './openrouter/index.js';
import { pixverse } from './pixverse/index.js';
import { replicate } from './replicate/index.js';
import { runway } from './runway/index.js';
import { vertex } from './vertex/index.js';
import { vidu } from './vidu/index.js';
import { xai } from './xai/index.js';

/**
 * The upstream adapters a channel can use, by `type`. Adding an adapter = one folder under
 * providers/ exporting an AdapterDefinition, plus its line here.
 */
export const ADAPTERS: Readonly<Record<string, AdapterDefinition<never>>> = {
  [openaiCompatible.type]: openaiCompatible as AdapterDefinition<never>,
  [apimart.type]: apimart as AdapterDefinition<never>,
  [kling.type]: kling as AdapterDefinition<never>,
  [ark.type]: ark as AdapterDefinition<never>,
  [xai.type]: xai as AdapterDefinition<never>,
  [vidu.type]: vidu as AdapterDefinition<never>,
  [pixverse.type]: pixverse as AdapterDefinition<never>,
  [openrouter.type]: openrouter as AdapterDefinition<never>,
  [runway.type]: runway as AdapterDefinition<never>,
  [replicate.type]: replicate as AdapterDefinition<never>,
  [fal.type]: fal as AdapterDefinition<never>,
  [luma.type]: luma as AdapterDefinition<never>,
  [minimax.type]: minimax as AdapterDefinition<never>,
  [dashscope.type]: dashscope as AdapterDefinition<never>,
  [comfyui.type]: comfyui as AdapterDefinition<never>,
  [vertex.type]: vertex as AdapterDefinition<never>,
  [gemini.type]: gemini as AdapterDefinition<never>,
};
