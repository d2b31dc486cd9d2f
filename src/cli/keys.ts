import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { openDatabase } from '../store/db.js';
import { KeyStore } from '../store/keys.js';
import type { ApiKey } from '../store/keys.js';

/** Key commands work on the local database (VIDGATE_DATA_DIR), so they need no running gateway. */
function withKeys<T>(fn: (keys: KeyStore) => T): T {
  const config = loadConfig();
  const db = openDatabase(config.dataDir, { synchronous: config.sqlite.synchronous });
  try {
    return fn(new KeyStore(db));
  } finally {
    db.close();
  }
}

const keyJson = (k: ApiKey) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  test: k.test,
  created_at: Math.floor(k.createdAt / 1000),
  revoked_at: k.revokedAt === null ? null : Math.floor(k.revokedAt / 1000),
});

export function registerKeyCommands(program: Command): void {
  const key = program.command('key').description('manage API keys (stored in the local database)');

  key
    .command('create')
    .description('create an API key and print it once')
    .requiredOption('--name <name>', 'a label for the key')
    .option('--test', 'a test key: always served by the sandbox, never charged')
    .option('--json', 'print {"id","key"} as JSON')
    .action((opts: { name: string; test?: boolean; json?: boolean }) => {
      const { key: k, secret } = withKeys((keys) => keys.create(opts.name, { test: opts.test }));
      if (opts.json) {
        console.log(JSON.stringify({ id: k.id, key: secret, name: k.name, test: k.test }));
      } else {
        console.log(`Created ${k.test ? 'test ' : ''}key ${k.id} (${k.name}).`);
        console.log(`\n  ${secret}\n`);
        console.log('This is the only time the key is shown. Store it somewhere safe.');
      }
    });

  key
    .command('list')
    .description('list API keys (secrets are never shown)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const list = withKeys((keys) => keys.list());
      if (opts.json) {
        console.log(JSON.stringify(list.map(keyJson)));
        return;
      }
      if (list.length === 0) {
        console.log('No keys yet. Create one with: npx vidgate key create --name NAME');
        return;
      }
      for (const k of list) {
        const state = k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active';
        console.log(`${k.id}  ${k.prefix}…  ${k.name}${k.test ? '  [test]' : ''}  ${state}`);
      }
    });

  key
    .command('revoke')
    .description('revoke an API key by id (key_…) or displayed prefix')
    .argument('<id>', 'key id or prefix')
    .option('--json', 'print JSON')
    .action((id: string, opts: { json?: boolean }) => {
      const revoked = withKeys((keys) => keys.revoke(id));
      if (!revoked) {
        console.error(`No active key matches '${id}'. See: npx vidgate key list`);
        process.exitCode = 1;
        return;
      }
      console.log(opts.json ? JSON.stringify(keyJson(revoked)) : `Revoked ${revoked.id} (${revoked.name}).`);
    });
}
