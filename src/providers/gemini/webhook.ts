import { createPublicKey, createVerify } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import type { CallbackContext } from '../types.js';
import { CallbackRejected } from '../types.js';
import { asRecord, str } from '../parse.js';

/**
 * Dynamic (per-request) Gemini API webhooks carry an RS256 JWT in `webhook-signature`, signed by
 * Google with a key of its published JWKS (`https://generativelanguage.googleapis.com/.well-known/jwks.json`,
 * found by the JWT's `kid`). Verified here when the channel names the JWKS URL: the signature, the
 * algorithm, and that the token has not expired (a minute of clock skew allowed). The key set is
 * kept in the channel's cache for an hour.
 */
const JWKS_TTL_MS = 3_600_000;
const SKEW_S = 60;

const decode = (part: string): Record<string, unknown> | undefined => {
  try {
    return asRecord(JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  } catch {
    return undefined;
  }
};

export async function verifyGeminiWebhookJwt(headers: Record<string, string>, ctx: CallbackContext, jwksUrl: string): Promise<void> {
  const jwt = headers['webhook-signature']?.trim();
  if (!jwt) throw new CallbackRejected('the webhook-signature header is missing');
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new CallbackRejected('the webhook signature is not a JWT');
  const header = decode(parts[0]!);
  const claims = decode(parts[1]!);
  if (!header || !claims) throw new CallbackRejected('the webhook JWT cannot be decoded');
  if (header.alg !== 'RS256') throw new CallbackRejected('the webhook JWT is not RS256');
  const kid = str(header.kid);
  const text = await ctx.tokens.get(`jwks ${jwksUrl}`, async () => {
    const res = await ctx.http.send({ method: 'GET', url: jwksUrl, trusted: true, auth: false, purpose: 'probe' });
    return { token: JSON.stringify(res.body ?? {}), expiresAtMs: Date.now() + JWKS_TTL_MS };
  });
  const keys = asRecord(JSON.parse(text) as unknown)?.keys;
  const jwk = Array.isArray(keys) ? keys.map(asRecord).find((k) => k && k.kty === 'RSA' && (!kid || k.kid === kid)) : undefined;
  if (!jwk) throw new CallbackRejected('no published key matches the webhook JWT');
  let ok = false;
  try {
    const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    ok = createVerify('RSA-SHA256').update(`${parts[0]}.${parts[1]}`).verify(key, Buffer.from(parts[2]!, 'base64url'));
  } catch {
    ok = false;
  }
  if (!ok) throw new CallbackRejected('the webhook JWT signature does not match');
  const now = ctx.nowMs / 1000;
  if (typeof claims.exp === 'number' && claims.exp < now - SKEW_S) throw new CallbackRejected('the webhook JWT has expired');
  if (typeof claims.nbf === 'number' && claims.nbf > now + SKEW_S) throw new CallbackRejected('the webhook JWT is not valid yet');
}
