import path from 'node:path';

/** The example workflow the docs ship (docs/examples/comfyui-wan-workflow.json) and its mapping. */
export const EXAMPLE_WORKFLOW = path.resolve(import.meta.dirname, '../../docs/examples/comfyui-wan-workflow.json');

/** The mapping of the example workflow, as docs/providers.md gives it. */
export const EXAMPLE_OPTIONS = {
  workflow_file: EXAMPLE_WORKFLOW,
  inputs: {
    prompt: { node: '6', input: 'text' },
    negative_prompt: { node: '7', input: 'text' },
    seed: { node: '3', input: 'seed' },
    width: { node: '55', input: 'width' },
    height: { node: '55', input: 'height' },
    frames: { node: '55', input: 'length' },
    fps: { node: '57', input: 'fps' },
    first_frame: { node: '56', input: 'image' },
  },
  output_node: '58',
  fps: 24,
  frame_step: 4,
};

/** Small sizes and short lengths keep the fake's renders fast (models as an operator declares them). */
const comfyModel = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: `${id} on our GPUs`,
  ownedBy: 'alibaba',
  sizes: { '480p': { '16:9': '480x272', '9:16': '272x480', '1:1': '320x320' } },
  durations: [1, 2],
  defaults: { aspectRatio: '16:9', resolution: '480p', seconds: 1 },
  audio: { mode: 'none' },
  firstFrame: true,
  lastFrame: true,
  negativePrompt: true,
  seed: { min: 0, max: 2_147_483_647 },
  pricing: [{ usdPerSecond: 0.02 }],
  ...extra,
});

export const COMFY_MODELS = [comfyModel('wan2.2-5b'), comfyModel('wan-broken'), comfyModel('wan-custom'), comfyModel('wan-t2v'), comfyModel('wan-slow')];

