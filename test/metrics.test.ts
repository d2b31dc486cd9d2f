import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { getMetricsFromStream } from 'prom2javascript';
import type { PromHistogramData, PromData, PromMetrics } from 'prom2javascript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenAIVideosFake } from './fakes/index.js';
import { promptDirectives, startOpenAIVideosFake } from './fakes/index.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import { Receiver, until } from './helpers/receiver.js';
import { channel, createVideo, startWithChannels, waitAllTerminal } from './helpers/upstreams.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

async function scrape(url: string, token = METRICS_TOKEN): Promise<{ text: string; metrics: PromMetrics }> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  // NaN is a valid sample value (prom-client spells it Nan, e.g. event-loop lag before any
  // sample); this parser does not know it, so such lines are checked here and left out.
  const nan = text.split('\n').filter((l) => / Nan$/i.test(l));
  for (const l of nan) expect(l).toMatch(/^[a-z_:][a-z0-9_:]*(\{.*\})? Nan$/i);
  const parsed = text.split('\n').filter((l) => !/ Nan$/i.test(l)).join('\n');
  return { text, metrics: await getMetricsFromStream(Readable.from([parsed])) };
}

const matches = (labels: Record<string, string>, want: Record<string, string>) => Object.entries(want).every(([k, v]) => labels[k] === v);

/** A counter's or gauge's value summed over the series whose labels include `want`. */
function value(m: PromMetrics, name: string, want: Record<string, string> = {}): number {
  const data = (m[name]?.data ?? []) as PromData[];
  return data.filter((d) => matches(d.labels, want)).reduce((s, d) => s + d.value, 0);
}

/** A histogram's observation count summed over the matching series. */
function count(m: PromMetrics, name: string, want: Record<string, string> = {}): number {
  const data = (m[name]?.data ?? []) as PromHistogramData[];
  return data.filter((d) => matches(d.labels, want)).reduce((s, d) => s + d.count, 0);
}

/**
 * GET /metrics over HTTP with the metrics token: it parses as Prometheus text, and its counters
 * move as one scripted task life says (two creates on a channel, one completion, one failure,
 * one webhook delivery), with bounded labels only.
 */
