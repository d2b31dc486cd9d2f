import { createHash, randomBytes } from 'node:crypto';
import { ulid } from 'ulid';
import { ExternalWrites } from './db.js';
import type { Db } from './db.js';

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
  private readonly s;
  /**
   * Authenticated keys by secret hash. Valid while no other connection (a CLI, another gateway
   * process) has written to the database (ExternalWrites), and dropped at once on this process's
   * own key changes.
   */
  private readonly cache = new Map<string, ApiKey>();
  private cacheEpoch = -1;
  private readonly external: ExternalWrites;

  constructor(private readonly db: Db) {
    this.external = ExternalWrites.of(db);
    this.s = {
      insert: db.prepare('INSERT INTO api_keys (id, name, secret_hash, prefix, test, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
      bySecret: db.prepare('SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL'),
      byId: db.prepare('SELECT * FROM api_keys WHERE id = ?'),
      activeAmong: db.prepare('SELECT id FROM api_keys WHERE revoked_at IS NULL AND id IN (SELECT value FROM json_each(?))').pluck(),
      list: db.prepare('SELECT * FROM api_keys ORDER BY created_at, id'),
      revoke: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      bumpInflight: db.prepare('UPDATE api_keys SET inflight = inflight + ? WHERE id = ? RETURNING inflight'),
    };
  }

  create(name: string, opts: { test?: boolean; now?: number } = {}): { key: ApiKey; secret: string } {
    const now = opts.now ?? Date.now();
    const secret = `${opts.test ? 'vg_test_' : 'vg_live_'}${randomBytes(24).toString('base64url')}`;
    const id = `key_${ulid(now)}`;
    const prefix = secret.slice(0, 12);
    this.s.insert.run(id, name, hashSecret(secret), prefix, opts.test ? 1 : 0, now);
    return { key: this.get(id)!, secret };
  }

  /** The active key for a presented secret, or undefined. */
  authenticate(secret: string): ApiKey | undefined {
    const hash = hashSecret(secret);
    const epoch = this.external.epoch();
    if (epoch !== this.cacheEpoch) {
      this.cache.clear();
      this.cacheEpoch = epoch;
    }
    const cached = this.cache.get(hash);
    if (cached) return cached;
    const r = this.s.bySecret.get(hash) as Row | undefined;
    if (!r) return undefined;
    const key = toKey(r);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, key);
    return key;
  }

  get(id: string): ApiKey | undefined {
    const r = this.s.byId.get(id) as Row | undefined;
    return r && toKey(r);
  }

  /** Which of these key ids are still usable (neither revoked nor gone), read from the database. */
  activeAmong(ids: Iterable<string>): Set<string> {
    return new Set(this.s.activeAmong.all(JSON.stringify([...ids])) as string[]);
  }

  list(): ApiKey[] {
    return (this.s.list.all() as Row[]).map(toKey);
  }

  /** Adjust the key's count of unfinished tasks (inside the task's transaction); returns the new count. */
  bumpInflight(id: string, delta: number): number {
    return (this.s.bumpInflight.get(delta, id) as { inflight: number }).inflight;
  }

  /** Change a key's name or limits; returns the updated key (undefined when unknown). */
  update(id: string, changes: KeyLimits): ApiKey | undefined {
    const cols: Record<string, unknown> = {};
    if (changes.name !== undefined) cols.name = changes.name;
    if (changes.rpmLimit !== undefined) cols.rpm_limit = changes.rpmLimit;
    if (changes.maxInflight !== undefined) cols.max_inflight = changes.maxInflight;
    if (changes.creditLimitMicros !== undefined) cols.credit_limit_micros = changes.creditLimitMicros;
    const names = Object.keys(cols);
    this.cache.clear();
    if (names.length) this.db.prepare(`UPDATE api_keys SET ${names.map((c) => `${c} = @${c}`).join(', ')} WHERE id = @id`).run({ ...cols, id });
    return this.get(id);
  }

  /** A key by id or by its displayed prefix. */
  find(idOrPrefix: string): ApiKey | undefined {
    return this.get(idOrPrefix) ?? this.list().find((k) => k.prefix === idOrPrefix && k.revokedAt === null);
  }

  /** Revoke by id (or by the displayed prefix); returns the key or undefined when unknown/already revoked. */
  revoke(idOrPrefix: string, now = Date.now()): ApiKey | undefined {
    const key = this.find(idOrPrefix);
    this.cache.clear();
    if (!key || this.s.revoke.run(now, key.id).changes === 0) return undefined;
    return { ...key, revokedAt: now };
  }
}
