/** Helpers of the media tests: scratch folders, decoding frames and soundtracks, image comparison. */
import { afterAll, beforeAll, expect } from 'vitest';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readFile } from 'node:fs/promises';
import { spriteGrid } from '../../src/media/derive.js';
import { ffmpegPath, ffprobePath, runTool } from '../../src/media/ffmpeg.js';
import { probeVideo } from '../../src/media/probe.js';
import type { MediaInfo } from '../../src/media/probe.js';
import { renderSandboxVideo } from '../../src/providers/sandbox/render.js';
import type { RenderOutput, RenderSpec } from '../../src/providers/sandbox/render.js';

/** A scratch folder for the file's tests (removed after them), fresh sub-folders and renders into them. */
export function scratchRenders(prefix: string): {
  freshDir(name?: string): Promise<string>;
  render(spec: RenderSpec, name?: string): Promise<RenderOutput>;
} {
  let root = '';
  let counter = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  const freshDir = async (name = 'out'): Promise<string> => {
    const dir = join(root, `${name}-${++counter}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  return { freshDir, render: async (spec, name) => renderSandboxVideo(spec, await freshDir(name)) };
}

/** Decode one frame of a video to packed RGB. */
export async function frameRgb(video: string, index: number): Promise<Buffer> {
  const { stdout } = await runTool(ffmpegPath(), [
    '-v', 'error', '-i', video, '-vf', `select=eq(n\\,${index})`, '-vsync', '0', '-frames:v', '1',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ]);
  return stdout;
}

/** Decode the soundtrack to mono 16-bit PCM at 48 kHz. */
export async function pcm(video: string): Promise<Int16Array> {
  const { stdout } = await runTool(ffmpegPath(), ['-v', 'error', '-i', video, '-map', '0:a', '-f', 's16le', '-ac', '1', '-ar', '48000', 'pipe:1']);
  return new Int16Array(stdout.buffer, stdout.byteOffset, stdout.length / 2);
}

/** The audio stream of a file, as ffprobe describes it (undefined when there is none). */
export async function audioStream(video: string): Promise<Record<string, unknown> | undefined> {
  const { stdout } = await runTool(ffprobePath(), [
    '-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=codec_name,sample_rate,channels,duration', '-of', 'json', video,
  ]);
  return (JSON.parse(stdout.toString('utf8')) as { streams: Record<string, unknown>[] }).streams[0];
}

export function meanAbsDiff(a: Buffer, b: Buffer): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

/** Packed RGB of an image file, or of a region of it. */
export async function imageRgb(path: string | Buffer): Promise<Buffer> {
  return sharp(path).removeAlpha().raw().toBuffer();
}

/** A region of a packed RGB frame. */
export function crop(rgb: Buffer, frameWidth: number, r: { x: number; y: number; width: number; height: number }): Buffer {
  const out = Buffer.alloc(r.width * r.height * 3);
  for (let row = 0; row < r.height; row++) {
    const from = ((r.y + row) * frameWidth + r.x) * 3;
    rgb.copy(out, row * r.width * 3, from, from + r.width * 3);
  }
  return out;
}

/** A photo-like test picture: smooth gradients and a few colour blocks; `variant` changes its colours. */
export function photo(width: number, height: number, variant = 0): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const block = Math.floor((x * 3) / width) + Math.floor((y * 2) / height);
      const [gx, gy] = [Math.round((255 * x) / width), Math.round((255 * y) / height)];
      raw[i] = variant % 2 === 0 ? gx : 255 - gy;
      raw[i + 1] = variant % 2 === 0 ? gy : gx;
      raw[i + 2] = (block + variant) % 2 === 0 ? 200 : 60;
    }
  }
  return raw;
}

/** Write a photo() picture as PNG (or JPEG). */
export async function writePhoto(path: string, width: number, height: number, variant = 0): Promise<Buffer> {
  const raw = photo(width, height, variant);
  const img = sharp(raw, { raw: { width, height, channels: 3 } });
  await (path.endsWith('.jpg') ? img.jpeg({ quality: 95 }) : img.png()).toFile(path);
  return raw;
}

/** What a user would check first: a real H.264 faststart MP4 of the exact size and length, and real stills. */
export async function expectPlayable(
  out: RenderOutput,
  width: number,
  height: number,
  seconds: number,
  opts: { audio?: boolean; fps?: number } = {},
): Promise<MediaInfo> {
  const fps = opts.fps ?? 24;
  const info = await probeVideo(out.video);
  expect(info.codec).toBe('h264');
  expect(info.pixFmt).toBe('yuv420p');
  expect(info.width).toBe(width);
  expect(info.height).toBe(height);
  // Whole frames: within half a frame of the length asked for.
  expect(Math.abs(info.durationSeconds - seconds)).toBeLessThanOrEqual(0.5 / fps + 1e-6);
  expect(info.frames).toBe(Math.max(1, Math.round(seconds * fps)));
  expect(info.faststart).toBe(true);
  expect(info.hasAudio).toBe(opts.audio ?? false);

  const webp = await readFile(out.thumbnail);
  expect(webp.toString('latin1', 0, 4)).toBe('RIFF');
  expect(webp.toString('latin1', 8, 12)).toBe('WEBP');
  const thumb = await sharp(out.thumbnail).metadata();
  expect(thumb.format).toBe('webp');
  const scale = Math.min(1, 1280 / Math.max(width, height));
  expect(Math.abs((thumb.width ?? 0) - width * scale)).toBeLessThanOrEqual(2);
  expect(Math.abs((thumb.height ?? 0) - height * scale)).toBeLessThanOrEqual(2);

  const jpeg = await readFile(out.spritesheet);
  expect([...jpeg.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
  const sheet = await sharp(out.spritesheet).metadata();
  expect(sheet.format).toBe('jpeg');
  // Up to 5 x 4 cells (20 frames; fewer for shorter videos) whose long side is 256 px.
  const grid = spriteGrid({ width, height, frames: info.frames });
  expect(grid.frames).toBe(Math.min(20, info.frames ?? 0));
  const cell = 256 / Math.max(width, height);
  expect(Math.abs((sheet.width ?? 0) - grid.columns * width * cell)).toBeLessThanOrEqual(2 * grid.columns);
  expect(Math.abs((sheet.height ?? 0) - grid.rows * height * cell)).toBeLessThanOrEqual(2 * grid.rows);
  return info;
}
