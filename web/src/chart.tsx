/**
 * A stacked bar chart in plain SVG (no chart library): one bar per day, one colour per series.
 * Accessible: the SVG is an image with a title and a summary; every segment has a tooltip
 * title; the same numbers are available as a table right below.
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';

export interface Series {
  name: string;
  /** One value per day, aligned with `days`. */
  values: number[];
}

const PALETTE = ['#4f46e5', '#0891b2', '#d97706', '#db2777', '#16a34a', '#7c3aed', '#dc2626', '#475569'];
export const seriesColor = (i: number): string => PALETTE[i % PALETTE.length]!;

/** A round tick step (1, 2, 2.5 or 5 × 10^n) giving about four steps up to max. */
function niceStep(max: number): number {
  const raw = max > 0 ? max / 4 : 0.25;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** The width the chart is drawn at: its box in CSS pixels, so text keeps its size on any screen. */
function useWidth(fallback: number) {
  const ref = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return undefined;
    const ro = new ResizeObserver(([entry]) => {
      const w = Math.round(entry?.contentRect.width ?? fallback);
      if (w > 0) setWidth(w);
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return { ref, width };
}

export function StackedBars({ title, days, series, format, unit }: { title: string; days: string[]; series: Series[]; format: (n: number) => string; unit: string }) {
  const id = useId();
  const { ref, width } = useWidth(600);
  const W = Math.max(240, width);
  const H = W < 420 ? 200 : 260;
  const left = 60;
  const right = 8;
  const top = 12;
  const bottom = 32;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const totals = days.map((_, d) => series.reduce((sum, s) => sum + (s.values[d] ?? 0), 0));
  const step = niceStep(Math.max(0, ...totals));
  const max = Math.max(step, Math.ceil(Math.max(0, ...totals) / step - 1e-9) * step);
  const band = plotW / Math.max(1, days.length);
  const barW = Math.max(2, band * 0.7);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const ticks = Array.from({ length: Math.round(max / step) + 1 }, (_, i) => i * step);
  const labelEvery = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor(plotW / 56))));
  const grand = totals.reduce((a, b) => a + b, 0);
  const busiest = totals.reduce((best, v, i) => (v > (totals[best] ?? 0) ? i : best), 0);
  const summary =
    grand === 0
      ? `No ${unit} in this period.`
      : `Total ${format(grand)} over ${days.length} days; the busiest day was ${days[busiest]} with ${format(totals[busiest] ?? 0)}.`;

  return (
    <figure class="chart" ref={ref}>
      <figcaption id={`${id}-t`}>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-labelledby={`${id}-t`} aria-describedby={`${id}-d`} preserveAspectRatio="xMidYMid meet">
        <desc id={`${id}-d`}>{summary}</desc>
        {ticks.map((t) => (
          <g key={t} class="tick">
            <line x1={left} x2={W - right} y1={y(t)} y2={y(t)} />
            <text x={left - 6} y={y(t) + 4} text-anchor="end">
              {format(t)}
            </text>
          </g>
        ))}
        {days.map((day, d) => {
          let acc = 0;
          const x = left + d * band + (band - barW) / 2;
          return (
            <g key={day}>
              {series.map((s, i) => {
                const v = s.values[d] ?? 0;
                if (v <= 0) return null;
                const y0 = y(acc);
                acc += v;
                const y1 = y(acc);
                return (
                  <rect key={s.name} x={x} y={y1} width={barW} height={Math.max(1, y0 - y1)} fill={seriesColor(i)} class="bar">
                    <title>{`${day} · ${s.name}: ${format(v)}`}</title>
                  </rect>
                );
              })}
              {d % labelEvery === 0 && (
                <text class="xlabel" x={left + d * band + band / 2} y={H - 10} text-anchor="middle">
                  {day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
        <line class="axis" x1={left} x2={W - right} y1={top + plotH} y2={top + plotH} />
      </svg>
      {series.length > 0 && (
        <ul class="legend" aria-label="Models">
          {series.map((s, i) => (
            <li key={s.name}>
              <span class="swatch" style={{ background: seriesColor(i) }} aria-hidden="true" />
              {s.name}
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}
