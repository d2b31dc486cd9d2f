import type { ImageLimits } from '../media/reference-image.js';
import { decodeDataUrl, fitReferenceImage, inspectImage } from '../media/reference-image.js';
import type { FetchLimits } from '../net/safe-fetch.js';
import { fetchBytes } from '../net/safe-fetch.js';
import type { NetPolicy, Resolver } from '../net/ssrf.js';
import type { Size } from './catalog.js';

/** A reference image as a client gave it, before it is loaded. `param` names it in errors. */
export type ReferenceInput =
  | { kind: 'bytes'; data: Buffer; param: string }
  | { kind: 'data-url'; url: string; param: string }
  | { kind: 'url'; url: string; param: string };

export interface ReferenceDeps {
  limits: ImageLimits;
  net: NetPolicy;
  fetch: FetchLimits;
  /** DNS resolver for URL fetches (default: the system's). Tests inject one. */
  resolver?: Resolver;
}

/** The image bytes, wherever they come from: upload, data URL, or a checked http(s) fetch. */
export async function loadReferenceBytes(input: ReferenceInput, deps: ReferenceDeps): Promise<Buffer> {
  switch (input.kind) {
    case 'bytes':
      return input.data;
    case 'data-url':
      return decodeDataUrl(input.url, input.param, deps.limits.maxBytes);
    case 'url':
      return (
        await fetchBytes(input.url, input.param, deps.net, { ...deps.fetch, maxBytes: deps.limits.maxBytes }, { resolver: deps.resolver })
      ).bytes;
  }
}

/** Validated image dimensions (for dialects whose output orientation follows the image). */
export async function referenceDimensions(bytes: Buffer, param: string, deps: ReferenceDeps): Promise<{ width: number; height: number }> {
  return inspectImage(bytes, deps.limits, param);
}

/** The reference fitted (scaled and centre-cropped) to exactly the video size, as PNG. */
export async function fitReference(bytes: Buffer, size: Size, param: string, deps: ReferenceDeps): Promise<Buffer> {
  return (await fitReferenceImage(bytes, size, deps.limits, param)).png;
}
