import type { Command } from 'commander';
import { Accounts, entryView } from '../billing/accounts.js';
import { Ledger } from '../billing/ledger.js';
import { formatUsd, usdToMicros } from '../billing/money.js';
import { parseRange, usageReport } from '../billing/usage.js';
import type { Config } from '../config.js';
import { loadConfig } from '../config.js';
import { ApiError } from '../core/errors.js';
import { openGatewayDatabase } from '../store/db.js';
import type { Database } from '../store/sql.js';
import { KeyStore } from '../store/keys.js';

interface Local {
  config: Config;
  db: Database;
  keys: KeyStore;
  ledger: Ledger;
  accounts: Accounts;
}

/**
 * Key and billing commands work on the gateway's database (VIDGATE_DATABASE_URL, else the SQLite
 * file under VIDGATE_DATA_DIR); no running gateway needed.
 */
async function local<T>(fn: (l: Local) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openGatewayDatabase(config, { poolSize: 2 });
  try {
    const keys = KeyStore.of(db);
    const ledger = new Ledger(db);
    return await fn({ config, db, keys, ledger, accounts: new Accounts(db, keys, ledger) });
  } catch (err) {
    if (err instanceof ApiError) throw new Error(err.message);
    throw err;
  } finally {
    await db.close();
  }
}

/** "20", "+20", "-5.5" → dollars. */
function parseAmount(text: string): number {
  const n = Number(text);
  if (!/^[+-]?\d+(\.\d+)?$/.test(text) || !Number.isFinite(n) || n === 0) throw new Error(`'${text}' is not an amount in US dollars (e.g. +20 or -5)`);
  return n;
}

