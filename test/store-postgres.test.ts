import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/migrations.js';
import { DATA_TABLES, TABLES, TRANSIENT_TABLES, TRANSIENT_TABLE_NAMES } from '../src/store/schema.js';
import { cli, ROOT, spawnServer } from './helpers/process.js';
import { postgresMissing, testDatabases } from './helpers/postgres.js';

/**
 * The PostgreSQL schema against the SQLite one: `vidgate migrate` on both, the tables, columns and
 * indexes they end up with, src/store/schema.ts against both, and the migration runner's guards.
 */

const skip = await postgresMissing();
if (skip) console.warn(`store-postgres.test.ts: PostgreSQL tests skipped: ${skip}`);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vidgate-pgschema-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run the CLI; resolve with its exit code and output whatever the code. */
async function vidgate(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await cli(args, { VIDGATE_DATA_DIR: dir, ...env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const ALL_IDS = MIGRATIONS.map((m) => m.id);

interface Column {
  name: string;
  nullable: boolean;
  type: 'integer' | 'real' | 'text' | 'blob';
}
interface Index {
  name: string;
  unique: boolean;
  partial: boolean;
  columns: string[];
}
interface TableShape {
  columns: Column[];
  primaryKey: string[];
  /** Column lists of UNIQUE constraints (not of CREATE UNIQUE INDEX, which are in indexes). */
  uniques: string[][];
  indexes: Index[];
  identity: string | null;
}
type Shape = Record<string, TableShape>;

const sqliteType = (declared: string): Column['type'] => {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (t.includes('REAL') || t.includes('DOUB') || t.includes('FLOA')) return 'real';
  if (t.includes('BLOB')) return 'blob';
  return 'text';
};
const pgType = (t: string): Column['type'] => {
  if (['bigint', 'integer', 'smallint'].includes(t)) return 'integer';
  if (['double precision', 'real', 'numeric'].includes(t)) return 'real';
  if (t === 'bytea') return 'blob';
  return 'text';
};
const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);

function sqliteShape(file: string): Shape {
  const db = new Database(file, { readonly: true });
  try {
    const out: Shape = {};
    const tables = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string; sql: string }[];
    for (const { name, sql } of tables) {
      const info = db.prepare(`PRAGMA table_info(${name})`).all() as { name: string; type: string; notnull: number; pk: number }[];
      const indexList = db.prepare(`PRAGMA index_list(${name})`).all() as { name: string; unique: number; origin: string; partial: number }[];
      const cols = (idx: string) => (db.prepare(`PRAGMA index_info(${idx})`).all() as { name: string }[]).map((c) => c.name);
      out[name] = {
        // SQLite lets a non-INTEGER PRIMARY KEY column hold NULL unless declared NOT NULL; vidgate
        // never stores one there, and PostgreSQL makes primary keys NOT NULL.
        columns: info.map((c) => ({ name: c.name, nullable: !c.notnull && !c.pk, type: sqliteType(c.type) })).sort(byName),
        primaryKey: info.filter((c) => c.pk).sort((a, b) => a.pk - b.pk).map((c) => c.name),
        uniques: indexList.filter((i) => i.origin === 'u').map((i) => cols(i.name)).sort(),
        indexes: indexList.filter((i) => i.origin === 'c').map((i) => ({ name: i.name, unique: !!i.unique, partial: !!i.partial, columns: cols(i.name) })).sort(byName),
        identity: /AUTOINCREMENT/i.test(sql) ? info.find((c) => c.pk)!.name : null,
      };
    }
    return out;
  } finally {
    db.close();
  }
}

async function postgresShape(url: string): Promise<Shape> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Shape = {};
    const tables = (await client.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)).rows as { table_name: string }[];
    for (const { table_name: name } of tables) {
      const columns = (
        await client.query(
          `SELECT column_name, is_nullable, data_type, is_identity FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`,
          [name],
        )
      ).rows as { column_name: string; is_nullable: string; data_type: string; is_identity: string }[];
      const constraints = (
        await client.query(
          `SELECT c.contype, c.conindid::regclass::text AS index_name,
                  array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS cols
             FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype IN ('p', 'u')`,
          [name],
        )
      ).rows as { contype: string; index_name: string; cols: string[] }[];
      const constraintIndexes = new Set(constraints.map((c) => c.index_name));
      const indexes = (
        await client.query(
          `SELECT i.indexrelid::regclass::text AS name, i.indisunique AS unique, i.indpred IS NOT NULL AS partial,
                  array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)::text[] AS columns
             FROM pg_index i WHERE i.indrelid = $1::regclass`,
          [name],
        )
      ).rows as Index[];
      out[name] = {
        columns: columns.map((c) => ({ name: c.column_name, nullable: c.is_nullable === 'YES', type: pgType(c.data_type) })).sort(byName),
        primaryKey: constraints.find((c) => c.contype === 'p')?.cols ?? [],
        uniques: constraints.filter((c) => c.contype === 'u').map((c) => c.cols).sort(),
        indexes: indexes.filter((i) => !constraintIndexes.has(i.name)).sort(byName),
        identity: columns.find((c) => c.is_identity === 'YES')?.column_name ?? null,
      };
    }
    return out;
  } finally {
    await client.end();
  }
}

