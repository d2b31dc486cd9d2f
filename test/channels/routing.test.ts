import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OpenAIVideosFake } from '../fakes/index.js';
import { fault, startOpenAIVideosFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/process.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

const admin = 'admin-token-for-routing-tests';
const health = async (gw: TestGateway, id: string) =>
  (await (await fetch(`${gw.url}/admin/v1/channels/${id}/health`, { headers: { authorization: `Bearer ${admin}` } })).json()) as {
    breaker: { state: string; consecutive_failures: number };
    counters: { submits: number };
  };
const providerOf = async (gw: TestGateway, publicId: string) => (await gw.app.gateway.service.store.get(publicId.slice('video_'.length)))!.provider;

describe('routing and failover', () => {
  let a: OpenAIVideosFake;
  let b: OpenAIVideosFake;
  let gw: TestGateway;
  const gws: TestGateway[] = [];

  beforeAll(async () => {
    const script = { queuedMs: 50, runMs: 300 };
    [a, b] = await Promise.all([startOpenAIVideosFake({ script }), startOpenAIVideosFake({ script })]);
    gw = await startWithChannels(
      [
        channel('primary', 'openai-compatible', a.baseURL, { priority: 10, models: ['sora-2'] }),
        channel('backup', 'openai-compatible', b.baseURL, { priority: 0, models: ['sora-2'] }),
      ],
      { adminToken: admin },
    );
  });

  afterEach(() => {
    a.faults.clear();
    b.faults.clear();
  });

  afterAll(async () => {
    for (const g of [gw, ...gws]) await g?.close();
    await Promise.all([a, b].map((f) => f?.close()));
  });

  it('fails over when the submit certainly did not reach the provider: 429, 5xx, connection refused', async () => {
    const ids: string[] = [];
    a.faults.next('submit', 1, fault.error(429, { retryAfter: 1 }));
    ids.push((await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'throttled primary' })).json.id as string);
    await waitAllTerminal(gw, gw.key, ids, 20_000);
    a.faults.next('submit', 1, fault.error(503));
    ids.push((await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'overloaded primary' })).json.id as string);
    await waitAllTerminal(gw, gw.key, ids, 20_000);
    await a.down();
    ids.push((await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'primary is down' })).json.id as string);
    const final = await waitAllTerminal(gw, gw.key, ids, 20_000);
    await a.up();
    for (const id of ids) {
      expect(final.get(id)!.status, JSON.stringify(final.get(id)!.error)).toBe('completed');
      expect(await providerOf(gw, id)).toBe('backup');
    }
    expect(a.submissionCount).toBe(0);
    expect(b.submissionCount).toBe(3);
    await assertBillingConsistent(gw.dataDir);
  });

  it('never re-sends a submit whose outcome is unknown on a protocol without idempotency: the job is looked up and adopted', async () => {
    a.faults.next('submit', 1, fault.reset({ after: true }));
    const before = { a: a.submissionCount, b: b.submissionCount };
    const id = (await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'reset after the job was created' })).json.id as string;
    const v = (await waitAllTerminal(gw, gw.key, [id], 20_000)).get(id)!;
    expect(v.status, JSON.stringify(v.error)).toBe('completed');
    expect(await providerOf(gw, id)).toBe('primary');
    expect(a.submissionCount - before.a).toBe(1);
    expect(b.submissionCount - before.b).toBe(0);
    await assertBillingConsistent(gw.dataDir);
  });

  it('takes a failing channel out of rotation, then probes it back in', async () => {
    const [x, y] = await Promise.all([startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 200 } }), startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 200 } })]);
    const g = await startWithChannels(
      [
        channel('primary', 'openai-compatible', x.baseURL, { priority: 10, models: ['sora-2'] }),
        channel('backup', 'openai-compatible', y.baseURL, { priority: 0, models: ['sora-2'] }),
      ],
      { adminToken: admin, upstream: { breaker: { failures: 3, cooldownMs: 4_000, maxCooldownMs: 8_000 } } },
    );
    gws.push(g);
    try {
      x.faults.add({ route: 'submit', action: fault.error(500) });
      x.faults.add({ route: 'list', action: fault.error(500) });
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        ids.push((await createVideo(g, g.key, { model: 'sora-2', prompt: `breaker ${i}` })).json.id as string);
        await y.waitForSubmissions(i + 1);
      }
      // Three failures opened the breaker: the later tasks went straight to the backup.
      expect(x.requestsFor('submit').length).toBe(3);
      expect((await health(g, 'primary')).breaker.state).not.toBe('closed');
      const final = await waitAllTerminal(g, g.key, ids, 30_000);
      expect([...final.values()].every((v) => v.status === 'completed')).toBe(true);
      // Healthy again: the active probe (GET /videos) closes the breaker without any traffic.
      x.faults.clear();
      const deadline = Date.now() + 20_000;
      while ((await health(g, 'primary')).breaker.state !== 'closed') {
        if (Date.now() > deadline) throw new Error('primary was not probed back in');
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(x.requestsFor('list').length).toBeGreaterThan(0);
      expect(x.requestsFor('submit').length).toBe(3);
      const back = (await createVideo(g, g.key, { model: 'sora-2', prompt: 'back in rotation' })).json.id as string;
      await waitAllTerminal(g, g.key, [back], 20_000);
      expect(await providerOf(g, back)).toBe('primary');
    } finally {
      await Promise.all([x.close(), y.close()]);
    }
  });

  it('keeps at most max_jobs unfinished jobs on a channel; the others wait without failing', async () => {
    const limited = await startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 400 }, maxConcurrentJobs: 1 });
    const g = await startWithChannels([channel('azure-like', 'openai-compatible', limited.baseURL, { models: ['sora-2'], max_jobs: 1 })]);
    gws.push(g);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await createVideo(g, g.key, { model: 'sora-2', prompt: `one at a time ${i}` })).json.id as string);
      const final = await waitAllTerminal(g, g.key, ids, 30_000);
      expect([...final.values()].map((v) => v.status)).toEqual(['completed', 'completed', 'completed']);
      // The fake answers 429 when a second job is started while one runs: it never had to.
      expect(limited.requestsFor('submit').length).toBe(3);
      expect(limited.submissionCount).toBe(3);
    } finally {
      await limited.close();
    }
  });

  it('keeps requests to a channel under its concurrency cap', async () => {
    const slow = await startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 600 }, latencyMs: 120 });
    const g = await startWithChannels([channel('narrow', 'openai-compatible', slow.baseURL, { models: ['sora-2'], concurrency: 1 })]);
    gws.push(g);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await createVideo(g, g.key, { model: 'sora-2', prompt: `narrow ${i}` })).json.id as string);
      const final = await waitAllTerminal(g, g.key, ids, 30_000);
      expect([...final.values()].every((v) => v.status === 'completed')).toBe(true);
      // API calls (submits and status checks) never overlapped.
      const spans = slow.requests.filter((r) => r.route === 'submit' || r.route === 'status').map((r) => [r.at, r.response!.endedAt] as const);
      spans.sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1] - 5);
    } finally {
      await slow.close();
    }
  });

  it('prices per channel: a channel price for the model, else the list price times the markup', async () => {
    const g = await startWithChannels(
      [
        channel('marked-up', 'openai-compatible', a.baseURL, { models: ['sora-2'], markup: 1.5 }),
        channel('fixed', 'openai-compatible', b.baseURL, { models: [{ model: 'sora-2-pro', usd_per_second: { '720p': 0.25 } }], markup: 3 }),
      ],
      {},
    );
    gws.push(g);
    const x = (await createVideo(g, g.key, { model: 'sora-2', prompt: 'marked up', seconds: '4' })).json.id as string;
    const y = (await createVideo(g, g.key, { model: 'sora-2-pro', prompt: 'fixed price', seconds: '4' })).json.id as string;
    const tx = (await g.app.gateway.service.store.get(x.slice(6)))!;
    const ty = (await g.app.gateway.service.store.get(y.slice(6)))!;
    expect(tx.priceMicros).toBe(150_000);
    expect(ty.priceMicros).toBe(250_000);
    await waitAllTerminal(g, g.key, [x, y], 20_000);
    await assertBillingConsistent(g.dataDir);
  });

  it('fails a task past its deadline and releases its hold', async () => {
    const slow = await startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 3_600_000 } });
    let offset = 0;
    const g = await startWithChannels([channel('slow', 'openai-compatible', slow.baseURL, { models: ['sora-2'], deadline_minutes: 2 })], {}, { now: () => Date.now() + offset });
    gws.push(g);
    try {
      const id = (await createVideo(g, g.key, { model: 'sora-2', prompt: 'takes forever' })).json.id as string;
      await slow.waitFor((f) => f.jobList()[0]?.statusCalls);
      offset = 3 * 60_000;
      const v = (await waitAllTerminal(g, g.key, [id], 20_000)).get(id)!;
      expect(v.status).toBe('failed');
      expect(v.error?.code).toBe('deadline_exceeded');
      expect(v.error?.message).toContain('2 minutes');
      const { released } = await assertBillingConsistent(g.dataDir);
      expect(released).toBe(1);
    } finally {
      await slow.close();
    }
  });
});

