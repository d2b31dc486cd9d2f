import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import { ApiError } from '../core/errors.js';

export interface FileToSend {
  path: string;
  bytes: number;
  sha256: string;
  contentType: string;
  /** File name offered to browsers (Content-Disposition). */
  filename: string;
}

/**
 * Stream a stored file with a strong ETag, conditional GET (If-None-Match → 304), and single
 * byte ranges (Range → 206, If-Range honoured, unsatisfiable → 416). Multi-range requests are
 * answered with the whole file, which RFC 9110 allows. Returns false when the file is gone.
 */
export async function sendFile(req: FastifyRequest, reply: FastifyReply, file: FileToSend): Promise<boolean> {
  try {
    await stat(file.path);
  } catch {
    return false;
  }
  const etag = `"${file.sha256.slice(0, 32)}"`;
  reply
    .header('etag', etag)
    .header('accept-ranges', 'bytes')
    .header('cache-control', 'private, max-age=86400, immutable')
    .header('content-disposition', `inline; filename="${file.filename}"`)
    .type(file.contentType);

  const inm = req.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) {
    reply.code(304).send();
    return true;
  }

  let start = 0;
  let end = file.bytes - 1;
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
      reply.code(206).header('content-range', `bytes ${start}-${end}/${file.bytes}`);
    }
  }
  reply.header('content-length', String(end - start + 1));
  if (req.method === 'HEAD') {
    // Fastify's automatic HEAD route rewrites Content-Length to 0 for an empty payload but keeps
    // it for a stream: answer with an empty one so HEAD reports the file's real length.
    reply.send(Readable.from([]));
    return true;
  }
  if (file.bytes === 0) {
    reply.send();
    return true;
  }
  reply.send(createReadStream(file.path, { start, end }));
  return true;
}
