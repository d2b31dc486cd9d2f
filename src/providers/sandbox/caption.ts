/**
 * Caption layout: the prompt wrapped over a few lines that fit the frame, with an ellipsis when
 * it does not fit, and the font size and box geometry for the frame size.
 */
import { textWidthPx } from './font.js';

export interface CaptionLayout {
  /** Lines to draw; empty when the prompt has no printable text. */
  lines: string[];
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

/** Greedy word wrap; returns every line the text needs. */
function wrap(text: string, fits: (s: string) => boolean): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const candidate = line ? `${line} ${word}` : word;
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
  const shortSide = Math.min(width, height);
  const fontSize = Math.max(12, Math.round(shortSide * 0.045));
  const boxBorder = Math.round(fontSize * 0.5);
  const lineSpacing = Math.round(fontSize * 0.3);
  const margin = Math.round(Math.max(width, height) * (height > width ? 0.07 : 0.05));
  const maxLines = height > width ? 4 : 3;
  const maxWidth = width * 0.88 - 2 * boxBorder;
  const fits = (s: string): boolean => textWidthPx(s, fontSize) <= maxWidth;

  const text = cleanPrompt(prompt);
  const all = text ? wrap(text, fits) : [];
  const lines = all.slice(0, maxLines);
  if (all.length > maxLines) {
    const lastIndex = maxLines - 1;
    lines[lastIndex] = withEllipsis(`${lines[lastIndex] ?? ''} ${all[maxLines] ?? ''}`, fits);
  }
  return { lines, fontSize, lineSpacing, boxBorder, margin };
}
