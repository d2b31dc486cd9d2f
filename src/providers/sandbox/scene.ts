/**
 * Prompt → scene parameters. Everything is derived from a SHA-256 of the cleaned prompt (and the
 * request's seed, when it has one), so the same prompt always gives the same picture and sound and
 * different prompts give different colours, motion and music. Colour words in the prompt ("red",
 * "ocean", "forest", …) steer the base hue.
 */
import { createHash } from 'node:crypto';
import { cleanPrompt } from './caption.js';

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** A travelling sine wave across the frame: kx/ky cycles per frame width/height, speed in rad/s. */
export interface Wave {
  kx: number;
  ky: number;
  speed: number;
  phase: number;
}

/** A Lissajous path around (cx, cy), in fractions of the frame; frequencies in rad/s. */
export interface Orbit {
  cx: number;
  cy: number;
  ax: number;
  ay: number;
  fx: number;
  fy: number;
  px: number;
  py: number;
}

export interface Sprite {
  glyph: string;
  color: Rgb;
  opacity: number;
  /** Font size as a fraction of the frame's shorter side. */
  size: number;
  orbit: Orbit;
}

/** A short loop of music: a chord progression with a bass note and a melody on the beats. */
export interface Music {
  beatSeconds: number;
  /** Beats per chord. */
  beatsPerChord: number;
  /** Each chord's three notes, as MIDI note numbers (the first is the chord's root). */
  chords: [number, number, number][];
  /** One note per beat, repeating; null is a rest. */
  melody: (number | null)[];
}

export interface Scene {
  /** Hex SHA-256 of the cleaned prompt (and seed). */
  seed: string;
  palette: { base: Rgb; mid: Rgb; accent: Rgb; glow: Rgb };
  waves: [Wave, Wave];
  /** A soft light blob drifting over the background. */
  glow: { orbit: Orbit; radius: number };
  sprites: Sprite[];
  /** Hue rotation in degrees applied to a remixed source video. */
  hueShift: number;
  music: Music;
}

/** sfc32: small, fast and good enough for picking parameters; seeded from the digest. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(digest: Buffer) {
    this.a = digest.readUInt32BE(0);
    this.b = digest.readUInt32BE(4);
    this.c = digest.readUInt32BE(8);
    this.d = digest.readUInt32BE(12);
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

/** Hue in degrees for colour words; the first one found in the prompt wins. */
const COLOUR_WORDS: Record<string, number> = {
  red: 2, crimson: 350, scarlet: 5, ruby: 345, fire: 12, flame: 15, lava: 10, rose: 340,
  orange: 28, sunset: 22, autumn: 30, amber: 40, rust: 18, copper: 25,
  yellow: 52, gold: 46, golden: 46, sun: 48, sunny: 48, desert: 38, sand: 40, lemon: 56, banana: 54,
  green: 120, forest: 130, jungle: 115, grass: 105, leaf: 110, leaves: 110, emerald: 145, lime: 90, moss: 95,
  teal: 175, turquoise: 172, cyan: 185, aqua: 180, mint: 155,
  blue: 215, ocean: 205, sea: 200, sky: 200, water: 195, ice: 192, snow: 205, winter: 210, rain: 220, river: 200,
  navy: 228, sapphire: 222, indigo: 245, night: 235, space: 250, galaxy: 265, cosmic: 262,
  purple: 275, violet: 270, lavender: 268, magenta: 305, neon: 300, pink: 325, candy: 330, cherry: 345,
};

const DARK_WORDS = new Set(['night', 'dark', 'midnight', 'space', 'shadow', 'noir', 'storm', 'cave', 'deep']);
const GLYPHS = ['\u25CF', '\u25C6', '\u25A0', '\u25B2', '\u2605'] as const; // ● ◆ ■ ▲ ★

function hslToRgb(hue: number, sat: number, light: number): Rgb {
  const h = ((hue % 360) + 360) % 360;
  const c = (1 - Math.abs(2 * light - 1)) * sat;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const m = light - c / 2;
  const [r, g, b] =
    h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  const to8 = (v: number): number => Math.round(Math.min(1, Math.max(0, v + m)) * 255);
  return { r: to8(r), g: to8(g), b: to8(b) };
}

/** A spatial frequency in cycles per frame, never so small that the wave looks flat. */
function frequency(rng: Rng): number {
  return rng.sign() * rng.range(0.5, 2.2);
}

function wave(rng: Rng): Wave {
  return { kx: frequency(rng), ky: frequency(rng), speed: rng.sign() * rng.range(0.6, 1.8), phase: rng.range(0, 2 * Math.PI) };
}

function orbit(rng: Rng, cy: number): Orbit {
  return {
    cx: 0.5,
    cy,
    ax: rng.range(0.16, 0.32),
    ay: rng.range(0.14, 0.3),
    fx: rng.sign() * rng.range(0.7, 2.2),
    fy: rng.sign() * rng.range(0.7, 2.2),
    px: rng.range(0, 2 * Math.PI),
    py: rng.range(0, 2 * Math.PI),
  };
}

