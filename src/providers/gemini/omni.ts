import type { VideoRequest } from '../../core/video-request.js';
import type { FailureKind, UpstreamState, UpstreamStatus } from '../types.js';
import { UpstreamError } from '../types.js';
import { asRecord, str } from '../parse.js';
import type { Json } from '../parse.js';
import { googleKind } from '../veo.js';

/** Veo videos on the Gemini API are kept 2 days; Files API files 48 hours. */
export const VEO_RESULT_TTL_MS = 2 * 86_400_000;
export const OMNI_RESULT_TTL_MS = 48 * 3_600_000;

/**
 * Interaction status words (js-genai `InteractionStatus`, upstreams.md §3B, §14). `requires_action`
 * means the model waits for a tool result, which a video request never provides: a failure.
 * Case-insensitive; an unknown word is waiting (flagged).
 */
export const INTERACTION_STATUS_TABLE: Readonly<Record<string, UpstreamState>> = {
  queued: 'waiting',
  in_progress: 'running',
  completed: 'succeeded',
  failed: 'failed',
  incomplete: 'failed',
  budget_exceeded: 'failed',
  requires_action: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};

export function parseInteractionWord(raw: string): UpstreamStatus {
  const known = INTERACTION_STATUS_TABLE[raw.toLowerCase()];
  return known ? { state: known, raw } : { state: 'waiting', raw, unrecognised: true };
}

/** Files API states: `PROCESSING` (not downloadable yet), `ACTIVE`, `FAILED`. */
export function parseFileState(file: Json): UpstreamStatus {
  const state = str(file.state) ?? 'STATE_UNSPECIFIED';
  const raw = `completed; file ${state}`;
  switch (state.toUpperCase()) {
    case 'ACTIVE':
      return { state: 'succeeded', raw };
    case 'FAILED': {
      const e = asRecord(file.error);
      const message = str(e?.message) ?? 'The video file could not be processed.';
      return { state: 'failed', raw, error: { message, kind: 'internal' } };
    }
    default:
      return { state: 'running', raw };
  }
}

/** The file id of a Files API URI (`…/files/<id>:download?alt=media`, `…/files/<id>`). */
export function fileIdOf(uri: string): string {
  const m = /\/files\/([^/:?]+)/.exec(uri);
  if (!m) throw new UpstreamError('malformed', 'the video URI names no file');
  return m[1]!;
}

/** The video of an interaction: `steps[]` → `model_output` → `content[]` → `video` (or the SDK's `output_video`). */
export function findVideo(t: Json): Json | undefined {
  const steps = Array.isArray(t.steps) ? t.steps : [];
  for (const step of steps.map(asRecord)) {
    if (!step || step.type !== 'model_output' || !Array.isArray(step.content)) continue;
    const v = step.content.map(asRecord).find((c) => c && c.type === 'video' && (str(c.data) || str(c.uri)));
    if (v) return v;
  }
  const out = asRecord(t.output_video);
  return out && (str(out.data) || str(out.uri)) ? out : undefined;
}

/** Text the model said instead of a video (a refusal), if any. */
function modelText(t: Json): string | undefined {
  const steps = Array.isArray(t.steps) ? t.steps : [];
  const texts: string[] = [];
  for (const step of steps.map(asRecord)) {
    if (!step || step.type !== 'model_output' || !Array.isArray(step.content)) continue;
    for (const c of step.content.map(asRecord)) if (c?.type === 'text' && str(c.text)) texts.push(str(c.text)!);
  }
  return texts.length ? texts.join(' ') : str(t.output_text);
}

/** Why an interaction did not give a video: its `errors[]`, else what the model said, by its status. */
export function interactionError(t: Json, s: UpstreamStatus, fallback?: string): NonNullable<UpstreamStatus['error']> {
  const errors = Array.isArray(t.errors) ? t.errors.map(asRecord).filter((e): e is Json => !!e) : [];
  const e = errors[0];
  const code = str(e?.code) ?? (s.raw === 'completed' ? undefined : s.raw);
  const message = str(e?.message) ?? modelText(t) ?? fallback ?? (s.raw === 'budget_exceeded' ? 'The interaction exceeded its budget.' : s.raw === 'requires_action' ? 'The interaction waits for a tool result; a video request cannot give one.' : undefined);
  let kind: FailureKind = googleKind(code && /^[A-Z_]+$/.test(code) ? code : undefined, undefined, message);
  if (s.raw.toLowerCase() === 'budget_exceeded') kind = 'quota';
  return { ...(code ? { code } : {}), ...(message ? { message } : {}), kind };
}

/** The Omni task of a request. */
export function omniTask(r: Pick<VideoRequest, 'firstFrame' | 'references'>): string {
  if (r.references.length) return 'reference_to_video';
  return r.firstFrame ? 'image_to_video' : 'text_to_video';
}

const RATIOS = ['16:9', '9:16'];
const RESOLUTIONS = ['720p', '1080p', '4k'];
/** Duration follows the prompt: 3 to 10 seconds at 24 fps (the `duration` field's values are undocumented, so it is not sent). */
const SECONDS = { min: 3, max: 10 };
const REFERENCES_MAX = 3;

type Refusal = { param: string; message: string } | null;

/** What Gemini Omni cannot do with this request. */
export function refuseOmni(req: VideoRequest, upstreamModel: string): Refusal {
  const no = (param: string, message: string): Refusal => ({ param, message: `${upstreamModel} ${message}` });
  if (req.seconds < SECONDS.min || req.seconds > SECONDS.max) return no('seconds', `makes videos of ${SECONDS.min} to ${SECONDS.max} seconds (their length follows the prompt), not ${req.seconds}.`);
  const tier = req.resolution === 'standard' ? '720p' : req.resolution;
  if (!RESOLUTIONS.includes(tier)) return no('resolution', `makes ${RESOLUTIONS.join(', ')} videos, not ${tier}.`);
  const ratio = req.aspectRatio === 'adaptive' ? (req.width >= req.height ? '16:9' : '9:16') : req.aspectRatio;
  if (!RATIOS.includes(ratio)) return no('aspect_ratio', `makes ${RATIOS.join(' and ')} videos, not ${req.aspectRatio}.`);
  if (req.seed !== undefined) return no('seed', 'takes no seed.');
  if (req.negativePrompt !== undefined) return no('negative_prompt', 'takes no negative prompt (describe what to avoid in the prompt).');
  if (req.mode !== undefined) return no('mode', 'has no modes.');
  if (req.lastFrame) return no('last_frame', 'takes no last frame.');
  if (req.firstFrame && req.firstFrame.kind !== 'image') return no('first_frame', 'takes an image as first frame.');
  if (req.references.some((r) => r.kind !== 'image')) return no('references', 'takes reference images only here (reference video needs the Files API).');
  if (req.references.length > REFERENCES_MAX) return no('references', `takes at most ${REFERENCES_MAX} reference images.`);
  if (req.references.length && req.firstFrame) return no('references', 'takes either a first frame or reference images, not both.');
  const keys = Object.keys(req.options);
  if (keys.length) return no(keys[0]!, 'takes no such option.');
  return null;
}
