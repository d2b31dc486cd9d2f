import { Validator } from '@seriousme/openapi-schema-validator';
import type { Browser } from 'playwright-core';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, skipWithoutBrowser } from './helpers/browser.js';
import { Contract } from './helpers/contract.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';

type Json = Record<string, unknown>;

let gw: TestGateway;
let doc: Json;

beforeAll(async () => {
  gw = await startGateway({ adminToken: 'admin-token-for-openapi-tests' });
  const res = await fetch(`${gw.url}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Json;
});
afterAll(async () => gw?.close());

const ops = () =>
  Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every route in the route table, each declared with its schemas', () => {
    const routes = gw.app.routes.list().filter((r) => r.method !== 'HEAD');
    expect(routes.length).toBeGreaterThan(60);
    for (const r of routes) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}');
      const op = (doc.paths as Record<string, Record<string, Json>>)[path]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${r.url}`).toBeDefined();
    }
    // Only the console's static assets (served by @fastify/static) are not declared with route().
    expect(routes.filter((r) => !r.spec).map((r) => r.url)).toEqual(['/console/assets/*']);
  });

  it('has both dialects, their error envelopes, the auth schemes and the seeds\' examples', () => {
    const paths = doc.paths as Record<string, Record<string, Json>>;
    const create = paths['/v1/videos']!.post!;
    const content = (create.requestBody as Json).content as Record<string, Json>;
    expect(Object.keys(content).sort()).toEqual(['application/json', 'multipart/form-data']);
    // In multipart, input_reference may be a file part.
    const multipart = content['multipart/form-data']!.schema as { properties: Record<string, { anyOf?: Json[] }> };
    expect(multipart.properties.input_reference!.anyOf![0]).toMatchObject({ type: 'string', format: 'binary' });
    const examples = content['application/json']!.examples as Record<string, { value: Json }>;
    expect(Object.values(examples).some((e) => e.value.prompt === '一只可爱的小猫在花园里玩耍')).toBe(true);
    const generations = paths['/v1/videos/generations']!.post!;
    const gExamples = ((generations.requestBody as Json).content as Record<string, Json>)['application/json']!.examples as Record<string, { value: Json }>;
    expect(Object.values(gExamples).some((e) => String(e.value.prompt).startsWith('A majestic waterfall'))).toBe(true);
    const err = (op: Json) => (((op.responses as Record<string, Json>)['4XX']!.content as Record<string, Json>)['application/json']!.schema as Json).$ref;
    expect(err(create)).toBe('#/components/schemas/OpenAIError');
    expect(err(generations)).toBe('#/components/schemas/ApimartError');
    expect(err(paths['/admin/v1/keys']!.get!)).toBe('#/components/schemas/OpenAIError');
    const components = doc.components as Json;
    expect(Object.keys(components.securitySchemes as Json).sort()).toEqual(['adminToken', 'apiKey', 'metricsToken', 'streamToken']);
    expect(create.security).toEqual([{ apiKey: [] }]);
    expect(paths['/admin/v1/keys']!.get!.security).toEqual([{ adminToken: [] }]);
    expect(paths['/v1/events']!.get!.security).toEqual([{ apiKey: [] }, { streamToken: [] }]);
    for (const name of ['Video', 'ApimartTask', 'OpenAICreateVideo', 'ApimartCreateGeneration', 'OpenAIError', 'ApimartError']) {
      expect(components.schemas as Json).toHaveProperty(name);
    }
    // Query parameters come from the same schemas that read them.
    const list = (paths['/v1/videos']!.get!.parameters as Json[]).map((p) => p.name);
    expect(list).toEqual(['limit', 'order', 'after']);
    expect(ops().every(({ op }) => typeof op.operationId === 'string')).toBe(true);
    expect(new Set(ops().map(({ op }) => op.operationId)).size).toBe(ops().length);
  });

  it('is served as YAML too, the same document', async () => {
    const res = await fetch(`${gw.url}/openapi.yaml`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/yaml/);
    expect(YAML.parse(await res.text())).toEqual(doc);
  });

  it('catches an answer that contradicts it', () => {
    const contract = new Contract(doc);
    const url = new URL(`${gw.url}/v1/videos/video_01K9Z3V3D4RZ6M0Y9B7C2X5N8Q`);
    expect(contract.verify({ method: 'GET', url, status: 200, contentType: 'application/json', responseJson: { id: 'video_x', object: 'video' } })).toHaveLength(1);
    expect(contract.verify({ method: 'GET', url, status: 404, contentType: 'application/json', responseJson: { error: { message: 'm', type: 't', param: null, code: null } } })).toEqual([]);
    expect(contract.verify({ method: 'GET', url, status: 404, contentType: 'application/json', responseJson: { message: 'Not Found' } })).toHaveLength(1);
    const list = new URL(`${gw.url}/v1/videos?order=sideways`);
    expect(contract.verify({ method: 'GET', url: list, status: 200, contentType: 'application/json', responseJson: { object: 'list', data: [], first_id: null, last_id: null, has_more: false } })).toHaveLength(1);
  });
});

describe.skipIf(skipWithoutBrowser('test/openapi.test.ts'))('/docs', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => browser?.close());

  it('loads offline in headless Chromium, shows the create operation and filters by search', async () => {
    const context = await browser.newContext();
    const outside: string[] = [];
    // Nothing but the gateway itself: any other request is refused (and recorded).
    await context.route('**/*', (r) => {
      if (r.request().url().startsWith(gw.url)) return r.continue();
      outside.push(r.request().url());
      return r.abort();
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`${gw.url}/docs`);
    expect(res?.status()).toBe(200);
    const create = page.locator('section.operation', { hasText: 'Create a video' }).first();
    await expect.poll(() => create.isVisible()).toBe(true);
    expect(await create.textContent()).toContain('/v1/videos');
    expect(await create.textContent()).toContain('prompt');
    await page.fill('#q', 'generations');
    await expect.poll(() => create.isVisible()).toBe(false);
    await expect.poll(() => page.locator('section.operation', { hasText: 'Submit a video generation task' }).isVisible()).toBe(true);
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
