import type { ApiKey } from '../store/keys.js';
import type { ModelSpec, Size } from './catalog.js';
import type { Gateway } from './gateway.js';
import type { Task } from './task.js';

/** Why a quote is zero: a test key, the free sandbox, or a resolution tier without a price. */
export type FreeReason = 'test_key' | 'sandbox' | 'unpriced';

export interface Quote {
  /** The provider that would serve the task (a remix goes where its source was made). */
  provider: string;
  /** Micro-USD per second of video. */
  priceMicros: number;
  seconds: number;
  /** What is held at creation: seconds × price. */
  totalMicros: number;
  reason: FreeReason | null;
}

/**
 * The price of a new task, exactly as creation computes it (core/create.ts calls this), so a
 * price shown before submitting is the price that is held.
 */
export function quoteTask(gw: Gateway, key: ApiKey, model: ModelSpec, size: Size, seconds: number, remixOf?: Task): Quote {
  const provider = gw.providerFor(model.id, key, remixOf);
  // Test keys never touch credit; everything else is quoted once, at creation, and keeps this price.
  const priceMicros = key.test ? 0 : gw.prices.quoteMicros(model, size, provider);
  let reason: FreeReason | null = null;
  if (key.test) reason = 'test_key';
  else if (priceMicros === 0) reason = provider === 'sandbox' && gw.config.billing.sandboxPricing === 'free' ? 'sandbox' : 'unpriced';
  return { provider, priceMicros, seconds, totalMicros: priceMicros * seconds, reason };
}
