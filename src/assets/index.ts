import type { Config } from '../config.js';
import type { BlobStore } from './blobs.js';
import { LocalBlobStore } from './local.js';
import { S3BlobStore } from './s3.js';

/** The blob store the configuration asks for: an S3 bucket when VIDGATE_S3_BUCKET is set, else <dataDir>/blobs. */
export function createBlobStore(config: Config): BlobStore {
  const s3 = config.storage.s3;
  if (!s3.bucket) return new LocalBlobStore(config.dataDir);
  return new S3BlobStore(config.dataDir, {
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.accessKeyId && s3.secretAccessKey ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey.reveal() } } : {}),
    partSizeBytes: s3.partSizeMb * 1024 * 1024,
  });
}
