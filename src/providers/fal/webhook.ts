import { createHash, createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CallbackRejected } from '../types.js';
import { isRecord, str } from '../parse.js';

/**
 * fal's webhook signature (docs.fal.ai webhooks): headers `X-Fal-Webhook-Request-Id`,
 * `X-Fal-Webhook-User-Id`, `X-Fal-Webhook-Timestamp` (Unix seconds) and `X-Fal-Webhook-Signature`
 * (hex Ed25519) over `{request id}\n{user id}\n{timestamp}\n{hex sha256 of the body}`, checked
 * against any of the Ed25519 keys of fal's JWKS. Timestamps more than 5 min away are refused.
 */
export const FAL_JWKS_URL = 'https://rest.alpha.fal.ai/.well-known/jwks.json';
const SKEW_S = 300;

/** The Ed25519 public keys of a JWKS document (others are skipped). */
export function falKeysOf(jwks: unknown): KeyObject[] {
  const keys = isRecord(jwks) && Array.isArray(jwks.keys) ? jwks.keys : [];
  const out: KeyObject[] = [];
  for (const k of keys) {
    if (!isRecord(k) || k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string') continue;
    try {
      out.push(createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.x }, format: 'jwk' }));
    } catch {
      // a malformed key is skipped
    }
  }
  return out;
}

export function verifyFalWebhook(headers: Record<string, string>, body: Buffer, keys: readonly KeyObject[], nowMs: number): { requestId: string } {
  const requestId = str(headers['x-fal-webhook-request-id']);
  const userId = str(headers['x-fal-webhook-user-id']);
  const timestamp = str(headers['x-fal-webhook-timestamp']);
  const signature = str(headers['x-fal-webhook-signature']);
  if (!requestId || !userId || !timestamp || !signature) throw new CallbackRejected('the fal webhook signature headers are missing');
  if (!/^\d+$/.test(timestamp) || Math.abs(nowMs / 1000 - Number(timestamp)) > SKEW_S) throw new CallbackRejected('the webhook timestamp is too old or too new');
  if (!/^[0-9a-f]{128}$/i.test(signature)) throw new CallbackRejected('the webhook signature is not 64 hex bytes');
  if (keys.length === 0) throw new CallbackRejected('no Ed25519 key to check the signature with');
  const message = Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${createHash('sha256').update(body).digest('hex')}`, 'utf8');
  const sig = Buffer.from(signature, 'hex');
  if (!keys.some((k) => verify(null, message, k, sig))) throw new CallbackRejected('the fal webhook signature does not match');
  return { requestId };
}
