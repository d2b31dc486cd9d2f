/**
 * The sandbox renderer: a real H.264 MP4 (yuv420p, faststart) plus a webp thumbnail and a jpg
 * spritesheet, made offline in one ffmpeg run. The picture is derived from the prompt (colours,
 * motion, caption); a reference image becomes the first frame; a remix is built from the source's frames.
 * Output is deterministic: fixed thread counts, bitexact muxing, no metadata or timestamps of the run.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stillsGraph } from '../../media/derive.js';
import { ffmpegPath, runTool } from '../../media/ffmpeg.js';
import { probeVideo } from '../../media/probe.js';
import { layoutCaption } from './caption.js';
import { fieldFrames } from './field.js';
import type { FieldAlpha, FieldFrames } from './field.js';
import { captionFilter, fieldChain, spriteFilters } from './filters.js';
import type { FadeIn } from './filters.js';
import { fontPath } from './font.js';
import type { Frame } from './frame.js';
import { sceneFor } from './scene.js';
import type { Scene } from './scene.js';

export interface RenderSpec {
  prompt: string;
  width: number;
  height: number;
  seconds: number;
  /** PNG already scaled/cropped to width x height; it becomes the first frame. */
  referenceImage?: string;
  /** Source MP4 of a remix; its frames (scaled to width x height, looped if too short) are the base. */
  remixSource?: string;
}

export interface RenderOutput {
  video: string;
  thumbnail: string;
  spritesheet: string;
}

export interface RenderOptions {
  signal?: AbortSignal;
  /** Kill ffmpeg after this long; default 5 minutes. */
  timeoutMs?: number;
}

export const SANDBOX_FPS = 24;
const MIN_SIDE = 16;
const MAX_SIDE = 4096;
const MAX_SECONDS = 120;

/** Overlays on a reference image fade in so frame 0 is the image; the caption follows shortly after. */
const SHAPES_FADE: FadeIn = { delay: 0, seconds: 0.75 };
const CAPTION_FADE: FadeIn = { delay: 0.25, seconds: 0.5 };

function validate(spec: RenderSpec): void {
  for (const [name, v] of [['width', spec.width], ['height', spec.height]] as const) {
    if (!Number.isInteger(v) || v < MIN_SIDE || v > MAX_SIDE || v % 2 !== 0) {
      throw new RangeError(`${name} must be an even integer between ${MIN_SIDE} and ${MAX_SIDE}, got ${v}`);
    }
  }
  if (!Number.isFinite(spec.seconds) || spec.seconds <= 0 || spec.seconds > MAX_SECONDS) {
    throw new RangeError(`seconds must be > 0 and <= ${MAX_SECONDS}, got ${spec.seconds}`);
  }
}

interface Base {
  /** Inputs before the colour field, which always comes last (from stdin). */
  inputArgs: string[];
  /** Filter chains ending in the label [base]; the colour field is the label [field]. */
  chains: string[];
  field: FieldAlpha;
  fade?: FadeIn;
  captionFade?: FadeIn;
  captionPosition: 'top' | 'bottom';
}

/** Scale-to-cover and crop to exactly the frame size. */
const cover = (f: Frame): string =>
  `scale=${f.width}:${f.height}:force_original_aspect_ratio=increase:flags=bicubic,crop=${f.width}:${f.height},setsar=1`;

/**
 * Stamp frames 0, 1, 2, … at the sandbox frame rate and keep the first `frames` of them.
 * The input must not run out before that (fps would otherwise drop the last frame at EOF).
 */
const restamp = (f: Frame): string => `settb=1/${f.fps},setpts=N,fps=${f.fps},trim=end_frame=${f.frames}`;

function textBase(): Base {
  return { inputArgs: [], chains: ['[field]null[base]'], field: { kind: 'opaque' }, captionPosition: 'bottom' };
}

function referenceBase(frame: Frame, image: string): Base {
  return {
    inputArgs: ['-f', 'image2', '-pattern_type', 'none', '-i', `file:${image}`],
    chains: [
      `[0:v]${cover(frame)},format=yuv420p,loop=loop=-1:size=1:start=0,${restamp(frame)}[image]`,
      '[image][field]overlay=format=yuv420:shortest=1[base]',
    ],
    field: { kind: 'ramp', to: 0.4, seconds: 1.5 },
    fade: SHAPES_FADE,
    captionFade: CAPTION_FADE,
    captionPosition: 'bottom',
  };
}

