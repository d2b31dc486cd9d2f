/** Money is integer micro-dollars everywhere inside vidgate: 1 USD = 1,000,000 micros. */
export const MICROS_PER_USD = 1_000_000;

/**
 * Bounds on every amount an operator can enter (docs/operations.md#money-bounds). They keep
 * every sum of micro-dollars an exact integer (far below 2^53 ≈ 9.007e15 micros) and catch typos.
 */
export const MONEY_BOUNDS = {
  /** One top-up or adjustment, either sign (and a new key's initial credit). */
  maxCreditUsd: 1_000_000,
  /** A key's balance stays within ± this. */
  maxBalanceUsd: 1_000_000_000,
  /** How far below zero a key's balance may go. */
  maxCreditLimitUsd: 1_000_000,
  /** A price per second of video (list price override, channel price). */
  maxUsdPerSecond: 1000,
  /** A channel's markup on the list price. */
  maxMarkup: 100,
  /** Requests per minute and unfinished videos of one key. */
  maxKeyLimit: 1_000_000,
} as const;

export const usdToMicros = (usd: number): number => Math.round(usd * MICROS_PER_USD);
export const microsToUsd = (micros: number): number => micros / MICROS_PER_USD;

/** "$0.40", "$0.0125": two decimals, more only when needed. */
export function formatUsd(micros: number): string {
  const usd = microsToUsd(micros);
  const text = Math.abs(micros) % 10_000 === 0 ? usd.toFixed(2) : usd.toFixed(6).replace(/0+$/, '');
  return `${usd < 0 ? '-' : ''}$${text.replace('-', '')}`;
}
