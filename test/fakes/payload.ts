/**
 * Byte payloads served by the fakes: the committed media fixtures and size-scaled videos.
 *
 * Fixtures (generated once with the bundled ffmpeg, see `fixtures/README.md`):
 * - `sample.mp4`      — 2 s, 320x180, 24 fps, H.264 Main yuv420p + AAC mono, faststart (moov first);
 * - `thumbnail.webp`  — 320x180 WebP (the OpenAI `variant=thumbnail`);
 * - `spritesheet.jpg` — 320x90 JPEG, a 4x2 tile of 80x45 frames (`variant=spritesheet`).
 *
 * `paddedMp4(base, n)` returns a **valid** MP4 of exactly `n` bytes: the fixture followed by one
 * top-level `free` box (ISO BMFF "free space", ignored by demuxers; ffprobe/ffmpeg read the result
 * as the same 2 s clip). Padding bytes are generated on the fly, so multi-GB payloads cost no
 * memory. Use it for large/slow/truncated download tests; its sha256 is available via `sha256Of`.
 *
 * @example
 * const big = paddedMp4(fixtures.sampleMp4(), 50 * 1024 * 1024);
 * const fake = await startApimartFake({ video: big });
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A random-access byte source. `read(start, end)` returns bytes [start, end). */
export interface ByteSource {
  readonly size: number;
  readonly contentType: string;
  read(start: number, end: number): Buffer;
}

export function bufferSource(data: Buffer | string, contentType: string): ByteSource {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  return {
    size: buf.length,
    contentType,
    read: (start, end) => buf.subarray(start, end),
  };
}

/** A view of bytes [start, end) of `src`. */
export function sliceSource(src: ByteSource, start: number, end: number): ByteSource {
  return {
    size: end - start,
    contentType: src.contentType,
    read: (s, e) => src.read(start + s, start + e),
  };
}

/** A valid MP4 of exactly `totalBytes`: `base` plus a trailing top-level `free` box. */
export function paddedMp4(base: Buffer, totalBytes: number): ByteSource {
  if (!Number.isSafeInteger(totalBytes) || totalBytes < base.length) {
    throw new RangeError(`paddedMp4: totalBytes must be an integer >= ${base.length} (the base size), got ${totalBytes}`);
  }
  const pad = totalBytes - base.length;
  if (pad === 0) return bufferSource(base, 'video/mp4');
  if (pad < 8) throw new RangeError(`paddedMp4: need at least 8 bytes of padding for a box header (asked for ${pad})`);
  let header: Buffer;
  if (pad <= 0xffffffff) {
    header = Buffer.alloc(8);
    header.writeUInt32BE(pad, 0);
    header.write('free', 4, 'latin1');
  } else {
    if (pad < 16) throw new RangeError('paddedMp4: impossible padding');
    header = Buffer.alloc(16);
    header.writeUInt32BE(1, 0);
    header.write('free', 4, 'latin1');
    header.writeBigUInt64BE(BigInt(pad), 8);
  }
  const headerStart = base.length;
  const zerosStart = headerStart + header.length;
  return {
    size: totalBytes,
    contentType: 'video/mp4',
    read(start, end) {
      const s = Math.max(0, start);
      const e = Math.min(totalBytes, end);
      if (e <= s) return Buffer.alloc(0);
      const parts: Buffer[] = [];
      if (s < headerStart) parts.push(base.subarray(s, Math.min(e, headerStart)));
      if (e > headerStart && s < zerosStart) parts.push(header.subarray(Math.max(s, headerStart) - headerStart, Math.min(e, zerosStart) - headerStart));
      if (e > zerosStart) parts.push(Buffer.alloc(e - Math.max(s, zerosStart)));
      return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    },
  };
}

/** sha256 (hex) of a whole source, read in 1 MiB chunks. */
export function sha256Of(src: ByteSource): string {
  const h = createHash('sha256');
  for (let o = 0; o < src.size; o += 1 << 20) h.update(src.read(o, Math.min(src.size, o + (1 << 20))));
  return h.digest('hex');
}

/** Reads all bytes of a source (use only for small sources). */
export function readAll(src: ByteSource): Buffer {
  return src.read(0, src.size);
}

const cache = new Map<string, Buffer>();

function fixture(name: string): Buffer {
  let buf = cache.get(name);
  if (!buf) {
    buf = readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
    cache.set(name, buf);
  }
  return buf;
}

/** The committed media fixtures (read once, cached). */
export const fixtures = {
  sampleMp4: (): Buffer => fixture('sample.mp4'),
  thumbnailWebp: (): Buffer => fixture('thumbnail.webp'),
  spritesheetJpg: (): Buffer => fixture('spritesheet.jpg'),
  /** Absolute file path of a fixture, e.g. for ffprobe. */
  path: (name: 'sample.mp4' | 'thumbnail.webp' | 'spritesheet.jpg'): string => new URL(`./fixtures/${name}`, import.meta.url).pathname,
};

/** Resolves the `video` / `videoBytes` options of a fake into a source. */
export function resolveVideo(video: ByteSource | Buffer | undefined, videoBytes: number | undefined): ByteSource {
  if (video && !Buffer.isBuffer(video)) return video;
  const base = video ?? fixtures.sampleMp4();
  return videoBytes === undefined ? bufferSource(base, 'video/mp4') : paddedMp4(base, videoBytes);
}