async function remixBase(scene: Scene, frame: Frame, source: string, signal?: AbortSignal): Promise<Base> {
  const info = await probeVideo(source, signal ? { signal } : {});
  const needsLoop = info.durationSeconds + 1e-3 < frame.frames / frame.fps;
  return {
    inputArgs: [...(needsLoop ? ['-stream_loop', '-1'] : []), '-i', `file:${source}`],
    chains: [
      `[0:v]setpts=PTS-STARTPTS,fps=${frame.fps},trim=end_frame=${frame.frames},${cover(frame)},format=yuv420p,` +
        `hue=h=${scene.hueShift}:s=1.15[source]`,
      '[source][field]overlay=format=yuv420:shortest=1[base]',
    ],
    field: { kind: 'constant', value: 0.3 },
    captionPosition: 'top',
  };
}

/** Input arguments for the raw colour field on stdin. */
function fieldInput(field: FieldFrames, frame: Frame): string[] {
  return ['-f', 'rawvideo', '-pix_fmt', field.pixFmt, '-video_size', `${field.width}x${field.height}`, '-framerate', String(frame.fps), '-i', 'pipe:0'];
}

function videoArgs(frame: Frame, path: string): string[] {
  return [
    '-map', '[video]', '-frames:v', String(frame.frames),
    '-c:v', 'libx264', '-preset', 'superfast', '-crf', '23', '-g', String(frame.fps * 2),
    '-x264-params', 'mbtree=1:rc-lookahead=10', '-threads', '2', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    '-flags:v', '+bitexact', '-fflags', '+bitexact', '-map_metadata', '-1', '-map_chapters', '-1',
    '-movflags', '+faststart', '-f', 'mp4', `file:${path}`,
  ];
}

/** Render the sandbox video and its stills into outDir (video.mp4, thumbnail.webp, spritesheet.jpg). */
export async function renderSandboxVideo(spec: RenderSpec, outDir: string, opts: RenderOptions = {}): Promise<RenderOutput> {
  validate(spec);
  const dir = resolve(outDir);
  const output: RenderOutput = {
    video: join(dir, 'video.mp4'),
    thumbnail: join(dir, 'thumbnail.webp'),
    spritesheet: join(dir, 'spritesheet.jpg'),
  };
  const frame: Frame = {
    width: spec.width,
    height: spec.height,
    frames: Math.max(1, Math.round(spec.seconds * SANDBOX_FPS)),
    fps: SANDBOX_FPS,
  };
  const scene = sceneFor(spec.prompt);
  const font = fontPath();

  // The caption goes next to the outputs (not in os.tmpdir) so a crashed process leaves nothing
  // behind outside the directory its owner already cleans up.
  const captionFile = join(dir, '.caption.txt');
  try {
    const base = spec.remixSource
      ? await remixBase(scene, frame, spec.remixSource, opts.signal)
      : spec.referenceImage
        ? referenceBase(frame, spec.referenceImage)
        : textBase();
    const field = fieldFrames(scene, frame, base.field);
    const fieldIndex = base.inputArgs.filter((a) => a === '-i').length;

    const overlays = spriteFilters(scene, frame, font, base.fade);
    const layout = layoutCaption(spec.prompt, frame.width, frame.height);
    if (layout.lines.length > 0) {
      await writeFile(captionFile, layout.lines.join('\n'), 'utf8');
      overlays.push(captionFilter(layout, captionFile, font, base.captionPosition, base.captionFade));
    }

    const stills = stillsGraph(
      'thumb_in',
      'sheet_in',
      { width: frame.width, height: frame.height, frames: frame.frames, durationSeconds: frame.frames / frame.fps },
      output,
    );
    const graph = [
      `${fieldChain(`${fieldIndex}:v`, field, frame)}[field]`,
      ...base.chains,
      `[base]${overlays.join(',')},split=3[video][thumb_in][sheet_in]`,
      ...stills.filters,
    ].join(';');

    const args = [
      '-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-threads', '2',
      ...base.inputArgs,
      ...fieldInput(field, frame),
      '-filter_complex', graph, '-filter_complex_threads', '2',
      ...videoArgs(frame, output.video),
      ...stills.outputArgs,
    ];
    await runTool(ffmpegPath(), args, {
      input: field.data,
      timeoutMs: opts.timeoutMs ?? 300_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return output;
  } catch (err) {
    await Promise.all(Object.values(output).map((p: string) => rm(p, { force: true })));
    throw err;
  } finally {
    await rm(captionFile, { force: true });
  }
}
