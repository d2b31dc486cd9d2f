import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { classifyAddress } from '../src/net/ssrf.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { Receiver, until } from './helpers/receiver.js';
import type { Received } from './helpers/receiver.js';
import { checkContract } from './helpers/contract.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

/** Fast retries and timeouts so failure/recovery paths run in well under a second each. */
const FAST_WEBHOOKS = { retryBaseMs: 40, retryMultiplier: 2, retryMaxDelayMs: 400, timeoutMs: 400, maxAgeHours: 72, concurrency: 16, perTargetConcurrency: 4 };

interface DeliveryJson {
  id: string;
  object: string;
  endpoint_id: string | null;
  kind: 'endpoint' | 'callback';
  event_id: string;
  event_type: string;
  video_id: string;
  status: string;
  attempt_count: number;
  payload: { id: string; type: string; data: { id: string } };
  attempts: { attempt: number; status_code: number | null; error: string | null; duration_ms: number; response_body: string | null }[];
}

const verifier = new OpenAI({ apiKey: 'unused', baseURL: 'http://127.0.0.1:1' });
const unwrap = (r: Received, secret: string) => verifier.webhooks.unwrap(r.body, r.headers as Record<string, string>, secret);

describe('webhooks', () => {
  let gw: TestGateway;
  let client: OpenAI;
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const r = await Receiver.start();
    receivers.push(r);
    return r;
  };
  const api = async <T>(method: string, path: string, body?: unknown, key = gw.key): Promise<{ status: number; json: T }> => {
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as T };
  };
  const deliveriesOf = async (query: string, key = gw.key) =>
    (await api<{ data: DeliveryJson[] }>('GET', `/v1/webhook_deliveries?limit=100&${query}`, undefined, key)).json.data;

  beforeAll(async () => {
    gw = await startGateway({ net: { allowHosts: [], allowCidrs: ['127.0.0.1/32'] }, webhooks: FAST_WEBHOOKS });
    client = gw.openai();
  });
  afterAll(async () => {
    for (const r of receivers) await r.stop();
    await gw?.close();
  });

  it('manages endpoints with the openai SDK (create, retrieve, list, update, rotate, delete, event types)', async () => {
    const r = await receiver();
    const created = await client.webhooks.create({ url: `${r.url}/hooks`, name: 'main', event_types: ['video.completed', 'video.failed'] });
    expect(created).toMatchObject({ object: 'webhook_endpoint', name: 'main', url: `${r.url}/hooks`, event_types: ['video.completed', 'video.failed'], enabled: true });
    expect(created.id).toMatch(/^whe_/);
    expect(created.signing_secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.signing_secret_hint).toBe(`whsec_…${created.signing_secret.slice(-6)}`);
    // Stored sealed: the database alone does not reveal the secret.
    const row = await gw.app.db.get('SELECT * FROM webhook_endpoints WHERE id = ?', [created.id]);
    const raw = created.signing_secret.slice('whsec_'.length);
    expect(JSON.stringify(row)).not.toContain(raw);
    expect(JSON.stringify(row)).not.toContain(Buffer.from(raw, 'base64').toString('hex'));

    const got = await client.webhooks.retrieve(created.id);
    expect(got).not.toHaveProperty('signing_secret');
    expect(got.url).toBe(`${r.url}/hooks`);

    const second = await client.webhooks.create({ url: `${r.url}/other`, name: 'other', event_types: ['video.completed'] });
    const listed: string[] = [];
    for await (const e of await client.webhooks.list({ limit: 1 })) listed.push(e.id);
    expect(listed).toEqual(expect.arrayContaining([created.id, second.id]));

    const updated = await client.webhooks.update(second.id, { url: `${r.url}/moved`, event_types: ['video.failed'] });
    expect(updated).toMatchObject({ url: `${r.url}/moved`, event_types: ['video.failed'] });
    const disabled = await api<{ enabled: boolean }>('PATCH', `/v1/webhook_endpoints/${second.id}`, { enabled: false });
    expect(disabled).toMatchObject({ status: 200, json: { enabled: false } });

    const rotated = await client.webhooks.rotateSecret(created.id, { keep_old_secret_active_for_24_hours: true });
    expect(rotated.signing_secret).not.toBe(created.signing_secret);
    expect((rotated as unknown as { previous_secret_expires_at: number }).previous_secret_expires_at).toBeGreaterThan(Date.now() / 1000 + 23 * 3600);
    const secret = await api<{ signing_secret: string; previous_signing_secret: string }>('GET', `/v1/webhook_endpoints/${created.id}/secret`);
    expect(secret.json).toMatchObject({ signing_secret: rotated.signing_secret, previous_signing_secret: created.signing_secret });

    const types = await client.webhooks.eventTypes.list();
    expect(types.data).toEqual(['video.completed', 'video.failed', 'video.cancelled', 'video.in_progress']);

    expect(await client.webhooks.delete(second.id)).toEqual({ id: second.id, object: 'webhook_endpoint.deleted', deleted: true });
    await expect(client.webhooks.retrieve(second.id)).rejects.toMatchObject({ status: 404 });
    await client.webhooks.delete(created.id);

    // Another key sees none of them.
    const other = await gw.newKey('other');
    await expect(gw.openai(other.secret).webhooks.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses bad endpoint input with 400s naming the field', async () => {
    const bad = async (body: unknown) => api<{ error: { param: string; message: string } }>('POST', '/v1/webhook_endpoints', body);
    expect(await bad({ event_types: ['video.completed'] })).toMatchObject({ status: 400, json: { error: { param: 'url' } } });
    expect(await bad({ url: 'ftp://example.com/x' })).toMatchObject({ status: 400, json: { error: { param: 'url' } } });
    expect(await bad({ url: 'not a url' })).toMatchObject({ status: 400, json: { error: { param: 'url' } } });
    const unknown = await bad({ url: 'https://example.com/hook', event_types: ['video.completed', 'batch.completed'] });
    expect(unknown).toMatchObject({ status: 400, json: { error: { param: 'event_types' } } });
    expect(unknown.json.error.message).toContain("'batch.completed'");
    expect(await bad({ url: 'https://example.com/hook', event_types: [] })).toMatchObject({ status: 400, json: { error: { param: 'event_types' } } });
    expect(await bad({ url: 'https://example.com/hook', enabled: 'yes' })).toMatchObject({ status: 400, json: { error: { param: 'enabled' } } });
  });

  it('delivers signed events that the openai SDK verifies, with the OpenAI payload shape', async () => {
    const r = await receiver();
    const all = await client.webhooks.create({ url: `${r.url}/all`, name: 'all', event_types: ['video.completed', 'video.failed', 'video.in_progress'] as never });
    const onlyDone = await client.webhooks.create({ url: `${r.url}/done`, name: 'done', event_types: ['video.completed'] });

    const video = await client.videos.create({ prompt: 'A paper boat on a pond', seconds: '4' });
    expect((await waitForVideo(client, video.id)).status).toBe('completed');
    const failed = await client.videos.create({ prompt: 'sandbox:fail a melting clock', seconds: '4' });
    expect((await waitForVideo(client, failed.id)).status).toBe('failed');

    await r.waitFor((x) => x.received.filter((q) => q.path === '/all' && /video\.failed/.test(q.body)).length >= 1 && x.received.some((q) => q.path === '/done'));
    const toAll = r.received.filter((q) => q.path === '/all');
    const events = await Promise.all(toAll.map((q) => unwrap(q, all.signing_secret)));
    const ofVideo = events.filter((e) => (e.data as { id: string }).id === video.id).map((e) => e.type as string);
    expect(ofVideo[ofVideo.length - 1]).toBe('video.completed');
    expect(ofVideo.filter((t) => t === 'video.in_progress').length).toBeGreaterThan(0);
    const completed = events.find((e) => (e.type as string) === 'video.completed')!;
    expect(Object.keys(completed).sort()).toEqual(['created_at', 'data', 'id', 'object', 'type']);
    expect(completed).toMatchObject({ object: 'event', type: 'video.completed', data: { id: video.id } });
    expect(completed.id).toMatch(/^evt_[0-9A-Z]{26}$/);
    expect(Math.abs(completed.created_at - Date.now() / 1000)).toBeLessThan(120);
    const failedEvent = events.find((e) => (e.type as string) === 'video.failed');
    expect(failedEvent).toMatchObject({ object: 'event', data: { id: failed.id } });
    expect(events.some((e) => (e.type as string) === 'video.in_progress' && typeof (e.data as { progress?: number }).progress === 'number')).toBe(true);

    // The narrower endpoint only heard about the completion, signed with its own secret.
    const toDone = r.received.filter((q) => q.path === '/done');
    expect(toDone.length).toBe(1);
    const done = await unwrap(toDone[0]!, onlyDone.signing_secret);
    expect(done).toMatchObject({ type: 'video.completed', data: { id: video.id } });
    // The same event has the same evt_ id everywhere, but each delivery its own webhook-id.
    expect(done.id).toBe(completed.id);
    expect(toDone[0]!.headers['webhook-id']).not.toBe(toAll.find((q) => q.body.includes('video.completed'))!.headers['webhook-id']);

    // Wrong secret, tampered body, missing header: all refused by the SDK.
    await expect(unwrap(toDone[0]!, all.signing_secret)).rejects.toThrow(/signature/);
    await expect(verifier.webhooks.unwrap(toDone[0]!.body.replace('video.completed', 'video.failed'), toDone[0]!.headers as Record<string, string>, onlyDone.signing_secret)).rejects.toThrow(/signature/);
    const { 'webhook-id': _omit, ...noId } = toDone[0]!.headers;
    await expect(verifier.webhooks.unwrap(toDone[0]!.body, noId as Record<string, string>, onlyDone.signing_secret)).rejects.toThrow(/webhook-id/);

    // The timestamp is the attempt's time: the message is fresh now and too old ten minutes later.
    expect(Math.abs(Number(toDone[0]!.headers['webhook-timestamp']) - toDone[0]!.at / 1000)).toBeLessThan(5);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 10 * 60_000 });
    try {
      await expect(unwrap(toDone[0]!, onlyDone.signing_secret)).rejects.toThrow(/too old/);
    } finally {
      vi.useRealTimers();
    }

    // Deliveries are listed for the key with their attempts.
    const listed = await deliveriesOf(`endpoint_id=${onlyDone.id}`);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ object: 'webhook_delivery', kind: 'endpoint', endpoint_id: onlyDone.id, event_type: 'video.completed', video_id: video.id, status: 'delivered', attempt_count: 1 });
    expect(listed[0]!.id).toBe(toDone[0]!.headers['webhook-id']);
    expect(listed[0]!.attempts).toEqual([expect.objectContaining({ attempt: 1, status_code: 200, error: null, response_body: 'ok' })]);
    expect(await deliveriesOf(`video_id=${failed.id}&status=delivered&event_type=video.failed`)).toEqual([expect.objectContaining({ event_type: 'video.failed', endpoint_id: all.id })]);
    await client.webhooks.delete(all.id);
    await client.webhooks.delete(onlyDone.id);
  });

  it('keeps retrying a failing receiver (500, timeout, reset, redirect, refused) with the same webhook-id, without holding up other endpoints', async () => {
    const flaky = await Receiver.start((n) => (n === 0 ? 500 : n === 1 ? 'hang' : n === 2 ? 'reset' : n === 3 ? 307 : 503));
    const healthy = await receiver();
    receivers.push(flaky);
    const bad = await client.webhooks.create({ url: `${flaky.url}/x`, name: 'flaky', event_types: ['video.failed'] });
    const good = await client.webhooks.create({ url: `${healthy.url}/y`, name: 'healthy', event_types: ['video.failed'] });

    // (Magic prompts that fail fast keep these tests quick: the events are the same kind of rows.)
    const video = await client.videos.create({ prompt: 'sandbox:moderation a windmill at dusk', seconds: '4' });
    await waitForVideo(client, video.id);
    // The healthy endpoint is served while the flaky one fails.
    await healthy.waitFor((x) => x.accepted.length === 1, 30_000, 'healthy delivery');
    await flaky.waitFor((x) => x.received.length >= 4, 30_000, 'four failed attempts');
    await flaky.stop();
    const pending = await until(async () => {
      const [d] = await deliveriesOf(`endpoint_id=${bad.id}`);
      return d && d.attempts.some((a) => a.error === 'connection refused') ? d : undefined;
    }, 30_000, 'a refused attempt');
    expect(pending.status).toBe('pending');
    expect(flaky.accepted).toHaveLength(0);
    flaky.behaviour = () => 200;
    await flaky.restart();
    await flaky.waitFor((x) => x.accepted.length === 1, 30_000, 'recovery');

    const ids = new Set(flaky.received.map((q) => q.headers['webhook-id']));
    expect(ids.size).toBe(1);
    const timestamps = flaky.received.map((q) => Number(q.headers['webhook-timestamp']));
    expect([...timestamps].sort((a, b) => a - b)).toEqual(timestamps);
    const event = await unwrap(flaky.accepted[0]!, bad.signing_secret);
    expect(event).toMatchObject({ type: 'video.failed', data: { id: video.id } });

    const [d] = await until(async () => {
      const list = await deliveriesOf(`endpoint_id=${bad.id}`);
      return list[0]?.status === 'delivered' ? list : undefined;
    }, 30_000, 'delivered status');
    expect(d!.id).toBe([...ids][0]);
    const codes = d!.attempts.map((a) => a.status_code ?? a.error);
    expect(codes[0]).toBe(500);
    expect(codes[1]).toMatch(/timed out/);
    expect(codes[2]).toMatch(/reset|closed|failed/);
    expect(codes[3]).toBe(307);
    expect(d!.attempts[3]!.error).toMatch(/redirects are not followed/);
    expect(codes).toContain('connection refused');
    expect(codes[codes.length - 1]).toBe(200);
    expect(d!.attempt_count).toBe(d!.attempts.length);
    expect(d!.attempts[0]!.response_body).toBe('receiver says 500');
    await client.webhooks.delete(bad.id);
    await client.webhooks.delete(good.id);
  });

  it('delivers every event of a flaky receiver at least once, in order per video', async () => {
    const r = await Receiver.start((n) => (n % 2 === 0 ? 503 : 200));
    receivers.push(r);
    const e = await client.webhooks.create({ url: `${r.url}/p`, name: 'progress', event_types: ['video.in_progress', 'video.failed'] as never });
    const video = await client.videos.create({ prompt: 'sandbox:fail a lighthouse in fog', seconds: '12' });
    await waitForVideo(client, video.id);
    const all = await until(async () => {
      const list = await deliveriesOf(`endpoint_id=${e.id}`);
      return list.length > 0 && list.every((d) => d.status === 'delivered') ? list : undefined;
    }, 30_000, 'all delivered');
    const accepted = await Promise.all(r.accepted.map((q) => unwrap(q, e.signing_secret)));
    expect(new Set(accepted.map((a) => a.id))).toEqual(new Set(all.map((d) => d.event_id)));
    expect(accepted.length).toBe(all.length);
    const types = accepted.map((a) => a.type as string);
    expect(types[types.length - 1]).toBe('video.failed');
    const progress = accepted.filter((a) => (a.type as string) === 'video.in_progress').map((a) => (a.data as unknown as { progress: number }).progress);
    expect(progress.length).toBeGreaterThan(1);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    await client.webhooks.delete(e.id);
  });

  it('re-sends a delivery with the same webhook-id as a new attempt', async () => {
    const r = await receiver();
    const e = await client.webhooks.create({ url: `${r.url}/r`, name: 'resend', event_types: ['video.failed'] });
    const video = await client.videos.create({ prompt: 'sandbox:moderation a kite over dunes', seconds: '4' });
    await waitForVideo(client, video.id);
    await r.waitFor((x) => x.accepted.length === 1);
    const [d] = await deliveriesOf(`endpoint_id=${e.id}`);
    const again = await api<DeliveryJson>('POST', `/v1/webhook_deliveries/${d!.id}/resend`);
    expect(again).toMatchObject({ status: 200, json: { id: d!.id, status: 'pending' } });
    await r.waitFor((x) => x.accepted.length === 2);
    expect(r.accepted[1]!.headers['webhook-id']).toBe(d!.id);
    expect(r.accepted[1]!.body).toBe(r.accepted[0]!.body);
    await unwrap(r.accepted[1]!, e.signing_secret);
    const after = await until(async () => {
      const list = await api<DeliveryJson>('GET', `/v1/webhook_deliveries/${d!.id}`);
      return list.json.attempt_count === 2 && list.json.status === 'delivered' ? list.json : undefined;
    });
    expect(after.attempts.map((a) => a.attempt)).toEqual([1, 2]);

    const other = await gw.newKey('stranger');
    expect((await api('POST', `/v1/webhook_deliveries/${d!.id}/resend`, undefined, other.secret)).status).toBe(404);
    expect((await api('GET', `/v1/webhook_deliveries/${d!.id}`, undefined, other.secret)).status).toBe(404);
    expect(await deliveriesOf('', other.secret)).toEqual([]);
    await client.webhooks.delete(e.id);
    // A deleted endpoint's deliveries cannot be re-sent.
    expect((await api('POST', `/v1/webhook_deliveries/${d!.id}/resend`)).status).toBe(409);
  });

  it('rotates a secret with a grace period: both secrets verify during it, only the new one after', async () => {
    const r = await receiver();
    const e = await client.webhooks.create({ url: `${r.url}/rot`, name: 'rot', event_types: ['video.failed'] });
    const rotated = await client.webhooks.rotateSecret(e.id, { keep_old_secret_active_for_24_hours: true });
    const fresh = rotated.signing_secret;

    // A real delivery during the grace period carries both signatures; either secret verifies it.
    const video = await client.videos.create({ prompt: 'sandbox:moderation a train crossing a bridge', seconds: '4' });
    await waitForVideo(client, video.id);
    await r.waitFor((x) => x.accepted.length === 1);
    const during = r.accepted[0]!;
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    await unwrap(during, e.signing_secret);
    await unwrap(during, fresh);

    // A short grace period: once it is over only the newest secret signs.
    const short = await api<{ signing_secret: string; previous_secret_expires_at: number }>('POST', `/v1/webhook_endpoints/${e.id}/rotate_secret`, { grace_period_seconds: 1 });
    expect(short.status).toBe(200);
    await until(() => Date.now() / 1000 > short.json.previous_secret_expires_at + 1.05, 10_000, 'grace period over');
    const test = await client.webhooks.test(e.id, { event_type: 'video.completed' });
    expect(test).toMatchObject({ object: 'webhook_endpoint.test', status_code: 200, success: true, webhook_endpoint_id: e.id });
    const after = r.received[r.received.length - 1]!;
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    await unwrap(after, short.json.signing_secret);
    await expect(unwrap(after, fresh)).rejects.toThrow(/signature/);
    expect((await client.webhooks.retrieve(e.id)) as unknown).toMatchObject({ previous_secret_expires_at: null });

    // Without a grace period the old secret stops at once.
    const immediate = await client.webhooks.rotateSecret(e.id);
    await client.webhooks.test(e.id, { event_type: 'video.failed' });
    const last = r.received[r.received.length - 1]!;
    await unwrap(last, immediate.signing_secret);
    await expect(unwrap(last, short.json.signing_secret)).rejects.toThrow(/signature/);
    await client.webhooks.delete(e.id);
  });

  it('sends video.cancelled to endpoints that opted in, and nothing to disabled endpoints', async () => {
    const r = await receiver();
    const wants = await client.webhooks.create({ url: `${r.url}/c`, name: 'cancel', event_types: ['video.cancelled'] as never });
    const off = await client.webhooks.create({ url: `${r.url}/off`, name: 'off', event_types: ['video.completed', 'video.cancelled'] as never });
    await client.webhooks.update(off.id, { enabled: false } as never);
    const video = await client.videos.create({ prompt: 'sandbox:long-queue a queue that never moves', seconds: '4' });
    await client.videos.delete(video.id);
    await r.waitFor((x) => x.accepted.length === 1);
    expect(await unwrap(r.accepted[0]!, wants.signing_secret)).toMatchObject({ type: 'video.cancelled', data: { id: video.id } });
    expect(await deliveriesOf(`endpoint_id=${off.id}`)).toEqual([]);
    await client.webhooks.delete(wants.id);
    await client.webhooks.delete(off.id);
  });

  it('delivers a one-off callback_url (JSON and multipart through the SDK), signed with the key callback secret', async () => {
    const r = await receiver();
    const secret = await api<{ signing_secret: string }>('GET', '/v1/callback_secret');
    expect(secret.json.signing_secret).toMatch(/^whsec_/);
    expect((await api<{ signing_secret: string }>('GET', '/v1/callback_secret')).json.signing_secret).toBe(secret.json.signing_secret);

    const json = await api<{ id: string }>('POST', '/v1/videos', { prompt: 'sandbox:fail a fox in snow', seconds: '4', callback_url: `${r.url}/cb/json` });
    expect(json.status).toBe(200);
    const viaSdk = await client.videos.create({ prompt: 'An owl at night', seconds: '4', callback_url: `${r.url}/cb/sdk` } as OpenAI.Videos.VideoCreateParams);
    await waitForVideo(client, json.json.id);
    await waitForVideo(client, viaSdk.id);
    await r.waitFor((x) => x.accepted.length === 2);
    const byPath = new Map(r.accepted.map((q) => [q.path, q]));
    expect(await unwrap(byPath.get('/cb/json')!, secret.json.signing_secret)).toMatchObject({ type: 'video.failed', data: { id: json.json.id } });
    expect(await unwrap(byPath.get('/cb/sdk')!, secret.json.signing_secret)).toMatchObject({ type: 'video.completed', data: { id: viaSdk.id } });
    // Only how the task ends, not its progress (the failed one had progress events).
    expect(r.received).toHaveLength(2);
    const listed = await deliveriesOf('endpoint_id=callback');
    expect(listed.length).toBe(2);
    expect(listed[0]).toMatchObject({ kind: 'callback', endpoint_id: null, status: 'delivered' });

    // Rotation with grace signs with both callback secrets.
    const rotated = await api<{ signing_secret: string; previous_signing_secret: string }>('POST', '/v1/callback_secret/rotate', { keep_old_secret_active_for_24_hours: true });
    expect(rotated.json.previous_signing_secret).toBe(secret.json.signing_secret);
    const failing = await api<{ id: string }>('POST', '/v1/videos', { prompt: 'sandbox:moderation a crowd', seconds: '4', callback_url: `${r.url}/cb/fail` });
    await r.waitFor((x) => x.accepted.length === 3);
    const failedHook = r.accepted[2]!;
    expect(await unwrap(failedHook, secret.json.signing_secret)).toMatchObject({ type: 'video.failed', data: { id: failing.json.id } });
    await unwrap(failedHook, rotated.json.signing_secret);
  });

  it('takes callback_url on the apimart-style create too; the event names the task as task_…', async () => {
    const r = await receiver();
    const secret = (await api<{ signing_secret: string }>('GET', '/v1/callback_secret')).json.signing_secret;
    const submit = (body: unknown) => api<{ code: number; data: { task_id: string }[]; error?: { param: string } }>('POST', '/v1/videos/generations', body);
    const res = await submit({ model: 'sora-2', prompt: 'sandbox:moderation a heron', callback_url: `${r.url}/apimart` });
    expect(res.status).toBe(200);
    const taskId = res.json.data[0]!.task_id;
    expect(taskId).toMatch(/^task_/);
    await r.waitFor((x) => x.accepted.length === 1);
    expect(await unwrap(r.accepted[0]!, secret)).toMatchObject({ object: 'event', type: 'video.failed', data: { id: taskId } });
    const bad = await submit({ model: 'sora-2', prompt: 'x', callback_url: 'http://10.0.0.1/cb' });
    expect(bad).toMatchObject({ status: 400, json: { code: 400, error: { param: 'callback_url' } } });
  });

  it('refuses a bad callback_url with a 400 naming callback_url, in JSON and multipart', async () => {
    for (const bad of ['ftp://example.com/cb', 'not a url', 'http://user:pw@example.com/cb', 'http://10.1.2.3/cb', 'http://localhost:9/cb', 'http://169.254.169.254/latest']) {
      const res = await api<{ error: { param: string; message: string } }>('POST', '/v1/videos', { prompt: 'x', callback_url: bad });
      expect(res.status, bad).toBe(400);
      expect(res.json.error.param).toBe('callback_url');
    }
    const form = new FormData();
    form.set('prompt', 'x');
    form.set('callback_url', 'gopher://example.com');
    const res = await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}` }, body: form });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('callback_url');
    expect((await api('POST', '/v1/videos', { prompt: 'x', callback_url: 42 })).status).toBe(400);
  });
});

describe('webhook targets and the address policy', () => {
  let gw: TestGateway;
  let r: Receiver;
  beforeAll(async () => {
    // 127.0.0.1 is allowed by name only: a host name that resolves to it is still refused.
    gw = await startGateway({ net: { allowHosts: ['127.0.0.1'], allowCidrs: [] }, webhooks: FAST_WEBHOOKS });
    r = await Receiver.start();
  });
  afterAll(async () => {
    await r?.stop();
    await gw?.close();
  });
  const create = async (url: string, event = 'video.completed') => {
    const res = await fetch(`${gw.url}/v1/webhook_endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url, event_types: [event] }),
    });
    return { status: res.status, json: (await res.json()) as { id: string; signing_secret: string; error: { param: string; code: string; message: string } } };
  };

  it('refuses private, loopback and metadata targets unless the operator allows them', async () => {
    for (const url of ['http://10.0.0.5/hook', 'http://localhost:8080/hook', 'http://[::1]/hook', 'http://192.168.1.1/hook', 'http://169.254.169.254/']) {
      const res = await create(url);
      expect(res.status, url).toBe(400);
      expect(res.json.error).toMatchObject({ param: 'url', code: 'url_not_allowed' });
    }
    expect((await create('http://10.0.0.5/hook')).json.error.message).toContain('VIDGATE_ALLOW_HOSTS');
    const allowed = await create(`${r.url}/ok`, 'video.failed');
    expect(allowed.status).toBe(200);
    const video = await gw.openai().videos.create({ prompt: 'sandbox:moderation an allowed delivery', seconds: '4' });
    await waitForVideo(gw.openai(), video.id);
    await r.waitFor((x) => x.accepted.length === 1);
    await verifier.webhooks.unwrap(r.accepted[0]!.body, r.accepted[0]!.headers as Record<string, string>, allowed.json.signing_secret);
  });

  it('checks resolved addresses at delivery time: a host name that resolves to a private address is refused', async () => {
    const name = hostname();
    const addresses = await lookup(name, { all: true }).catch(() => []);
    if (addresses.length === 0 || addresses.some((a) => classifyAddress(a.address) === null)) return; // this machine's name is public or unknown
    const e = await create(`http://${name}:${r.port}/sneaky`, 'video.failed');
    expect(e.status).toBe(200);
    const before = r.received.length;
    const video = await gw.openai().videos.create({ prompt: 'sandbox:moderation a sneaky delivery', seconds: '4' });
    await waitForVideo(gw.openai(), video.id);
    const d = await until(async () => {
      const res = await fetch(`${gw.url}/v1/webhook_deliveries?endpoint_id=${e.json.id}`, { headers: { authorization: `Bearer ${gw.key}` } });
      const [first] = ((await res.json()) as { data: DeliveryJson[] }).data;
      return first?.status === 'failed' ? first : undefined;
    }, 30_000, 'refused delivery');
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0]!.error).toMatch(/^refused/);
    expect(r.received.filter((q) => q.path === '/sneaky')).toHaveLength(0);
    expect(r.received.length).toBeGreaterThanOrEqual(before);
  });
});
