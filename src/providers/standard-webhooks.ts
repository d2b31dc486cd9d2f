import { createHmac, timingSafeEqual } from 'node:crypto';
import { CallbackRejected } from './types.js';

/**
 * Standard Webhooks signatures (standardwebhooks.com), as OpenAI, Replicate and Kling 3.x sign
 * their callbacks: headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
 * `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256>` entries) over
 * `{id}.{timestamp}.{body}`, keyed with the base64 part of a `whsec_…` secret (or the secret's
 * bytes when it has no such prefix). Timestamps more than `toleranceS` away are refused, so an
 * old callback cannot be replayed.
 */
export function verifyStandardWebhook(secret: string, headers: Record<string, string>, body: Buffer, nowMs: number, toleranceS = 300): void {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) throw new CallbackRejected('the webhook signature headers are missing');
  const ts = Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowMs / 1000 - ts) > toleranceS) throw new CallbackRejected('the webhook timestamp is too old or too new');
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  for (const entry of signatures.split(' ')) {
    const [version, sig] = entry.split(',');
    if (version !== 'v1' || !sig) continue;
    const given = Buffer.from(sig, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return;
  }
  throw new CallbackRejected('the webhook signature does not match');
}
