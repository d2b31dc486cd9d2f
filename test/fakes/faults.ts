/**
 * Fault injection for the fake upstreams, changeable at runtime.
 *
 * A `FaultRule` matches requests (by route, job id or predicate) and applies one or more
 * `FaultAction`s, optionally limited to the next `times` matches, every `every`-th match, after
 * `skip` matches, or with `probability` p drawn from the fake's seeded RNG. Rules are evaluated in
 * insertion order; all matching rules apply. Response-replacing actions (error, malformed, reset,
 * hang, notFound) — the first one wins; modifiers (latency, throttle, truncate) add up.
 *
 * Actions:
 * - `error`     HTTP error in the fake's protocol envelope (429 with `Retry-After` and/or
 *               `retry-after-ms`, 5xx; 502/504 default to a proxy HTML page on the OpenAI fake);
 * - `malformed` a 2xx with a broken body: `truncated` JSON, `html`, `empty`, `garbage`, `unexpected` JSON;
 * - `reset`     destroy the connection (TCP RST): `after: false` before the request is handled
 *               (no side effects), `after: true` after it was handled — for a submit the job IS
 *               created but the client sees a reset ("outcome unknown");
 * - `hang`      never answer (until the client gives up or the fake goes down);
 * - `notFound`  the protocol's 404 for the job;
 * - `latency`   delay the response by `ms` real milliseconds (+ seeded jitter);
 * - `throttle`  send the body at `bytesPerSecond`;
 * - `truncate`  announce the full Content-Length, send `bytes` (or `fraction`) of the body, then
 *               close the connection;
 * - `oneOf`     pick one of several actions with the seeded RNG (for fault-rate tests).
 * `error` and `malformed` also take `after` (default: error before, malformed after handling).
 *
 * @example
 * fake.faults.add({ route: 'submit', times: 2, action: fault.error(429, { retryAfter: 1 }) });
 * fake.faults.add({ route: 'status', every: 3, action: fault.error(503) });
 * fake.faults.add({ route: 'submit', times: 1, action: fault.reset({ after: true }) });
 * fake.faults.add({ route: ['content', 'cdn'], action: [fault.throttle(50_000), fault.truncate({ fraction: 0.5 })] });
 * fake.faults.add({ route: '*', probability: 0.05, action: fault.oneOf([fault.error(500), fault.reset()]) });
 */
import type { RecordedRequest, RouteName } from './http.js';

export interface ErrorFault {
  type: 'error';
  status: number;
  /** `Retry-After` header: seconds (number), an HTTP-date (Date) or a raw string. */
  retryAfter?: number | string | Date;
  /** `retry-after-ms` header (OpenAI SDKs honour it first). */
  retryAfterMs?: number;
  /** Overrides of the protocol's error envelope fields. */
  code?: string | null;
  message?: string;
  errorType?: string;
  param?: string | null;
  /** Raw body replacing the envelope (a string is sent as is; an object as JSON). */
  body?: string | Record<string, unknown>;
  contentType?: string;
  headers?: Record<string, string>;
  /** Run the real handler first (its side effects happen), then send this error instead. */
  after?: boolean;
}

export type MalformedVariant = 'truncated' | 'html' | 'empty' | 'garbage' | 'unexpected';

export interface MalformedFault {
  type: 'malformed';
  /** Default `truncated`: the real JSON body cut in half. */
  variant?: MalformedVariant;
  /** Default 200. */
  status?: number;
  /** Raw body to send instead of the variant's. */
  body?: string;
  /** Default true: the request was processed upstream and only the response is garbled. */
  after?: boolean;
}

export interface ResetFault {
  type: 'reset';
  /** Default false: reset before handling. true: handle (create the job), then reset. */
  after?: boolean;
}

export interface HangFault {
  type: 'hang';
  /** Default false. true: handle first, then never answer. */
  after?: boolean;
}

export interface NotFoundFault {
  type: 'notFound';
}

