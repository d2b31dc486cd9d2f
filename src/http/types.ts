import type { ApiKey } from '../store/keys.js';

export type Dialect = 'openai' | 'apimart';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated API key (set by the auth hook on /v1 routes). */
    apiKey: ApiKey;
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
