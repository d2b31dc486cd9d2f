import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';

/** Rows that carry a lease owner, such as tasks and webhook deliveries. */
export interface LeasedRows {
  /** Owners currently holding a lease on unfinished rows. */
  leaseOwners(): Promise<string[]>;
  /** Free the leases of an owner; returns how many rows were freed. */
  dropLeasesOf(owner: string): Promise<number>;
}

export interface LeaseLoopOptions {
  /** Items worked on at once by this process. */
  concurrency: number;
  /** Longest sleep between two looks at the table (rows written by other processes). */
  idleMs: number;
  /** Gateway-time ms per real ms (benchmarks run on a compressed clock); sleeps scale by it. */
  timeScale?: number;
}

/**
 * The loop behind the task worker and the webhook sender: claim due rows under a lease (several
 * processes may share the database), work on each concurrently, sleep until the next row is due
 * or until notify(), and stop gracefully. Lease owners are "host#pid#random": at start the leases
 * of owners that ran on this host and are gone (a crash, SIGKILL, a container restart reusing our
 * pid) are freed at once instead of waiting for them to expire.
 */
export abstract class LeaseLoop<T> {
  readonly owner = `${hostname()}#${process.pid}#${randomBytes(4).toString('hex')}`;
  protected readonly inFlight = new Map<string, { promise: Promise<void>; abort: AbortController }>();
  private running = false;
  private dirty = false;
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private lastTurnAt = 0;
  private lastError: string | null = null;

  constructor(
    private readonly label: string,
    private readonly loopOptions: LeaseLoopOptions,
    protected readonly log: () => FastifyBaseLogger,
  ) {}

  protected abstract readonly rows: LeasedRows;
  protected abstract now(): number;
  /** Lease up to `free` due rows. */
  protected abstract claim(now: number, free: number): Promise<T[]>;
  /** When the next row becomes due (null: nothing known). */
  protected abstract nextDueAt(): Promise<number | null>;
  protected abstract idOf(item: T): string;
  /** Work on one claimed row; the signal aborts on shutdown (and wherever the subclass aborts it). */
  protected abstract work(item: T, abort: AbortController): Promise<void>;
  /** Called once per loop turn (periodic sweeps). */
  protected async tick(_now: number): Promise<void> {}
  /** Called for each item still running when stop() gives up waiting (e.g. to free its lease). */
  protected async abandoned(_id: string): Promise<void> {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.reclaimDeadLeases()
      .catch((err: unknown) => this.log().warn({ err }, `${this.label}: could not reclaim the leases of stopped processes`))
      .then(() => this.loop());
  }

  /** Work may be due now. */
  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  get busy(): number {
    return this.inFlight.size;
  }

  /**
   * For readiness: null while the loop runs and its last turn worked, else why not. A loop that
   * has not turned for `staleMs` (real time) counts as stuck.
   */
  problem(staleMs: number): string | null {
    if (!this.running) return 'not running';
    if (this.lastError) return `its last turn failed (${this.lastError})`;
    const idle = performance.now() - this.lastTurnAt;
    return idle > staleMs ? `no turn for ${Math.round(idle / 1000)} s` : null;
  }

  /** Stop claiming; give running items `graceMs` to finish, then abort them. */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loopDone;
    const all = Promise.allSettled([...this.inFlight.values()].map((f) => f.promise));
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
    const handedBack: Promise<void>[] = [];
    for (const [id, f] of this.inFlight) {
      f.abort.abort(new Error('shutting down'));
      handedBack.push(this.abandoned(id).catch((err: unknown) => this.log().warn({ err, id }, `${this.label}: could not hand back a lease`)));
    }
    await Promise.all([all, ...handedBack]);
  }

  private async reclaimDeadLeases(): Promise<void> {
    const host = hostname();
    for (const owner of await this.rows.leaseOwners()) {
      const [h, pidText] = owner.split('#');
      const pid = Number(pidText);
      if (h !== host || !Number.isInteger(pid) || owner === this.owner) continue;
      if (pid === process.pid || !processAlive(pid)) {
        const n = await this.rows.dropLeasesOf(owner);
        if (n > 0) this.log().info({ owner, rows: n }, `${this.label}: reclaimed the leases of a stopped process`);
      }
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.dirty = false;
      let delay = this.loopOptions.idleMs;
      try {
        const now = this.now();
        const free = this.loopOptions.concurrency - this.inFlight.size;
        if (free > 0) {
          for (const item of await this.claim(now, free)) this.launch(item);
          const next = await this.nextDueAt();
          if (next !== null) delay = Math.min(delay, Math.max(0, next - this.now()));
        }
        await this.tick(now);
        this.lastError = null;
      } catch (err) {
        this.lastError = err instanceof Error ? err.message.slice(0, 200) : String(err);
        this.log().error({ err }, `${this.label}: loop error`);
      }
      this.lastTurnAt = performance.now();
      if (this.dirty || !this.running) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(delay / (this.loopOptions.timeScale ?? 1), 1));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private launch(item: T): void {
    const id = this.idOf(item);
    const abort = new AbortController();
    const promise = this.work(item, abort)
      .catch((err: unknown) => {
        if (!abort.signal.aborted) this.log().error({ err, id }, `${this.label}: work crashed`);
      })
      .finally(() => {
        this.inFlight.delete(id);
        this.notify();
      });
    this.inFlight.set(id, { promise, abort });
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
