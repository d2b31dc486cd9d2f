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


/**
 * A Wan 2.1 first-last-frame workflow (two LoadImage nodes into WanFirstLastFrameToVideo, VHS
 * output at 16 fps) and its full mapping: negative prompt, seed, size, length, fps, both frames.
 */
export const FLF_WORKFLOW = {
  '1': { class_type: 'UNETLoader', inputs: { unet_name: 'wan2.1_flf2v_720p_14B_fp16.safetensors', weight_dtype: 'default' } },
  '2': { class_type: 'CLIPLoader', inputs: { clip_name: 'umt5_xxl_fp8_e4m3fn_scaled.safetensors', type: 'wan' } },
  '3': { class_type: 'VAELoader', inputs: { vae_name: 'wan_2.1_vae.safetensors' } },
  '4': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['2', 0] } },
  '5': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['2', 0] } },
  '6': { class_type: 'LoadImage', inputs: { image: 'a.png' } },
  '7': { class_type: 'LoadImage', inputs: { image: 'b.png' } },
  '8': { class_type: 'WanFirstLastFrameToVideo', inputs: { positive: ['4', 0], negative: ['5', 0], vae: ['3', 0], width: 720, height: 720, length: 81, batch_size: 1, start_image: ['6', 0], end_image: ['7', 0] } },
  '9': { class_type: 'KSampler', inputs: { model: ['1', 0], seed: 0, steps: 4, cfg: 5, sampler_name: 'uni_pc', scheduler: 'simple', positive: ['8', 0], negative: ['8', 1], latent_image: ['8', 2], denoise: 1 } },
  '10': { class_type: 'VAEDecode', inputs: { samples: ['9', 0], vae: ['3', 0] } },
  '11': { class_type: 'VHS_VideoCombine', inputs: { images: ['10', 0], frame_rate: 16, loop_count: 0, filename_prefix: 'flf/vidgate', format: 'video/h264-mp4', pingpong: false, save_output: true } },
};

/** FLF_WORKFLOW's mapping, once written to `workflowFile`. */
export const flfOptions = (workflowFile: string) => ({
  workflow_file: workflowFile,
  inputs: {
    prompt: { node: '4', input: 'text' },
    negative_prompt: { node: '5', input: 'text' },
    seed: { node: '9', input: 'seed' },
    width: { node: '8', input: 'width' },
    height: { node: '8', input: 'height' },
    frames: { node: '8', input: 'length' },
    fps: { node: '11', input: 'frame_rate' },
    first_frame: { node: '6', input: 'image' },
    last_frame: { node: '7', input: 'image' },
  },
  output_node: '11',
  fps: 16,
});
