import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import type { CopyReport } from '../store/copy.js';
import { CopyMismatch, copyDatabase } from '../store/copy.js';
import { configuredDatabase } from '../store/db.js';
import type { OpenedDatabase } from '../store/open.js';
import { errorText, migrateDatabase, openDatabaseUrl } from '../store/open.js';
import type { DatabaseLocation } from '../store/url.js';
import { parseDatabaseUrl } from '../store/url.js';

/** The database a command works on: --database, else VIDGATE_DATABASE_URL, else <dataDir>/vidgate.db. */
function databaseOf(option: string | undefined): DatabaseLocation {
  return option !== undefined ? parseDatabaseUrl(option) : configuredDatabase(loadConfig());
}

async function withDatabase<T>(loc: DatabaseLocation, opts: { readonly?: boolean }, fn: (db: OpenedDatabase) => Promise<T>): Promise<T> {
  const db = await openDatabaseUrl(loc, opts);
  try {
    return await fn(db);
  } catch (err) {
    // Driver errors can span lines; the CLI prints one.
    throw new Error(errorText(err));
  } finally {
    await db.close();
  }
}

function printReport(report: CopyReport): void {
  const width = Math.max(...report.tables.map((t) => t.table.length), 'table'.length);
  console.log(`${'table'.padEnd(width)}  ${'source'.padStart(8)}  ${'target'.padStart(8)}`);
  for (const t of report.tables) {
    console.log(`${t.table.padEnd(width)}  ${String(t.source).padStart(8)}  ${String(t.target).padStart(8)}${t.source === t.target ? '' : '  MISMATCH'}`);
  }
  if (report.balanceMismatches.length) {
    for (const m of report.balanceMismatches) {
      const show = (b: typeof m.source) => (b ? `balance ${b.balanceMicros}, ledger ${b.ledgerMicros}, held ${b.heldMicros} micro-USD` : 'missing');
      console.log(`key ${m.keyId}: source ${show(m.source)}; target ${show(m.target)}  MISMATCH`);
    }
  } else {
    console.log(`balances: ${report.keys} key${report.keys === 1 ? '' : 's'}, every balance, ledger sum and hold equal on both sides`);
  }
}

export function registerDbCommands(program: Command): void {
  program
    .command('migrate')
    .description('apply pending schema migrations to the database (SQLite or PostgreSQL) and exit')
    .option('--database <url>', 'sqlite:PATH, a file path or postgres://… (default: VIDGATE_DATABASE_URL, else <dataDir>/vidgate.db)')
    .action(async (opts: { database?: string }) => {
      const loc = databaseOf(opts.database);
      await withDatabase(loc, {}, async (db) => {
        const applied = await migrateDatabase(db).catch((err: unknown) => {
          throw new Error(`${db.label}: ${errorText(err)}`);
        });
        if (!applied.length) {
          console.log(`${db.label}: nothing to do, the schema is up to date`);
          return;
        }
        for (const id of applied) console.log(`applied ${id}`);
        console.log(`${db.label}: ${applied.length} migration${applied.length === 1 ? '' : 's'} applied`);
      });
    });

  const db = program.command('db').description('database maintenance');
  db.command('copy')
    .description('copy every vidgate table from one database into an empty one, then verify counts and balances')
    .requiredOption('--from <url>', 'the source: sqlite:PATH, a file path or postgres://… (opened read-only)')
    .requiredOption('--to <url>', 'the target: sqlite:PATH, a file path or postgres://… (migrated; must hold no rows)')
    .action(async (opts: { from: string; to: string }) => {
      const from = parseDatabaseUrl(opts.from);
      const to = parseDatabaseUrl(opts.to);
      if (from.kind === 'sqlite' && to.kind === 'sqlite' && from.file === to.file) throw new Error('--from and --to name the same database');
      await withDatabase(from, { readonly: true }, (source) =>
        withDatabase(to, {}, async (target) => {
          let report: CopyReport;
          try {
            report = await copyDatabase(source, target);
          } catch (err) {
            if (err instanceof CopyMismatch) printReport(err.report);
            throw err;
          }
          printReport(report);
          console.log(`copied ${source.label} → ${target.label}`);
        }),
      );
    });
}
