import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { TaskService } from '../core/service.js';
import type { Task } from '../core/task.js';
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
export class Worker {
  readonly owner = `${hostname()}#${process.pid}#${randomBytes(4).toString('hex')}`;
  private running = false;
  private dirty = false;
  private readonly inFlight = new Map<string, { promise: Promise<void>; abort: AbortController }>();
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(
    private readonly service: TaskService,
    private readonly deps: Omit<StepDeps, 'owner'>,
    private readonly opts: WorkerOptions,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.reclaimDeadLeases();
    this.service.onNewWork(() => this.notify());
    this.loopDone = this.loop();
  }

  /** New work may be due now. */
  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  get busy(): number {
    return this.inFlight.size;
  }

  /** Stop claiming; give running steps `graceMs` to finish, then abort them and free their tasks. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loopDone;
    const all = Promise.allSettled([...this.inFlight.values()].map((f) => f.promise));
    const timer = new Promise((r) => setTimeout(r, graceMs).unref());
    await Promise.race([all, timer]);
    for (const [id, f] of this.inFlight) {
      f.abort.abort(new Error('shutting down'));
      this.service.store.releaseLease(id, this.owner);
    }
    await all;
  }

  /**
   * Leases held by processes of this host that no longer run (a crash, a SIGKILL, a container
   * restart reusing our pid) are freed at once instead of waiting for them to time out.
   */
  private reclaimDeadLeases(): void {
    const host = hostname();
    for (const owner of this.service.store.leaseOwners()) {
      const [h, pidText] = owner.split('#');
      const pid = Number(pidText);
      if (h !== host || !Number.isInteger(pid) || owner === this.owner) continue;
      if (pid === process.pid || !processAlive(pid)) {
        const n = this.service.store.dropLeasesOf(owner);
        if (n > 0) this.log.info({ owner, tasks: n }, 'reclaimed tasks of a stopped worker');
      }
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.dirty = false;
      let delay = 1000;
      try {
        const free = this.opts.concurrency - this.inFlight.size;
        if (free > 0) {
          const now = this.service.now();
          for (const task of this.service.store.claimDue(this.owner, now, this.opts.leaseMs, free)) this.launch(task);
        }
        if (this.inFlight.size < this.opts.concurrency) {
          const next = this.service.store.nextDueAt();
          if (next !== null) delay = Math.min(delay, Math.max(0, next - this.service.now()));
        }
      } catch (err) {
        this.log.error({ err }, 'worker loop error');
      }
      if (this.dirty || !this.running) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(delay / (this.opts.timeScale ?? 1), 1));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private launch(task: Task): void {
    const abort = new AbortController();
    const renew = setInterval(() => {
      try {
        if (!this.service.store.renewLease(task.id, this.owner, this.service.now() + this.opts.leaseMs)) {
          abort.abort(new LeaseLost());
        }
      } catch (err) {
        this.log.warn({ err, task: task.id }, 'lease renewal failed');
      }
    }, Math.max(50, Math.floor(this.opts.leaseMs / 3 / (this.opts.timeScale ?? 1))));
    const promise = runStep(task, { ...this.deps, owner: this.owner }, abort.signal)
      .catch((err: unknown) => {
        if (abort.signal.aborted) return;
        this.log.error({ err, task: task.id }, 'task step crashed');
      })
      .finally(() => {
        clearInterval(renew);
        this.inFlight.delete(task.id);
        this.notify();
      });
    this.inFlight.set(task.id, { promise, abort });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
