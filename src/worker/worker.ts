import type { FastifyBaseLogger } from 'fastify';
import type { TaskService } from '../core/service.js';
import type { Task } from '../core/task.js';
import type { Telemetry } from '../ops/telemetry.js';
import { LeaseLoop } from '../util/lease-loop.js';
import type { LeasedRows } from '../util/lease-loop.js';
import { runStep } from './step.js';
import type { StepDeps } from './step.js';

export interface WorkerOptions {
  concurrency: number;
  leaseMs: number;
  /**
   * Gateway-time milliseconds per real millisecond (default 1). Benchmarks run the gateway on a
   * compressed clock (AppOptions.now); timers then wait the real equivalent of a gateway delay.
   */
  timeScale?: number;
  /** Step durations (metrics) and step spans (traces). */
  telemetry?: Telemetry;
}

class LeaseLost extends Error {
  constructor() {
    super('lease lost');
    this.name = 'LeaseLost';
  }
}

/**
 * Claims due tasks with a lease and drives each one step at a time (see step.ts). The lease is
 * renewed while a step runs; when renewal fails the step is aborted and its result discarded.
 * Several workers (processes) can share one database.
 */
export class Worker extends LeaseLoop<Task> {
  protected readonly rows: LeasedRows;

  constructor(
    private readonly service: TaskService,
    private readonly deps: Omit<StepDeps, 'owner'>,
    private readonly opts: WorkerOptions,
    log: FastifyBaseLogger,
  ) {
    super('worker', { concurrency: opts.concurrency, idleMs: 1000, timeScale: opts.timeScale }, () => log);
    this.rows = service.store;
  }

  override start(): void {
    this.service.onNewWork(() => this.notify());
    super.start();
  }

  /** Stop claiming; give running steps `graceMs` to finish, then abort them and free their tasks. */
  override stop(graceMs = 10_000): Promise<void> {
    return super.stop(graceMs);
  }

  protected now(): number {
    return this.service.now();
  }

  protected claim(now: number, free: number): Promise<Task[]> {
    return this.service.store.claimDue(this.owner, now, this.opts.leaseMs, free);
  }

  protected nextDueAt(): Promise<number | null> {
    return this.service.store.nextDueAt();
  }

  protected idOf(task: Task): string {
    return task.id;
  }

  protected override abandoned(id: string): Promise<void> {
    return this.service.store.releaseLease(id, this.owner);
  }

  protected async work(task: Task, abort: AbortController): Promise<void> {
    const renew = setInterval(() => {
      this.service.store.renewLease(task.id, this.owner, this.service.now() + this.opts.leaseMs).then(
        (held) => {
          if (!held) abort.abort(new LeaseLost());
        },
        (err: unknown) => this.log().warn({ err, task: task.id }, 'lease renewal failed'),
      );
    }, Math.max(50, Math.floor(this.opts.leaseMs / 3 / (this.opts.timeScale ?? 1))));
    const { metrics, tracing } = this.opts.telemetry ?? {};
    const started = performance.now();
    try {
      const step = () => runStep(task, { ...this.deps, owner: this.owner }, abort.signal);
      await (tracing ? tracing.step(task, step) : step());
    } finally {
      clearInterval(renew);
      metrics?.step(task.stage, task.provider, performance.now() - started);
    }
  }
}
