import type { Catalog, ModelSpec, Size, Tier } from '../core/catalog.js';
import { tierOf } from '../core/catalog.js';
import type { Db } from '../store/db.js';
import { usdToMicros } from './money.js';

export type ChannelPricing = (channelId: string, model: string, tier: Tier) => { usdPerSecond?: number; markup?: number } | undefined;

export interface PriceRow {
  model: string;
  tier: Tier;
  usd_per_second: number;
  source: 'catalogue' | 'override';
}

/**
 * USD per second of video by model and resolution tier: the catalogue's defaults (published Sora 2
 * prices) unless the operator overrides them. A task is quoted once, at creation, and keeps that
 * price. The sandbox is free unless the operator prices it like the catalogue.
 */
export class PriceBook {
  private readonly s;

  constructor(
    db: Db,
    private readonly catalog: Catalog,
    private readonly sandboxPricing: 'free' | 'catalogue',
  ) {
    this.s = {
      get: db.prepare('SELECT usd_per_second FROM prices WHERE model = ? AND tier = ?'),
      all: db.prepare('SELECT model, tier, usd_per_second FROM prices'),
      set: db.prepare(`INSERT INTO prices (model, tier, usd_per_second, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (model, tier) DO UPDATE SET usd_per_second = excluded.usd_per_second, updated_at = excluded.updated_at`),
      remove: db.prepare('DELETE FROM prices WHERE model = ? AND tier = ?'),
    };
  }

  /** The list price of a model at a size in USD/s, or undefined when that tier is not priced. */
  usdPerSecond(model: ModelSpec, size: Size): number | undefined {
    const tier = tierOf(size);
    const override = this.s.get.get(model.id, tier) as { usd_per_second: number } | undefined;
    return override?.usd_per_second ?? model.pricePerSecond[tier];
  }

  /** How an upstream channel prices a model (set by the channel registry). */
  private channelPricing: ChannelPricing | undefined;

  setChannelPricing(fn: ChannelPricing): void {
    this.channelPricing = fn;
  }

  /**
   * Micro-USD per second a new task on `provider` is quoted (unpriced tiers are free). On a
   * channel: the channel's own price for the model and tier if it sets one, else the list price
   * times the channel's markup.
   */
  quoteMicros(model: ModelSpec, size: Size, provider: string): number {
    if (provider === 'sandbox' && this.sandboxPricing === 'free') return 0;
    const list = this.usdPerSecond(model, size);
    const channel = provider === 'sandbox' ? undefined : this.channelPricing?.(provider, model.id, tierOf(size));
    const usd = channel?.usdPerSecond ?? (list === undefined ? undefined : list * (channel?.markup ?? 1));
    return usdToMicros(usd ?? 0);
  }

  list(): PriceRow[] {
    const overrides = new Map((this.s.all.all() as { model: string; tier: Tier; usd_per_second: number }[]).map((r) => [`${r.model}/${r.tier}`, r.usd_per_second]));
    const rows: PriceRow[] = [];
    for (const m of this.catalog.list()) {
      const tiers = new Set([...m.sizes.map((s) => tierOf({ width: Number(s.split('x')[0]), height: Number(s.split('x')[1]) }))]);
      for (const tier of tiers) {
        const o = overrides.get(`${m.id}/${tier}`);
        const base = m.pricePerSecond[tier];
        if (o !== undefined) rows.push({ model: m.id, tier, usd_per_second: o, source: 'override' });
        else if (base !== undefined) rows.push({ model: m.id, tier, usd_per_second: base, source: 'catalogue' });
      }
    }
    return rows;
  }

  set(model: string, tier: Tier, usdPerSecond: number, now: number): void {
    this.s.set.run(model, tier, usdPerSecond, now);
  }

  reset(model: string, tier: Tier): void {
    this.s.remove.run(model, tier);
  }
}
