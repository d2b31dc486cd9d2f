import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_MODELS,
  ModelConfigError,
  aspectRatiosOf,
  buildCatalog,
  defaultSizeOf,
  durationsOf,
  formatSize,
  listPrice,
  modelProblems,
  pairOfSize,
  resolutionsOf,
  sizeOf,
  sizesOf,
} from '../src/core/catalog.js';
import type { FixedRatio } from '../src/core/catalog.js';
import { catalogFromConfig, modelEntrySchema } from '../src/core/model-config.js';
import { renderModelsDoc } from '../src/core/models/doc.js';
import { modelObject } from '../src/http/model-object.js';

const root = path.resolve(import.meta.dirname, '..');

describe('built-in catalogue', () => {
  const catalog = buildCatalog();

  it('has the models in use today, each with a source', () => {
    for (const id of [
      'veo-3.1-generate-001', 'veo-3.1-fast-generate-001', 'veo-3.1-lite-generate-001', 'kling-v2-6', 'kling-v3', 'seedance-1-5-pro-251215',
      'dreamina-seedance-2-0-260128', 'dreamina-seedance-2-5-260628', 'MiniMax-Hailuo-2.3', 'MiniMax-H3', 'wan2.6-t2v', 'wan2.7-t2v', 'viduq3-pro',
      'grok-imagine-video-1.5', 'pixverse-v6', 'gen4.5', 'ray-3.2', 'sora-2', 'sora-2-pro',
    ]) {
      const m = catalog.get(id);
      expect(m, id).toBeDefined();
      expect(m!.source, id).toBeTruthy();
    }
  });

  it('resolves apimart spellings and other aliases (in any case) to the canonical model', () => {
    expect(catalog.get('veo3.1-fast')?.id).toBe('veo-3.1-fast-generate-001');
    expect(catalog.get('VEO3.1-FAST')?.id).toBe('veo-3.1-fast-generate-001');
    expect(catalog.get('kling-3.0')?.id).toBe('kling-v3');
    expect(catalog.get('doubao-seedance-2.0')?.id).toBe('dreamina-seedance-2-0-260128');
    expect(catalog.get('nope')).toBeUndefined();
    // The list holds each model once.
    const ids = catalog.list().map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).not.toContain('veo3.1-fast');
  });

  it('keeps the Sora models exactly as before', () => {
    const sora = catalog.get('sora-2')!;
    expect(sizesOf(sora)).toEqual(['720x1280', '1280x720']);
    expect(durationsOf(sora)).toEqual([4, 8, 12, 16, 20]);
    expect(formatSize(defaultSizeOf(sora))).toBe('720x1280');
    expect(sora.defaults.seconds).toBe(4);
    expect(aspectRatiosOf(sora)).not.toContain('1:1');
    const pro = catalog.get('sora-2-pro')!;
    expect(sizesOf(pro)).toEqual(['720x1280', '1280x720', '1024x1792', '1792x1024', '1080x1920', '1920x1080']);
    expect(pairOfSize(pro, '1792x1024')).toEqual({ resolution: 'high', aspectRatio: '16:9' });
    expect(listPrice(pro, { resolution: '720p', audio: false })).toBe(0.3);
    expect(listPrice(pro, { resolution: 'standard', audio: false })).toBe(0.3);
    expect(listPrice(pro, { resolution: 'high', audio: false })).toBe(0.5);
    expect(listPrice(pro, { resolution: '1080p', audio: false })).toBe(0.7);
    expect(listPrice(sora, { resolution: '720p', audio: false })).toBe(0.1);
    expect(durationsOf(catalog.get('sora-2-preview')!)).toEqual([4, 8, 12]);
  });

  it('prices by resolution, audio and mode', () => {
    const veo = catalog.get('veo-3.1-generate-001')!;
    expect(listPrice(veo, { resolution: '1080p', audio: true })).toBe(0.4);
    expect(listPrice(veo, { resolution: '1080p', audio: false })).toBe(0.2);
    expect(listPrice(veo, { resolution: '4k', audio: true })).toBe(0.6);
    const kling = catalog.get('kling-v2-6')!;
    expect(listPrice(kling, { resolution: '720p', audio: false, mode: 'std' })).toBe(0.042);
    expect(listPrice(kling, { resolution: '720p', audio: false, mode: 'pro' })).toBe(0.07);
    expect(listPrice(kling, { resolution: '1080p', audio: true, mode: 'pro' })).toBe(0.14);
    const seedance = catalog.get('seedance-1-5-pro-251215')!;
    expect(listPrice(seedance, { resolution: '720p', audio: true })).toBeGreaterThan(listPrice(seedance, { resolution: '720p', audio: false })!);
  });

  // The matrix: every built-in model is sound, and its listing says what the helpers say.
  for (const m of BUILTIN_MODELS) {
    it(`${m.id}: sound, priced everywhere, and listed as the helpers say`, () => {
      expect(modelProblems(m)).toEqual([]);
      const o = modelObject(m, 0);
      expect(o.id).toBe(m.id);
      expect(o.supported_resolutions).toEqual(resolutionsOf(m));
      expect(o.supported_aspect_ratios).toEqual(aspectRatiosOf(m));
      expect(o.supported_durations).toEqual(durationsOf(m));
      expect(o.supported_sizes).toEqual(sizesOf(m));
      expect(o.generate_audio).toBe(m.audio.mode !== 'none');
      expect(o.seed).toBe(m.seed !== undefined);
      expect(o.supported_frame_images).toEqual([...(m.firstFrame ? ['first_frame'] : []), ...(m.lastFrame ? ['last_frame'] : [])]);
      expect(o.allowed_passthrough_parameters).toEqual(m.options);
      expect(o.lifecycle.status).toBe(m.lifecycle.status);
      expect(durationsOf(m)).toContain(m.defaults.seconds);
      const audios = m.audio.mode === 'none' ? [false] : m.audio.mode === 'always' ? [true] : [false, true];
      for (const resolution of resolutionsOf(m)) {
        for (const ratio of Object.keys(m.sizes[resolution]!) as FixedRatio[]) {
          const size = sizeOf(m, resolution, ratio)!;
          expect(size.width % 2, `${resolution} ${ratio}`).toBe(0);
          expect(size.height % 2, `${resolution} ${ratio}`).toBe(0);
          expect(o.sizes_by_resolution[resolution]![ratio]).toBe(formatSize(size));
          // Landscape ratios are wider than tall, portrait ones taller.
          const [a, b] = ratio.split(':').map(Number) as [number, number];
          expect(Math.sign(size.width - size.height), `${resolution} ${ratio}`).toBe(Math.sign(a - b));
          expect(Math.abs(size.width / size.height / (a / b) - 1), `${resolution} ${ratio}`).toBeLessThan(0.03);
          // The pair of a size is a pair that makes that size.
          const pair = pairOfSize(m, formatSize(size))!;
          expect(formatSize(sizeOf(m, pair.resolution, pair.aspectRatio)!)).toBe(formatSize(size));
        }
        for (const audio of audios) for (const mode of m.modes ?? [undefined]) {
          const price = listPrice(m, { resolution, audio, mode });
          expect(price, `${resolution} audio=${audio} mode=${mode}`).toBeGreaterThan(0);
        }
      }
    });
  }

  it('docs/models.md is generated from the catalogue (npm run docs:models)', () => {
    expect(readFileSync(path.join(root, 'docs/models.md'), 'utf8')).toBe(renderModelsDoc(BUILTIN_MODELS));
  });
});

