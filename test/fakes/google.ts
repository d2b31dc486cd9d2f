/**
 * What the Google fakes (Vertex AI and the Gemini API) share (test fixture, never product code):
 * the google.rpc error envelope `{"error":{"code","message","status"}}`, and the validation of a
 * Veo `predictLongRunning` body as both APIs check it — images only as `bytesBase64Encoded` +
 * `mimeType` (`inlineData` → 400 INVALID_ARGUMENT), typed parameters, and the parameters one API
 * takes and the other rejects (seed, generateAudio, storageUri only on Vertex; webhookConfig only
 * on the Gemini API).
 */
import { jsonReply } from './http.js';
import type { Reply } from './http.js';
import type { ErrorFault, NotFoundFault } from './faults.js';
import { isRecord } from './util.js';

export const RPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export class GoogleError extends Error {
  constructor(
    readonly http: number,
    message: string,
    readonly status = RPC_STATUS[http] ?? 'UNKNOWN',
  ) {
    super(message);
  }
}

export function googleErrorReply(e: GoogleError, headers: Record<string, string> = {}): Reply {
  return jsonReply(e.http, { error: { code: e.http, message: e.message, status: e.status } }, headers);
}

/** A fault's error answer in Google's envelope. */
export function googleFaultReply(action: ErrorFault | NotFoundFault, notFoundMessage: string): Reply {
  if (action.type === 'notFound') return googleErrorReply(new GoogleError(404, notFoundMessage));
  const headers: Record<string, string> = { ...(action.headers ?? {}) };
  if (action.retryAfter !== undefined) headers['retry-after'] = action.retryAfter instanceof Date ? action.retryAfter.toUTCString() : String(action.retryAfter);
  if (action.body !== undefined) return { status: action.status, body: typeof action.body === 'string' ? action.body : JSON.stringify(action.body), contentType: action.contentType ?? 'application/json', headers };
  const message =
    action.message ??
    (action.status === 429
      ? 'Resource has been exhausted (e.g. check quota).'
      : action.status === 503
        ? 'The service is currently unavailable.'
        : action.status >= 500
          ? 'Internal error encountered.'
          : 'Request contains an invalid argument.');
  return googleErrorReply(new GoogleError(action.status, message, action.code ?? RPC_STATUS[action.status] ?? 'UNKNOWN'), headers);
}

export interface VeoParams {
  model: string;
  prompt: string;
  seconds: number;
  aspectRatio: string;
  resolution: string;
  generateAudio: boolean | undefined;
  seed: number | undefined;
  storageUri: string | undefined;
  images: { image: boolean; lastFrame: boolean; references: number };
}

const MODELS: Record<string, { seconds: number[]; resolutions: string[]; audio: boolean }> = {
  'veo-3.1-generate-001': { seconds: [4, 6, 8], resolutions: ['720p', '1080p', '4k'], audio: true },
  'veo-3.1-fast-generate-001': { seconds: [4, 6, 8], resolutions: ['720p', '1080p', '4k'], audio: true },
  'veo-3.1-lite-generate-001': { seconds: [4, 6, 8], resolutions: ['720p', '1080p'], audio: true },
  'veo-3.1-generate-preview': { seconds: [4, 6, 8], resolutions: ['720p', '1080p', '4k'], audio: true },
  'veo-3.1-fast-generate-preview': { seconds: [4, 6, 8], resolutions: ['720p', '1080p', '4k'], audio: true },
  'veo-3.1-lite-generate-preview': { seconds: [4, 6, 8], resolutions: ['720p', '1080p'], audio: true },
  'veo-2.0-generate-001': { seconds: [5, 6, 7, 8], resolutions: ['720p'], audio: false },
};

function checkImage(v: unknown, field: string): void {
  if (!isRecord(v)) throw new GoogleError(400, `Invalid value at '${field}': expected an Image.`);
  if (v.inlineData !== undefined) throw new GoogleError(400, '`inlineData` isn\'t supported by this model.');
  if (typeof v.bytesBase64Encoded === 'string') {
    if (!/^[A-Za-z0-9+/]+=*$/.test(v.bytesBase64Encoded)) throw new GoogleError(400, `Invalid value at '${field}.bytes_base64_encoded': not base64.`);
    if (v.mimeType !== 'image/png' && v.mimeType !== 'image/jpeg') throw new GoogleError(400, `Unsupported MIME type for ${field}: ${String(v.mimeType)}.`);
    return;
  }
  if (typeof v.gcsUri === 'string' && v.gcsUri.startsWith('gs://')) return;
  throw new GoogleError(400, `${field} needs bytesBase64Encoded and mimeType.`);
}

