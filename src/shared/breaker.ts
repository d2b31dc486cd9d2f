import { Breaker } from '../channels/breaker.js';
import type { BreakerData, BreakerOptions, BreakerState, BreakerView, ChannelBreaker } from '../channels/breaker.js';
import type { SharedLink } from './link.js';
import type { RedisLink } from './redis.js';

/**
 * A channel's circuit breaker shared by every node. The transitions are Breaker's own
 * (channels/breaker.ts); only the state lives in Redis, as JSON under one key. Each change
 * reads the state, applies the transition to a Breaker loaded with it, and writes it back only
 * if nobody changed it meanwhile (compare-and-set in a script, retried a few times): two nodes
 * racing for the half-open trial cannot both get it.
 *
 * Reads (state, available, retryAt, view) answer from a copy refreshed twice a second and after
 * each change from this node; taking permission to send always asks Redis. Changes from this
 * node are applied in order. During a Redis outage a local Breaker decides, and the copy is
 * replaced by the shared state when Redis answers again.
 */
export const CAS_SCRIPT = {
  keys: 1,
  lua: `
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3])) end
return 1
`,
};

/** The stored state outlives any cool-down by far; an idle, closed breaker is simply absent (Redis and PostgreSQL alike). */
export const KEEP_MS = 7 * 86_400_000;
export const CAS_ATTEMPTS = 8;

/**
 * A channel's circuit breaker whose state is stored for every node (SharedBreaker in Redis,
 * PgBreaker in PostgreSQL). The transitions are Breaker's own; the backend supplies only how to
 * read the stored state and how to compare-and-set it. Each change applies the transition to the
 * state it starts from and stores the result only if that is still the stored state; when it
 * lost, the change is computed again from the state stored now (CAS_ATTEMPTS times at most).
 *
 * Reads answer from `copy`; changes from this node are applied in order; while the link is not
 * usable `copy` decides alone, and it is replaced by the shared state when the store answers again.
 */
export abstract class StoredBreaker implements ChannelBreaker {
  /** The shared state as last seen (reads), or this node's own during an outage. */
  private readonly copy: Breaker;
  /** The stored text `copy` was loaded from ('' for none). */
  protected raw = '';
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly link: SharedLink,
    readonly channelId: string,
    private readonly opts: BreakerOptions,
  ) {
    this.copy = new Breaker(opts);
  }

  /** The stored state a change starts from ('' for none). */
  protected abstract read(): Promise<string> | string;

  /**
   * Store `after` ('' to store none) if `before` is still the stored state: null when it is stored
   * (or nothing needs storing), else the state stored now, or undefined when that must be read again.
   */
  protected abstract compareAndSet(before: string, after: string): Promise<string | null | undefined>;

  state(now: number): BreakerState {
    return this.copy.state(now);
  }

  available(now: number): boolean {
    return this.copy.available(now);
  }

  retryAt(now: number): number {
    return this.copy.retryAt(now);
  }

  view(now: number): BreakerView {
    return this.copy.view(now);
  }

  acquire(now: number): boolean | Promise<boolean> {
    if (!this.link.usable) return this.copy.acquire(now);
    return this.change((b) => b.acquire(now), false);
  }

  success(): void {
    void this.change((b) => b.success(), undefined);
  }

  failure(now: number, reason: string, immediate = false): void {
    void this.change((b) => b.failure(now, reason, immediate), undefined);
  }

  reset(): void {
    void this.change((b) => b.reset(), undefined);
  }

  /** Resolves once this node's changes so far are stored (or given up). */
  async flush(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  /** Called by the refresh loop with the stored state (null: none, a closed breaker). */
  saw(raw: string | null): void {
    if (!this.link.usable) return;
    this.raw = raw ?? '';
    this.copy.load(parseBreakerState(raw));
  }

  /** Apply one transition to the shared state, in this node's order; `busy` if it cannot be stored. */
  private change<T>(op: (b: Breaker) => T, busy: T): Promise<T> {
    const run = async (): Promise<T> => {
      if (!this.link.usable) return op(this.copy);
      try {
        let before: string | undefined;
        for (let i = 0; i < CAS_ATTEMPTS; i++) {
          before ??= await this.read();
          const b = new Breaker(this.opts);
          b.load(parseBreakerState(before));
          const result = op(b);
          const data = b.snapshot();
          const after = isFresh(data, this.opts.cooldownMs) ? '' : JSON.stringify(data);
          const now = await this.compareAndSet(before, after);
          if (now === null) {
            this.raw = after;
            this.copy.load(data);
            return result;
          }
          before = now;
        }
        return busy;
      } catch (err) {
        this.link.failed(err);
        return op(this.copy);
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p;
    return p;
  }
}

/**
 * In Redis the state is JSON under one key; a change reads it (GET) and writes it back with the
 * CAS script, and a change that lost reads it again.
 */
export class SharedBreaker extends StoredBreaker {
  readonly key: string;

  constructor(
    private readonly redis: RedisLink,
    channelId: string,
    opts: BreakerOptions,
  ) {
    super(redis, channelId, opts);
    this.key = redis.key(`{ch:${channelId}}`, 'breaker');
  }

  protected async read(): Promise<string> {
    return (await this.redis.client.get(this.key)) ?? '';
  }

  protected async compareAndSet(before: string, after: string): Promise<null | undefined> {
    if (after === before) return null;
    return (await this.redis.run('vidgateCas', [this.key], [before, after, KEEP_MS])) === 1 ? null : undefined;
  }
}

/** A stored breaker state (JSON BreakerData); null for none or unreadable. */
export function parseBreakerState(raw: string | null): BreakerData | null {
  if (!raw) return null;
  try {
    return JSON.parse(raw) as BreakerData;
  } catch {
    return null;
  }
}

/** A closed breaker with nothing to remember is stored as no key at all. */
export function isFresh(d: BreakerData, cooldownMs: number): boolean {
  return d.state === 'closed' && d.failures === 0 && d.cooldown === cooldownMs && d.trialSince === null && d.lastFailure === null && d.opened === 0;
}
