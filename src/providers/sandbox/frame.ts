/** Geometry and timing of the video being rendered. */
export interface Frame {
  width: number;
  height: number;
  /** Number of frames to produce. */
  frames: number;
  fps: number;
}

export const SANDBOX_FPS = 24;
/** The frame rate of frames larger than 1440p (4k): half the work per second of video, still playable. */
export const LARGE_FRAME_FPS = 12;
const LARGE_FRAME = 2560 * 1440;

/**
 * The frame plan of a video: the frame rate (24 fps, 12 fps above 1440p), and the duration rounded
 * to whole frames (at least one), so a fractional duration such as 2.5 s is kept to within half a frame.
 */
export function frameFor(width: number, height: number, seconds: number): Frame {
  const fps = width * height > LARGE_FRAME ? LARGE_FRAME_FPS : SANDBOX_FPS;
  return { width, height, fps, frames: Math.max(1, Math.round(seconds * fps)) };
}

/** Frames of more than this many pixels (above 720p) are encoded with x264's fastest preset. */
const FAST_PRESET_ABOVE = 1280 * 720;

/** x264 preset: superfast up to 720p; ultrafast above, which halves encode time for a few % more bytes. */
export const x264Preset = (frame: Frame): string => (frame.width * frame.height > FAST_PRESET_ABOVE ? 'ultrafast' : 'superfast');
