import type { Kysely, Transaction } from 'kysely';
import { sql } from 'kysely';
import { MIGRATIONS } from './migrations.js';
import type { OpenedDatabase } from './open.js';
import { migrateDatabase } from './open.js';
import type { DataTable, Database } from './schema.js';
import { DATA_TABLES, TABLES } from './schema.js';

/**
 * `vidgate db copy`: move a whole installation from one database to another (SQLite or
 * PostgreSQL on either side). The target is migrated, must hold no row in any vidgate table, and
 * is written in one transaction, so a failure (or a failed check) leaves it empty. The source is
 * read in one read-only transaction: a gateway writing to it meanwhile does not tear the copy.
 */

/** Rows of one table, as Kysely sees a table whose name is only known at run time. */
type Loose = Record<string, Record<string, unknown>>;
type Row = Record<string, unknown>;

export interface TableCount {
  table: DataTable;
  source: number;
  target: number;
}

export interface KeyBalance {
  keyId: string;
  /** api_keys.balance_micros (the cached balance). */
  balanceMicros: number;
  /** Sum of the key's ledger entries. */
  ledgerMicros: number;
  /** Sum of the quotes held by the key's unfinished tasks. */
  heldMicros: number;
}

export interface CopyReport {
  from: string;
  to: string;
  tables: TableCount[];
  keys: number;
  /** Keys whose balances differ between source and target (empty when the copy is good). */
  balanceMismatches: { keyId: string; source: KeyBalance | null; target: KeyBalance | null }[];
  /** Identity sequences moved on the target: table.column → the last value handed out. */
  sequences: Record<string, number>;
}

/** The copy was refused before anything was written (a non-empty target, a source at another version). */
export class CopyRefused extends Error {}

/** The copy ran but the checks failed: the target transaction was rolled back. */
export class CopyMismatch extends Error {
  constructor(readonly report: CopyReport) {
    super('the copy does not match the source (see the table above); the target was left empty');
  }
}

export interface CopyOptions {
  /**
   * Values per INSERT (rows per batch = this / columns): bound parameters on a SQLite target
   * (default 8,000, at most 1,000 rows), array elements on a PostgreSQL one (default 100,000, at
   * most 10,000 rows; see insertPg).
   */
  maxParams?: number;
  /** Called once per table after it is copied. */
  onTable?: (table: DataTable, rows: number) => void;
}

export async function copyDatabase(from: OpenedDatabase, to: OpenedDatabase, opts: CopyOptions = {}): Promise<CopyReport> {
  await assertSourceCurrent(from);
  // Refuse a non-empty target before migrating it, so a refused copy writes nothing at all.
  const existing = new Set((await to.db.introspection.getTables()).map((t) => t.name));
  await assertEmpty(to.db, DATA_TABLES.filter((t) => existing.has(t)));
  await migrateDatabase(to);

  return from.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (srcTx) => {
      const src = srcTx as unknown as Transaction<Loose>;
      return to.db.transaction().execute(async (dstTx) => {
        const dst = dstTx as unknown as Transaction<Loose>;
        // Checked again inside the transaction: nothing may have arrived since.
        await assertEmpty(dstTx, DATA_TABLES);
        const batching = to.kind === 'postgres' ? { maxValues: opts.maxParams ?? 100_000, maxRows: 10_000 } : { maxValues: opts.maxParams ?? 8000, maxRows: 1000 };
        for (const table of DATA_TABLES) {
          const insert = to.kind === 'postgres' ? await insertPg(dst, table) : (rows: Row[]) => dst.insertInto(table).values(rows).execute();
          const rows = await copyTable(src, insert, table, batching);
          opts.onTable?.(table, rows);
        }
        const sequences: Record<string, number> = {};
        for (const table of DATA_TABLES) {
          const column = identityOf(table);
          if (!column) continue;
          const last = Math.max(await maxOf(src, table, column), await sequenceOf(from.kind, src, table, column));
          if (last > 0) {
            await setSequence(to.kind, dst, table, column, last);
            sequences[`${table}.${column}`] = last;
          }
        }
        const report: CopyReport = {
          from: from.label,
          to: to.label,
          tables: [],
          keys: 0,
          balanceMismatches: [],
          sequences,
        };
        for (const table of DATA_TABLES) report.tables.push({ table, source: await countOf(src, table), target: await countOf(dst, table) });
        const before = await balances(src);
        const after = await balances(dst);
        report.keys = before.size;
        for (const keyId of new Set([...before.keys(), ...after.keys()])) {
          const a = before.get(keyId) ?? null;
          const b = after.get(keyId) ?? null;
          if (!a || !b || a.balanceMicros !== b.balanceMicros || a.ledgerMicros !== b.ledgerMicros || a.heldMicros !== b.heldMicros) {
            report.balanceMismatches.push({ keyId, source: a, target: b });
          }
        }
        if (report.tables.some((t) => t.source !== t.target) || report.balanceMismatches.length) throw new CopyMismatch(report);
        return report;
      });
    });
}

