import type { FastifyRequest } from 'fastify';
import type { ApiKey } from '../store/keys.js';

export type Dialect = 'openai' | 'apimart';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated API key (set by the auth hook on /v1 routes). */
    apiKey: ApiKey;
    /** `routeOptions`, read once per request (routeOf). */
    routeInfo: FastifyRequest['routeOptions'] | null;
  }
  interface FastifyContextConfig {
    /** Which envelope errors on this route are rendered in. */
    dialect?: Dialect;
    /** Route needs no API key. */
    public?: boolean;
    /** Route needs the operator's admin token instead of an API key. */
    admin?: boolean;
    /** Route also accepts a short-lived stream token (events/stream-tokens.ts), e.g. ?access_token=. */
    streamToken?: boolean;
  }
}

/**
 * The request's route options, built once per request: Fastify's `routeOptions` getter makes a
 * new object on every read, and the hooks, handlers and error renderer of one request read it
 * several times.
 */
export function routeOf(req: FastifyRequest): FastifyRequest['routeOptions'] {
  return (req.routeInfo ??= req.routeOptions);
}
