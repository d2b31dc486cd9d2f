import { ApiError } from '../core/errors.js';
import type { TaskService } from '../core/service.js';
import type { Task } from '../core/task.js';
import type { Metrics } from '../ops/metrics.js';
import type { ApiKey, KeyStore } from '../store/keys.js';
import type { Ledger } from './ledger.js';
import { formatUsd } from './money.js';

export interface BillingDefaults {
  /** Unfinished tasks a key may have at once, unless the key sets its own limit. */
  maxInflight: number;
}

/** Seconds charged for a finished task: what was delivered, never more than was asked for. */
export function billedSeconds(task: Task): number {
  if (task.actualSeconds === null) return task.seconds;
  return Math.min(task.seconds, Math.max(1, Math.round(task.actualSeconds)));
}

/**
 * Credit and limits, as hooks in the transaction of each task event (which also keep the key's
 * count of unfinished tasks):
 * - created: refuse (and so roll back the insert) when the key has too many unfinished tasks or
 *   too little credit; otherwise hold the quote.
 * - completed: settle, charging the delivered seconds at the quoted price, refunding the rest.
 * - failed / cancelled: release the hold in full.
 * Test keys and free tasks never touch the ledger.
 */
export function registerBilling(service: TaskService, keys: KeyStore, ledger: Ledger, defaults: BillingDefaults, metrics?: Metrics): void {
  const costOf = (task: Task): number => Math.min(task.quoteMicros, billedSeconds(task) * task.priceMicros);

  service.onEvent(async (tx, event, task) => {
    const k = keys.in(tx);
    const key = await k.get(task.keyId);
    if (!key) throw new Error(`billing: unknown key ${task.keyId}`);
    /** Whether this task's money goes through the ledger (not free, not a test key's). */
    const charged = task.quoteMicros > 0 && !key.test;
    const l = ledger.in(tx);
    switch (event.type) {
      case 'video.created':
        await onCreate(k, l, key, task, charged);
        // The same effects counted for metrics, once they have committed.
        return charged && metrics ? () => metrics.money('hold', task.quoteMicros, task.model) : undefined;
      case 'video.completed': {
        await k.bumpInflight(task.keyId, -1);
        const seconds = billedSeconds(task);
        const cost = costOf(task);
        await service.store.in(tx).update(task.id, { costMicros: cost });
        if (!charged) return;
        await l.post(task.keyId, 'settle', task.quoteMicros - cost, event.createdAt, task.id, `charged ${seconds} s × ${formatUsd(task.priceMicros)}/s = ${formatUsd(cost)}`);
        return metrics
          ? () => {
              metrics.money('settle', cost, task.model);
              metrics.money('release', task.quoteMicros - cost, task.model);
            }
          : undefined;
      }
      case 'video.failed':
      case 'video.cancelled':
        await k.bumpInflight(task.keyId, -1);
        await service.store.in(tx).update(task.id, { costMicros: 0 });
        if (!charged) return;
        await l.post(task.keyId, 'release', task.quoteMicros, event.createdAt, task.id, `released: ${task.status}`);
        return metrics ? () => metrics.money('release', task.quoteMicros, task.model) : undefined;
    }
  });

  async function onCreate(k: KeyStore, l: Ledger, key: ApiKey, task: Task, charged: boolean): Promise<void> {
    const limit = key.maxInflight ?? defaults.maxInflight;
    const inflight = await k.bumpInflight(task.keyId, 1);
    if (inflight > limit) {
      throw new ApiError({
        status: 429,
        type: 'rate_limit_error',
        code: 'too_many_inflight_tasks',
        message: `This key already has ${inflight - 1} unfinished videos, the most it may have at once (${limit}). Wait for one to finish, then try again.`,
        headers: {
          'retry-after': '5',
          'x-ratelimit-limit-tasks': String(limit),
          'x-ratelimit-remaining-tasks': '0',
        },
      });
    }
    if (!charged) return;
    const held = await l.post(task.keyId, 'hold', -task.quoteMicros, task.createdAt, task.id, `hold ${task.seconds} s × ${formatUsd(task.priceMicros)}/s`, true);
    if (held) return;
    const { balanceMicros, creditLimitMicros } = await l.balance(task.keyId);
    throw new ApiError({
      status: 402,
      type: 'insufficient_quota',
      code: 'insufficient_quota',
      message:
        `Insufficient credit: this video costs ${formatUsd(task.quoteMicros)} (${task.seconds} s × ${formatUsd(task.priceMicros)}/s on ${task.model} at ${task.width}x${task.height}) ` +
        `but the available balance is ${formatUsd(balanceMicros + creditLimitMicros)}. Ask the operator of this gateway to top up your key.`,
      headers: { 'x-should-retry': 'false' },
    });
  }
}
