/**
 * Caption layout: the prompt wrapped over a few lines that fit the frame, with an ellipsis when
 * it does not fit, the font that can draw it, and the font size and box geometry for the frame size.
 * Lines break at spaces, and between the characters of scripts written without spaces (Han, kana).
 */
import { captionFont, textWidthPx } from './font.js';
import type { Font } from './font.js';

export interface CaptionLayout {
  /** Lines to draw; empty when the prompt has no printable text. */
  lines: string[];
  font: Font;
  fontSize: number;
  lineSpacing: number;
  /** Padding of the translucent box around the text. */
  boxBorder: number;
  /** Distance between the frame edge and the box. */
  margin: number;
}

const ELLIPSIS = '\u2026';

/** Collapse whitespace and drop control characters. */
export function cleanPrompt(prompt: string): string {
  return prompt
    .normalize('NFC')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\s]+/gu, ' ')
    .trim();
}

/** Split a word that is wider than a line into pieces that fit. */
function splitLongWord(word: string, fits: (s: string) => boolean): string[] {
  const pieces: string[] = [];
  let piece = '';
  for (const ch of word) {
    if (piece && !fits(piece + ch)) {
      pieces.push(piece);
      piece = '';
    }
    piece += ch;
  }
  if (piece) pieces.push(piece);
  return pieces;
}

/** A piece of text no line breaks inside, and whether a space separates it from the piece before. */
interface Unit {
  text: string;
  spaced: boolean;
}

/** A line may break before a Han or kana character (punctuation after it stays with it). */
const BREAK_BEFORE = /(?=[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}])/u;

function units(text: string): Unit[] {
  return text.split(' ').flatMap((word) => word.split(BREAK_BEFORE).map((piece, i) => ({ text: piece, spaced: i === 0 })));
}

/** Greedy word wrap; returns every line the text needs. */
function wrap(text: string, fits: (s: string) => boolean): string[] {
  const lines: string[] = [];
  let line = '';
  for (const { text: word, spaced } of units(text)) {
    const candidate = line ? `${line}${spaced ? ' ' : ''}${word}` : word;
    if (fits(candidate)) {
      line = candidate;
      continue;
    }
    if (line) lines.push(line);
    if (fits(word)) {
      line = word;
      continue;
    }
    const pieces = splitLongWord(word, fits);
    line = pieces.pop() ?? '';
    lines.push(...pieces);
  }
  if (line) lines.push(line);
  return lines;
}

/** Shorten a line until it fits with a trailing ellipsis, preferring to cut at a word boundary. */
function withEllipsis(line: string, fits: (s: string) => boolean): string {
  const chars = [...line];
  while (chars.length > 0 && !fits(chars.join('').trimEnd() + ELLIPSIS)) chars.pop();
  let cut = chars.join('').trimEnd();
  const space = cut.lastIndexOf(' ');
  if (space > cut.length * 0.6) cut = cut.slice(0, space);
  return cut.replace(/[\s,.;:!?-]+$/u, '') + ELLIPSIS;
}

/** Lay out the caption for a width x height frame. */
export function layoutCaption(prompt: string, width: number, height: number): CaptionLayout {
  const text = cleanPrompt(prompt);
  const font = captionFont(text);
  const shortSide = Math.min(width, height);
  const size = Math.max(12, Math.round(shortSide * 0.045));
  const grid = font.pixelGrid;
  const fontSize = grid > 1 ? Math.max(grid, Math.round(size / grid) * grid) : size;
  const boxBorder = Math.round(fontSize * 0.5);
  const lineSpacing = Math.round(fontSize * 0.3);
  const margin = Math.round(Math.max(width, height) * (height > width ? 0.07 : 0.05));
  const maxLines = height > width ? 4 : 3;
  const maxWidth = width * 0.88 - 2 * boxBorder;
  const fits = (s: string): boolean => textWidthPx(s, fontSize, font) <= maxWidth;

  const all = text ? wrap(text, fits) : [];
  const lines = all.slice(0, maxLines);
  if (all.length > maxLines) {
    const lastIndex = maxLines - 1;
    lines[lastIndex] = withEllipsis(`${lines[lastIndex] ?? ''} ${all[maxLines] ?? ''}`, fits);
  }
  return { lines, font, fontSize, lineSpacing, boxBorder, margin };
}
