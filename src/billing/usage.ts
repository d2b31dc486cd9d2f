import { invalid } from '../core/errors.js';
import type { Db } from '../store/db.js';
import { microsToUsd } from './money.js';

export interface UsageRange {
  /** Inclusive UTC days, YYYY-MM-DD. */
  start: string;
  end: string;
}

interface Row {
  key_id: string;
  model: string;
  day: string;
  videos: number;
  failed: number;
  seconds: number;
  cost: number;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** start_date / end_date query parameters (default: the last 30 days up to today, UTC). */
export function parseRange(q: { start_date?: string; end_date?: string }, now: number): UsageRange {
  const end = q.end_date ?? isoDay(now);
  const start = q.start_date ?? isoDay(Date.parse(`${end}T00:00:00Z`) - 29 * 86_400_000);
  for (const [param, v] of [['start_date', start], ['end_date', end]] as const) {
    if (!DAY.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw invalid(param, `${param} must be a date like 2026-11-21.`);
  }
  if (start > end) throw invalid('start_date', 'start_date must not be after end_date.');
  return { start, end };
}

type Bucket = { videos: number; failed: number; seconds: number; cost_usd: number };
const empty = (): Bucket => ({ videos: 0, failed: 0, seconds: 0, cost_usd: 0 });
const add = (b: Bucket, r: Row) => {
  b.videos += r.videos;
  b.failed += r.failed;
  b.seconds += r.seconds;
  b.cost_usd = microsToUsd(Math.round(b.cost_usd * 1e6) + r.cost);
};

/**
 * Usage of finished tasks, by the UTC day they finished: completed videos, the seconds billed for
 * them and their cost, plus how many failed (never charged). Optionally for one key.
 */
export function usageReport(db: Db, range: UsageRange, keyId?: string) {
  const from = Date.parse(`${range.start}T00:00:00Z`);
  const to = Date.parse(`${range.end}T00:00:00Z`) + 86_400_000;
  // Billed seconds: delivered, rounded, at least 1, never more than requested (billing/hooks.ts).
  const rows = db
    .prepare(
      `SELECT key_id, model, strftime('%Y-%m-%d', completed_at / 1000, 'unixepoch') AS day,
         SUM(status = 'completed') AS videos,
         SUM(status = 'failed') AS failed,
         SUM(CASE WHEN status <> 'completed' THEN 0
                  WHEN actual_seconds IS NULL THEN seconds
                  ELSE MIN(seconds, MAX(1, CAST(ROUND(actual_seconds) AS INTEGER))) END) AS seconds,
         COALESCE(SUM(CASE WHEN status = 'completed' THEN cost_micros END), 0) AS cost
       FROM tasks
       WHERE completed_at >= ? AND completed_at < ? AND (? IS NULL OR key_id = ?)
       GROUP BY key_id, model, day ORDER BY day, model`,
    )
    .all(from, to, keyId ?? null, keyId ?? null) as Row[];

  const totals = empty();
  const byModel = new Map<string, Bucket>();
  const byDay = new Map<string, Bucket>();
  const byKey = new Map<string, Bucket>();
  const byDayModel = new Map<string, Bucket>();
  for (const r of rows) {
    add(totals, r);
    for (const [map, k] of [[byModel, r.model], [byDay, r.day], [byKey, r.key_id], [byDayModel, `${r.day}|${r.model}`]] as const) {
      if (!map.has(k)) map.set(k, empty());
      add(map.get(k)!, r);
    }
  }
  return {
    object: 'usage',
    start_date: range.start,
    end_date: range.end,
    totals,
    by_model: [...byModel].map(([model, b]) => ({ model, ...b })),
    by_day: [...byDay].map(([date, b]) => ({ date, ...b })),
    by_day_and_model: [...byDayModel].map(([k, b]) => ({ date: k.split('|')[0], model: k.split('|')[1], ...b })),
    ...(keyId ? {} : { by_key: [...byKey].map(([key_id, b]) => ({ key_id, ...b })) }),
  };
}
