/**
 * Every model of the catalogue, every advertised combination: GET /v1/models (what is listed),
 * GET /v1/model-schema (the JSON Schema of each dialect's body, checked with ajv) and the
 * dialects' validation agree — each advertised combination is accepted by both, and a sample of
 * unadvertised ones is refused by both, naming the field. Validation is called directly (rendering
 * every combination would take hours here); a sample goes through HTTP.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../src/core/catalog.js';
import { ApiError } from '../../src/core/errors.js';
import { parseGeneration } from '../../src/dialects/apimart/validate.js';
import { parseCreateFields } from '../../src/dialects/openai/validate.js';
import type { RequestBody } from '../../src/http/body.js';
import { RESOLUTIONS } from '../../src/core/video-request.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startGateway } from '../helpers/gateway.js';
import { TEST_MODELS } from '../helpers/video-models.js';

interface Listed {
  id: string;
  aliases: string[];
  supported_aspect_ratios: string[];
  supported_resolutions: string[];
  supported_sizes: string[];
  sizes_by_resolution: Record<string, Record<string, string>>;
  supported_durations: number[];
  supported_frame_images: string[];
  audio: { mode: 'none' | 'always' | 'optional'; default?: boolean };
  seed_range: { min: number; max: number } | null;
  negative_prompt: boolean;
  references: { images: number; exclusive_with_frames: boolean };
  modes: string[];
  allowed_passthrough_parameters: string[];
  defaults: { aspect_ratio: string; resolution: string; duration: number };
}

interface Schemas {
  openai: ValidateFunction;
  apimart: ValidateFunction;
}

let gw: TestGateway;
let catalog: Catalog;
let models: Listed[];
const schemas = new Map<string, Schemas>();
const ajv = new Ajv2020({ allErrors: true, strict: false });
const URL_A = 'https://images.example/a.png';
const URL_B = 'https://images.example/b.png';

beforeAll(async () => {
  gw = await startGateway({ models: TEST_MODELS, worker: { enabled: false } });
  catalog = gw.app.gateway.catalog;
  const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${gw.key}` } });
  models = ((await res.json()) as { data: Listed[] }).data;
  for (const m of models) {
    const doc = (await (await fetch(`${gw.url}/v1/model-schema?model=${encodeURIComponent(m.id)}&operation=video_generation`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as {
      operation: string;
      input_schema: Record<string, unknown>;
      dialects: { openai: { input_schema: Record<string, unknown> }; apimart: { input_schema: Record<string, unknown> } };
    };
    expect(doc.operation).toBe('video_generation');
    expect(doc.input_schema).toEqual(doc.dialects.apimart.input_schema);
    expect(doc.input_schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    schemas.set(m.id, { openai: ajv.compile(doc.dialects.openai.input_schema), apimart: ajv.compile(doc.dialects.apimart.input_schema) });
  }
});
afterAll(async () => gw?.close());

const jsonBody = (fields: Record<string, unknown>): RequestBody => ({ fields, files: new Map(), fileLists: new Map(), multipart: false });

/** The dialect's verdict: the canonical fields, or the param its 400 names. */
function openaiVerdict(body: Record<string, unknown>) {
  try {
    return { ok: true as const, fields: parseCreateFields(jsonBody(body), catalog, 'sora-2') };
  } catch (err) {
    if (err instanceof ApiError && err.status === 400) return { ok: false as const, param: err.param };
    throw err;
  }
}
function apimartVerdict(body: Record<string, unknown>) {
  try {
    return { ok: true as const, fields: parseGeneration(body, catalog) };
  } catch (err) {
    if (err instanceof ApiError && err.status === 400) return { ok: false as const, param: err.param };
    throw err;
  }
}

/** Every advertised combination of a listed model: pairs × durations × audio × modes, plus its frames and references. */
function advertised(m: Listed) {
  const out: { ratio: string; resolution: string; size?: string; duration: number; audio?: boolean; mode?: string }[] = [];
  const audios = m.audio.mode === 'optional' ? [true, false] : m.audio.mode === 'always' ? [true, undefined] : [false, undefined];
  const modes = m.modes.length ? m.modes : [undefined];
  for (const [resolution, pairs] of Object.entries(m.sizes_by_resolution)) {
    const ratios: [string, string | undefined][] = Object.entries(pairs);
    if (m.supported_aspect_ratios.includes('adaptive')) ratios.push(['adaptive', undefined]);
    for (const [ratio, size] of ratios) {
      for (const duration of m.supported_durations) {
        for (const audio of audios) for (const mode of modes) out.push({ ratio, resolution, ...(size ? { size } : {}), duration, ...(audio !== undefined ? { audio } : {}), ...(mode ? { mode } : {}) });
      }
    }
  }
  return out;
}

