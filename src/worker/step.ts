import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import sharp from 'sharp';
import type { BlobStore } from '../assets/blobs.js';
import { digestFile, StorageError } from '../assets/blobs.js';
import type { TaskFailure } from '../core/errors.js';
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
/**
 * What a caller reads when the gateway itself failed (a bug, a tool that would not run): no
 * server path, no internal cause (those are in the log), and what to do about it.
 */
export const INTERNAL_FAILURE_MESSAGE =
  'The gateway failed to make this video because of a problem on its own side (not your request, not the upstream provider); you were not charged. Try again later; if it keeps happening, tell the operator this video id.';
const ERRORS_KEY = '__errors';
/** Storage trouble of the gateway: { since, n, until } (see storageTrouble). */
const STORAGE_KEY = '__storage';
/** How long storage trouble is waited out when the result has no known expiry. */
const STORAGE_MAX_WAIT_MS = 24 * 3600_000;
/** Retries while storage fails: 0.5 s doubling up to 30 s. */
const STORAGE_BACKOFF_MAX_MS = 30_000;

interface StorageTrouble {
  since: number;
  n: number;
  until: number;
}

/** Run one step of a claimed task and persist its outcome (compare-and-set on the lease). */
export async function runStep(task: Task, deps: StepDeps, signal: AbortSignal): Promise<void> {
  const { service, owner } = deps;
  const provider = deps.provider(task);
  const ctx: StepContext = {
    signal,
    now: () => service.now(),
    workDir: '',
    readBlob: (key) => deps.blobs.read(key),
    blobFile: (key) => deps.blobs.localFile(key, ctx.workDir, signal),
    sourceVideo: async (id) => {
      const asset = await service.store.getAsset(id, 'video');
      return asset ? deps.blobs.localFile(asset.path, ctx.workDir, signal) : undefined;
    },
    checkpoint: (patch) => service.checkpoint(task, owner, patch),
  };
  const state = (extra?: Record<string, unknown>): Record<string, unknown> => {
    const { [STORAGE_KEY]: _, ...rest } = { ...task.providerState, ...extra };
    return { ...rest, [ERRORS_KEY]: 0 };
  };
  let fetched: FetchOutcome | undefined;

  try {
    switch (task.stage) {
      case 'submit': {
        const out = await provider.submit(task, ctx);
        if (!out.ok) {
          await service.fail(task, owner, out.failure);
          return;
        }
        let recorded: boolean;
        try {
          recorded = await service.advance(task, owner, {
            stage: 'wait',
            upstreamId: out.upstreamId,
            providerState: state(out.state),
            nextRunAt: service.now() + out.nextCheckInMs,
            ...(out.provider ? { provider: out.provider } : {}),
          });
        } finally {
          out.recorded?.();
        }
        // Cancelled (or deleted) while the submit was on its way: the job it made is cancelled too.
        if (!recorded && out.upstreamId && (await service.store.get(task.id))?.status === 'cancelled') {
          await provider.cancel?.({ ...task, upstreamId: out.upstreamId, provider: out.provider ?? task.provider });
        }
        return;
      }
      case 'wait': {
        const out = await provider.check(task, ctx);
        if (out.state === 'failed') {
          await service.fail(task, owner, out.failure, out.providerState);
        } else if (out.state === 'succeeded') {
          await service.advance(task, owner, {
            stage: 'fetch',
            status: 'in_progress',
            startedAt: task.startedAt ?? service.now(),
            providerState: state(out.providerState),
            nextRunAt: service.now(),
          });
        } else {
          // Status never goes back: an upstream that reports queued again after running stays in_progress.
          const running = out.state === 'in_progress' || task.status === 'in_progress';
          await service.advance(task, owner, {
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
        const trouble = task.providerState[STORAGE_KEY] as StorageTrouble | undefined;
        if (trouble && service.now() >= trouble.until) {
          // Storage failed until the upstream's copy expired: fetching again cannot help.
          await service.fail(task, owner, storageFailure(task));
          return;
        }
        ctx.workDir = await deps.blobs.scratch(task.id);
        const out = await provider.fetch(task, ctx);
        if (!out.ok) {
          await service.fail(task, owner, out.failure);
          return;
        }
        fetched = out;
        const durationSeconds = await prepareResult(task, out, ctx.workDir, signal);
        const variants = Object.keys(FILE_NAMES) as Variant[];
        const digests = await Promise.all(variants.map((v) => digestFile(path.join(ctx.workDir, FILE_NAMES[v]))));
        // Stored (uploaded) before the task can read `completed`; referenced only once stored.
        const prefix = await deps.blobs.storeResult(task.id, ctx.workDir, Object.fromEntries(variants.map((v) => [FILE_NAMES[v], CONTENT_TYPES[v]])));
        const assets: Omit<Asset, 'taskId'>[] = variants.map((variant, i) => ({
          variant,
          path: `${prefix}/${FILE_NAMES[variant]}`,
          contentType: CONTENT_TYPES[variant],
          ...digests[i]!,
        }));
        if (!(await service.complete(task, owner, assets, durationSeconds))) {
          await deps.blobs.remove(prefix);
          return;
        }
        // Results of earlier attempts that died between storing and committing are garbage now.
        await deps.blobs.sweepTask(task.id, { finished: true, deleted: false, resultPrefixes: new Set([prefix]) }).catch(() => undefined);
        return;
      }
      case 'done':
        return;
    }
  } catch (err) {
    if (signal.aborted) throw err;
    // The provider may have checkpointed state during this step: build on what is stored, not on
    // the copy the step started with.
    const stored = (await service.store.get(task.id))?.providerState ?? task.providerState;
    if (err instanceof StorageError) {
      await storageTrouble(task, deps, stored, err, fetched);
      return;
    }
    const errors = Number(stored[ERRORS_KEY] ?? 0) + 1;
    if (err instanceof RetryLater) {
      if (err.opts.quiet) deps.log.debug({ task: task.id, reason: err.message }, 'step deferred');
      else deps.log.info({ task: task.id, reason: err.message }, 'step will be retried');
    } else {
      deps.log.warn({ err, task: task.id, stage: task.stage, errors }, 'step failed');
      if (errors >= MAX_ERRORS) {
        await service.fail(task, owner, {
          code: 'internal_error',
          message: INTERNAL_FAILURE_MESSAGE,
        });
        return;
      }
    }
    const backoff = err instanceof RetryLater && err.afterMs !== undefined ? err.afterMs : Math.min(60_000, 500 * 2 ** errors);
    await service.advance(task, owner, {
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
 * The gateway's storage failed (disk unwritable or full, bucket unreachable): that is not the
 * job's fault, so it does not count towards MAX_ERRORS. The step is tried again with backoff for
 * as long as the result can still be had — until the upstream stops serving it (`validUntil`),
 * or STORAGE_MAX_WAIT_MS when it has no known expiry — and only then fails, with
 * `storage_unavailable` (the credit hold is released). Logged at error level every time.
 */
async function storageTrouble(task: Task, deps: StepDeps, stored: Record<string, unknown>, err: StorageError, fetched: FetchOutcome | undefined): Promise<void> {
  const { service, owner } = deps;
  const now = service.now();
  const prev = stored[STORAGE_KEY] as StorageTrouble | undefined;
  const since = prev?.since ?? now;
  const until = fetched?.validUntil ?? prev?.until ?? since + STORAGE_MAX_WAIT_MS;
  const n = (prev?.n ?? 0) + 1;
  deps.log.error({ task: task.id, stage: task.stage, reason: err.detail, attempts: n, failingSince: new Date(since).toISOString() }, 'blob storage failed; the step will be retried');
  if (now >= until) {
    await service.fail(task, owner, storageFailure(task));
    return;
  }
  const backoff = Math.min(STORAGE_BACKOFF_MAX_MS, 500 * 2 ** Math.min(n - 1, 16));
  await service.advance(task, owner, {
    providerState: { ...stored, [STORAGE_KEY]: { since, n, until } satisfies StorageTrouble },
    nextRunAt: Math.min(until, now + backoff + Math.floor(Math.random() * 250)),
  });
}

const storageFailure = (task: Task): TaskFailure => ({
  code: 'storage_unavailable',
  message:
    task.stage === 'fetch'
      ? "The video was made, but the gateway's file storage was unavailable until the upstream's copy expired, so it could not be kept. You were not charged; create it again."
      : "The gateway's file storage was unavailable for too long to process this video. You were not charged; create it again.",
});

/**
 * Check the video and make sure all three variants exist in the work directory under their
 * canonical names. Returns the video's duration.
 */
async function prepareResult(task: Task, out: FetchOutcome, workDir: string, signal: AbortSignal): Promise<number> {
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
  return durationSeconds;
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
