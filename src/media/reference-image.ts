/**
 * Reference images (the first frame of a video): validation and fitting.
 *
 * Input arrives as raw bytes (multipart file part, decoded data URL or downloaded URL). The type is
 * decided from the bytes only, never from a filename or declared Content-Type. Dimensions are read
 * from the header and checked before anything is decoded, so a small file declaring a huge canvas
 * (a decompression bomb) is refused without allocating its pixels. sharp's own `limitInputPixels`
 * is set as a second line of defence.
 *
 * Animated WebP (and APNG) are accepted: only the first frame is used.
 */
import sharp from 'sharp';
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { invalid } from '../core/errors.js';
import type { ApiError } from '../core/errors.js';
import type { Size } from '../core/catalog.js';

export type ImageFormat = 'jpeg' | 'png' | 'webp';

export interface ImageLimits {
  /** Largest accepted encoded size in bytes. */
  maxBytes: number;
  /** Largest accepted width x height, read from the header before decoding. */
  maxPixels: number;
  /** Largest accepted width or height in pixels. Default {@link DEFAULT_MAX_SIDE}. */
  maxSide?: number;
}

export const DEFAULT_MAX_SIDE = 16384;

export const DEFAULT_IMAGE_LIMITS: Readonly<Required<ImageLimits>> = Object.freeze({
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
  maxSide: DEFAULT_MAX_SIDE,
});

export const IMAGE_MIME: Readonly<Record<ImageFormat, string>> = Object.freeze({
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
});

const ALLOWED = 'only JPEG, PNG and WebP images are accepted';

const startsWith = (bytes: Uint8Array, sig: readonly number[], at = 0): boolean =>
  bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b);

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIG = [0xff, 0xd8, 0xff];
const RIFF = ascii('RIFF');
const WEBP = ascii('WEBP');

/** The image type from its magic bytes: JPEG, PNG or WebP, else null. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, JPEG_SIG)) return 'jpeg';
  if (startsWith(bytes, PNG_SIG)) return 'png';
  if (startsWith(bytes, RIFF) && startsWith(bytes, WEBP, 8)) return 'webp';
  return null;
}

/** A user-facing name for a few common formats we refuse, to make the error message precise. */
function describeRefusedFormat(bytes: Uint8Array): string | null {
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'a GIF image';
  if (startsWith(bytes, ascii('BM'))) return 'a BMP image';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'a TIFF image';
  if (startsWith(bytes, ascii('ftyp'), 4)) return 'a HEIC/AVIF image';
  if (startsWith(bytes, ascii('%PDF'))) return 'a PDF document';
  const head = Buffer.from(bytes.subarray(0, 256)).toString('latin1').trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'an SVG image';
  return null;
}

const MIB = 1024 * 1024;
const formatBytes = (n: number): string =>
  n >= MIB && n % MIB === 0 ? `${n / MIB} MB` : n >= MIB ? `${(n / MIB).toFixed(1)} MB` : `${n} bytes`;

const tooLarge = (param: string, maxBytes: number): ApiError =>
  invalid(param, `${param} is larger than the ${formatBytes(maxBytes)} limit for reference images`, 'file_too_large');

const DATA_URL = /^data:([^,]*),/i;
const BASE64_BODY = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/** True when the string is a `data:` URL (any media type or encoding). */
export const isDataUrl = (url: string): boolean => /^\s*data:/i.test(url);

/**
 * Decodes a base64 `data:` URL. The decoded size is computed from the encoded length and checked
 * against `maxBytes` before any decoding. The declared media type is ignored (the bytes are sniffed
 * later); only base64 payloads are accepted.
 */
export function decodeDataUrl(url: string, param: string, maxBytes: number): Buffer {
  const trimmed = url.trim();
  const m = DATA_URL.exec(trimmed);
  if (!m) {
    throw invalid(param, `${param} is not a valid data URL; expected data:image/png;base64,<data>`, 'invalid_data_url');
  }
  const meta = (m[1] ?? '').split(';').map((p) => p.trim().toLowerCase());
  if (!meta.includes('base64')) {
    throw invalid(param, `${param} must be a base64 data URL (data:image/png;base64,<data>)`, 'invalid_data_url');
  }
  let body = trimmed.slice(m[0].length);
  // Cheap bound first so that a huge string is refused before any copy is made.
  if (body.length > Math.ceil(maxBytes / 3) * 4 * 2 + 1024) throw tooLarge(param, maxBytes);
  // Line-wrapped base64 (MIME style) is accepted.
  if (/\s/.test(body)) body = body.replace(/\s+/g, '');
  if (body.length === 0) throw invalid(param, `${param} is an empty data URL`, 'invalid_data_url');
  const padding = body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0;
  const decodedLength = Math.floor(((body.length - padding) * 3) / 4);
  if (decodedLength > maxBytes) throw tooLarge(param, maxBytes);
  if (!BASE64_BODY.test(body) || body.length % 4 === 1) {
    throw invalid(param, `${param} is not valid base64 data`, 'invalid_data_url');
  }
  return Buffer.from(body, 'base64');
}

