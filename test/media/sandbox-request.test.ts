/**
 * The sandbox renders today's requests: any aspect ratio and resolution tier at its exact pixel
 * size, 1–30 s, an AAC soundtrack, first and last frames, reference images, captions in any script.
 */
import { describe, it, expect } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Task } from '../../src/core/task.js';
import type { MediaInput, VideoRequest } from '../../src/core/video-request.js';
import { escapeFilterValue, ffmpegPath, runTool } from '../../src/media/ffmpeg.js';
import { probeVideo } from '../../src/media/probe.js';
import type { StepContext } from '../../src/providers/types.js';
import { layoutCaption } from '../../src/providers/sandbox/caption.js';
import { captionFont, DEJAVU, missingGlyphs, textWidthPx, UNIFONT } from '../../src/providers/sandbox/font.js';
import type { Font } from '../../src/providers/sandbox/font.js';
import { frameFor } from '../../src/providers/sandbox/frame.js';
import { renderSpecOf, SandboxProvider } from '../../src/providers/sandbox/provider.js';
import { renderSandboxVideo } from '../../src/providers/sandbox/render.js';
import type { RenderSpec } from '../../src/providers/sandbox/render.js';
import { sceneFor } from '../../src/providers/sandbox/scene.js';
import { lastFrameFade, layoutCards } from '../../src/providers/sandbox/timeline.js';
import { audioStream, crop, expectPlayable, frameRgb, imageRgb, meanAbsDiff, pcm, scratchRenders, writePhoto } from './helpers.js';

const { freshDir, render } = scratchRenders('vidgate-sandbox-request-');

const SEED_000_PROMPT = '一只可爱的小猫在花园里玩耍';

describe('sandbox: exact size and duration', () => {
  // (aspect ratio, resolution) pairs as catalogues size them, odd shapes included; 1 s to 30 s.
  const cases: [label: string, width: number, height: number, seconds: number][] = [
    ['21:9 720p', 1680, 720, 1],
    ['9:21 720p', 720, 1680, 1],
    ['4:3 720p', 960, 720, 2],
    ['3:4 480p', 480, 640, 1],
    ['1:1 480p', 480, 480, 3],
    ['16:9 480p', 848, 480, 1],
    ['21:9 1080p', 2560, 1080, 1],
    ['16:9 4k', 3840, 2160, 1],
    ['9:16 4k', 2160, 3840, 1],
    ['fractional 2.5 s', 640, 360, 2.5],
    ['30 s', 320, 180, 30],
  ];
  it.each(cases)('%s: %ix%i, %d s', async (_label, width, height, seconds) => {
    const { fps } = frameFor(width, height, seconds);
    expect(fps).toBe(width * height > 2560 * 1440 ? 12 : 24);
    await expectPlayable(await render({ prompt: `A lighthouse at ${width}x${height}`, width, height, seconds }), width, height, seconds, { fps });
  });

  it('refuses odd sizes, more pixels than H.264 allows and lengths out of range', async () => {
    const dir = await freshDir();
    await expect(renderSandboxVideo({ prompt: 'x', width: 1679, height: 720, seconds: 1 }, dir)).rejects.toThrow(/width must be an even integer/);
    await expect(renderSandboxVideo({ prompt: 'x', width: 8192, height: 8192, seconds: 1 }, dir)).rejects.toThrow(/pixels/);
    await expect(renderSandboxVideo({ prompt: 'x', width: 640, height: 360, seconds: 121 }, dir)).rejects.toThrow(/seconds/);
  });
});

