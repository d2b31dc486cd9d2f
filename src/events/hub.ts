import type { EventEmitter } from 'node:events';
import type { Sql } from '../store/sql.js';
import { rowToEvent } from '../store/tasks.js';
import type { EventRow } from '../store/tasks.js';

export interface Subscription {
  keyId: string;
  /** Only this task's events (else all of the key's). */
  taskId?: string;
  deliver(rows: EventRow[]): void;
}

type Row = Record<string, string | number | null>;

const PAGE = 1000;

/**
 * Tails task_events (the source of truth GET reads from) for live streams. It reads the table
 * in seq order from a cursor, so it never skips an event: events commit in seq order (SQLite:
 * one BEGIN IMMEDIATE writer at a time; PostgreSQL: the event-order lock, TaskStore.appendEvent).
 * A local commit (TaskService.events) triggers a read at once; events committed by other
 * processes sharing the database are picked up every pollMs, or at once when a node tells this
 * one (poke: cluster signals over Redis).
 * The hub only runs while someone is subscribed.
 *
 * A subscriber subscribes first and then reads its own backlog from the table: events committed
 * before the subscription are in the backlog, later ones come from the hub; it drops any seq it
 * has already sent.
 */
export class EventHub {
  private cursor = 0;
  private readonly byTask = new Map<string, Set<Subscription>>();
  private readonly byKey = new Map<string, Set<Subscription>>();
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  /** The cursor is being read (first subscriber): tails wait for it. */
  private ready: Promise<void> = Promise.resolve();
  private tailing = false;
  private again = false;
  private readonly onLocal = () => this.schedule();

  constructor(
    private readonly db: Sql,
    private readonly local: EventEmitter,
    private readonly pollMs: number,
  ) {}

  /** The newest event's seq. */
  async latestSeq(): Promise<number> {
    return Number((await this.db.get<{ seq: number }>('SELECT COALESCE(MAX(seq), 0) AS seq FROM task_events'))!.seq);
  }

  /**
   * Subscribe; resolves once the hub follows the table, so that a backlog the subscriber reads
   * afterwards and what the hub delivers overlap rather than leave a gap.
   */
  async subscribe(sub: Subscription): Promise<() => void> {
    if (this.count === 0) this.begin();
    this.count++;
    const index = sub.taskId !== undefined ? this.byTask : this.byKey;
    const k = sub.taskId ?? sub.keyId;
    let set = index.get(k);
    if (!set) index.set(k, (set = new Set()));
    set.add(sub);
    let active = true;
    await this.ready;
    return () => {
      if (!active) return;
      active = false;
      set.delete(sub);
      if (set.size === 0) index.delete(k);
      if (--this.count === 0) this.end();
    };
  }

  get subscribers(): number {
    return this.count;
  }

  /** Stop tailing and forget every subscriber (shutdown). */
  close(): void {
    this.byTask.clear();
    this.byKey.clear();
    if (this.count > 0) this.end();
    this.count = 0;
  }

  private begin(): void {
    // Older events are read by each subscriber from its own cursor.
    this.ready = this.latestSeq().then(
      (seq) => {
        this.cursor = seq;
      },
      () => {
        // The database is unreachable: start from the beginning of what the next read finds.
      },
    );
    this.local.on('event', this.onLocal);
    this.timer = setInterval(() => this.tail(), this.pollMs);
    this.timer.unref();
  }

  private end(): void {
    this.local.off('event', this.onLocal);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Look for new events now (another node committed some). */
  poke(): void {
    if (this.count > 0) this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.tail();
    });
  }

  /** Read and dispatch new events; one read at a time (a call meanwhile makes it read again). */
  private tail(): void {
    if (this.count === 0) return;
    if (this.tailing) {
      this.again = true;
      return;
    }
    this.tailing = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.ready;
          await this.tailPages();
        } while (this.again && this.count > 0);
      } catch {
        // The database is closing (shutdown) or unreachable: the next local event or poll catches up.
      } finally {
        this.tailing = false;
      }
    })();
  }

  private async tailPages(): Promise<void> {
    for (;;) {
      const rows = (await this.db.all<Row>('SELECT * FROM task_events WHERE seq > ? ORDER BY seq LIMIT ?', [this.cursor, PAGE])).map(rowToEvent);
      if (rows.length === 0) return;
      this.cursor = rows[rows.length - 1]!.seq;
      this.dispatch(rows);
      if (rows.length < PAGE) return;
    }
  }

  private dispatch(rows: EventRow[]): void {
    const batches = new Map<Subscription, EventRow[]>();
    const add = (set: Set<Subscription> | undefined, row: EventRow) => {
      if (!set) return;
      for (const sub of set) {
        if (sub.keyId !== row.keyId) continue;
        let list = batches.get(sub);
        if (!list) batches.set(sub, (list = []));
        list.push(row);
      }
    };
    for (const row of rows) {
      add(this.byTask.get(row.taskId), row);
      add(this.byKey.get(row.keyId), row);
    }
    for (const [sub, list] of batches) {
      try {
        sub.deliver(list);
      } catch {
        // A broken subscriber must not stop the others; it cleans itself up on close.
      }
    }
  }
}
