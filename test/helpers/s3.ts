import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { freePort, ROOT } from './process.js';

/**
 * A real S3-protocol server for tests (fauxqs, from the npm registry; see docs/architecture.md
 * for why this one): started in a child process on a fixed port with a storage folder, so that a
 * test can take the bucket down (stop) and bring it back with its objects (start).
 */
export class S3TestServer {
  readonly bucket = 'vidgate-test';
  readonly accessKeyId = 'AKIAVIDGATETEST00001';
  readonly secretAccessKey = 'vidgate-test-secret-key-0123456789abcdef';
  private child: ChildProcess | undefined;
  readonly client: S3Client;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    this.client = new S3Client({
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: this.accessKeyId, secretAccessKey: this.secretAccessKey },
    });
  }

  static async start(): Promise<S3TestServer> {
    const server = new S3TestServer(await freePort(), await mkdtemp(path.join(tmpdir(), 'vidgate-s3-')));
    await server.up();
    return server;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Gateway config overrides that store blobs in this bucket (credentials from the config file). */
  config(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      s3: { bucket: this.bucket, endpoint: this.endpoint, region: 'us-east-1', forcePathStyle: true, accessKeyId: this.accessKeyId, secretAccessKey: this.secretAccessKey, partSizeMb: 5 },
      ...extra,
    };
  }

  /** The same as environment variables (credentials the standard AWS way). */
  env(): Record<string, string> {
    return {
      VIDGATE_S3_BUCKET: this.bucket,
      VIDGATE_S3_ENDPOINT: this.endpoint,
      VIDGATE_S3_REGION: 'us-east-1',
      VIDGATE_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: this.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.secretAccessKey,
    };
  }

  /** Start (again) on the same port and storage folder. */
  async up(): Promise<void> {
    const child = spawn(process.execPath, [path.join(ROOT, 'test/helpers/s3-server.mjs'), String(this.port), this.dir, this.bucket], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the S3 test server did not start:\n${out}`)), 30_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the S3 test server exited (${code}):\n${out}`));
      });
    });
  }

  /** Take the bucket down: the process is killed, connections are refused until up(). */
  async down(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async keys(prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async head(key: string): Promise<{ etag: string; bytes: number }> {
    const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    return { etag: out.ETag ?? '', bytes: out.ContentLength ?? 0 };
  }

  async close(): Promise<void> {
    await this.down();
    this.client.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }
}
