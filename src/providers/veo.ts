import type { VideoRequest } from '../core/video-request.js';
import type { FailureKind, UpstreamMedia, UpstreamStatus } from './types.js';
import { UpstreamError } from './types.js';
import { imageWithin } from './media.js';
import { num, str } from './parse.js';
import type { Json } from './parse.js';

/**
 * What Google's two Veo protocols share (upstreams.md §3A, §3C): the `predictLongRunning` body
 * (`instances[0]` with the prompt and the images as `bytesBase64Encoded` + `mimeType`,
 * `parameters` with typed fields), the long-running operation it returns, google.rpc errors, and
 * what each Veo model takes. The Gemini API and Vertex AI differ in a few parameters (seed,
 * generateAudio, storageUri on Vertex only; webhookConfig on the Gemini API only), and in where
 * the result is (`generateVideoResponse.generatedSamples[].video.uri` vs `videos[]`).
 */
export type VeoApi = 'gemini' | 'vertex';

export interface VeoModel {
  seconds: readonly number[];
  /** Lengths the higher resolutions are made at (1080p and 4k: 8 s only). */
  hdSeconds: readonly number[];
  resolutions: readonly string[];
  /** Native sound: `optional` on Vertex (generateAudio), `always` on the Gemini API for Veo 3.x. */
  audio: boolean;
  lastFrame: boolean;
  referenceImages: number;
}

const RATIOS = ['16:9', '9:16'] as const;

/** Veo models by their upstream name (`veo-3.1-generate-001`, `veo-3.1-fast-generate-preview`, `veo-2.0-generate-001`, …). */
export function veoModel(name: string): VeoModel {
  const n = name.toLowerCase();
  if (/^veo-2/.test(n)) return { seconds: [5, 6, 7, 8], hdSeconds: [], resolutions: ['720p'], audio: false, lastFrame: true, referenceImages: 0 };
  if (/^veo-3\.0/.test(n)) return { seconds: [4, 6, 8], hdSeconds: [8], resolutions: ['720p', '1080p'], audio: true, lastFrame: false, referenceImages: 0 };
  if (/lite/.test(n)) return { seconds: [4, 6, 8], hdSeconds: [8], resolutions: ['720p', '1080p'], audio: true, lastFrame: false, referenceImages: 0 };
  // Veo 3.1 standard and fast, and any later name: the most capable rules; the upstream has the last word.
  return { seconds: [4, 6, 8], hdSeconds: [8], resolutions: ['720p', '1080p', '4k'], audio: true, lastFrame: true, referenceImages: 3 };
}

/** The tier a request asks for, in Veo's words (Sora's `standard` reads as 720p). */
export function veoResolution(req: Pick<VideoRequest, 'resolution'>): string {
  return req.resolution === 'standard' ? '720p' : req.resolution;
}

/** Veo's ratio for a request: as asked, or — `adaptive`, frames fitted to the size — by the frame's shape. */
export function veoRatio(req: Pick<VideoRequest, 'aspectRatio' | 'width' | 'height'>): string {
  if (req.aspectRatio !== 'adaptive') return req.aspectRatio;
  return req.width >= req.height ? '16:9' : '9:16';
}

/** Images travel inline as base64 in a JSON body (the Gemini API takes 20 MB a request): at most 4.5 MB each. */
export const VEO_IMAGE_MAX_BYTES = 4.5 * 1024 * 1024;
const PROMPT_MAX = 4000;
const SEED_MAX = 4_294_967_295;

type Refusal = { param: string; message: string } | null;

