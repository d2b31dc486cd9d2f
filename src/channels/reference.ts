import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { pathId, route } from '../http/route.js';
import type { BlobStore } from '../assets/blobs.js';
import { notFound } from '../core/errors.js';
import { parseTaskId } from '../core/ids.js';
import type { Secrets } from '../util/secrets.js';

const TASK = '[0-9A-HJKMNP-TV-Z]{26}';
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;

const TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
};

/**
 * Upstreams that take media as URLs (apimart's `image_urls`, Kling, Seedance, …) get a link to
 * the gateway's own copy of a task's frame or reference — when VIDGATE_PUBLIC_URL says where the
 * gateway is — signed with a key derived from the master key and valid until the task's deadline.
 * Without a public URL the adapters send the bytes inline instead.
 */
export class MediaLinks {
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

  /** A public URL of a task's media blob (`<task>/<name>`), or undefined without a public URL. */
  url(blob: string, expiresAtMs: number): string | undefined {
    if (!this.publicUrl) return undefined;
    const m = new RegExp(`^(${TASK})/(.+)$`).exec(blob);
    if (!m || !NAME.test(m[2]!)) return undefined;
    const [, taskId, name] = m;
    const exp = Math.ceil(expiresAtMs / 1000);
    return `${this.publicUrl.replace(/\/+$/, '')}/v1/references/${taskId}.${exp}.${this.sign(`${taskId}/${name}.${exp}`)}/${name}`;
  }

  /** The blob a link grants, or undefined when it is forged or expired. */
  verify(token: string, name: string, nowMs: number): string | undefined {
    const m = new RegExp(`^(${TASK})\\.(\\d{1,12})\\.([A-Za-z0-9_-]{43})$`).exec(token);
    if (!m || !NAME.test(name)) return undefined;
    const [, taskId, exp, sig] = m;
    const expected = Buffer.from(this.sign(`${taskId}/${name}.${exp}`));
    const given = Buffer.from(sig!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    if (Number(exp) * 1000 < nowMs || !parseTaskId(`video_${taskId}`)) return undefined;
    return `${taskId}/${name}`;
  }
}

export function referenceRoutes(links: MediaLinks, blobs: BlobStore, now: () => number) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    route(
      app,
      {
        method: 'GET',
        url: '/v1/references/:token/:name',
        tag: 'Upstream plumbing',
        summary: 'A reference image or frame, for an upstream to fetch',
        description: 'Links the gateway hands to upstreams; the token is the credential.',
        auth: 'public',
        params: z.object({ token: pathId('The signed token.'), name: pathId('The file name.') }),
        responses: { 200: { description: 'The image.', media: ['image/png', 'image/jpeg', 'image/webp'] } },
      },
      async (_req, reply, { params }) => {
        const { token, name } = params;
        const blob = links.verify(token, name, now());
        if (!blob) throw notFound('No such media (the link is invalid or has expired).');
        const data = await blobs.read(blob);
        if (!data) throw notFound('No such media (the link is invalid or has expired).');
        const type = TYPES[name.split('.').pop()!.toLowerCase()] ?? 'application/octet-stream';
        return reply.type(type).header('cache-control', 'private, max-age=3600').send(data);
      },
    );
  };
}