describe('metrics', () => {
  let fake: OpenAIVideosFake;
  let gw: TestGateway;
  let receiver: Receiver;

  beforeAll(async () => {
    fake = await startOpenAIVideosFake({ script: promptDirectives({ queuedMs: 50, runMs: 300 }) });
    receiver = await Receiver.start();
    gw = await startWithChannels([channel('oa', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })], {
      adminToken: ADMIN_TOKEN,
      metrics: { token: METRICS_TOKEN, port: 0 },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
    await receiver?.stop();
  });

  it('counts a scripted task life: creates, a completion, a failure, a webhook, upstream calls, money', async () => {
    const auth = { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' };
    const hook = await fetch(`${gw.url}/v1/webhook_endpoints`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ url: `${receiver.url}/hook`, event_types: ['video.completed'] }),
    });
    expect(hook.status).toBe(200);
    const before = (await scrape(gw.url)).metrics;

    const ok = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'a fox in the snow', seconds: '4' });
    const bad = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'a failing job [[fake: outcome=fail]]', seconds: '4' });
    expect([ok.status, bad.status]).toEqual([200, 200]);
    const ids = [ok.json.id as string, bad.json.id as string];
    const final = await waitAllTerminal(gw, gw.key, ids);
    expect(final.get(ids[0]!)!.status).toBe('completed');
    expect(final.get(ids[1]!)!.status).toBe('failed');
    const failCode = final.get(ids[1]!)!.error!.code;
    await receiver.waitFor((r) => r.accepted.length >= 1, 30_000, 'the webhook');
    // A download (its bytes go out past Fastify's reply) and a request no route matched are timed too.
    const download = await fetch(`${gw.url}/v1/videos/${ids[0]}/content`, { headers: { authorization: `Bearer ${gw.key}` } });
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBeGreaterThan(0);
    expect((await fetch(`${gw.url}/no/such/route`)).status).toBe(404);

    // The delivery is recorded just after the receiver answers: wait for the counter.
    const { text, metrics: after } = await until(async () => {
      const s = await scrape(gw.url);
      return count(s.metrics, 'vidgate_webhook_attempt_duration_seconds', { outcome: 'delivered' }) > count(before, 'vidgate_webhook_attempt_duration_seconds', { outcome: 'delivered' }) ? s : undefined;
    }, 30_000, 'the delivery counted');
    const delta = (f: (m: PromMetrics) => number) => f(after) - f(before);
    const task = { model: 'sora-2', provider: 'openai-compatible', channel: 'oa' };

    expect(delta((m) => value(m, 'vidgate_tasks_created_total', task))).toBe(2);
    expect(delta((m) => value(m, 'vidgate_tasks_finished_total', { ...task, status: 'completed', error_code: 'none' }))).toBe(1);
    expect(delta((m) => value(m, 'vidgate_tasks_finished_total', { ...task, status: 'failed', error_code: failCode }))).toBe(1);
    expect(delta((m) => value(m, 'vidgate_tasks_finished_total', { status: 'cancelled' }))).toBe(0);
    expect(delta((m) => count(m, 'vidgate_task_duration_seconds', task))).toBe(2);
    expect(delta((m) => count(m, 'vidgate_http_request_duration_seconds', { method: 'POST', route: '/v1/videos', status: '200' }))).toBe(2);
    expect(delta((m) => count(m, 'vidgate_http_request_duration_seconds', { method: 'GET', route: '/v1/videos/:id', status: '200' }))).toBeGreaterThan(0);
    expect(delta((m) => count(m, 'vidgate_http_request_duration_seconds', { method: 'GET', route: '/v1/videos/:id/content', status: '200' }))).toBe(1);
    expect(delta((m) => count(m, 'vidgate_http_request_duration_seconds', { method: 'GET', route: 'unmatched', status: '404' }))).toBe(1);
    expect(delta((m) => count(m, 'vidgate_upstream_request_duration_seconds', { channel: 'oa', provider: 'openai-compatible', purpose: 'submit', outcome: 'ok' }))).toBe(2);
    expect(delta((m) => count(m, 'vidgate_upstream_request_duration_seconds', { channel: 'oa', purpose: 'status', outcome: 'ok' }))).toBeGreaterThanOrEqual(2);
    expect(delta((m) => count(m, 'vidgate_upstream_request_duration_seconds', { channel: 'oa', purpose: 'download', outcome: 'ok' }))).toBe(1);
    // Status calls: one observation per finished task, as many calls as the fake saw.
    expect(delta((m) => count(m, 'vidgate_task_status_calls', { channel: 'oa' }))).toBe(2);
    const calls = (after.vidgate_task_status_calls!.data as PromHistogramData[]).find((d) => d.labels.channel === 'oa')!;
    expect(calls.sum).toBe(fake.stats().statusCalls);
    expect(delta((m) => count(m, 'vidgate_task_completion_delay_seconds', { channel: 'oa' }))).toBe(1);
    expect(delta((m) => count(m, 'vidgate_worker_step_duration_seconds', { stage: 'fetch', provider: 'openai-compatible' }))).toBeGreaterThanOrEqual(1);
    expect(delta((m) => count(m, 'vidgate_webhook_attempt_duration_seconds', { target: 'endpoint', outcome: 'delivered' }))).toBe(1);
    expect(delta((m) => count(m, 'vidgate_webhook_delivery_lag_seconds'))).toBe(1);

    // Money: both held; the completed one charged for what was delivered (never more than its
    // hold), the rest of its hold and all of the failed one's released.
    const held = delta((m) => value(m, 'vidgate_money_usd_total', { kind: 'hold', model: 'sora-2' }));
    const settled = delta((m) => value(m, 'vidgate_money_usd_total', { kind: 'settle', model: 'sora-2' }));
    const released = delta((m) => value(m, 'vidgate_money_usd_total', { kind: 'release', model: 'sora-2' }));
    expect(held).toBeGreaterThan(0);
    expect(settled).toBeGreaterThan(0);
    expect(settled).toBeLessThanOrEqual(held / 2 + 1e-9);
    expect(settled + released).toBeCloseTo(held, 6);

    // Cluster gauges read from the database, per-process gauges from this process.
    expect(value(after, 'vidgate_tasks_unfinished')).toBe(0);
    expect(value(after, 'vidgate_money_held_usd')).toBe(0);
    expect(value(after, 'vidgate_webhook_deliveries_pending')).toBe(0);
    expect(value(after, 'vidgate_channel_breaker_state', { channel: 'oa', provider: 'openai-compatible', state: 'closed' })).toBe(1);
    expect(value(after, 'vidgate_channel_breaker_state', { channel: 'oa', state: 'open' })).toBe(0);
    expect(after.vidgate_sse_clients?.type).toBe('gauge');
    expect(after.process_cpu_user_seconds_total?.type).toBe('counter');

    // Bounded labels: no task ids, prompts, keys or raw URLs anywhere.
    for (const secret of [...ids, 'a fox in the snow', gw.key, receiver.url, fake.baseURL]) expect(text).not.toContain(secret);
    for (const d of after.vidgate_http_request_duration_seconds!.data as PromHistogramData[]) expect(d.labels.route).not.toMatch(/video_|task_/);
  });

  it('shows unfinished tasks by stage with the age of the oldest', async () => {
    const stuck = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'a slow one [[fake: queuedMs=60000]]', seconds: '4' });
    expect(stuck.status).toBe(200);
    const m = await until(async () => {
      const s = (await scrape(gw.url)).metrics;
      return value(s, 'vidgate_tasks_unfinished', { stage: 'wait' }) === 1 ? s : undefined;
    }, 30_000, 'the task waiting upstream');
    expect(value(m, 'vidgate_tasks_unfinished', { stage: 'submit' })).toBe(0);
    expect(value(m, 'vidgate_tasks_unfinished_oldest_age_seconds', { stage: 'wait' })).toBeGreaterThanOrEqual(0);
    expect(value(m, 'vidgate_money_held_usd')).toBeGreaterThan(0);
    await fetch(`${gw.url}/v1/videos/${stuck.json.id as string}`, { method: 'DELETE', headers: { authorization: `Bearer ${gw.key}` } });
    await until(async () => {
      const s = (await scrape(gw.url)).metrics;
      // The cluster gauges are read from the database at most every 2 s.
      return value(s, 'vidgate_tasks_finished_total', { status: 'cancelled', error_code: 'cancelled' }) === 1 && value(s, 'vidgate_tasks_unfinished') === 0;
    }, 10_000, 'the cancellation counted');
  });

  it('refuses API keys, the admin token and no token; the metrics port serves the same numbers', async () => {
    for (const token of [gw.key, ADMIN_TOKEN, 'not-the-token-0123456789']) {
      const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    }
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(401);

    const address = gw.app.metricsServer!.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const portUrl = `http://127.0.0.1:${port}`;
    expect((await fetch(`${portUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${portUrl}/metrics`, { headers: { authorization: `Bearer ${gw.key}` } })).status).toBe(401);
    expect((await fetch(`${portUrl}/v1/models`)).status).toBe(404);
    const { metrics } = await scrape(portUrl);
    expect(value(metrics, 'vidgate_tasks_created_total', { channel: 'oa' })).toBeGreaterThanOrEqual(2);
  });
});

describe('metrics switched on by a port alone', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ metrics: { port: 0 } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('serves the metrics port without a token, and not the API port', async () => {
    const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${gw.key}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('metrics_disabled');
    const address = gw.app.metricsServer!.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const { metrics } = await scrape(`http://127.0.0.1:${port}`, 'unused');
    expect(metrics.vidgate_tasks_created_total?.type).toBe('counter');
    // docs/operations.md lists every metric of vidgate's own.
    const doc = readFileSync(path.resolve(import.meta.dirname, '../docs/operations.md'), 'utf8');
    const ours = gw.app.telemetry.metrics!.registry.getMetricsAsArray().map((m) => m.name).filter((n) => n.startsWith('vidgate_'));
    expect(ours.length).toBeGreaterThan(15);
    expect(ours.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it('is off (and /metrics says so) without a token or a port', async () => {
    const off = await startGateway();
    try {
      const res = await fetch(`${off.url}/metrics`);
      expect(res.status).toBe(403);
      expect(off.app.telemetry.metrics).toBeUndefined();
      expect(off.app.metricsServer).toBeUndefined();
    } finally {
      await off.close();
    }
  });
});
