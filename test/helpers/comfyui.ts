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

/** Small sizes and short lengths keep the fake's renders fast. */
export const COMFY_MODELS = [
  { id: 'wan2.2-5b', sizes: ['480x272', '272x480', '320x320'], seconds: [1, 2], pricePerSecond: { '720p': 0.02, '1024p': 0.02, '1080p': 0.02 } },
  { id: 'wan-broken', sizes: ['480x272'], seconds: [1], pricePerSecond: { '720p': 0.02, '1024p': 0.02, '1080p': 0.02 } },
  { id: 'wan-custom', sizes: ['480x272'], seconds: [1], pricePerSecond: { '720p': 0.02, '1024p': 0.02, '1080p': 0.02 } },
  { id: 'wan-t2v', sizes: ['480x272'], seconds: [1], pricePerSecond: { '720p': 0.02, '1024p': 0.02, '1080p': 0.02 } },
  { id: 'wan-slow', sizes: ['480x272'], seconds: [1], pricePerSecond: { '720p': 0.02, '1024p': 0.02, '1080p': 0.02 } },
];

