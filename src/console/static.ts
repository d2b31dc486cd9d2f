import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { route } from '../http/route.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from '../config.js';

/** Where `npm run build` puts the console (web/build.ts): <package>/web/dist, next to dist/ and src/. */
export const CONSOLE_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');

/** The URL path the console is served under, behind VIDGATE_PUBLIC_URL's own path if it has one. */
export function consoleBasePath(config: Pick<Config, 'publicUrl'>): string {
  const prefix = config.publicUrl ? new URL(config.publicUrl).pathname.replace(/\/+$/, '') : '';
  return `${prefix}/console/`;
}

/**
 * Content-Security-Policy of the console page: everything from this gateway only (no CDN, no
 * inline script or style), files from VIDGATE_PUBLIC_URL's origin when links point there, and
 * blob: for previews of a reference image picked from the disk.
 */
export function consoleCsp(config: Pick<Config, 'publicUrl'>): string {
  const extra = config.publicUrl ? ` ${new URL(config.publicUrl).origin}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' blob:${extra}`,
    `media-src 'self'${extra}`,
    `connect-src 'self'${extra}`,
    "manifest-src 'self'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>vidgate console</title>
<h1>The console is not built</h1><p>Run <code>npm run build</code> (it builds web/dist), then restart the gateway.</p>`;

/**
 * The operator console and playground at /console/: a single-page app built into web/dist.
 * - /console redirects to /console/;
 * - /console/assets/… are content-hashed files: cached for a year (immutable), served
 *   pre-compressed (br/gzip) when the browser accepts it;
 * - every other /console/… path is a client route and gets index.html, never cached, with a
 *   strict Content-Security-Policy.
 * The page is public: it holds no data; its API calls carry the key or admin token.
 */
export function consoleStatic(config: Config, dist = CONSOLE_DIST) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const base = consoleBasePath(config);
    const csp = consoleCsp(config);
    const built = existsSync(path.join(dist, 'index.html'));
    // Routes registered in this plugin (including @fastify/static's) need no key.
    app.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object | undefined), public: true };
    });
    app.addHook('onSend', async (req, reply) => {
      reply.header('x-content-type-options', 'nosniff');
    });

    const page_ = { tag: 'Console', auth: 'public' as const, responses: { 200: { description: 'The console page.', media: ['text/html'] } } };
    route(app, { ...page_, method: 'GET', url: '/console', summary: 'Redirects to the console', responses: { 301: { description: 'To /console/.' } } }, async (req, reply) => {
      const query = req.url.indexOf('?');
      return reply.redirect(`${base}${query === -1 ? '' : req.url.slice(query)}`, 301);
    });

    if (built) {
      await app.register(fastifyStatic, {
        root: path.join(dist, 'assets'),
        prefix: '/console/assets/',
        decorateReply: false,
        preCompressed: true,
        immutable: true,
        maxAge: 365 * 86_400_000,
        index: false,
      });
    }

    let cached: { mtimeMs: number; html: string } | null = null;
    const page = async (reply: FastifyReply): Promise<FastifyReply> => {
      reply
        .header('content-security-policy', csp)
        .header('x-frame-options', 'DENY')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .type('text/html; charset=utf-8');
      const file = path.join(dist, 'index.html');
      let info;
      try {
        info = await stat(file);
      } catch {
        return reply.code(503).header('cache-control', 'no-store').send(NOT_BUILT);
      }
      if (!cached || cached.mtimeMs !== info.mtimeMs) {
        cached = { mtimeMs: info.mtimeMs, html: (await readFile(file, 'utf8')).replace('%BASE%', base) };
      }
      return reply.send(cached.html);
    };
    route(app, { ...page_, method: 'GET', url: '/console/', summary: 'The console (a web app for keys: create, watch, download, webhooks)' }, async (_req, reply) => page(reply));
    route(app, { ...page_, method: 'GET', url: '/console/*', summary: 'The console (client-side routes)' }, async (_req, reply) => page(reply));
  };
}