describe('VIDGATE_DATABASE_URL and the gateway', () => {
  it('a sqlite: URL moves the gateway and the CLI onto that file', async () => {
    const file = path.join(dir, 'elsewhere', 'gateway.db');
    const env = { VIDGATE_DATA_DIR: path.join(dir, 'gw-data'), VIDGATE_DATABASE_URL: `sqlite:${file}` };
    const created = await vidgate(['key', 'create', '--name', 'elsewhere', '--json'], env);
    expect(created.code).toBe(0);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const server = await spawnServer(env);
    try {
      const res = await fetch(`${server.url}/v1/videos?limit=1`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    expect(existsSync(file)).toBe(true);
    expect(existsSync(path.join(dir, 'gw-data', 'vidgate.db'))).toBe(false);
  });

  it('a PostgreSQL database that cannot be reached stops the gateway at start-up with one line naming it (never SQLite instead)', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/main.js')], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', VIDGATE_DATA_DIR: path.join(dir, 'pg-gw'), VIDGATE_DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:5432/vidgate_no_such_database' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(out.trim()).toBe(
      'VIDGATE_DATABASE_URL: cannot connect to postgres://postgres:***@127.0.0.1:5432/vidgate_no_such_database: database "vidgate_no_such_database" does not exist',
    );
    expect(existsSync(path.join(dir, 'pg-gw', 'vidgate.db'))).toBe(false);
  });

  it('a URL of another kind is refused with one line naming the variable or option', async () => {
    const bad = await vidgate(['key', 'list'], { VIDGATE_DATABASE_URL: 'mysql://root@localhost/vidgate' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('VIDGATE_DATABASE_URL: unsupported database URL');
    const option = await vidgate(['migrate', '--database', 'mysql://root:hunter2@localhost/vidgate']);
    expect(option.code).toBe(1);
    expect(option.stderr.trim().split('\n')).toEqual([
      "vidgate: unsupported database URL 'mysql://root:***@localhost/vidgate': use sqlite:PATH, a file path, or postgres://USER@HOST:PORT/DATABASE",
    ]);
  });
});

describe('vidgate migrate on SQLite', () => {
  it('applies every migration once, then has nothing to do; the default is <dataDir>/vidgate.db', async () => {
    const first = await vidgate(['migrate']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(ALL_IDS.map((id) => `applied ${id}`).join('\n'));
    expect(first.stdout).toContain(`sqlite:${path.join(dir, 'vidgate.db')}: ${ALL_IDS.length} migrations applied`);
    const second = await vidgate(['migrate']);
    expect(second.stdout.trim()).toBe(`sqlite:${path.join(dir, 'vidgate.db')}: nothing to do, the schema is up to date`);
  });

  it('refuses a database with migrations it does not know', async () => {
    const file = path.join(dir, 'future.db');
    expect((await vidgate(['migrate', '--database', `sqlite:${file}`])).code).toBe(0);
    const db = new Database(file);
    db.prepare(`INSERT INTO schema_migrations (id, applied_at) VALUES ('999_from_the_future', 0)`).run();
    db.close();
    const res = await vidgate(['migrate', '--database', file]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe(`vidgate: sqlite:${file}: the database has migrations this vidgate does not know (999_from_the_future); upgrade vidgate`);
  });
});

describe.skipIf(!!skip)('vidgate migrate on PostgreSQL', () => {
  const dbs = testDatabases();
  afterAll(async () => dbs.dropAll());

  it('applies every migration once, then has nothing to do', async () => {
    const url = await dbs.create();
    const first = await vidgate(['migrate', '--database', url]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(ALL_IDS.map((id) => `applied ${id}`).join('\n'));
    const second = await vidgate(['migrate'], { VIDGATE_DATABASE_URL: url });
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe(`${url}: nothing to do, the schema is up to date`);
  });

  it('two processes migrating at once apply each migration exactly once', async () => {
    const url = await dbs.create();
    const runs = await Promise.all([vidgate(['migrate', '--database', url]), vidgate(['migrate', '--database', url]), vidgate(['migrate', '--database', url])]);
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    const applied = runs.flatMap((r) => [...r.stdout.matchAll(/^applied (\S+)$/gm)].map((m) => m[1]));
    expect(applied.sort()).toEqual([...ALL_IDS].sort());
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const rows = (await client.query('SELECT id FROM schema_migrations ORDER BY id')).rows as { id: string }[];
    await client.end();
    expect(rows.map((r) => r.id)).toEqual(ALL_IDS);
  });

  it('refuses a database with migrations it does not know, changing nothing', async () => {
    const url = await dbs.create();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
    await client.query(`INSERT INTO schema_migrations VALUES ('001_tasks', 0), ('999_from_the_future', 0)`);
    const res = await vidgate(['migrate', '--database', url]);
    const tables = (await client.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`)).rows[0] as { n: number };
    await client.end();
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe(`vidgate: ${url}: the database has migrations this vidgate does not know (999_from_the_future); upgrade vidgate`);
    expect(tables.n).toBe(1);
  });

  it('an unreachable server is one line and exit 1', async () => {
    const res = await vidgate(['migrate', '--database', 'postgres://postgres:pw@127.0.0.1:1/vidgate']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe('vidgate: cannot connect to postgres://postgres:***@127.0.0.1:1/vidgate: connect ECONNREFUSED 127.0.0.1:1');
  });

  it('both databases end up with the same tables, columns, keys and indexes, and schema.ts describes them', async () => {
    const url = await dbs.create();
    const file = path.join(dir, 'compare.db');
    expect((await vidgate(['migrate', '--database', url])).code).toBe(0);
    expect((await vidgate(['migrate', '--database', file])).code).toBe(0);
    const lite = sqliteShape(file);
    const post = await postgresShape(url);

    expect(Object.keys(post).sort()).toEqual(Object.keys(lite).sort());
    expect(Object.keys(lite).sort()).toEqual(['schema_migrations', ...DATA_TABLES, ...TRANSIENT_TABLE_NAMES].sort());
    for (const table of Object.keys(lite)) {
      expect({ table, ...post[table] }).toEqual({ table, ...lite[table] });
    }
    // Everything counted in milliseconds or micro-dollars is BIGINT on PostgreSQL.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const narrow = (
      await client.query(
        `SELECT table_name || '.' || column_name AS col FROM information_schema.columns
          WHERE table_schema = 'public' AND data_type <> 'bigint'
            AND (column_name ~ '(_at|_until|_micros|_ms)$' OR column_name IN ('balance_after', 'bytes', 'seq', 'event_seq'))`,
      )
    ).rows as { col: string }[];
    expect(narrow.map((r) => r.col).filter((c) => !c.endsWith('mean_ms') && !c.endsWith('dev_ms'))).toEqual([]);
    // The limits' tables hold transient state: UNLOGGED (no WAL per request); the data tables are not.
    const unlogged = (await client.query(`SELECT relname FROM pg_class WHERE relkind = 'r' AND relpersistence = 'u' ORDER BY relname`)).rows as { relname: string }[];
    expect(unlogged.map((r) => r.relname)).toEqual([...TRANSIENT_TABLE_NAMES].sort());
    await client.end();

    // schema.ts: every table's columns, primary key and identity column.
    const described = { ...TABLES, ...TRANSIENT_TABLES };
    for (const table of [...DATA_TABLES, ...TRANSIENT_TABLE_NAMES]) {
      const info = described[table] as { columns: readonly string[]; primaryKey: readonly string[]; identity?: string };
      expect({ table, columns: [...info.columns].sort() }).toEqual({ table, columns: lite[table]!.columns.map((c) => c.name).sort() });
      expect({ table, pk: info.primaryKey }).toEqual({ table, pk: lite[table]!.primaryKey });
      expect({ table, identity: info.identity ?? null }).toEqual({ table, identity: lite[table]!.identity });
    }
  });
});