/** Checks a predictLongRunning body as the API named checks it; returns what the job was asked. */
export function validateVeoBody(model: string, b: unknown, api: 'gemini' | 'vertex'): VeoParams {
  const m = MODELS[model];
  if (!m) throw new GoogleError(404, `models/${model} is not found for API version v1beta, or is not supported for predictLongRunning.`);
  if (!isRecord(b)) throw new GoogleError(400, 'Invalid JSON payload received.');
  for (const k of Object.keys(b)) {
    if (k !== 'instances' && k !== 'parameters' && !(api === 'gemini' && k === 'webhookConfig')) throw new GoogleError(400, `Invalid JSON payload received. Unknown name "${k}": Cannot find field.`);
  }
  if (!Array.isArray(b.instances) || b.instances.length !== 1 || !isRecord(b.instances[0])) throw new GoogleError(400, 'instances must hold exactly one instance.');
  const inst = b.instances[0];
  if (typeof inst.prompt !== 'string' || inst.prompt.trim() === '') throw new GoogleError(400, 'The prompt is required.');
  if (inst.image !== undefined) checkImage(inst.image, 'instances[0].image');
  if (inst.lastFrame !== undefined) {
    checkImage(inst.lastFrame, 'instances[0].lastFrame');
    if (inst.image === undefined) throw new GoogleError(400, 'lastFrame requires image.');
  }
  let references = 0;
  if (inst.referenceImages !== undefined) {
    if (!Array.isArray(inst.referenceImages) || inst.referenceImages.length > 3) throw new GoogleError(400, 'referenceImages takes at most 3 images.');
    for (const [i, r] of inst.referenceImages.entries()) {
      if (!isRecord(r) || (r.referenceType !== 'asset' && r.referenceType !== 'style')) throw new GoogleError(400, `referenceImages[${i}].referenceType must be asset or style.`);
      checkImage(r.image, `instances[0].referenceImages[${i}].image`);
    }
    references = inst.referenceImages.length;
  }
  const p = isRecord(b.parameters) ? b.parameters : {};
  const d = p.durationSeconds ?? 8;
  // The Gemini docs table shows a string, the SDK sends a number: both are accepted there; Vertex wants an integer.
  const seconds = typeof d === 'number' ? d : api === 'gemini' && typeof d === 'string' && /^\d+$/.test(d) ? Number(d) : NaN;
  if (!Number.isInteger(seconds) || !m.seconds.includes(seconds)) throw new GoogleError(400, `The durationSeconds ${JSON.stringify(d)} is out of bound for ${model}; supported: ${m.seconds.join(', ')}.`);
  const aspectRatio = p.aspectRatio ?? '16:9';
  if (aspectRatio !== '16:9' && aspectRatio !== '9:16') throw new GoogleError(400, `Unsupported aspect ratio: ${JSON.stringify(aspectRatio)}.`);
  const resolution = p.resolution ?? '720p';
  if (typeof resolution !== 'string' || !m.resolutions.includes(resolution)) throw new GoogleError(400, `Unsupported resolution: ${JSON.stringify(resolution)} for ${model}.`);
  if (resolution !== '720p' && seconds !== 8) throw new GoogleError(400, `${resolution} is only supported with durationSeconds 8.`);
  if (references > 0 && seconds !== 8) throw new GoogleError(400, 'Reference images require durationSeconds 8.');
  const sampleCount = p.sampleCount ?? 1;
  if (typeof sampleCount !== 'number' || !Number.isInteger(sampleCount) || sampleCount < 1 || sampleCount > 4) throw new GoogleError(400, 'sampleCount must be an integer from 1 to 4.');
  if (p.negativePrompt !== undefined && typeof p.negativePrompt !== 'string') throw new GoogleError(400, 'negativePrompt must be a string.');
  if (api === 'gemini') {
    for (const k of ['seed', 'generateAudio', 'storageUri', 'fps', 'resizeMode', 'compressionQuality', 'pubsubTopic']) {
      if (p[k] !== undefined) throw new GoogleError(400, `${k} isn't supported by this model.`);
    }
    if (p.personGeneration !== undefined && !['allow_all', 'allow_adult', 'dont_allow'].includes(String(p.personGeneration))) throw new GoogleError(400, 'Invalid personGeneration.');
  } else {
    if (m.audio && typeof p.generateAudio !== 'boolean') throw new GoogleError(400, `generateAudio is required for ${model}.`);
    if (!m.audio && p.generateAudio !== undefined) throw new GoogleError(400, `generateAudio isn't supported by ${model}.`);
    if (p.seed !== undefined && (typeof p.seed !== 'number' || !Number.isInteger(p.seed) || p.seed < 0 || p.seed > 4_294_967_295)) throw new GoogleError(400, 'seed must be a uint32.');
    if (p.storageUri !== undefined && (typeof p.storageUri !== 'string' || !/^gs:\/\/[^/]+\//.test(p.storageUri))) throw new GoogleError(400, 'storageUri must be a gs:// URI.');
    if (p.personGeneration !== undefined && !['allow_adult', 'dont_allow', 'allow_all'].includes(String(p.personGeneration))) throw new GoogleError(400, 'Invalid personGeneration.');
  }
  return {
    model,
    prompt: inst.prompt,
    seconds,
    aspectRatio,
    resolution,
    generateAudio: typeof p.generateAudio === 'boolean' ? p.generateAudio : undefined,
    seed: typeof p.seed === 'number' ? p.seed : undefined,
    storageUri: typeof p.storageUri === 'string' ? p.storageUri : undefined,
    images: { image: inst.image !== undefined, lastFrame: inst.lastFrame !== undefined, references },
  };
}
