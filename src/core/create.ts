import { createHash } from 'node:crypto';
import type { ModelSpec, Size } from './catalog.js';
import { defaultAudio, formatSize, pairOfSize } from './catalog.js';
import { resolutionOfSize } from './model-config.js';
import type { AspectRatio, MediaInput, Resolution, VideoRequest } from './video-request.js';
import { requestOf } from './video-request.js';
import { IMAGE_MIME, inspectImage } from '../media/reference-image.js';
import { invalid } from './errors.js';
import type { Gateway } from './gateway.js';
import { quoteTask } from './quote.js';
import type { ReferenceInput } from './reference.js';
import { fitReference, loadReferenceBytes, referenceDimensions } from './reference.js';
import type { CreateResult } from './service.js';
import type { ApiKey } from '../store/keys.js';
import type { Origin, Task, TaskParams } from './task.js';

/** A create request after dialect parsing: everything the core needs, in canonical form. */
export interface CanonicalCreate {
  origin: Origin;
  model: ModelSpec;
  prompt: string;
  seconds: number;
  size: Size;
  /**
   * The price dimensions (core/quote.ts). Absent: the resolution the catalogue gives `size`
   * (else the one its shorter side names), the model's default audio and mode.
   */
  resolution?: Resolution;
  audio?: boolean;
  mode?: string;
  params: TaskParams;
  /** Already-loaded reference bytes, or an input still to load. */
  reference: Buffer | ReferenceInput | null;
  referenceParam?: string;
  remixOf?: Task;
  /**
   * When set, the reference image decides the final size: called with the image's dimensions
   * (after EXIF orientation) once it is loaded. `size` is then only the size asked for (apimart:
   * the image's own aspect ratio overrides `aspect_ratio`).
   */
  sizeFromReference?: (image: Size) => Size;
  /** As asked (or the model's default); `adaptive` when the first frame decides. Absent: read from the size. */
  aspectRatio?: AspectRatio;
  negativePrompt?: string;
  seed?: number;
  /** Model-specific options, already checked against the model. */
  options?: Record<string, unknown>;
  /** The last frame (fitted to the size like the first). */
  lastFrame?: ReferenceInput | null;
  /** Reference images, kept as given. */
  references?: ReferenceInput[];
  /**
   * How the caller's dialect names a request field. An upstream's create-time refusal names the
   * canonical field (`seconds`, `aspect_ratio`, `resolution`, `size`, `audio`, `first_frame`,
   * `last_frame`, `references`, …) or one of the model's option keys; the 400 names the field the
   * caller sent instead (`duration`, `generate_audio`, `image_urls`, `metadata.loop`, …).
   * Absent: the canonical name.
   */
  fieldName?: (field: string) => string;
}

/** What a dialect's create parser produces: everything but the origin, the task params and a remix source. */
export type CreateFields = Omit<CanonicalCreate, 'origin' | 'params' | 'remixOf'>;

export interface CreateHeaders {
  idempotencyKey?: string;
  /** X-Stainless-Retry-Count: the openai SDK's automatic retry counter. */
  retryCount: number;
}

/** How far back an SDK retry without an Idempotency-Key is matched to its first attempt. */
const SDK_RETRY_WINDOW_MS = 15 * 60_000;

/** Idempotency-Key: 1–191 visible ASCII characters. */
export function parseIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const key = Array.isArray(value) ? value[0] : value;
  if (key === undefined || !/^[\x21-\x7e]{1,191}$/.test(key)) {
    throw invalid('Idempotency-Key', 'The Idempotency-Key header must be 1 to 191 visible ASCII characters.', 'invalid_idempotency_key');
  }
  return key;
}

