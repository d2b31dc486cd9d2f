import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../src/config.js';
import { MAGIC_TOKENS } from '../src/providers/sandbox/magic.js';

const root = path.resolve(import.meta.dirname, '..');
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');

/** The documentation stays true: every setting and every magic prompt is documented. */
describe('docs', () => {
  it('docs/configuration.md documents every environment variable', () => {
    const doc = read('docs/configuration.md');
    expect(ENV_VARIABLES.filter((v) => !doc.includes(`\`${v}\``))).toEqual([]);
  });

  it('README shows the two commands and every magic prompt', () => {
    const readme = read('README.md');
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
    for (const { token } of Object.values(MAGIC_TOKENS)) expect(readme).toContain(`\`${token}\``);
  });
});