describe('sandbox: soundtrack', () => {
  const rms = (samples: Int16Array, from: number, to: number): number => {
    let sum = 0;
    for (let i = from; i < to; i++) sum += (samples[i] ?? 0) ** 2;
    return Math.sqrt(sum / Math.max(1, to - from)) / 32768;
  };

  it('adds an audible AAC track exactly as long as the video, the same bytes every time', async () => {
    const spec: RenderSpec = { prompt: 'A jazz band in a smoky club', width: 640, height: 360, seconds: 5, audio: true };
    const out = await render(spec);
    const info = await expectPlayable(out, 640, 360, 5, { audio: true });
    expect(info.durationSeconds).toBe(5);
    expect(await audioStream(out.video)).toEqual({ codec_name: 'aac', sample_rate: '48000', channels: 1, duration: '5.000000' });

    const samples = await pcm(out.video);
    // Exactly 5 s at 48 kHz (AAC priming and padding trimmed by the MP4 edit list).
    expect(Math.abs(samples.length - 5 * 48_000)).toBeLessThanOrEqual(1024);
    // Audible throughout: every quarter second has sound (not silence), none of it clipped.
    for (let at = 0; at + 12_000 <= samples.length; at += 12_000) expect(rms(samples, at, at + 12_000)).toBeGreaterThan(0.01);
    expect(rms(samples, 0, samples.length)).toBeGreaterThan(0.03);
    expect(samples.reduce((peak, v) => Math.max(peak, Math.abs(v)), 0)).toBeLessThan(32_000);

    const again = await render(spec);
    expect((await readFile(again.video)).equals(await readFile(out.video))).toBe(true);
  });

  it('derives the music from the prompt and the seed; a 30 s track is 30 s', async () => {
    const [a, b] = [sceneFor('A calm lake at dawn').music, sceneFor('A city chase at night').music];
    expect(a).not.toEqual(b);
    expect(sceneFor('A calm lake at dawn', 7).music).not.toEqual(a);
    expect(sceneFor('A calm lake at dawn').music).toEqual(a);

    const long = await render({ prompt: 'A calm lake at dawn', width: 320, height: 180, seconds: 30, audio: true });
    await expectPlayable(long, 320, 180, 30, { audio: true });
    expect((await audioStream(long.video))?.duration).toBe('30.000000');
    const other = await render({ prompt: 'A city chase at night', width: 320, height: 180, seconds: 30, audio: true });
    const [sa, sb] = [await pcm(long.video), await pcm(other.video)];
    expect(Math.abs(sa.length - 30 * 48_000)).toBeLessThanOrEqual(1024);
    let diff = 0;
    for (let i = 0; i < Math.min(sa.length, sb.length); i += 7) diff += Math.abs((sa[i] ?? 0) - (sb[i] ?? 0));
    expect(diff / (Math.min(sa.length, sb.length) / 7)).toBeGreaterThan(500);
  });
});

describe('sandbox: first and last frames', () => {
  it('ends on the last frame (decoded, it matches the image)', async () => {
    const [width, height] = [640, 360];
    const dir = await freshDir('last');
    const last = await writePhoto(join(dir, 'last.png'), width, height, 1);
    const out = await renderSandboxVideo({ prompt: 'Towards the end', width, height, seconds: 3, lastFrame: join(dir, 'last.png') }, dir);
    await expectPlayable(out, width, height, 3);
    expect(meanAbsDiff(await frameRgb(out.video, 71), last)).toBeLessThan(3);
    // It is reached, not shown from the start.
    expect(meanAbsDiff(await frameRgb(out.video, 0), last)).toBeGreaterThan(20);
  });

  it('with both, starts on the first frame, moves and ends on the last', async () => {
    const [width, height] = [1280, 720];
    const dir = await freshDir('both');
    const first = await writePhoto(join(dir, 'first.png'), width, height, 0);
    const last = await writePhoto(join(dir, 'last.png'), width, height, 1);
    const spec = { prompt: 'From morning to evening', width, height, seconds: 4, firstFrame: join(dir, 'first.png'), lastFrame: join(dir, 'last.png') };
    const out = await renderSandboxVideo(spec, dir);
    await expectPlayable(out, width, height, 4);
    const [f0, mid, end] = [await frameRgb(out.video, 0), await frameRgb(out.video, 48), await frameRgb(out.video, 95)];
    expect(meanAbsDiff(f0, first)).toBeLessThan(3);
    expect(meanAbsDiff(end, last)).toBeLessThan(3);
    expect(meanAbsDiff(f0, last)).toBeGreaterThan(30);
    // In between it is neither picture.
    expect(meanAbsDiff(mid, first)).toBeGreaterThan(8);
    expect(meanAbsDiff(mid, last)).toBeGreaterThan(8);
    // The fade into the last frame starts after the middle and completes before the end.
    const fade = lastFrameFade(frameFor(width, height, 4));
    expect(fade.start).toBeGreaterThan(48);
    expect(fade.start + fade.length).toBeLessThan(95);
  });
});

