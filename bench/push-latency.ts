/**
 * Push latency: time from a task's completion (the created_at of its committed `video.completed`
 * row in task_events) to (a) the signed webhook arriving at a local receiver and (b) the event
 * arriving on a key-wide SSE stream (GET /v1/events). Median, p90, p99 and max over N tasks.
 *
 *   npm run bench push                                     # 1,000 tasks, direct mode (in the harness)
 *   npx tsx bench/push-latency.ts [--tasks 1000] [--rate 50] [--mode direct|sandbox]
 *
 * Modes (see bench/README.md):
 * - direct: the gateway runs in this process with its worker off. Each task is created over
 *   HTTP (POST /v1/videos), then driven through the real TaskService — advance() to in_progress
 *   and complete(), the transaction the worker commits after a render, with the same
 *   in-transaction hooks (billing, outbox) — so the figure is the push path, not ffmpeg.
 *   Completions are paced at --rate per second, open loop.
 * - sandbox: the worker renders real MP4s (queue 0 ms, msPerVideoSecond 0); tasks are created
 *   at --rate, and the renders load the CPU while pushes are timed.
 *
 * Arrivals are timed with performance.timeOrigin + performance.now() once the receiver has the
 * whole body / the parser the whole event; created_at is whole milliseconds, so each figure
 * carries up to +1 ms of quantisation.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { SseParser } from '../src/events/sse-parser.js';
import { fmt, machine, percentile } from './lib.js';

export interface PushOptions {
  tasks: number;
  /** Completions (direct) or creations (sandbox) per second. */
  rate: number;
  mode: 'direct' | 'sandbox';
}

export interface PushResult {
  webhook: number[];
  sse: number[];
  completed: number;
  seconds: number;
  load: number[];
}

