/**
 * Stills derived from a video: a webp thumbnail from the middle and a jpg spritesheet of evenly
 * spaced frames. The filter chains are exported so a renderer can produce the stills in the same
 * ffmpeg run that encodes the video.
 */
import { ffmpegPath, runTool } from './ffmpeg.js';
import type { RunOptions } from './ffmpeg.js';
import type { MediaInfo } from './probe.js';

export interface StillsOutputs {
  thumbnail: string;
  spritesheet: string;
}

export type StillsSource = Pick<MediaInfo, 'width' | 'height' | 'durationSeconds' | 'frames'>;

export interface StillsGraph {
  /** Filter chains reading the two input labels; join them into a filter_complex with ';'. */
  filters: string[];
  /** Output arguments (-map … file) for the thumbnail and the spritesheet. */
  outputArgs: string[];
}

const THUMB_LONG_SIDE = 1280;
const CELL_LONG_SIDE = 256;
const SPRITE_CELLS = 20;
const SPRITE_COLUMNS = 5;

const even = (n: number): number => Math.max(2, 2 * Math.round(n / 2));

function fitLongSide(width: number, height: number, longSide: number): { w: number; h: number } {
  const scale = Math.min(1, longSide / Math.max(width, height));
  return { w: even(width * scale), h: even(height * scale) };
}

/** Seconds with a fixed number of decimals, so the graph text is stable. */
const secs = (s: number): string => s.toFixed(6);

/** Frame selection for the sheet: exactly `cells` frames, first and last included, evenly spaced. */
function spriteSelect(src: StillsSource, cells: number): string {
  if (src.frames !== null) {
    const last = src.frames - 1;
    if (cells <= 1 || last <= 0) return 'trim=end_frame=1';
    const k = cells - 1;
    return `select='eq(n,0)+gt(floor(n*${k}/${last}),floor((n-1)*${k}/${last}))'`;
  }
  // Unknown frame count: pick a frame whenever a step (a bit under duration/cells) has passed.
  const step = (src.durationSeconds / cells) * 0.98;
  return `select='isnan(prev_selected_t)+gte(t-prev_selected_t,${secs(step)})'`;
}

function thumbnailTrim(src: StillsSource): string {
  if (src.frames !== null) {
    const mid = Math.floor(src.frames / 2);
    return `trim=start_frame=${mid}:end_frame=${mid + 1}`;
  }
  return `setpts=PTS-STARTPTS,trim=start=${secs(src.durationSeconds / 2)}`;
}

/**
 * The layout of a spritesheet made for a video: `frames` evenly spaced frames (first and last
 * included), left to right then top to bottom, in a grid of `columns` × `rows` cells of
 * `cellWidth` × `cellHeight` pixels (cells after the last frame are black).
 */
export interface SpriteGrid {
  columns: number;
  rows: number;
  frames: number;
  cellWidth: number;
  cellHeight: number;
}

/** The grid stillsGraph lays a video's spritesheet out in (the console scrubs through it). */
export function spriteGrid(src: Pick<StillsSource, 'width' | 'height' | 'frames'>): SpriteGrid {
  const cell = fitLongSide(src.width, src.height, CELL_LONG_SIDE);
  const frames = src.frames === null ? SPRITE_CELLS : Math.max(1, Math.min(SPRITE_CELLS, src.frames));
  const columns = Math.min(SPRITE_COLUMNS, frames);
  return { columns, rows: Math.ceil(frames / columns), frames, cellWidth: cell.w, cellHeight: cell.h };
}

/** Build the thumbnail and spritesheet branches of a filtergraph. */
export function stillsGraph(thumbIn: string, spriteIn: string, src: StillsSource, out: StillsOutputs): StillsGraph {
  const thumb = fitLongSide(src.width, src.height, THUMB_LONG_SIDE);
  const grid = spriteGrid(src);
  const cell = { w: grid.cellWidth, h: grid.cellHeight };
  const cells = grid.frames;
  const columns = grid.columns;
  const rows = grid.rows;

  const filters = [
    `[${thumbIn}]${thumbnailTrim(src)},scale=${thumb.w}:${thumb.h}:flags=bicubic,setsar=1[stills_thumb]`,
    `[${spriteIn}]${spriteSelect(src, cells)},scale=${cell.w}:${cell.h}:flags=bicubic,setsar=1,` +
      `tile=${columns}x${rows}[stills_sheet]`,
  ];
  const outputArgs = [
    '-map', '[stills_thumb]', '-frames:v', '1', '-c:v', 'libwebp', '-quality', '82', '-compression_level', '3',
    '-fflags', '+bitexact', '-f', 'webp', `file:${out.thumbnail}`,
    '-map', '[stills_sheet]', '-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '4', '-flags:v', '+bitexact',
    '-fflags', '+bitexact', '-f', 'image2', '-update', '1', `file:${out.spritesheet}`,
  ];
  return { filters, outputArgs };
}

/**
 * Write a webp thumbnail (frame from the middle, long side at most 1280 px) and a jpg spritesheet
 * (up to 20 evenly spaced frames in a 5-column grid, cells at most 256 px on the long side) for any video.
 */
export async function deriveStills(
  videoPath: string,
  out: StillsOutputs,
  info: MediaInfo,
  opts: RunOptions = {},
): Promise<void> {
  const graph = stillsGraph('thumb_in', 'sheet_in', info, out);
  const filter = ['[0:v]split=2[thumb_in][sheet_in]', ...graph.filters].join(';');
  const args = [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
    '-threads', '2', '-i', `file:${videoPath}`,
    '-filter_complex', filter, '-filter_complex_threads', '2',
    ...graph.outputArgs,
  ];
  await runTool(ffmpegPath(), args, { timeoutMs: 120_000, ...opts });
}
