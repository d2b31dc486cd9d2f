/**
 * The animated colour field behind the shapes: two travelling waves blending the palette plus a
 * drifting glow. It is computed here on a tiny grid (long side 64 px) as raw RGB(A) frames that
 * ffmpeg reads from stdin and upscales with bicubic interpolation: smooth, cheap and deterministic.
 */
import type { Frame } from './frame.js';
import type { Orbit, Scene, Wave } from './scene.js';

/** Opacity of the field over time. */
export type FieldAlpha =
  | { kind: 'opaque' }
  | { kind: 'constant'; value: number }
  | { kind: 'ramp'; to: number; seconds: number };

export interface FieldFrames {
  width: number;
  height: number;
  pixFmt: 'rgb24' | 'rgba';
  /** All frames, one after the other. */
  data: Buffer;
}

const FIELD_LONG_SIDE = 64;
const TAU = 2 * Math.PI;
/** How much of the accent colour the second wave mixes in at its crest. */
const ACCENT = 0.45;

const wave = (w: Wave, x: number, y: number, t: number): number =>
  0.5 + 0.5 * Math.sin(TAU * (w.kx * x + w.ky * y) + w.speed * t + w.phase);

const along = (o: Orbit, t: number): { x: number; y: number } => ({
  x: o.cx + o.ax * Math.sin(o.fx * t + o.px),
  y: o.cy + o.ay * Math.sin(o.fy * t + o.py),
});

function alphaAt(alpha: FieldAlpha, t: number): number {
  switch (alpha.kind) {
    case 'opaque':
      return 255;
    case 'constant':
      return Math.round(255 * alpha.value);
    case 'ramp':
      return Math.round(255 * alpha.to * Math.min(t / alpha.seconds, 1));
  }
}

const byte = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Field size for a frame: long side 64 px, same aspect ratio. */
export function fieldSize(frame: Pick<Frame, 'width' | 'height'>): { width: number; height: number } {
  const long = Math.max(frame.width, frame.height);
  return {
    width: Math.max(4, Math.round((FIELD_LONG_SIDE * frame.width) / long)),
    height: Math.max(4, Math.round((FIELD_LONG_SIDE * frame.height) / long)),
  };
}

/** Compute every frame of the colour field. */
export function fieldFrames(scene: Scene, frame: Frame, alpha: FieldAlpha): FieldFrames {
  const { width, height } = fieldSize(frame);
  const channels = alpha.kind === 'opaque' ? 3 : 4;
  const data = Buffer.alloc(width * height * channels * frame.frames);
  const long = Math.max(frame.width, frame.height);
  const aspectX = frame.width / long;
  const aspectY = frame.height / long;
  const { base, mid, accent, glow } = scene.palette;
  const [w1, w2] = scene.waves;
  const r2 = scene.glow.radius * scene.glow.radius;

  let i = 0;
  for (let n = 0; n < frame.frames; n++) {
    const t = n / frame.fps;
    const centre = along(scene.glow.orbit, t);
    const a = alphaAt(alpha, t);
    for (let py = 0; py < height; py++) {
      // Sample at pixel centres so the field is symmetric whatever its size.
      const y = (py + 0.5) / height;
      for (let px = 0; px < width; px++) {
        const x = (px + 0.5) / width;
        const u = wave(w1, x, y, t);
        const v = wave(w2, x, y, t);
        const dx = (x - centre.x) * aspectX;
        const dy = (y - centre.y) * aspectY;
        const g = 0.8 * Math.exp(-(dx * dx + dy * dy) / r2);
        const keep = 1 - ACCENT * v;
        const add = ACCENT * v;
        data[i++] = byte((base.r + (mid.r - base.r) * u) * keep + accent.r * add + glow.r * g);
        data[i++] = byte((base.g + (mid.g - base.g) * u) * keep + accent.g * add + glow.g * g);
        data[i++] = byte((base.b + (mid.b - base.b) * u) * keep + accent.b * add + glow.b * g);
        if (channels === 4) data[i++] = a;
      }
    }
  }
  return { width, height, pixFmt: channels === 4 ? 'rgba' : 'rgb24', data };
}
