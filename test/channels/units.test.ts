import { describe, expect, it } from 'vitest';
import { Breaker } from '../../src/channels/breaker.js';
import { describeUpstreamError, jobFailure, scrub } from '../../src/channels/errors.js';
import { parseErrorBody, retryAfterMs } from '../../src/channels/http.js';
import { ChannelLimiter } from '../../src/channels/limiter.js';
import { orderCandidates } from '../../src/channels/router.js';
import { DEFAULT_POLL_POLICY, nextCheck } from '../../src/channels/schedule.js';
import type { PollMemory } from '../../src/channels/schedule.js';
import { APIMART_STATUS_TABLE, parseTask } from '../../src/providers/apimart/status.js';
import { OPENAI_STATUS_TABLE, parseVideo } from '../../src/providers/openai-compatible/status.js';
import { UpstreamError } from '../../src/providers/types.js';
import type { UpstreamStatus } from '../../src/providers/types.js';
import { mulberry32 } from '../fakes/index.js';

describe('status normalisation (upstreams.md §14)', () => {
  const words = {
    waiting: ['queued', 'pending', 'submitted', 'QUEUED', 'Pending', 'preprocessing', 'not_start', 'unknown'],
    running: ['in_progress', 'processing', 'running', 'IN_PROGRESS', 'Processing'],
    succeeded: ['completed', 'succeeded', 'success', 'COMPLETED'],
    failed: ['failed', 'failure', 'error', 'FAILED'],
    cancelled: ['cancelled', 'canceled'],
  } as const;

  it('maps every documented word of the OpenAI-style servers, and nothing leaks as unknown', () => {
    for (const [state, list] of Object.entries(words)) {
      for (const w of list) expect(parseVideo({ status: w }).state, w).toBe(state);
    }
    expect(parseVideo({ status: 'expired' }).state).toBe('expired');
    // A word nobody documented keeps the job waiting (it is polled until it finishes or its deadline).
    const odd = parseVideo({ status: 'paused_for_review' });
    expect(odd).toMatchObject({ state: 'waiting', unrecognised: true, raw: 'paused_for_review' });
    expect(Object.values(OPENAI_STATUS_TABLE).every((s) => ['waiting', 'running', 'succeeded', 'failed', 'cancelled', 'expired'].includes(s))).toBe(true);
  });

  it('maps every apimart word, including the submit vocabulary', () => {
    for (const [state, list] of Object.entries(words)) {
      for (const w of list.filter((x) => !['preprocessing', 'not_start', 'unknown'].includes(x))) expect(parseTask({ status: w }).state, w).toBe(state);
    }
    expect(Object.keys(APIMART_STATUS_TABLE)).toEqual(expect.arrayContaining(['submitted', 'pending', 'processing', 'completed', 'failed', 'cancelled']));
  });

  it('reads the apimart fallbacks for the result URL and the captured completed body', () => {
    const captured = JSON.parse(
      '{"actual_time":155,"completed":1765001046,"created":1765000891,"estimated_time":600,"id":"task_01KBS40K78KGHZ9SDBWQSGSXRK","progress":100,"result":{"videos":[{"expires_at":1765087446,"url":["https://upload.apimart.ai/f/video/x.mp4"]}]},"status":"completed"}',
    ) as Record<string, unknown>;
    expect(parseTask(captured)).toMatchObject({ state: 'succeeded', resultUrl: 'https://upload.apimart.ai/f/video/x.mp4', resultExpiresAtMs: 1765087446000, estimatedSeconds: 600, progress: 100 });
    const u = 'https://cdn.example/v.mp4';
    for (const result of [{ videos: [{ url: u }] }, { video: { url: u } }, { video_url: u }, { videos: [{ url: ['', u] }] }]) {
      expect(parseTask({ status: 'completed', result }).resultUrl).toBe(u);
    }
    expect(parseTask({ status: 'completed', url: u }).resultUrl).toBe(u);
    expect(parseTask({ status: 'failed', error: { code: 'x', message: 'why' } }).error).toEqual({ code: 'x', message: 'why', type: undefined });
  });

  it('reads progress liberally and ignores apigo’s empty error object', () => {
    expect(parseVideo({ status: 'in_progress', progress: 42.6 }).progress).toBe(43);
    expect(parseVideo({ status: 'in_progress', progress: '55%' }).progress).toBe(55);
    expect(parseVideo({ status: 'in_progress', progress: 0.25 }).progress).toBe(25);
    expect(parseVideo({ status: 'pending', error: { code: '', message: '', type: '' } }).error).toBeUndefined();
    expect(parseVideo({ status: 'completed', url: 'https://cdn/x.mp4', expires_at: 100 })).toMatchObject({ resultUrl: 'https://cdn/x.mp4', resultExpiresAtMs: 100_000 });
    expect(parseVideo({ status: 'queued' }, { 'openai-poll-after-ms': '3000' }).pollAfterMs).toBe(3000);
  });
});