/** What a Veo model cannot do with this request, on this API. */
export function refuseVeo(req: VideoRequest, upstreamModel: string, api: VeoApi): Refusal {
  const m = veoModel(upstreamModel);
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (!m.seconds.includes(req.seconds)) return no('seconds', `makes videos of ${m.seconds.join(', ')} seconds, not ${req.seconds}.`);
  if (req.prompt.length > PROMPT_MAX) return no('prompt', `takes prompts of at most ${PROMPT_MAX} characters.`);
  const tier = veoResolution(req);
  if (!m.resolutions.includes(tier)) return no('resolution', `makes ${m.resolutions.join(', ')} videos, not ${tier}.`);
  if (tier !== '720p' && !m.hdSeconds.includes(req.seconds)) return no('seconds', `makes ${tier} videos of ${m.hdSeconds.join(', ')} seconds only.`);
  const ratio = veoRatio(req);
  if (!(RATIOS as readonly string[]).includes(ratio)) return no('aspect_ratio', `makes ${RATIOS.join(' and ')} videos, not ${req.aspectRatio}.`);
  if (req.audio && !m.audio) return no('audio', 'makes no sound.');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  if (req.seed !== undefined) {
    if (api === 'gemini') return no('seed', 'takes no seed on the Gemini API.');
    if (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > SEED_MAX) return no('seed', `takes a seed from 0 to ${SEED_MAX}.`);
  }
  if (req.negativePrompt !== undefined && req.negativePrompt.length > PROMPT_MAX) return no('negative_prompt', `takes negative prompts of at most ${PROMPT_MAX} characters.`);
  if (req.lastFrame && !req.firstFrame) return no('last_frame', 'needs a first frame with a last frame.');
  if (req.lastFrame && !m.lastFrame) return no('last_frame', 'takes no last frame.');
  for (const f of [req.firstFrame, req.lastFrame]) if (f && f.kind !== 'image') return no(f.role, 'takes images as frames.');
  if (req.references.some((r) => r.kind !== 'image')) return no('references', 'takes reference images only (no reference video or audio).');
  if (req.references.length > m.referenceImages) return no('references', m.referenceImages ? `takes at most ${m.referenceImages} reference images.` : 'takes no reference images.');
  if (req.references.length > 0) {
    if (req.firstFrame) return no('references', 'takes either frames or reference images, not both.');
    if (req.seconds !== 8) return no('seconds', 'makes videos from reference images of 8 seconds only.');
  }
  const unknown = Object.keys(req.options).filter((k) => k !== 'person_generation' && k !== 'enhance_prompt' && k !== 'resize_mode');
  if (unknown.length) return no(unknown[0]!, 'takes no such option.');
  if (req.options.resize_mode !== undefined && (api !== 'vertex' || !['pad', 'crop'].includes(String(req.options.resize_mode)))) return no('resize_mode', api === 'vertex' ? "takes resize_mode 'pad' or 'crop'." : 'takes no resize_mode on the Gemini API.');
  if (req.options.enhance_prompt !== undefined && typeof req.options.enhance_prompt !== 'boolean') return no('enhance_prompt', 'takes enhance_prompt as true or false.');
  const pg = req.options.person_generation;
  const allowed = api === 'vertex' ? ['allow_adult', 'dont_allow', 'allow_all'] : ['allow_all', 'allow_adult', 'dont_allow'];
  if (pg !== undefined && !allowed.includes(String(pg))) return no('person_generation', `takes person_generation ${allowed.join(', ')}.`);
  return null;
}

/** An image as Veo wants it: base64 bytes and a JPEG or PNG MIME type (others re-encoded as PNG). */
export async function veoImage(m: UpstreamMedia): Promise<{ bytesBase64Encoded: string; mimeType: string }> {
  let data = m.data;
  let contentType = m.contentType;
  if (contentType !== 'image/png' && contentType !== 'image/jpeg') {
    const { default: sharp } = await import('sharp');
    data = await sharp(data).png().toBuffer();
    contentType = 'image/png';
  }
  const fitted = await imageWithin({ ...m, data, contentType }, VEO_IMAGE_MAX_BYTES);
  return { bytesBase64Encoded: fitted.data.toString('base64'), mimeType: fitted.contentType };
}

/** The `predictLongRunning` body of a request (instances[0] and parameters); the API's own additions are the caller's. */
export async function veoBody(req: VideoRequest<UpstreamMedia>, upstreamModel: string, api: VeoApi, o: { personGeneration?: string }): Promise<{ instances: Json[]; parameters: Json }> {
  const m = veoModel(upstreamModel);
  const instance: Json = { prompt: req.prompt };
  if (req.firstFrame) instance.image = await veoImage(req.firstFrame);
  if (req.lastFrame) instance.lastFrame = await veoImage(req.lastFrame);
  if (req.references.length) {
    instance.referenceImages = await Promise.all(req.references.map(async (r) => ({ image: await veoImage(r), referenceType: 'asset' })));
  }
  const parameters: Json = {
    aspectRatio: veoRatio(req),
    resolution: veoResolution(req),
    durationSeconds: req.seconds,
    sampleCount: 1,
  };
  // Seed, sound and resize mode are Vertex-only parameters (the Gemini API rejects them; refuseVeo keeps them out).
  if (api === 'vertex') {
    if (m.audio) parameters.generateAudio = req.audio;
    if (req.seed !== undefined) parameters.seed = req.seed;
    if (req.options.resize_mode !== undefined) parameters.resizeMode = req.options.resize_mode;
  }
  if (req.negativePrompt !== undefined) parameters.negativePrompt = req.negativePrompt;
  if (typeof req.options.enhance_prompt === 'boolean') parameters.enhancePrompt = req.options.enhance_prompt;
  const person = req.options.person_generation ?? o.personGeneration;
  if (person !== undefined) parameters.personGeneration = person;
  return { instances: [instance], parameters };
}

