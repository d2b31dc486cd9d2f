import type { Expected } from './schedule.js';
import type { ChannelStore, Timing } from './store.js';

/**
 * Observed durations of upstream jobs (submit to completion) per channel, public model and
 * video length: an exponentially weighted mean and mean absolute deviation (the first samples
 * are averaged plainly). Kept in memory, written through to the database, so a restarted
 * gateway schedules its first checks from what it learnt before.
 */
const ALPHA = 0.2;

export class Timings {
  private readonly map = new Map<string, Timing>();

  constructor(
    private readonly store: ChannelStore,
    private readonly now: () => number,
  ) {}

  /** Read what earlier runs (and other nodes) learnt. */
  async load(): Promise<void> {
    for (const t of await this.store.timings()) this.map.set(key(t.channelId, t.model, t.seconds), { samples: t.samples, meanMs: t.meanMs, devMs: t.devMs });
  }

  expected(channelId: string, model: string, seconds: number): Expected | undefined {
    return this.map.get(key(channelId, model, seconds));
  }

  async record(channelId: string, model: string, seconds: number, durationMs: number): Promise<void> {
    if (!(durationMs > 0) || !Number.isFinite(durationMs)) return;
    const k = key(channelId, model, seconds);
    const prev = this.map.get(k);
    let next: Timing;
    if (!prev) next = { samples: 1, meanMs: durationMs, devMs: 0 };
    else {
      const a = prev.samples < 5 ? 1 / (prev.samples + 1) : ALPHA;
      const mean = prev.meanMs + a * (durationMs - prev.meanMs);
      next = { samples: prev.samples + 1, meanMs: mean, devMs: prev.devMs + a * (Math.abs(durationMs - prev.meanMs) - prev.devMs) };
    }
    this.map.set(k, next);
    await this.store.putTiming(channelId, model, seconds, next, this.now());
  }

  forChannel(channelId: string): Array<{ model: string; seconds: number } & Timing> {
    const out: Array<{ model: string; seconds: number } & Timing> = [];
    for (const [k, t] of this.map) {
      const [c, model, s] = k.split('\u0000');
      if (c === channelId) out.push({ model: model!, seconds: Number(s), ...t });
    }
    return out;
  }
}

const key = (channelId: string, model: string, seconds: number): string => `${channelId}\u0000${model}\u0000${seconds}`;
