/** Money is integer micro-dollars everywhere inside vidgate: 1 USD = 1,000,000 micros. */
export const MICROS_PER_USD = 1_000_000;

export const usdToMicros = (usd: number): number => Math.round(usd * MICROS_PER_USD);
export const microsToUsd = (micros: number): number => micros / MICROS_PER_USD;

/** "$0.40", "$0.0125": two decimals, more only when needed. */
export function formatUsd(micros: number): string {
  const usd = microsToUsd(micros);
  const text = Math.abs(micros) % 10_000 === 0 ? usd.toFixed(2) : usd.toFixed(6).replace(/0+$/, '');
  return `${usd < 0 ? '-' : ''}$${text.replace('-', '')}`;
}
