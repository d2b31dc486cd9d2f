/** Geometry and timing of the video being rendered. */
export interface Frame {
  width: number;
  height: number;
  /** Number of frames to produce. */
  frames: number;
  fps: number;
}
