import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { MIGRATIONS } from './migrations.js';
import type { Database } from './schema.js';

/** The advisory lock every vidgate process takes to migrate a PostgreSQL database (any fixed number). */
const MIGRATION_LOCK = 7_231_180_013;

/**
 * Apply pending migrations to a PostgreSQL database, one transaction each, recording each id in
 * schema_migrations; returns the ids applied. Each transaction first takes a transaction-level
 * advisory lock, so processes starting at once apply each migration exactly once, one after the
 * other. A database with migrations this vidgate does not know is refused before anything changes.
 */
export async function migratePostgres(db: Kysely<Database>): Promise<string[]> {
  const known = new Set(MIGRATIONS.map((m) => m.id));
  const applied: string[] = [];
  for (;;) {
    const next = await db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(trx);
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`.execute(trx);
      const done = new Set((await trx.selectFrom('schema_migrations').select('id').execute()).map((r) => r.id));
      const unknown = [...done].filter((id) => !known.has(id));
      if (unknown.length) throw new Error(`the database has migrations this vidgate does not know (${unknown.join(', ')}); upgrade vidgate`);
      const m = MIGRATIONS.find((x) => !done.has(x.id));
      if (!m) return null;
      await sql.raw(m.pg ?? m.sql).execute(trx);
      await trx.insertInto('schema_migrations').values({ id: m.id, applied_at: Date.now() }).execute();
      return m.id;
    });
    if (!next) return applied;
    applied.push(next);
  }
}
