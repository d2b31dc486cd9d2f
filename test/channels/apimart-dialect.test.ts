import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApimartFake, OpenAIVideosFake } from '../fakes/index.js';
import { promptDirectives, startApimartFake, startOpenAIVideosFake } from '../fakes/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { channel, startWithChannels } from '../helpers/upstreams.js';

/**
 * End to end through the apimart client dialect (POST /v1/videos/generations, GET
 * /v1/tasks/{id}; apimart-apigo.md §6) to both upstream adapters.
 */
describe('apimart client dialect → upstream adapters', () => {
  let oa: OpenAIVideosFake;
  let am: ApimartFake;
  let gw: TestGateway;

  beforeAll(async () => {
    const script = promptDirectives({ queuedMs: 50, runMs: 400 });
    [oa, am] = await Promise.all([startOpenAIVideosFake({ script }), startApimartFake({ script, cdnRejectAuthorization: true })]);
    gw = await startWithChannels([
      channel('oa', 'openai-compatible', oa.baseURL, { models: ['sora-2'] }),
      channel('am', 'apimart', am.baseURL, { models: ['sora-2-pro'] }),
    ]);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([oa?.close(), am?.close()]);
  });

  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${gw.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${gw.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as { code?: number; data?: unknown; error?: { code: string; message: string } } };
  };

  const submit = async (body: Record<string, unknown>): Promise<string> => {
    const r = await call('POST', '/v1/videos/generations', body);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const data = r.json.data;
    const first = (Array.isArray(data) ? data[0] : data) as { task_id?: string; id?: string; status: string };
    expect(['submitted', 'pending']).toContain(first.status);
    return (first.task_id ?? first.id)!;
  };

  const waitTask = async (id: string) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await call('GET', `/v1/tasks/${id}`);
      expect(r.status).toBe(200);
      const data = r.json.data as { status: string; progress: number; result?: { videos: { url: string[] | string; expires_at: number }[] }; error?: { code: string; message: string } };
      // Only the documented vocabulary, whatever the upstream said.
      expect(['pending', 'processing', 'completed', 'failed', 'cancelled']).toContain(data.status);
      if (['completed', 'failed', 'cancelled'].includes(data.status)) return data;
      if (Date.now() > deadline) throw new Error(`task ${id} still ${data.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('creates through the apimart dialect on both adapters and serves the result from the gateway', async () => {
    const ids = [
      await submit({ model: 'sora-2', prompt: 'apimart dialect to an openai-compatible upstream', duration: 4, aspect_ratio: '16:9' }),
      await submit({ model: 'sora-2-pro', prompt: 'apimart dialect to an apimart upstream', duration: 8, aspect_ratio: '9:16' }),
    ];
    for (const id of ids) {
      const data = await waitTask(id);
      expect(data.status).toBe('completed');
      const video = data.result!.videos[0]!;
      const url = Array.isArray(video.url) ? video.url[0]! : video.url;
      // The result is the gateway's copy, not the upstream's link, and lives as long as its retention.
      expect(url).not.toContain(am.cdn.url);
      expect(video.expires_at).toBeGreaterThan(Date.now() / 1000 + 24 * 3600);
      const res = await fetch(url, { headers: { authorization: `Bearer ${gw.key}` } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).subarray(4, 8).toString('latin1')).toBe('ftyp');
    }
    expect(oa.submissions[0]!.body).toMatchObject({ model: 'sora-2', seconds: '4', size: '1280x720' });
    expect(am.submissions[0]!.body).toMatchObject({ model: 'sora-2-pro', duration: 8, aspect_ratio: '9:16' });
    expect(am.cdn.leaks()).toEqual([]);
  });

  it('reports an upstream failure in the apimart envelope with its code and reason', async () => {
    const id = await submit({ model: 'sora-2-pro', prompt: 'blocked [[fake: outcome=moderation]]', duration: 4 });
    const data = await waitTask(id);
    expect(data.status).toBe('failed');
    expect(data.error?.code).toBe('moderation_blocked');
    expect(data.error?.message).toContain('content safety system');
  });
});
