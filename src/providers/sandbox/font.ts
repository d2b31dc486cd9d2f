/**
 * The sandbox's fonts and their advance widths, read from the fonts' cmap/hmtx tables so captions
 * can be wrapped to the frame width.
 *
 * - DejaVu Sans (dejavu-fonts-ttf): the shapes, and captions in the scripts it covers (Latin,
 *   Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic, …).
 * - UnifontEX (@fontsource/unifontex, its WOFF file): a glyph for nearly every code point of the
 *   Basic Multilingual Plane (Han, kana, Hangul, Thai, Devanagari, …) in one 3.3 MB file. A caption
 *   that DejaVu cannot draw entirely is drawn in it, at a size that is a multiple of its 16 px grid
 *   so the glyphs stay crisp.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { inflateSync } from 'node:zlib';

const require = createRequire(import.meta.url);

export interface Font {
  name: 'dejavu' | 'unifont';
  /** Absolute path of the font file. */
  path: string;
  /** Font sizes are rounded to a multiple of this many pixels (1: any size). */
  pixelGrid: number;
}

export const DEJAVU: Font = {
  name: 'dejavu',
  path: join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf', 'DejaVuSans.ttf'),
  pixelGrid: 1,
};

export const UNIFONT: Font = {
  name: 'unifont',
  path: require.resolve('@fontsource/unifontex/files/unifontex-latin-400-normal.woff'),
  pixelGrid: 16,
};

interface Metrics {
  unitsPerEm: number;
  advances: Uint16Array;
  glyphOf: (codePoint: number) => number;
}

/** The tables of a TrueType/OpenType file or of a WOFF (1.0) file, decompressed. */
function readTables(file: Buffer): Map<string, Buffer> {
  const tables = new Map<string, Buffer>();
  const signature = file.toString('latin1', 0, 4);
  if (signature === 'wOFF') {
    const count = file.readUInt16BE(12);
    for (let i = 0; i < count; i++) {
      const rec = 44 + 20 * i;
      const offset = file.readUInt32BE(rec + 4);
      const compressed = file.readUInt32BE(rec + 8);
      const original = file.readUInt32BE(rec + 12);
      const data = file.subarray(offset, offset + compressed);
      tables.set(file.toString('latin1', rec, rec + 4), compressed < original ? inflateSync(data) : data);
    }
    return tables;
  }
  const count = file.readUInt16BE(4);
  for (let i = 0; i < count; i++) {
    const rec = 12 + 16 * i;
    const offset = file.readUInt32BE(rec + 8);
    tables.set(file.toString('latin1', rec, rec + 4), file.subarray(offset, offset + file.readUInt32BE(rec + 12)));
  }
  return tables;
}

function format4(cmap: Buffer, at: number): (cp: number) => number {
  const segCount = cmap.readUInt16BE(at + 6) / 2;
  const ends = at + 14;
  const starts = ends + 2 * segCount + 2;
  const deltas = starts + 2 * segCount;
  const rangeOffsets = deltas + 2 * segCount;
  return (cp) => {
    if (cp > 0xffff) return 0;
    for (let i = 0; i < segCount; i++) {
      if (cp > cmap.readUInt16BE(ends + 2 * i)) continue;
      const start = cmap.readUInt16BE(starts + 2 * i);
      if (cp < start) return 0;
      const delta = cmap.readUInt16BE(deltas + 2 * i);
      const rangeAt = rangeOffsets + 2 * i;
      const rangeOffset = cmap.readUInt16BE(rangeAt);
      if (rangeOffset === 0) return (cp + delta) & 0xffff;
      const glyph = cmap.readUInt16BE(rangeAt + rangeOffset + 2 * (cp - start));
      return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
    }
    return 0;
  };
}

function format12(cmap: Buffer, at: number): (cp: number) => number {
  const groups = cmap.readUInt32BE(at + 12);
  return (cp) => {
    // Groups are sorted by start code: binary search.
    let [lo, hi] = [0, groups - 1];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const g = at + 16 + 12 * mid;
      if (cp < cmap.readUInt32BE(g)) hi = mid - 1;
      else if (cp > cmap.readUInt32BE(g + 4)) lo = mid + 1;
      else return cmap.readUInt32BE(g + 8) + (cp - cmap.readUInt32BE(g));
    }
    return 0;
  };
}

