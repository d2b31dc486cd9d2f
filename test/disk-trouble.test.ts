import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenAIVideosFake } from './fakes/index.js';
import { startOpenAIVideosFake } from './fakes/index.js';
import { makeUnwritable } from './helpers/disk.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import { channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from './helpers/upstreams.js';

/**
 * Issue 15, "disk trouble is survived, not fatal": with blobs/ unwritable while tasks finish,
 * nothing fails and nothing completes without its file; once the disk takes writes again every
 * task completes and the money is exact. A task fails only when the upstream's copy of its result
 * expires meanwhile, with `storage_unavailable`, and is not charged.
 */
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const healthz = async (gw: TestGateway) => (await (await fetch(`${gw.url}/healthz`)).json()) as { status: string; storage: { ok: boolean; error?: string } };

async function waitForHealth(gw: TestGateway, ok: boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await healthz(gw)).storage.ok !== ok) {
    if (Date.now() > deadline) throw new Error(`/healthz storage.ok never became ${ok}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('an unwritable blob directory', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({ billing: { sandboxPricing: 'catalogue' }, sandbox: { queueMs: 30, msPerVideoSecond: 40, longQueueMs: 60_000, concurrency: 4 } });
  });
  afterAll(async () => gw?.close());

  it('makes finished renders wait (no internal_error), shows on /healthz, and all complete once it is writable again', { timeout: 400_000 }, async () => {
    const credit = 40_000_000;
    await gw.app.gateway.accounts.credit(gw.keyId, credit / 1e6, 'test credit', Date.now());
    const restore = await makeUnwritable(path.join(gw.dataDir, 'blobs'));
    const ids: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const r = await createVideo(gw, gw.key, { prompt: `written to a failing disk ${i}`, seconds: '4' });
        expect(r.status).toBe(200);
        ids.push(r.json.id as string);
      }
      await waitForHealth(gw, false);
      const h = await healthz(gw);
      expect(h.status).toBe('degraded');
      expect(h.storage.error).toMatch(/store a result/);
      // Longer than MAX_ERRORS quick retries used to take: still nothing failed, nothing completed.
      await new Promise((r) => setTimeout(r, 6000));
      for (const id of ids) expect(['queued', 'in_progress']).toContain((await getVideo(gw, gw.key, id)).status);
    } finally {
      await restore();
    }
    const final = await waitAllTerminal(gw, gw.key, ids, 180_000);
    let costs = 0;
    for (const id of ids) {
      expect(final.get(id)!.status).toBe('completed');
      const task = (await gw.app.gateway.service.store.get(id.slice(6)))!;
      costs += task.costMicros!;
      const res = await fetch(`${gw.url}/v1/videos/${id}/content`, { headers: { authorization: `Bearer ${gw.key}` } });
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe((await gw.app.gateway.service.store.getAsset(task.id, 'video'))!.sha256);
    }
    await waitForHealth(gw, true);
    const b = await gw.app.gateway.ledger.balance(gw.keyId);
    expect(b.heldMicros).toBe(0);
    expect(costs).toBeGreaterThan(0);
    expect(b.balanceMicros).toBe(credit - costs);
  });
});

describe('storage trouble outlasting the upstream result', () => {
  let fake: OpenAIVideosFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startOpenAIVideosFake({ flavor: 'openai', script: { queuedMs: 50, runMs: 200, resultTtlMs: 10_000 } });
    gw = await startWithChannels([channel('openai', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })]);
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('fails with storage_unavailable once the upstream copy has expired, and charges nothing', async () => {
    const before = await gw.app.gateway.ledger.balance(gw.keyId);
    const restore = await makeUnwritable(path.join(gw.dataDir, 'blobs'));
    try {
      const r = await createVideo(gw, gw.key, { model: 'sora-2', prompt: 'never stored', seconds: '4' });
      const final = await waitAllTerminal(gw, gw.key, [r.json.id as string], 60_000);
      const v = final.get(r.json.id as string)!;
      expect(v.status).toBe('failed');
      expect(v.error?.code).toBe('storage_unavailable');
      expect(v.error?.message).toMatch(/not charged/);
      // Retried while the upstream still had it: more than one download.
      expect(fake.stats().downloads).toBeGreaterThan(1);
    } finally {
      await restore();
    }
    const after = await gw.app.gateway.ledger.balance(gw.keyId);
    expect(after.heldMicros).toBe(0);
    expect(after.balanceMicros).toBe(before.balanceMicros);
  });
});
