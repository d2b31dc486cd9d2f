import type { Config } from '../../config.js';
import type { Task } from '../../core/task.js';
import { requestOf } from '../../core/video-request.js';
import type { VideoRequest } from '../../core/video-request.js';
import { Semaphore } from '../../util/semaphore.js';
import type { CheckOutcome, FetchOutcome, Provider, StepContext, SubmitOutcome } from '../types.js';
import type { TaskFailure } from '../../core/errors.js';
import { MID_RENDER_FAILURE, MODERATION_FAILURE, scenarioFor } from './magic.js';
import { renderSandboxVideo } from './render.js';
import type { RenderSpec } from './render.js';

interface Schedule {
  startAt: number;
  endAt: number;
}

/**
 * What the sandbox renders for a request: its size, length, audio, seed, first and last frames and
 * reference images (references of other kinds are not shown), as local files; media that is no
 * longer stored is left out.
 */
export async function renderSpecOf(request: VideoRequest, blobFile: (key: string) => Promise<string | undefined>): Promise<RenderSpec> {
  const firstFrame = request.firstFrame && (await blobFile(request.firstFrame.blob));
  const lastFrame = request.lastFrame && (await blobFile(request.lastFrame.blob));
  const references: string[] = [];
  for (const m of request.references) {
    const file = m.kind === 'image' ? await blobFile(m.blob) : undefined;
    if (file) references.push(file);
  }
  return {
    prompt: request.prompt,
    width: request.width,
    height: request.height,
    seconds: request.seconds,
    audio: request.audio,
    ...(request.seed !== undefined ? { seed: request.seed } : {}),
    ...(firstFrame ? { firstFrame } : {}),
    ...(lastFrame ? { lastFrame } : {}),
    references,
  };
}

/**
 * The built-in offline provider. It simulates a provider's queue and progress at a configurable
 * pace, then renders the task's canonical request as a real MP4 with ffmpeg (see render.ts).
 * Magic prompts (magic.ts) make it fail the way real providers fail.
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

  // A remix whose source went away meanwhile fails in fetch(), when the source is read.
  async submit(task: Task, ctx: StepContext): Promise<SubmitOutcome> {
    const scenario = scenarioFor(task.prompt);
    const now = ctx.now();
    const startAt = now + (scenario.kind === 'long-queue' ? this.cfg.longQueueMs : this.cfg.queueMs);
    const renderMs = requestOf(task).seconds * this.cfg.msPerVideoSecond * (scenario.kind === 'slow' ? 10 : 1);
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
      remixSource = await ctx.sourceVideo(task.remixedFrom);
      if (!remixSource) return { ok: false, failure: sourceGone(task.remixedFrom) };
    }
    const spec: RenderSpec = { ...(await renderSpecOf(requestOf(task), (key) => ctx.blobFile(key))), ...(remixSource ? { remixSource } : {}) };
    const out = await this.renders.run(async () => {
      const started = performance.now();
      const rendered = await renderSandboxVideo(spec, ctx.workDir, { signal: ctx.signal });
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
