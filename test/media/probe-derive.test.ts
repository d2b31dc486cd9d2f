import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { deriveStills } from '../../src/media/derive.js';
import { escapeFilterValue, ffmpegPath, ffprobePath, MediaToolError, runTool } from '../../src/media/ffmpeg.js';
import { probeVideo } from '../../src/media/probe.js';
import type { MediaInfo } from '../../src/media/probe.js';

let dir = '';

/** Make a test clip with ffmpeg's own sources (moving test pattern, optional tone). */
async function makeClip(name: string, opts: { size: string; rate: number; seconds: number; audio?: boolean; extra?: string[] }): Promise<string> {
  const path = join(dir, name);
  const args = ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=s=${opts.size}:r=${opts.rate}:d=${opts.seconds}`];
  if (opts.audio) args.push('-f', 'lavfi', '-i', `sine=frequency=440:d=${opts.seconds}`, '-c:a', 'aac', '-shortest');
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', ...(opts.extra ?? []), path);
  await runTool(ffmpegPath(), args);
  return path;
}

/** Decode one frame to packed RGB at a given size. */
async function frameRgb(video: string, index: number, width: number, height: number): Promise<Buffer> {
  const { stdout } = await runTool(ffmpegPath(), [
    '-v', 'error', '-i', video, '-vf', `select=eq(n\\,${index}),scale=${width}:${height}`, '-vsync', '0',
    '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ]);
  return stdout;
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

type ImageMeta = Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;

async function expectStills(out: { thumbnail: string; spritesheet: string }): Promise<{ thumb: ImageMeta; sheet: ImageMeta }> {
  const webp = await readFile(out.thumbnail);
  expect(webp.toString('latin1', 0, 4)).toBe('RIFF');
  expect(webp.toString('latin1', 8, 12)).toBe('WEBP');
  const jpeg = await readFile(out.spritesheet);
  expect([...jpeg.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
  const [thumb, sheet] = await Promise.all([sharp(out.thumbnail).metadata(), sharp(out.spritesheet).metadata()]);
  expect(thumb.format).toBe('webp');
  expect(sheet.format).toBe('jpeg');
  return { thumb, sheet };
}

let plain = '';
let fast = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidgate-probe-test-'));
  [plain, fast] = await Promise.all([
    makeClip('plain.mp4', { size: '640x360', rate: 30, seconds: 3, audio: true }),
    makeClip('fast.mp4', { size: '1920x1080', rate: 25, seconds: 2, extra: ['-movflags', '+faststart'] }),
  ]);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('probeVideo', () => {
  it('reports codec, size, duration, frames, audio and a moov-at-the-end file', async () => {
    const info = await probeVideo(plain);
    expect(info).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: 640, height: 360, frames: 90, hasAudio: true, faststart: false });
    expect(info.durationSeconds).toBeCloseTo(3, 1);
  });

  it('recognises faststart files', async () => {
    const info = await probeVideo(fast);
    expect(info).toMatchObject({ width: 1920, height: 1080, frames: 50, hasAudio: false, faststart: true });
    expect(info.durationSeconds).toBeCloseTo(2, 2);
  });

  it('reports the displayed size of a rotated phone video', async () => {
    const clip = await makeClip('upright.mp4', { size: '320x240', rate: 24, seconds: 1 });
    // Phones store the sensor's frame plus a display matrix; stream copy keeps the matrix.
    const rotated = join(dir, 'rotated.mp4');
    await runTool(ffmpegPath(), ['-v', 'error', '-y', '-i', clip, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated]);
    const info = await probeVideo(rotated);
    expect([info.width, info.height]).toEqual([240, 320]);
  });

  it('handles videos in other containers', async () => {
    const mkv = join(dir, 'clip.mkv');
    await runTool(ffmpegPath(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10:d=1', '-c:v', 'mpeg4', mkv]);
    const info = await probeVideo(mkv);
    expect(info).toMatchObject({ codec: 'mpeg4', width: 160, height: 120, faststart: false });
    expect(info.durationSeconds).toBeCloseTo(1, 1);
  });

  it('throws a clear error for files that are not videos', async () => {
    const png = join(dir, 'still.png');
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#ff0000' } }).png().toFile(png);
    await expect(probeVideo(png)).rejects.toThrow(/not a video/);

    const audio = join(dir, 'tone.m4a');
    await runTool(ffmpegPath(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=d=1', '-c:a', 'aac', audio]);
    await expect(probeVideo(audio)).rejects.toThrow(/not a video/);

    const text = join(dir, 'notes.mp4');
    await writeFile(text, 'this is not a video at all\n');
    await expect(probeVideo(text)).rejects.toThrow(/not a readable media file/);
    await expect(probeVideo(join(dir, 'missing.mp4'))).rejects.toThrow(/not a readable media file/);
  });
});

describe('deriveStills', () => {
  it('makes a webp thumbnail from the middle and a 5x4 jpg spritesheet', async () => {
    const out = { thumbnail: join(dir, 'plain.webp'), spritesheet: join(dir, 'plain.jpg') };
    const info = await probeVideo(plain);
    await deriveStills(plain, out, info);
    const { thumb, sheet } = await expectStills(out);
    expect([thumb.width, thumb.height]).toEqual([640, 360]);
    expect([sheet.width, sheet.height]).toEqual([5 * 256, 4 * 144]);

    // The thumbnail is the middle frame (testsrc2 moves, so another frame would not match).
    const { data } = await sharp(out.thumbnail).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const middle = meanAbsDiff(data, await frameRgb(plain, 45, 640, 360));
    const start = meanAbsDiff(data, await frameRgb(plain, 0, 640, 360));
    expect(middle).toBeLessThan(6);
    expect(start).toBeGreaterThan(middle);

    // The sheet starts with the first frame and ends with the last one.
    const cell = async (index: number): Promise<Buffer> =>
      sharp(out.spritesheet)
        .extract({ left: (index % 5) * 256, top: Math.floor(index / 5) * 144, width: 256, height: 144 })
        .raw()
        .toBuffer();
    expect(meanAbsDiff(await cell(0), await frameRgb(plain, 0, 256, 144))).toBeLessThan(8);
    expect(meanAbsDiff(await cell(19), await frameRgb(plain, 89, 256, 144))).toBeLessThan(8);
  });

  it('keeps large thumbnails to 1280 px and works without a frame count', async () => {
    const out = { thumbnail: join(dir, 'fast.webp'), spritesheet: join(dir, 'fast.jpg') };
    const info: MediaInfo = { ...(await probeVideo(fast)), frames: null };
    await deriveStills(fast, out, info);
    const { thumb, sheet } = await expectStills(out);
    expect([thumb.width, thumb.height]).toEqual([1280, 720]);
    expect([sheet.width, sheet.height]).toEqual([1280, 576]);
  });

  it('copes with a clip shorter than the grid', async () => {
    const tiny = await makeClip('tiny.mp4', { size: '720x1280', rate: 8, seconds: 1 });
    const out = { thumbnail: join(dir, 'tiny.webp'), spritesheet: join(dir, 'tiny.jpg') };
    await deriveStills(tiny, out, await probeVideo(tiny));
    const { thumb, sheet } = await expectStills(out);
    expect([thumb.width, thumb.height]).toEqual([720, 1280]);
    expect([sheet.width, sheet.height]).toEqual([5 * 144, 2 * 256]);
  });

  it('rejects when the file is not a video', async () => {
    const text = join(dir, 'garbage.mp4');
    await writeFile(text, 'garbage');
    const info: MediaInfo = { durationSeconds: 1, width: 64, height: 64, codec: 'h264', pixFmt: 'yuv420p', frames: 24, hasAudio: false, faststart: true };
    await expect(deriveStills(text, { thumbnail: join(dir, 'g.webp'), spritesheet: join(dir, 'g.jpg') }, info)).rejects.toThrow(
      /ffmpeg exited with code/,
    );
  });
});

describe('runTool and binaries', () => {
  it('finds the binaries and honours FFMPEG_PATH / FFPROBE_PATH', () => {
    expect(ffmpegPath()).toMatch(/ffmpeg/);
    expect(ffprobePath()).toMatch(/ffprobe/);
    const saved = { ffmpeg: process.env.FFMPEG_PATH, ffprobe: process.env.FFPROBE_PATH };
    try {
      process.env.FFMPEG_PATH = '/opt/custom/ffmpeg';
      process.env.FFPROBE_PATH = '/opt/custom/ffprobe';
      expect(ffmpegPath()).toBe('/opt/custom/ffmpeg');
      expect(ffprobePath()).toBe('/opt/custom/ffprobe');
    } finally {
      for (const [key, value] of [['FFMPEG_PATH', saved.ffmpeg], ['FFPROBE_PATH', saved.ffprobe]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('returns stdout, and rejects with the end of stderr on failure', async () => {
    const { stdout } = await runTool(ffprobePath(), ['-v', 'error', '-print_format', 'json', '-show_format', plain]);
    expect(JSON.parse(stdout.toString()).format.format_name).toContain('mp4');

    const failure = runTool(ffmpegPath(), ['-v', 'error', '-i', join(dir, 'nope.mp4'), '-f', 'null', '-']);
    await expect(failure).rejects.toBeInstanceOf(MediaToolError);
    await expect(failure).rejects.toThrow(/No such file or directory/);

    await expect(runTool(join(dir, 'no-such-binary'), [])).rejects.toThrow(/no-such-binary could not be started \(ENOENT\)/);
  });

  it('kills the tool on timeout and on abort', async () => {
    const endless = ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=s=64x64:r=10', '-f', 'null', '-'];
    await expect(runTool(ffmpegPath(), endless, { timeoutMs: 200 })).rejects.toThrow(/timed out after 200 ms/);

    const controller = new AbortController();
    const pending = runTool(ffmpegPath(), endless, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('escapes filter values so any path can be used in a filtergraph', async () => {
    const weird = join(dir, "it's: [a], b; c\\d.txt");
    await writeFile(weird, 'hello');
    // drawtext refuses to start when it cannot read the text file, so success means the path survived.
    const fontDir = (await import('node:module')).createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json');
    const font = join(fontDir, '..', 'ttf', 'DejaVuSans.ttf');
    await runTool(ffmpegPath(), [
      '-v', 'error', '-f', 'lavfi', '-i', 'color=s=64x64:d=0.1',
      '-vf', `drawtext=fontfile=${escapeFilterValue(font)}:textfile=${escapeFilterValue(weird)}`, '-f', 'null', '-',
    ]);
  });
});
