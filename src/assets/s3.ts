import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FastifyBaseLogger } from 'fastify';
import { ConfigError } from '../config.js';
import { BlobStore, isResultToken, newResultToken } from './blobs.js';

export interface S3Options {
  bucket: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** Unset: the AWS SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Part size of multipart uploads (files larger than this are uploaded in parts). */
  partSizeBytes: number;
}

/** Errors of the bucket that start-up should report as configuration problems. */
const FATAL_AT_START = new Set(['NoSuchBucket', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'PermanentRedirect', 'AuthorizationHeaderMalformed']);

const notFound = (err: unknown): boolean => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
};

/**
 * Blobs as objects in an S3-compatible bucket (AWS S3, MinIO, R2, Ceph, …) through the AWS SDK v3.
 * Results are uploaded from the local scratch directory with lib-storage (multipart above
 * `partSizeBytes`); reads are ranged GETs; downloads can also be handed out as presigned URLs.
 */
export class S3BlobStore extends BlobStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(
    dataDir: string,
    private readonly opts: S3Options,
  ) {
    super(dataDir);
    this.bucket = opts.bucket;
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // An unreachable bucket must fail a step quickly (it is retried later), not hang it.
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
      maxAttempts: 3,
    });
  }

  override async init(log?: FastifyBaseLogger): Promise<void> {
    await super.init(log);
    try {
      await this.checkWritable();
    } catch (err) {
      const name = (err as { cause?: { name?: string } }).cause?.name ?? '';
      if (FATAL_AT_START.has(name)) {
        throw new ConfigError(`VIDGATE_S3_BUCKET: the bucket '${this.bucket}' cannot be used (${name}): check the bucket name, region, endpoint and credentials.`);
      }
      // Unreachable for now: the gateway starts, tasks wait for the bucket, /healthz says so.
    }
  }

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    await this.guard('write a blob', () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data, ContentType: contentType })), { write: true });
  }

  async read(key: string): Promise<Buffer | undefined> {
    return this.guard('read a blob', async () => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        return Buffer.from(await out.Body!.transformToByteArray());
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    });
  }

  async localFile(key: string, dir: string, signal?: AbortSignal): Promise<string | undefined> {
    const file = path.join(dir, `blob-${randomBytes(4).toString('hex')}-${path.basename(key)}`);
    return this.guard('read a blob', async () => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
        await pipeline(out.Body as Readable, createWriteStream(file), { signal });
        return file;
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    });
  }

  async storeResult(taskId: string, dir: string, files: Record<string, string>): Promise<string> {
    const prefix = `${taskId}/${newResultToken()}`;
    try {
      await this.guard('upload a result', async () => {
        for (const [name, contentType] of Object.entries(files)) {
          const upload = new Upload({
            client: this.client,
            params: { Bucket: this.bucket, Key: `${prefix}/${name}`, Body: createReadStream(path.join(dir, name)), ContentType: contentType },
            partSize: this.opts.partSizeBytes,
            queueSize: 4,
            leavePartsOnError: false,
          });
          await upload.done();
        }
      }, { write: true });
    } catch (err) {
      // Best effort: what was uploaded is unreferenced (the orphan sweep removes it otherwise).
      await this.removePrefix(prefix).catch(() => undefined);
      throw err;
    }
    return prefix;
  }

  async open(key: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    return this.guard('read a blob', async () => {
      try {
        const out = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
        );
        return out.Body as Readable;
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    });
  }

  /** A short-lived URL that lets its holder GET one object directly from the bucket. */
  async presign(key: string, o: { expiresInSeconds: number; filename: string; contentType: string }): Promise<string> {
    return this.guard('sign a link', () =>
      getSignedUrl(
        this.client,
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ResponseContentDisposition: `inline; filename="${o.filename}"`,
          ResponseContentType: o.contentType,
        }),
        { expiresIn: o.expiresInSeconds },
      ),
    );
  }

  protected async removePrefix(prefix: string): Promise<void> {
    await this.guard('remove blobs', async () => {
      let token: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length) await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    });
  }

  protected async *listTasks(): AsyncIterable<string[]> {
    let token: string | undefined;
    do {
      const page = await this.guard('list blobs', () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Delimiter: '/', ContinuationToken: token })),
      );
      yield (page.CommonPrefixes ?? []).map((p) => p.Prefix!.replace(/\/$/, ''));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  protected async listTask(taskId: string): Promise<{ results: string[] }> {
    const results: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.guard('list blobs', () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${taskId}/`, Delimiter: '/', ContinuationToken: token })),
      );
      for (const p of page.CommonPrefixes ?? []) {
        const name = p.Prefix!.slice(taskId.length + 1).replace(/\/$/, '');
        if (isResultToken(name)) results.push(name);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { results };
  }

  protected async probeWrite(): Promise<void> {
    const key = `.probe/${process.pid}-${randomBytes(4).toString('hex')}`;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: Buffer.from('ok') }));
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  override close(): void {
    this.client.destroy();
  }
}
