import { hostname } from 'node:os';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, context, createContextKey, trace } from '@opentelemetry/api';
import type { Context, Span, SpanContext, Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  RandomIdGenerator,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { IdGenerator, Sampler } from '@opentelemetry/sdk-trace';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { ConfigError } from '../config.js';
import type { Task } from '../core/task.js';
import { UpstreamError } from '../providers/types.js';
import { taskTraceIds } from './tracing.js';
import type { Tracing } from './tracing.js';
import { routeOf } from '../http/types.js';

/** The OpenTelemetry SDK behind Tracing (loaded only when tracing is on; see tracing.ts). */

const STEP_SPANS: Record<string, string> = { submit: 'video.submit', wait: 'video.status', fetch: 'video.fetch' };
const END_SPANS: Record<string, string> = { completed: 'video.complete', failed: 'video.fail', cancelled: 'video.cancel' };
const REQUEST_START = createContextKey('vidgate.request.start');

/** Random ids, except that the next root span can be given preset ones (a task's root span). */
class TaskIds implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private spanId: string | null = null;
  private traceId: string | null = null;

  next(ids: { traceId: string; spanId: string }): void {
    this.spanId = ids.spanId;
    this.traceId = ids.traceId;
  }

  generateTraceId(): string {
    const id = this.traceId ?? this.random.generateTraceId();
    this.traceId = null;
    return id;
  }

  generateSpanId(): string {
    const id = this.spanId ?? this.random.generateSpanId();
    this.spanId = null;
    return id;
  }
}

function number(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(`Invalid configuration:\n  ${name}: must be a non-negative number`);
  return n;
}

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, as the specification defines them. */
export function samplerFromEnv(env: NodeJS.ProcessEnv): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER || 'parentbased_always_on').toLowerCase();
  const ratio = () => {
    const arg = env.OTEL_TRACES_SAMPLER_ARG;
    const r = arg === undefined || arg === '' ? 1 : Number(arg);
    if (!Number.isFinite(r) || r < 0 || r > 1) throw new ConfigError('Invalid configuration:\n  OTEL_TRACES_SAMPLER_ARG: must be a ratio between 0 and 1');
    return new TraceIdRatioBasedSampler(r);
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    default:
      throw new ConfigError(
        `Invalid configuration:\n  OTEL_TRACES_SAMPLER: '${name}' is not supported (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)`,
      );
  }
}

function exporterFromEnv(env: NodeJS.ProcessEnv): JsonExporter | ProtoExporter {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').toLowerCase();
  if (protocol === 'http/protobuf') return new ProtoExporter();
  if (protocol === 'http/json') return new JsonExporter();
  throw new ConfigError(`Invalid configuration:\n  OTEL_EXPORTER_OTLP_PROTOCOL: '${protocol}' is not supported; use http/protobuf (the default) or http/json`);
}

const taskAttributes = (task: Task) => ({
  'vidgate.task.id': task.id,
  'vidgate.task.model': task.model,
  'vidgate.task.provider': task.provider ?? 'sandbox',
  'vidgate.task.stage': task.stage,
  'vidgate.task.status': task.status,
});