/** The source must be at exactly this vidgate's schema (it is opened read-only, so it cannot be migrated here). */
async function assertSourceCurrent(from: OpenedDatabase): Promise<void> {
  const tables = new Set((await from.db.introspection.getTables()).map((t) => t.name));
  if (!tables.has('schema_migrations')) throw new CopyRefused(`${from.label} is not a vidgate database (it has no schema_migrations table)`);
  const applied = new Set((await from.db.selectFrom('schema_migrations').select('id').execute()).map((r) => r.id));
  const known = MIGRATIONS.map((m) => m.id);
  const unknown = [...applied].filter((id) => !known.includes(id));
  if (unknown.length) throw new CopyRefused(`${from.label} has migrations this vidgate does not know (${unknown.join(', ')}); upgrade vidgate`);
  const pending = known.filter((id) => !applied.has(id));
  if (pending.length) {
    throw new CopyRefused(`${from.label} lacks migrations ${pending.join(', ')}: run \`vidgate migrate --database <source>\` first`);
  }
}

async function assertEmpty(db: Kysely<Database>, tables: readonly DataTable[]): Promise<void> {
  const loose = db as unknown as Kysely<Loose>;
  for (const table of tables) {
    const row = await loose.selectFrom(table).select(sql<number>`1`.as('one')).limit(1).executeTakeFirst();
    if (row) throw new CopyRefused(`the target already holds rows in table ${table}; db copy writes only into an empty database`);
  }
}

function identityOf(table: DataTable): string | undefined {
  const info = TABLES[table] as { identity?: string };
  return info.identity;
}

/**
 * Inserting a batch into a PostgreSQL table: one statement whose parameters are one array per
 * column (INSERT … SELECT * FROM unnest($1::type[], …)), so the statement text, its parse and plan
 * stay the same size however many rows a batch holds (a VALUES list of thousands of rows costs
 * the client to build and the server to parse more than the rows themselves).
 */
async function insertPg(dst: Transaction<Loose>, table: DataTable): Promise<(rows: Row[]) => Promise<unknown>> {
  const { columns } = TABLES[table] as { columns: readonly string[] };
  const types = await sql<{ name: string; type: string }>`
    SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
    WHERE attrelid = ${table}::regclass AND attnum > 0 AND NOT attisdropped`.execute(dst);
  const typeOf = new Map(types.rows.map((r) => [r.name, r.type]));
  const arrayTypes = columns.map((c) => {
    const t = typeOf.get(c);
    if (!t) throw new Error(`the target's table ${table} has no column ${c}`);
    return sql.raw(`${t}[]`);
  });
  const target = sql.join(columns.map((c) => sql.ref(c)));
  return (rows) => {
    const arrays = columns.map((c, i) => sql`${rows.map((r) => r[c] ?? null)}::${arrayTypes[i]!}`);
    return sql`INSERT INTO ${sql.table(table)} (${target}) SELECT * FROM unnest(${sql.join(arrays)})`.execute(dst);
  };
}

