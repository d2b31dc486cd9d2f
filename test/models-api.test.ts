import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aspectRatiosOf, durationsOf, resolutionsOf } from '../src/core/catalog.js';
import { startGateway } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { spawnServer } from './helpers/process.js';
import { checkContract } from './helpers/contract.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const ADMIN = 'models-admin-token-0123456789';

interface ModelJson {
  id: string;
  object: string;
  owned_by: string;
  name: string;
  aliases: string[];
  lifecycle: { status: string; retired_on: string | null; replacement: string | null };
  supported_aspect_ratios: string[];
  supported_resolutions: string[];
  supported_sizes: string[];
  supported_durations: number[];
  supported_frame_images: string[];
  generate_audio: boolean;
  seed: boolean;
  allowed_passthrough_parameters: string[];
  sizes_by_resolution: Record<string, Record<string, string>>;
  pricing: { currency: string; unit: string; rows: { resolution: string | null; generate_audio: boolean | null; mode: string | null; usd_per_second: number }[] };
  source: string | null;
}

interface QuoteJson {
  model: string;
  size: string | null;
  resolution: string;
  aspect_ratio: string;
  generate_audio: boolean;
  mode: string | null;
  seconds: string;
  price_usd: number;
  price_per_second_usd: number;
  breakdown: {
    seconds: number;
    price_per_second_usd: number;
    list_price: { usd_per_second: number; matched: { resolution: string | null; generate_audio: boolean | null; mode: string | null }; source: string } | null;
    total_usd: number;
  };
  error?: { message: string; param: string | null };
}

