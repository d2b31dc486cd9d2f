import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyBaseLogger } from 'fastify';
import { decodeTime } from 'ulid';
import { ApiError } from '../core/errors.js';

/**
 * Blob storage: where result files, reference images and other media inputs of tasks live.
 * Two implementations behind this one class: a folder on the local disk (LocalBlobStore, the
 * default) and an S3-compatible bucket (S3BlobStore, assets/s3.ts).
 *
 * Keys are relative paths: `<task>/reference.png` (and other inputs of the task) and
 * `<task>/<token>/<file>` for a result. A result is written under a fresh token and only then
 * referenced from the database (a crash or a lost race leaves at worst an unreferenced prefix,
 * which sweepOrphans() removes); a stored key is never overwritten.
 *
 * Work files are always local: scratch directories live under <dataDir>/tmp/<process>/.
 */
export abstract class BlobStore {
  abstract readonly kind: 'local' | 's3';
  private readonly scratchRoot: string;
  private readonly scratchParent: string;
  private condition: StorageHealth = { ok: true };
  protected log: FastifyBaseLogger | undefined;

  constructor(dataDir: string) {
    this.scratchParent = path.join(dataDir, 'tmp');
    // One scratch folder per process, so that a second process on the same data directory never
    // clears the work of the first.
    this.scratchRoot = path.join(this.scratchParent, `${process.pid}-${randomBytes(4).toString('hex')}`);
  }

  /** Prepare storage (and the scratch folder); removes scratch folders of processes that are gone. */
  async init(log?: FastifyBaseLogger): Promise<void> {
    this.log = log;
    await mkdir(this.scratchRoot, { recursive: true });
    for (const entry of await readdir(this.scratchParent).catch(() => [] as string[])) {
      const dir = path.join(this.scratchParent, entry);
      if (dir === this.scratchRoot) continue;
      const pid = Number(/^(\d+)-[0-9a-f]+$/.exec(entry)?.[1]);
      // A folder of a process that is gone, or one untouched for a day (pids repeat in containers).
      const stale = !pid || !processAlive(pid) || (await stat(dir).then((s) => s.mtimeMs < Date.now() - 86_400_000, () => true));
      if (stale) await rm(dir, { recursive: true, force: true });
    }
  }

  /** A new empty scratch directory on the local disk. */
  async scratch(label: string): Promise<string> {
    const dir = path.join(this.scratchRoot, `${label}-${randomBytes(6).toString('hex')}`);
    await this.guard('create a scratch directory', () => mkdir(dir, { recursive: true }));
    return dir;
  }

  // ---- operations of each implementation ----

  /** Store a small blob (a reference image, another media input). */
  abstract put(key: string, data: Buffer, contentType: string): Promise<void>;
  /** A stored blob's bytes, or undefined when there is no such blob. */
  abstract read(key: string): Promise<Buffer | undefined>;
  /**
   * A local file holding a stored blob, for tools that need a path (ffmpeg): the file itself on
   * local storage, else a copy made in `dir`. Undefined when there is no such blob.
   */
  abstract localFile(key: string, dir: string, signal?: AbortSignal): Promise<string | undefined>;
  /**
   * Store result files (names in `files`, inside the local directory `dir`) under a new prefix
   * `<task>/<token>` and return it. The directory may be consumed.
   */
  abstract storeResult(taskId: string, dir: string, files: Record<string, string>): Promise<string>;
  /** Open a stored blob for reading, from `start` to `end` inclusive; undefined when it is gone. */
  abstract open(key: string, range?: { start: number; end: number }): Promise<Readable | undefined>;
  /** Remove everything under a prefix (`<task>/<token>` or `<task>`). */
  protected abstract removePrefix(prefix: string): Promise<void>;
  /** Top-level task prefixes (task ids). */
  protected abstract listTasks(): AsyncIterable<string[]>;
  /** Under one task: result tokens (sub-prefixes) and whether anything else (inputs) is stored. */
  protected abstract listTask(taskId: string): Promise<{ results: string[] }>;
  /** Write and delete a small object: proves storage takes writes now. */
  protected abstract probeWrite(): Promise<void>;

  // ---- shared ----

  referencePath(taskId: string): string {
    return `${taskId}/reference.png`;
  }

  async writeReference(taskId: string, png: Buffer): Promise<string> {
    const key = this.referencePath(taskId);
    await this.put(key, png, 'image/png');
    return key;
  }

  async remove(prefix: string): Promise<void> {
    await this.removePrefix(prefix);
  }

  async removeTask(taskId: string): Promise<void> {
    await this.removePrefix(taskId);
  }

  /**
   * A cheap check that storage takes writes now (for readiness probes). Throws a StorageError
   * when it does not; updates health() either way.
   */
  async checkWritable(): Promise<void> {
    await this.guard('write a probe', () => this.probeWrite(), { write: true });
  }

  /** Release connections (S3). */
  close(): void {}

  /** The last observed condition of storage (no I/O). */
  health(): StorageHealth {
    return this.condition;
  }

