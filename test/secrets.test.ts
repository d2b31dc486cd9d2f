import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Secrets } from '../src/util/secrets.js';

describe('secrets at rest', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('creates a private master key once and seals secrets that only it opens', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vidgate-secrets-'));
    dirs.push(dir);
    const a = Secrets.load(dir);
    expect((await stat(path.join(dir, 'master.key'))).mode & 0o777).toBe(0o600);
    const sealed = a.seal('sk-upstream-credential');
    expect(sealed).not.toContain('sk-upstream');
    expect(Secrets.load(dir).open(sealed)).toBe('sk-upstream-credential');
    const other = Secrets.load(dir, 'ab'.repeat(32));
    expect(() => other.open(sealed)).toThrow();
    expect(a.derive('signed-urls').equals(Secrets.load(dir).derive('signed-urls'))).toBe(true);
    expect(a.derive('signed-urls').equals(a.derive('other'))).toBe(false);
    expect((await readFile(path.join(dir, 'master.key'), 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a malformed VIDGATE_SECRET_KEY', () => {
    expect(() => Secrets.load('/nonexistent', 'too-short')).toThrow(/32 bytes/);
  });
});
