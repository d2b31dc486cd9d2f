import { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { redactTokenPath } from '../channels/callbacks.js';
import { routeOf } from '../http/types.js';
import type { Metrics } from './metrics.js';

/**
 * One JSON line per request when it ends: request id (reqId), method, route pattern, path
 * (without the query string, which may hold a stream token, and with path tokens such as signed
 * callback and reference links replaced), status and duration. Successful
 * reads (GET, HEAD below 400) are debug lines, since polling clients make most requests; the
 * rest are info; a 503 (deliberately unavailable: not ready, shutting down, no upstream) is warn,
 * other 5xx and failures error. Credentials are redacted by the logger (REDACT_PATHS).
 *
 * With metrics on, the same call also times the request for the request histogram: Fastify calls
 * it once per response anyway, whereas an onResponse hook would add its hook runner to every
 * request.
 */
export class RequestLog extends LogController {
  constructor(private readonly metrics?: Pick<Metrics, 'httpRequest'>) {
    super();
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const route = routeOf(req).url;
    this.metrics?.httpRequest(req.method, route, status, reply.elapsedTime);
    const failed = !!error || (status >= 500 && status !== 503);
    const level = failed ? 'error' : status === 503 ? 'warn' : status < 400 && (req.method === 'GET' || req.method === 'HEAD') ? 'debug' : 'info';
    // Most requests are polls logged at debug: build nothing when the level is off.
    const log = req.log as FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };
    if (log.isLevelEnabled && !log.isLevelEnabled(level)) return;
    const line = {
      method: req.method,
      route: route ?? null,
      path: redactTokenPath(req.url.split('?', 1)[0]!),
      statusCode: status,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (failed) log.error({ ...line, ...(error ? { err: error } : {}) }, 'request failed');
    else log[level](line, 'request completed');
  }
}