describe('sandbox: reference images', () => {
  it('shows each reference image as a card during its slot', async () => {
    const [width, height] = [1280, 720];
    const dir = await freshDir('refs');
    await writePhoto(join(dir, 'wide.jpg'), 400, 300, 0);
    await writePhoto(join(dir, 'tall.png'), 300, 500, 1);
    await writePhoto(join(dir, 'last.png'), width, height, 1);
    const references = [join(dir, 'wide.jpg'), join(dir, 'tall.png')];
    const spec = { prompt: 'Two friends meet', width, height, seconds: 4, references, lastFrame: join(dir, 'last.png') };
    const out = await renderSandboxVideo(spec, dir);
    await expectPlayable(out, width, height, 4);

    const frame = frameFor(width, height, 4);
    const cards = layoutCards({
      frame,
      images: [{ width: 400, height: 300 }, { width: 300, height: 500 }],
      from: 0,
      to: lastFrameFade(frame).start,
      captionAt: 'bottom',
    });
    expect(cards.map((c) => c.reference)).toEqual([0, 1]);
    for (const card of cards) {
      const region = { x: card.x + card.border, y: card.y + card.border, width: card.width, height: card.height };
      const expected = await sharp(references[card.reference]).resize(card.width, card.height, { fit: 'cover' }).removeAlpha().raw().toBuffer();
      const middle = Math.floor((card.start + card.end) / 2);
      // A sizeable picture, plainly visible in the middle of its slot…
      expect(card.width * card.height).toBeGreaterThan(150 * 150);
      expect(meanAbsDiff(crop(await frameRgb(out.video, middle), width, region), expected)).toBeLessThan(8);
      // …and not there outside it.
      const outside = card.reference === 0 ? card.end + 2 : card.start - 2;
      expect(meanAbsDiff(crop(await frameRgb(out.video, outside), width, region), expected)).toBeGreaterThan(20);
    }
  });

  it('lays out many references in a short video in rows, inside the frame, away from the caption', () => {
    const frame = frameFor(720, 1280, 1);
    const images = Array.from({ length: 9 }, (_, i) => ({ width: 100 + 50 * i, height: 300 }));
    const cards = layoutCards({ frame, images, from: 4, to: 20, captionAt: 'bottom' });
    expect(cards.map((c) => c.reference)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const c of cards) {
      expect(c.x).toBeGreaterThanOrEqual(0);
      expect(c.x + c.width + 2 * c.border).toBeLessThanOrEqual(720);
      expect(c.y + c.height + 2 * c.border).toBeLessThan(640);
      expect(c.start).toBeGreaterThanOrEqual(4);
      expect(c.end).toBeLessThanOrEqual(20);
      // Each stays on screen for a noticeable time.
      expect(c.end - c.start).toBeGreaterThanOrEqual(5);
    }
    const remix = layoutCards({ frame, images: images.slice(0, 1), from: 0, to: 24, captionAt: 'top' });
    expect(remix[0]?.y).toBeGreaterThan(640);
  });
});

/** Draw a text with a font (white on black) and return the grey pixels. */
async function drawText(text: string, font: Font, size = 32): Promise<Buffer> {
  const dir = await freshDir('glyphs');
  const file = join(dir, 'text.txt');
  await writeFile(file, text, 'utf8');
  const { stdout } = await runTool(ffmpegPath(), [
    '-v', 'error', '-f', 'lavfi', '-i', `color=black:s=${size * (text.length + 1)}x${size * 2}`,
    '-vf', `drawtext=fontfile=${escapeFilterValue(font.path)}:textfile=${escapeFilterValue(file)}:fontsize=${size}:fontcolor=white:x=${size / 2}:y=${size / 2}`,
    '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1',
  ]);
  return stdout;
}

const ink = (grey: Buffer): number => grey.reduce((sum, v) => sum + v, 0) / 255;

