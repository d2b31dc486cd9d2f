import zlib from 'node:zlib';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/core/errors.js';
import {
  DEFAULT_IMAGE_LIMITS,
  decodeDataUrl,
  fitReferenceImage,
  inspectImage,
  isDataUrl,
  sniffImageFormat,
} from '../src/media/reference-image.js';
import type { ImageLimits } from '../src/media/reference-image.js';

const LIMITS: ImageLimits = { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000 };
const P = 'input_reference';

type Rgb = [number, number, number];
const solid = (width: number, height: number, [r, g, b]: Rgb) =>
  sharp({ create: { width, height, channels: 3, background: { r, g, b } } });

/** Raw RGB image whose columns are coloured by `colourAt(x, y)`. */
function rawImage(width: number, height: number, colourAt: (x: number, y: number) => Rgb): Sharp {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(colourAt(x, y), (y * width + x) * 3);
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

const noise = (width: number, height: number) => {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + ((i * i) % 251)) & 0xff;
  return sharp(data, { raw: { width, height, channels: 3 } });
};

async function pixel(png: Buffer, x: number, y: number): Promise<Rgb> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i] ?? -1, data[i + 1] ?? -1, data[i + 2] ?? -1];
}

const near = (actual: Rgb, expected: Rgb, tolerance = 12): boolean =>
  actual.every((v, i) => Math.abs(v - (expected[i] ?? 0)) <= tolerance);

async function rejects(p: Promise<unknown>, code: string, param = P): Promise<ApiError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  const api = err as ApiError;
  expect(api.status).toBe(400);
  expect(api.type).toBe('invalid_request_error');
  expect(api.code).toBe(code);
  expect(api.param).toBe(param);
  expect(api.message).toContain(param);
  return api;
}

/** A PNG chunk: length, type, data, CRC. */
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid, highly compressible all-black 1-bit PNG of the given size. */
function blackPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, no filter, no interlace
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8))); // filter byte 0 + zero pixels
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('sniffImageFormat', () => {
  it('recognises jpeg, png and webp from their bytes only', async () => {
    const base = solid(8, 8, [10, 20, 30]);
    expect(sniffImageFormat(await base.clone().jpeg().toBuffer())).toBe('jpeg');
    expect(sniffImageFormat(await base.clone().png().toBuffer())).toBe('png');
    expect(sniffImageFormat(await base.clone().webp().toBuffer())).toBe('webp');
    expect(sniffImageFormat(await base.clone().gif().toBuffer())).toBeNull();
    expect(sniffImageFormat(Buffer.from('RIFF....WAVEfmt '))).toBeNull();
    expect(sniffImageFormat(new Uint8Array([0xff, 0xd8]))).toBeNull();
    expect(sniffImageFormat(new Uint8Array())).toBeNull();
  });
});

