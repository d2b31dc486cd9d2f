import { useState } from 'preact/hooks';
import { api } from '../../api.js';
import { StackedBars } from '../../chart.js';
import type { Series } from '../../chart.js';
import { usd } from '../../format.js';
import { currentQuery, setQuery } from '../../router.js';
import { Empty, ErrorNote, Loading, Page, SelectField, TextField, useAsync } from '../../ui.js';
import type { KeyView } from './keys.js';

interface Bucket {
  videos: number;
  failed: number;
  seconds: number;
  cost_usd: number;
}

interface Usage {
  start_date: string;
  end_date: string;
  totals: Bucket;
  by_model: Array<Bucket & { model: string }>;
  by_day: Array<Bucket & { date: string }>;
  by_day_and_model: Array<Bucket & { date: string; model: string }>;
  by_key?: Array<Bucket & { key_id: string }>;
}

const isoDay = (d: Date): string => d.toISOString().slice(0, 10);

function daysBetween(start: string, end: string): string[] {
  const out: string[] = [];
  const t = new Date(`${start}T00:00:00Z`);
  const last = new Date(`${end}T00:00:00Z`).getTime();
  while (t.getTime() <= last && out.length < 400) {
    out.push(isoDay(t));
    t.setUTCDate(t.getUTCDate() + 1);
  }
  return out;
}

const secondsText = (n: number) => `${Math.round(n * 10) / 10} s`;

/** Seconds and cost per day and model, for the whole gateway or one key. */
export function UsagePage() {
  const q = currentQuery();
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 29 * 86_400_000);
  const [range, setRange] = useState({ start: q.get('start_date') ?? isoDay(monthAgo), end: q.get('end_date') ?? isoDay(today), key: q.get('key_id') ?? '' });
  const [draft, setDraft] = useState(range);
  const keys = useAsync((signal) => api<{ data: KeyView[] }>('admin/v1/keys', { admin: true, signal }), []);
  const usage = useAsync(
    (signal) => api<Usage>('admin/v1/usage', { admin: true, query: { start_date: range.start, end_date: range.end, key_id: range.key }, signal }),
    [range.start, range.end, range.key],
  );
  const keyName = (id: string) => keys.data?.data.find((k) => k.id === id)?.name ?? id;

  let days: string[] = [];
  let secondsSeries: Series[] = [];
  let costSeries: Series[] = [];
  if (usage.data) {
    days = daysBetween(usage.data.start_date, usage.data.end_date);
    const index = new Map(days.map((d, i) => [d, i]));
    const models = usage.data.by_model.map((m) => m.model);
    const make = (pick: (b: Bucket) => number): Series[] =>
      models.map((model) => {
        const values = days.map(() => 0);
        for (const r of usage.data!.by_day_and_model) {
          const i = index.get(r.date);
          if (r.model === model && i !== undefined) values[i] = pick(r);
        }
        return { name: model, values };
      });
    secondsSeries = make((b) => b.seconds);
    costSeries = make((b) => b.cost_usd);
  }

  return (
    <Page title="Usage">
      <form
        class="filters"
        aria-label="Usage period"
        onSubmit={(e) => {
          e.preventDefault();
          setRange(draft);
          setQuery({ start_date: draft.start, end_date: draft.end, key_id: draft.key });
        }}
      >
        <TextField label="From (UTC)" type="date" value={draft.start} max={draft.end} onInput={(e) => setDraft({ ...draft, start: e.currentTarget.value })} />
        <TextField label="To (UTC)" type="date" value={draft.end} min={draft.start} onInput={(e) => setDraft({ ...draft, end: e.currentTarget.value })} />
        <SelectField
          label="Key"
          value={draft.key}
          options={[{ value: '', label: 'All keys' }, ...(keys.data?.data ?? []).map((k) => ({ value: k.id, label: `${k.name} (${k.prefix}…)` }))]}
          onChange={(e) => setDraft({ ...draft, key: e.currentTarget.value })}
        />
        <div class="filter-buttons">
          <button type="submit" class="button primary">
            Show
          </button>
        </div>
      </form>
      {usage.loading && !usage.data && <Loading label="Loading usage…" />}
      {usage.error !== undefined && <ErrorNote error={usage.error} retry={usage.reload} title="Usage could not be loaded" />}
      {usage.data && (
        <>
          <ul class="stats" aria-label="Totals">
            <li>
              <span class="stat-value" data-testid="total-videos">{usage.data.totals.videos}</span> completed videos
            </li>
            <li>
              <span class="stat-value">{usage.data.totals.failed}</span> failed (not charged)
            </li>
            <li>
              <span class="stat-value" data-testid="total-seconds">{secondsText(usage.data.totals.seconds)}</span> of video
            </li>
            <li>
              <span class="stat-value" data-testid="total-cost">{usd(usage.data.totals.cost_usd)}</span> charged
            </li>
          </ul>
          {usage.data.totals.videos === 0 && usage.data.totals.failed === 0 ? (
            <Empty>
              <p>No finished videos in this period.</p>
            </Empty>
          ) : (
            <>
              <div class="charts">
                <StackedBars title="Seconds of video per day, by model" days={days} series={secondsSeries} format={secondsText} unit="seconds of video" />
                <StackedBars title="Cost per day (USD), by model" days={days} series={costSeries} format={usd} unit="cost" />
              </div>
              <details class="card">
                <summary>The numbers as a table</summary>
                <div class="table-wrap">
                  <table class="table compact">
                    <caption class="sr-only">Usage by day and model</caption>
                    <thead>
                      <tr>
                        <th scope="col">Day</th>
                        <th scope="col">Model</th>
                        <th scope="col" class="num">Videos</th>
                        <th scope="col" class="num">Failed</th>
                        <th scope="col" class="num">Seconds</th>
                        <th scope="col" class="num">Cost</th>
                      </tr>
                    </thead>
                    <tbody>
                      {usage.data.by_day_and_model.map((r) => (
                        <tr key={`${r.date}|${r.model}`}>
                          <td>{r.date}</td>
                          <td>{r.model}</td>
                          <td class="num">{r.videos}</td>
                          <td class="num">{r.failed}</td>
                          <td class="num">{secondsText(r.seconds)}</td>
                          <td class="num">{usd(r.cost_usd)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </details>
              {usage.data.by_key && usage.data.by_key.length > 0 && (
                <>
                  <h2>By key</h2>
                  <div class="table-wrap">
                    <table class="table compact">
                      <thead>
                        <tr>
                          <th scope="col">Key</th>
                          <th scope="col" class="num">Videos</th>
                          <th scope="col" class="num">Seconds</th>
                          <th scope="col" class="num">Cost</th>
                        </tr>
                      </thead>
                      <tbody>
                        {usage.data.by_key.map((r) => (
                          <tr key={r.key_id}>
                            <td>{keyName(r.key_id)}</td>
                            <td class="num">{r.videos}</td>
                            <td class="num">{secondsText(r.seconds)}</td>
                            <td class="num">{usd(r.cost_usd)}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                </>
              )}
            </>
          )}
        </>
      )}
    </Page>
  );
}