/** A limit option: a positive integer, or "default". */
function parseLimit(name: string, text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  if (text === 'default') return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer or "default"`);
  return n;
}

async function printKey(l: Local, idOrPrefix: string, json: boolean | undefined): Promise<void> {
  const view = await l.accounts.view(await l.accounts.key(idOrPrefix), l.config.limits);
  if (json) {
    console.log(JSON.stringify(view));
    return;
  }
  console.log(`${view.id}  ${view.prefix}…  ${view.name}${view.test ? '  [test]' : ''}${view.revoked_at ? '  REVOKED' : ''}`);
  console.log(`  balance ${formatUsd(usdToMicros(view.balance_usd))}   held ${formatUsd(usdToMicros(view.held_usd))}   credit line ${formatUsd(usdToMicros(view.credit_limit_usd))}`);
  console.log(`  ${view.rpm_limit} requests/min${view.rpm_limit_is_default ? ' (default)' : ''}   ${view.max_inflight} unfinished videos at once${view.max_inflight_is_default ? ' (default)' : ''}`);
}

export function registerKeyCommands(program: Command): void {
  const key = program.command('key').description('manage API keys, their credit and limits (local database)');

  key
    .command('create')
    .description('create an API key and print it once')
    .requiredOption('--name <name>', 'a label for the key')
    .option('--test', 'a test key: always served by the sandbox, never charged')
    .option('--credit <usd>', 'initial credit in US dollars')
    .option('--json', 'print {"id","key"} as JSON')
    .action(async (opts: { name: string; test?: boolean; credit?: string; json?: boolean }) => {
      const amount = opts.credit === undefined ? undefined : parseAmount(opts.credit);
      const { key: k, secret } = await local(async (l) => {
        const created = await l.keys.create(opts.name, { test: opts.test });
        if (amount) await l.accounts.credit(created.key.id, amount, 'initial credit', Date.now());
        return created;
      });
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
    .description('list API keys with their balances (secrets are never shown)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      local(async (l) => {
        const list = await Promise.all((await l.keys.list()).map((k) => l.accounts.view(k, l.config.limits)));
        if (opts.json) return console.log(JSON.stringify(list));
        if (list.length === 0) return console.log('No keys yet. Create one with: npx vidgate key create --name NAME');
        for (const k of list) {
          const state = k.revoked_at ? 'revoked' : 'active';
          console.log(`${k.id}  ${k.prefix}…  ${k.name}${k.test ? '  [test]' : ''}  ${formatUsd(usdToMicros(k.balance_usd))}  ${state}`);
        }
      }),
    );

  key
    .command('show')
    .description('show a key: balance, holds, limits')
    .argument('<key>', 'key id or prefix')
    .option('--json', 'print JSON')
    .action((id: string, opts: { json?: boolean }) => local((l) => printKey(l, id, opts.json)));

  key
    .command('revoke')
    .description('revoke an API key by id (key_…) or displayed prefix')
    .argument('<key>', 'key id or prefix')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const revoked = await local((l) => l.keys.revoke(id));
      if (!revoked) {
        console.error(`No active key matches '${id}'. See: npx vidgate key list`);
        process.exitCode = 1;
        return;
      }
      console.log(opts.json ? JSON.stringify({ id: revoked.id, revoked_at: Math.floor(revoked.revokedAt! / 1000) }) : `Revoked ${revoked.id} (${revoked.name}).`);
    });

  key
    .command('credit')
    .description('add (+20) or remove (-5) credit in US dollars')
    .argument('<key>', 'key id or prefix')
    .argument('<amount>', 'US dollars, e.g. +20 or -5')
    .option('--note <text>', 'why (kept in the ledger)')
    .option('--json', 'print JSON')
    .action((id: string, amount: string, opts: { note?: string; json?: boolean }) =>
      local(async (l) => {
        const entry = await l.accounts.credit(id, parseAmount(amount), opts.note ?? null, Date.now());
        if (opts.json) return console.log(JSON.stringify(entryView(entry)));
        console.log(`${entry.amountMicros > 0 ? 'Added' : 'Removed'} ${formatUsd(Math.abs(entry.amountMicros))}. Balance: ${formatUsd(entry.balanceAfter)}.`);
      }),
    );

  key
    .command('limits')
    .description('set a key’s limits ("default" returns to the operator default)')
    .argument('<key>', 'key id or prefix')
    .option('--rpm <n>', 'requests per minute')
    .option('--max-inflight <n>', 'unfinished videos at once')
    .option('--credit-limit <usd>', 'how far below zero the balance may go (a credit line)')
    .option('--json', 'print JSON')
    .action((id: string, opts: { rpm?: string; maxInflight?: string; creditLimit?: string; json?: boolean }) =>
      local(async (l) => {
        const creditLimit = opts.creditLimit === undefined ? undefined : Number(opts.creditLimit);
        if (creditLimit !== undefined && !(creditLimit >= 0)) throw new Error('--credit-limit must be zero or a positive amount of US dollars');
        const k = await l.accounts.setLimits(id, {
          rpmLimit: parseLimit('rpm', opts.rpm),
          maxInflight: parseLimit('max-inflight', opts.maxInflight),
          creditLimitMicros: creditLimit === undefined ? undefined : usdToMicros(creditLimit),
        });
        await printKey(l, k.id, opts.json);
      }),
    );

  key
    .command('ledger')
    .description('the latest ledger entries of a key')
    .argument('<key>', 'key id or prefix')
    .option('--limit <n>', 'entries', '20')
    .option('--json', 'print JSON')
    .action((id: string, opts: { limit: string; json?: boolean }) =>
      local(async (l) => {
        const entries = (await l.ledger.entries((await l.accounts.key(id)).id, Number(opts.limit) || 20)).map(entryView);
        if (opts.json) return console.log(JSON.stringify(entries));
        for (const e of entries) {
          console.log(`${new Date(e.created_at * 1000).toISOString()}  ${e.kind.padEnd(7)} ${formatUsd(usdToMicros(e.amount_usd)).padStart(10)}  → ${formatUsd(usdToMicros(e.balance_after_usd))}  ${e.task_id ?? ''} ${e.note ?? ''}`);
        }
      }),
    );

  program
    .command('usage')
    .description('usage by model and day (all keys, or one)')
    .option('--key <key>', 'key id or prefix')
    .option('--from <date>', 'first day, YYYY-MM-DD (default: 30 days ago)')
    .option('--to <date>', 'last day, YYYY-MM-DD (default: today)')
    .option('--json', 'print JSON')
    .action((opts: { key?: string; from?: string; to?: string; json?: boolean }) =>
      local(async (l) => {
        const range = parseRange({ start_date: opts.from, end_date: opts.to }, Date.now());
        const report = await usageReport(l.db, range, opts.key ? (await l.accounts.key(opts.key)).id : undefined);
        if (opts.json) return console.log(JSON.stringify(report));
        console.log(`${range.start} … ${range.end}: ${report.totals.videos} videos, ${report.totals.seconds} s, ${formatUsd(usdToMicros(report.totals.cost_usd))} (${report.totals.failed} failed, not charged)`);
        for (const m of report.by_model) console.log(`  ${m.model.padEnd(24)} ${String(m.videos).padStart(5)} videos ${String(m.seconds).padStart(7)} s  ${formatUsd(usdToMicros(m.cost_usd))}`);
      }),
    );
}