describe('inspectImage', () => {
  it('accepts jpeg, png and webp and reports their dimensions', async () => {
    const base = solid(320, 240, [200, 100, 50]);
    for (const [fmt, buf] of [
      ['jpeg', await base.clone().jpeg().toBuffer()],
      ['png', await base.clone().png().toBuffer()],
      ['webp', await base.clone().webp().toBuffer()],
    ] as const) {
      await expect(inspectImage(buf, LIMITS, P)).resolves.toEqual({ format: fmt, width: 320, height: 240 });
    }
  });

  it('refuses a GIF, naming the format and the allowed ones', async () => {
    const gif = await solid(16, 16, [0, 0, 0]).gif().toBuffer();
    const err = await rejects(inspectImage(gif, LIMITS, P), 'unsupported_image_type');
    expect(err.message).toMatch(/GIF/);
    expect(err.message).toMatch(/JPEG, PNG and WebP/);
  });

  it('refuses random bytes, text posing as a png, and an SVG', async () => {
    const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 17) & 0xff));
    await rejects(inspectImage(random, LIMITS, P), 'unsupported_image_type');
    // A client would send this as `filename="photo.png"; Content-Type: image/png`; only bytes count.
    const text = Buffer.from('this is not an image, whatever the content type says\n');
    const err = await rejects(inspectImage(text, LIMITS, 'image_urls[0]'), 'unsupported_image_type', 'image_urls[0]');
    expect(err.message).toMatch(/file content was checked/);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    expect((await rejects(inspectImage(svg, LIMITS, P), 'unsupported_image_type')).message).toMatch(/SVG/);
    await rejects(inspectImage(Buffer.alloc(0), LIMITS, P), 'invalid_image');
  });

  it('refuses a truncated jpeg and png with a clear message', async () => {
    const jpeg = await noise(400, 300).jpeg({ quality: 90 }).toBuffer();
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
    const err = await rejects(inspectImage(truncated, LIMITS, P), 'invalid_image');
    expect(err.message).toMatch(/truncated or corrupt/);
    await rejects(fitReferenceImage(truncated, { width: 720, height: 1280 }, LIMITS, P), 'invalid_image');
    const png = await noise(200, 200).png().toBuffer();
    await rejects(inspectImage(png.subarray(0, png.length - 100), LIMITS, P), 'invalid_image');
    // A valid signature followed by garbage.
    const fake = Buffer.concat([png.subarray(0, 8), Buffer.alloc(200, 0x41)]);
    await rejects(inspectImage(fake, LIMITS, P), 'invalid_image');
  });

  it('refuses a file over the byte limit before decoding', async () => {
    const png = await noise(64, 64).png().toBuffer();
    const err = await rejects(inspectImage(png, { ...LIMITS, maxBytes: png.length - 1 }, P), 'file_too_large');
    expect(err.message).toMatch(/larger than/);
    await expect(inspectImage(png, { ...LIMITS, maxBytes: png.length }, P)).resolves.toMatchObject({ format: 'png' });
  });

  it('refuses a decompression bomb (tiny PNG declaring 30000x30000) quickly, from the header', async () => {
    const bomb = blackPng(30000, 30000);
    expect(bomb.length).toBeLessThan(200_000);
    const started = performance.now();
    const err = await rejects(inspectImage(bomb, LIMITS, P), 'image_too_large');
    await rejects(fitReferenceImage(bomb, { width: 720, height: 1280 }, LIMITS, P), 'image_too_large');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(err.message).toContain('30000x30000');
    expect(err.message).toMatch(/40 megapixels/);
  });

  it('refuses an over-long side even when the pixel count is small, and honours a smaller pixel limit', async () => {
    await rejects(inspectImage(blackPng(20000, 8), LIMITS, P), 'image_too_large');
    const img = await solid(100, 100, [1, 2, 3]).png().toBuffer();
    await rejects(inspectImage(img, { ...LIMITS, maxPixels: 9_999 }, P), 'image_too_large');
    await expect(inspectImage(img, { ...LIMITS, maxPixels: 10_000 }, P)).resolves.toBeTruthy();
  });

  it('reports dimensions after EXIF orientation', async () => {
    const jpeg = await solid(200, 100, [0, 0, 255]).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    await expect(inspectImage(jpeg, LIMITS, P)).resolves.toEqual({ format: 'jpeg', width: 100, height: 200 });
  });
});

