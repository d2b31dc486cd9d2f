import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Db } from './db.js';
import { migrate } from './db.js';
import { migratePostgres } from './migrate-pg.js';
import type { Database as Schema } from './schema.js';
import type { DatabaseLocation } from './url.js';
import { describeDatabase, parseDatabaseUrl } from './url.js';
import { pgTypes } from './sql.js';

/**
 * A vidgate database opened through Kysely, on SQLite (better-sqlite3) or PostgreSQL (a pg.Pool).
 * The running gateway uses store/sql.ts; `vidgate migrate` and `vidgate db copy` use this.
 */
export interface OpenedDatabase {
  kind: DatabaseLocation['kind'];
  /** How it reads in messages (no password). */
  label: string;
  db: Kysely<Schema>;
  /** The better-sqlite3 connection behind `db` (SQLite only). */
  sqlite?: Db;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Open for reading only: SQLite read-only; PostgreSQL transactions default to READ ONLY. */
  readonly?: boolean;
}

/** Open the database a URL names (see store/url.ts). Errors are one line and name the database. */
export async function openDatabaseUrl(url: string | DatabaseLocation, opts: OpenDatabaseOptions = {}): Promise<OpenedDatabase> {
  const loc = typeof url === 'string' ? parseDatabaseUrl(url) : url;
  return loc.kind === 'sqlite' ? openSqlite(loc.file, opts) : openPostgres(loc.url, opts);
}

function openSqlite(file: string, opts: OpenDatabaseOptions): OpenedDatabase {
  const label = describeDatabase({ kind: 'sqlite', file });
  let raw: Db;
  try {
    if (opts.readonly) {
      if (!existsSync(file)) throw new Error('no such file');
      raw = new Database(file, { readonly: true, fileMustExist: true });
    } else {
      mkdirSync(path.dirname(file), { recursive: true });
      raw = new Database(file);
      raw.pragma('journal_mode = WAL');
      raw.pragma('foreign_keys = ON');
    }
    raw.pragma('busy_timeout = 10000');
    // Reading the schema here turns "not a database" into an error now rather than later.
    raw.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (err) {
    throw new Error(`cannot open ${label}: ${(err as Error).message}`);
  }
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: raw }) });
  return {
    kind: 'sqlite',
    label,
    db,
    sqlite: raw,
    // Kysely's SQLite driver closes the better-sqlite3 connection.
    close: () => db.destroy(),
  };
}

async function openPostgres(url: string, opts: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const label = describeDatabase({ kind: 'postgres', url });
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: 10_000,
    types: pgTypes,
    application_name: 'vidgate',
    ...(opts.readonly ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  // An idle connection dropped by the server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`SELECT 1`.execute(db);
  } catch (err) {
    await db.destroy().catch(() => {});
    throw new Error(`cannot connect to ${label}: ${errorText(err)}`);
  }
  return { kind: 'postgres', label, db, close: () => db.destroy() };
}

/** A one-line description of a driver error (connection errors can be AggregateErrors with no message). */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) return errorText(err.errors[0]);
  const e = err as { message?: string; code?: string };
  return (e?.message || e?.code || String(err)).split('\n')[0]!;
}

/**
 * Apply the migrations the database lacks and return their ids (empty when it is up to date).
 * Refuses a database that has migrations this vidgate does not know.
 */
export async function migrateDatabase(opened: OpenedDatabase): Promise<string[]> {
  if (opened.kind === 'sqlite') return migrate(opened.sqlite!);
  return migratePostgres(opened.db);
}
