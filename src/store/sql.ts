import { randomBytes } from 'node:crypto';
import type { Database as SqliteConnection, Statement } from 'better-sqlite3';
import pg from 'pg';

/**
 * The one way the gateway talks to its database, on SQLite or PostgreSQL. Queries are written
 * once, in SQL both accept, with `?` (positional) or `@name` (named, from an object) parameters;
 * the few places where the two databases differ ask `q.dialect`. Every method is asynchronous:
 * on SQLite it runs the (cached, prepared) statement at once and answers with a settled promise,
 * on PostgreSQL it is a round trip through a connection pool.
 *
 * A transaction is a handle (`Tx`) passed to the code that runs in it: stores bind to it with
 * their `in(tx)`, and the hooks that must commit with a task's change receive it.
 */
export type SqlValue = string | number | bigint | null | Buffer;
export type SqlParams = readonly SqlValue[] | Readonly<Record<string, unknown>>;
export type Dialect = 'sqlite' | 'postgres';

export interface Sql {
  readonly dialect: Dialect;
  all<T = Record<string, unknown>>(text: string, params?: SqlParams): Promise<T[]>;
  get<T = Record<string, unknown>>(text: string, params?: SqlParams): Promise<T | undefined>;
  /** Run a statement; returns how many rows it changed. */
  run(text: string, params?: SqlParams): Promise<number>;
}

/** A transaction in progress. */
export interface Tx extends Sql {
  /** Run fn in a savepoint: if it throws, only its changes roll back and the transaction goes on. */
  savepoint<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Run fn once the transaction has committed (not if it rolls back): in-memory caches drop what
   * it changed then, so that a read that ran meanwhile (PostgreSQL reads do not wait for the
   * commit) cannot put the old row back.
   */
  onCommit(fn: () => void): void;
  /**
   * Run fn at the end of the transaction, after the work passed to `transaction` has finished
   * and just before COMMIT, in the order registered; a throw rolls the transaction back. Work
   * that must hold a lock until the commit goes here so that it holds it for the shortest time
   * (the event-order lock, TaskStore.appendEvent). What a savepoint registered is dropped when
   * the savepoint rolls back.
   */
  beforeCommit(fn: () => Promise<void>): void;
}

export interface Database extends Sql {
  /**
   * Run fn in one write transaction and commit; roll back if it throws. SQLite: BEGIN IMMEDIATE,
   * one at a time in this process (statements outside it wait); PostgreSQL: READ COMMITTED on
   * a pooled connection, compare-and-set statements and row locks keep changes safe.
   * fn must not wait on anything but the database (no file or network I/O).
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Changes when another connection (a CLI, another gateway node) has committed a write
   * transaction: in-memory caches of rows compare it on each use. SQLite: PRAGMA data_version
   * (read at most once per millisecond); PostgreSQL: a NOTIFY every write transaction sends.
   */
  externalEpoch(): number;
  /** Whether the database answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- SQLite

/** The database on a better-sqlite3 connection (already opened, configured and migrated). */
export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  private readonly stmts = new Map<string, Statement>();
  /** A transaction is open: statements from outside it wait for `turn`. */
  private locked = false;
  private readonly waiting: Array<() => void> = [];
  private version = -1;
  private checkedAt = -Infinity;
  private epoch = 0;
  private readonly dataVersion: Statement;

  constructor(readonly connection: SqliteConnection) {
    this.dataVersion = connection.prepare('PRAGMA data_version').pluck();
  }

  /**
   * The prepared statement for this text (prepared once). Texts built with a varying number of
   * parameters (IN lists) could grow the cache without bound: past MAX_PREPARED texts, new ones
   * are prepared for each use.
   */
  statement(text: string): Statement {
    let s = this.stmts.get(text);
    if (!s) {
      s = this.connection.prepare(text);
      if (this.stmts.size < MAX_PREPARED) this.stmts.set(text, s);
    }
    return s;
  }

  /** Run now, on the connection (the caller holds the turn or no transaction is open). */
  exec<R>(fn: () => R): Promise<R> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private outside<R>(fn: () => R): Promise<R> {
    if (!this.locked) return this.exec(fn);
    return this.acquire().then(() => {
      try {
        return fn();
      } finally {
        this.releaseTurn();
      }
    });
  }

