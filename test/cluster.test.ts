import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtures, startOpenAIVideosFake } from './fakes/index.js';
import type { OpenAIVideosFake } from './fakes/index.js';
import { postgresMissing, testDatabases } from './helpers/postgres.js';
import { spawnServer } from './helpers/process.js';
import type { ServerProcess } from './helpers/process.js';
import { Receiver, until } from './helpers/receiver.js';
import { S3TestServer } from './helpers/s3.js';
import { SseClient } from './helpers/sse.js';
import type { VideoEventData } from './helpers/sse.js';

/**
 * Issue 13's cluster test: three real gateway processes on one database and one S3 bucket, one
 * upstream channel to a fake that counts submits. 300 tasks through both dialects and four keys;
 * node B is killed with SIGKILL mid-flight and node C is restarted gracefully, node A stays up.
 * Then: every task is terminal, none was submitted twice, every key's ledger is exact, every SSE
 * client got every event of its key in order (the ones cut off resume with Last-Event-ID on a
 * live node), every webhook event was delivered (once, de-duplicated on webhook-id, as
 * docs/webhooks.md promises), every video downloads from the bucket through any live node, and
 * what one node signs (result links, stream tokens) opens on another.
 *
 * The database is a parameter: each entry of DATABASES gives the environment that puts a node on
 * it. The shared SQLite file is the data directory's (every node gets the same VIDGATE_DATA_DIR);
 * a server database is added as another entry whose env() names its URL. Assertions read only
 * through the HTTP APIs, never the database itself, so they hold for any entry.
 */
interface ClusterDatabase {
  name: string;
  /** Why this entry cannot run here (its test is skipped, saying so), if it cannot. */
  missing?(): Promise<string | undefined>;
  /** Prepare the database; returns the environment that puts a node on it. */
  env(dataDir: string): Promise<Record<string, string>>;
  close?(): Promise<void>;
}

const pgDatabases = testDatabases();
const DATABASES: ClusterDatabase[] = [
  { name: 'one SQLite file', env: async () => ({}) },
  {
    name: 'PostgreSQL',
    missing: postgresMissing,
    env: async () => ({ VIDGATE_DATABASE_URL: await pgDatabases.create() }),
    close: () => pgDatabases.dropAll(),
  },
];

const ADMIN_TOKEN = 'cluster-admin-token-0123456789';
const METRICS_TOKEN = 'cluster-metrics-token-0123456789';
const KEYS = 4;
const CREDIT_USD = 100;
const TASKS = 300;
const WEBHOOK_TYPES = new Set(['video.completed', 'video.failed', 'video.cancelled', 'video.in_progress']);
const TERMINAL_TYPES = new Set(['video.completed', 'video.failed', 'video.cancelled']);

interface Key {
  index: number;
  id: string;
  secret: string;
  signingSecret: string;
}

interface Task {
  /** The id the creating dialect answered: `video_…` (OpenAI) or `task_…` (apimart). */
  id: string;
  dialect: 'openai' | 'apimart';
  key: Key;
  prompt: string;
  /** Created while node B was still alive. */
  createdBeforeKill: boolean;
}

/** A key-wide event stream on one node, and the streams that resumed it elsewhere. */
interface KeyStream {
  key: Key;
  node: string;
  parts: SseClient[];
}

const micros = (usd: number) => Math.round(usd * 1e6);