describe('sandbox: captions in any script', () => {
  it('draws text DejaVu lacks (Han, kana, Hangul, Thai, Devanagari) in UnifontEX, with every glyph present', () => {
    for (const text of [SEED_000_PROMPT, 'ねこがにわであそぶ', '정원에서 노는 고양이', 'แมวเล่นในสวน', 'बगीचे में बिल्ली']) {
      expect(missingGlyphs(DEJAVU, text).length, text).toBeGreaterThan(0);
      expect(captionFont(text), text).toBe(UNIFONT);
      expect(missingGlyphs(UNIFONT, text), text).toEqual([]);
    }
    for (const text of ['A cat in a garden', 'Кот в саду', 'Γάτα στον κήπο', 'It costs 5 € — “quoted”']) expect(captionFont(text), text).toBe(DEJAVU);
  });

  it('renders Chinese as Chinese characters, not the boxes DejaVu draws', async () => {
    const [one, love] = [await drawText('一', UNIFONT), await drawText('爱', UNIFONT)];
    // Real glyphs: a one-stroke character has far less ink than a many-stroke one.
    expect(ink(one)).toBeGreaterThan(10);
    expect(ink(love)).toBeGreaterThan(3 * ink(one));
    // DejaVu draws both as the same empty box (what captions looked like before).
    const [tofuOne, tofuLove] = [await drawText('一', DEJAVU), await drawText('爱', DEJAVU)];
    expect(tofuOne.equals(tofuLove)).toBe(true);
    const [ours, tofu] = [await drawText(SEED_000_PROMPT, UNIFONT), await drawText(SEED_000_PROMPT, DEJAVU)];
    expect(meanAbsDiff(ours, tofu)).toBeGreaterThan(5);
  });

  it('wraps text written without spaces and draws the caption crisply on the frame', async () => {
    const long = `${SEED_000_PROMPT}，${SEED_000_PROMPT}。`.repeat(3);
    const layout = layoutCaption(long, 720, 1280);
    expect(layout.font).toBe(UNIFONT);
    expect(layout.fontSize % 16).toBe(0);
    expect(layout.lines.length).toBe(4);
    for (const line of layout.lines) expect(textWidthPx(line, layout.fontSize, UNIFONT)).toBeLessThanOrEqual(720 * 0.88);
    expect(layout.lines.join('')).toMatch(/^一只可爱的小猫在花园里玩耍，一只可爱/);

    // The rendered caption: the same pixels as the caption drawn alone, over the box.
    const out = await render({ prompt: SEED_000_PROMPT, width: 1280, height: 720, seconds: 1 });
    await expectPlayable(out, 1280, 720, 1);
    const frame = await frameRgb(out.video, 20);
    const captionLayout = layoutCaption(SEED_000_PROMPT, 1280, 720);
    const textWidth = Math.ceil(textWidthPx(SEED_000_PROMPT, captionLayout.fontSize, UNIFONT));
    const boxTop = 720 - captionLayout.margin - captionLayout.boxBorder - captionLayout.fontSize - captionLayout.boxBorder;
    const region = { x: Math.floor((1280 - textWidth) / 2), y: boxTop + captionLayout.boxBorder, width: textWidth, height: captionLayout.fontSize };
    const grey = (rgb: Buffer): number[] => [...Array(rgb.length / 3).keys()].map((i) => ((rgb[3 * i] ?? 0) + (rgb[3 * i + 1] ?? 0) + (rgb[3 * i + 2] ?? 0)) / 3);
    const captionPixels = grey(crop(frame, 1280, region));
    // White strokes on the dark box: many bright pixels, in the pattern of thirteen different characters.
    const bright = captionPixels.filter((v) => v > 180).length;
    expect(bright / captionPixels.length).toBeGreaterThan(0.08);
    const columns = Array.from({ length: 13 }, (_, c) => {
      const cell = Math.floor(region.width / 13);
      let sum = 0;
      for (let y = 0; y < region.height; y++) for (let x = c * cell; x < (c + 1) * cell; x++) sum += (captionPixels[y * region.width + x] ?? 0) > 180 ? 1 : 0;
      return sum;
    });
    expect(new Set(columns).size).toBeGreaterThan(8);
  });
});