  all<T>(text: string, params?: SqlParams): Promise<T[]> {
    return this.outside(() => sqliteAll<T>(this.statement(text), params));
  }

  get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    return this.outside(() => sqliteGet<T>(this.statement(text), params));
  }

  run(text: string, params?: SqlParams): Promise<number> {
    return this.outside(() => sqliteRun(this.statement(text), params));
  }

  private acquire(): Promise<void> {
    if (!this.locked) {
      this.locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private releaseTurn(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.locked = false;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    await this.acquire();
    const tx = new SqliteTx(this);
    try {
      this.statement('BEGIN IMMEDIATE').run();
      let result: T;
      try {
        result = await fn(tx);
        await tx.runBeforeCommit();
        this.statement('COMMIT').run();
      } catch (err) {
        if (this.connection.inTransaction) this.statement('ROLLBACK').run();
        throw err;
      }
      for (const then of tx.committed) then();
      return result;
    } finally {
      tx.open = false;
      this.releaseTurn();
    }
  }

  externalEpoch(): number {
    const now = performance.now();
    if (now - this.checkedAt >= 1) {
      this.checkedAt = now;
      const v = this.dataVersion.get() as number;
      if (v !== this.version) {
        this.version = v;
        this.epoch++;
      }
    }
    return this.epoch;
  }

  async ping(): Promise<void> {
    await this.get('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.connection.open) this.connection.close();
  }
}

class SqliteTx implements Tx {
  readonly dialect = 'sqlite' as const;
  open = true;
  readonly committed: Array<() => void> = [];
  private readonly beforeCommits: Array<() => Promise<void>> = [];
  private depth = 0;

  onCommit(fn: () => void): void {
    this.committed.push(fn);
  }

  beforeCommit(fn: () => Promise<void>): void {
    this.beforeCommits.push(fn);
  }

  /** The before-commit work, including what it registers itself. */
  async runBeforeCommit(): Promise<void> {
    for (let i = 0; i < this.beforeCommits.length; i++) await this.beforeCommits[i]!();
  }

  constructor(private readonly db: SqliteDatabase) {}

  private statement(text: string): Statement {
    if (!this.open) throw new Error('this transaction has finished');
    return this.db.statement(text);
  }

  all<T>(text: string, params?: SqlParams): Promise<T[]> {
    return this.db.exec(() => sqliteAll<T>(this.statement(text), params));
  }

  get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    return this.db.exec(() => sqliteGet<T>(this.statement(text), params));
  }

  run(text: string, params?: SqlParams): Promise<number> {
    return this.db.exec(() => sqliteRun(this.statement(text), params));
  }

  async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    const name = `sp${++this.depth}`;
    this.statement(`SAVEPOINT ${name}`).run();
    const mark = this.beforeCommits.length;
    try {
      const result = await fn();
      this.statement(`RELEASE ${name}`).run();
      return result;
    } catch (err) {
      // SQLite may have rolled the whole transaction back (SQLITE_FULL, IOERR, BUSY): then there
      // is no savepoint left and the error ends the transaction.
      if (this.db.connection.inTransaction) {
        this.statement(`ROLLBACK TO ${name}`).run();
        this.statement(`RELEASE ${name}`).run();
        this.beforeCommits.length = mark;
      } else throw new TransactionLost(err);
      throw err;
    } finally {
      this.depth--;
    }
  }
}

/** The database ended the whole transaction (not just the savepoint): every unit in it is lost. */
export class TransactionLost extends Error {
  constructor(readonly original: unknown) {
    super((original as Error)?.message ?? String(original));
  }
}

function bind(params: SqlParams | undefined): unknown[] {
  if (params === undefined) return [];
  return Array.isArray(params) ? params : [params];
}

function sqliteAll<T>(s: Statement, params: SqlParams | undefined): T[] {
  return s.all(...bind(params)) as T[];
}

function sqliteGet<T>(s: Statement, params: SqlParams | undefined): T | undefined {
  return s.get(...bind(params)) as T | undefined;
}

