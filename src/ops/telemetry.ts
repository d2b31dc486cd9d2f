import type { FastifyBaseLogger } from 'fastify';
import type { TaskService } from '../core/service.js';
import type { Task } from '../core/task.js';
import { TERMINAL } from '../core/task.js';
import type { EventRow } from '../store/tasks.js';
import type { Metrics } from './metrics.js';
import type { Tracing } from './tracing.js';

/**
 * Metrics and traces, each present only when switched on (VIDGATE_METRICS_TOKEN or
 * VIDGATE_METRICS_PORT; OTEL_EXPORTER_OTLP_ENDPOINT). Instrumented code calls
 * `telemetry.metrics?.…` and `telemetry.tracing?.…`, so either costs nothing when off.
 */
export interface Telemetry {
  metrics?: Metrics;
  tracing?: Tracing;
}

export interface TaskObserverOptions {
  /** The adapter type and channel of a task's provider id, for logs. */
  providerType(providerId: string): string | undefined;
  /** Polling facts of a finished task (status calls, upstream completion time). */
  upstreamFacts(task: Task): { statusCalls?: number; upstreamDoneAt?: number };
}

/**
 * One place that watches every committed task transition: a log line per status change (info;
 * progress-only events at debug), the task counters, and the task's creation and completion
 * spans. New adapters and channels are covered without being listed anywhere.
 */
export function observeTasks(service: TaskService, telemetry: Telemetry, log: FastifyBaseLogger, o: TaskObserverOptions): void {
  const { metrics, tracing } = telemetry;
  service.onCommitted((event: EventRow, task: Task, from) => {
    try {
      const providerId = task.provider ?? 'sandbox';
      if (from !== task.status) {
        const line = {
          task: task.id,
          event: event.type,
          from,
          to: task.status,
          model: task.model,
          provider: o.providerType(providerId) ?? 'unknown',
          channel: providerId,
          ...(task.error ? { error_code: task.error.code } : {}),
        };
        if (task.status === 'failed' && task.error?.code === 'internal_error') log.warn(line, 'task transition');
        else log.info(line, 'task transition');
      } else {
        log.debug({ task: task.id, status: task.status, progress: task.progress }, 'task progress');
      }
      if (event.type === 'video.created') metrics?.taskCreated(task);
      if (from !== task.status && TERMINAL.has(task.status)) {
        metrics?.taskFinished(task, o.upstreamFacts(task));
        tracing?.taskFinished(task);
      }
    } catch (err) {
      log.warn({ err, task: task.id }, 'task observer failed');
    }
  });
  if (tracing) {
    service.onCreated((task) => {
      try {
        tracing.taskCreated(task);
      } catch (err) {
        log.warn({ err, task: task.id }, 'task trace failed');
      }
    });
  }
}
