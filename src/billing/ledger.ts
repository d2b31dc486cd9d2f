import type { Sql, Tx } from '../store/sql.js';

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
  constructor(private readonly q: Sql) {}

  /** This ledger inside a transaction. */
  in(tx: Tx): Ledger {
    return new Ledger(tx);
  }

  /**
   * Add an entry and move the key's balance by its amount, in one statement each. With
   * `withinCredit`, a debit that would take the balance below the key's credit line changes
   * nothing and returns undefined: the check and the change are one atomic update, so two nodes
   * (or two transactions) spending at once cannot both pass it.
   */
  async post(
    keyId: string,
    kind: EntryKind,
    amountMicros: number,
    now: number,
    taskId: string | null = null,
    note: string | null = null,
    withinCredit = false,
  ): Promise<LedgerEntry | undefined> {
    const row =
      !withinCredit
        ? await this.q.get<{ balance_micros: number }>('UPDATE api_keys SET balance_micros = balance_micros + ? WHERE id = ? RETURNING balance_micros', [amountMicros, keyId])
        : await this.q.get<{ balance_micros: number }>(
            'UPDATE api_keys SET balance_micros = balance_micros + ? WHERE id = ? AND balance_micros + ? + credit_limit_micros >= 0 RETURNING balance_micros',
            [amountMicros, keyId, amountMicros],
          );
    if (!row) {
      if (withinCredit && (await this.q.get('SELECT 1 AS one FROM api_keys WHERE id = ?', [keyId]))) return undefined;
      throw new Error(`ledger: unknown key ${keyId}`);
    }
    const entry = await this.q.get<{ id: number }>(
      `INSERT INTO ledger (key_id, task_id, kind, amount_micros, balance_after, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [keyId, taskId, kind, amountMicros, row.balance_micros, note, now],
    );
    return { id: Number(entry!.id), keyId, taskId, kind, amountMicros, balanceAfter: row.balance_micros, note, createdAt: now };
  }

  async balance(keyId: string): Promise<Balance> {
    const r = await this.q.get<{ balance_micros: number; credit_limit_micros: number }>('SELECT balance_micros, credit_limit_micros FROM api_keys WHERE id = ?', [keyId]);
    const held = (await this.q.get<{ held: number }>(`SELECT COALESCE(SUM(quote_micros), 0) AS held FROM tasks WHERE key_id = ? AND stage <> 'done'`, [keyId]))!.held;
    return { balanceMicros: r?.balance_micros ?? 0, heldMicros: Number(held), creditLimitMicros: r?.credit_limit_micros ?? 0 };
  }

  /** The balance recomputed from the entries alone (it always equals the cached one). */
  async recompute(keyId: string): Promise<number> {
    return Number((await this.q.get<{ total: number }>('SELECT COALESCE(SUM(amount_micros), 0) AS total FROM ledger WHERE key_id = ?', [keyId]))!.total);
  }

  async entries(keyId: string, limit = 100, beforeId = Number.MAX_SAFE_INTEGER): Promise<LedgerEntry[]> {
    return (await this.q.all<Row>('SELECT * FROM ledger WHERE key_id = ? AND id < ? ORDER BY id DESC LIMIT ?', [keyId, beforeId, limit])).map(toEntry);
  }

  async forTask(taskId: string): Promise<LedgerEntry[]> {
    return (await this.q.all<Row>('SELECT * FROM ledger WHERE task_id = ? ORDER BY id', [taskId])).map(toEntry);
  }
}