describe('polling schedule', () => {
  const run = (queued: number, runMs: number, progress: (f: number) => number | undefined) => {
    let t = 0;
    let calls = 0;
    let memory: PollMemory = {};
    let status: UpstreamStatus = { state: 'waiting', raw: 'queued' };
    for (;;) {
      const d = nextCheck({ now: t, submittedAt: 0, status, memory, policy: DEFAULT_POLL_POLICY });
      memory = d.memory;
      t += d.delayMs;
      calls++;
      if (t >= queued + runMs) return { calls, delay: t - queued - runMs };
      if (t >= queued) {
        const p = progress((t - queued) / runMs);
        status = { state: 'running', raw: 'in_progress', ...(p === undefined ? {} : { progress: p }) };
      }
      if (calls > 200) throw new Error('runaway');
    }
  };

  it('follows linear progress to the end: about a second late, a handful of calls, however long the job', () => {
    for (const runMs of [60_000, 300_000, 900_000]) {
      const r = run(8_000, runMs, (f) => Math.min(99, Math.floor(f * 100)));
      expect(r.delay, `run ${runMs}`).toBeLessThan(3_000);
      expect(r.calls, `run ${runMs}`).toBeLessThanOrEqual(8);
    }
  });

  it('without progress it backs off to maxMs, never faster than minMs', () => {
    const r = run(1_000, 600_000, () => undefined);
    expect(r.delay).toBeLessThanOrEqual(DEFAULT_POLL_POLICY.maxMs);
    const d = nextCheck({ now: 100, submittedAt: 0, status: { state: 'waiting', raw: 'queued' }, memory: {}, policy: DEFAULT_POLL_POLICY });
    expect(d.delayMs).toBe(4_900);
  });

  it('starts from observed durations, honours the upstream estimate and poll-after hints', () => {
    const expected = { meanMs: 200_000, devMs: 5_000, samples: 10 };
    const first = nextCheck({ now: 0, submittedAt: 0, status: { state: 'waiting', raw: 'queued' }, memory: {}, policy: DEFAULT_POLL_POLICY, expected });
    expect(first.basis).toBe('history');
    expect(first.delayMs).toBe(200_000 - 30_000);
    // Backoff would wait 12 s (the job's age); the estimate says it should be done in 8.
    const est = nextCheck({ now: 12_000, submittedAt: 0, status: { state: 'waiting', raw: 'pending', estimatedSeconds: 20, createdAtMs: 0 }, memory: {}, policy: DEFAULT_POLL_POLICY });
    expect(est.delayMs).toBe(8_000);
    expect(est.basis).toBe('estimate');
    const hinted = nextCheck({ now: 0, submittedAt: 0, status: { state: 'waiting', raw: 'queued', pollAfterMs: 8_000 }, memory: {}, policy: DEFAULT_POLL_POLICY });
    expect(hinted.delayMs).toBe(8_000);
  });
});