describe('sandbox: determinism', () => {
  it('gives the same bytes for the same request with everything on, and other bytes for another seed', async () => {
    const dir = await freshDir('inputs');
    await writePhoto(join(dir, 'first.png'), 480, 640, 0);
    await writePhoto(join(dir, 'last.png'), 480, 640, 1);
    await writePhoto(join(dir, 'ref.jpg'), 200, 120, 2);
    const spec: RenderSpec = {
      prompt: `${SEED_000_PROMPT} and a lighthouse`, width: 480, height: 640, seconds: 2, audio: true, seed: 3,
      firstFrame: join(dir, 'first.png'), lastFrame: join(dir, 'last.png'), references: [join(dir, 'ref.jpg')],
    };
    const [a, b, c] = [await render(spec), await render(spec), await render({ ...spec, seed: 4 })];
    for (const key of ['video', 'thumbnail', 'spritesheet'] as const) {
      const [x, y] = [await readFile(a[key]), await readFile(b[key])];
      // On a difference, say where: sizes and the first differing byte (a rare flake seen once in CI).
      let at = 0;
      while (at < Math.min(x.length, y.length) && x[at] === y[at]) at++;
      expect(x.equals(y), `${key}: ${x.length} vs ${y.length} bytes, first difference at byte ${at}`).toBe(true);
    }
    expect((await readFile(a.video)).equals(await readFile(c.video))).toBe(false);
  });
});

describe('SandboxProvider', () => {
  const media = (role: MediaInput['role'], kind: MediaInput['kind'], blob: string): MediaInput => ({ role, kind, blob, contentType: 'image/png' });

  it('renders from the canonical request: size, length, audio, seed, frames and image references', async () => {
    const request: VideoRequest = {
      model: 'veo-3.1',
      prompt: 'p',
      seconds: 8,
      aspectRatio: '21:9',
      resolution: '1080p',
      width: 2560,
      height: 1080,
      audio: true,
      seed: 42,
      firstFrame: media('first_frame', 'image', 't/first.png'),
      lastFrame: media('last_frame', 'image', 't/last.png'),
      references: [media('reference', 'image', 't/ref-0.png'), media('reference', 'audio', 't/ref-1.mp3'), media('reference', 'image', 't/ref-2.jpg')],
      options: {},
    };
    expect(await renderSpecOf(request, async (key) => `/blobs/${key}`)).toEqual({
      prompt: 'p',
      width: 2560,
      height: 1080,
      seconds: 8,
      audio: true,
      seed: 42,
      firstFrame: '/blobs/t/first.png',
      lastFrame: '/blobs/t/last.png',
      references: ['/blobs/t/ref-0.png', '/blobs/t/ref-2.jpg'],
    });
    const bare = await renderSpecOf({ ...request, audio: false, references: [], firstFrame: undefined, lastFrame: undefined, seed: undefined } as VideoRequest, async (k) => k);
    expect(bare).toEqual({ prompt: 'p', width: 2560, height: 1080, seconds: 8, audio: false, references: [] });
  });

  it('fetch renders the task as its request describes it', async () => {
    const blobs = await freshDir('blobs');
    const work = await freshDir('work');
    await mkdir(join(blobs, 'task1'));
    const first = await writePhoto(join(blobs, 'task1', 'reference.png'), 480, 848, 0);
    const task = {
      id: 'task1', keyId: 'k', origin: 'openai', kind: 'generate', model: 'sora-2', prompt: SEED_000_PROMPT, seconds: 2,
      width: 480, height: 848, status: 'in_progress', progress: 0, error: null, remixedFrom: null, hasReference: true,
      params: {}, bodyHash: null, provider: 'sandbox', upstreamId: null, priceMicros: 0, quoteMicros: 0, costMicros: null,
      actualSeconds: null, stage: 'fetch', providerState: {}, nextRunAt: null, leaseOwner: null, leaseUntil: null, attempts: 0,
      createdAt: 0, startedAt: null, completedAt: null, expiresAt: null, deletedAt: null, updatedAt: 0,
    } satisfies Task;
    const ctx: StepContext = {
      signal: new AbortController().signal,
      now: () => Date.now(),
      workDir: work,
      readBlob: async () => undefined,
      blobFile: async (key) => join(blobs, key),
      sourceVideo: async () => undefined,
      checkpoint: () => Promise.resolve(true),
    };
    const provider = new SandboxProvider({ queueMs: 0, msPerVideoSecond: 0, longQueueMs: 0, concurrency: 1 });
    const result = await provider.fetch(task, ctx);
    if (!result.ok) throw new Error(result.failure.message);
    const info = await probeVideo(result.video);
    expect([info.width, info.height, info.durationSeconds, info.hasAudio]).toEqual([480, 848, 2, false]);
    expect(meanAbsDiff(await frameRgb(result.video, 0), first)).toBeLessThan(4);
    expect(await imageRgb(result.thumbnail ?? '')).toHaveLength(480 * 848 * 3);
  });
});