/** Copy one table in primary-key order, a batch at a time (keyset pagination); returns the rows copied. */
async function copyTable(
  src: Transaction<Loose>,
  insert: (rows: Row[]) => Promise<unknown>,
  table: DataTable,
  batching: { maxValues: number; maxRows: number },
): Promise<number> {
  const { columns, primaryKey } = TABLES[table] as { columns: readonly string[]; primaryKey: readonly string[] };
  const batch = Math.max(1, Math.min(batching.maxRows, Math.floor(batching.maxValues / columns.length)));
  const keyRef = sql.join(primaryKey.map((c) => sql.ref(c)));
  let after: unknown[] | null = null;
  let copied = 0;
  for (;;) {
    let q = src.selectFrom(table).select(columns.map((c) => sql.ref(c).as(c)));
    if (after) {
      const values = sql.join(after.map((v) => sql`${v}`));
      q = q.where(primaryKey.length === 1 ? sql<boolean>`${sql.ref(primaryKey[0]!)} > ${after[0]}` : sql<boolean>`(${keyRef}) > (${values})`);
    }
    for (const c of primaryKey) q = q.orderBy(sql.ref(c), 'asc');
    const rows = (await q.limit(batch).execute()) as Row[];
    if (!rows.length) return copied;
    await insert(rows);
    copied += rows.length;
    const last = rows[rows.length - 1]!;
    after = primaryKey.map((c) => last[c]);
    if (rows.length < batch) return copied;
  }
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

async function countOf(db: Transaction<Loose>, table: DataTable): Promise<number> {
  const row = await db.selectFrom(table).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  return num(row.n);
}

async function maxOf(db: Transaction<Loose>, table: DataTable, column: string): Promise<number> {
  const row = await db.selectFrom(table).select(sql<number>`max(${sql.ref(column)})`.as('m')).executeTakeFirstOrThrow();
  return num(row.m);
}

/**
 * The last value the source's sequence handed out, which can be above the largest row left
 * (SQLite AUTOINCREMENT never reuses a number; neither may the copy).
 */
async function sequenceOf(kind: OpenedDatabase['kind'], db: Transaction<Loose>, table: string, column: string): Promise<number> {
  if (kind === 'sqlite') {
    const row = await sql<{ seq: number }>`SELECT seq FROM sqlite_sequence WHERE name = ${table}`.execute(db);
    return num(row.rows[0]?.seq);
  }
  const row = await sql<{ last: number | null }>`SELECT pg_sequence_last_value(pg_get_serial_sequence(${table}, ${column})::regclass) AS last`.execute(db);
  return num(row.rows[0]?.last);
}

async function setSequence(kind: OpenedDatabase['kind'], db: Transaction<Loose>, table: string, column: string, last: number): Promise<void> {
  if (kind === 'postgres') {
    await sql`SELECT setval(pg_get_serial_sequence(${table}, ${column}), ${last}, true)`.execute(db);
    return;
  }
  const updated = await sql`UPDATE sqlite_sequence SET seq = max(seq, ${last}) WHERE name = ${table}`.execute(db);
  if (!Number(updated.numAffectedRows ?? 0)) await sql`INSERT INTO sqlite_sequence (name, seq) VALUES (${table}, ${last})`.execute(db);
}

/**
 * Every key's money as billing computes it (billing/ledger.ts): the cached balance, the sum of
 * its ledger entries, and the holds of its unfinished tasks.
 */
async function balances(db: Transaction<Loose>): Promise<Map<string, KeyBalance>> {
  const keys = await db.selectFrom('api_keys').select(['id', 'balance_micros']).execute();
  const ledger = await db.selectFrom('ledger').select(['key_id', sql<number>`sum(amount_micros)`.as('total')]).groupBy('key_id').execute();
  const held = await db
    .selectFrom('tasks')
    .select(['key_id', sql<number>`sum(quote_micros)`.as('total')])
    .where('stage', '<>', 'done')
    .groupBy('key_id')
    .execute();
  const ledgerBy = new Map(ledger.map((r) => [String(r.key_id), num(r.total)]));
  const heldBy = new Map(held.map((r) => [String(r.key_id), num(r.total)]));
  const out = new Map<string, KeyBalance>();
  for (const k of keys) {
    const keyId = String(k.id);
    out.set(keyId, { keyId, balanceMicros: num(k.balance_micros), ledgerMicros: ledgerBy.get(keyId) ?? 0, heldMicros: heldBy.get(keyId) ?? 0 });
  }
  return out;
}
