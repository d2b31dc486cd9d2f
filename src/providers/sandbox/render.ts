/**
 * The sandbox renderer: a real H.264 MP4 (yuv420p, faststart, with an AAC soundtrack when asked)
 * plus a webp thumbnail and a jpg spritesheet, made offline in one ffmpeg run. The picture is
 * derived from the prompt (colours, motion, caption); a first-frame image is frame 0 and the scene
 * builds on it; reference images appear as cards; the video fades into a last-frame image and ends
 * on it; a remix is built from the source's frames.
 * Output is deterministic: fixed thread counts, bitexact muxing, no metadata or timestamps of the run.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { stillsGraph } from '../../media/derive.js';
import { ffmpegPath, runTool } from '../../media/ffmpeg.js';
import { probeVideo } from '../../media/probe.js';
import { AUDIO_RATE, audioArgs, audioInput, synthesize } from './audio.js';
import { layoutCaption } from './caption.js';
import { fieldFrames } from './field.js';
import type { FieldAlpha, FieldFrames } from './field.js';
import { captionFilter, cardChains, cover, fieldChain, heldImage, lastFrameChains, spriteFilters } from './filters.js';
import type { FadeIn } from './filters.js';
import { frameFor, x264Preset } from './frame.js';
import type { Frame } from './frame.js';
import { sceneFor } from './scene.js';
import type { Scene } from './scene.js';
import { introFrames, lastFrameFade, layoutCards } from './timeline.js';
import type { Card, Size } from './timeline.js';

export interface RenderSpec {
  prompt: string;
  width: number;
  height: number;
  /** Length in seconds, rounded to whole frames (1/24 s; 1/12 s above 1440p, see frame.ts). */
  seconds: number;
  /** Add an AAC soundtrack derived from the prompt; without it the file has no audio stream. */
  audio?: boolean;
  /** Another picture and soundtrack for the same prompt. */
  seed?: number;
  /** Image already fitted to width x height; it is the first frame. */
  firstFrame?: string;
  /** Image already fitted to width x height; the video fades into it and ends on it. */
  lastFrame?: string;
  /** Reference images (JPEG, PNG or WebP, any size), shown as cards one after another. */
  references?: string[];
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
  /** Kill ffmpeg after this long; default 5 minutes plus a quarter of a second per frame. */
  timeoutMs?: number;
}

const MIN_SIDE = 16;
const MAX_SIDE = 8192;
/** H.264 level 6.2's largest frame (139,264 macroblocks), e.g. 8192x4352. */
const MAX_PIXELS = 139_264 * 256;
const MAX_SECONDS = 120;

/** Overlays on a first-frame image fade in so frame 0 is the image; the caption follows shortly after. */
const SHAPES_FADE: FadeIn = { delay: 0, seconds: 0.75 };
const CAPTION_FADE: FadeIn = { delay: 0.25, seconds: 0.5 };

function validate(spec: RenderSpec): void {
  for (const [name, v] of [['width', spec.width], ['height', spec.height]] as const) {
    if (!Number.isInteger(v) || v < MIN_SIDE || v > MAX_SIDE || v % 2 !== 0) {
      throw new RangeError(`${name} must be an even integer between ${MIN_SIDE} and ${MAX_SIDE}, got ${v}`);
    }
  }
  if (spec.width * spec.height > MAX_PIXELS) {
    throw new RangeError(`${spec.width}x${spec.height} is more than ${MAX_PIXELS} pixels`);
  }
  if (!Number.isFinite(spec.seconds) || spec.seconds <= 0 || spec.seconds > MAX_SECONDS) {
    throw new RangeError(`seconds must be > 0 and <= ${MAX_SECONDS}, got ${spec.seconds}`);
  }
}

/** The ffmpeg inputs and filter chains of a render, built up layer by layer. */
class Graph {
  readonly inputs: string[][] = [];
  readonly chains: string[] = [];
  private layer = 0;
  /** Label of the picture so far. */
  top = 'base';