describe('the catalogue’s models, every advertised combination', () => {
  it('lists every model of the catalogue (built in and configured)', () => {
    expect(models.map((m) => m.id).sort()).toEqual(catalog.list().map((m) => m.id).sort());
    expect(models.length).toBeGreaterThanOrEqual(11);
  });

  it('each is accepted by both dialects’ validation and schemas, with the listed size', () => {
    let checked = 0;
    for (const m of models) {
      const s = schemas.get(m.id)!;
      for (const c of advertised(m)) {
        const label = `${m.id} ${JSON.stringify(c)}`;
        const extra = { ...(c.audio !== undefined ? { generate_audio: c.audio } : {}), ...(c.mode ? { mode: c.mode } : {}) };
        const o = { model: m.id, prompt: 'matrix', aspect_ratio: c.ratio, resolution: c.resolution, duration: c.duration, ...extra };
        const ov = openaiVerdict(o);
        expect(ov, label).toMatchObject({ ok: true });
        expect(s.openai(o), `${label} openai schema ${ajv.errorsText(s.openai.errors)}`).toBe(true);
        if (ov.ok && c.size) expect(`${ov.fields.size.width}x${ov.fields.size.height}`, label).toBe(c.size);
        if (c.size) {
          const bySize = { model: m.id, prompt: 'matrix', size: c.size, seconds: String(c.duration), ...extra };
          const sv = openaiVerdict(bySize);
          expect(sv, `${label} by size`).toMatchObject({ ok: true });
          if (sv.ok) expect(sv.fields.aspectRatio, label).toBe(c.ratio);
          expect(s.openai(bySize), `${label} by size: ${ajv.errorsText(s.openai.errors)}`).toBe(true);
        }
        const a = { model: m.id, prompt: 'matrix', aspect_ratio: c.ratio, resolution: c.resolution, duration: c.duration, ...extra };
        const av = apimartVerdict(a);
        expect(av, `${label} apimart`).toMatchObject({ ok: true });
        if (av.ok && c.size) expect(`${av.fields.size.width}x${av.fields.size.height}`, `${label} apimart`).toBe(c.size);
        expect(s.apimart(a), `${label} apimart schema ${ajv.errorsText(s.apimart.errors)}`).toBe(true);
        checked++;
      }
      // Frames, references, negative prompt, seed, options: what the listing says the model takes.
      const full: Record<string, unknown> = { model: m.id, prompt: 'matrix' };
      if (m.supported_frame_images.includes('first_frame')) full.input_reference = URL_A;
      if (m.supported_frame_images.includes('last_frame')) full.last_frame = URL_B;
      if (m.negative_prompt) full.negative_prompt = 'blur';
      if (m.seed_range) full.seed = m.seed_range.max;
      if (m.allowed_passthrough_parameters.length) full.metadata = { [m.allowed_passthrough_parameters[0]!]: true };
      expect(openaiVerdict(full), `${m.id} full`).toMatchObject({ ok: true });
      expect(s.openai(full), `${m.id} full: ${ajv.errorsText(s.openai.errors)}`).toBe(true);
      if (m.references.images > 0) {
        const refs = { model: m.id, prompt: 'matrix', reference_images: Array(m.references.images).fill(URL_A) };
        expect(openaiVerdict(refs), `${m.id} refs`).toMatchObject({ ok: true });
        expect(s.openai(refs), `${m.id} refs`).toBe(true);
      }
      const afull: Record<string, unknown> = { model: m.id, prompt: 'matrix' };
      if (m.supported_frame_images.includes('first_frame')) afull.first_frame_image = URL_A;
      if (m.supported_frame_images.includes('last_frame')) afull.last_frame_image = URL_B;
      if (m.negative_prompt) afull.negative_prompt = 'blur';
      if (m.seed_range) afull.seed = m.seed_range.min;
      for (const k of m.allowed_passthrough_parameters) afull[k] = 1;
      expect(apimartVerdict(afull), `${m.id} apimart full`).toMatchObject({ ok: true });
      expect(s.apimart(afull), `${m.id} apimart full: ${ajv.errorsText(s.apimart.errors)}`).toBe(true);
    }
    expect(checked).toBeGreaterThan(200);
  });
});

