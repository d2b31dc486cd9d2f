import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    if (!existsSync(file)) createKeyFile(file);
    return new Secrets(decodeKey(readFileSync(file, 'utf8').trim(), file));
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

/**
 * Several gateway processes may start at once on a new data directory: the key is written whole
 * to a file of this process's own and then linked into place, which fails for all but the first
 * (EEXIST), so no process reads a half-written key and all use the same one.
 */
function createKeyFile(file: string): void {
  const text = randomBytes(32).toString('hex') + '\n';
  const own = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(own, text, { mode: 0o600, flag: 'wx' });
  try {
    chmodSync(own, 0o600);
    linkSync(own, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return; // another process made it first: its key is the one
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err;
    // A file system without hard links: create the file directly (still exclusive).
    try {
      writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  } finally {
    rmSync(own, { force: true });
  }
}

function decodeKey(text: string, source: string): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32) throw new Error(`${source}: the master key must be 32 bytes (64 hex characters or base64)`);
  return key;
}
