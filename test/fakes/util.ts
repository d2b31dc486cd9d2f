/**
 * Small helpers shared by the fake upstream servers (test fixtures only, never product code):
 * a seeded RNG, id generators, deterministic JSON, JSON type names, waiting helpers and an
 * image-dimension sniffer used to reproduce OpenAI's "Inpaint image must match ..." check.
 */
import { createHash } from 'node:crypto';

/** Real wall-clock time in epoch milliseconds with sub-millisecond precision. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Deterministic 32-bit PRNG (mulberry32). Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Derives an independent seed for sub-stream `n` of `seed` (e.g. one RNG per job). */
export function deriveSeed(seed: number, n: number): number {
  let h = (seed ^ Math.imul(n + 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID (26 chars, Crockford base32) from a timestamp and an RNG, e.g. `01KBS40K78KGHZ9SDBWQSGSXRK`. */
export function ulid(timeMs: number, rng: () => number): string {
  let t = Math.max(0, Math.floor(timeMs));
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rand = '';
  for (let i = 0; i < 16; i++) rand += CROCKFORD[Math.floor(rng() * 32)];
  return time + rand;
}

/** `n` lowercase hex characters from an RNG. */
export function randomHex(rng: () => number, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += Math.floor(rng() * 16).toString(16);
  return out;
}

/** A random UUID-shaped string (v4 layout) from an RNG. */
export function randomUuid(rng: () => number): string {
  const h = randomHex(rng, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Returns a copy of `value` whose object keys are sorted (recursively), for byte-stable JSON. */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeysDeep(v);
    }
    return out;
  }
  return value;
}

/** JSON with sorted keys, no whitespace. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value));
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The JSON type of a parsed body field, as tests want to assert it. Multipart text parts are
 * always `string`; file parts are `file`.
 */
export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'null' | 'object' | 'array' | 'file';

export function jsonType(value: unknown): FieldType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return Number.isInteger(value) ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    default:
      return 'object';
  }
}

/** Human wording of a JSON type, as used in OpenAI's "but got ... instead" messages. */
export function typeWording(value: unknown): string {
  switch (jsonType(value)) {
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a decimal';
    case 'boolean':
      return 'a boolean';
    case 'null':
      return 'null';
    case 'array':
      return 'an array';
    case 'object':
      return 'an object';
    default:
      return 'a string';
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Resolves after `ms` real milliseconds (immediately for ms <= 0). */
export function sleep(ms: number): Promise<void> {
  if (!(ms > 0)) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface WaitOptions {
  /** Real milliseconds before giving up (default 10 000). */
  timeoutMs?: number;
  /** Real milliseconds between checks (default 5). */
  intervalMs?: number;
  /** Included in the timeout error. */
  message?: string;
}

/** Polls `predicate` until it returns a truthy value, which is returned. Rejects on timeout. */
export async function waitUntil<T>(predicate: () => T | undefined | null | false, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 5;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`waitUntil timed out after ${timeoutMs} ms${opts.message ? `: ${opts.message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** Width and height of a PNG, JPEG or WebP image, or undefined when they cannot be read. */
export function imageSize(buf: Buffer): { width: number; height: number; format: 'png' | 'jpeg' | 'webp' } | undefined {
  if (buf.length >= 24 && buf.readUInt32BE(0) === 0x89504e47 && buf.toString('latin1', 12, 16) === 'IHDR') {
    return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), format: 'png' };
  }
  if (buf.length >= 4 && buf[0] === 0xff && buf[1] === 0xd8) {
    let o = 2;
    while (o + 9 < buf.length) {
      if (buf[o] !== 0xff) {
        o++;
        continue;
      }
      const marker = buf[o + 1] ?? 0;
      if (marker === 0xff) {
        o++;
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        o += 2;
        continue;
      }
      const len = buf.readUInt16BE(o + 2);
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isSof) return { height: buf.readUInt16BE(o + 5), width: buf.readUInt16BE(o + 7), format: 'jpeg' };
      o += 2 + len;
    }
    return undefined;
  }
  if (buf.length >= 30 && buf.toString('latin1', 0, 4) === 'RIFF' && buf.toString('latin1', 8, 12) === 'WEBP') {
    const chunk = buf.toString('latin1', 12, 16);
    if (chunk === 'VP8 ') {
      return { width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff, format: 'webp' };
    }
    if (chunk === 'VP8L') {
      const bits = buf.readUInt32LE(21);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, format: 'webp' };
    }
    if (chunk === 'VP8X') {
      return { width: buf.readUIntLE(24, 3) + 1, height: buf.readUIntLE(27, 3) + 1, format: 'webp' };
    }
  }
  return undefined;
}
