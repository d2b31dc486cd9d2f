/**
 * The caption font (DejaVu Sans from the dejavu-fonts-ttf package) and its advance widths,
 * read from the TTF's cmap/hmtx tables so captions can be wrapped to the frame width.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

let cachedPath: string | undefined;

/** Absolute path of DejaVuSans.ttf. */
export function fontPath(): string {
  cachedPath ??= join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf', 'DejaVuSans.ttf');
  return cachedPath;
}

interface Metrics {
  unitsPerEm: number;
  advances: Uint16Array;
  glyphOf: (codePoint: number) => number;
}

function tableOffsets(font: Buffer): Map<string, number> {
  const tables = new Map<string, number>();
  const count = font.readUInt16BE(4);
  for (let i = 0; i < count; i++) {
    const rec = 12 + 16 * i;
    tables.set(font.toString('latin1', rec, rec + 4), font.readUInt32BE(rec + 8));
  }
  return tables;
}

function format4(font: Buffer, at: number): (cp: number) => number {
  const segCount = font.readUInt16BE(at + 6) / 2;
  const ends = at + 14;
  const starts = ends + 2 * segCount + 2;
  const deltas = starts + 2 * segCount;
  const rangeOffsets = deltas + 2 * segCount;
  return (cp) => {
    if (cp > 0xffff) return 0;
    for (let i = 0; i < segCount; i++) {
      if (cp > font.readUInt16BE(ends + 2 * i)) continue;
      const start = font.readUInt16BE(starts + 2 * i);
      if (cp < start) return 0;
      const delta = font.readUInt16BE(deltas + 2 * i);
      const rangeAt = rangeOffsets + 2 * i;
      const rangeOffset = font.readUInt16BE(rangeAt);
      if (rangeOffset === 0) return (cp + delta) & 0xffff;
      const glyph = font.readUInt16BE(rangeAt + rangeOffset + 2 * (cp - start));
      return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
    }
    return 0;
  };
}

function format12(font: Buffer, at: number): (cp: number) => number {
  const groups = font.readUInt32BE(at + 12);
  return (cp) => {
    for (let i = 0; i < groups; i++) {
      const g = at + 16 + 12 * i;
      const start = font.readUInt32BE(g);
      if (cp < start) return 0;
      if (cp <= font.readUInt32BE(g + 4)) return font.readUInt32BE(g + 8) + (cp - start);
    }
    return 0;
  };
}

function cmapLookup(font: Buffer, cmap: number): (cp: number) => number {
  const count = font.readUInt16BE(cmap + 2);
  let best: ((cp: number) => number) | null = null;
  for (let i = 0; i < count; i++) {
    const rec = cmap + 4 + 8 * i;
    const platform = font.readUInt16BE(rec);
    const encoding = font.readUInt16BE(rec + 2);
    const at = cmap + font.readUInt32BE(rec + 4);
    const format = font.readUInt16BE(at);
    const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
    if (!unicode) continue;
    if (format === 12) return format12(font, at);
    if (format === 4 && !best) best = format4(font, at);
  }
  if (!best) throw new Error('caption font has no Unicode cmap');
  return best;
}

function loadMetrics(): Metrics {
  const font = readFileSync(fontPath());
  const tables = tableOffsets(font);
  const head = tables.get('head');
  const hhea = tables.get('hhea');
  const hmtx = tables.get('hmtx');
  const cmap = tables.get('cmap');
  if (head === undefined || hhea === undefined || hmtx === undefined || cmap === undefined) {
    throw new Error('caption font is missing a required table');
  }
  const count = font.readUInt16BE(hhea + 34);
  const advances = new Uint16Array(count);
  for (let i = 0; i < count; i++) advances[i] = font.readUInt16BE(hmtx + 4 * i);
  return { unitsPerEm: font.readUInt16BE(head + 18), advances, glyphOf: cmapLookup(font, cmap) };
}

let metrics: Metrics | undefined;
const widthCache = new Map<number, number>();

/** Advance width of one code point, in em. Unknown characters get the .notdef width. */
export function advanceEm(codePoint: number): number {
  const cached = widthCache.get(codePoint);
  if (cached !== undefined) return cached;
  metrics ??= loadMetrics();
  const glyph = metrics.glyphOf(codePoint);
  const last = metrics.advances.length - 1;
  const width = (metrics.advances[Math.min(glyph, last)] ?? 0) / metrics.unitsPerEm;
  widthCache.set(codePoint, width);
  return width;
}

/** Width of a string in pixels at the given font size (no kerning; a slight overestimate). */
export function textWidthPx(text: string, fontSize: number): number {
  let px = 0;
  // Freetype rounds hinted advances to whole pixels; half a pixel per glyph covers that.
  for (const ch of text) px += advanceEm(ch.codePointAt(0) ?? 0) * fontSize + 0.5;
  return px;
}
