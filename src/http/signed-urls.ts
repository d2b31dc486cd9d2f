/**
 * Signed, expiring download links for result files, usable with no Authorization header
 * (apimart clients download `result.videos[].url` directly, like a CDN link).
 *
 * A link is `<base>/v1/files/task_<id>/<video.mp4|thumbnail.webp|spritesheet.jpg>?expires=<unix s>&signature=<sig>`
 * where sig = base64url(HMAC-SHA256(key, "vidgate-file-v1\n<internal id>\n<variant>\n<expires>")) and the
 * key is derived from the master key for the purpose 'signed-urls'. Changing the task, the variant
 * or the expiry invalidates the signature; nobody without the master key can make one.
 *
 * Lifetime: a link is handed out valid for `ttlMs` (rounded up to a step of at most an hour, so
 * that repeated polls return the same URL), and never beyond the file's retention.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { taskPublicId } from '../core/ids.js';
import type { Task, Variant } from '../core/task.js';
import { FILE_NAMES } from '../core/task.js';

export interface SignedLink {
  url: string;
  /** Unix seconds after which the link is refused. */
  expiresAt: number;
}

export const FILES_PREFIX = '/v1/files';

const VARIANT_BY_NAME: ReadonlyMap<string, Variant> = new Map(
  (Object.entries(FILE_NAMES) as [Variant, string][]).map(([variant, name]) => [name, variant]),
);

/** The variant a file name in a link stands for (video.mp4 → video), or undefined. */
export const variantOfFileName = (name: string): Variant | undefined => VARIANT_BY_NAME.get(name);

export type LinkCheck = 'ok' | 'missing' | 'invalid' | 'expired';

export class UrlSigner {
  constructor(
    private readonly key: Buffer,
    private readonly ttlMs: number,
  ) {
    if (key.length < 32) throw new Error('the signing key must be at least 32 bytes');
  }

  private mac(taskId: string, variant: Variant, expires: number): Buffer {
    return createHmac('sha256', this.key).update(`vidgate-file-v1\n${taskId}\n${variant}\n${expires}`).digest();
  }

  /** When a link handed out `now` for this task expires (unix seconds). */
  expiryFor(task: Pick<Task, 'expiresAt'>, now: number): number {
    const step = Math.min(3600_000, Math.max(1000, Math.floor(this.ttlMs / 24)));
    let expires = Math.ceil((now + this.ttlMs) / step) * step;
    if (task.expiresAt !== null) expires = Math.min(expires, task.expiresAt);
    return Math.floor(expires / 1000);
  }

  /** A signed link to one variant of a task. `base` is the gateway's absolute base URL. */
  link(base: string, task: Pick<Task, 'id' | 'expiresAt'>, variant: Variant, now: number): SignedLink {
    const expires = this.expiryFor(task, now);
    const signature = this.mac(task.id, variant, expires).toString('base64url');
    const url = `${base}${FILES_PREFIX}/${taskPublicId(task.id)}/${FILE_NAMES[variant]}?expires=${expires}&signature=${signature}`;
    return { url, expiresAt: expires };
  }

  /**
   * Whether a presented link is genuine and still valid at `now`. A link has exactly one accepted
   * spelling: `expires` in decimal without leading zeros, and the signature exactly as `link()`
   * writes it (compared as text, in constant time, so that the unused low bits of its last
   * base64url character cannot be changed).
   */
  check(taskId: string, variant: Variant, expires: unknown, signature: unknown, now: number): LinkCheck {
    if (typeof expires !== 'string' || typeof signature !== 'string' || expires === '' || signature === '') return 'missing';
    if (!/^[1-9]\d{0,11}$/.test(expires) || !/^[A-Za-z0-9_-]{43}$/.test(signature)) return 'invalid';
    const expected = Buffer.from(this.mac(taskId, variant, Number(expires)).toString('base64url'), 'ascii');
    const given = Buffer.from(signature, 'ascii');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return now > Number(expires) * 1000 ? 'expired' : 'ok';
  }
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The absolute base URL of the gateway as the client sees it: VIDGATE_PUBLIC_URL when set (the
 * reliable choice behind proxies), else derived from the request (X-Forwarded-Proto/-Host are
 * honoured because the server trusts its proxy, then Host).
 */
export function publicBase(req: FastifyRequest, configured: string | undefined): string {
  if (configured) return configured.replace(/\/+$/, '');
  const proto = req.protocol === 'https' ? 'https' : 'http';
  const candidates = [req.host, req.headers.host];
  const host = candidates.find((h): h is string => typeof h === 'string' && HOST_RE.test(h)) ?? 'localhost';
  return `${proto}://${host}`;
}
