import { createHash } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Task } from '../core/task.js';

/**
 * OpenTelemetry traces of a task's life (docs/operations.md). Off unless
 * OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: then the SDK is
 * loaded (./otel.ts, imported only then) and every call site below gets a Tracing; when off they
 * get undefined and do nothing, so tracing costs nothing.
 *
 * A task's spans share one trace whose ids are derived from the task id (taskTraceIds), so any
 * process, after any restart, puts its spans of the task in the same trace without storing
 * anything: `video.task` (the root, from creation to the final status, sent when the task
 * finishes), and under it `video.create`, one `video.submit`, one `video.status` per status
 * check, `video.fetch` (the download or render, and storing), then `video.complete` (or
 * `video.fail`, `video.cancel`). The HTTP request that created the task has its own server span
 * (continuing the caller's `traceparent`); it and `video.create` link to each other.
 */
export interface Tracing {
  /** A server span per HTTP request (by route pattern), continuing an incoming traceparent. */
  instrument(app: FastifyInstance): void;
  /** A task was created by the request running now (call in the request's async context). */
  taskCreated(task: Task): void;
  /** Run one worker step of a task inside its span. */
  step<T>(task: Task, fn: () => Promise<T>): Promise<T>;
  /** Run one upstream HTTP call inside a client span (child of the running step). */
  upstream<T>(call: { channel: string; provider: string; purpose: string; method: string }, fn: () => Promise<T>): Promise<T>;
  /** A task reached its final status: its completion span and its root span. */
  taskFinished(task: Task): void;
  /** Send what is buffered and stop. */
  shutdown(): Promise<void>;
}

/** The trace id and root span id of a task's trace: the same on every node, after every restart. */
export function taskTraceIds(taskId: string): { traceId: string; spanId: string } {
  const h = createHash('sha256').update(`vidgate.task:${taskId}`).digest('hex');
  return { traceId: h.slice(0, 32), spanId: h.slice(32, 48) };
}

/** Whether the standard OpenTelemetry variables ask for traces to be exported. */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false;
  if ((env.OTEL_TRACES_EXPORTER ?? '').toLowerCase() === 'none') return false;
  return !!(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The tracer, with the SDK loaded, when the environment asks for traces; else undefined. */
export async function loadTracing(env: NodeJS.ProcessEnv, log: FastifyBaseLogger): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  const { startTracing } = await import('./otel.js');
  return startTracing(env, log);
}