describe('models in the config file', () => {
  const entry = (e: unknown) => modelEntrySchema.parse(e);

  it('adds a model in the catalogue vocabulary and changes a built-in one', () => {
    const catalog = catalogFromConfig([
      entry({
        id: 'my-video-model',
        name: 'My model',
        ownedBy: 'acme',
        aliases: ['mine'],
        sizes: { '720p': { '16:9': '1280x720', '1:1': '720x720' }, '1080p': { '16:9': '1920x1080' } },
        durations: { min: 2, max: 10, step: 2 },
        defaults: { aspectRatio: '1:1', seconds: 4 },
        audio: { mode: 'optional', default: true },
        lastFrame: true,
        references: { images: 2 },
        seed: { min: 0, max: 99 },
        pricing: [{ usdPerSecond: 0.05 }, { resolution: '1080p', audio: true, usdPerSecond: 0.2 }],
      }),
      entry({ id: 'veo-3.1-fast-generate-001', pricePerSecond: { '720p': 0.5 }, aliases: ['fast'] }),
    ]);
    const m = catalog.get('mine')!;
    expect(m.id).toBe('my-video-model');
    expect(durationsOf(m)).toEqual([2, 4, 6, 8, 10]);
    expect(m.defaults).toEqual({ aspectRatio: '1:1', resolution: '720p', seconds: 4 });
    expect(m.references).toEqual({ images: 2, videos: 0, audios: 0 });
    expect(listPrice(m, { resolution: '1080p', audio: true })).toBe(0.2);
    expect(listPrice(m, { resolution: '1080p', audio: false })).toBe(0.05);
    const veo = catalog.get('fast')!;
    expect(veo.id).toBe('veo-3.1-fast-generate-001');
    expect(listPrice(veo, { resolution: '720p', audio: true })).toBe(0.5);
    expect(veo.sizes).toEqual(catalog.get('veo-3.1-generate-001')!.sizes);
    expect(catalog.get('veo3.1-fast')).toBeUndefined();
  });

  it('takes the short forms: sizes as WxH, seconds, pricePerSecond by resolution, defaultSize', () => {
    const catalog = catalogFromConfig([
      entry({ id: 'short', sizes: ['1280x720', '720x1280', '1920x1080', '1792x1024'], seconds: [5, 10], pricePerSecond: { '720p': 0.07, '1024p': 0.1 }, defaultSize: '720x1280', audio: 'always' }),
    ]);
    const m = catalog.get('short')!;
    expect(m.sizes).toEqual({ '720p': { '16:9': '1280x720', '9:16': '720x1280' }, '1080p': { '16:9': '1920x1080' }, high: { '16:9': '1792x1024' } });
    expect(m.defaults).toMatchObject({ aspectRatio: '9:16', resolution: '720p', seconds: 5 });
    expect(m.audio).toEqual({ mode: 'always' });
    expect(listPrice(m, { resolution: 'high', audio: true })).toBe(0.1);
  });

  it('a new model named like a built-in alias takes the name over', () => {
    const catalog = catalogFromConfig([entry({ id: 'kling-3.0', sizes: ['1280x720'], seconds: [5] })]);
    expect(catalog.get('kling-3.0')!.id).toBe('kling-3.0');
    expect(catalog.get('kling-v3')!.aliases).not.toContain('kling-3.0');
  });

  it('a bad entry names the model and the field', () => {
    const bad = (e: unknown): string => {
      try {
        catalogFromConfig([entry(e)]);
      } catch (err) {
        expect(err).toBeInstanceOf(ModelConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ id: 'x', sizes: ['1280x720'], seconds: [5], defaultSeconds: 7 })).toMatch(/model 'x': defaults\.seconds/);
    expect(bad({ id: 'x', sizes: ['1000x100'], seconds: [5] })).toMatch(/model 'x': sizes\.0/);
    expect(bad({ id: 'x', seconds: [5] })).toMatch(/model 'x': sizes/);
    expect(bad({ id: 'kling-v3', defaults: { mode: 'turbo' } })).toMatch(/model 'kling-v3': defaults\.mode/);
    expect(bad({ id: 'sora-2', pricing: [{ resolution: '4k', usdPerSecond: 1 }] })).toMatch(/model 'sora-2': pricing\.0\.resolution/);
    expect(bad({ id: 'x', sizes: ['1280x720'], seconds: [5], aliases: ['veo3.1'] })).toMatch(/model 'x': aliases/);
  });
});

