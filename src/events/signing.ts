import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com), as the openai SDK's
 * `webhooks.unwrap()` verifies it:
 *   webhook-id: <message id, stable across retries>
 *   webhook-timestamp: <Unix seconds of this attempt>
 *   webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"> [v1,<…> …]
 * The HMAC key is the base64-decoded part of the secret after `whsec_`. During a secret rotation
 * grace period the header carries one signature per valid secret (new first), so a receiver
 * holding either secret accepts the message.
 */

/** A new signing secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A masked form that identifies a secret without revealing it. */
export function secretHint(secret: string): string {
  return `whsec_…${secret.slice(-6)}`;
}

/** The HMAC key of a secret: base64 after `whsec_`, else the UTF-8 bytes (as the SDK does). */
export function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** The base64 signature of one message under one secret. */
export function sign(secret: string, msgId: string, timestamp: number, body: string): string {
  return createHmac('sha256', signingKey(secret)).update(`${msgId}.${timestamp}.${body}`).digest('base64');
}

/** The webhook-* headers of one delivery attempt, signed with every given secret. */
export function webhookHeaders(secrets: string[], msgId: string, timestamp: number, body: string): Record<string, string> {
  if (secrets.length === 0) throw new Error('at least one signing secret is needed');
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => `v1,${sign(s, msgId, timestamp, body)}`).join(' '),
  };
}