function sqliteRun(s: Statement, params: SqlParams | undefined): number {
  // A statement with RETURNING reads rows: run it as such and count them.
  if (s.reader) return s.all(...bind(params)).length;
  return s.run(...bind(params)).changes;
}

// ---------------------------------------------------------------- PostgreSQL

/** BIGINT (int8) columns hold milliseconds and micro-dollars: numbers, not pg's default strings. */
function parseInt8(value: string): number | bigint {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : BigInt(value);
}

/** pg's type parsers with BIGINT and NUMERIC (SUM of BIGINTs) read as numbers. */
export const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary' && oid === pg.types.builtins.INT8) return parseInt8;
    if (format !== 'binary' && oid === pg.types.builtins.NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as typeof pg.types.getTypeParser,
};

interface PgText {
  text: string;
  /** For named parameters: the name of each $n, in order. */
  names: string[] | null;
  /** The name the statement is prepared under on each connection (none: run unprepared). */
  name: string | undefined;
}

const pgTexts = new Map<string, PgText>();
let pgStatements = 0;
/**
 * Texts prepared (once per connection) and remembered. Texts built with a varying number of
 * parameters (IN lists) could otherwise grow both without bound; past this many, new texts run
 * unprepared.
 */
const MAX_PREPARED = 1000;

/**
 * The PostgreSQL form of a query: `?` → `$1, $2, …` in order, `@name` → one `$n` per distinct
 * name. Quoted strings and identifiers are left alone.
 */
export function pgText(text: string): PgText {
  const cached = pgTexts.get(text);
  if (cached) return cached;
  let out = '';
  let n = 0;
  const names: string[] = [];
  let named = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      const stop = end === -1 ? text.length : end + 1;
      out += text.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      out += `$${++n}`;
    } else if (c === '@' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))![0];
      named = true;
      let k = names.indexOf(m);
      if (k === -1) k = names.push(m) - 1;
      out += `$${k + 1}`;
      i += m.length;
    } else out += c;
  }
  if (named && n > 0) throw new Error(`a query mixes ? and @name parameters: ${text}`);
  if (pgTexts.size >= MAX_PREPARED) return { text: out, names: named ? names : null, name: undefined };
  const result = { text: out, names: named ? names : null, name: `vg${++pgStatements}` };
  pgTexts.set(text, result);
  return result;
}

function pgValues(t: PgText, params: SqlParams | undefined): unknown[] {
  if (params === undefined) return [];
  if (Array.isArray(params)) return params;
  const obj = params as Record<string, unknown>;
  return (t.names ?? []).map((name) => {
    if (!(name in obj)) throw new Error(`missing named parameter '${name}'`);
    return obj[name];
  });
}

type PgRunner = Pick<pg.Pool | pg.PoolClient, 'query'>;

async function pgQuery<T>(runner: PgRunner, text: string, params: SqlParams | undefined): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
  const t = pgText(text);
  return runner.query<T & pg.QueryResultRow>({ name: t.name, text: t.text, values: pgValues(t, params) });
}

/** The NOTIFY channel of committed write transactions (see externalEpoch). */
const WRITES_CHANNEL = 'vidgate_writes';

export interface PostgresOptions {
  url: string;
  /** Pool size (connections this node opens at most). */
  max?: number;
  /** Called when the listening connection fails or comes back (for logs). */
  onListenError?: (err: Error) => void;
}

