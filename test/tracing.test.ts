import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { taskTraceIds } from '../src/ops/tracing.js';
import type { OpenAIVideosFake } from './fakes/index.js';
import { promptDirectives, startOpenAIVideosFake } from './fakes/index.js';
import type { TestGateway } from './helpers/gateway.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import { OtlpReceiver } from './helpers/otlp.js';
import type { ReceivedSpan } from './helpers/otlp.js';
import { until } from './helpers/receiver.js';
import { channel, createVideo, getVideo, startWithChannels, waitAllTerminal } from './helpers/upstreams.js';

const OTEL = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_BSP_SCHEDULE_DELAY', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES'];

function tracingEnv(receiver: OtlpReceiver, extra: Record<string, string> = {}): void {
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_SERVICE_NAME: 'vidgate-test', ...extra });
}

const names = (spans: ReceivedSpan[]) => spans.map((s) => s.name);

/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, an in-test OTLP receiver gets one task's trace: the
 * create request, the submit, each status call, the download and the completion as spans of
 * one trace derived from the task id, across a restart of the gateway.
 */
const TASK_SPANS = ['video.create', 'video.submit', 'video.status', 'video.fetch', 'video.complete', 'video.task'];

describe('traces', () => {
  let receiver: OtlpReceiver;
  let fake: OpenAIVideosFake;
  const open: TestGateway[] = [];

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    fake = await startOpenAIVideosFake({ script: promptDirectives({ queuedMs: 50, runMs: 300 }) });
  });
  afterEach(() => {
    for (const name of OTEL) delete process.env[name];
  });
  afterAll(async () => {
    for (const gw of open) await gw.close().catch(() => undefined);
    await Promise.all([receiver?.stop(), fake?.close()]);
  });

  it('follows one upstream task from the create request to its completion, across a restart (OTLP JSON)', async () => {
    tracingEnv(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_RESOURCE_ATTRIBUTES: 'service.instance.id=first' });
    const first = await startWithChannels([channel('oa', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })]);
    expect(first.app.telemetry.tracing).toBeDefined();

    // The client's own trace continues into the create request.
    const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const created = await createVideo(first, first.key, { model: 'sora-2', prompt: 'a heron at dawn [[fake: queuedMs=2500]]', seconds: '4' }, {
      traceparent: `00-${clientTrace}-00f067aa0ba902b7-01`,
    });
    expect(created.status).toBe(200);
    const publicId = created.json.id as string;
    const { traceId, spanId: rootId } = taskTraceIds(publicId.replace(/^video_/, ''));
    await until(() => receiver.inTrace(traceId).some((s) => s.name === 'video.status'), 30_000, 'a status span from the first process');

    // Restart: the first process drains, another one (same database) finishes the task.
    await first.app.close();
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'service.instance.id=second';
    const second = await startGateway({
      dataDir: first.dataDir,
      channels: [channel('oa', 'openai-compatible', fake.baseURL, { models: ['sora-2'] })],
      net: { allowCidrs: ['127.0.0.1/32'], allowHosts: [] },
      upstream: { poll: { minMs: 50, maxMs: 500, firstMs: 100 } },
    });
    open.push(second);
    const done = await waitAllTerminal(second, first.key, [publicId], 60_000);
    expect(done.get(publicId)!.status).toBe('completed');
    const spans = await until(() => {
      // Spans come in batches whose requests may arrive out of order: wait for every kind.
      const s = receiver.inTrace(traceId);
      return TASK_SPANS.every((n) => s.some((x) => x.name === n)) ? s : undefined;
    }, 30_000, 'every span of the task');

    const task = spans.filter((s) => s.name.startsWith('video.'));
    expect(new Set(names(task))).toEqual(new Set(TASK_SPANS));
    expect(names(task).filter((n) => n === 'video.submit')).toHaveLength(1);
    expect(names(task).filter((n) => n === 'video.status').length).toBeGreaterThanOrEqual(2);
    const root = task.find((s) => s.name === 'video.task')!;
    expect(root).toMatchObject({ spanId: rootId, parentSpanId: '', service: 'vidgate-test' });
    expect(root.attributes).toMatchObject({ 'vidgate.task.id': publicId.replace(/^video_/, ''), 'vidgate.task.status': 'completed', 'vidgate.task.model': 'sora-2' });
    for (const s of task.filter((x) => x !== root)) expect(s.parentSpanId, s.name).toBe(rootId);
    // Both processes contributed to the one trace.
    const byInstance = (i: string) => names(task.filter((s) => s.instance === i));
    expect(byInstance('first')).toEqual(expect.arrayContaining(['video.create', 'video.submit', 'video.status']));
    expect(byInstance('second')).toEqual(expect.arrayContaining(['video.status', 'video.fetch', 'video.complete', 'video.task']));

    // Upstream calls are client spans under their step.
    const stepIds = new Map(task.map((s) => [s.spanId, s.name]));
    const calls = spans.filter((s) => s.kind === 3);
    expect(calls.map((c) => [c.name, stepIds.get(c.parentSpanId)])).toEqual(
      expect.arrayContaining([['POST submit', 'video.submit'], ['GET status', 'video.status'], ['GET download', 'video.fetch']]),
    );
    expect(calls.every((c) => c.attributes['vidgate.channel'] === 'oa')).toBe(true);

    // The create request's server span is in the client's trace, linked both ways with video.create.
    const request = receiver.inTrace(clientTrace).find((s) => s.name === 'POST /v1/videos')!;
    expect(request).toBeDefined();
    expect(request.kind).toBe(2);
    expect(request.attributes).toMatchObject({ 'http.route': '/v1/videos', 'http.response.status_code': 200, 'vidgate.task.id': publicId.replace(/^video_/, '') });
    expect(request.links).toEqual([{ traceId, spanId: rootId }]);
    expect(task.find((s) => s.name === 'video.create')!.links).toEqual([{ traceId: clientTrace, spanId: request.spanId }]);
    // Nothing secret or unbounded in span attributes: no prompt, no key.
    const everything = JSON.stringify(receiver.spans);
    expect(everything).not.toContain('a heron at dawn');
    expect(everything).not.toContain(first.key);
  });

  it('sends OTLP protobuf by default, with the same spans for a sandbox task', async () => {
    tracingEnv(receiver);
    const gw = await startGateway();
    open.push(gw);
    const client = gw.openai();
    const video = await client.videos.create({ model: 'sora-2', prompt: 'waves on rocks', seconds: '4' });
    expect((await waitForVideo(client, video.id)).status).toBe('completed');
    const { traceId } = taskTraceIds(video.id.replace(/^video_/, ''));
    const spans = await until(() => {
      // Spans come in batches whose requests may arrive out of order: wait for every kind.
      const s = receiver.inTrace(traceId);
      return TASK_SPANS.every((n) => s.some((x) => x.name === n)) ? s : undefined;
    }, 30_000, 'every span of the task');
    expect([...receiver.contentTypes]).toContain('application/x-protobuf');
    expect(new Set(names(spans))).toEqual(new Set(TASK_SPANS));
    expect(spans.find((s) => s.name === 'video.task')!.attributes['vidgate.task.provider']).toBe('sandbox');
    expect((await getVideo(gw, gw.key, video.id)).status).toBe('completed');
  });

  it('is off, with nothing loaded, without OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const gw = await startGateway();
    open.push(gw);
    expect(gw.app.telemetry.tracing).toBeUndefined();
  });
});
