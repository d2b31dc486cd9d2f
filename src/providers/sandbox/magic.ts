import type { TaskFailure } from '../../core/errors.js';

/**
 * Magic prompts: put one of these tokens anywhere in a prompt and the sandbox fails or stalls
 * the way real providers do, so client developers can test their error paths (like test card
 * numbers for payments). Matching ignores case. Documented in README.md.
 */
export type Scenario =
  | { kind: 'ok' }
  | { kind: 'moderation' }
  | { kind: 'fail'; atProgress: number }
  | { kind: 'long-queue' }
  | { kind: 'slow' };

export const MAGIC_TOKENS: Record<Exclude<Scenario['kind'], 'ok'>, { token: string; effect: string }> = {
  moderation: {
    token: 'sandbox:moderation',
    effect: 'the task is accepted, then fails with error code moderation_blocked before rendering starts',
  },
  fail: {
    token: 'sandbox:fail',
    effect: 'the task fails mid-render (at 40%) with error code video_generation_failed',
  },
  'long-queue': {
    token: 'sandbox:long-queue',
    effect: 'the task stays queued for VIDGATE_SANDBOX_LONG_QUEUE_MS (default 60 s), then completes',
  },
  slow: {
    token: 'sandbox:slow',
    effect: 'progress rises ten times slower than usual, then the task completes',
  },
};

export function scenarioFor(prompt: string): Scenario {
  const p = prompt.toLowerCase();
  if (p.includes(MAGIC_TOKENS.moderation.token)) return { kind: 'moderation' };
  if (p.includes(MAGIC_TOKENS.fail.token)) return { kind: 'fail', atProgress: 40 };
  if (p.includes(MAGIC_TOKENS['long-queue'].token)) return { kind: 'long-queue' };
  if (p.includes(MAGIC_TOKENS.slow.token)) return { kind: 'slow' };
  return { kind: 'ok' };
}

export const MODERATION_FAILURE: TaskFailure = {
  code: 'moderation_blocked',
  message: 'Your request was blocked by our moderation system. (sandbox: magic prompt sandbox:moderation)',
};

export const MID_RENDER_FAILURE: TaskFailure = {
  code: 'video_generation_failed',
  message: 'The video could not be generated: the renderer failed mid-render. (sandbox: magic prompt sandbox:fail)',
};
