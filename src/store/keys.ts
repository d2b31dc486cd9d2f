import { createHash, randomBytes } from 'node:crypto';
import { ulid } from 'ulid';
import type { Database, Sql, Tx } from './sql.js';

/** A key's identity and limits (money lives in the ledger, see billing/ledger.ts). */
export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  test: boolean;
  createdAt: number;
  revokedAt: number | null;
  /** Per-key overrides of the operator defaults (null = default). */
  rpmLimit: number | null;
  maxInflight: number | null;
}

export interface KeyLimits {
  rpmLimit?: number | null;
  maxInflight?: number | null;
  creditLimitMicros?: number;
  name?: string;
}

type Row = {
  id: string;
  name: string;
  prefix: string;
  test: number;
  created_at: number;
  revoked_at: number | null;
  rpm_limit: number | null;
  max_inflight: number | null;
};

const toKey = (r: Row): ApiKey => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  test: r.test === 1,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  rpmLimit: r.rpm_limit,
  maxInflight: r.max_inflight,
});

/** Secrets are shown once and stored only as a SHA-256 hash (they are 256-bit random, so no slow hash is needed). */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export class KeyStore {
  constructor(
    private readonly q: Sql,
    private readonly db: Database | null = null,
    private readonly cache = new KeyCache(),
  ) {}

  static of(db: Database): KeyStore {
    return new KeyStore(db, db);
  }

  /** This store inside a transaction. */
  in(tx: Tx): KeyStore {
    return new KeyStore(tx, this.db, this.cache);
  }

  async create(name: string, opts: { test?: boolean; now?: number } = {}): Promise<{ key: ApiKey; secret: string }> {
    const now = opts.now ?? Date.now();
    const secret = `${opts.test ? 'vg_test_' : 'vg_live_'}${randomBytes(24).toString('base64url')}`;
    const id = `key_${ulid(now)}`;
    const prefix = secret.slice(0, 12);
    await this.q.run('INSERT INTO api_keys (id, name, secret_hash, prefix, test, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      id, name, hashSecret(secret), prefix, opts.test ? 1 : 0, now,
    ]);
    return { key: (await this.get(id))!, secret };
  }

  /**
   * The active key for a presented secret, or undefined. Authenticated keys are kept in memory
   * by the secret presented (so a hit costs no SHA-256: about 3 % of a status read) while no
   * other connection (a CLI, another gateway node) has committed (externalEpoch), and dropped at
   * once on this process's own key changes. Only secrets of active keys are kept, never refused
   * ones, and never on disk.
   */
  async authenticate(secret: string): Promise<ApiKey | undefined> {
    const cached = this.cached(secret);
    if (cached) return cached;
    const cache = this.cache;
    const generation = cache.generation;
    const r = await this.q.get<Row>('SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL', [hashSecret(secret)]);
    if (!r) return undefined;
    const key = toKey(r);
    if (generation === cache.generation && (!this.db || this.db.externalEpoch() === cache.epoch)) {
      if (cache.keys.size > 10_000) cache.keys.clear();
      cache.keys.set(secret, key);
    }
    return key;
  }

  /** authenticate() when the key is in memory (no database read, no promise): the hot path of every request. */
  cached(secret: string): ApiKey | undefined {
    const cache = this.cache;
    if (this.db) {
      const epoch = this.db.externalEpoch();
      if (epoch !== cache.epoch) {
        cache.clear();
        cache.epoch = epoch;
      }
    }
    return cache.keys.get(secret);
  }

  async get(id: string): Promise<ApiKey | undefined> {
    const r = await this.q.get<Row>('SELECT * FROM api_keys WHERE id = ?', [id]);
    return r && toKey(r);
  }

  /** Which of these key ids are still usable (neither revoked nor gone), read from the database. */
  async activeAmong(ids: Iterable<string>): Promise<Set<string>> {
    const list = [...ids];
    if (list.length === 0) return new Set();
    const rows = await this.q.all<{ id: string }>(`SELECT id FROM api_keys WHERE revoked_at IS NULL AND id IN (${list.map(() => '?').join(', ')})`, list);
    return new Set(rows.map((r) => r.id));
  }

  async list(): Promise<ApiKey[]> {
    return (await this.q.all<Row>('SELECT * FROM api_keys ORDER BY created_at, id')).map(toKey);
  }

  /** Adjust the key's count of unfinished tasks (inside the task's transaction); returns the new count. */
  async bumpInflight(id: string, delta: number): Promise<number> {
    return (await this.q.get<{ inflight: number }>('UPDATE api_keys SET inflight = inflight + ? WHERE id = ? RETURNING inflight', [delta, id]))!.inflight;
  }

  /** Change a key's name or limits; returns the updated key (undefined when unknown). */
  async update(id: string, changes: KeyLimits): Promise<ApiKey | undefined> {
    const cols: Record<string, unknown> = {};
    if (changes.name !== undefined) cols.name = changes.name;
    if (changes.rpmLimit !== undefined) cols.rpm_limit = changes.rpmLimit;
    if (changes.maxInflight !== undefined) cols.max_inflight = changes.maxInflight;
    if (changes.creditLimitMicros !== undefined) cols.credit_limit_micros = changes.creditLimitMicros;
    const names = Object.keys(cols);
    this.cache.clear();
    if (names.length) await this.write((q) => q.run(`UPDATE api_keys SET ${names.map((c) => `${c} = @${c}`).join(', ')} WHERE id = @id`, { ...cols, id }));
    this.cache.clear();
    return this.get(id);
  }

  /** A key by id or by its displayed prefix. */
  async find(idOrPrefix: string): Promise<ApiKey | undefined> {
    return (await this.get(idOrPrefix)) ?? (await this.list()).find((k) => k.prefix === idOrPrefix && k.revokedAt === null);
  }

  /** Revoke by id (or by the displayed prefix); returns the key or undefined when unknown/already revoked. */
  async revoke(idOrPrefix: string, now = Date.now()): Promise<ApiKey | undefined> {
    const key = await this.find(idOrPrefix);
    this.cache.clear();
    if (!key) return undefined;
    const changed = await this.write((q) => q.run('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, key.id]));
    this.cache.clear();
    return changed === 0 ? undefined : { ...key, revokedAt: now };
  }

  /**
   * A change other nodes must see at once (their caches of keys): in a transaction of its own
   * when not already in one, because a committed transaction is what tells them (externalEpoch).
   */
  private write<T>(fn: (q: Sql) => Promise<T>): Promise<T> {
    if (this.db && this.q === this.db) return this.db.transaction(fn);
    // Inside the caller's transaction: the cache is dropped again once it has committed.
    const cache = this.cache;
    if ('onCommit' in this.q) (this.q as Tx).onCommit(() => cache.clear());
    return fn(this.q);
  }
}

class KeyCache {
  /** By presented secret. */
  readonly keys = new Map<string, ApiKey>();
  epoch = -1;
  generation = 0;

  clear(): void {
    this.keys.clear();
    this.generation++;
  }
}