function cmapLookup(cmap: Buffer): (cp: number) => number {
  const count = cmap.readUInt16BE(2);
  let best: ((cp: number) => number) | null = null;
  for (let i = 0; i < count; i++) {
    const rec = 4 + 8 * i;
    const platform = cmap.readUInt16BE(rec);
    const encoding = cmap.readUInt16BE(rec + 2);
    const at = cmap.readUInt32BE(rec + 4);
    const format = cmap.readUInt16BE(at);
    const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
    if (!unicode) continue;
    if (format === 12) return format12(cmap, at);
    if (format === 4 && !best) best = format4(cmap, at);
  }
  if (!best) throw new Error('caption font has no Unicode cmap');
  return best;
}

function loadMetrics(font: Font): Metrics {
  const tables = readTables(readFileSync(font.path));
  const head = tables.get('head');
  const hhea = tables.get('hhea');
  const hmtx = tables.get('hmtx');
  const cmap = tables.get('cmap');
  if (!head || !hhea || !hmtx || !cmap) throw new Error(`font ${font.path} is missing a required table`);
  const count = hhea.readUInt16BE(34);
  const advances = new Uint16Array(count);
  for (let i = 0; i < count; i++) advances[i] = hmtx.readUInt16BE(4 * i);
  return { unitsPerEm: head.readUInt16BE(18), advances, glyphOf: cmapLookup(cmap) };
}

const metricsCache = new Map<string, Metrics>();
const metricsOf = (font: Font): Metrics => {
  let m = metricsCache.get(font.name);
  if (!m) {
    m = loadMetrics(font);
    metricsCache.set(font.name, m);
  }
  return m;
};

/** The font has a glyph for this code point. */
export function hasGlyph(font: Font, codePoint: number): boolean {
  return metricsOf(font).glyphOf(codePoint) !== 0;
}

/** Characters that need no glyph of their own (spaces, controls, joiners, variation selectors). */
const INVISIBLE = /[\p{White_Space}\p{Cc}\p{Cf}\u{FE00}-\u{FE0F}]/u;

/** Code points of the text that the font cannot draw. */
export function missingGlyphs(font: Font, text: string): string[] {
  const missing = new Set<string>();
  for (const ch of text) if (!INVISIBLE.test(ch) && !hasGlyph(font, ch.codePointAt(0) ?? 0)) missing.add(ch);
  return [...missing];
}

/**
 * The font a caption is drawn in: DejaVu Sans when it has every character, else UnifontEX when
 * it has more of them (text in a script DejaVu lacks); DejaVu again when neither helps.
 */
export function captionFont(text: string): Font {
  const lacking = missingGlyphs(DEJAVU, text);
  if (lacking.length === 0) return DEJAVU;
  return missingGlyphs(UNIFONT, lacking.join('')).length < lacking.length ? UNIFONT : DEJAVU;
}

const widthCache = new Map<string, number>();

/** Advance width of one code point in the font, in em. Unknown characters get the .notdef width. */
export function advanceEm(codePoint: number, font: Font = DEJAVU): number {
  const key = `${font.name}:${codePoint}`;
  const cached = widthCache.get(key);
  if (cached !== undefined) return cached;
  const metrics = metricsOf(font);
  const glyph = metrics.glyphOf(codePoint);
  const last = metrics.advances.length - 1;
  // Glyphs past the hmtx entries share the last advance width (the table's rule).
  const width = (metrics.advances[Math.min(glyph, last)] ?? 0) / metrics.unitsPerEm;
  widthCache.set(key, width);
  return width;
}

/** Width of a string in pixels at the given font size (no kerning; a slight overestimate). */
export function textWidthPx(text: string, fontSize: number, font: Font = DEJAVU): number {
  let px = 0;
  // Freetype rounds hinted advances to whole pixels; half a pixel per glyph covers that.
  for (const ch of text) px += advanceEm(ch.codePointAt(0) ?? 0, font) * fontSize + 0.5;
  return px;
}