describe('migration 005: price overrides by dimension', () => {
  it('keeps the old tier overrides as resolution overrides (1024p becomes high)', async () => {
    const { default: Database } = await import('better-sqlite3');
    const { MIGRATIONS } = await import('../src/store/migrations.js');
    const { migrate } = await import('../src/store/db.js');
    const db = new Database(':memory:');
    db.exec('CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.slice(0, MIGRATIONS.findIndex((x) => x.id === '005_prices_by_dimension'))) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, 0)').run(m.id);
    }
    const put = db.prepare('INSERT INTO prices (model, tier, usd_per_second, updated_at) VALUES (?, ?, ?, 1)');
    put.run('sora-2', '720p', 0.25);
    put.run('sora-2-pro', '1024p', 0.55);
    migrate(db);
    expect(db.prepare('SELECT model, resolution, audio, mode, usd_per_second FROM prices ORDER BY model').all()).toEqual([
      { model: 'sora-2', resolution: '720p', audio: '', mode: '', usd_per_second: 0.25 },
      { model: 'sora-2-pro', resolution: 'high', audio: '', mode: '', usd_per_second: 0.55 },
    ]);
    const { PriceBook } = await import('../src/billing/prices.js');
    const { SqliteDatabase } = await import('../src/store/sql.js');
    const book = new PriceBook(new SqliteDatabase(db), buildCatalog(), 'catalogue');
    const pro = buildCatalog().get('sora-2-pro')!;
    expect(await book.usdPerSecond(pro, { resolution: 'high', audio: false })).toBe(0.55);
    expect(await book.usdPerSecond(pro, { resolution: '1080p', audio: false })).toBe(0.7);
    expect(await book.usdPerSecond(buildCatalog().get('sora-2')!, { resolution: 'standard', audio: false })).toBe(0.25);
    db.close();
  });
});
