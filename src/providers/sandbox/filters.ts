/**
 * Scene → ffmpeg filter text: upscaling of the colour field, still images held over the video, the
 * moving shapes, the reference cards, the caption and the fade into the last frame.
 */
import { escapeFilterValue } from '../../media/ffmpeg.js';
import type { CaptionLayout } from './caption.js';
import type { FieldFrames } from './field.js';
import { DEJAVU } from './font.js';
import type { Frame } from './frame.js';
import type { Orbit, Rgb, Scene } from './scene.js';
import type { Card, LastFrameFade } from './timeline.js';

/** Fade-in for overlays on a first-frame image, so that frame 0 is the image itself. */
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

/** Scale-to-cover and crop to exactly the frame size. */
export const cover = (f: Pick<Frame, 'width' | 'height'>): string =>
  `scale=${f.width}:${f.height}:force_original_aspect_ratio=increase:flags=bicubic,crop=${f.width}:${f.height},setsar=1`;

/**
 * Stamp frames `from`, `from` + 1, … up to `frame.frames` (exclusive) at the frame rate. The input
 * must not run out before that (fps would otherwise drop the last frame at EOF).
 */
const restamp = (f: Frame, from = 0): string =>
  `settb=1/${f.fps},setpts=N+${from},fps=${f.fps},trim=end_frame=${f.frames - from}`;

/**
 * A still image (input `input`, prepared by `prepare`) repeated for frames [from, frame.frames).
 * An overlay shows nothing of it before `from` (its main input passes through).
 */
export const heldImage = (input: string, prepare: string, frame: Frame, from = 0): string =>
  `[${input}]${prepare},loop=loop=-1:size=1:start=0,${restamp(frame, from)}`;

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
export function spriteFilters(scene: Scene, frame: Frame, fade?: FadeIn): string[] {
  const shortSide = Math.min(frame.width, frame.height);
  const shadow = Math.max(1, Math.round(shortSide / 240));
  return scene.sprites.map((s) => {
    const size = Math.round(s.size * shortSide);
    return (
      `drawtext=fontfile=${escapeFilterValue(DEJAVU.path)}:text=${s.glyph}:fontsize=${size}` +
      `:fontcolor=${hex(s.color)}@${num(s.opacity)}:shadowcolor=black@0.45:shadowx=${shadow}:shadowy=${shadow}` +
      `:x='w*${path(s.orbit, 'x', 't')}-tw/2':y='h*${path(s.orbit, 'y', 't')}-th/2'${fadeAlpha(fade)}`
    );
  });
}

/** drawtext filter for the caption, read from a text file (no escaping of the prompt needed). */
export function captionFilter(layout: CaptionLayout, textFile: string, position: 'top' | 'bottom', fade?: FadeIn): string {
  const offset = layout.margin + layout.boxBorder;
  const y = position === 'bottom' ? `h-th-${offset}` : `${offset}`;
  return (
    `drawtext=fontfile=${escapeFilterValue(layout.font.path)}:textfile=${escapeFilterValue(textFile)}:expansion=none` +
    `:fontsize=${layout.fontSize}:line_spacing=${layout.lineSpacing}:fontcolor=white` +
    `:box=1:boxcolor=black@0.55:boxborderw=${layout.boxBorder}:x='(w-tw)/2':y='${y}'${fadeAlpha(fade)}`
  );
}

/** Fade of an overlay's alpha, in or out, over `length` frames from its own frame `start`. */
const alphaFade = (direction: 'in' | 'out', start: number, length: number): string =>
  length > 0 ? `,fade=t=${direction}:start_frame=${start}:nb_frames=${length}:alpha=1` : '';

/**
 * A reference card (input `input`, a PNG of the bordered card) over `under` for its frames only,
 * fading in and out, labelled `out`.
 */
export function cardChains(card: Card, input: string, under: string, out: string, frame: Frame): string[] {
  const label = `card${card.reference}`;
  const shown = { ...frame, frames: card.end };
  const length = card.end - card.start;
  return [
    `${heldImage(input, 'format=yuva420p', shown, card.start)}${alphaFade('in', 0, card.fade)}${alphaFade('out', length - card.fade, card.fade)}[${label}]`,
    `[${under}][${label}]overlay=x=${card.x}:y=${card.y}:format=yuv420:eof_action=pass[${out}]`,
  ];
}

/** The last-frame image (input `input`, fitted to the frame) fading in over `under` from fade.start, labelled `out`. */
export function lastFrameChains(fade: LastFrameFade, input: string, under: string, out: string, frame: Frame): string[] {
  return [
    `${heldImage(input, `${cover(frame)},format=yuva420p`, frame, fade.start)}${alphaFade('in', 0, fade.length)}[last]`,
    `[${under}][last]overlay=format=yuv420:eof_action=pass[${out}]`,
  ];
}
