import type { Config } from '../../config.js';
import type { Task } from '../../core/task.js';
import { Semaphore } from '../../util/semaphore.js';
import type { CheckOutcome, FetchOutcome, Provider, StepContext, SubmitOutcome } from '../types.js';
import type { TaskFailure } from '../../core/errors.js';
import { MID_RENDER_FAILURE, MODERATION_FAILURE, scenarioFor } from './magic.js';
import { renderSandboxVideo } from './render.js';

interface Schedule {
  startAt: number;
  endAt: number;
}

/**
 * The built-in offline provider. It simulates a provider's queue and progress at a configurable
 * pace, then renders a real MP4 with ffmpeg (see render.ts). Magic prompts (magic.ts) make it
 * fail the way real providers fail.
 */
export class SandboxProvider implements Provider {
  readonly id = 'sandbox';
  private readonly renders: Semaphore;

  constructor(
    private readonly cfg: Config['sandbox'],
    /** Told the wall time of each finished render (metrics). */
    private readonly onRender: (ms: number) => void = () => {},
  ) {
    this.renders = new Semaphore(cfg.concurrency);
  }

  async submit(task: Task, ctx: StepContext): Promise<SubmitOutcome> {
    if (task.remixedFrom && !ctx.sourceVideo(task.remixedFrom)) return { ok: false, failure: sourceGone(task.remixedFrom) };
    const scenario = scenarioFor(task.prompt);
    const now = ctx.now();
    const startAt = now + (scenario.kind === 'long-queue' ? this.cfg.longQueueMs : this.cfg.queueMs);
    const renderMs = task.seconds * this.cfg.msPerVideoSecond * (scenario.kind === 'slow' ? 10 : 1);
    const schedule: Schedule = { startAt, endAt: startAt + renderMs };
    return { ok: true, upstreamId: null, state: { ...schedule }, nextCheckInMs: startAt - now };
  }

  async check(task: Task, ctx: StepContext): Promise<CheckOutcome> {
    const { startAt, endAt } = task.providerState as unknown as Schedule;
    const scenario = scenarioFor(task.prompt);
    const now = ctx.now();
    if (now < startAt) return { state: 'queued', nextCheckInMs: startAt - now };
    if (scenario.kind === 'moderation') return { state: 'failed', failure: MODERATION_FAILURE };
    if (now >= endAt) {
      return scenario.kind === 'fail' ? { state: 'failed', failure: MID_RENDER_FAILURE } : { state: 'succeeded' };
    }
    const span = endAt - startAt;
    const progress = Math.min(95, Math.max(1, Math.floor(((now - startAt) / span) * 95)));
    if (scenario.kind === 'fail' && progress >= scenario.atProgress) return { state: 'failed', failure: MID_RENDER_FAILURE };
    // Report progress about ten times over the run, never more often than every 100 ms.
    const tick = Math.max(100, Math.floor(span / 10));
    return { state: 'in_progress', progress, nextCheckInMs: Math.min(tick, endAt - now) };
  }

  async fetch(task: Task, ctx: StepContext): Promise<FetchOutcome | { ok: false; failure: TaskFailure }> {
    let remixSource: string | undefined;
    if (task.remixedFrom) {
      remixSource = ctx.sourceVideo(task.remixedFrom);
      if (!remixSource) return { ok: false, failure: sourceGone(task.remixedFrom) };
    }
    const out = await this.renders.run(async () => {
      const started = performance.now();
      const rendered = await renderSandboxVideo(
        {
          prompt: task.prompt,
          width: task.width,
          height: task.height,
          seconds: task.seconds,
          referenceImage: task.hasReference ? ctx.blobPath(`${task.id}/reference.png`) : undefined,
          remixSource,
        },
        ctx.workDir,
        { signal: ctx.signal },
      );
      this.onRender(performance.now() - started);
      return rendered;
    }, ctx.signal);
    return { ok: true, ...out };
  }
}

const sourceGone = (id: string): TaskFailure => ({
  code: 'source_unavailable',
  message: `The source video of this remix (video_${id}) is no longer available: it was deleted or has expired.`,
});
