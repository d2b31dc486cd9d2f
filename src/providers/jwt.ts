import { createHmac, createSign } from 'node:crypto';

/**
 * Signing JSON Web Tokens (RFC 7519) for upstreams that authenticate with a token minted from
 * the channel's credentials: HS256 with a shared secret (Kling's access/secret key) or RS256
 * with a private key (a Google service account's assertion for the OAuth token exchange).
 */
export type JwtAlgorithm = 'HS256' | 'RS256';

const b64url = (v: Buffer | string): string => Buffer.from(v).toString('base64url');

export function signJwt(payload: Record<string, unknown>, key: string, alg: JwtAlgorithm, header: Record<string, unknown> = {}): string {
  const input = `${b64url(JSON.stringify({ alg, typ: 'JWT', ...header }))}.${b64url(JSON.stringify(payload))}`;
  const signature = alg === 'HS256' ? createHmac('sha256', key).update(input).digest() : createSign('RSA-SHA256').update(input).sign(key);
  return `${input}.${b64url(signature)}`;
}
