#!/usr/bin/env node
/**
 * Push latency: time from a task's completion (the created_at of its committed `video.completed`
 * row in task_events) to (a) the signed webhook arriving at a local receiver and (b) the event
 * arriving on a key-wide SSE stream (GET /v1/events). Median, p90, p99 and max over N tasks.
 *
 *   npm run build && node bench/push-latency.mjs [--tasks 1000] [--rate 50] [--mode direct|sandbox]
 *
 * Modes:
 * - direct (default): the gateway runs in this process with its worker off. Each task is created
 *   over HTTP (POST /v1/videos) and then completed through the real TaskService.complete() — the
 *   same transaction the worker commits, with the same in-transaction hooks (billing, outbox) —
 *   so the measurement is the push path alone, not ffmpeg. Completions are paced at --rate per
 *   second (open loop: the next one does not wait for the previous push).
 * - sandbox: the worker renders real MP4s with the sandbox (queue 0 ms, VIDGATE_SANDBOX_MS_PER_SECOND=0);
 *   tasks are created at --rate. Slower (ffmpeg), and the renders load the CPU while we measure.
 *
 * Arrival times are taken with performance.timeOrigin + performance.now() when the receiver has
 * the whole request body / the SSE parser has the whole event; created_at is whole milliseconds,
 * so every figure carries up to +1 ms of quantisation (+0.5 ms on average).
 */
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createApp } from '../dist/app.js';
import { loadConfig } from '../dist/config.js';
import { SseParser } from '../dist/events/sse-parser.js';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '50' },
    mode: { type: 'string', default: 'direct' },
  },
});
const N = Number(args.tasks);
const RATE = Number(args.rate);
const MODE = args.mode;
if (!Number.isInteger(N) || N < 1 || !(RATE > 0) || !['direct', 'sandbox'].includes(MODE)) {
  console.error('usage: node bench/push-latency.mjs [--tasks N] [--rate PER_SECOND] [--mode direct|sandbox]');
  process.exit(2);
}

const nowHr = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- receiver ----
const webhookAt = new Map();
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const at = nowHr();
    const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (event.type === 'video.completed' && !webhookAt.has(event.data.id)) webhookAt.set(event.data.id, at);
    res.writeHead(200).end();
  });
});
receiver.keepAliveTimeout = 10_000;
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const receiverUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

// ---- gateway ----
const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-bench-push-'));
const config = loadConfig({}, {
  port: 0,
  host: '127.0.0.1',
  dataDir,
  logLevel: 'warn',
  net: { allowHosts: [], allowCidrs: ['127.0.0.1/32'] },
  worker: { enabled: MODE === 'sandbox', concurrency: 64, leaseMs: 15_000 },
  sandbox: { queueMs: 0, msPerVideoSecond: 0, longQueueMs: 60_000, concurrency: 2 },
  limits: { rpm: 1_000_000, maxInflight: 100_000 },
});
const app = await createApp(config);
app.start();
await app.server.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${app.server.server.address().port}`;
const { secret: apiKey } = app.gateway.keys.create('bench');
const auth = { authorization: `Bearer ${apiKey}` };

const reg = await fetch(`${base}/v1/webhook_endpoints`, {
  method: 'POST',
  headers: { ...auth, 'content-type': 'application/json' },
  body: JSON.stringify({ url: receiverUrl, event_types: ['video.completed'] }),
});
if (!reg.ok) throw new Error(`endpoint registration failed: ${reg.status} ${await reg.text()}`);

// ---- key-wide SSE stream ----
const sseAt = new Map();
const sseAbort = new AbortController();
const stream = await fetch(`${base}/v1/events`, { headers: { ...auth, accept: 'text/event-stream' }, signal: sseAbort.signal });
if (stream.status !== 200) throw new Error(`SSE stream failed: ${stream.status}`);
const sseDone = (async () => {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream.body) {
      for (const item of parser.feed(decoder.decode(chunk, { stream: true }))) {
        if (item.kind !== 'message' || item.message.event !== 'video.completed') continue;
        const at = nowHr();
        const data = JSON.parse(item.message.data);
        if (!sseAt.has(data.id)) sseAt.set(data.id, at);
      }
    }
  } catch {
    // aborted at the end
  }
})();

// ---- drive tasks ----
const ids = [];
const create = async (i) => {
  const res = await fetch(`${base}/v1/videos`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: `push latency ${i}`, seconds: '4' }),
  });
  if (!res.ok) throw new Error(`create failed: ${res.status} ${await res.text()}`);
  return (await res.json()).id;
};

const service = app.gateway.service;
const owner = 'bench#driver';
const started = Date.now();
const interval = 1000 / RATE;
for (let i = 0; i < N; i++) {
  const due = started + i * interval;
  const wait = due - Date.now();
  if (wait > 0) await sleep(wait);
  const id = await create(i);
  ids.push(id);
  if (MODE === 'direct') {
    const [task] = service.store.claimDue(owner, service.now(), 60_000, 1);
    if (!task || `video_${task.id}` !== id) throw new Error('unexpected claim');
    // The worker's last step without the render: mark it completed (same transaction and hooks).
    service.advance(task, owner, { status: 'in_progress', progress: 50, startedAt: service.now(), nextRunAt: service.now() });
    const [again] = service.store.claimDue(owner, service.now(), 60_000, 1);
    if (!service.complete(again, owner, [], 4)) throw new Error('complete failed');
  }
}
const deadline = Date.now() + 10 * 60_000;
while ((webhookAt.size < N || sseAt.size < N) && Date.now() < deadline) await sleep(50);
const elapsed = (Date.now() - started) / 1000;

// ---- results ----
const completedAt = new Map(
  app.db
    .prepare(`SELECT task_id, created_at FROM task_events WHERE type = 'video.completed'`)
    .all()
    .map((r) => [`video_${r.task_id}`, r.created_at]),
);
const latencies = (arrivals) =>
  ids.filter((id) => arrivals.has(id) && completedAt.has(id)).map((id) => arrivals.get(id) - completedAt.get(id)).sort((a, b) => a - b);
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (ms) => `${ms.toFixed(1)} ms`;
const report = (name, arrivals) => {
  const l = latencies(arrivals);
  if (l.length === 0) return console.log(`${name.padEnd(8)} no arrivals`);
  console.log(
    `${name.padEnd(8)} n=${l.length}/${N}  median ${fmt(pct(l, 50))}  p90 ${fmt(pct(l, 90))}  p99 ${fmt(pct(l, 99))}  max ${fmt(l[l.length - 1])}`,
  );
};
const failed = app.db.prepare(`SELECT COUNT(*) AS n FROM task_events WHERE type = 'video.failed'`).get().n;
console.log(`push latency: mode=${MODE} tasks=${N} rate=${RATE}/s  (${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version})`);
console.log(`completed ${completedAt.size}, failed ${failed}, run ${elapsed.toFixed(1)} s, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
report('webhook', webhookAt);
report('sse', sseAt);

sseAbort.abort();
await sseDone;
await app.close();
receiver.close();
await rm(dataDir, { recursive: true, force: true });
