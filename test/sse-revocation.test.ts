import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway } from './helpers/gateway.js';
import { SseClient } from './helpers/sse.js';

const ADMIN = 'sse-revocation-admin-token-0123456789';
/** A long render, so that the per-video stream is still open when the key is revoked. */
const SANDBOX = { queueMs: 60_000, msPerVideoSecond: 40, longQueueMs: 60_000, concurrency: 1 };

describe('revocation reaches open event streams', () => {
  let gw: TestGateway;
  const streams: SseClient[] = [];
  const open = async (p: string, key: string | null) => {
    const s = await SseClient.open(`${gw.url}${p}`, key ? { authorization: `Bearer ${key}` } : {});
    streams.push(s);
    expect(s.status).toBe(200);
    return s;
  };
  /** Resolves with the milliseconds it took the server to end the stream, or rejects after `ms`. */
  const endsWithin = async (s: SseClient, ms: number) => {
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([s.ended, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`stream still open after ${ms} ms`)), ms)))]);
    clearTimeout(timer);
    return Date.now() - t0;
  };
  const newKey = async (name: string) => {
    const res = await fetch(`${gw.url}/admin/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, test: true }),
    });
    return (await res.json()) as { id: string; key: string };
  };

  beforeAll(async () => {
    // Default stream settings (heartbeat 15 s, checks every second): nothing else ends these streams.
    gw = await startGateway({ adminToken: ADMIN, sandbox: SANDBOX });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await gw?.close();
  });

  it('revoking a key over the admin API ends its key-wide, per-video and stream-token streams within two seconds; other keys stream on', async () => {
    const k = await newKey('to-revoke');
    const other = await newKey('bystander');
    const auth = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
    const video = (await (await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: auth(k.key), body: JSON.stringify({ prompt: 'a slow harbour', seconds: '4' }) })).json()) as { id: string };
    const token = (await (await fetch(`${gw.url}/v1/stream_tokens`, { method: 'POST', headers: auth(k.key), body: '{}' })).json()) as { token: string };

    const wide = await open('/v1/events', k.key);
    const perVideo = await open(`/v1/videos/${video.id}/events`, k.key);
    const byToken = await open(`/v1/events?access_token=${encodeURIComponent(token.token)}`, null);
    const bystander = await open('/v1/events', other.key);
    await perVideo.waitFor((c) => c.events.length >= 1, 10_000, 'the backlog');

    const revoked = await fetch(`${gw.url}/admin/v1/keys/${k.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(revoked.status).toBe(200);
    for (const s of [wide, perVideo, byToken]) {
      expect(await endsWithin(s, 2500)).toBeLessThan(2500);
      expect(s.comments.some((c) => c.includes('revoked'))).toBe(true);
    }
    // Reconnecting is refused (EventSource stops on a 401).
    expect((await fetch(`${gw.url}/v1/events`, { headers: { authorization: `Bearer ${k.key}` } })).status).toBe(401);
    expect((await fetch(`${gw.url}/v1/events?access_token=${encodeURIComponent(token.token)}`)).status).toBe(401);

    // The other key's stream is untouched and still delivers.
    const mine = (await (await fetch(`${gw.url}/v1/videos`, { method: 'POST', headers: auth(other.key), body: JSON.stringify({ prompt: 'still here', seconds: '4' }) })).json()) as { id: string };
    await bystander.waitFor((c) => c.events.some((e) => e.id === mine.id), 10_000, "the bystander's event");
  });

  it('a key revoked or deleted by another process (CLI, another gateway on the same database) ends its streams too', async () => {
    const a = await newKey('revoked-elsewhere');
    const b = await newKey('deleted-elsewhere');
    const sa = await open('/v1/events', a.key);
    const sb = await open('/v1/events', b.key);
    const other = new Database(path.join(gw.dataDir, 'vidgate.db'));
    try {
      other.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').run(Date.now(), a.id);
      other.prepare('DELETE FROM api_keys WHERE id = ?').run(b.id);
    } finally {
      other.close();
    }
    expect(await endsWithin(sa, 2500)).toBeLessThan(2500);
    expect(await endsWithin(sb, 2500)).toBeLessThan(2500);
  });
});
