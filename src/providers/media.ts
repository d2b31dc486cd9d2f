import type { UpstreamMedia } from './types.js';
import { UpstreamError } from './types.js';

/**
 * Media on its way to an upstream, the way its protocol wants it: a signed link to the gateway's
 * copy when the gateway has a public URL (`publicUrl`), else the bytes inline — raw base64 or a
 * `data:` URL — within the size the provider documents (an image that is too big is re-encoded as
 * JPEG, then scaled down, until it fits).
 */
export interface MediaRefOptions {
  /** Largest file the provider accepts. */
  maxBytes: number;
  /** How inline bytes are written: bare base64 (Kling) or a data: URL (Seedance, OpenAI). */
  inline: 'base64' | 'data-url';
}

/** An image's bytes within `maxBytes` (JPEG at falling quality, then smaller, if needed). */
export async function imageWithin(m: UpstreamMedia, maxBytes: number): Promise<{ data: Buffer; contentType: string }> {
  if (m.data.length <= maxBytes) return { data: m.data, contentType: m.contentType };
  // Loaded when needed: this module is part of every adapter, and the config loader reads adapters.
  const { default: sharp } = await import('sharp');
  for (const [quality, scale] of [[90, 1], [80, 1], [70, 1], [80, 0.75], [75, 0.5], [70, 0.35]] as const) {
    const meta = await sharp(m.data).metadata();
    const width = meta.width ? Math.max(1, Math.round(meta.width * scale)) : undefined;
    const data = await sharp(m.data).flatten({ background: '#000000' }).resize(width ? { width } : {}).jpeg({ quality }).toBuffer();
    if (data.length <= maxBytes) return { data, contentType: 'image/jpeg' };
  }
  throw invalidMedia(m, `is larger than the ${Math.floor(maxBytes / 1048576)} MB the provider accepts, even re-encoded`);
}

/** The media as the provider should get it: a link, or inline bytes. */
export async function mediaRef(m: UpstreamMedia, o: MediaRefOptions): Promise<string> {
  if (m.publicUrl && m.data.length <= o.maxBytes) return m.publicUrl;
  if (m.kind !== 'image') {
    if (m.publicUrl) throw invalidMedia(m, `is larger than the ${Math.floor(o.maxBytes / 1048576)} MB the provider accepts`);
    throw invalidMedia(m, 'can only be sent to this provider as a link, and the gateway has no public URL (set VIDGATE_PUBLIC_URL)');
  }
  const { data, contentType } = await imageWithin(m, o.maxBytes);
  const b64 = data.toString('base64');
  return o.inline === 'base64' ? b64 : `data:${contentType};base64,${b64}`;
}

function invalidMedia(m: UpstreamMedia, what: string): UpstreamError {
  const name = m.role === 'reference' ? `a reference ${m.kind}` : `the ${m.role.replace('_', ' ')}`;
  const message = `${name[0]!.toUpperCase()}${name.slice(1)} ${what}.`;
  return new UpstreamError('http', message, { status: 400, kind: 'invalid', param: m.role, upstreamMessage: message });
}