  /**
   * Remove what no committed task can reference: results (`<task>/<token>/`) of finished tasks
   * other than the one recorded, everything of deleted tasks, and task folders without a task
   * row that are older than ORPHAN_GRACE_MS (a create writes its reference image just before it
   * commits the row). Tasks that are not finished are left alone: a worker may be about to
   * commit one of their results. A finished task never gets a new result, so what the sweep
   * reads of it cannot change under it — which is what makes it safe against tasks completing
   * while it runs, in this process or another one.
   *
   * At most `perSecond` task folders are examined per second, so a large store is swept in the
   * background without hogging the disk or the bucket.
   */
  async sweepOrphans(lookup: (taskId: string) => Promise<SweepView | undefined>, opts: { perSecond: number; now: number }): Promise<number> {
    let removed = 0;
    const started = Date.now();
    let seen = 0;
    for await (const batch of this.listTasks()) {
      for (const taskId of batch) {
        seen++;
        const due = started + (seen * 1000) / opts.perSecond;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        const view = await lookup(taskId);
        if (!view) {
          let created: number;
          try {
            created = decodeTime(taskId);
          } catch {
            continue; // not a task folder: not ours to remove
          }
          if (created < opts.now - ORPHAN_GRACE_MS) {
            await this.removePrefix(taskId);
            removed++;
          }
          continue;
        }
        removed += await this.sweepTask(taskId, view);
      }
    }
    return removed;
  }

  /** The sweep of one task's folder (see sweepOrphans); also run by the worker when a task completes. */
  async sweepTask(taskId: string, view: SweepView): Promise<number> {
    if (!view.finished) return 0;
    if (view.deleted) {
      await this.removePrefix(taskId);
      return 1;
    }
    let removed = 0;
    const { results } = await this.listTask(taskId);
    for (const token of results) {
      if (!view.resultPrefixes.has(`${taskId}/${token}`)) {
        await this.removePrefix(`${taskId}/${token}`);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Run a storage operation; a failure of the storage itself (not a missing blob) becomes a
   * StorageError, is logged at error level and marks storage unhealthy until a write works.
   */
  protected async guard<T>(what: string, fn: () => Promise<T>, opts: { write?: boolean } = {}): Promise<T> {
    try {
      const value = await fn();
      // Only a write that worked shows that storage works again (reads and scratch work may not).
      if (opts.write && !this.condition.ok) {
        this.log?.warn({ storage: this.kind, downSince: new Date(this.condition.since!).toISOString() }, 'blob storage works again');
        this.condition = { ok: true };
      }
      return value;
    } catch (err) {
      if (err instanceof StorageError) throw err;
      const reason = describeStorageFault(err);
      const now = Date.now();
      // One error line per minute while it lasts (each failed step also says so).
      if (this.condition.ok || now - (this.condition.loggedAt ?? 0) > 60_000) {
        this.log?.error({ storage: this.kind, operation: what, reason }, 'blob storage is failing');
        this.condition = { ok: false, since: this.condition.since ?? now, error: `${what}: ${reason}`, loggedAt: now };
      } else {
        this.condition = { ...this.condition, error: `${what}: ${reason}` };
      }
      throw new StorageError(`${what}: ${reason}`, { cause: err });
    }
  }
}

export interface StorageHealth {
  ok: boolean;
  /** When storage started failing (epoch ms). */
  since?: number;
  /** The last failure (operation and reason; no secrets, no paths outside the store). */
  error?: string;
  loggedAt?: number;
}

/** What the orphan sweep needs to know about a task. */
export interface SweepView {
  /** The task can no longer change its result (completed, failed or cancelled). */
  finished: boolean;
  deleted: boolean;
  /** `<task>/<token>` of every result the task references. */
  resultPrefixes: Set<string>;
}

/** A task folder with no task row is only removed once its id is this old. */
export const ORPHAN_GRACE_MS = 3_600_000;

/**
 * The gateway's own storage failed (disk unwritable or full, bucket unreachable): the gateway's
 * problem, not the request's or the job's. Clients get a 503 with a retry hint; the worker waits
 * and tries again.
 */
export class StorageError extends ApiError {
  constructor(
    readonly detail: string,
    opts: { cause?: unknown } = {},
  ) {
    super({
      status: 503,
      type: 'server_error',
      code: 'storage_unavailable',
      message: "The gateway's file storage is temporarily unavailable. Try again in a minute.",
      headers: { 'retry-after': '30' },
    });
    this.name = 'StorageError';
    if (opts.cause !== undefined) (this as { cause?: unknown }).cause = opts.cause;
  }
}

function describeStorageFault(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return [e.code ?? e.name ?? 'error', status ? `HTTP ${status}` : undefined].filter(Boolean).join(', ');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

const RESULT_TOKEN = /^[0-9a-f]{12}$/;
export const newResultToken = (): string => randomBytes(6).toString('hex');
export const isResultToken = (name: string): boolean => RESULT_TOKEN.test(name);

/** Size and SHA-256 of a local file, streamed. */
export async function digestFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  const { size } = await stat(file);
  return { bytes: size, sha256: hash.digest('hex') };
}
