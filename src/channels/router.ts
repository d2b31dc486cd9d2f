/**
 * Candidate order for a new job: priority tiers, highest first; inside a tier a weighted random
 * order (Efraimidis–Spirakis: sort by u^(1/w)), so traffic splits by weight and a failover goes
 * to another channel of the same tier before dropping to the next tier.
 */
export interface Rank {
  priority: number;
  weight: number;
}

export function orderCandidates<T>(list: readonly T[], rank: (item: T) => Rank, rng: () => number = Math.random): T[] {
  const keyed = list.map((item) => {
    const r = rank(item);
    return { item, priority: r.priority, key: Math.pow(Math.max(rng(), Number.MIN_VALUE), 1 / Math.max(1, r.weight)) };
  });
  keyed.sort((a, b) => b.priority - a.priority || b.key - a.key);
  return keyed.map((k) => k.item);
}
