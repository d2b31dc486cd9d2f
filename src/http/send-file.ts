import { close } from 'node:fs';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import type { BlobStore } from '../assets/blobs.js';
import { LocalBlobStore } from '../assets/local.js';
import { S3BlobStore } from '../assets/s3.js';
import type { Config } from '../config.js';
import { ApiError } from '../core/errors.js';
import { writeFileBody } from './file-body.js';

export interface FileToSend {
  /** Blob key. */
  key: string;
  bytes: number;
  sha256: string;
  contentType: string;
  /** File name offered to browsers (Content-Disposition). */
  filename: string;
}

const EMPTY = Buffer.alloc(0);

/**
 * Deliver a stored blob to an authorised request, as the operator chose (storage.delivery):
 *
 * - `stream`: the gateway sends the bytes, with a strong ETag, conditional GET (If-None-Match →
 *   304) and single byte ranges (Range → 206, If-Range honoured, unsatisfiable → 416; a
 *   multi-range request gets the whole file, which RFC 9110 allows); a local file through
 *   writeFileBody (recycled buffers, file-body.ts), a bucket's by ranged GETs;
 * - `redirect`: a 302 to a presigned bucket URL valid for redirectTtlSeconds (the client's Range
 *   goes to the bucket with it);
 * - `x-accel-redirect` / `x-sendfile`: an empty answer that tells the proxy in front (nginx;
 *   Apache or lighttpd) to send the file itself, Range and all.
 *
 * Returns false when the blob is gone (the caller answers 410).
 */
export async function sendBlob(
  req: FastifyRequest,
  reply: FastifyReply,
  blobs: BlobStore,
  storage: Config['storage'],
  file: FileToSend,
): Promise<boolean> {
  const disposition = `inline; filename="${file.filename}"`;
  if ((storage.delivery === 'x-accel-redirect' || storage.delivery === 'x-sendfile') && blobs instanceof LocalBlobStore) {
    reply.header('content-disposition', disposition).header('cache-control', 'private, max-age=86400, immutable').type(file.contentType);
    if (storage.delivery === 'x-accel-redirect') {
      reply.header('x-accel-redirect', storage.accelPrefix + file.key.split('/').map(encodeURIComponent).join('/'));
    } else {
      reply.header('x-sendfile', blobs.resolve(file.key));
    }
    reply.send(EMPTY);
    return true;
  }

  const etag = `"${file.sha256.slice(0, 32)}"`;
  const inm = req.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) {
    reply.code(304).header('etag', etag).send();
    return true;
  }

  if (storage.delivery === 'redirect' && blobs instanceof S3BlobStore) {
    const url = await blobs.presign(file.key, { expiresInSeconds: storage.redirectTtlSeconds, filename: file.filename, contentType: file.contentType });
    reply.code(302).header('location', url).header('cache-control', 'no-store').send();
    return true;
  }

  let start = 0;
  let end = file.bytes - 1;
  let partial = false;
  const range = req.headers.range;
  const ifRange = req.headers['if-range'];
  if (range && (!ifRange || ifRange === etag)) {
    const parsed = parseRange(file.bytes, range, { combine: true });
    if (parsed === -1) {
      // Thrown so that the route's dialect renders it in its own envelope.
      throw new ApiError({
        status: 416,
        type: 'invalid_request_error',
        param: 'Range',
        code: 'range_not_satisfiable',
        message: `Range not satisfiable: the file is ${file.bytes} bytes long.`,
        headers: { 'content-range': `bytes */${file.bytes}` },
      });
    }
    if (parsed !== -2 && parsed.type === 'bytes' && parsed.length === 1) {
      start = parsed[0]!.start;
      end = parsed[0]!.end;
      partial = true;
    }
  }
  const status = partial ? 206 : 200;
  // Every header of the answer, in one object (with those the hooks already set on the reply).
  const headers: Record<string, string | number | string[] | undefined> = {
    ...reply.getHeaders(),
    etag,
    'accept-ranges': 'bytes',
    'cache-control': 'private, max-age=86400, immutable',
    'content-disposition': disposition,
    'content-type': file.contentType,
    'content-length': String(file.bytes === 0 ? 0 : end - start + 1),
    ...(partial ? { 'content-range': `bytes ${start}-${end}/${file.bytes}` } : {}),
  };
  const head = req.method === 'HEAD';

  if (blobs instanceof LocalBlobStore && !head && file.bytes > 0) {
    // A local file: written to the socket by writeFileBody with recycled buffers, past Fastify's
    // stream handling (the request log and the request metrics still see it end).
    const fd = await blobs.openDescriptor(file.key);
    if (fd === undefined) return false;
    try {
      reply.raw.writeHead(status, headers);
    } catch (err) {
      close(fd, () => undefined);
      throw err;
    }
    reply.hijack();
    writeFileBody(reply.raw, fd, start, end, (err) => req.log.error({ err, key: file.key }, 'reading a blob failed in the middle of a download'));
    return true;
  }

  const body = head || file.bytes === 0 ? undefined : await blobs.open(file.key, partial ? { start, end } : undefined);
  if (!head && file.bytes > 0 && !body) return false;
  reply.code(status).headers(headers);
  // Fastify's automatic HEAD route rewrites Content-Length to 0 for an empty payload but keeps
  // it for a stream: answer HEAD with an empty stream so it reports the file's real length.
  reply.send(head ? Readable.from([]) : (body ?? EMPTY));
  return true;
}