export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;
  readonly node = randomBytes(8).toString('hex');
  private readonly beginText = `BEGIN; SELECT pg_notify('${WRITES_CHANNEL}', '${this.node}')`;
  private epoch = 0;
  private listener: pg.Client | null = null;
  private closed = false;
  private listenTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly pool: pg.Pool,
    private readonly opts: PostgresOptions,
  ) {}

  /** Connect (checking that the server answers) and start listening for other nodes' writes. */
  static async open(opts: PostgresOptions): Promise<PostgresDatabase> {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.max ?? 10,
      connectionTimeoutMillis: 10_000,
      types: pgTypes,
      application_name: 'vidgate',
    });
    // An idle connection dropped by the server must not crash the process; the next query reports it.
    pool.on('error', () => {});
    const db = new PostgresDatabase(pool, opts);
    try {
      await pool.query('SELECT 1');
      await db.listen();
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return db;
  }

  /**
   * LISTEN on a connection of its own. While it is down, every epoch check sees a new epoch
   * (caches are bypassed) until it is back.
   */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.url, connectionTimeoutMillis: 10_000, application_name: 'vidgate-listen' });
    const lost = (err: Error) => {
      if (this.listener !== client) return;
      this.listener = null;
      this.opts.onListenError?.(err);
      client.end().catch(() => {});
      this.retryListen();
    };
    client.on('error', lost);
    client.on('end', () => lost(new Error('the listening connection closed')));
    client.on('notification', (msg) => {
      if (msg.payload !== this.node) this.epoch++;
    });
    await client.connect();
    await client.query(`LISTEN ${WRITES_CHANNEL}`);
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
    // Writes committed while nobody listened: caches from before must go.
    this.epoch++;
  }

  private retryListen(): void {
    if (this.closed || this.listenTimer) return;
    this.listenTimer = setTimeout(() => {
      this.listenTimer = null;
      this.listen().catch((err: unknown) => {
        this.opts.onListenError?.(err as Error);
        this.retryListen();
      });
    }, 500);
    this.listenTimer.unref();
  }

  async all<T>(text: string, params?: SqlParams): Promise<T[]> {
    return (await pgQuery<T>(this.pool, text, params)).rows;
  }

  async get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    return (await pgQuery<T>(this.pool, text, params)).rows[0];
  }

  async run(text: string, params?: SqlParams): Promise<number> {
    return (await pgQuery(this.pool, text, params)).rowCount ?? 0;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx = new PostgresTx(client);
    let broken = false;
    try {
      // The notification to the other nodes is queued with BEGIN, in the same round trip (a
      // simple query: the node id is hex), and sent by COMMIT only: not one more round trip while
      // the transaction holds row locks or the event-order lock.
      await client.query(this.beginText);
      let result: T;
      try {
        result = await fn(tx);
        await tx.runBeforeCommit();
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      }
      for (const then of tx.committed) then();
      return result;
    } finally {
      tx.open = false;
      client.release(broken);
    }
  }

  externalEpoch(): number {
    // Without a listening connection, no cache can be trusted.
    return this.listener ? this.epoch : ++this.epoch;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.listenTimer) clearTimeout(this.listenTimer);
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
    await this.pool.end();
  }
}

class PostgresTx implements Tx {
  readonly dialect = 'postgres' as const;
  open = true;
  readonly committed: Array<() => void> = [];
  private readonly beforeCommits: Array<() => Promise<void>> = [];
  private depth = 0;

  onCommit(fn: () => void): void {
    this.committed.push(fn);
  }

  beforeCommit(fn: () => Promise<void>): void {
    this.beforeCommits.push(fn);
  }

  /** The before-commit work, including what it registers itself. */
  async runBeforeCommit(): Promise<void> {
    for (let i = 0; i < this.beforeCommits.length; i++) await this.beforeCommits[i]!();
  }

  constructor(private readonly client: pg.PoolClient) {}

  private check(): void {
    if (!this.open) throw new Error('this transaction has finished');
  }

  async all<T>(text: string, params?: SqlParams): Promise<T[]> {
    this.check();
    return (await pgQuery<T>(this.client, text, params)).rows;
  }

  async get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    this.check();
    return (await pgQuery<T>(this.client, text, params)).rows[0];
  }

  async run(text: string, params?: SqlParams): Promise<number> {
    this.check();
    return (await pgQuery(this.client, text, params)).rowCount ?? 0;
  }

  async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    this.check();
    const name = `sp${++this.depth}`;
    await this.client.query(`SAVEPOINT ${name}`);
    const mark = this.beforeCommits.length;
    try {
      const result = await fn();
      await this.client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      try {
        await this.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      } catch {
        throw new TransactionLost(err);
      }
      this.beforeCommits.length = mark;
      throw err;
    } finally {
      this.depth--;
    }
  }
}
