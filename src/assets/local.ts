import { randomBytes } from 'node:crypto';
import { open as openFd } from 'node:fs';
import type { Readable } from 'node:stream';
import { mkdir, open, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BlobStore, isResultToken, newResultToken } from './blobs.js';

/**
 * Read size of open()'s streams (four times Node's default). Downloads over HTTP do not use them:
 * they read the descriptor from openDescriptor() into pooled buffers (http/file-body.ts).
 */
const READ_CHUNK_BYTES = 256 * 1024;

const missing = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((err as { code?: string }).code ?? '');

/** Blobs as files under <dataDir>/blobs/, one folder per task. */
export class LocalBlobStore extends BlobStore {
  readonly kind = 'local' as const;
  readonly root: string;

  constructor(dataDir: string) {
    super(dataDir);
    this.root = path.join(dataDir, 'blobs');
  }

  override async init(...args: Parameters<BlobStore['init']>): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await super.init(...args);
  }

  /** Absolute path of a stored key (for the proxy hand-off and local tools). */
  resolve(key: string): string {
    return path.join(this.root, key);
  }

  async put(key: string, data: Buffer): Promise<void> {
    const file = this.resolve(key);
    await this.guard('write a blob', async () => {
      await mkdir(path.dirname(file), { recursive: true });
      // Written aside and renamed: a reader never sees half a file.
      const part = `${file}.${randomBytes(4).toString('hex')}.part`;
      await writeFile(part, data);
      await rename(part, file);
    }, { write: true });
  }

  async read(key: string): Promise<Buffer | undefined> {
    return this.guard('read a blob', () => readFile(this.resolve(key)).catch((err: unknown) => (missing(err) ? undefined : Promise.reject(err))));
  }

  async localFile(key: string): Promise<string | undefined> {
    const file = this.resolve(key);
    const fh = await this.guard('open a blob', () => open(file).catch((err: unknown) => (missing(err) ? undefined : Promise.reject(err))));
    if (!fh) return undefined;
    await fh.close();
    return file;
  }

  async storeResult(taskId: string, dir: string): Promise<string> {
    const prefix = `${taskId}/${newResultToken()}`;
    await this.guard('store a result', async () => {
      await mkdir(this.resolve(taskId), { recursive: true });
      await rename(dir, this.resolve(prefix));
    }, { write: true });
    return prefix;
  }

  /**
   * A stored blob's file opened for reading as a bare descriptor, for downloads
   * (http/file-body.ts reads it with pooled buffers); the caller closes it. Undefined when the
   * blob is gone.
   */
  async openDescriptor(key: string): Promise<number | undefined> {
    const file = this.resolve(key);
    return this.guard('open a blob', () =>
      new Promise<number | undefined>((resolve, reject) =>
        openFd(file, 'r', (err, fd) => (err ? (missing(err) ? resolve(undefined) : reject(err)) : resolve(fd))),
      ),
    );
  }

  async open(key: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    const fh = await this.guard('open a blob', () => open(this.resolve(key)).catch((err: unknown) => (missing(err) ? undefined : Promise.reject(err))));
    return fh?.createReadStream({ ...range, highWaterMark: READ_CHUNK_BYTES });
  }

  protected async removePrefix(prefix: string): Promise<void> {
    await this.guard('remove blobs', () => rm(this.resolve(prefix), { recursive: true, force: true }));
  }

  protected async *listTasks(): AsyncIterable<string[]> {
    const names = await this.guard('list blobs', () => readdir(this.root));
    for (let i = 0; i < names.length; i += 1000) yield names.slice(i, i + 1000);
  }

  protected async listTask(taskId: string): Promise<{ results: string[] }> {
    const entries = await this.guard('list blobs', () =>
      readdir(this.resolve(taskId), { withFileTypes: true }).catch((err: unknown) => (missing(err) ? [] : Promise.reject(err))),
    );
    return { results: entries.filter((e) => e.isDirectory() && isResultToken(e.name)).map((e) => e.name) };
  }

  protected async probeWrite(): Promise<void> {
    const file = path.join(this.root, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    await writeFile(file, 'ok');
    await unlink(file);
  }
}