/** google.rpc status names by their numeric code (an operation's `error.code` is numeric). */
const RPC_NAMES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

/** Words in a Veo reason that mean its safety filters stopped it (the code is often just INVALID_ARGUMENT). */
const SAFETY = /usage guidelines|responsible ai|safety|violat|sensitive|harmful|prohibited|celebrity|child|filtered|blocked/i;

/** What a google.rpc error is about, by its status name (or HTTP status) and its words. */
export function googleKind(status: string | undefined, httpStatus: number | undefined, message: string | undefined): FailureKind {
  // A bad key is answered 400 INVALID_ARGUMENT (reason API_KEY_INVALID): the channel is broken, not the request.
  if (message && /api key not valid|api_key_invalid|api key expired/i.test(message)) return 'auth';
  if (message && SAFETY.test(message)) return 'moderation';
  switch (status) {
    case 'INVALID_ARGUMENT':
    case 'FAILED_PRECONDITION':
    case 'OUT_OF_RANGE':
    case 'NOT_FOUND':
      return 'invalid';
    case 'UNAUTHENTICATED':
    case 'PERMISSION_DENIED':
      return 'auth';
    case 'RESOURCE_EXHAUSTED':
      // "Resource has been exhausted (e.g. check quota)" is Google's rate limit; an exhausted spend or billing quota says so.
      return message && /exceeded your current quota|billing|spend|limit: 0|prepayment|credits? (are|is) depleted/i.test(message) ? 'quota' : 'rate_limit';
    case 'DEADLINE_EXCEEDED':
      return 'timeout';
  }
  if (httpStatus === 400) return 'invalid';
  if (httpStatus === 401 || httpStatus === 403) return 'auth';
  if (httpStatus === 429) return 'rate_limit';
  if (httpStatus === 504) return 'timeout';
  return 'internal';
}

/** An HTTP error in Google's envelope `{error:{code,message,status}}`, with its kind read. */
export function googleHttpError(err: UpstreamError): UpstreamError {
  if (err.kind !== 'http') return err;
  const d = err.detail;
  // `type` carries the envelope's `status` word (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, …).
  const status = d.type && /^[A-Z_]+$/.test(d.type) ? d.type : undefined;
  const kind = googleKind(status, d.status, d.upstreamMessage);
  return new UpstreamError('http', err.message, { ...d, ...(status ? { code: status } : {}), kind });
}

/** A failed operation's error `{code, message}` as a job error. */
export function operationError(e: Json): NonNullable<UpstreamStatus['error']> {
  const numeric = num(e.code);
  const code = typeof e.code === 'string' && !/^\d+$/.test(e.code) ? e.code : numeric !== undefined ? (RPC_NAMES[numeric] ?? String(numeric)) : undefined;
  const message = str(e.message);
  return { ...(code ? { code } : {}), ...(message ? { message } : {}), kind: googleKind(code, undefined, message) };
}

/** A filtered result: every sample removed by Responsible-AI filters, with their reasons. */
export function filteredError(response: Json): NonNullable<UpstreamStatus['error']> {
  const reasons = Array.isArray(response.raiMediaFilteredReasons) ? response.raiMediaFilteredReasons.map((r) => str(r)).filter((r): r is string => !!r) : [];
  const count = num(response.raiMediaFilteredCount) ?? 0;
  const message = reasons.length ? reasons.join(' ') : count > 0 ? `${count} video(s) removed by Responsible AI filters.` : 'The video was removed by Responsible AI filters.';
  return { code: 'RAI_MEDIA_FILTERED', message, kind: 'moderation' };
}

/** The words for a Veo operation's state (it has only `done`): every case named here. */
export const VEO_STATES = {
  running: { state: 'running', raw: 'done:false' },
  succeeded: { state: 'succeeded', raw: 'done:true' },
  failed: { state: 'failed', raw: 'done:true error' },
  filtered: { state: 'failed', raw: 'done:true filtered' },
} as const;