  /** Add an input; returns its index. */
  input(args: string[]): number {
    return this.inputs.push(args) - 1;
  }

  /** Add a video input; returns its stream label. */
  video(args: string[]): string {
    return `${this.input(args)}:v`;
  }

  /** A still image input. */
  image(path: string): string {
    return this.video(['-f', 'image2', '-pattern_type', 'none', '-i', `file:${path}`]);
  }

  /** Add chains that read `this.top` and write the returned label, which becomes the top. */
  stack(make: (under: string, out: string) => string[]): void {
    const out = `layer${++this.layer}`;
    this.chains.push(...make(this.top, out));
    this.top = out;
  }
}

interface Base {
  field: FieldAlpha;
  fade?: FadeIn;
  captionFade?: FadeIn;
  captionPosition: 'top' | 'bottom';
}

/** The colour field alone, full strength. */
function textBase(graph: Graph): Base {
  graph.chains.push('[field]null[base]');
  return { field: { kind: 'opaque' }, captionPosition: 'bottom' };
}

/** The first-frame image with the field rising over it. */
function firstFrameBase(graph: Graph, frame: Frame, image: string): Base {
  const input = graph.image(image);
  graph.chains.push(`${heldImage(input, `${cover(frame)},format=yuv420p`, frame)}[image]`, '[image][field]overlay=format=yuv420:shortest=1[base]');
  return {
    field: { kind: 'ramp', to: 0.4, seconds: 1.5 },
    fade: SHAPES_FADE,
    captionFade: CAPTION_FADE,
    captionPosition: 'bottom',
  };
}

/** The remix source's frames in other colours, under a light field. */
async function remixBase(graph: Graph, scene: Scene, frame: Frame, source: string, signal?: AbortSignal): Promise<Base> {
  const info = await probeVideo(source, signal ? { signal } : {});
  const needsLoop = info.durationSeconds + 1e-3 < frame.frames / frame.fps;
  const input = graph.video([...(needsLoop ? ['-stream_loop', '-1'] : []), '-i', `file:${source}`]);
  graph.chains.push(
    `[${input}]setpts=PTS-STARTPTS,fps=${frame.fps},trim=end_frame=${frame.frames},${cover(frame)},format=yuv420p,` +
      `hue=h=${scene.hueShift}:s=1.15[source]`,
    '[source][field]overlay=format=yuv420:shortest=1[base]',
  );
  return { field: { kind: 'constant', value: 0.3 }, captionPosition: 'top' };
}

/** Oriented size of an image (EXIF orientations 5–8 swap the axes). */
async function imageSize(path: string): Promise<Size> {
  const meta = await sharp(path).metadata();
  const swapped = (meta.orientation ?? 1) >= 5;
  const [width, height] = [meta.width, meta.pageHeight ?? meta.height];
  return swapped ? { width: height, height: width } : { width, height };
}

/** The PNG of a card: the picture fitted to the card's size inside a white border. */
async function writeCard(source: string, card: Card, path: string): Promise<void> {
  await sharp(source, { pages: 1 })
    .rotate()
    .resize(card.width, card.height, { fit: 'cover' })
    .flatten({ background: '#ffffff' })
    .extend({ top: card.border, bottom: card.border, left: card.border, right: card.border, background: '#ffffff' })
    .png({ compressionLevel: 1 })
    .toFile(path);
}

/** Input arguments for the raw colour field on stdin. */
function fieldInput(field: FieldFrames, frame: Frame): string[] {
  return ['-f', 'rawvideo', '-pix_fmt', field.pixFmt, '-video_size', `${field.width}x${field.height}`, '-framerate', String(frame.fps), '-i', 'pipe:0'];
}

/**
 * Output arguments of the MP4. The graph makes exactly `frame.frames` frames and the soundtrack is
 * exactly as long (no -frames:v: reaching it would close the file's audio stream early too).
 */