describe('routing order, breaker, limiter', () => {
  it('orders by priority, then by weight within a tier', () => {
    const rng = mulberry32(42);
    const list = [
      { id: 'low', priority: 0, weight: 1 },
      { id: 'a', priority: 5, weight: 3 },
      { id: 'b', priority: 5, weight: 1 },
    ];
    const firsts = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 4000; i++) {
      const o = orderCandidates(list, (x) => x, rng);
      expect(o[2]!.id).toBe('low');
      firsts[o[0]!.id]!++;
    }
    expect(firsts.a! / 4000).toBeGreaterThan(0.7);
    expect(firsts.a! / 4000).toBeLessThan(0.8);
  });

  it('breaker: opens after N failures or one auth failure, one trial when half-open, doubles the cool-down', () => {
    const b = new Breaker({ failureThreshold: 3, cooldownMs: 1_000, maxCooldownMs: 4_000 });
    b.failure(0, 'x');
    b.failure(1, 'x');
    expect(b.available(2)).toBe(true);
    b.failure(2, 'x');
    expect(b.state(3)).toBe('open');
    expect(b.available(500)).toBe(false);
    expect(b.state(1_002)).toBe('half_open');
    expect(b.acquire(1_002)).toBe(true);
    expect(b.acquire(1_003)).toBe(false);
    // Whoever lost the trial looks again shortly (the trial usually ends within seconds), not at its timeout.
    expect(b.retryAt(1_003)).toBe(3_003);
    b.failure(1_010, 'still down');
    expect(b.retryAt(1_010)).toBe(3_010);
    expect(b.acquire(3_010)).toBe(true);
    b.success();
    expect(b.state(3_011)).toBe('closed');
    const auth = new Breaker({ failureThreshold: 5, cooldownMs: 1_000, maxCooldownMs: 4_000 });
    auth.failure(0, 'HTTP 401', true);
    expect(auth.state(1)).toBe('open');
  });

  it('limiter: concurrency, requests per minute and Retry-After pauses, never blocking', () => {
    const l = new ChannelLimiter(2, 60, 0);
    const x = l.tryAcquire(0);
    const y = l.tryAcquire(0);
    expect(x.ok && y.ok).toBe(true);
    expect(l.tryAcquire(0)).toEqual({ ok: false, retryAt: 200 });
    if (x.ok) x.release();
    // 60/min holds 10 s worth: 10 tokens, 2 spent.
    for (let i = 0; i < 8; i++) {
      const g = l.tryAcquire(0);
      expect(g.ok).toBe(true);
      if (g.ok) g.release();
    }
    const none = l.tryAcquire(0);
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.retryAt).toBe(1_000);
    l.pause(5_000);
    expect(l.tryAcquire(2_000)).toEqual({ ok: false, retryAt: 5_000 });
  });
});

describe('upstream errors reach the caller trimmed and redacted', () => {
  it('parses the common envelopes instead of passing raw bodies', () => {
    expect(parseErrorBody('{"error":{"message":"Invalid value","code":"invalid_value","param":"seconds","type":"invalid_request_error"}}', 'application/json')).toMatchObject({
      code: 'invalid_value',
      param: 'seconds',
      upstreamMessage: 'Invalid value',
    });
    expect(parseErrorBody('{"detail":"Not Found"}', 'application/json').upstreamMessage).toBe('Not Found');
    expect(parseErrorBody('{"detail":[{"loc":["body","x"],"msg":"field required"}]}', '').upstreamMessage).toBe('field required');
    expect(parseErrorBody('<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>', 'text/html').upstreamMessage).toBe('an HTML error page ("502 Bad Gateway")');
    expect(parseErrorBody('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>', 'application/xml')).toMatchObject({ code: 'AccessDenied' });
  });

  it('removes keys, bearer tokens and URL signatures', () => {
    const text = scrub('Incorrect API key provided: sk-proj-abcdefghijklmnop. Authorization: Bearer abc.def.ghijkl https://cdn/x.mp4?X-Amz-Signature=deadbeef&x=1 {"api_key":"zzz-secret"}', ['zzz-secret']);
    expect(text).not.toMatch(/abcdefghijklmnop|abc\.def|deadbeef|zzz-secret/);
    expect(text).toContain('x=1');
    const err = new UpstreamError('http', 'x', { status: 401, code: 'invalid_api_key', upstreamMessage: `key my-channel-key-123456 rejected ${'x'.repeat(2000)}` });
    const d = describeUpstreamError(err, ['my-channel-key-123456']);
    expect(d.length).toBeLessThanOrEqual(500);
    expect(d).not.toContain('my-channel-key-123456');
    expect(jobFailure({ state: 'failed', raw: 'failed', error: { code: 'content_policy_violation', message: 'nope' } }, []).code).toBe('moderation_blocked');
  });

  it('Retry-After in seconds, as a date, or retry-after-ms', () => {
    expect(retryAfterMs({ 'retry-after': '3' })).toBe(3000);
    expect(retryAfterMs({ 'retry-after-ms': '250', 'retry-after': '3' })).toBe(250);
    expect(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4_000)).toBe(6_000);
    expect(retryAfterMs({})).toBeUndefined();
  });
});