export function retryCountOf(value: string | string[] | undefined): number {
  const n = Number(Array.isArray(value) ? value[0] : value);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * Persist a new task (the reference image fitted to its size first). Retries are recognised by
 * the Idempotency-Key, or, for the openai SDK's own automatic retries (which carry no key), by
 * the same body from the same key within the retry window.
 */
export async function createTask(gw: Gateway, key: ApiKey, req: CanonicalCreate, headers: CreateHeaders): Promise<CreateResult> {
  const keyId = key.id;
  const bodyHash = createHash('sha256')
    .update(
      JSON.stringify({
        origin: req.origin,
        model: req.model.id,
        prompt: req.prompt,
        seconds: req.seconds,
        size: [req.size.width, req.size.height],
        dims: [req.resolution ?? null, req.audio ?? null, req.mode ?? null],
        params: req.params,
        remixOf: req.remixOf?.id ?? null,
        reference: referenceFingerprint(req.reference),
        ...(req.aspectRatio ? { aspectRatio: req.aspectRatio } : {}),
        ...(req.negativePrompt !== undefined ? { negativePrompt: req.negativePrompt } : {}),
        ...(req.seed !== undefined ? { seed: req.seed } : {}),
        ...(req.options && Object.keys(req.options).length ? { options: req.options } : {}),
        ...(req.lastFrame ? { lastFrame: referenceFingerprint(req.lastFrame) } : {}),
        ...(req.references?.length ? { references: req.references.map(referenceFingerprint) } : {}),
      }),
    )
    .digest('hex');

  if (headers.idempotencyKey) {
    const existing = await gw.service.findIdempotent(keyId, headers.idempotencyKey, bodyHash);
    if (existing) return { task: existing, replayed: true };
  } else if (headers.retryCount > 0) {
    const first = await gw.service.store.findByBodyHash(keyId, bodyHash, gw.service.now() - SDK_RETRY_WINDOW_MS);
    if (first) return { task: first, replayed: true };
  }

  let size = req.size;
  let reference: Buffer | undefined;
  let frameDecided = false;
  if (req.reference) {
    const input = req.reference;
    const bytes = Buffer.isBuffer(input) ? input : await loadReferenceBytes(input, gw.reference);
    const param = req.referenceParam ?? (Buffer.isBuffer(input) ? 'input_reference' : input.param);
    if (req.sizeFromReference) {
      size = req.sizeFromReference(await referenceDimensions(bytes, param, gw.reference));
      frameDecided = true;
    }
    reference = await fitReference(bytes, size, param, gw.reference);
  }
  const media: { name: string; data: Buffer; contentType: string }[] = [];
  let lastFrame: MediaInput | undefined;
  if (req.lastFrame) {
    const png = await fitReference(await loadReferenceBytes(req.lastFrame, gw.reference), size, req.lastFrame.param, gw.reference);
    media.push({ name: 'last_frame.png', data: png, contentType: 'image/png' });
    lastFrame = { role: 'last_frame', kind: 'image', blob: 'last_frame.png', contentType: 'image/png', bytes: png.length, width: size.width, height: size.height };
  }
  const references: MediaInput[] = [];
  for (const [i, input] of (req.references ?? []).entries()) {
    const bytes = await loadReferenceBytes(input, gw.reference);
    const image = await inspectImage(bytes, gw.reference.limits, input.param);
    const name = `reference-${i + 1}.${image.format === 'jpeg' ? 'jpg' : image.format}`;
    const contentType = IMAGE_MIME[image.format];
    media.push({ name, data: bytes, contentType });
    references.push({ role: 'reference', kind: 'image', blob: name, contentType, bytes: bytes.length, width: image.width, height: image.height });
  }
  const pair = pairOfSize(req.model, formatSize(size));
  const resolution = req.resolution ?? pair?.resolution ?? resolutionOfSize(size.width, size.height);
  const audio = req.audio ?? defaultAudio(req.model);
  // Only a mode that was asked for: the adapter may pick one from the rest (Kling: by resolution).
  const mode = req.mode;
  // The frame decided the shape: the ratio is the one it got, unless the caller asked for `adaptive`.
  const aspectRatio: AspectRatio =
    req.aspectRatio === 'adaptive' ? 'adaptive' : frameDecided || !req.aspectRatio ? (pair?.aspectRatio ?? req.aspectRatio ?? 'adaptive') : req.aspectRatio;
  const source = req.remixOf ? requestOf(req.remixOf) : undefined;
  const request: VideoRequest = {
    model: req.model.id,
    prompt: req.prompt,
    seconds: req.seconds,
    aspectRatio,
    resolution,
    width: size.width,
    height: size.height,
    audio,
    ...(mode !== undefined ? { mode } : {}),
    ...(req.negativePrompt !== undefined ? { negativePrompt: req.negativePrompt } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    ...(reference ? { firstFrame: { role: 'first_frame', kind: 'image', blob: 'reference.png', contentType: 'image/png', bytes: reference.length, width: size.width, height: size.height } } : {}),
    ...(lastFrame ? { lastFrame } : {}),
    references,
    options: req.options ?? source?.options ?? {},
  };
  const quote = await quoteTask(gw, key, req.model, { resolution, audio, mode, seconds: req.seconds }, req.remixOf);
  // What no upstream of the model can be told is a 400 now, not a failed task later.
  const refusal = req.remixOf ? null : gw.refusal?.(request, quote.provider);
  if (refusal) throw invalid(req.fieldName?.(refusal.param) ?? refusal.param, `${req.model.id} cannot do this here: ${refusal.message.replace(/\.$/, '')}.`, 'unsupported_by_upstream');
  return gw.service.create({
    keyId,
    origin: req.origin,
    kind: req.remixOf ? 'remix' : 'generate',
    model: req.model.id,
    prompt: req.prompt,
    seconds: req.seconds,
    width: size.width,
    height: size.height,
    params: req.params,
    provider: quote.provider,
    priceMicros: quote.priceMicros,
    remixedFrom: req.remixOf?.id ?? null,
    reference,
    request,
    media,
    bodyHash,
    idempotencyKey: headers.idempotencyKey,
  });
}

/** What identifies a reference in the request: the uploaded bytes' hash, or the URL as sent. */
function referenceFingerprint(ref: CanonicalCreate['reference']): string | null {
  if (!ref) return null;
  if (Buffer.isBuffer(ref)) return createHash('sha256').update(ref).digest('hex');
  return ref.kind === 'bytes' ? createHash('sha256').update(ref.data).digest('hex') : ref.url;
}