describe('GET /v1/models and the quote', () => {
  let gw: TestGateway;
  const get = async <T>(p: string, token = gw.key): Promise<{ status: number; json: T }> => {
    const res = await fetch(`${gw.url}${p}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, json: (await res.json()) as T };
  };
  const admin = (method: string, p: string, body?: unknown) =>
    fetch(`${gw.url}${p}`, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

  beforeAll(async () => {
    gw = await startGateway({
      adminToken: ADMIN,
      billing: { sandboxPricing: 'catalogue' },
      models: [
        { id: 'acme-clip', name: 'Acme Clip', ownedBy: 'acme', aliases: ['clip'], sizes: { '720p': { '16:9': '1280x720', '1:1': '720x720' } }, durations: [3, 6], audio: 'optional', pricing: [{ usdPerSecond: 0.02 }] },
        { id: 'kling-v2-6', pricePerSecond: { '720p': 0.05 } },
      ],
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('lists every model once in OpenAI\'s envelope with OpenRouter\'s fields', async () => {
    const { status, json } = await get<{ object: string; data: ModelJson[] }>('/v1/models');
    expect(status).toBe(200);
    expect(json.object).toBe('list');
    const ids = json.data.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(gw.app.gateway.catalog.list().length);
    for (const m of json.data) {
      const spec = gw.app.gateway.catalog.get(m.id)!;
      expect(m.object).toBe('model');
      expect(m.supported_resolutions).toEqual(resolutionsOf(spec));
      expect(m.supported_aspect_ratios).toEqual(aspectRatiosOf(spec));
      expect(m.supported_durations).toEqual(durationsOf(spec));
      expect(m.pricing.currency).toBe('USD');
    }
    const veo = json.data.find((m) => m.id === 'veo-3.1-fast-generate-001')!;
    expect(veo).toMatchObject({
      owned_by: 'google',
      name: 'Veo 3.1 Fast',
      supported_resolutions: ['720p', '1080p', '4k'],
      supported_aspect_ratios: ['16:9', '9:16'],
      supported_durations: [4, 6, 8],
      supported_frame_images: ['first_frame', 'last_frame'],
      generate_audio: true,
      seed: true,
      lifecycle: { status: 'active', retired_on: null, replacement: null },
    });
    expect(veo.sizes_by_resolution['1080p']).toEqual({ '16:9': '1920x1080', '9:16': '1080x1920' });
    expect(veo.aliases).toContain('veo3.1-fast');
    expect(veo.source).toBeTruthy();
    const sora = json.data.find((m) => m.id === 'sora-2')!;
    expect(sora.lifecycle).toMatchObject({ status: 'retired', retired_on: '2026-09-24' });
    expect(sora.supported_sizes).toEqual(['720x1280', '1280x720']);
  });

  it('gets one model by id or alias; an unknown one is a 404 in OpenAI\'s envelope', async () => {
    expect((await get<ModelJson>('/v1/models/veo3.1-fast')).json.id).toBe('veo-3.1-fast-generate-001');
    expect((await get<ModelJson>('/v1/models/doubao-seedance-2.0')).json.id).toBe('dreamina-seedance-2-0-260128');
    const missing = await get<{ error: { message: string; type: string; param: string | null; code: string | null } }>('/v1/models/nope');
    expect(missing.status).toBe(404);
    expect(missing.json.error).toMatchObject({ param: 'model' });
    expect(missing.json.error.message).toContain('nope');
  });

  it('shows the config file\'s models and changes', async () => {
    const clip = (await get<ModelJson>('/v1/models/clip')).json;
    expect(clip).toMatchObject({ id: 'acme-clip', owned_by: 'acme', name: 'Acme Clip', supported_durations: [3, 6], supported_aspect_ratios: ['16:9', '1:1'], generate_audio: true });
    const kling = (await get<ModelJson>('/v1/models/kling-v2-6')).json;
    expect(kling.pricing.rows).toEqual([{ resolution: '720p', generate_audio: null, mode: null, usd_per_second: 0.05 }]);
    expect(kling.supported_aspect_ratios).toContain('1:1');
  });

  it('quotes by resolution, audio and mode, with the breakdown', async () => {
    const withAudio = (await get<QuoteJson>('/v1/quote?model=veo3.1&resolution=1080p&duration=8')).json;
    expect(withAudio).toMatchObject({ model: 'veo-3.1-generate-001', size: '1920x1080', resolution: '1080p', aspect_ratio: '16:9', generate_audio: true, seconds: '8', price_per_second_usd: 0.4 });
    expect(withAudio.price_usd).toBeCloseTo(3.2, 6);
    expect(withAudio.breakdown).toMatchObject({ seconds: 8, price_per_second_usd: 0.4, list_price: { usd_per_second: 0.4, matched: { resolution: '1080p', generate_audio: null, mode: null }, source: 'catalogue' } });
    expect(withAudio.breakdown.total_usd).toBeCloseTo(3.2, 6);

    const silent = (await get<QuoteJson>('/v1/quote?model=veo3.1&aspect_ratio=9:16&resolution=1080p&seconds=8&generate_audio=false')).json;
    expect(silent).toMatchObject({ size: '1080x1920', generate_audio: false, price_per_second_usd: 0.2 });
    expect(silent.breakdown.list_price!.matched).toEqual({ resolution: '1080p', generate_audio: false, mode: null });

    const pro = (await get<QuoteJson>('/v1/quote?model=clip&duration=6')).json;
    expect(pro).toMatchObject({ model: 'acme-clip', price_per_second_usd: 0.02 });

    const sora = (await get<QuoteJson>('/v1/quote?model=sora-2-pro&size=1792x1024&seconds=4')).json;
    expect(sora).toMatchObject({ resolution: 'high', price_per_second_usd: 0.5, generate_audio: false });

    const kling = (await get<QuoteJson>('/v1/quote?model=kling-v3&mode=pro&resolution=1080p&duration=10&sound=true')).json;
    expect(kling).toMatchObject({ model: 'kling-v3', mode: 'pro', generate_audio: true, price_per_second_usd: 0.168 });
  });

  it('an operator price override applies to the matching dimensions and shows where it came from', async () => {
    expect((await admin('PUT', '/admin/v1/prices', { model: 'veo3.1', resolution: '1080p', audio: false, usd_per_second: 0.25 })).status).toBe(200);
    try {
      const q = (await get<QuoteJson>('/v1/quote?model=veo-3.1-generate-001&resolution=1080p&generate_audio=false')).json;
      expect(q.price_per_second_usd).toBe(0.25);
      expect(q.breakdown.list_price).toMatchObject({ source: 'override', matched: { resolution: '1080p', generate_audio: false } });
      expect((await get<QuoteJson>('/v1/quote?model=veo-3.1-generate-001&resolution=1080p')).json.price_per_second_usd).toBe(0.4);
      const listed = (await get<ModelJson>('/v1/models/veo-3.1-generate-001')).json.pricing.rows;
      expect(listed).toContainEqual({ resolution: '1080p', generate_audio: false, mode: null, usd_per_second: 0.25 });
      const prices = (await (await admin('GET', '/admin/v1/prices')).json()) as { data: { model: string; resolution: string | null; audio: boolean | null; source: string; usd_per_second: number }[] };
      expect(prices.data).toContainEqual({ model: 'veo-3.1-generate-001', resolution: '1080p', audio: false, mode: null, usd_per_second: 0.25, source: 'override' });
    } finally {
      expect((await admin('DELETE', '/admin/v1/prices/veo-3.1-generate-001/1080p?audio=false')).status).toBe(200);
    }
    expect((await get<QuoteJson>('/v1/quote?model=veo-3.1-generate-001&resolution=1080p&generate_audio=false')).json.price_per_second_usd).toBe(0.2);
    expect((await admin('PUT', '/admin/v1/prices', { model: 'kling-v3', mode: 'turbo', usd_per_second: 1 })).status).toBe(400);
  });

  it('refuses what the model cannot do, naming the parameter', async () => {
    for (const [query, param] of [
      ['model=veo-3.1-lite-generate-001&resolution=4k', 'resolution'],
      ['model=sora-2&aspect_ratio=1:1', 'aspect_ratio'],
      ['model=sora-2&generate_audio=true', 'generate_audio'],
      ['model=MiniMax-H3&audio=false', 'audio'],
      ['model=kling-v2-6&mode=turbo', 'mode'],
      ['model=veo3.1&duration=5', 'duration'],
      ['model=veo3.1&duration=4&seconds=8', 'duration'],
      ['model=veo3.1&generate_audio=maybe', 'generate_audio'],
    ] as const) {
      const r = await get<QuoteJson>(`/v1/quote?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.json.error!.param, query).toBe(param);
    }
  });
});

describe('a bad model in the config file', () => {
  it('stops start-up with a message naming the model and the field', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vidgate-models-'));
    try {
      const file = path.join(dir, 'config.yaml');
      await writeFile(file, ['models:', '  - id: broken-model', '    sizes: [1280x720]', '    seconds: [5]', '    defaults: { seconds: 7 }', ''].join('\n'));
      const err = await spawnServer({ VIDGATE_DATA_DIR: dir, VIDGATE_CONFIG: file }).then(() => null, (e: Error) => e);
      expect(err?.message).toContain("model 'broken-model'");
      expect(err?.message).toContain('defaults.seconds');

      await writeFile(file, ['models:', '  - id: typo-model', '    sizes: [1280x720]', '    durations: [5]', '    negative_prompt: true', ''].join('\n'));
      const err2 = await spawnServer({ VIDGATE_DATA_DIR: dir, VIDGATE_CONFIG: file }).then(() => null, (e: Error) => e);
      expect(err2?.message).toContain("model 'typo-model'");
      expect(err2?.message).toContain('negative_prompt');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
