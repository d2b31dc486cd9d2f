import { z } from 'zod';
import { invalid } from '../core/errors.js';
import type { Sql } from '../store/sql.js';
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
/** A real calendar day (2026-02-30 is not one). */
const isDay = (v: string): boolean => {
  if (!DAY.test(v)) return false;
  const ms = Date.parse(`${v}T00:00:00Z`);
  return !Number.isNaN(ms) && isoDay(ms) === v;
};

/** ?start_date= / ?end_date= as Zod: a UTC day, YYYY-MM-DD. */
export const usageQuery = z.object({
  start_date: z.string().max(10).refine(isDay, { error: (iss) => `start_date must be a date like 2026-11-21, not '${String(iss.input).slice(0, 40)}'.` }).optional().meta({ description: 'First UTC day, YYYY-MM-DD (default: 29 days before end_date).' }),
  end_date: z.string().max(10).refine(isDay, { error: (iss) => `end_date must be a date like 2026-11-21, not '${String(iss.input).slice(0, 40)}'.` }).optional().meta({ description: 'Last UTC day, YYYY-MM-DD (default: today).' }),
});

/** start_date / end_date (default: the last 30 days up to today, UTC). */
export function parseRange(q: { start_date?: string; end_date?: string }, now: number): UsageRange {
  const end = q.end_date ?? isoDay(now);
  if (!isDay(end)) throw invalid('end_date', 'end_date must be a date like 2026-11-21.');
  const start = q.start_date ?? isoDay(Date.parse(`${end}T00:00:00Z`) - 29 * 86_400_000);
  if (!isDay(start)) throw invalid('start_date', 'start_date must be a date like 2026-11-21.');
  if (start > end) throw invalid('start_date', 'start_date must not be after end_date.');
  return { start, end };
}

const bucket = z.object({ videos: z.number().int(), failed: z.number().int(), seconds: z.number(), cost_usd: z.number() });

/** The usage report, as Zod. */
export const usageSchema = z
  .object({
    object: z.literal('usage'),
    start_date: z.string(),
    end_date: z.string(),
    totals: bucket,
    by_model: z.array(bucket.extend({ model: z.string() })),
    by_day: z.array(bucket.extend({ date: z.string() })),
    by_day_and_model: z.array(bucket.extend({ date: z.string(), model: z.string() })),
    by_key: z.array(bucket.extend({ key_id: z.string() })).optional().meta({ description: 'Across keys only (admin, without key_id).' }),
  })
  .meta({ id: 'Usage' });

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
export async function usageReport(db: Sql, range: UsageRange, keyId?: string) {
  const from = Date.parse(`${range.start}T00:00:00Z`);
  const to = Date.parse(`${range.end}T00:00:00Z`) + 86_400_000;
  // Billed seconds: delivered, rounded, at least 1, never more than requested (billing/hooks.ts).
  const pg = db.dialect === 'postgres';
  const day = pg ? `to_char(to_timestamp(completed_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')` : `strftime('%Y-%m-%d', completed_at / 1000, 'unixepoch')`;
  const [least, greatest] = pg ? ['LEAST', 'GREATEST'] : ['MIN', 'MAX'];
  const rows = await db.all<Row>(
    `SELECT key_id, model, ${day} AS day,
         SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS videos,
         SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,
         SUM(CASE WHEN status <> 'completed' THEN 0
                  WHEN actual_seconds IS NULL THEN seconds
                  ELSE ${least}(seconds, ${greatest}(1, CAST(ROUND(actual_seconds) AS INTEGER))) END) AS seconds,
         COALESCE(SUM(CASE WHEN status = 'completed' THEN cost_micros END), 0) AS cost
       FROM tasks
       WHERE completed_at >= ? AND completed_at < ?${keyId === undefined ? '' : ' AND key_id = ?'}
       GROUP BY key_id, model, ${pg ? day : 'day'} ORDER BY day, model`,
    keyId === undefined ? [from, to] : [from, to, keyId],
  );

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
