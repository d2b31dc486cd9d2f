import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Config } from '../config.js';
import { ConfigError } from '../config.js';
import { MIGRATIONS } from './migrations.js';
import type { DatabaseLocation } from './url.js';
import { describeDatabase, parseDatabaseUrl } from './url.js';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migratePostgres } from './migrate-pg.js';
import { errorText } from './open.js';
import type { Database as Schema } from './schema.js';
import type { Database, Sql } from './sql.js';
import { PostgresDatabase, SqliteDatabase, pgTypes } from './sql.js';

export type Db = BetterSqlite3.Database;

export interface OpenOptions {
  synchronous?: 'NORMAL' | 'FULL';
  /** The database file (VIDGATE_DATABASE_URL=sqlite:PATH); default <dataDir>/vidgate.db. */
  file?: string;
}

/** The configured database: VIDGATE_DATABASE_URL, else <dataDir>/vidgate.db. */
export function configuredDatabase(config: Pick<Config, 'dataDir' | 'databaseUrl'>): DatabaseLocation {
  return config.databaseUrl ? parseDatabaseUrl(config.databaseUrl) : { kind: 'sqlite', file: path.join(config.dataDir, 'vidgate.db') };
}

/**
 * Open the database the gateway runs on and apply pending migrations: SQLite (a file under the
 * data directory unless VIDGATE_DATABASE_URL names another) or PostgreSQL.
 */
export async function openGatewayDatabase(
  config: Pick<Config, 'dataDir' | 'databaseUrl' | 'sqlite'> & { databasePoolSize?: number },
  opts: { onListenError?: (err: Error) => void; poolSize?: number } = {},
): Promise<Database> {
  const loc = configuredDatabase(config);
  if (loc.kind === 'sqlite') {
    return new SqliteDatabase(openDatabase(config.dataDir, { synchronous: config.sqlite.synchronous, file: loc.file }));
  }
  const label = describeDatabase(loc);
  let db: PostgresDatabase;
  try {
    db = await PostgresDatabase.open({ url: loc.url, max: opts.poolSize ?? config.databasePoolSize, onListenError: opts.onListenError });
  } catch (err) {
    throw new ConfigError(`VIDGATE_DATABASE_URL: cannot connect to ${label}: ${errorText(err)}`);
  }
  try {
    const kysely = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: loc.url, max: 1, types: pgTypes }) }) });
    try {
      await migratePostgres(kysely);
    } finally {
      await kysely.destroy();
    }
  } catch (err) {
    await db.close();
    throw new ConfigError(`${label}: ${errorText(err)}`);
  }
  return db;
}

/** Migrations this vidgate knows but the database lacks, and ones the database has that it does not know (readiness). */
export async function migrationsOf(db: Sql): Promise<{ pending: string[]; unknown: string[] }> {
  const applied = new Set((await db.all<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id));
  const known = new Set(MIGRATIONS.map((m) => m.id));
  return { pending: MIGRATIONS.map((m) => m.id).filter((id) => !applied.has(id)), unknown: [...applied].filter((id) => !known.has(id)) };
}

/**
 * Open (and migrate) the SQLite database in WAL mode. WAL lets the CLI and several gateway
 * processes share one file; every write transaction is BEGIN IMMEDIATE so writers queue on the
 * busy timeout instead of failing half-way.
 */
export function openDatabase(dataDir: string, opts: OpenOptions = {}): Db {
  mkdirSync(dataDir, { recursive: true });
  const file = opts.file ?? path.join(dataDir, 'vidgate.db');
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 10000');
  // Checkpoint (and fsync) every ~40 MB of WAL rather than every 4 MB: fewer stalls under write load.
  db.pragma('wal_autocheckpoint = 10000');
  // Memory stays flat (docs/operations.md#memory): a 4 MiB page cache per connection instead of
  // better-sqlite3's 16 MiB, which fills as the database grows and shows as RSS growth. (Its
  // build already maps no pages, mmap_size 0, and keeps temporary tables in files.)
  db.pragma('cache_size = -4096');
  migrate(db);
  return db;
}

/** Migrations this vidgate knows but the database lacks, and ones the database has that it does not know. */
function migrationStatus(db: Db): { pending: string[]; unknown: string[]; applied: Set<string> } {
  const applied = new Set((db.prepare('SELECT id FROM schema_migrations').all() as { id: string }[]).map((r) => r.id));
  const known = new Set(MIGRATIONS.map((m) => m.id));
  return { pending: MIGRATIONS.map((m) => m.id).filter((id) => !applied.has(id)), unknown: [...applied].filter((id) => !known.has(id)), applied };
}

/** Apply pending migrations, each in its own transaction, recording each by id; returns the ids applied. */
export function migrate(db: Db): string[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const { unknown, applied } = migrationStatus(db);
  if (unknown.length) throw new Error(`the database has migrations this vidgate does not know (${unknown.join(', ')}); upgrade vidgate`);
  const record = db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)');
  const done: string[] = [];
  for (const m of MIGRATIONS) {
    if (applied.has(m.id)) continue;
    // BEGIN IMMEDIATE: another process may have applied it while we waited for the write lock.
    db.transaction(() => {
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE id = ?').get(m.id)) return;
      db.exec(m.sql);
      record.run(m.id, Date.now());
      done.push(m.id);
    }).immediate();
  }
  return done;
}