export function startTracing(env: NodeJS.ProcessEnv, log: FastifyBaseLogger): Tracing {
  const sampler = samplerFromEnv(env);
  const ids = new TaskIds();
  const resource = resourceFromAttributes({ 'service.name': 'vidgate', 'host.name': hostname() }).merge(detectResources({ detectors: [envDetector] }));
  const processor = new BatchSpanProcessor({
    exporter: exporterFromEnv(env),
    scheduledDelayMillis: number(env, 'OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: number(env, 'OTEL_BSP_EXPORT_TIMEOUT'),
    maxQueueSize: number(env, 'OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: number(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
  });
  const provider = new TracerProvider({ sampler, idGenerator: ids, resource, spanProcessors: [processor] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const propagator = new W3CTraceContextPropagator();
  const tracer: Tracer = provider.getTracer('vidgate');
  const requests = new WeakMap<FastifyRequest, { span: Span; ctx: Context }>();

  /** The context of a task's root span (remote: it is sent when the task finishes, maybe by another node). */
  const rootOf = (taskId: string): { ctx: Context; root: SpanContext } => {
    const { traceId, spanId } = taskTraceIds(taskId);
    const sampled = sampler.shouldSample(ROOT_CONTEXT, traceId, 'video.task', SpanKind.INTERNAL, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
    const root: SpanContext = { traceId, spanId, traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true };
    return { ctx: trace.setSpanContext(ROOT_CONTEXT, root), root };
  };

  const fail = (span: Span, err: unknown) => {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message.slice(0, 200) : 'error' });
  };

  log.info({ sampler: sampler.toString() }, 'OpenTelemetry tracing is on');

  return {
    instrument(app) {
      app.addHook('onRequest', (req, _reply, done) => {
        const parent = propagator.extract(ROOT_CONTEXT, req.headers, {
          get: (carrier, key) => carrier[key] as string | string[] | undefined,
          keys: (carrier) => Object.keys(carrier),
        });
        const route = routeOf(req).url;
        const span = tracer.startSpan(
          `${req.method} ${route ?? 'unmatched'}`,
          {
            kind: SpanKind.SERVER,
            attributes: { 'http.request.method': req.method, ...(route ? { 'http.route': route } : {}), 'vidgate.request.id': req.id },
          },
          parent,
        );
        requests.set(req, { span, ctx: trace.setSpan(parent, span).setValue(REQUEST_START, Date.now()) });
        done();
      });
      // Handlers run inside the request's context (after the body is read, which loses it).
      app.addHook('preHandler', (req, _reply, done) => {
        const r = requests.get(req);
        if (r) context.with(r.ctx, done);
        else done();
      });
      app.addHook('onResponse', (req, reply, done) => {
        const r = requests.get(req);
        if (r) {
          r.span.setAttribute('http.response.status_code', reply.statusCode);
          if (reply.statusCode >= 500) r.span.setStatus({ code: SpanStatusCode.ERROR });
          r.span.end();
        }
        done();
      });
    },

    taskCreated(task) {
      const active = context.active();
      const request = trace.getSpan(active);
      const started = (active.getValue(REQUEST_START) as number | undefined) ?? task.createdAt;
      const { ctx, root } = rootOf(task.id);
      const span = tracer.startSpan(
        'video.create',
        { startTime: Math.min(started, task.createdAt), attributes: taskAttributes(task), links: request ? [{ context: request.spanContext() }] : [] },
        ctx,
      );
      span.end();
      request?.setAttribute('vidgate.task.id', task.id);
      request?.addLink({ context: root });
    },

    async step(task, fn) {
      const span = tracer.startSpan(STEP_SPANS[task.stage] ?? `video.${task.stage}`, { attributes: taskAttributes(task) }, rootOf(task.id).ctx);
      try {
        return await context.with(trace.setSpan(context.active(), span), fn);
      } catch (err) {
        fail(span, err);
        throw err;
      } finally {
        span.end();
      }
    },

    async upstream(call, fn) {
      const span = tracer.startSpan(`${call.method} ${call.purpose}`, {
        kind: SpanKind.CLIENT,
        attributes: { 'http.request.method': call.method, 'vidgate.channel': call.channel, 'vidgate.provider': call.provider, 'vidgate.upstream.purpose': call.purpose },
      });
      try {
        const result = await fn();
        const status = (result as { status?: unknown } | undefined)?.status;
        if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
        return result;
      } catch (err) {
        if (err instanceof UpstreamError) {
          span.setAttribute('error.type', err.kind);
          if (err.detail.status) span.setAttribute('http.response.status_code', err.detail.status);
        }
        fail(span, err);
        throw err;
      } finally {
        span.end();
      }
    },

    taskFinished(task) {
      const { traceId, spanId } = taskTraceIds(task.id);
      const { ctx } = rootOf(task.id);
      const end = task.completedAt ?? Date.now();
      const attributes = { ...taskAttributes(task), ...(task.error ? { 'vidgate.task.error_code': task.error.code } : {}) };
      const last = tracer.startSpan(END_SPANS[task.status] ?? 'video.finish', { startTime: end, attributes }, ctx);
      last.end(end);
      ids.next({ traceId, spanId });
      const root = tracer.startSpan('video.task', { startTime: task.createdAt, attributes, root: true }, ROOT_CONTEXT);
      if (task.status !== 'completed') root.setStatus({ code: SpanStatusCode.ERROR, message: task.error?.code ?? task.status });
      root.end(end);
    },

    async shutdown() {
      await provider.shutdown().catch((err: unknown) => log.warn({ err }, 'tracing shutdown failed'));
      contextManager.disable();
      context.disable();
    },
  };
}