describe('a sample of unadvertised combinations is refused by validation and schema alike, naming the field', () => {
  /** [dialect body, the param the 400 names]. */
  function unadvertised(m: Listed): { openai: Record<string, unknown>; apimart: Record<string, unknown>; param: string; apimartParam?: string }[] {
    const base = { model: m.id, prompt: 'matrix' };
    const out: ReturnType<typeof unadvertised> = [];
    const same = (fields: Record<string, unknown>, param: string, apimartParam = param) => out.push({ openai: { ...base, ...fields }, apimart: { ...base, ...fields }, param, apimartParam });
    for (const r of RESOLUTIONS.filter((r) => !m.supported_resolutions.includes(r))) {
      if (r === 'standard' || r === 'high') continue; // apimart spellings of Sora's tiers: covered below for Sora
      same({ resolution: r }, 'resolution');
    }
    for (const ratio of ['16:9', '9:16', '1:1', '4:3', '3:4', '21:9', '9:21', 'adaptive'].filter((x) => !m.supported_aspect_ratios.includes(x))) same({ aspect_ratio: ratio }, 'aspect_ratio');
    // A ratio the model has, at a resolution that lacks it.
    for (const [res, pairs] of Object.entries(m.sizes_by_resolution)) {
      const missing = m.supported_aspect_ratios.filter((x) => x !== 'adaptive' && !(x in pairs));
      if (missing[0]) same({ resolution: res, aspect_ratio: missing[0] }, 'aspect_ratio');
    }
    const maxD = Math.max(...m.supported_durations);
    out.push({ openai: { ...base, duration: maxD + 1 }, apimart: { ...base, duration: maxD + 1 }, param: 'duration' });
    out.push({ openai: { ...base, seconds: String(maxD + 1) }, apimart: { ...base, duration: 0 }, param: 'seconds', apimartParam: 'duration' });
    if (m.audio.mode === 'none') same({ generate_audio: true }, 'generate_audio');
    if (m.audio.mode === 'always') same({ generate_audio: false }, 'generate_audio');
    if (!m.negative_prompt) same({ negative_prompt: 'blur' }, 'negative_prompt');
    if (!m.seed_range) same({ seed: 1 }, 'seed');
    else same({ seed: m.seed_range.max + 1 }, 'seed');
    if (!m.modes.length) same({ mode: 'pro' }, 'mode');
    else same({ mode: 'ultra' }, 'mode');
    const first = m.supported_frame_images.includes('first_frame');
    if (!first) out.push({ openai: { ...base, input_reference: URL_A }, apimart: { ...base, first_frame_image: URL_A }, param: 'input_reference', apimartParam: 'first_frame_image' });
    if (!m.supported_frame_images.includes('last_frame')) {
      const withFirst = (f: Record<string, unknown>) => (first ? f : {});
      out.push({
        openai: { ...base, ...withFirst({ input_reference: URL_A }), last_frame: URL_B },
        apimart: { ...base, ...withFirst({ first_frame_image: URL_A }), last_frame_image: URL_B },
        param: 'last_frame',
        apimartParam: 'last_frame_image',
      });
    }
    if (m.references.images === 0) out.push({ openai: { ...base, reference_images: [URL_A] }, apimart: { ...base, reference_images: [URL_A] }, param: 'reference_images' });
    else {
      // On a references-only model, apimart's references are image_urls.
      const apimartRefs = m.supported_frame_images.length ? { reference_images: Array(m.references.images + 1).fill(URL_A) } : { image_urls: Array(m.references.images + 1).fill(URL_A) };
      out.push({ openai: { ...base, reference_images: Array(m.references.images + 1).fill(URL_A) }, apimart: { ...base, ...apimartRefs }, param: 'reference_images', apimartParam: Object.keys(apimartRefs)[0] });
    }
    out.push({ openai: { ...base, metadata: { not_an_option: 1 } }, apimart: base, param: 'metadata.not_an_option', apimartParam: '' });
    return out;
  }

  it('each is a 400 naming the field in both dialects, and invalid under both schemas', () => {
    let checked = 0;
    for (const m of models) {
      const s = schemas.get(m.id)!;
      for (const u of unadvertised(m)) {
        const label = `${m.id} ${JSON.stringify(u.openai)}`;
        expect(openaiVerdict(u.openai), label).toEqual({ ok: false, param: u.param });
        expect(s.openai(u.openai), `${label} openai schema`).toBe(false);
        if (u.apimartParam === '') continue; // apimart options are flat: an unknown key is not an option at all
        const aParam = u.apimartParam ?? u.param;
        const av = apimartVerdict(u.apimart);
        expect(av, `${label} apimart`).toEqual({ ok: false, param: aParam });
        expect(s.apimart(u.apimart), `${label} apimart schema`).toBe(false);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('Sora keeps its vocabulary: no square, standard/high on apimart, high only on the pro models', () => {
    for (const id of ['sora-2', 'sora-2-preview']) {
      expect(openaiVerdict({ model: id, prompt: 'x', aspect_ratio: '1:1' })).toEqual({ ok: false, param: 'aspect_ratio' });
      expect(apimartVerdict({ model: id, prompt: 'x', aspect_ratio: 'square' })).toEqual({ ok: false, param: 'aspect_ratio' });
      expect(schemas.get(id)!.apimart({ model: id, prompt: 'x', aspect_ratio: 'square' })).toBe(false);
      expect(apimartVerdict({ model: id, prompt: 'x', resolution: 'high' })).toEqual({ ok: false, param: 'resolution' });
      expect(schemas.get(id)!.apimart({ model: id, prompt: 'x', resolution: 'high' })).toBe(false);
      expect(apimartVerdict({ model: id, prompt: 'x', resolution: 'standard', aspect_ratio: 'portrait' })).toMatchObject({ ok: true });
      expect(schemas.get(id)!.apimart({ model: id, prompt: 'x', resolution: 'standard', aspect_ratio: 'portrait' })).toBe(true);
    }
    expect(apimartVerdict({ model: 'sora-2-pro-preview', prompt: 'x', resolution: 'high' })).toMatchObject({ ok: true });
    expect(schemas.get('sora-2-pro-preview')!.apimart({ model: 'sora-2-pro-preview', prompt: 'x', resolution: 'HIGH', aspect_ratio: 'landscape' })).toBe(true);
  });
});

describe('over HTTP, the routes give the same verdicts', () => {
  it('one advertised and one unadvertised request per model in each dialect', async () => {
    const post = async (path: string, body: Record<string, unknown>) => {
      const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { size?: string; error?: { param: string } } };
    };
    for (const m of models) {
      const [res, pairs] = Object.entries(m.sizes_by_resolution).at(-1)!;
      const [ratio, size] = Object.entries(pairs).at(-1)!;
      const duration = m.supported_durations.at(-1)!;
      const ok = await post('/v1/videos', { model: m.id, prompt: 'http', aspect_ratio: ratio, resolution: res, duration });
      expect([ok.status, ok.body.size], m.id).toEqual([200, size]);
      const okA = await post('/v1/videos/generations', { model: m.id, prompt: 'http', aspect_ratio: ratio, resolution: res.toUpperCase(), duration });
      expect(okA.status, `${m.id} apimart`).toBe(200);
      const bad = await post('/v1/videos', { model: m.id, prompt: 'http', duration: duration + 1 });
      expect([bad.status, bad.body.error?.param], m.id).toEqual([400, 'duration']);
      const badA = await post('/v1/videos/generations', { model: m.id, prompt: 'http', resolution: '4k' });
      if (!m.supported_resolutions.includes('4k')) expect([badA.status, badA.body.error?.param], `${m.id} apimart`).toEqual([400, 'resolution']);
    }
  });

  it('GET /v1/model-schema: unknown model 404, missing model 400, other operations 400 (apimart envelope)', async () => {
    const get = async (q: string) => {
      const res = await fetch(`${gw.url}/v1/model-schema${q}`, { headers: { authorization: `Bearer ${gw.key}` } });
      return { status: res.status, body: (await res.json()) as { code: number; error: { param: string } } };
    };
    expect((await get('?model=nope')).status).toBe(404);
    expect(await get('')).toMatchObject({ status: 400, body: { code: 400, error: { param: 'model' } } });
    expect((await get('?model=sora-2&operation=image_generation')).body.error.param).toBe('operation');
    expect((await get('?model=test-veo-fast')).status).toBe(200);
  });
});
