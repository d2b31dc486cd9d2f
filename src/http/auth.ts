import type { FastifyInstance, FastifyRequest } from 'fastify';
import { unauthorized } from '../core/errors.js';
import type { KeyStore } from '../store/keys.js';

/** The bearer token of a request (Authorization: Bearer …, or the api-key header Azure clients send). */
export function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    return m ? m[1]!.trim() : undefined;
  }
  const apiKey = req.headers['api-key'];
  return typeof apiKey === 'string' && apiKey ? apiKey.trim() : undefined;
}

/** Every route that is not marked public needs a valid, unrevoked API key. */
export function registerAuth(app: FastifyInstance, keys: KeyStore): void {
  app.decorateRequest('apiKey', null as never);
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public || !req.routeOptions.url) return;
    const token = bearerToken(req);
    if (!token) {
      throw unauthorized(
        "You didn't provide an API key. Provide your vidgate API key in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).",
      );
    }
    const key = keys.authenticate(token);
    if (!key) {
      const shown = token.length > 12 ? `${token.slice(0, 8)}…${token.slice(-4)}` : '***';
      throw unauthorized(`Incorrect API key provided: ${shown}. Create a key with \`npx vidgate key create\` or ask the operator of this gateway.`);
    }
    req.apiKey = key;
  });
}
