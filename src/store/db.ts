import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export interface OpenOptions {
  synchronous?: 'NORMAL' | 'FULL';
}

/**
 * Open (and migrate) the SQLite database in WAL mode. WAL lets the CLI and several gateway
 * processes share one file; every write transaction is BEGIN IMMEDIATE so writers queue on the
 * busy timeout instead of failing half-way.
 */
export function openDatabase(dataDir: string, opts: OpenOptions = {}): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, 'vidgate.db'));
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
export function migrationStatus(db: Db): { pending: string[]; unknown: string[]; applied: Set<string> } {
  const applied = new Set((db.prepare('SELECT id FROM schema_migrations').all() as { id: string }[]).map((r) => r.id));
  const known = new Set(MIGRATIONS.map((m) => m.id));
  return { pending: MIGRATIONS.map((m) => m.id).filter((id) => !applied.has(id)), unknown: [...applied].filter((id) => !known.has(id)), applied };
}

/** Apply pending migrations, each in its own transaction, recording each by id. */
export function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const { unknown, applied } = migrationStatus(db);
  if (unknown.length) throw new Error(`the database has migrations this vidgate does not know (${unknown.join(', ')}); upgrade vidgate`);
  const record = db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)');
  for (const m of MIGRATIONS) {
    if (applied.has(m.id)) continue;
    writeTx(db, () => {
      // Another process may have applied it while we waited for the write lock.
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE id = ?').get(m.id)) return;
      db.exec(m.sql);
      record.run(m.id, Date.now());
    });
  }
}

/** Run fn in a BEGIN IMMEDIATE transaction. */
export function writeTx<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate();
}

/**
 * Whether another connection (a CLI, another gateway process) has written to the database:
 * `epoch()` changes after such a write. It reads PRAGMA data_version (which only changes for
 * other connections' commits) at most once per millisecond, so in-memory caches of rows can
 * check it on every request for next to nothing. One per connection.
 */
export class ExternalWrites {
  private version = -1;
  private checkedAt = -Infinity;
  private current = 0;
  private readonly stmt;

  private constructor(db: Db) {
    this.stmt = db.prepare('PRAGMA data_version').pluck();
  }

  private static readonly byDb = new WeakMap<Db, ExternalWrites>();

  static of(db: Db): ExternalWrites {
    let w = ExternalWrites.byDb.get(db);
    if (!w) ExternalWrites.byDb.set(db, (w = new ExternalWrites(db)));
    return w;
  }

  epoch(): number {
    const now = performance.now();
    if (now - this.checkedAt >= 1) {
      this.checkedAt = now;
      const v = this.stmt.get() as number;
      if (v !== this.version) {
        this.version = v;
        this.current++;
      }
    }
    return this.current;
  }
}
