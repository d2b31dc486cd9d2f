import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../core/errors.js';
import type { Dialect } from './types.js';
import { routeOf } from './types.js';

/** Renders an ApiError as a response body in one dialect's envelope. */
export type ErrorRenderer = (err: ApiError) => unknown;

export const openaiErrorBody: ErrorRenderer = (err) => ({
  error: { message: err.message, type: err.type, param: err.param, code: err.code },
});

/**
 * SQLite result codes (better-sqlite3's SqliteError.code) that mean the database's storage is in
 * trouble, not the request: a full disk, an I/O error, a read-only file, a lock held too long.
 */
const DATABASE_TROUBLE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|NOMEM|PROTOCOL)/;

/** The database cannot take writes now: a 503 with a retry hint (nothing was created or changed). */
export const databaseUnavailable = (): ApiError =>
  new ApiError({
    status: 503,
    type: 'server_error',
    code: 'storage_unavailable',
    message: "The gateway's database is temporarily unavailable (its storage is full or failing); nothing was changed. Try again in a minute.",
    headers: { 'retry-after': '30' },
  });

/** Map framework and parser errors to ApiErrors with the right status; anything else is a 500. */
export function toApiError(err: FastifyError | ApiError | Error): ApiError {
  if (err instanceof ApiError) return err;
  if (err.name === 'SqliteError' && DATABASE_TROUBLE.test(String((err as { code?: unknown }).code))) return databaseUnavailable();
  const fe = err as FastifyError;
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError({ status: 400, type: 'invalid_request_error', code: 'invalid_json', message: `We could not parse the JSON body of your request: ${fe.message}` });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ApiError({ status: 413, type: 'invalid_request_error', code: 'request_too_large', message: 'The request body is too large.' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError({
        status: 415,
        type: 'invalid_request_error',
        code: 'unsupported_media_type',
        message: `Unsupported Content-Type '${fe.message.replace(/^Unsupported Media Type:\s*/, '')}'. Send application/json or multipart/form-data.`,
      });
    case 'FST_ERR_VALIDATION':
      return new ApiError({ status: 400, type: 'invalid_request_error', code: 'invalid_request', message: fe.message });
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError({ status: fe.statusCode, type: 'invalid_request_error', code: fe.code ?? null, message: fe.message });
  }
  return new ApiError({ status: 500, type: 'server_error', code: 'internal_error', message: 'The server had an error while processing your request. Try again; if it keeps happening, contact the operator with the x-request-id of this response.' });
}

/** Errors everywhere are rendered in the envelope of the route's dialect (OpenAI's by default). */
export function registerErrorHandling(app: FastifyInstance, renderers: Record<Dialect, ErrorRenderer>): void {
  const send = (req: FastifyRequest, reply: FastifyReply, err: ApiError): void => {
    const dialect = routeOf(req).config?.dialect ?? 'openai';
    reply.code(err.status).headers(err.headers).type('application/json').send(renderers[dialect](err));
  };
  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const apiErr = toApiError(err);
    if (apiErr.status >= 500) req.log.error({ err }, 'request failed');
    send(req, reply, apiErr);
  });
  app.setNotFoundHandler((req, reply) => {
    send(req, reply, new ApiError({
      status: 404,
      type: 'invalid_request_error',
      code: 'unknown_url',
      message: `Unknown request URL: ${req.method} ${req.url.split('?')[0]}. Please check the URL for typos, or see the docs.`,
    }));
  });
}

/** Errors Fastify raises before a route is found (frameworkErrors). */
export function frameworkError(status: number, code: string | undefined): ApiError {
  return status === 414
    ? new ApiError({ status, type: 'invalid_request_error', code: 'uri_too_long', message: 'The request URL is too long: a path segment exceeds the limit. Check the URL.' })
    : new ApiError({ status, type: 'invalid_request_error', code: code === 'FST_ERR_BAD_URL' ? 'invalid_url' : 'invalid_request', message: 'The request URL is malformed. Check its percent-encoding.' });
}

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'The request headers (or the URL) are too large.' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'The request was not received in time: send the whole request, body included, without pauses.' },
  ERR_HTTP_HEADERS_TIMEOUT: { status: 408, code: 'request_timeout', message: 'The request headers were not received in time.' },
};

/**
 * Errors on the socket before there is a request to route (headers too large, a request too
 * slow, unparseable HTTP): answered in the OpenAI error envelope, then the connection is closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = CLIENT_ERRORS[err.code ?? ''] ?? { status: 400, code: 'invalid_http', message: 'The request is not valid HTTP/1.1.' };
  const body = JSON.stringify(openaiErrorBody(new ApiError({ status: known.status, type: 'invalid_request_error', code: known.code, message: known.message })));
  const reason = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[known.status];
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${known.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}
