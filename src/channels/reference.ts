import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { BlobStore } from '../assets/blobs.js';
import { notFound } from '../core/errors.js';
import { parseTaskId } from '../core/ids.js';
import type { Secrets } from '../util/secrets.js';

/**
 * Upstreams that take reference images only as URLs (apimart's `image_urls`) get a link to the
 * fitted reference served by the gateway itself — when VIDGATE_PUBLIC_URL says where that is —
 * signed with a key derived from the master key and valid until the task's deadline. Without a
 * public URL the adapters send a data: URL instead.
 */
export class ReferenceLinks {
  private readonly key: Buffer;

  constructor(
    secrets: Secrets,
    private readonly publicUrl: string | undefined,
  ) {
    this.key = secrets.derive('reference-links');
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  /** A public URL of the task's reference image, or undefined when the gateway has no public URL. */
  url(taskId: string, expiresAtMs: number): string | undefined {
    if (!this.publicUrl) return undefined;
    const payload = `${taskId}.${Math.ceil(expiresAtMs / 1000)}`;
    return `${this.publicUrl.replace(/\/+$/, '')}/v1/references/${payload}.${this.sign(payload)}.png`;
  }

  /** The task id a token grants, or undefined when it is forged or expired. */
  verify(token: string, nowMs: number): string | undefined {
    const m = /^([0-9A-HJKMNP-TV-Z]{26})\.(\d{1,12})\.([A-Za-z0-9_-]{43})\.png$/.exec(token);
    if (!m) return undefined;
    const [, taskId, exp, sig] = m;
    const expected = Buffer.from(this.sign(`${taskId}.${exp}`));
    const given = Buffer.from(sig!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    if (Number(exp) * 1000 < nowMs) return undefined;
    return parseTaskId(`video_${taskId}`) ?? undefined;
  }
}

export function referenceRoutes(links: ReferenceLinks, blobs: BlobStore, now: () => number) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/v1/references/:token', { config: { public: true } }, async (req, reply) => {
      const taskId = links.verify((req.params as { token: string }).token, now());
      if (!taskId) throw notFound('No such reference image (the link is invalid or has expired).');
      const png = await blobs.read(blobs.referencePath(taskId));
      if (!png) throw notFound('No such reference image (the link is invalid or has expired).');
      return reply.type('image/png').header('cache-control', 'private, max-age=3600').send(png);
    });
  };
}
