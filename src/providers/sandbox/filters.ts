/**
 * Scene → ffmpeg filter text: upscaling of the colour field, the moving shapes and the caption.
 */
import { escapeFilterValue } from '../../media/ffmpeg.js';
import type { CaptionLayout } from './caption.js';
import type { FieldFrames } from './field.js';
import type { Frame } from './frame.js';
import type { Orbit, Rgb, Scene } from './scene.js';

/** Fade-in for overlays on a reference image, so that frame 0 is the image itself. */
export interface FadeIn {
  delay: number;
  seconds: number;
}

/** A number as expression text: fixed precision, negative values parenthesised. */
function num(n: number): string {
  const s = n.toFixed(4).replace(/\.?0+$/, '');
  const text = s === '-0' || s === '' ? '0' : s;
  return n < 0 && text !== '0' ? `(${text})` : text;
}

const hex = (c: Rgb): string =>
  `0x${[c.r, c.g, c.b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** Position along an orbit at time `t`, as a fraction of the frame. */
function path(o: Orbit, axis: 'x' | 'y', t: string): string {
  return axis === 'x'
    ? `(${num(o.cx)}+${num(o.ax)}*sin(${num(o.fx)}*${t}+${num(o.px)}))`
    : `(${num(o.cy)}+${num(o.ay)}*sin(${num(o.fy)}*${t}+${num(o.py)}))`;
}

/** Upscale the raw colour field read from `input` to the frame size (yuv420p, or yuva420p with alpha). */
export function fieldChain(input: string, field: Pick<FieldFrames, 'pixFmt'>, frame: Frame): string {
  const format = field.pixFmt === 'rgba' ? 'yuva420p' : 'yuv420p';
  return `[${input}]format=${format},scale=${frame.width}:${frame.height}:flags=bicubic,setsar=1`;
}

function fadeAlpha(fade: FadeIn | undefined): string {
  if (!fade) return '';
  return `:alpha='clip((t-${num(fade.delay)})/${num(fade.seconds)},0,1)'`;
}

/** drawtext filters for the moving shapes. */
export function spriteFilters(scene: Scene, frame: Frame, font: string, fade?: FadeIn): string[] {
  const shortSide = Math.min(frame.width, frame.height);
  const shadow = Math.max(1, Math.round(shortSide / 240));
  return scene.sprites.map((s) => {
    const size = Math.round(s.size * shortSide);
    return (
      `drawtext=fontfile=${escapeFilterValue(font)}:text=${s.glyph}:fontsize=${size}` +
      `:fontcolor=${hex(s.color)}@${num(s.opacity)}:shadowcolor=black@0.45:shadowx=${shadow}:shadowy=${shadow}` +
      `:x='w*${path(s.orbit, 'x', 't')}-tw/2':y='h*${path(s.orbit, 'y', 't')}-th/2'${fadeAlpha(fade)}`
    );
  });
}

/** drawtext filter for the caption, read from a text file (no escaping of the prompt needed). */
export function captionFilter(
  layout: CaptionLayout,
  textFile: string,
  font: string,
  position: 'top' | 'bottom',
  fade?: FadeIn,
): string {
  const offset = layout.margin + layout.boxBorder;
  const y = position === 'bottom' ? `h-th-${offset}` : `${offset}`;
  return (
    `drawtext=fontfile=${escapeFilterValue(font)}:textfile=${escapeFilterValue(textFile)}:expansion=none` +
    `:fontsize=${layout.fontSize}:line_spacing=${layout.lineSpacing}:fontcolor=white` +
    `:box=1:boxcolor=black@0.55:boxborderw=${layout.boxBorder}:x='(w-tw)/2':y='${y}'${fadeAlpha(fade)}`
  );
}
