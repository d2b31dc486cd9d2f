import type { Catalog, ModelSpec, PriceQuery, PriceRow } from '../core/catalog.js';
import { priceRowFor } from '../core/catalog.js';
import type { Resolution } from '../core/video-request.js';
import type { Sql } from '../store/sql.js';
import { usdToMicros } from './money.js';

/** How an upstream channel prices a model for a video of these dimensions. */
export type ChannelPricing = (channelId: string, model: string, q: PriceQuery) => { usdPerSecond?: number; markup?: number } | undefined;

/** The dimensions a price applies to (null = any). */
export interface PriceKey {
  resolution: Resolution | null;
  audio: boolean | null;
  mode: string | null;
}

/** A price as the admin API lists it. */
export interface PriceListRow extends PriceKey {
  model: string;
  usd_per_second: number;
  source: 'catalogue' | 'override';
}

/** How a quote's list price was found: the row that matched and where it came from. */
export interface ListPrice {
  usdPerSecond: number;
  row: PriceRow;
  source: 'catalogue' | 'override';
}

interface Stored {
  resolution: string;
  audio: string;
  mode: string;
  usd_per_second: number;
}

// '' in the table means "any" (SQLite primary keys and NULL do not mix).
const keyCols = (k: PriceKey): [string, string, string] => [k.resolution ?? '', k.audio === null ? '' : k.audio ? 'on' : 'off', k.mode ?? ''];
const rowOf = (s: Stored): PriceRow => ({
  ...(s.resolution ? { resolution: s.resolution as Resolution } : {}),
  ...(s.audio ? { audio: s.audio === 'on' } : {}),
  ...(s.mode ? { mode: s.mode } : {}),
  usdPerSecond: s.usd_per_second,
});
const sameKey = (a: PriceRow, b: PriceRow): boolean => a.resolution === b.resolution && a.audio === b.audio && a.mode === b.mode;

/**
 * USD per second of video by model and the model's price dimensions (resolution, audio, mode):
 * the catalogue's list prices unless the operator overrides a row. An override replaces the
 * catalogue row with the same dimensions or adds a row; the most specific matching row prices a
 * video. A task is quoted once, at creation, and keeps that price. The sandbox is free unless
 * the operator prices it like the catalogue.
 */
function effectiveRows(model: ModelSpec, stored: Stored[]): PriceRow[] {
  const overrides = stored.map(rowOf);
  return overrides.length ? [...overrides, ...model.pricing.filter((r) => !overrides.some((o) => sameKey(o, r)))] : model.pricing;
}

const SQL = {
  byModel: 'SELECT resolution, audio, mode, usd_per_second FROM prices WHERE model = ?',
  all: 'SELECT model, resolution, audio, mode, usd_per_second FROM prices',
  set: `INSERT INTO prices (model, resolution, audio, mode, usd_per_second, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (model, resolution, audio, mode) DO UPDATE SET usd_per_second = excluded.usd_per_second, updated_at = excluded.updated_at`,
  remove: 'DELETE FROM prices WHERE model = ? AND resolution = ? AND audio = ? AND mode = ?',
};

export class PriceBook {
  constructor(
    private readonly q: Sql,
    private readonly catalog: Catalog,
    private readonly sandboxPricing: 'free' | 'catalogue',
  ) {}

  /** The model's price rows in effect: the operator's overrides, then the catalogue rows they do not replace. */
  async rowsOf(model: ModelSpec): Promise<PriceRow[]> {
    return effectiveRows(model, await this.q.all<Stored>(SQL.byModel, [model.id]));
  }

  /** rowsOf for every model at once (one query): model id → rows in effect. */
  async allRows(): Promise<(model: ModelSpec) => PriceRow[]> {
    const byModel = new Map<string, Stored[]>();
    for (const r of (await this.q.all(SQL.all)) as (Stored & { model: string })[]) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
    return (m) => effectiveRows(m, byModel.get(m.id) ?? []);
  }

  /** The list price of a model for a video of these dimensions, with the row that matched. */
  async listPrice(model: ModelSpec, q: PriceQuery): Promise<ListPrice | undefined> {
    const rows = await this.rowsOf(model);
    const query = { ...q, mode: q.mode ?? model.defaults.mode };
    const row = priceRowFor(rows, query);
    if (!row) return undefined;
    return { usdPerSecond: row.usdPerSecond, row, source: model.pricing.includes(row) ? 'catalogue' : 'override' };
  }

  /** The list price in USD/s, or undefined when nothing prices that combination. */
  async usdPerSecond(model: ModelSpec, q: PriceQuery): Promise<number | undefined> {
    return (await this.listPrice(model, q))?.usdPerSecond;
  }

  /** How an upstream channel prices a model (set by the channel registry). */
  private channelPricing: ChannelPricing | undefined;

  setChannelPricing(fn: ChannelPricing): void {
    this.channelPricing = fn;
  }

  /**
   * Micro-USD per second a new task on `provider` is quoted (unpriced combinations are free). On
   * a channel: the channel's own price for the model and resolution if it sets one, else the list
   * price times the channel's markup.
   */
  async quoteMicros(model: ModelSpec, q: PriceQuery, provider: string): Promise<number> {
    return (await this.quote(model, q, provider)).micros;
  }

  /** The quote with how it was reached (for GET /v1/quote's breakdown). */
  async quote(model: ModelSpec, q: PriceQuery, provider: string): Promise<{ micros: number; list?: ListPrice; channel?: { usdPerSecond?: number; markup?: number }; free?: 'sandbox' }> {
    if (provider === 'sandbox' && this.sandboxPricing === 'free') return { micros: 0, free: 'sandbox' };
    const list = await this.listPrice(model, q);
    const channel = provider === 'sandbox' ? undefined : this.channelPricing?.(provider, model.id, { ...q, mode: q.mode ?? model.defaults.mode });
    const usd = channel?.usdPerSecond ?? (list === undefined ? undefined : list.usdPerSecond * (channel?.markup ?? 1));
    return { micros: usdToMicros(usd ?? 0), ...(list ? { list } : {}), ...(channel && (channel.usdPerSecond !== undefined || channel.markup !== undefined) ? { channel } : {}) };
  }

  /** Every model's price rows: the catalogue's, with the operator's overrides in place. */
  async list(): Promise<PriceListRow[]> {
    const stored = (await this.q.all(SQL.all)) as (Stored & { model: string })[];
    const rows: PriceListRow[] = [];
    const keyOf = (r: PriceRow): PriceKey => ({ resolution: r.resolution ?? null, audio: r.audio ?? null, mode: r.mode ?? null });
    for (const m of this.catalog.list()) {
      const overrides = stored.filter((s) => s.model === m.id).map(rowOf);
      for (const r of m.pricing) {
        const o = overrides.find((x) => sameKey(x, r));
        rows.push({ model: m.id, ...keyOf(r), usd_per_second: (o ?? r).usdPerSecond, source: o ? 'override' : 'catalogue' });
      }
      for (const o of overrides) if (!m.pricing.some((r) => sameKey(o, r))) rows.push({ model: m.id, ...keyOf(o), usd_per_second: o.usdPerSecond, source: 'override' });
    }
    return rows;
  }

  async set(model: string, key: PriceKey, usdPerSecond: number, now: number): Promise<void> {
    (await this.q.run(SQL.set, [model, ...keyCols(key), usdPerSecond, now]));
  }

  /** Remove an override (true if there was one). */
  async reset(model: string, key: PriceKey): Promise<boolean> {
    return (await this.q.run(SQL.remove, [model, ...keyCols(key)])) > 0;
  }
}
