import { createHmac, timingSafeEqual } from 'node:crypto';

export interface StreamGrant {
  keyId: string;
  /** Only this task's stream, or null for every stream of the key. */
  taskId: string | null;
  /** Unix seconds. */
  expiresAt: number;
}

const PREFIX = 'vgst_';

/**
 * Short-lived, read-only tokens for Server-Sent Event streams, for browsers whose EventSource
 * cannot send an Authorization header: `?access_token=vgst_…`. A token is an HMAC-signed
 * {key, task, expiry}; it opens event streams only (never another API route), expires, and dies
 * with its API key. Minted with the API key itself (POST /v1/stream_tokens).
 */
export class StreamTokens {
  constructor(private readonly key: Buffer) {}

  issue(grant: StreamGrant): string {
    const body = Buffer.from(JSON.stringify({ k: grant.keyId, t: grant.taskId, e: grant.expiresAt })).toString('base64url');
    return `${PREFIX}${body}.${this.mac(body)}`;
  }

  /** The grant of a valid, unexpired token; null otherwise. */
  verify(token: string, nowMs: number): StreamGrant | null {
    if (!token.startsWith(PREFIX)) return null;
    const [body, mac] = token.slice(PREFIX.length).split('.');
    if (!body || !mac) return null;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { k?: unknown; t?: unknown; e?: unknown };
      if (typeof p.k !== 'string' || typeof p.e !== 'number' || (p.t !== null && typeof p.t !== 'string')) return null;
      if (p.e * 1000 <= nowMs) return null;
      return { keyId: p.k, taskId: p.t, expiresAt: p.e };
    } catch {
      return null;
    }
  }

  static looksLike(token: string): boolean {
    return token.startsWith(PREFIX);
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
