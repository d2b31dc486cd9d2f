import { ApiError } from '../core/errors.js';
import type { TaskService } from '../core/service.js';
import type { Task } from '../core/task.js';
import type { Metrics } from '../ops/metrics.js';
import type { KeyStore } from '../store/keys.js';
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
  /** Whether this task's money goes through the ledger (not free, not a test key's). */
  const charged = (task: Task): boolean => task.quoteMicros > 0 && !keys.get(task.keyId)?.test;
  const costOf = (task: Task): number => Math.min(task.quoteMicros, billedSeconds(task) * task.priceMicros);

  service.onEvent((event, task) => {
    switch (event.type) {
      case 'video.created':
        return onCreate(task);
      case 'video.completed':
        keys.bumpInflight(task.keyId, -1);
        return settle(task, event.createdAt);
      case 'video.failed':
      case 'video.cancelled':
        keys.bumpInflight(task.keyId, -1);
        return release(task, event.createdAt);
    }
  });

  function onCreate(task: Task): void {
    const key = keys.get(task.keyId)!;
    const limit = key.maxInflight ?? defaults.maxInflight;
    const inflight = keys.bumpInflight(task.keyId, 1);
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
    if (!charged(task)) return;
    const { balanceMicros, creditLimitMicros } = ledger.balance(task.keyId);
    if (task.quoteMicros > balanceMicros + creditLimitMicros) {
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
    ledger.post(task.keyId, 'hold', -task.quoteMicros, task.createdAt, task.id, `hold ${task.seconds} s × ${formatUsd(task.priceMicros)}/s`);
  }

  function settle(task: Task, now: number): void {
    const seconds = billedSeconds(task);
    const cost = costOf(task);
    service.store.update(task.id, { costMicros: cost });
    if (!charged(task)) return;
    ledger.post(task.keyId, 'settle', task.quoteMicros - cost, now, task.id, `charged ${seconds} s × ${formatUsd(task.priceMicros)}/s = ${formatUsd(cost)}`);
  }

  function release(task: Task, now: number): void {
    service.store.update(task.id, { costMicros: 0 });
    if (!charged(task)) return;
    ledger.post(task.keyId, 'release', task.quoteMicros, now, task.id, `released: ${task.status}`);
  }

  // The same effects counted for metrics once they have committed.
  if (metrics) {
    service.onCommitted((event, task) => {
      if (!charged(task)) return;
      if (event.type === 'video.created') metrics.money('hold', task.quoteMicros, task.model);
      else if (event.type === 'video.completed') {
        const cost = costOf(task);
        metrics.money('settle', cost, task.model);
        metrics.money('release', task.quoteMicros - cost, task.model);
      } else if (event.type === 'video.failed' || event.type === 'video.cancelled') metrics.money('release', task.quoteMicros, task.model);
    });
  }
}
