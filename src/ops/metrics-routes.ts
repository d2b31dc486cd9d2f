import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { route } from '../http/route.js';
import { ApiError, unauthorized } from '../core/errors.js';
import { bearerToken, sameToken } from '../http/auth.js';
import type { Metrics } from './metrics.js';

export interface MetricsAccess {
  /** VIDGATE_METRICS_TOKEN: the Bearer token /metrics needs (on the API port, and on the metrics port when set). */
  token?: string;
  /** VIDGATE_METRICS_PORT: a separate listener that serves only /metrics. */
  port?: number;
  host: string;
}

/**
 * GET /metrics on the API port. Only the metrics token opens it: not an API key, and not the
 * admin token either (a scraper's configuration should not hold the key to the whole operator
 * API). Without a token the metrics are only on the separate metrics port, if one is set.
 */
export function metricsRoutes(metrics: Metrics | undefined, access: MetricsAccess) {
  return async (app: FastifyInstance): Promise<void> => {
    route(
      app,
      {
        method: 'GET',
        url: '/metrics',
        tag: 'Operations',
        summary: 'Prometheus metrics',
        description: 'Needs the metrics token (not an API key, not the admin token); docs/operations.md lists every metric.',
        auth: 'metrics',
        responses: { 200: { description: 'Prometheus text format.', media: ['text/plain'] } },
      },
      async (req, reply) => {
        if (!metrics || !access.token) {
          throw new ApiError({
            status: 403,
            type: 'permission_error',
            code: 'metrics_disabled',
            message: access.port
              ? `Metrics are served on the metrics port (${access.port}), not here: set VIDGATE_METRICS_TOKEN to serve them on this port too.`
              : 'Metrics are disabled: the operator has not set VIDGATE_METRICS_TOKEN (or VIDGATE_METRICS_PORT).',
          });
        }
        if (!sameToken(bearerToken(req), access.token)) throw unauthorized('GET /metrics needs the metrics token (Authorization: Bearer VIDGATE_METRICS_TOKEN).');
        reply.header('content-type', metrics.contentType).header('cache-control', 'no-store');
        return metrics.exposition();
      },
    );
  };
}

/** The separate metrics listener (VIDGATE_METRICS_PORT): GET /metrics only, with the token when one is set. */
export async function startMetricsListener(metrics: Metrics, access: MetricsAccess & { port: number }): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this port serves GET /metrics\n');
      return;
    }
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization?.trim() ?? '');
    if (access.token && !sameToken(m?.[1]?.trim(), access.token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('this port needs the metrics token (Authorization: Bearer VIDGATE_METRICS_TOKEN)\n');
      return;
    }
    metrics.exposition().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(access.port, access.host, () => resolve());
  });
  return server;
}