const MAJOR = [0, 2, 4, 5, 7, 9, 11];
const MINOR = [0, 2, 3, 5, 7, 8, 10];
/** Progressions as scale degrees (0 = tonic): pop and folk staples. */
const MAJOR_PROGRESSIONS = [[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 0, 4], [5, 3, 0, 4], [0, 3, 4, 4]];
const MINOR_PROGRESSIONS = [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 5, 3, 4], [0, 2, 6, 5]];

/** MIDI note of a scale degree (may run past the octave) above the root. */
const degreeNote = (scale: number[], root: number, degree: number): number =>
  root + 12 * Math.floor(degree / 7) + (scale[degree % 7] ?? 0);

function music(rng: Rng, dark: boolean): Music {
  const minor = dark || rng.next() < 0.4;
  const scale = minor ? MINOR : MAJOR;
  const root = 48 + Math.floor(rng.next() * 8); // C3 … G3
  const progression = rng.pick(minor ? MINOR_PROGRESSIONS : MAJOR_PROGRESSIONS);
  const chords = progression.map((d): [number, number, number] => [
    degreeNote(scale, root, d),
    degreeNote(scale, root, d + 2),
    degreeNote(scale, root, d + 4),
  ]);
  // The melody walks the scale's pentatonic notes an octave and a bit above the root.
  const pentatonic = minor ? [0, 2, 3, 4, 6] : [0, 1, 2, 4, 5];
  const melody: (number | null)[] = [];
  let step = Math.floor(rng.next() * pentatonic.length);
  for (let i = 0; i < 8; i++) {
    step = Math.min(pentatonic.length * 2 - 1, Math.max(0, step + rng.pick([-2, -1, 1, 1, 2])));
    const degree = (pentatonic[step % pentatonic.length] ?? 0) + 7 * Math.floor(step / pentatonic.length);
    melody.push(i > 0 && rng.next() < 0.2 ? null : degreeNote(scale, root + 12, degree));
  }
  return { beatSeconds: 60 / Math.round(rng.range(76, 124)), beatsPerChord: rng.pick([2, 4]), chords, melody };
}

function words(text: string): string[] {
  return text.toLowerCase().match(/\p{L}+/gu) ?? [];
}

/** Derive the scene for a prompt; a seed gives another scene for the same prompt. */
export function sceneFor(prompt: string, seed?: number): Scene {
  const text = cleanPrompt(prompt);
  const hash = createHash('sha256').update(text, 'utf8');
  if (seed !== undefined) hash.update(`\u0000seed:${seed}`, 'utf8');
  const digest = hash.digest();
  const rng = new Rng(digest);
  const promptWords = words(text);

  // "snowy", "reds" and "leafy" count too.
  const named = promptWords.map((w) => COLOUR_WORDS[w] ?? COLOUR_WORDS[w.replace(/(s|y)$/, '')]).find((h) => h !== undefined);
  const baseHue = named !== undefined ? named + rng.range(-10, 10) : rng.range(0, 360);
  const dark = promptWords.some((w) => DARK_WORDS.has(w));
  const sat = rng.range(0.55, 0.9);
  // Base and mid share the prompt's hue family; the accent follows a colour scheme for contrast.
  const midOffset = rng.sign() * rng.range(12, 40);
  const accentOffset = rng.pick([35, 60, 150, 180, 210, -60]);

  const palette = {
    base: hslToRgb(baseHue, sat, dark ? rng.range(0.08, 0.14) : rng.range(0.22, 0.32)),
    mid: hslToRgb(baseHue + midOffset, sat, dark ? rng.range(0.25, 0.35) : rng.range(0.45, 0.55)),
    accent: hslToRgb(baseHue + accentOffset, Math.min(1, sat + 0.1), rng.range(0.5, 0.62)),
    glow: hslToRgb(baseHue + rng.range(-30, 30), 0.95, rng.range(0.62, 0.74)),
  };

  const spriteCount = 2 + Math.floor(rng.next() * 3);
  const sprites: Sprite[] = [];
  for (let i = 0; i < spriteCount; i++) {
    sprites.push({
      glyph: rng.pick(GLYPHS),
      // Shapes take hues away from the background's so they stand out against it.
      color: hslToRgb(baseHue + 180 + rng.range(-50, 50), rng.range(0.8, 1), rng.range(0.58, 0.75)),
      opacity: rng.range(0.75, 0.92),
      size: rng.range(0.14, 0.32),
      orbit: orbit(rng, 0.42),
    });
  }

  return {
    seed: digest.toString('hex'),
    palette,
    waves: [wave(rng), wave(rng)],
    glow: { orbit: orbit(rng, 0.45), radius: rng.range(0.16, 0.28) },
    sprites,
    hueShift: Math.round(rng.range(70, 290)),
    music: music(rng, dark),
  };
}