async function pool<T, R>(items: T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

async function call(url: string, token: string, method = 'GET', body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Standard Webhooks verification, as docs/webhooks.md shows a receiver doing it. */
function signatureValid(body: string, headers: Record<string, string | string[] | undefined>, secret: string): boolean {
  const id = String(headers['webhook-id']);
  const ts = String(headers['webhook-timestamp']);
  const expected = createHmac('sha256', Buffer.from(secret.replace(/^whsec_/, ''), 'base64')).update(`${id}.${ts}.${body}`).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((s) => {
      const given = Buffer.from(s.replace(/^v1,/, ''), 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}

/** Every message of a stream and of the streams that resumed it, in arrival order. */
const streamEvents = (s: KeyStream): VideoEventData[] => s.parts.flatMap((p) => p.events);

describe.each(DATABASES)('three nodes on $name and one bucket', (database) => {
  const servers: ServerProcess[] = [];
  const streams: SseClient[] = [];
  let dataDir: string | undefined;
  let s3: S3TestServer | undefined;
  let fake: OpenAIVideosFake | undefined;
  let receiver: Receiver | undefined;
  afterAll(async () => {
    for (const s of streams) s.close();
    for (const s of servers) s.child.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.exited));
    await Promise.all([fake?.close(), receiver?.stop(), s3?.close()]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await database.close?.();
  });

  it('300 tasks through both dialects survive a SIGKILLed node and a restarted one: all terminal, none submitted twice, ledgers exact, every event streamed and delivered', { timeout: 180_000 }, async (ctx) => {
    const missing = await database.missing?.();
    if (missing) {
      console.warn(`skipped: ${missing}`);
      ctx.skip();
    }
    dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-cluster-'));
    [s3, fake, receiver] = await Promise.all([
      S3TestServer.start(),
      // Jobs long enough that node B dies while it submits, polls and downloads, short enough for the test.
      startOpenAIVideosFake({ script: { queuedMs: 200, runMs: 1_500, progress: [50] } }),
      Receiver.start(),
    ]);
    const configFile = path.join(dataDir, 'vidgate.json');
    await writeFile(
      configFile,
      JSON.stringify({
        net: { allowCidrs: ['127.0.0.1/32'] },
        upstream: { poll: { minMs: 200, maxMs: 800, firstMs: 300 }, submitTimeoutMs: 15_000, breaker: { failures: 1000, cooldownMs: 500 } },
        channels: [{ id: 'up', type: 'openai-compatible', base_url: fake.baseURL, api_key: 'sk-test', models: ['sora-2'] }],
      }),
    );
    const env: Record<string, string> = {
      VIDGATE_DATA_DIR: dataDir,
      VIDGATE_CONFIG: configFile,
      ...(await database.env(dataDir)),
      ...s3.env(),
      VIDGATE_ADMIN_TOKEN: ADMIN_TOKEN,
      VIDGATE_METRICS_TOKEN: METRICS_TOKEN,
      VIDGATE_LEASE_MS: '3000',
      VIDGATE_RPM_LIMIT: '1000000',
      VIDGATE_MAX_INFLIGHT: '1000',
      VIDGATE_SSE_POLL_MS: '200',
      VIDGATE_WEBHOOK_TIMEOUT_MS: '5000',
      VIDGATE_WEBHOOK_RETRY_BASE_MS: '200',
      VIDGATE_WEBHOOK_RETRY_MULTIPLIER: '1.5',
      VIDGATE_WEBHOOK_RETRY_MAX_DELAY_MS: '1000',
      VIDGATE_SHUTDOWN_GRACE_MS: '3000',
      VIDGATE_DOWNLOAD_CONCURRENCY: '32',
    };
    const start = async (port?: number) => {
      const s = await spawnServer(env, port);
      servers.push(s);
      return s;
    };
    // All three start at once on the new data directory, as an orchestrator starts replicas: one
    // master key and one set of migrations between them.
    const [nodeA, nodeB, firstC] = await Promise.all([start(), start(), start()]);
    let nodeC = firstC;
    const cPort = Number(new URL(nodeC.url).port);
    const live = () => [nodeA, nodeC];

    // ---- keys with credit, and a webhook endpoint for every event type of each
    const keys: Key[] = [];
    for (let index = 0; index < KEYS; index++) {
      const node = [nodeA, nodeB, nodeC][index % 3]!;
      const made = await call(`${node.url}/admin/v1/keys`, ADMIN_TOKEN, 'POST', { name: `cluster-${index}`, credit_usd: CREDIT_USD });
      expect(made.status, JSON.stringify(made.json)).toBe(200);
      const secret = made.json.key as string;
      const hook = await call(`${node.url}/v1/webhook_endpoints`, secret, 'POST', { url: `${receiver.url}/hooks/${index}`, event_types: [...WEBHOOK_TYPES] });
      expect(hook.status, JSON.stringify(hook.json)).toBe(200);
      keys.push({ index, id: made.json.id as string, secret, signingSecret: hook.json.signing_secret as string });
    }

    // ---- key-wide SSE streams on every node, opened before the first create
    const keyStreams: KeyStream[] = [];
    for (const [name, node] of [['A', nodeA], ['B', nodeB], ['C', nodeC]] as const) {
      for (const key of keys) {
        const s = await SseClient.open(`${node.url}/v1/events`, { authorization: `Bearer ${key.secret}` });
        expect(s.status).toBe(200);
        streams.push(s);
        keyStreams.push({ key, node: name, parts: [s] });
      }
    }
    for (const s of streams) await s.waitFor((c) => c.comments.includes('connected'), 10_000, 'stream connected');

    // ---- creates, spread over nodes, dialects and keys
    const tasks: Task[] = [];
    let made = 0;
    let bKilled = false;
    const create = async (node: ServerProcess, nodeName: string): Promise<void> => {
      const n = made++;
      const key = keys[n % KEYS]!;
      const dialect = Math.floor(n / KEYS) % 2 === 0 ? 'openai' : 'apimart';
      const prompt = `cluster task ${n} for key ${key.index} via ${dialect} on ${nodeName}`;
      let id: string;
      if (dialect === 'openai') {
        const r = await call(`${node.url}/v1/videos`, key.secret, 'POST', { model: 'sora-2', prompt, seconds: '4', size: '1280x720' });
        expect(r.status, JSON.stringify(r.json)).toBe(200);
        id = r.json.id as string;
      } else {
        const r = await call(`${node.url}/v1/videos/generations`, key.secret, 'POST', { model: 'sora-2', prompt, duration: 4, aspect_ratio: '16:9' });
        expect(r.status, JSON.stringify(r.json)).toBe(200);
        id = (r.json.data as { task_id: string }[])[0]!.task_id;
      }
      tasks.push({ id, dialect, key, prompt, createdBeforeKill: !bKilled });
    };
    const createOn = (plan: [ServerProcess, string][], count: number) =>
      pool(
        Array.from({ length: count }, (_, i) => plan[i % plan.length]!),
        12,
        ([node, name]) => create(node, name),
      );

    // Phase 1: 180 tasks on the three nodes.
    await createOn([[nodeA, 'A'], [nodeB, 'B'], [nodeC, 'C']], 180);

    // SIGKILL node B while its worker has steps running (submits, status checks, downloads).
    const stepsInFlight = async (node: ServerProcess): Promise<number> => {
      const res = await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      const m = /^vidgate_worker_steps_in_flight (\d+)/m.exec(await res.text());
      return Number(m?.[1] ?? 0);
    };
    await until(async () => (await stepsInFlight(nodeB)) > 0, 20_000, 'node B working on steps');
    const unfinishedAtKill = tasks.length - fake.jobList().filter((j) => j.terminal).length;
    bKilled = true;
    nodeB.child.kill('SIGKILL');
    expect(await nodeB.exited).toBe(null);
    expect(unfinishedAtKill).toBeGreaterThan(0);

    // Phase 2: 60 more on A and C; then C restarts gracefully on the same port; then the last 60.
    await createOn([[nodeA, 'A'], [nodeC, 'C']], 60);
    nodeC.child.kill('SIGTERM');
    expect(await nodeC.exited).toBe(0);
    // Back on its port (on another if something else took it meanwhile).
    nodeC = await start(cPort).catch((err: Error) => (/EADDRINUSE/.test(err.message) ? start() : Promise.reject(err)));
    await createOn([[nodeA, 'A'], [nodeC, 'C']], TASKS - 180 - 60);
    expect(tasks).toHaveLength(TASKS);

    // The streams cut off resume with Last-Event-ID: B's on node A, C's on the restarted C.
    for (const ks of keyStreams) {
      if (ks.node === 'A') continue;
      const first = ks.parts[0]!;
      await first.ended;
      const lastId = [...first.messages].reverse().find((m) => m.id !== undefined)?.id;
      const target = ks.node === 'B' ? nodeA : nodeC;
      const resumed = await SseClient.open(`${target.url}/v1/events`, { authorization: `Bearer ${ks.key.secret}`, ...(lastId ? { 'last-event-id': lastId } : {}) });
      expect(resumed.status).toBe(200);
      streams.push(resumed);
      ks.parts.push(resumed);
    }
    // Node C's streams were ended by its shutdown with a short retry, as an EventSource expects.
    for (const ks of keyStreams.filter((k) => k.node === 'C')) expect(ks.parts[0]!.items.some((i) => i.kind === 'retry' && i.ms === 500)).toBe(true);

    // ---- every task reaches a terminal state: node A's key-wide streams say when (no polling
    // load on the nodes); what each became is then read through the dialects below
    const ended = (ks: KeyStream) => new Set(streamEvents(ks).filter((e) => TERMINAL_TYPES.has(e.type)).map((e) => e.id));
    for (const ks of keyStreams.filter((k) => k.node === 'A')) {
      const ids = tasks.filter((t) => t.key === ks.key).map((t) => t.id);
      await ks.parts[0]!.waitFor(() => ids.every((id) => ended(ks).has(id)), 90_000, `every task of key ${ks.key.index} terminal`).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}: ${ids.filter((id) => !ended(ks).has(id)).join(', ')}\n${nodeA.output().slice(-3000)}`);
      });
    }

    // ---- what became of each task, read through its own dialect on a live node
    const outcomes = await pool(tasks, 16, async (t, i) => {
      const node = live()[i % 2]!;
      if (t.dialect === 'openai') {
        const v = await call(`${node.url}/v1/videos/${t.id}`, t.key.secret);
        return { status: v.json.status as string, code: (v.json.error as { code: string } | null)?.code ?? null };
      }
      const v = await call(`${node.url}/v1/tasks/${t.id}`, t.key.secret);
      const data = v.json.data as { status: string; error?: { code: string } };
      return { status: data.status, code: data.error?.code ?? null };
    });
    const admin = await pool(tasks, 16, async (t) => {
      const r = await call(`${nodeA.url}/admin/v1/tasks/${t.id}`, ADMIN_TOKEN);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      return r.json as { upstream_id: string | null; cost_usd: number; quote_usd: number; price_per_second_usd: number; status: string };
    });

    // ---- none submitted twice. The channel has no idempotency key, so a submit cut off by the
    // SIGKILL is looked up upstream by what was sent (docs/providers.md): found, the task follows
    // that job; not found (the request never got there), the task fails as upstream_submit_unknown
    // and is not charged. Either way the fake saw at most one submit per task.
    const submitsByPrompt = new Map<string, number>();
    for (const sub of fake.submissions) {
      const prompt = String(sub.body.prompt);
      submitsByPrompt.set(prompt, (submitsByPrompt.get(prompt) ?? 0) + 1);
    }
    const lost: Task[] = [];
    tasks.forEach((t, i) => {
      const o = outcomes[i]!;
      const submits = submitsByPrompt.get(t.prompt) ?? 0;
      if (o.status === 'completed') {
        expect(submits, `upstream submits of ${t.id}`).toBe(1);
        expect(fake!.jobs.get(admin[i]!.upstream_id ?? '')?.prompt, `the upstream job of ${t.id}`).toBe(t.prompt);
      } else {
        expect(o, `${t.id}: only a submit cut off by the SIGKILL may fail`).toEqual({ status: 'failed', code: 'upstream_submit_unknown' });
        expect(submits, `upstream submits of the lost ${t.id}`).toBe(0);
        expect(t.createdBeforeKill, `${t.id} was created after node B died`).toBe(true);
        lost.push(t);
      }
    });
    expect(fake.submissionCount).toBe(TASKS - lost.length);

    // ---- every key's ledger is exact: credit − the settled costs, nothing held
    for (const key of keys) {
      const mine = tasks.flatMap((t, i) => (t.key === key ? [{ t, a: admin[i]! }] : []));
      const costs = mine.filter(({ a }) => a.status === 'completed').map(({ a }) => a);
      for (const c of costs) {
        expect(c.cost_usd).toBeGreaterThan(0);
        const seconds = micros(c.cost_usd) / micros(c.price_per_second_usd);
        expect(Number.isInteger(seconds) && seconds >= 1 && seconds <= 4, `billed seconds ${seconds}`).toBe(true);
      }
      const spent = costs.reduce((sum, c) => sum + micros(c.cost_usd), 0);
      const balance = await call(`${live()[key.index % 2]!.url}/v1/balance`, key.secret);
      const data = balance.json.data as { balance: number; held: number };
      expect(micros(data.balance), `balance of key ${key.index}`).toBe(micros(CREDIT_USD) - spent);
      expect(data.held).toBe(0);
      const ledger = await call(`${nodeA.url}/admin/v1/keys/${key.id}/ledger?limit=1000`, ADMIN_TOKEN);
      const entries = ledger.json.data as { kind: string; amount_usd: number; task_id: string | null }[];
      expect(ledger.json.recomputed_balance_usd).toBe(ledger.json.balance_usd);
      expect(micros(ledger.json.balance_usd as number)).toBe(micros(CREDIT_USD) - spent);
      // The top-up, then per task a hold of its quote and a settle giving back quote − cost (or,
      // for a lost submit, a release of all of it).
      expect(entries.filter((e) => e.task_id === null).map((e) => [e.kind, e.amount_usd])).toEqual([['topup', CREDIT_USD]]);
      expect(entries.filter((e) => e.task_id !== null)).toHaveLength(2 * mine.length);
      for (const { t, a } of mine) {
        const own = entries.filter((e) => e.task_id === `video_${t.id.replace(/^(video|task)_/, '')}`).map((e) => [e.kind, micros(e.amount_usd)]);
        const quote = micros(a.quote_usd);
        expect(own.sort(), `ledger of ${t.id}`).toEqual([['hold', -quote], a.status === 'completed' ? ['settle', quote - micros(a.cost_usd)] : ['release', quote]]);
      }
    }

    // ---- the events of each task, replayed by its own stream on a live node
    const taskEvents = new Map<string, VideoEventData[]>();
    await pool(tasks, 16, async (t, i) => {
      const s = await SseClient.open(`${live()[i % 2]!.url}/v1/videos/${t.id}/events`, { authorization: `Bearer ${t.key.secret}` });
      await s.ended;
      const events = s.events;
      expect(events[0]?.type, `${t.id} on ${live()[i % 2]!.url}: HTTP ${s.status}, ${events.length} events, comments ${JSON.stringify(s.comments)}`).toBe('video.created');
      expect(TERMINAL_TYPES.has(events[events.length - 1]!.type)).toBe(true);
      expect(events.every((e) => e.id === t.id)).toBe(true);
      taskEvents.set(t.id, events);
    });

    // ---- every key-wide stream got every event of its key's tasks, in order, none twice
    for (const ks of keyStreams) {
      const expected = tasks
        .filter((t) => t.key === ks.key)
        .flatMap((t) => taskEvents.get(t.id)!)
        .map((e) => e.seq)
        .sort((a, b) => a - b);
      const last = ks.parts[ks.parts.length - 1]!;
      await last.waitFor(() => streamEvents(ks).length >= expected.length, 20_000, `key ${ks.key.index} on node ${ks.node}: ${expected.length} events`);
      expect(
        streamEvents(ks).map((e) => e.seq),
        `events of key ${ks.key.index} on node ${ks.node}`,
      ).toEqual(expected);
    }

    // ---- every webhook event delivered, signed, to its key's endpoint (at least once, same webhook-id)
    const expectedHooks = new Map<string, string[]>();
    for (const t of tasks) {
      expectedHooks.set(
        t.id,
        taskEvents
          .get(t.id)!
          .filter((e) => WEBHOOK_TYPES.has(e.type))
          .map((e) => `${e.type}:${e.type === 'video.in_progress' ? e.progress : ''}`),
      );
    }
    const total = [...expectedHooks.values()].reduce((s, l) => s + l.length, 0);
    await receiver.waitFor((r) => new Set(r.accepted.map((q) => q.headers['webhook-id'])).size >= total, 30_000, `${total} webhook deliveries`);
    const firstByHook = new Map<string, { video: string; label: string }>();
    const hookIdByEvent = new Map<string, Set<string>>();
    for (const q of receiver.accepted) {
      const key = keys[Number(q.path.split('/').pop())]!;
      expect(signatureValid(q.body, q.headers, key.signingSecret), `signature of ${String(q.headers['webhook-id'])}`).toBe(true);
      const body = JSON.parse(q.body) as { id: string; type: string; data: { id: string; progress?: number } };
      expect(tasks.find((t) => t.id === body.data.id)?.key, `endpoint of ${body.data.id}`).toBe(key);
      const hookId = String(q.headers['webhook-id']);
      if (!hookIdByEvent.has(body.id)) hookIdByEvent.set(body.id, new Set());
      hookIdByEvent.get(body.id)!.add(hookId);
      if (!firstByHook.has(hookId)) firstByHook.set(hookId, { video: body.data.id, label: `${body.type}:${body.type === 'video.in_progress' ? body.data.progress : ''}` });
    }
    // One event, one webhook-id (a redelivery repeats it); per video, in event order.
    for (const ids of hookIdByEvent.values()) expect(ids.size).toBe(1);
    expect(firstByHook.size).toBe(total);
    const gotHooks = new Map<string, string[]>();
    for (const h of firstByHook.values()) gotHooks.set(h.video, [...(gotHooks.get(h.video) ?? []), h.label]);
    for (const t of tasks) expect(gotHooks.get(t.id) ?? [], `webhooks of ${t.id}`).toEqual(expectedHooks.get(t.id));
    // And the deliveries API agrees: nothing pending, nothing given up.
    for (const key of keys) {
      const failed = await call(`${nodeA.url}/v1/webhook_deliveries?status=failed&limit=10`, key.secret);
      expect(failed.json.data, `failed deliveries of key ${key.index}`).toEqual([]);
      // An attempt is recorded just after the receiver's answer arrives.
      await until(async () => ((await call(`${nodeA.url}/v1/webhook_deliveries?status=pending&limit=10`, key.secret)).json.data as unknown[]).length === 0, 10_000, `no pending deliveries of key ${key.index}`);
    }

    // ---- the finished videos download from the bucket through either live node
    const sample = fixtures.sampleMp4();
    const finished = tasks.filter((t) => !lost.includes(t));
    await pool(finished, 12, async (t, i) => {
      const res = await fetch(`${live()[i % 2]!.url}/v1/videos/${t.id}/content`, { headers: { authorization: `Bearer ${t.key.secret}` } });
      expect(res.status, t.id).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(sample), `content of ${t.id}`).toBe(true);
    });
    // What one node signs, another honours (one master key): apimart's result links and stream tokens.
    const [signer, checker] = [nodeA, nodeC];
    for (const t of finished.filter((x) => x.dialect === 'apimart').slice(0, 8)) {
      const data = (await call(`${signer.url}/v1/tasks/${t.id}`, t.key.secret)).json.data as { result: { videos: { url: string[] }[] } };
      const link = new URL(data.result.videos[0]!.url[0]!);
      const res = await fetch(`${checker.url}${link.pathname}${link.search}`);
      expect(res.status, `${t.id}: a link from node A opened on node C`).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(sample)).toBe(true);
    }
    const t0 = finished[0]!;
    const token = await call(`${signer.url}/v1/stream_tokens`, t0.key.secret, 'POST', { video_id: t0.id, ttl_seconds: 60 });
    expect(token.status, JSON.stringify(token.json)).toBe(200);
    const viaToken = await SseClient.open(`${checker.url}/v1/videos/${t0.id}/events?access_token=${encodeURIComponent(token.json.token as string)}`);
    expect(viaToken.status).toBe(200);
    await viaToken.ended;
    expect(viaToken.events.map((e) => e.seq)).toEqual(taskEvents.get(t0.id)!.map((e) => e.seq));

    const objects = await s3.keys();
    for (const t of finished) expect(objects.some((k) => k.startsWith(`${t.id.replace(/^(video|task)_/, '')}/`)), `objects of ${t.id}`).toBe(true);
    const localBlobs = path.join(dataDir, 'blobs');
    expect(existsSync(localBlobs) ? await readdir(localBlobs) : []).toEqual([]);

    nodeC.child.kill('SIGTERM');
    nodeA.child.kill('SIGTERM');
    expect(await Promise.all([nodeA.exited, nodeC.exited])).toEqual([0, 0]);
  });
});
