import { z } from 'zod';
import { invalid, notFound } from '../core/errors.js';
import type { Database } from '../store/sql.js';
import type { ApiKey, KeyLimits, KeyStore } from '../store/keys.js';
import type { Ledger, LedgerEntry } from './ledger.js';
import { MONEY_BOUNDS, formatUsd, microsToUsd, usdToMicros } from './money.js';

/**
 * Operator actions on a key's money and limits, shared by the admin API and the CLI so both
 * apply the same rules.
 */
export class Accounts {
  constructor(
    private readonly db: Database,
    private readonly keys: KeyStore,
    private readonly ledger: Ledger,
  ) {}

  async key(idOrPrefix: string): Promise<ApiKey> {
    const key = await this.keys.find(idOrPrefix);
    if (!key) throw notFound(`No key matches '${idOrPrefix}'.`, 'key');
    return key;
  }

  /**
   * Add (top-up) or remove (adjustment) credit. The balance may not go below the credit line, nor
   * past the bounds in MONEY_BOUNDS.
   */
  async credit(idOrPrefix: string, amountUsd: number, note: string | null, now: number, param = 'amount_usd'): Promise<LedgerEntry> {
    const max = MONEY_BOUNDS.maxCreditUsd;
    if (typeof amountUsd !== 'number' || !Number.isFinite(amountUsd) || Math.abs(amountUsd) > max) {
      throw invalid(param, `${param} must be a number of US dollars from -${max} to ${max}.`);
    }
    const micros = usdToMicros(amountUsd);
    if (micros === 0) throw invalid(param, `${param} must be at least $0.000001 (one micro-dollar) either way.`);
    const key = await this.key(idOrPrefix);
    return this.db.transaction(async (tx) => {
      const ledger = this.ledger.in(tx);
      // The key's row first, locked (PostgreSQL) until this commits: the check below and the entry
      // see the same balance.
      await tx.run('UPDATE api_keys SET balance_micros = balance_micros WHERE id = ?', [key.id]);
      const { balanceMicros, creditLimitMicros } = await ledger.balance(key.id);
      if (micros < 0 && balanceMicros + micros < -creditLimitMicros) {
        throw invalid(
          param,
          `Removing ${formatUsd(-micros)} would take the balance (${formatUsd(balanceMicros)}) below the allowed ${formatUsd(-creditLimitMicros)}.`,
        );
      }
      const maxBalance = usdToMicros(MONEY_BOUNDS.maxBalanceUsd);
      if (micros > 0 && balanceMicros + micros > maxBalance) {
        throw invalid(param, `Adding ${formatUsd(micros)} would take the balance (${formatUsd(balanceMicros)}) above the largest allowed, ${formatUsd(maxBalance)}.`);
      }
      return (await ledger.post(key.id, micros > 0 ? 'topup' : 'adjust', micros, now, null, note))!;
    });
  }

  async setLimits(idOrPrefix: string, limits: KeyLimits): Promise<ApiKey> {
    const maxLimit = MONEY_BOUNDS.maxKeyLimit;
    for (const [name, v] of [['rpm_limit', limits.rpmLimit], ['max_inflight', limits.maxInflight]] as const) {
      if (v !== undefined && v !== null && (!Number.isInteger(v) || v < 1 || v > maxLimit)) {
        throw invalid(name, `${name} must be an integer from 1 to ${maxLimit}, or null for the default.`);
      }
    }
    const maxCreditLimit = MONEY_BOUNDS.maxCreditLimitUsd;
    const cl = limits.creditLimitMicros;
    if (cl !== undefined && (!Number.isInteger(cl) || cl < 0 || cl > usdToMicros(maxCreditLimit))) {
      throw invalid('credit_limit_usd', `credit_limit_usd must be a number of US dollars from 0 to ${maxCreditLimit}.`);
    }
    return (await this.keys.update((await this.key(idOrPrefix)).id, limits))!;
  }

  /** The key as operators see it: identity, limits and money. */
  async view(key: ApiKey, defaults: { rpm: number; maxInflight: number }) {
    const b = await this.ledger.balance(key.id);
    return {
      id: key.id,
      object: 'api_key',
      name: key.name,
      prefix: key.prefix,
      test: key.test,
      created_at: Math.floor(key.createdAt / 1000),
      revoked_at: key.revokedAt === null ? null : Math.floor(key.revokedAt / 1000),
      balance_usd: microsToUsd(b.balanceMicros),
      held_usd: microsToUsd(b.heldMicros),
      credit_limit_usd: microsToUsd(b.creditLimitMicros),
      rpm_limit: key.rpmLimit ?? defaults.rpm,
      rpm_limit_is_default: key.rpmLimit === null,
      max_inflight: key.maxInflight ?? defaults.maxInflight,
      max_inflight_is_default: key.maxInflight === null,
    };
  }
}

export const entryView = (e: LedgerEntry) => ({
  id: e.id,
  object: 'ledger_entry',
  kind: e.kind,
  amount_usd: microsToUsd(e.amountMicros),
  balance_after_usd: microsToUsd(e.balanceAfter),
  task_id: e.taskId ? `video_${e.taskId}` : null,
  note: e.note,
  created_at: Math.floor(e.createdAt / 1000),
});

/** Accounts.view, as Zod. */
export const keyViewSchema = z
  .object({
    id: z.string(),
    object: z.literal('api_key'),
    name: z.string(),
    prefix: z.string(),
    test: z.boolean(),
    created_at: z.number().int(),
    revoked_at: z.number().int().nullable(),
    balance_usd: z.number(),
    held_usd: z.number(),
    credit_limit_usd: z.number(),
    rpm_limit: z.number().int(),
    rpm_limit_is_default: z.boolean(),
    max_inflight: z.number().int(),
    max_inflight_is_default: z.boolean(),
  })
  .meta({ id: 'ApiKey' });

/** entryView, as Zod. */
export const entrySchema = z
  .object({
    id: z.number().int(),
    object: z.literal('ledger_entry'),
    kind: z.string().meta({
      description: 'topup (credit added), adjust (credit taken away), hold (a video’s quote, at creation), settle (the unused part of the hold given back when it completes), release (all of the hold given back when it fails or is cancelled)',
    }),
    amount_usd: z.number(),
    balance_after_usd: z.number(),
    task_id: z.string().nullable(),
    note: z.string().nullable(),
    created_at: z.number().int(),
  })
  .meta({ id: 'LedgerEntry' });