describe('which tasks the sandbox serves', () => {
  const gws: TestGateway[] = [];
  let fake: OpenAIVideosFake;
  beforeAll(async () => {
    fake = await startOpenAIVideosFake({ script: { queuedMs: 50, runMs: 200 } });
  });
  afterAll(async () => {
    for (const g of gws) await g.close();
    await fake.close();
  });

  it('with channels configured, an unserved model is a clear 400 in the caller dialect; test keys still use the sandbox', async () => {
    const g = await startWithChannels([channel('only-sora', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })]);
    gws.push(g);
    const r = await createVideo(g, g.key, { model: 'sora-2-pro', prompt: 'no channel for me' });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'model_not_available', param: 'model', type: 'invalid_request_error' });
    const test = await g.newKey('tester', { test: true });
    const before = fake.submissionCount;
    const t = await createVideo(g, test.secret, { model: 'sora-2', prompt: 'test keys render locally' });
    const v = (await waitAllTerminal(g, test.secret, [t.json.id as string], 20_000)).get(t.json.id as string)!;
    expect(v.status).toBe('completed');
    expect(fake.submissionCount).toBe(before);
    expect(await providerOf(g, t.json.id as string)).toBe('sandbox');
  });

  it('sandboxFallback=always sends unserved models to the sandbox; never refuses even without channels', async () => {
    const always = await startWithChannels([channel('only-sora', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })], { upstream: { sandboxFallback: 'always' } });
    gws.push(always);
    const ok = await createVideo(always, always.key, { model: 'sora-2-pro', prompt: 'sandbox fallback' });
    expect(ok.status).toBe(200);
    expect(await providerOf(always, ok.json.id as string)).toBe('sandbox');
    const never = await startGateway({ upstream: { sandboxFallback: 'never' } });
    gws.push(never);
    const no = await createVideo(never, never.key, { model: 'sora-2', prompt: 'nothing serves this' });
    expect(no.status).toBe(400);
    expect((no.json.error as { code: string }).code).toBe('model_not_available');
  });

  it('every channel of a model disabled: 503 with Retry-After', async () => {
    const port = await freePort();
    const g = await startWithChannels([channel('off', 'openai-compatible', `http://127.0.0.1:${port}/v1`, { models: ['sora-2'], enabled: false })]);
    gws.push(g);
    const res = await fetch(`${g.url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${g.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'x' }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upstream_unavailable');
  });
});