export interface LatencyFault {
  type: 'latency';
  /** Real milliseconds. */
  ms: number;
  /** Extra uniformly distributed real milliseconds in [0, jitterMs). */
  jitterMs?: number;
}

export interface ThrottleFault {
  type: 'throttle';
  bytesPerSecond: number;
}

export interface TruncateFault {
  type: 'truncate';
  /** Bytes of the body to send before closing. */
  bytes?: number;
  /** Fraction of the body to send before closing (default 0.5). */
  fraction?: number;
}

export interface OneOfFault {
  type: 'oneOf';
  actions: readonly FaultAction[];
  weights?: readonly number[];
}

export type FaultAction =
  | ErrorFault
  | MalformedFault
  | ResetFault
  | HangFault
  | NotFoundFault
  | LatencyFault
  | ThrottleFault
  | TruncateFault
  | OneOfFault;

export type TerminalFault = ErrorFault | MalformedFault | ResetFault | HangFault | NotFoundFault;

/** Constructors for fault actions. */
export const fault = {
  error: (status: number, opts: Omit<ErrorFault, 'type' | 'status'> = {}): ErrorFault => ({ type: 'error', status, ...opts }),
  rateLimit: (opts: Omit<ErrorFault, 'type' | 'status'> = { retryAfter: 1 }): ErrorFault => ({ type: 'error', status: 429, ...opts }),
  malformed: (variant: MalformedVariant = 'truncated', opts: Omit<MalformedFault, 'type' | 'variant'> = {}): MalformedFault => ({
    type: 'malformed',
    variant,
    ...opts,
  }),
  reset: (opts: { after?: boolean } = {}): ResetFault => ({ type: 'reset', ...opts }),
  hang: (opts: { after?: boolean } = {}): HangFault => ({ type: 'hang', ...opts }),
  notFound: (): NotFoundFault => ({ type: 'notFound' }),
  latency: (ms: number, jitterMs?: number): LatencyFault => ({ type: 'latency', ms, ...(jitterMs === undefined ? {} : { jitterMs }) }),
  throttle: (bytesPerSecond: number): ThrottleFault => ({ type: 'throttle', bytesPerSecond }),
  truncate: (opts: { bytes?: number; fraction?: number } = {}): TruncateFault => ({ type: 'truncate', ...opts }),
  oneOf: (actions: readonly FaultAction[], weights?: readonly number[]): OneOfFault => ({
    type: 'oneOf',
    actions,
    ...(weights === undefined ? {} : { weights }),
  }),
};

export interface FaultRule {
  /** For `describe()` output and debugging. */
  name?: string;
  /** Routes this rule applies to (default `'*'`: every route of the fake, including its CDN). */
  route?: RouteName | readonly RouteName[] | '*';
  /** Only requests about this job id. */
  jobId?: string;
  /** Arbitrary predicate over the recorded request. */
  when?: (req: RecordedRequest) => boolean;
  action: FaultAction | readonly FaultAction[];
  /** Let the first `skip` matching requests through. */
  skip?: number;
  /** Apply to every `every`-th matching request (after `skip`): the k-th, 2k-th, ... */
  every?: number;
  /** Apply with this probability (seeded RNG). */
  probability?: number;
  /** Apply at most this many times, then the rule is exhausted (it stays listed). */
  times?: number;
}

export interface FaultHandle {
  readonly rule: FaultRule;
  /** Requests that matched route/job/predicate. */
  readonly matches: number;
  /** Times the rule's actions were applied. */
  readonly hits: number;
  readonly exhausted: boolean;
  remove(): void;
}

export interface ResolvedFaults {
  terminal: TerminalFault | undefined;
  latencyMs: number;
  throttle: ThrottleFault | undefined;
  truncate: TruncateFault | undefined;
  /** Names (or types) of applied actions, recorded on the request. */
  applied: string[];
}

class Handle implements FaultHandle {
  matches = 0;
  hits = 0;
  constructor(
    readonly rule: FaultRule,
    private readonly owner: FaultInjector,
  ) {}
  get exhausted(): boolean {
    return this.rule.times !== undefined && this.hits >= this.rule.times;
  }
  remove(): void {
    this.owner.remove(this);
  }
}

