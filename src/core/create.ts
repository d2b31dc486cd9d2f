import { createHash } from 'node:crypto';
import type { ModelSpec, Size } from './catalog.js';
import { defaultAudio, formatSize, pairOfSize } from './catalog.js';
import { resolutionOfSize } from './model-config.js';
import type { Resolution } from './video-request.js';
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
}

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
      }),
    )
    .digest('hex');

  if (headers.idempotencyKey) {
    const existing = gw.service.findIdempotent(keyId, headers.idempotencyKey, bodyHash);
    if (existing) return { task: existing, replayed: true };
  } else if (headers.retryCount > 0) {
    const first = gw.service.store.findByBodyHash(keyId, bodyHash, gw.service.now() - SDK_RETRY_WINDOW_MS);
    if (first) return { task: first, replayed: true };
  }

  let size = req.size;
  let reference: Buffer | undefined;
  if (req.reference) {
    const input = req.reference;
    const bytes = Buffer.isBuffer(input) ? input : await loadReferenceBytes(input, gw.reference);
    const param = req.referenceParam ?? (Buffer.isBuffer(input) ? 'input_reference' : input.param);
    if (req.sizeFromReference) size = req.sizeFromReference(await referenceDimensions(bytes, param, gw.reference));
    reference = await fitReference(bytes, size, param, gw.reference);
  }
  const resolution = req.resolution ?? pairOfSize(req.model, formatSize(size))?.resolution ?? resolutionOfSize(size.width, size.height);
  const quote = quoteTask(gw, key, req.model, { resolution, audio: req.audio ?? defaultAudio(req.model), mode: req.mode, seconds: req.seconds }, req.remixOf);
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
