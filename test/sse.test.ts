import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { until } from './helpers/receiver.js';
import { SseClient } from './helpers/sse.js';
import { checkContract } from './helpers/contract.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

/** Renders slow enough (a 4 s video takes ~1.2 s plus ffmpeg) for a reconnect in the middle. */
const SANDBOX = { queueMs: 150, msPerVideoSecond: 300, longQueueMs: 60_000, concurrency: 2 };

describe('live progress (Server-Sent Events)', () => {
  let gw: TestGateway;
  let client: OpenAI;
  const streams: SseClient[] = [];
  const open = async (path: string, headers: Record<string, string> = {}, key: string | null = gw.key) => {
    const s = await SseClient.open(`${gw.url}${path}`, { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers });
    streams.push(s);
    return s;
  };
  const dbEvents = (videoId: string) =>
    gw.app.db.all<{ seq: number; type: string }>('SELECT seq, type FROM task_events WHERE task_id = ? ORDER BY seq', [videoId.slice('video_'.length)]);

  beforeAll(async () => {
    gw = await startGateway({ sandbox: SANDBOX, sse: { heartbeatMs: 200, pollMs: 50, tokenTtlSeconds: 3600 } });
    client = gw.openai();
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await gw?.close();
  });

  it('streams a whole task life, resumes with Last-Event-ID without losing or repeating an event, then closes', async () => {
    const video = await client.videos.create({ prompt: 'A hot air balloon over hills', seconds: '4' });
    const first = await open(`/v1/videos/${video.id}/events`);
    expect(first.status).toBe(200);
    expect(first.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(first.response.headers.get('cache-control')).toContain('no-cache');
    expect(first.response.headers.get('x-accel-buffering')).toBe('no');
    expect(first.response.headers.get('x-request-id')).toMatch(/^req_/);

    await first.waitFor((s) => s.messages.length >= 2, 30_000, 'two events');
    first.close();
    const seen = first.messages;
    const lastId = seen[seen.length - 1]!.id!;
    expect(seen[0]!.event).toBe('video.created');

    const second = await open(`/v1/videos/${video.id}/events`, { 'last-event-id': lastId });
    await second.ended; // the server closes the stream after the terminal event
    const resumed = second.messages;
    expect(resumed.length).toBeGreaterThan(0);
    expect(Number(resumed[0]!.id)).toBeGreaterThan(Number(lastId));

    const all = [...seen, ...resumed];
    const seqs = all.map((m) => Number(m.id));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    // Exactly the rows GET answers from, in order.
    expect(all.map((m) => ({ seq: Number(m.id), type: m.event }))).toEqual(await dbEvents(video.id));
    const data = [...first.events, ...second.events];
    expect(data[data.length - 1]).toMatchObject({ object: 'video.event', type: 'video.completed', id: video.id, status: 'completed', progress: 100, error: null });
    expect(data.filter((d) => d.type === 'video.in_progress').length).toBeGreaterThan(1);
    const progress = data.map((d) => d.progress);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect((await client.videos.retrieve(video.id)).status).toBe('completed');

    // After the end: reconnecting with the last id gets 204 (EventSource stops); a fresh stream replays and closes.
    const after = await fetch(`${gw.url}/v1/videos/${video.id}/events`, { headers: { authorization: `Bearer ${gw.key}`, 'last-event-id': resumed[resumed.length - 1]!.id! } });
    expect(after.status).toBe(204);
    const replay = await open(`/v1/videos/${video.id}/events`);
    await replay.ended;
    expect(replay.messages.map((m) => Number(m.id))).toEqual((await dbEvents(video.id)).map((e) => e.seq));
  });

  it('reports a failure with its error and ends the stream', async () => {
    const video = await client.videos.create({ prompt: 'sandbox:moderation a crowd', seconds: '4' });
    const s = await open(`/v1/videos/${video.id}/events`);
    await s.ended;
    expect(s.events[s.events.length - 1]).toMatchObject({ type: 'video.failed', status: 'failed', error: { code: 'moderation_blocked' } });
  });

  it("streams every event of the key's videos on /v1/events, with heartbeats, and resumes with Last-Event-ID", async () => {
    const other = await gw.newKey('other');
    const wide = await open('/v1/events');
    expect(wide.status).toBe(200);
    await wide.waitFor((s) => s.comments.includes('ping'), 10_000, 'a heartbeat');

    // Failing magic prompts: real progress and terminal events without a render.
    const a = await client.videos.create({ prompt: 'sandbox:fail a red bicycle', seconds: '4' });
    const theirs = await gw.openai(other.secret).videos.create({ prompt: 'sandbox:fail not yours', seconds: '4' });
    const b = await client.videos.create({ prompt: 'sandbox:moderation a blue bicycle', seconds: '4' });
    const done = (s: SseClient, id: string) => s.events.some((e) => e.id === id && e.type === 'video.failed');
    await wide.waitFor((s) => done(s, a.id) && done(s, b.id), 60_000, 'both endings');
    await waitForVideo(gw.openai(other.secret), theirs.id);
    expect(wide.events.some((e) => e.id === theirs.id)).toBe(false);
    const mine = wide.messages.filter((m) => [a.id, b.id].includes((JSON.parse(m.data) as { id: string }).id));
    expect(mine.map((m) => Number(m.id))).toEqual([...(await dbEvents(a.id)), ...(await dbEvents(b.id))].map((e) => e.seq).sort((x, y) => x - y));
    // The stream stays open after the videos end.
    expect(wide.items.length).toBeGreaterThan(0);
    wide.close();

    const from = mine[2]!.id!;
    const resumed = await open('/v1/events', { 'last-event-id': from });
    await resumed.waitFor((s) => s.messages.length >= mine.length - 3, 10_000, 'backlog');
    expect(resumed.messages.slice(0, mine.length - 3).map((m) => m.id)).toEqual(mine.slice(3).map((m) => m.id));
  });

  it('guards streams like other routes: 401, 404 for another key, 400 for a bad Last-Event-ID', async () => {
    const video = await client.videos.create({ prompt: 'sandbox:moderation a private video', seconds: '4' });
    const other = await gw.newKey('nosy');
    const get = (path: string, headers: Record<string, string>) => fetch(`${gw.url}${path}`, { headers });
    expect((await get(`/v1/videos/${video.id}/events`, {})).status).toBe(401);
    expect((await get('/v1/events', {})).status).toBe(401);
    const nosy = await get(`/v1/videos/${video.id}/events`, { authorization: `Bearer ${other.secret}` });
    expect(nosy.status).toBe(404);
    expect(((await nosy.json()) as { error: { param: string } }).error.param).toBe('video_id');
    const bad = await get(`/v1/videos/${video.id}/events`, { authorization: `Bearer ${gw.key}`, 'last-event-id': 'abc' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe('Last-Event-ID');
  });

  it('opens streams for EventSource with short-lived, scoped stream tokens (?access_token=)', async () => {
    const mint = async (body: unknown, key = gw.key) => {
      const res = await fetch(`${gw.url}/v1/stream_tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as { token: string; expires_at: number; error?: { param: string } } };
    };
    const video = await client.videos.create({ prompt: 'sandbox:moderation a scoped stream', seconds: '4' });
    const elsewhere = await client.videos.create({ prompt: 'sandbox:moderation another video', seconds: '4' });
    const { json } = await mint({ video_id: video.id });
    expect(json.token).toMatch(/^vgst_/);
    expect(json.expires_at).toBeGreaterThan(Date.now() / 1000);

    const s = await open(`/v1/videos/${video.id}/events?access_token=${encodeURIComponent(json.token)}`, {}, null);
    expect(s.status).toBe(200);
    await s.ended;
    expect(s.events[s.events.length - 1]!.type).toBe('video.failed');

    const q = `access_token=${encodeURIComponent(json.token)}`;
    expect((await fetch(`${gw.url}/v1/videos/${elsewhere.id}/events?${q}`)).status).toBe(403);
    expect((await fetch(`${gw.url}/v1/events?${q}`)).status).toBe(403);
    // A stream token opens event streams only.
    expect((await fetch(`${gw.url}/v1/videos/${video.id}`, { headers: { authorization: `Bearer ${json.token}` } })).status).toBe(401);
    expect((await fetch(`${gw.url}/v1/videos?${q}`)).status).toBe(401);

    // A key-wide token opens /v1/events; a tampered or expired one is a 401.
    const wide = await mint({ ttl_seconds: 1 });
    const ws = await open(`/v1/events?access_token=${encodeURIComponent(wide.json.token)}`, {}, null);
    expect(ws.status).toBe(200);
    ws.close();
    expect((await fetch(`${gw.url}/v1/events?access_token=${encodeURIComponent(wide.json.token.slice(0, -2) + 'xx')}`)).status).toBe(401);
    await until(() => Date.now() / 1000 > wide.json.expires_at + 0.05, 10_000, 'token expiry');
    expect((await fetch(`${gw.url}/v1/events?access_token=${encodeURIComponent(wide.json.token)}`)).status).toBe(401);

    // Tokens die with their key; they are minted only for the key's own videos.
    const temp = await gw.newKey('temp');
    const tempToken = await mint({}, temp.secret);
    await gw.app.gateway.keys.revoke(temp.id);
    expect((await fetch(`${gw.url}/v1/events?access_token=${encodeURIComponent(tempToken.json.token)}`)).status).toBe(401);
    const stranger = await gw.newKey('stranger');
    expect(await mint({ video_id: video.id }, stranger.secret)).toMatchObject({ status: 404, json: { error: { param: 'video_id' } } });
  });
});

describe('live progress across processes sharing one database', () => {
  let driver: TestGateway;
  let reader: App;
  let readerUrl: string;

  beforeAll(async () => {
    driver = await startGateway({ sandbox: SANDBOX });
    // A second gateway on the same data directory (and database) that drives no tasks: it only sees the events through the database.
    reader = await createApp(
      loadConfig({}, { port: 0, host: '127.0.0.1', dataDir: driver.dataDir, databaseUrl: driver.app.config.databaseUrl, logLevel: 'silent', worker: { enabled: false }, webhooks: { enabled: false }, sse: { pollMs: 50 } }),
    );
    reader.start();
    await reader.server.listen({ port: 0, host: '127.0.0.1' });
    const addr = reader.server.server.address();
    readerUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    await reader?.close();
    await driver?.close();
  });

  it("streams a task driven by another process (periodic catch-up from task_events)", async () => {
    const video = await driver.openai().videos.create({ prompt: 'sandbox:fail a task driven elsewhere', seconds: '4' });
    const s = await SseClient.open(`${readerUrl}/v1/videos/${video.id}/events`, { authorization: `Bearer ${driver.key}` });
    await s.ended;
    // Every event the driving process recorded, in order, and nothing else (whether the sandbox
    // failed the task before or after it reported in_progress depends on timing).
    const rows = await driver.app.db.all<{ seq: number; type: string }>('SELECT seq, type FROM task_events WHERE task_id = ? ORDER BY seq', [video.id.slice(6)]);
    expect(s.messages.map((m) => [Number(m.id), m.event])).toEqual(rows.map((r) => [r.seq, r.type]));
    expect(s.messages[0]!.event).toBe('video.created');
    expect(s.messages[s.messages.length - 1]!.event).toBe('video.failed');
  });
});
