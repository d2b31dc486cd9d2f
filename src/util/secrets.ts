import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The master key protects secrets at rest (upstream credentials, webhook signing secrets) and
 * derives keys for signed links. It lives outside the database, so a copy of the database alone
 * reveals nothing: VIDGATE_SECRET_KEY (64 hex characters or base64 of 32 bytes), or a file
 * <dataDir>/master.key created with mode 0600 on first start.
 */
export class Secrets {
  private constructor(private readonly master: Buffer) {}

  static load(dataDir: string, fromEnv?: string): Secrets {
    if (fromEnv) return new Secrets(decodeKey(fromEnv, 'VIDGATE_SECRET_KEY'));
    const file = path.join(dataDir, 'master.key');
    if (existsSync(file)) return new Secrets(decodeKey(readFileSync(file, 'utf8').trim(), file));
    const key = randomBytes(32);
    writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return new Secrets(key);
  }

  /** A 32-byte key for one purpose (e.g. 'signed-urls'), derived with HKDF. */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.master, Buffer.alloc(0), `vidgate:${purpose}`, 32));
  }

  /** Encrypt with AES-256-GCM; the result is "v1.<iv>.<tag>.<ciphertext>" in base64url. */
  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.derive('sealed-secrets'), iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), data].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.derive('sealed-secrets'), Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  }
}

function decodeKey(text: string, source: string): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32) throw new Error(`${source}: the master key must be 32 bytes (64 hex characters or base64)`);
  return key;
}