export class FaultInjector {
  private handles: Handle[] = [];

  constructor(private readonly rng: () => number) {}

  /** Adds a rule; returns a handle with counters and `remove()`. */
  add(rule: FaultRule): FaultHandle {
    const h = new Handle(rule, this);
    this.handles.push(h);
    return h;
  }

  /** Shorthand: apply `action` to the next `n` requests of `route`. */
  next(route: RouteName | readonly RouteName[] | '*', n: number, action: FaultAction | readonly FaultAction[]): FaultHandle {
    return this.add({ route, times: n, action });
  }

  remove(handle: FaultHandle): void {
    this.handles = this.handles.filter((h) => h !== handle);
  }

  clear(): void {
    this.handles = [];
  }

  get rules(): readonly FaultHandle[] {
    return this.handles;
  }

  /** Evaluates all rules against a request (updating their counters). */
  resolve(req: RecordedRequest): ResolvedFaults {
    const out: ResolvedFaults = { terminal: undefined, latencyMs: 0, throttle: undefined, truncate: undefined, applied: [] };
    for (const h of this.handles) {
      const r = h.rule;
      if (h.exhausted) continue;
      if (!routeMatches(r.route, req.route)) continue;
      if (r.jobId !== undefined && r.jobId !== req.jobId) continue;
      if (r.when && !r.when(req)) continue;
      h.matches++;
      const n = h.matches - (r.skip ?? 0);
      if (n <= 0) continue;
      if (r.every !== undefined && r.every > 1 && n % r.every !== 0) continue;
      if (r.probability !== undefined && !(this.rng() < r.probability)) continue;
      h.hits++;
      const actions: readonly FaultAction[] = isActionList(r.action) ? r.action : [r.action];
      for (const a of actions) this.apply(a, out, r.name);
    }
    return out;
  }

  private apply(action: FaultAction, out: ResolvedFaults, name: string | undefined): void {
    switch (action.type) {
      case 'oneOf': {
        const picked = pick(action, this.rng);
        if (picked) this.apply(picked, out, name);
        return;
      }
      case 'latency':
        out.latencyMs += action.ms + (action.jitterMs ? this.rng() * action.jitterMs : 0);
        break;
      case 'throttle':
        out.throttle = action;
        break;
      case 'truncate':
        out.truncate = action;
        break;
      default:
        if (out.terminal) return;
        out.terminal = action;
    }
    out.applied.push(name ?? describeAction(action));
  }
}

function isActionList(a: FaultAction | readonly FaultAction[]): a is readonly FaultAction[] {
  return Array.isArray(a);
}

function routeMatches(rule: FaultRule['route'], route: RouteName): boolean {
  if (rule === undefined || rule === '*') return true;
  if (typeof rule === 'string') return rule === route;
  return rule.includes(route);
}

function pick(a: OneOfFault, rng: () => number): FaultAction | undefined {
  if (a.actions.length === 0) return undefined;
  const weights = a.weights ?? a.actions.map(() => 1);
  const total = weights.reduce((s, w) => s + w, 0);
  let x = rng() * total;
  for (let i = 0; i < a.actions.length; i++) {
    x -= weights[i] ?? 0;
    if (x < 0) return a.actions[i];
  }
  return a.actions[a.actions.length - 1];
}

export function describeAction(a: FaultAction): string {
  switch (a.type) {
    case 'error':
      return `error:${a.status}${a.after ? ':after' : ''}`;
    case 'malformed':
      return `malformed:${a.variant ?? 'truncated'}`;
    case 'reset':
      return a.after ? 'reset:after' : 'reset';
    case 'hang':
      return a.after ? 'hang:after' : 'hang';
    case 'latency':
      return `latency:${a.ms}`;
    case 'throttle':
      return `throttle:${a.bytesPerSecond}`;
    case 'truncate':
      return 'truncate';
    case 'notFound':
      return 'notFound';
    case 'oneOf':
      return 'oneOf';
  }
}
