/**
 * The soundtrack: the scene's music (music in scene.ts) synthesised here as 16-bit PCM, a soft
 * chord pad, a bass note and a plucked melody on the beats, each with its own envelope so nothing
 * clicks. ffmpeg reads it as an input and encodes it as AAC. (ffmpeg's aevalsrc could play the
 * same formula, but it evaluates it sample by sample at about 6x real time: 5 s of CPU for a 30 s
 * video, against a few milliseconds here.)
 */
import type { Music } from './scene.js';

export const AUDIO_RATE = 48_000;

const hz = (midi: number): number => 440 * 2 ** ((midi - 69) / 12);
const TAU = 2 * Math.PI;

/** Rises over `attack` s from 0, falls over `release` s to the end of a note `length` s long. */
const edges = (x: number, attack: number, length: number, release: number): number =>
  Math.min(1, x / attack) * Math.min(1, (length - x) / release);

/** The music as mono 16-bit little-endian PCM at 48 kHz, exactly `samples` long. */
export function synthesize(music: Music, samples: number): Buffer {
  const out = Buffer.alloc(samples * 2);
  const seconds = samples / AUDIO_RATE;
  const beat = music.beatSeconds;
  const chordLength = beat * music.beatsPerChord;
  const chords = music.chords.map((c) => ({ pad: c.map(hz), bass: hz(c[0] - 12) }));
  const melody = music.melody.map((n) => (n === null ? 0 : hz(n)));
  for (let i = 0; i < samples; i++) {
    const t = i / AUDIO_RATE;
    const chordIndex = Math.floor(t / chordLength);
    const inChord = t - chordIndex * chordLength;
    const beatIndex = Math.floor(t / beat);
    const inBeat = t - beatIndex * beat;
    const chord = chords[chordIndex % chords.length] ?? { pad: [], bass: 0 };
    const note = melody[beatIndex % melody.length] ?? 0;

    let pad = 0;
    for (const f of chord.pad) pad += Math.sin(TAU * f * t);
    pad *= 0.07 * edges(inChord, 0.08, chordLength, 0.06) * (0.6 + 0.4 * Math.exp(-1.5 * inChord));
    const bass = 0.14 * Math.sin(TAU * chord.bass * t) * edges(inBeat, 0.01, beat, 0.03) * Math.exp(-3 * inBeat);
    const lead = 0.16 * Math.sin(TAU * note * t) * edges(inBeat, 0.005, beat, 0.03) * Math.exp(-5 * inBeat);
    const level = (pad + bass + lead) * Math.min(1, t / 0.02) * Math.min(1, (seconds - t) / 0.05);
    out.writeInt16LE(Math.max(-32767, Math.min(32767, Math.round(level * 32767))), 2 * i);
  }
  return out;
}

/** Input arguments for the PCM file written from `synthesize`. */
export const audioInput = (path: string): string[] => ['-f', 's16le', '-ar', String(AUDIO_RATE), '-ac', '1', '-i', `file:${path}`];

/** Output arguments for the soundtrack (input stream `stream`): AAC, bit-exact. */
export const audioArgs = (stream: string): string[] => ['-map', stream, '-c:a', 'aac', '-b:a', '96k', '-flags:a', '+bitexact'];
