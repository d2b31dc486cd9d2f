import type { Db } from '../store/db.js';

export type EntryKind = 'topup' | 'adjust' | 'hold' | 'settle' | 'release';

export interface LedgerEntry {
  id: number;
  keyId: string;
  taskId: string | null;
  kind: EntryKind;
  amountMicros: number;
  balanceAfter: number;
  note: string | null;
  createdAt: number;
}

export interface Balance {
  /** Spendable now: top-ups minus charges minus open holds. */
  balanceMicros: number;
  /** Sum of holds on unfinished tasks (already taken out of the balance). */
  heldMicros: number;
  /** How far below zero the balance may go (a credit line); 0 = prepaid only. */
  creditLimitMicros: number;
}

type Row = { id: number; key_id: string; task_id: string | null; kind: EntryKind; amount_micros: number; balance_after: number; note: string | null; created_at: number };

const toEntry = (r: Row): LedgerEntry => ({
  id: r.id,
  keyId: r.key_id,
  taskId: r.task_id,
  kind: r.kind,
  amountMicros: r.amount_micros,
  balanceAfter: r.balance_after,
  note: r.note,
  createdAt: r.created_at,
});

/**
 * The append-only ledger. post() must run inside a write transaction together with whatever
 * caused it; the unique index on (task_id, kind) makes a second hold/settle/release of a task
 * impossible even if the caller were wrong.
 */
export class Ledger {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(`INSERT INTO ledger (key_id, task_id, kind, amount_micros, balance_after, note, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      bump: db.prepare('UPDATE api_keys SET balance_micros = balance_micros + ? WHERE id = ? RETURNING balance_micros'),
      balance: db.prepare('SELECT balance_micros, credit_limit_micros FROM api_keys WHERE id = ?'),
      held: db.prepare(`SELECT COALESCE(SUM(quote_micros), 0) AS held FROM tasks WHERE key_id = ? AND stage <> 'done'`),
      sum: db.prepare('SELECT COALESCE(SUM(amount_micros), 0) AS total FROM ledger WHERE key_id = ?'),
      entries: db.prepare('SELECT * FROM ledger WHERE key_id = ? AND id < ? ORDER BY id DESC LIMIT ?'),
      forTask: db.prepare('SELECT * FROM ledger WHERE task_id = ? ORDER BY id'),
    };
  }

  post(keyId: string, kind: EntryKind, amountMicros: number, now: number, taskId: string | null = null, note: string | null = null): LedgerEntry {
    const row = this.s.bump.get(amountMicros, keyId) as { balance_micros: number } | undefined;
    if (!row) throw new Error(`ledger: unknown key ${keyId}`);
    const info = this.s.insert.run(keyId, taskId, kind, amountMicros, row.balance_micros, note, now);
    return { id: Number(info.lastInsertRowid), keyId, taskId, kind, amountMicros, balanceAfter: row.balance_micros, note, createdAt: now };
  }

  balance(keyId: string): Balance {
    const r = this.s.balance.get(keyId) as { balance_micros: number; credit_limit_micros: number } | undefined;
    const held = (this.s.held.get(keyId) as { held: number }).held;
    return { balanceMicros: r?.balance_micros ?? 0, heldMicros: held, creditLimitMicros: r?.credit_limit_micros ?? 0 };
  }

  /** The balance recomputed from the entries alone (it always equals the cached one). */
  recompute(keyId: string): number {
    return (this.s.sum.get(keyId) as { total: number }).total;
  }

  entries(keyId: string, limit = 100, beforeId = Number.MAX_SAFE_INTEGER): LedgerEntry[] {
    return (this.s.entries.all(keyId, beforeId, limit) as Row[]).map(toEntry);
  }

  forTask(taskId: string): LedgerEntry[] {
    return (this.s.forTask.all(taskId) as Row[]).map(toEntry);
  }
}