const nowHr = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measurePush(o: PushOptions): Promise<PushResult> {
  // ---- receiver ----
  const webhookAt = new Map<string, number>();
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = nowHr();
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; data: { id: string } };
      if (event.type === 'video.completed' && !webhookAt.has(event.data.id)) webhookAt.set(event.data.id, at);
      res.writeHead(200).end();
    });
  });
  receiver.keepAliveTimeout = 10_000;
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  // ---- gateway ----
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vidgate-bench-push-'));
  const app = await createApp(
    loadConfig({}, {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      logLevel: 'warn',
      net: { allowHosts: [], allowCidrs: ['127.0.0.1/32'] },
      worker: { enabled: o.mode === 'sandbox', concurrency: 64, leaseMs: 15_000 },
      sandbox: { queueMs: 0, msPerVideoSecond: 0, longQueueMs: 60_000, concurrency: 2 },
      limits: { rpm: 1_000_000, maxInflight: 100_000 },
    }),
  );
  const sseAbort = new AbortController();
  try {
    app.start();
    await app.server.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
    const { secret } = await app.gateway.keys.create('bench');
    const auth = { authorization: `Bearer ${secret}` };
    const json = { ...auth, 'content-type': 'application/json' };

    const reg = await fetch(`${base}/v1/webhook_endpoints`, { method: 'POST', headers: json, body: JSON.stringify({ url: receiverUrl, event_types: ['video.completed'] }) });
    if (!reg.ok) throw new Error(`endpoint registration failed: ${reg.status} ${await reg.text()}`);

    // ---- key-wide SSE stream ----
    const sseAt = new Map<string, number>();
    const stream = await fetch(`${base}/v1/events`, { headers: { ...auth, accept: 'text/event-stream' }, signal: sseAbort.signal });
    if (stream.status !== 200 || !stream.body) throw new Error(`SSE stream failed: ${stream.status}`);
    const body = stream.body as unknown as AsyncIterable<Uint8Array>;
    const sseDone = (async () => {
      const parser = new SseParser();
      const decoder = new TextDecoder();
      try {
        for await (const chunk of body) {
          for (const item of parser.feed(decoder.decode(chunk, { stream: true }))) {
            if (item.kind !== 'message' || item.message.event !== 'video.completed') continue;
            const at = nowHr();
            const id = (JSON.parse(item.message.data) as { id: string }).id;
            if (!sseAt.has(id)) sseAt.set(id, at);
          }
        }
      } catch {
        // aborted at the end
      }
    })();

    // ---- drive tasks ----
    const service = app.gateway.service;
    const owner = 'bench#driver';
    const ids: string[] = [];
    const started = Date.now();
    for (let i = 0; i < o.tasks; i++) {
      const wait = started + (i * 1000) / o.rate - Date.now();
      if (wait > 0) await sleep(wait);
      const res = await fetch(`${base}/v1/videos`, { method: 'POST', headers: json, body: JSON.stringify({ prompt: `push latency ${i}`, seconds: '4' }) });
      if (!res.ok) throw new Error(`create failed: ${res.status} ${await res.text()}`);
      const id = ((await res.json()) as { id: string }).id;
      ids.push(id);
      if (o.mode === 'direct') {
        const [task] = await service.store.claimDue(owner, service.now(), 60_000, 1);
        if (!task || `video_${task.id}` !== id) throw new Error('unexpected claim');
        await service.advance(task, owner, { status: 'in_progress', progress: 50, startedAt: service.now(), nextRunAt: service.now() });
        const [again] = await service.store.claimDue(owner, service.now(), 60_000, 1);
        if (!again || !(await service.complete(again, owner, [], 4))) throw new Error('complete failed');
      }
    }
    const deadline = Date.now() + 15 * 60_000;
    while ((webhookAt.size < o.tasks || sseAt.size < o.tasks) && Date.now() < deadline) await sleep(50);
    const seconds = (Date.now() - started) / 1000;

    const completedAt = new Map(
      (await app.db.all<{ task_id: string; created_at: number }>(`SELECT task_id, created_at FROM task_events WHERE type = 'video.completed'`)).map(
        (r) => [`video_${r.task_id}`, r.created_at],
      ),
    );
    const latencies = (arrivals: Map<string, number>) =>
      ids.filter((id) => arrivals.has(id) && completedAt.has(id)).map((id) => arrivals.get(id)! - completedAt.get(id)!);
    const result = { webhook: latencies(webhookAt), sse: latencies(sseAt), completed: completedAt.size, seconds, load: loadavg() };
    sseAbort.abort();
    await sseDone;
    return result;
  } finally {
    sseAbort.abort();
    await app.close();
    receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Markdown for bench/RESULTS.md (the harness's `npm run bench push`). */
export async function pushBench(o: PushOptions): Promise<string> {
  const r = await measurePush(o);
  const ms = (v: number) => `${fmt(v, 1)} ms`;
  const row = (name: string, l: number[]) =>
    l.length === 0
      ? `| ${name} | 0/${o.tasks} | – | – | – | – |`
      : `| ${name} | ${l.length}/${o.tasks} | ${ms(percentile(l, 50))} | ${ms(percentile(l, 90))} | ${ms(percentile(l, 99))} | ${ms(Math.max(...l))} |`;
  return [
    `Push latency, mode ${o.mode}, ${o.tasks} tasks at ${o.rate}/s (${r.completed} completed in ${fmt(r.seconds, 1)} s; load average ${r.load.map((v) => v.toFixed(1)).join(' ')}): commit of video.completed → arrival.`,
    '',
    '| Path | Arrived | Median | p90 | p99 | Max |',
    '|---|---:|---:|---:|---:|---:|',
    row('webhook (signed POST to a local receiver)', r.webhook),
    row('SSE (key-wide GET /v1/events)', r.sse),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { tasks: { type: 'string', default: '1000' }, rate: { type: 'string', default: '50' }, mode: { type: 'string', default: 'direct' } } });
  const o: PushOptions = { tasks: Number(values.tasks), rate: Number(values.rate), mode: values.mode as PushOptions['mode'] };
  if (!Number.isInteger(o.tasks) || o.tasks < 1 || !(o.rate > 0) || !['direct', 'sandbox'].includes(o.mode)) {
    console.error('usage: npx tsx bench/push-latency.ts [--tasks N] [--rate PER_SECOND] [--mode direct|sandbox]');
    process.exit(2);
  }
  console.log(`Machine: ${machine()}\n`);
  console.log(await pushBench(o));
}
