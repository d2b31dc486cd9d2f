/**
 * When and where things happen in a sandbox video, in whole frames: the fade into the last frame,
 * and the cards showing the reference images. Pure geometry and timing; filters.ts turns it into
 * ffmpeg filter text.
 */
import type { Frame } from './frame.js';

/** The last-frame image fades in over `length` frames from `start`, then holds to the end. */
export interface LastFrameFade {
  start: number;
  length: number;
}

export interface Size {
  width: number;
  height: number;
}

/** A reference image on screen: a bordered card (picture plus border) at (x, y). */
export interface Card {
  /** Index of the reference in the request. */
  reference: number;
  /** On screen for frames [start, end), fading in and out over `fade` frames each. */
  start: number;
  end: number;
  fade: number;
  x: number;
  y: number;
  /** Size of the picture inside the border. */
  width: number;
  height: number;
  border: number;
}

const even = (n: number): number => 2 * Math.round(n / 2);
const clamp = (n: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, n));

/** The fade into the last frame: about a third of the video (at most 2 s), then a short hold on the image. */
export function lastFrameFade(frame: Frame): LastFrameFade {
  const hold = clamp(Math.round(frame.frames * 0.15), 1, Math.round(frame.fps * 0.5));
  const length = clamp(Math.round(frame.frames * 0.35), 0, frame.fps * 2);
  return { start: Math.max(0, frame.frames - hold - length), length };
}

/** Frames over which overlays on a first-frame image fade in (they start at frame 0). */
export const introFrames = (frame: Frame): number => Math.min(Math.round(frame.fps * 0.5), Math.floor(frame.frames * 0.2));

export interface CardLayout {
  frame: Frame;
  /** Oriented size of each reference image. */
  images: Size[];
  /** The span the cards share: frames [from, to). */
  from: number;
  to: number;
  /** The caption's edge; cards go to the other one. */
  captionAt: 'top' | 'bottom';
}

/**
 * Cards for the reference images: one after another over the span, each fitted into a square of
 * about 38 % of the frame's short side, alternating left and right, on the edge away from the
 * caption. When the span is too short for each to stay half a second, they come in rows of
 * several at once.
 */
export function layoutCards(layout: CardLayout): Card[] {
  const { frame, images } = layout;
  const count = images.length;
  if (count === 0) return [];
  const to = Math.max(layout.to, Math.min(frame.frames, layout.from + 1));
  const from = Math.min(layout.from, to - 1);
  const span = to - from;
  const minSlot = Math.max(1, Math.round(frame.fps * 0.5));
  const perRow = clamp(Math.ceil((count * minSlot) / span), 1, count);
  const rows = Math.ceil(count / perRow);
  const slot = Math.floor(span / rows);

  const short = Math.min(frame.width, frame.height);
  const border = Math.max(2, even(short * 0.006));
  const gap = even(short * 0.03);
  const margin = even(short * 0.05);
  const square = Math.floor(Math.min(short * 0.38, (frame.width * 0.92 - (perRow - 1) * gap) / perRow - 2 * border));

  const cards: Card[] = [];
  for (let row = 0; row < rows; row++) {
    const start = from + row * slot;
    const end = row === rows - 1 ? to : start + slot;
    const fade = Math.min(Math.round(frame.fps * 0.2), Math.floor((end - start) / 4));
    const members = images.slice(row * perRow, (row + 1) * perRow).map((img, i) => {
      const aspect = img.width / img.height;
      return {
        reference: row * perRow + i,
        width: Math.max(2, even(aspect >= 1 ? square : square * aspect)),
        height: Math.max(2, even(aspect >= 1 ? square / aspect : square)),
      };
    });
    const rowWidth = members.reduce((sum, m) => sum + m.width + 2 * border, 0) + (members.length - 1) * gap;
    // A lone card alternates between the left and the right; a row is centred.
    let x = members.length === 1 ? (row % 2 === 0 ? margin : frame.width - margin - rowWidth) : even((frame.width - rowWidth) / 2);
    for (const m of members) {
      const outer = m.height + 2 * border;
      const y = layout.captionAt === 'bottom' ? margin : frame.height - margin - outer;
      cards.push({ ...m, start, end, fade, x: Math.max(0, x), y: Math.max(0, y), border });
      x += m.width + 2 * border + gap;
    }
  }
  return cards;
}
