import type { UpstreamStatus } from '../providers/types.js';

/**
 * When to look at an upstream job next: as late as possible while it cannot be done, and right
 * after it most likely is. Everything is in gateway milliseconds.
 *
 * What is known, best first:
 * 1. Progress. Two running observations give a rate, and so a predicted completion time with an
 *    uncertainty (progress is an integer, so each reading is ±½ %). The next check is placed at
 *    the early edge of that window; every reading narrows the window, so a job is typically
 *    seen about a second after it finished, after a handful of checks however long it runs.
 * 2. Observed durations of this model and length on this channel (≥ 3 samples): the same
 *    window arithmetic with the observed mean and deviation, until progress takes over.
 * 3. The upstream's own estimate (apimart `estimated_time`): an upper bound the next check never
 *    passes (estimates run long: a captured job estimated 600 s took 155 s).
 * 4. Nothing: geometric backoff from `firstMs`, half the job's age, capped at `maxMs`.
 * A check never comes sooner than `minMs`, nor sooner than the upstream's poll-after hint. Past
 * a predicted completion that has not happened, checks back off from `minMs` again.
 */
export interface PollPolicy {
  /** Never sooner than this between two checks of one job. */
  minMs: number;
  /** Never later than this while nothing predicts the completion. */
  maxMs: number;
  /** First check after submit when nothing is known. */
  firstMs: number;
}

export const DEFAULT_POLL_POLICY: PollPolicy = { minMs: 1_000, maxMs: 30_000, firstMs: 5_000 };

/** What the schedule remembers of one job between checks (kept in the task's provider state). */
export interface PollMemory {
  /** First running observation [time, progress]. */
  a?: [number, number];
  /** Latest running observation with more progress than `a`. */
  b?: [number, number];
  /** Checks in a row that came after a predicted completion that had not happened. */
  over?: number;
}

export interface Expected {
  meanMs: number;
  devMs: number;
  samples: number;
}

export interface PollInput {
  now: number;
  submittedAt: number;
  status: UpstreamStatus;
  memory: PollMemory;
  expected?: Expected;
  policy: PollPolicy;
}

export interface PollDecision {
  delayMs: number;
  memory: PollMemory;
  basis: 'progress' | 'history' | 'estimate' | 'backoff';
  /** Predicted completion time, when there is one. */
  predictedAt?: number;
}

/** The longest single wait the schedule makes on a prediction. */
const MAX_JUMP_MS = 15 * 60_000;

interface Prediction {
  at: number;
  /** Half-width of the window the completion is expected in. */
  u: number;
  basis: 'progress' | 'history';
}

function remember(m: PollMemory, now: number, status: UpstreamStatus): PollMemory {
  const next: PollMemory = { ...m };
  if (status.state !== 'running' || status.progress === undefined) return next;
  const p = status.progress;
  if (!next.a) next.a = [now, p];
  else if (p > next.a[1] && (!next.b || p > next.b[1])) next.b = [now, p];
  return next;
}

function predict(input: PollInput, m: PollMemory): Prediction | undefined {
  if (m.a && m.b && m.b[1] > m.a[1] && m.b[0] > m.a[0]) {
    const [t0, p0] = m.a;
    const [t1, p1] = m.b;
    const rate = (p1 - p0) / (t1 - t0); // % per ms
    // An integer reading p means the true progress is in [p, p + 1).
    const remaining = Math.max(0, 100 - (p1 + 0.5)) / rate;
    return { at: t1 + remaining, u: remaining / (p1 - p0) + 0.5 / rate, basis: 'progress' };
  }
  const e = input.expected;
  // Observed durations only speak while there is no reading of this job's own progress.
  if (!m.a && e && e.samples >= 3 && e.meanMs > 0) {
    return { at: input.submittedAt + e.meanMs, u: Math.max(3 * e.devMs, 0.15 * e.meanMs, input.policy.minMs), basis: 'history' };
  }
  return undefined;
}

/** Without a prediction: the first check at `firstMs`, then the job's age again (doubling), at most `maxMs`. */
function backoff(age: number, policy: PollPolicy): number {
  return age < policy.firstMs ? policy.firstMs - age : Math.min(policy.maxMs, age);
}

export function nextCheck(input: PollInput): PollDecision {
  const { now, policy, status } = input;
  const memory = remember(input.memory, now, status);
  const floor = Math.max(policy.minMs, status.pollAfterMs ?? 0);
  const age = Math.max(0, now - input.submittedAt);
  const p = predict(input, memory);

  let delay: number;
  let basis: PollDecision['basis'] = p?.basis ?? 'backoff';
  if (p && p.at + p.u > now) {
    memory.over = 0;
    const early = p.at - p.u;
    const end = p.at - now + Math.min(1_000, p.u / 2);
    // Far from the window: go to its early edge. Inside a narrow window: just past the predicted
    // end. Inside a wide one (a rate from two close readings): halfway in, to read a better rate.
    if (early - now > floor) delay = early - now;
    else if (p.u <= 4 * floor) delay = end;
    else if (p.basis === 'history') delay = Math.min(end, backoff(age, policy));
    else delay = Math.min(end, p.u / 2);
    delay = Math.min(delay, MAX_JUMP_MS);
  } else if (p) {
    // The predicted end has passed without the job finishing: back off from the floor.
    memory.over = (memory.over ?? 0) + 1;
    delay = Math.min(policy.maxMs, floor * 2 ** (memory.over - 1));
  } else {
    delay = backoff(age, policy);
  }

  // One running reading p at age t: the job ran for at most t, so it ends by t·100/p at the latest.
  if (memory.a && !memory.b && memory.a[1] > 0) {
    const [t, pa] = memory.a;
    const latest = t + ((100 - pa) * Math.max(1, t - input.submittedAt)) / pa;
    // (Unless that moment has passed: then progress is not linear and the bound says nothing.)
    if (latest > now) delay = Math.min(delay, Math.max(floor, (latest - now) / 2));
  }

  // An upstream estimate is a bound: never wait past it (then back off as usual).
  if (status.estimatedSeconds !== undefined) {
    const est = (status.createdAtMs ?? input.submittedAt) + status.estimatedSeconds * 1000;
    if (est > now + floor && est < now + delay) {
      delay = est - now;
      basis = 'estimate';
    }
  }
  return { delayMs: Math.round(Math.max(floor, delay)), memory, basis, ...(p ? { predictedAt: Math.round(p.at) } : {}) };
}

/** The first check after a submit. */
export function firstCheck(input: Omit<PollInput, 'memory'>): PollDecision {
  return nextCheck({ ...input, memory: {} });
}