function videoArgs(frame: Frame, path: string, audio: string | undefined): string[] {
  return [
    '-map', '[video]',
    '-c:v', 'libx264', '-preset', x264Preset(frame), '-crf', '23', '-g', String(frame.fps * 2),
    '-x264-params', 'mbtree=1:rc-lookahead=10', '-threads', '2', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    ...(audio ? audioArgs(audio) : []),
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
  const frame = frameFor(spec.width, spec.height, spec.seconds);
  const scene = sceneFor(spec.prompt, spec.seed);
  const references = spec.references ?? [];

  // Working files go next to the outputs (not in os.tmpdir) so a crashed process leaves nothing
  // behind outside the directory its owner already cleans up.
  const captionFile = join(dir, '.caption.txt');
  const soundFile = join(dir, '.soundtrack.pcm');
  const cardFiles = references.map((_, i) => join(dir, `.card-${i}.png`));
  try {
    const graph = new Graph();
    const base = spec.remixSource
      ? await remixBase(graph, scene, frame, spec.remixSource, opts.signal)
      : spec.firstFrame
        ? firstFrameBase(graph, frame, spec.firstFrame)
        : textBase(graph);

    graph.stack((under, out) => [`[${under}]${spriteFilters(scene, frame, base.fade).join(',')}[${out}]`]);

    const fade = spec.lastFrame ? lastFrameFade(frame) : undefined;
    const cards = layoutCards({
      frame,
      images: await Promise.all(references.map(imageSize)),
      from: spec.firstFrame && !spec.remixSource ? introFrames(frame) : 0,
      to: fade ? fade.start : frame.frames,
      captionAt: base.captionPosition,
    });
    for (const card of cards) {
      const file = cardFiles[card.reference] ?? '';
      await writeCard(references[card.reference] ?? '', card, file);
      const input = graph.image(file);
      graph.stack((under, out) => cardChains(card, input, under, out, frame));
    }

    const layout = layoutCaption(spec.prompt, frame.width, frame.height);
    if (layout.lines.length > 0) {
      await writeFile(captionFile, layout.lines.join('\n'), 'utf8');
      graph.stack((under, out) => [`[${under}]${captionFilter(layout, captionFile, base.captionPosition, base.captionFade)}[${out}]`]);
    }

    if (spec.lastFrame && fade) {
      const input = graph.image(spec.lastFrame);
      graph.stack((under, out) => lastFrameChains(fade, input, under, out, frame));
    }

    // The colour field (its opacity depends on the base) is the last input, read from stdin.
    const field = fieldFrames(scene, frame, base.field);
    graph.chains.unshift(`${fieldChain(graph.video(fieldInput(field, frame)), field, frame)}[field]`);

    let audio: string | undefined;
    if (spec.audio) {
      await writeFile(soundFile, synthesize(scene.music, Math.round((frame.frames * AUDIO_RATE) / frame.fps)));
      audio = `${graph.input(audioInput(soundFile))}:a`;
    }

    const stills = stillsGraph(
      'thumb_in',
      'sheet_in',
      { width: frame.width, height: frame.height, frames: frame.frames, durationSeconds: frame.frames / frame.fps },
      output,
    );
    const filters = [
      ...graph.chains,
      `[${graph.top}]split=3[video][thumb_in][sheet_in]`,
      ...stills.filters,
    ];

    const args = [
      '-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-threads', '2',
      ...graph.inputs.flat(),
      '-filter_complex', filters.join(';'), '-filter_complex_threads', '2',
      ...videoArgs(frame, output.video, audio),
      ...stills.outputArgs,
    ];
    await runTool(ffmpegPath(), args, {
      input: field.data,
      timeoutMs: opts.timeoutMs ?? 300_000 + frame.frames * 250,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return output;
  } catch (err) {
    await Promise.all(Object.values(output).map((p: string) => rm(p, { force: true })));
    throw err;
  } finally {
    await Promise.all([captionFile, soundFile, ...cardFiles].map((p) => rm(p, { force: true })));
  }
}
