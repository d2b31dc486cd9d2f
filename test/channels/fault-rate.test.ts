import Database from 'better-sqlite3';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApimartFake, OpenAIVideosFake } from '../fakes/index.js';
import { fault, startApimartFake, startOpenAIVideosFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { assertBillingConsistent, channel, createVideo, startWithChannels, waitAllTerminal } from '../helpers/upstreams.js';

/**
 * Both fakes misbehave at random (seeded): 429 with Retry-After, 5xx, connection resets before
 * and after handling, malformed and HTML bodies, 404s, truncated and throttled downloads. Every
 * task must still end completed or failed, no upstream job may be created twice for one task,
 * and billing must add up.
 */
describe('fault rate', () => {
  let oa: OpenAIVideosFake | undefined;
  let am: ApimartFake | undefined;
  let gw: TestGateway | undefined;
  afterAll(async () => {
    await gw?.close();
    await Promise.all([oa?.close(), am?.close()]);
  });

  it('every task reaches a terminal state with billing consistent under ~30 % faults', { timeout: 120_000 }, async () => {
    const script = ({ rng }: { rng: () => number }) => ({ queuedMs: 50 + rng() * 200, runMs: 300 + rng() * 700 });
    oa = await startOpenAIVideosFake({ script, seed: 7 });
    am = await startApimartFake({ script, seed: 11 });
    const chaos = fault.oneOf([
      fault.error(429, { retryAfter: 1 }),
      fault.error(500),
      fault.error(502),
      fault.error(503, { retryAfterMs: 300 }),
      fault.reset(),
      fault.reset({ after: true }),
      fault.malformed('truncated'),
      fault.malformed('html'),
      fault.malformed('garbage'),
    ]);
    for (const f of [oa, am]) {
      f.faults.add({ name: 'api chaos', route: ['submit', 'status'], probability: 0.3, action: chaos });
      f.faults.add({ name: 'lost job', route: 'status', probability: 0.03, action: fault.notFound() });
      f.faults.add({ name: 'bad download', route: ['content', 'cdn'], probability: 0.25, action: fault.oneOf([fault.truncate({ fraction: 0.3 }), fault.reset(), fault.error(503), fault.throttle(40_000)]) });
    }
    gw = await startWithChannels(
      [
        channel('oa', 'openai-compatible', oa.baseURL, { models: ['sora-2'] }),
        channel('am', 'apimart', am.baseURL, { models: ['sora-2-pro'] }),
      ],
      { upstream: { breaker: { failures: 1000, cooldownMs: 1000, maxCooldownMs: 5000 }, downloadAttempts: 8 } },
    );
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await createVideo(gw, gw.key, { model: i % 2 ? 'sora-2-pro' : 'sora-2', prompt: `chaos ${i}` });
      expect(r.status).toBe(200);
      ids.push(r.json.id as string);
    }
    const final = await waitAllTerminal(gw, gw.key, ids, 120_000);
    const byStatus = { completed: 0, failed: 0 } as Record<string, number>;
    const codes = new Map<string, number>();
    for (const v of final.values()) {
      byStatus[v.status] = (byStatus[v.status] ?? 0) + 1;
      if (v.error) codes.set(v.error.code, (codes.get(v.error.code) ?? 0) + 1);
    }
    // Failures are expected (an openai-compatible submit whose answer is lost is not re-sent),
    // but only with the codes that say why.
    for (const code of codes.keys()) expect(['upstream_submit_unknown', 'upstream_task_not_found', 'result_download_failed', 'result_invalid']).toContain(code);
    expect(byStatus.completed).toBeGreaterThan(ids.length * 0.4);
    // The faults did happen.
    expect(oa.faults.rules[0]!.hits + am.faults.rules[0]!.hits).toBeGreaterThan(5);
    expect(oa.faults.rules[2]!.hits + am.faults.rules[2]!.hits).toBeGreaterThan(2);

    // Never two upstream jobs for one task.
    expect(oa.submissionCount + am.submissionCount).toBeLessThanOrEqual(ids.length);
    const db = new Database(path.join(gw.dataDir, 'vidgate.db'), { readonly: true });
    try {
      const ups = (db.prepare('SELECT upstream_id FROM tasks WHERE upstream_id IS NOT NULL').all() as { upstream_id: string }[]).map((r) => r.upstream_id);
      expect(new Set(ups).size).toBe(ups.length);
    } finally {
      db.close();
    }
    const billing = await assertBillingConsistent(gw.dataDir);
    expect(billing.settled + billing.released).toBe(ids.length);
  });
});
