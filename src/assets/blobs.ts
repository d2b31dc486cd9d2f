import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * Files on the local disk under <dataDir>/blobs/<task id>/…
 *
 * Results are produced in a scratch directory, then moved with one rename into a fresh
 * directory <task>/<token>/ and only then referenced from the database. A crash or a lost race
 * leaves at worst an unreferenced directory, which sweepOrphans() removes.
 */
export class BlobStore {
  readonly root: string;
  private readonly scratchRoot: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'blobs');
    this.scratchRoot = path.join(dataDir, 'tmp');
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await rm(this.scratchRoot, { recursive: true, force: true });
    await mkdir(this.scratchRoot, { recursive: true });
  }

  /** Absolute path of a stored (relative) blob path. */
  resolve(rel: string): string {
    return path.join(this.root, rel);
  }

  /** A new empty scratch directory. */
  async scratch(label: string): Promise<string> {
    const dir = path.join(this.scratchRoot, `${label}-${randomBytes(6).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  referencePath(taskId: string): string {
    return `${taskId}/reference.png`;
  }

  async writeReference(taskId: string, png: Buffer): Promise<string> {
    const rel = this.referencePath(taskId);
    await mkdir(path.dirname(this.resolve(rel)), { recursive: true });
    await writeFile(this.resolve(rel), png);
    return rel;
  }

  /** Move a scratch directory into the task's blob directory; returns its relative path. */
  async adopt(taskId: string, scratchDir: string): Promise<string> {
    const rel = `${taskId}/${randomBytes(6).toString('hex')}`;
    await mkdir(path.dirname(this.resolve(rel)), { recursive: true });
    await rename(scratchDir, this.resolve(rel));
    return rel;
  }

  async removeTask(taskId: string): Promise<void> {
    await rm(path.join(this.root, taskId), { recursive: true, force: true });
  }

  async remove(rel: string): Promise<void> {
    await rm(this.resolve(rel), { recursive: true, force: true });
  }

  /**
   * Delete result directories that no database row references (left by a crash between the
   * move and the commit, or by a worker that lost its lease). `keep` holds relative paths of
   * referenced files; `liveTasks` tells whether a task directory still belongs to a task.
   */
  async sweepOrphans(keep: Set<string>, liveTasks: (taskId: string) => boolean): Promise<number> {
    let removed = 0;
    let taskDirs: string[];
    try {
      taskDirs = await readdir(this.root);
    } catch {
      return 0;
    }
    const keptDirs = new Set([...keep].map((p) => path.dirname(p)));
    for (const taskId of taskDirs) {
      if (!liveTasks(taskId)) {
        await rm(path.join(this.root, taskId), { recursive: true, force: true });
        removed++;
        continue;
      }
      for (const entry of await readdir(path.join(this.root, taskId), { withFileTypes: true })) {
        if (entry.isDirectory() && !keptDirs.has(`${taskId}/${entry.name}`)) {
          await rm(path.join(this.root, taskId, entry.name), { recursive: true, force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

/** Size and SHA-256 of a file, streamed. */
export async function digestFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  const { size } = await stat(file);
  return { bytes: size, sha256: hash.digest('hex') };
}
