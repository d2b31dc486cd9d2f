import { describe, it, expect } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { probeVideo } from '../../src/media/probe.js';
import { layoutCaption } from '../../src/providers/sandbox/caption.js';
import { textWidthPx } from '../../src/providers/sandbox/font.js';
import { renderSandboxVideo } from '../../src/providers/sandbox/render.js';
import { sceneFor } from '../../src/providers/sandbox/scene.js';
import { expectPlayable, frameRgb, meanAbsDiff, scratchRenders } from './helpers.js';

const { freshDir, render } = scratchRenders('vidgate-sandbox-test-');

async function meanColour(image: string): Promise<number[]> {
  const stats = await sharp(image).stats();
  return stats.channels.slice(0, 3).map((c) => c.mean);
}

const distance = (a: number[], b: number[]): number => Math.hypot(...a.map((v, i) => v - (b[i] ?? 0)));

describe('sandbox renderer', () => {
  it('makes a 4 s 720x1280 H.264 faststart MP4 with a webp thumbnail and a jpg spritesheet', async () => {
    const dir = await freshDir();
    const out = await renderSandboxVideo({ prompt: 'A paper boat sailing down a rainy street', width: 720, height: 1280, seconds: 4 }, dir);
    expect(out).toEqual({
      video: join(dir, 'video.mp4'),
      thumbnail: join(dir, 'thumbnail.webp'),
      spritesheet: join(dir, 'spritesheet.jpg'),
    });
    await expectPlayable(out, 720, 1280, 4);
    expect((await readdir(dir)).sort()).toEqual(['spritesheet.jpg', 'thumbnail.webp', 'video.mp4']);
    const info = await probeVideo(out.video);
    expect(info.frames).toBe(96);
    // Small enough to serve comfortably.
    expect(readFileSync(out.video).length).toBeLessThan(3_000_000);
    // The picture moves: the first and middle frames differ clearly.
    expect(meanAbsDiff(await frameRgb(out.video, 0), await frameRgb(out.video, 48))).toBeGreaterThan(8);
  });

  it('is deterministic: the same inputs give byte-identical files', async () => {
    const spec = { prompt: 'Determinism: a lighthouse in fog', width: 480, height: 640, seconds: 2 };
    const [a, b] = [await render(spec), await render(spec)];
    for (const key of ['video', 'thumbnail', 'spritesheet'] as const) {
      expect((await readFile(a[key])).equals(await readFile(b[key])), key).toBe(true);
    }
  });

  it('derives colours and motion from the prompt', async () => {
    const spec = { width: 360, height: 640, seconds: 2 };
    const red = await render({ ...spec, prompt: 'A red balloon drifting over a city at dawn' });
    const blue = await render({ ...spec, prompt: 'Ocean waves crashing on black rocks at night' });
    const [redMean, blueMean] = [await meanColour(red.spritesheet), await meanColour(blue.spritesheet)];
    expect(distance(redMean, blueMean)).toBeGreaterThan(40);
    expect(redMean[0] ?? 0).toBeGreaterThan(blueMean[0] ?? 0);
    expect(blueMean[2] ?? 0).toBeGreaterThan(redMean[2] ?? 0);

    const [a, b] = [sceneFor('a cat'), sceneFor('a dog')];
    expect(a.seed).not.toBe(b.seed);
    expect(a.waves).not.toEqual(b.waves);
    expect(a.sprites.map((s) => s.orbit)).not.toEqual(b.sprites.map((s) => s.orbit));
    expect(sceneFor('a cat')).toEqual(a);
  });

  it('makes the reference image the first frame and builds on it', async () => {
    const [width, height] = [480, 848];
    // Smooth diagonal gradient with a few colour blocks, like a photo rather than a test card.
    const raw = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        const block = Math.floor(x / 160) + Math.floor(y / 212);
        raw[i] = Math.round((255 * x) / width);
        raw[i + 1] = Math.round((255 * y) / height);
        raw[i + 2] = block % 2 === 0 ? 200 : 60;
      }
    }
    const dir = await freshDir('ref');
    const image = join(dir, 'reference.png');
    await sharp(raw, { raw: { width, height, channels: 3 } }).png().toFile(image);

    const out = await renderSandboxVideo({ prompt: 'The scene comes alive', width, height, seconds: 3, firstFrame: image }, dir);
    await expectPlayable(out, width, height, 3);
    const first = meanAbsDiff(await frameRgb(out.video, 0), raw);
    const last = meanAbsDiff(await frameRgb(out.video, 71), raw);
    expect(first).toBeLessThan(4);
    expect(last).toBeGreaterThan(first + 4);
    // Still recognisably the image at the end, not a different picture.
    expect(last).toBeLessThan(60);
  });

  it('remixes from the source video: same size and duration, new look', async () => {
    const source = await render({ prompt: 'A forest path in spring', width: 640, height: 360, seconds: 3 }, 'source');
    const remix = await render({ prompt: 'Make it a purple night with neon', width: 640, height: 360, seconds: 3, remixSource: source.video });
    await expectPlayable(remix, 640, 360, 3);
    const [src0, mix0] = [await frameRgb(source.video, 0), await frameRgb(remix.video, 0)];
    expect(meanAbsDiff(src0, mix0)).toBeGreaterThan(10);

    // Built from the source's frames: its luma structure survives the colour treatment.
    const luma = async (video: string, n: number): Promise<number[]> => {
      const { data } = await sharp(await frameRgb(video, n), { raw: { width: 640, height: 360, channels: 3 } })
        .greyscale()
        .resize(32, 18, { fit: 'fill' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      return [...data];
    };
    const other = await render({ prompt: 'Desert dunes under a yellow sun', width: 640, height: 360, seconds: 3 }, 'other');
    const correlation = (a: number[], b: number[]): number => {
      const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
      const [ma, mb] = [mean(a), mean(b)];
      let [num, da, db] = [0, 0, 0];
      a.forEach((x, i) => {
        const y = b[i] ?? 0;
        num += (x - ma) * (y - mb);
        da += (x - ma) ** 2;
        db += (y - mb) ** 2;
      });
      return num / Math.sqrt(da * db);
    };
    const remixLuma = await luma(remix.video, 36);
    expect(correlation(remixLuma, await luma(source.video, 36))).toBeGreaterThan(correlation(remixLuma, await luma(other.video, 36)));
  });

  it('remixes to another size and a longer duration by scaling and looping the source', async () => {
    const source = await render({ prompt: 'Short source clip', width: 320, height: 240, seconds: 1 }, 'short');
    const remix = await render({ prompt: 'Longer and portrait', width: 360, height: 640, seconds: 2.5, remixSource: source.video });
    await expectPlayable(remix, 360, 640, 2.5);
  });

  it('renders landscape 1280x720 and 1920x1080 for 8 s', async () => {
    await expectPlayable(await render({ prompt: 'Landscape 720p', width: 1280, height: 720, seconds: 4 }), 1280, 720, 4);
    const big = await render({ prompt: 'A wide 1080p shot of mountains at sunset', width: 1920, height: 1080, seconds: 8 });
    await expectPlayable(big, 1920, 1080, 8);
  });

  it('works with awkward paths and prompts', async () => {
    const dir = await freshDir("we'ird: [dir], 100% ; ok");
    const image = join(dir, "ref 50%'s [1].png");
    await sharp({ create: { width: 320, height: 240, channels: 3, background: '#3366cc' } }).png().toFile(image);
    const prompt = "It's 100% \"quoted\": [brackets], {braces}, back\\slash; %{pts} \n\t new line — ünïcödé ★ 日本語";
    const out = await renderSandboxVideo({ prompt, width: 320, height: 240, seconds: 1, firstFrame: image }, dir);
    await expectPlayable(out, 320, 240, 1);
  });

  it('rejects sizes that are not even integers and durations out of range', async () => {
    const dir = await freshDir();
    await expect(renderSandboxVideo({ prompt: 'x', width: 721, height: 1280, seconds: 4 }, dir)).rejects.toThrow(/even integer/);
    await expect(renderSandboxVideo({ prompt: 'x', width: 720, height: 1280, seconds: 0 }, dir)).rejects.toThrow(/seconds/);
    await expect(
      renderSandboxVideo({ prompt: 'x', width: 720, height: 1280, seconds: 1, remixSource: join(dir, 'missing.mp4') }, dir),
    ).rejects.toThrow(/not a readable media file/);
  });

  it('stops ffmpeg and rejects when aborted', async () => {
    const dir = await freshDir('abort');
    const controller = new AbortController();
    const started = Date.now();
    const pending = renderSandboxVideo({ prompt: 'Long render', width: 1920, height: 1080, seconds: 20 }, dir, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user cancelled')), 300);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(ffmpegChildren()).toEqual([]);
    expect(await readdir(dir)).toEqual([]);

    const aborted = AbortSignal.abort();
    await expect(renderSandboxVideo({ prompt: 'x', width: 64, height: 64, seconds: 1 }, dir, { signal: aborted })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});

/** ffmpeg processes that are children of this test process (Linux /proc). */
function ffmpegChildren(): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return pids;
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === process.pid && comm.startsWith('ffmpeg')) pids.push(Number(pid));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

describe('caption layout', () => {
  it('wraps over a few lines that fit, and ends a very long prompt with an ellipsis', () => {
    const long = 'A golden retriever puppy running through a field of sunflowers '.repeat(8);
    const layout = layoutCaption(long, 720, 1280);
    expect(layout.lines.length).toBe(4);
    expect(layout.lines.at(-1)?.endsWith('\u2026')).toBe(true);
    for (const line of layout.lines) expect(textWidthPx(line, layout.fontSize)).toBeLessThanOrEqual(720 * 0.88);

    expect(layoutCaption('Short prompt', 1280, 720).lines).toEqual(['Short prompt']);
    expect(layoutCaption('  \n\t ', 720, 1280).lines).toEqual([]);
    const unbroken = layoutCaption('x'.repeat(400), 1280, 720);
    expect(unbroken.lines.length).toBe(3);
    expect(unbroken.lines.at(-1)?.endsWith('\u2026')).toBe(true);
  });
});
