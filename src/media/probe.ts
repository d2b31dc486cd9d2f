/**
 * What a video file is: codec, size, duration, frame count, audio, and whether it streams (faststart).
 */
import { open } from 'node:fs/promises';
import { MediaToolError, MediaToolUnavailable, ffprobePath, runTool } from './ffmpeg.js';
import type { RunOptions } from './ffmpeg.js';

export interface MediaInfo {
  durationSeconds: number;
  /** Displayed width (rotation metadata applied). */
  width: number;
  /** Displayed height (rotation metadata applied). */
  height: number;
  codec: string;
  pixFmt: string;
  /** Frame count from the container, null when it does not say. */
  frames: number | null;
  hasAudio: boolean;
  /** MP4/MOV with the moov box before the mdat box, so playback can start before the download ends. */
  faststart: boolean;
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  nb_frames?: string;
  duration?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number | string }[];
}

interface ProbeOutput {
  streams?: ProbeStream[];
  format?: { format_name?: string; duration?: string };
}

/** Demuxers that read still images, not videos. */
const IMAGE_FORMAT = /(^|,)(image2|[a-z0-9]+_pipe|gif|apng|webp)(,|$)/;

function positive(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : null;
}

function rotationOf(stream: ProbeStream): number {
  const fromSideData = stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation;
  const raw = fromSideData ?? stream.tags?.rotate ?? 0;
  const n = Number(raw);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Order of the top-level MP4 boxes: true when 'moov' comes before 'mdat'.
 * Files that are not ISO-BMFF simply report false.
 */
export async function hasMoovBeforeMdat(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const header = Buffer.alloc(16);
    let offset = 0;
    for (let i = 0; i < 1000 && offset + 8 <= size; i++) {
      const { bytesRead } = await file.read(header, 0, 16, offset);
      if (bytesRead < 8) return false;
      let boxSize = header.readUInt32BE(0);
      const type = header.toString('latin1', 4, 8);
      if (!/^[\x20-\x7e]{4}$/.test(type)) return false;
      if (type === 'moov') return true;
      if (type === 'mdat') return false;
      if (boxSize === 1) {
        if (bytesRead < 16) return false;
        boxSize = Number(header.readBigUInt64BE(8));
      } else if (boxSize === 0) {
        return false; // box runs to the end of the file
      }
      if (boxSize < 8) return false;
      offset += boxSize;
    }
    return false;
  } finally {
    await file.close();
  }
}

/**
 * Probe a video file with ffprobe. Throws a clear Error when the file is not a readable video (its
 * message never names the file's path: it may reach a caller), and MediaToolUnavailable when
 * ffprobe itself cannot start (the gateway's problem, not the file's).
 */
export async function probeVideo(path: string, opts: RunOptions = {}): Promise<MediaInfo> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path];
  let parsed: ProbeOutput;
  try {
    const { stdout } = await runTool(ffprobePath(), args, { timeoutMs: 30_000, ...opts });
    parsed = JSON.parse(stdout.toString('utf8')) as ProbeOutput;
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    if (err instanceof MediaToolUnavailable) throw err;
    // What ffprobe said about the file, without its path or its own internals.
    const said = err instanceof MediaToolError && err.stderrTail ? err.stderrTail : err instanceof Error ? err.message : String(err);
    const detail = said.split(path).join('the file').replace(/\[[^\]]* @ 0x[0-9a-f]+\]\s*/g, '').replace(/\s+/g, ' ').trim();
    throw new Error(`not a readable media file (${detail || 'unreadable'})`);
  }

  const streams = parsed.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const formatName = parsed.format?.format_name ?? '';
  if (!video || IMAGE_FORMAT.test(formatName)) {
    throw new Error(`not a video: the file has no video stream (format ${formatName || 'unknown'})`);
  }
  const durationSeconds = positive(video.duration) ?? positive(parsed.format?.duration);
  if (durationSeconds === null) throw new Error('not a video: the file has no duration');
  if (!video.width || !video.height) throw new Error('not a video: the file has no frame size');

  const quarterTurns = Math.round(rotationOf(video) / 90);
  const sideways = Math.abs(quarterTurns) % 2 === 1;
  const frames = positive(video.nb_frames);

  return {
    durationSeconds,
    width: sideways ? video.height : video.width,
    height: sideways ? video.width : video.height,
    codec: video.codec_name ?? 'unknown',
    pixFmt: video.pix_fmt ?? 'unknown',
    frames: frames === null ? null : Math.round(frames),
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
    faststart: await hasMoovBeforeMdat(path),
  };
}
