import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Secrets } from '../src/util/secrets.js';
import { ROOT } from './helpers/process.js';

/** Load the master key of `dir` in a process of its own, at wall time `at`; answers a fingerprint of the key, or the error. */
function loadInProcess(dir: string, at: number): Promise<string> {
  const code = `
    const { Secrets } = await import(${JSON.stringify(path.join(ROOT, 'src/util/secrets.ts'))});
    while (Date.now() < ${at}) {}
    try { console.log(Secrets.load(${JSON.stringify(dir)}).derive('fingerprint').toString('hex')); } catch (err) { console.log('failed: ' + err.message); }`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, timeout: 60_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
  });
}

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

  it('several processes starting at once on a new data directory all get the same master key', async () => {
    // Gateway nodes sharing a data directory are often started together; before, all but one of
    // those that found no key wrote their own (EEXIST, and the node did not start) or read a
    // half-written one.
    for (let round = 0; round < 3; round++) {
      const dir = await mkdtemp(path.join(tmpdir(), 'vidgate-secrets-race-'));
      dirs.push(dir);
      const at = Date.now() + 2_000;
      const got = await Promise.all(Array.from({ length: 6 }, () => loadInProcess(dir, at)));
      expect(new Set(got).size, got.join('\n')).toBe(1);
      expect(got[0]).toBe(Secrets.load(dir).derive('fingerprint').toString('hex'));
      expect(await readdir(dir)).toEqual(['master.key']);
      expect((await stat(path.join(dir, 'master.key'))).mode & 0o777).toBe(0o600);
    }
  });

  it('refuses a malformed VIDGATE_SECRET_KEY', () => {
    expect(() => Secrets.load('/nonexistent', 'too-short')).toThrow(/32 bytes/);
  });
});