describe('fitReferenceImage', () => {
  it('fits 1000x1000 to exactly 720x1280 by scaling and cropping around the centre', async () => {
    // Red | green | blue vertical bands; the centre crop keeps a sliver of red and blue at the edges.
    const src = await rawImage(1000, 1000, (x) => (x < 250 ? [255, 0, 0] : x < 750 ? [0, 255, 0] : [0, 0, 255]))
      .png()
      .toBuffer();
    const out = await fitReferenceImage(src, { width: 720, height: 1280 }, LIMITS, P);
    expect(out).toMatchObject({ format: 'png', sourceWidth: 1000, sourceHeight: 1000, fitted: true });
    const meta = await sharp(out.png).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 720, height: 1280, channels: 3, space: 'srgb', hasAlpha: false });
    expect(meta.depth).toBe('uchar');
    // Scaled to 1280x1280, 280 px cut from each side: x=0 is source x≈219 (red), x=719 is ≈781 (blue).
    expect(near(await pixel(out.png, 5, 640), [255, 0, 0])).toBe(true);
    expect(near(await pixel(out.png, 360, 640), [0, 255, 0])).toBe(true);
    expect(near(await pixel(out.png, 714, 640), [0, 0, 255])).toBe(true);
    expect(near(await pixel(out.png, 360, 0), [0, 255, 0])).toBe(true);
    expect(near(await pixel(out.png, 360, 1279), [0, 255, 0])).toBe(true);
  });

  it('keeps an image already at the target size and reports fitted=false', async () => {
    const src = await solid(1280, 720, [10, 200, 30]).webp({ lossless: true }).toBuffer();
    const out = await fitReferenceImage(src, { width: 1280, height: 720 }, LIMITS, P);
    expect(out).toMatchObject({ format: 'webp', sourceWidth: 1280, sourceHeight: 720, fitted: false });
    expect(near(await pixel(out.png, 640, 360), [10, 200, 30], 2)).toBe(true);
  });

  it('applies EXIF orientation before fitting', async () => {
    // Stored 200x100: left half red, right half blue. Orientation 6 = rotate 90° clockwise to
    // display, so the displayed image is 100x200 with red on top.
    const jpeg = await rawImage(200, 100, (x) => (x < 100 ? [255, 0, 0] : [0, 0, 255]))
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const out = await fitReferenceImage(jpeg, { width: 100, height: 200 }, LIMITS, P);
    expect(out).toMatchObject({ sourceWidth: 100, sourceHeight: 200, fitted: false });
    expect(near(await pixel(out.png, 50, 20), [255, 0, 0], 30)).toBe(true);
    expect(near(await pixel(out.png, 50, 180), [0, 0, 255], 30)).toBe(true);
  });

  it('flattens transparency onto black and converts grey, 16-bit and CMYK input to 8-bit sRGB', async () => {
    const transparent = await sharp({
      create: { width: 64, height: 64, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const flat = await fitReferenceImage(transparent, { width: 32, height: 32 }, LIMITS, P);
    expect(near(await pixel(flat.png, 16, 16), [0, 0, 0], 1)).toBe(true);

    const inputs = [
      await solid(64, 64, [128, 128, 128]).greyscale().png().toBuffer(),
      await solid(64, 64, [40, 80, 120]).toColourspace('rgb16').png().toBuffer(),
      await solid(64, 64, [40, 80, 120]).toColourspace('cmyk').jpeg().toBuffer(),
    ];
    for (const input of inputs) {
      const out = await fitReferenceImage(input, { width: 48, height: 80 }, LIMITS, P);
      expect(await sharp(out.png).metadata()).toMatchObject({ width: 48, height: 80, channels: 3, depth: 'uchar', space: 'srgb' });
    }
  });

  it('uses the first frame of an animated webp', async () => {
    // Two 64x64 frames stacked vertically: red then blue.
    const frames = await rawImage(64, 128, (_x, y) => (y < 64 ? [255, 0, 0] : [0, 0, 255])).raw().toBuffer();
    const animated = await sharp(frames, { raw: { width: 64, height: 128, channels: 3, pageHeight: 64 } })
      .webp({ loop: 0, delay: [100, 100], lossless: true })
      .toBuffer();
    expect((await sharp(animated).metadata()).pages).toBe(2);
    await expect(inspectImage(animated, LIMITS, P)).resolves.toEqual({ format: 'webp', width: 64, height: 64 });
    const out = await fitReferenceImage(animated, { width: 64, height: 64 }, LIMITS, P);
    expect(out.fitted).toBe(false);
    expect(near(await pixel(out.png, 32, 60), [255, 0, 0], 2)).toBe(true);
  });
});

describe('decodeDataUrl', () => {
  it('decodes a base64 data URL (media type ignored, line breaks tolerated)', async () => {
    const png = await solid(10, 10, [1, 2, 3]).png().toBuffer();
    const b64 = png.toString('base64');
    expect(isDataUrl(`data:image/png;base64,${b64}`)).toBe(true);
    expect(isDataUrl('https://example.com/a.png')).toBe(false);
    expect(decodeDataUrl(`data:image/png;base64,${b64}`, P, 1000).equals(png)).toBe(true);
    expect(decodeDataUrl(`DATA:image/jpeg;charset=x;BASE64,${b64}`, P, 1000).equals(png)).toBe(true);
    const wrapped = b64.replace(/(.{20})/g, '$1\r\n');
    expect(decodeDataUrl(`data:;base64,${wrapped}`, P, 1000).equals(png)).toBe(true);
    // The declared type is not trusted: text declared as image/png decodes, then fails the sniff.
    const lie = decodeDataUrl(`data:image/png;base64,${Buffer.from('hello').toString('base64')}`, P, 1000);
    await rejects(inspectImage(lie, LIMITS, P), 'unsupported_image_type');
  });

  it('refuses malformed data URLs with a clear 400', () => {
    const bad = [
      'data:image/png;base64',
      'data:image/png,%89PNG',
      'data:image/png;base64,',
      'data:image/png;base64,abc$def',
      'data:image/png;base64,ab=cd===',
      'data:image/png;base64,A',
      'image/png;base64,AAAA',
    ];
    for (const url of bad) {
      let err: unknown;
      try {
        decodeDataUrl(url, 'image_urls[0]', 1000);
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('invalid_data_url');
      expect((err as ApiError).param).toBe('image_urls[0]');
      expect((err as ApiError).message).toMatch(/^image_urls\[0\] /);
    }
  });

  it('refuses an oversize data URL from its encoded length, before decoding or validating it', () => {
    const max = 3000;
    const exact = 'A'.repeat(4000); // decodes to exactly 3000 bytes
    expect(decodeDataUrl(`data:image/png;base64,${exact}`, P, max).length).toBe(max);
    const over = (body: string) => () => decodeDataUrl(`data:image/png;base64,${body}`, P, max);
    expect(over('A'.repeat(4004))).toThrow(/larger than the 3000 bytes limit/);
    // Invalid characters are never looked at: the length alone decides.
    expect(over('$'.repeat(4004))).toThrow(expect.objectContaining({ code: 'file_too_large' }));
    expect(over('A'.repeat(50_000_000))).toThrow(expect.objectContaining({ code: 'file_too_large', param: P }));
    expect(DEFAULT_IMAGE_LIMITS.maxBytes).toBe(10 * 1024 * 1024);
  });
});
