import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import sharp from 'sharp';
import type { BlobStore } from '../assets/blobs.js';
import { digestFile } from '../assets/blobs.js';
import type { TaskService } from '../core/service.js';
import type { Asset, Task, Variant } from '../core/task.js';
import { CONTENT_TYPES, FILE_NAMES } from '../core/task.js';
import { deriveStills } from '../media/derive.js';
import { probeVideo } from '../media/probe.js';
import type { FetchOutcome, Provider, StepContext } from '../providers/types.js';
import { RetryLater } from '../providers/types.js';

export interface StepDeps {
  service: TaskService;
  blobs: BlobStore;
  provider: (task: Task) => Provider;
  owner: string;
  log: FastifyBaseLogger;
}

/** Consecutive unexpected errors tolerated before a task is failed. */
const MAX_ERRORS = 5;
const ERRORS_KEY = '__errors';

/** Run one step of a claimed task and persist its outcome (compare-and-set on the lease). */
export async function runStep(task: Task, deps: StepDeps, signal: AbortSignal): Promise<void> {
  const { service, owner } = deps;
  const provider = deps.provider(task);
  const ctx: StepContext = {
    signal,
    now: () => service.now(),
    workDir: '',
    blobPath: (rel) => deps.blobs.resolve(rel),
    sourceVideo: (id) => {
      const asset = service.store.getAsset(id, 'video');
      return asset ? deps.blobs.resolve(asset.path) : undefined;
    },
    checkpoint: (patch) => service.checkpoint(task, owner, patch),
  };
  const state = (extra?: Record<string, unknown>): Record<string, unknown> => ({ ...task.providerState, ...extra, [ERRORS_KEY]: 0 });

  try {
    switch (task.stage) {
      case 'submit': {
        const out = await provider.submit(task, ctx);
        if (!out.ok) {
          service.fail(task, owner, out.failure);
          return;
        }
        const recorded = service.advance(task, owner, {
          stage: 'wait',
          upstreamId: out.upstreamId,
          providerState: state(out.state),
          nextRunAt: service.now() + out.nextCheckInMs,
          ...(out.provider ? { provider: out.provider } : {}),
        });
        // Cancelled (or deleted) while the submit was on its way: the job it made is cancelled too.
        if (!recorded && out.upstreamId && service.store.get(task.id)?.status === 'cancelled') {
          await provider.cancel?.({ ...task, upstreamId: out.upstreamId, provider: out.provider ?? task.provider });
        }
        return;
      }
      case 'wait': {
        const out = await provider.check(task, ctx);
        if (out.state === 'failed') {
          service.fail(task, owner, out.failure, out.providerState);
        } else if (out.state === 'succeeded') {
          service.advance(task, owner, {
            stage: 'fetch',
            status: 'in_progress',
            startedAt: task.startedAt ?? service.now(),
            providerState: state(out.providerState),
            nextRunAt: service.now(),
          });
        } else {
          // Status never goes back: an upstream that reports queued again after running stays in_progress.
          const running = out.state === 'in_progress' || task.status === 'in_progress';
          service.advance(task, owner, {
            status: running ? 'in_progress' : 'queued',
            progress: running ? Math.max(task.progress, Math.min(99, out.progress ?? task.progress)) : 0,
            startedAt: running ? (task.startedAt ?? service.now()) : task.startedAt,
            providerState: state(out.providerState),
            nextRunAt: service.now() + out.nextCheckInMs,
          });
        }
        return;
      }
      case 'fetch': {
        ctx.workDir = await deps.blobs.scratch(task.id);
        const out = await provider.fetch(task, ctx);
        if (!out.ok) {
          service.fail(task, owner, out.failure);
          return;
        }
        const { rel, durationSeconds } = await storeResult(task, out, ctx.workDir, deps.blobs, signal);
        const assets: Omit<Asset, 'taskId'>[] = [];
        for (const variant of Object.keys(FILE_NAMES) as Variant[]) {
          const file = `${rel}/${FILE_NAMES[variant]}`;
          assets.push({ variant, path: file, contentType: CONTENT_TYPES[variant], ...(await digestFile(deps.blobs.resolve(file))) });
        }
        if (!service.complete(task, owner, assets, durationSeconds)) await deps.blobs.remove(rel);
        return;
      }
      case 'done':
        return;
    }
  } catch (err) {
    if (signal.aborted) throw err;
    // The provider may have checkpointed state during this step: build on what is stored, not on
    // the copy the step started with.
    const stored = service.store.get(task.id)?.providerState ?? task.providerState;
    const errors = Number(stored[ERRORS_KEY] ?? 0) + 1;
    if (err instanceof RetryLater) {
      if (err.opts.quiet) deps.log.debug({ task: task.id, reason: err.message }, 'step deferred');
      else deps.log.info({ task: task.id, reason: err.message }, 'step will be retried');
    } else {
      deps.log.warn({ err, task: task.id, stage: task.stage, errors }, 'step failed');
      if (errors >= MAX_ERRORS) {
        service.fail(task, owner, {
          code: 'internal_error',
          message: `The gateway could not process this video after ${errors} attempts (${task.stage} step).`,
        });
        return;
      }
    }
    const backoff = err instanceof RetryLater && err.afterMs !== undefined ? err.afterMs : Math.min(60_000, 500 * 2 ** errors);
    service.advance(task, owner, {
      providerState:
        err instanceof RetryLater
          ? { ...stored, ...err.opts.state, [ERRORS_KEY]: stored[ERRORS_KEY] ?? 0 }
          : { ...stored, [ERRORS_KEY]: errors },
      nextRunAt: service.now() + backoff,
    });
  } finally {
    if (ctx.workDir) await rm(ctx.workDir, { recursive: true, force: true });
  }
}

/**
 * Check the video, make sure all three variants exist under their canonical names, and move the
 * scratch directory into blob storage. Returns the stored directory (relative) and the duration.
 */
async function storeResult(
  task: Task,
  out: FetchOutcome,
  workDir: string,
  blobs: BlobStore,
  signal: AbortSignal,
): Promise<{ rel: string; durationSeconds: number }> {
  const target = (v: Variant): string => path.join(workDir, FILE_NAMES[v]);
  if (out.video !== target('video')) await rename(out.video, target('video'));
  const info = out.probed ?? (await probeVideo(target('video'), { signal }));
  if (info.width <= 0 || info.height <= 0 || info.durationSeconds <= 0) {
    throw new Error(`task ${task.id}: result is not a playable video`);
  }
  // What the provider says it delivered (and charged for) wins over our own measurement.
  const durationSeconds = out.reportedSeconds ?? info.durationSeconds;
  if (!out.thumbnail || !out.spritesheet) {
    await deriveStills(target('video'), { thumbnail: target('thumbnail'), spritesheet: target('spritesheet') }, info);
  } else {
    await normaliseStill(out.thumbnail, target('thumbnail'), 'webp');
    await normaliseStill(out.spritesheet, target('spritesheet'), 'jpeg');
  }
  return { rel: await blobs.adopt(task.id, workDir), durationSeconds };
}

/** Convert a still to the format the variant promises (an upstream may send png or jpg thumbnails). */
async function normaliseStill(src: string, dest: string, format: 'webp' | 'jpeg'): Promise<void> {
  const meta = await sharp(src).metadata();
  if (meta.format === format) {
    if (src !== dest) await rename(src, dest);
    return;
  }
  await sharp(src)[format]().toFile(dest);
}