/** Maps a sharp/libvips failure to a user-facing 400 without echoing library internals. */
function decodeError(param: string, err: unknown): ApiError {
  const msg = err instanceof Error ? err.message : '';
  if (/pixel limit/i.test(msg)) {
    return invalid(param, `${param} has too many pixels to be used as a reference image`, 'image_too_large');
  }
  return invalid(
    param,
    `${param} could not be read as an image: the file is truncated or corrupt (${ALLOWED})`,
    'invalid_image',
  );
}

const sharpOptions = (limits: ImageLimits): SharpOptions => ({
  limitInputPixels: limits.maxPixels,
  // Abort on truncated or corrupt pixel data; tolerate harmless warnings common in camera JPEGs.
  failOn: 'error',
  // Multi-frame input (animated WebP, APNG): the first frame only.
  pages: 1,
});

interface Header {
  format: ImageFormat;
  width: number;
  height: number;
}

/** Type, byte size and header dimensions; nothing is decoded. */
async function readHeader(bytes: Buffer, limits: ImageLimits, param: string): Promise<Header> {
  if (bytes.length > limits.maxBytes) throw tooLarge(param, limits.maxBytes);
  if (bytes.length === 0) throw invalid(param, `${param} is empty; ${ALLOWED}`, 'invalid_image');
  const format = sniffImageFormat(bytes);
  if (!format) {
    const other = describeRefusedFormat(bytes);
    throw invalid(
      param,
      other
        ? `${param} is ${other}; ${ALLOWED}`
        : `${param} is not a JPEG, PNG or WebP image (the file content was checked, not its name or declared type)`,
      'unsupported_image_type',
    );
  }
  let meta: Metadata;
  try {
    // Header only: libvips does not decode pixels for metadata(). The pixel limit is enforced
    // below with our own numbers (and again by sharp when decoding).
    meta = await sharp(bytes, { limitInputPixels: false, pages: 1 }).metadata();
  } catch (err) {
    throw decodeError(param, err);
  }
  if (meta.format !== format || !meta.width || !meta.height) {
    throw invalid(param, `${param} could not be read as an image: the file is corrupt (${ALLOWED})`, 'invalid_image');
  }
  // For multi-frame images, height may be the whole strip; the first frame is pageHeight tall.
  const rawHeight = meta.pageHeight && meta.pageHeight > 0 ? meta.pageHeight : meta.height;
  const maxSide = limits.maxSide ?? DEFAULT_MAX_SIDE;
  if (meta.width > maxSide || rawHeight > maxSide || meta.width * rawHeight > limits.maxPixels) {
    throw invalid(
      param,
      `${param} is ${meta.width}x${rawHeight} pixels; reference images may be at most ${maxSide} pixels on a side ` +
        `and ${(limits.maxPixels / 1e6).toFixed(limits.maxPixels % 1e6 === 0 ? 0 : 1)} megapixels`,
      'image_too_large',
    );
  }
  // Orientations 5-8 swap the axes.
  const swapped = (meta.orientation ?? 1) >= 5;
  return { format, width: swapped ? rawHeight : meta.width, height: swapped ? meta.width : rawHeight };
}

function pipeline(bytes: Buffer, limits: ImageLimits): Sharp {
  return sharp(bytes, sharpOptions(limits)).rotate();
}

/**
 * Validates a reference image: type from magic bytes, byte size, header dimensions (bomb check),
 * then a full decode (at reduced size) to catch truncated or corrupt data.
 * Width and height are reported after EXIF orientation.
 */
export async function inspectImage(
  bytes: Buffer,
  limits: ImageLimits,
  param: string,
): Promise<{ format: ImageFormat; width: number; height: number }> {
  const header = await readHeader(bytes, limits, param);
  try {
    await pipeline(bytes, limits).resize(64, 64, { fit: 'inside' }).raw().toBuffer();
  } catch (err) {
    throw decodeError(param, err);
  }
  return header;
}

/**
 * Validates the image and produces the exact first frame: EXIF orientation applied, scaled and
 * centre-cropped (`cover`) to `target`, flattened onto black (no alpha), sRGB, 8-bit PNG.
 * `fitted` is false when the oriented source already had the target dimensions.
 */
export async function fitReferenceImage(
  bytes: Buffer,
  target: Size,
  limits: ImageLimits,
  param: string,
): Promise<{ png: Buffer; format: ImageFormat; sourceWidth: number; sourceHeight: number; fitted: boolean }> {
  const header = await readHeader(bytes, limits, param);
  let png: Buffer;
  try {
    png = await pipeline(bytes, limits)
      .resize(target.width, target.height, { fit: 'cover', position: 'centre' })
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .removeAlpha()
      .toColourspace('srgb')
      .png({ compressionLevel: 6 })
      .toBuffer();
  } catch (err) {
    throw decodeError(param, err);
  }
  return {
    png,
    format: header.format,
    sourceWidth: header.width,
    sourceHeight: header.height,
    fitted: header.width !== target.width || header.height !== target.height,
  };
}
