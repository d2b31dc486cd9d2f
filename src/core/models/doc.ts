import type { ModelSpec, PriceRow } from '../catalog.js';
import { aspectRatiosOf, durationsOf, resolutionsOf } from '../catalog.js';

const usd = (n: number): string => `$${Number(n.toFixed(4))}`;
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function durationText(m: ModelSpec): string {
  if ('values' in m.durations) return `${m.durations.values.join(', ')} s`;
  return `${m.durations.min}–${m.durations.max} s${m.durations.step === 1 ? '' : ` step ${m.durations.step}`}`;
}

function priceText(rows: PriceRow[]): string {
  if (!rows.length) return 'unpriced';
  return rows
    .map((r) => {
      const when = [r.resolution, r.audio === undefined ? undefined : r.audio ? 'audio' : 'no audio', r.mode].filter(Boolean).join(' ');
      return `${when || 'any'} ${usd(r.usdPerSecond)}`;
    })
    .join('; ');
}

function audioText(m: ModelSpec): string {
  return m.audio.mode === 'optional' ? `optional (default ${m.audio.default ? 'on' : 'off'})` : m.audio.mode;
}

function inputsText(m: ModelSpec): string {
  const out: string[] = [];
  if (m.firstFrame) out.push('first frame');
  if (m.lastFrame) out.push(m.lastFrameAlone ? 'last frame (alone too)' : 'last frame');
  const r = m.references;
  const refs = [r.images && `${r.images} images`, r.videos && `${r.videos} videos`, r.audios && `${r.audios} audio`].filter(Boolean);
  if (refs.length) out.push(`references: ${refs.join(', ')}${m.referencesExclusive ? ' (not with frames)' : ''}`);
  if (m.negativePrompt) out.push('negative prompt');
  if (m.seed) out.push(`seed ${m.seed.min}–${m.seed.max}`);
  if (m.modes?.length) out.push(`modes ${m.modes.join('/')}`);
  if (m.options.length) out.push(`metadata: ${m.options.join(', ')}`);
  return out.join('; ') || '—';
}

/** docs/models.md: every built-in model, its capabilities, list prices and their source. */
export function renderModelsDoc(models: ModelSpec[]): string {
  const lines = [
    '# Built-in models',
    '',
    '<!-- Generated from src/core/models/ by `npm run docs:models`; test/catalog.test.ts fails when this file is stale. -->',
    '',
    'The catalogue vidgate starts with. Prices are list prices in USD per second of video; the most',
    'specific matching row prices a video (resolution, audio on/off, mode). Operators change any of',
    'this in the config file (`models:`, see [configuration.md](configuration.md)) and override',
    'prices at run time (`PUT /admin/v1/prices`). `GET /v1/models` shows the same data, with the',
    'exact pixel size of every (resolution, aspect ratio) pair under `sizes_by_resolution`.',
    '',
    'Price overrides: `PUT /admin/v1/prices {model, resolution?, audio?, mode?, usd_per_second}`',
    'replaces the catalogue row with the same dimensions or adds one (absent = any; `tier` is the',
    'older name of `resolution`, `1024p` = `high`); `DELETE /admin/v1/prices/{model}/{resolution|any}`',
    '(`?audio=true|false&mode=` to name the row) removes it; `GET /admin/v1/prices` lists every row',
    'with its `source`. `GET /v1/quote` shows which row priced a video.',
    '',
    'Sources marked "verify" rest on a secondary source or a reseller list; pixel sizes called',
    '"derived" follow the tier\'s short side where the provider publishes no table.',
    '',
  ];
  const makers = [...new Set(models.map((m) => m.ownedBy))];
  for (const maker of makers) {
    lines.push(`## ${maker}`, '');
    lines.push('| Model | Aliases | Status | Resolutions | Aspect ratios | Durations | Audio | Inputs | USD per second | Source |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const m of models.filter((x) => x.ownedBy === maker)) {
      const status = m.lifecycle.status === 'active' ? 'active' : `retired ${m.lifecycle.retiredOn}${m.lifecycle.replacement ? ` → ${m.lifecycle.replacement}` : ''}`;
      lines.push(
        `| \`${m.id}\`<br>${cell(m.name)} | ${m.aliases.map((a) => `\`${a}\``).join(', ') || '—'} | ${status} | ${resolutionsOf(m).join(', ')} | ${aspectRatiosOf(m).join(', ')} | ${durationText(m)} | ${audioText(m)} | ${cell(inputsText(m))} | ${cell(priceText(m.pricing))} | ${cell(m.source ?? '—')} |`,
      );
    }
    lines.push('');
  }
  lines.push(`${models.length} models. Durations expand to ${models.reduce((n, m) => n + durationsOf(m).length, 0)} (model, length) pairs.`, '');
  return lines.join('\n');
}
