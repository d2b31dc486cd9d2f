/**
 * A compressible, manually steppable "upstream time" clock for the fake upstream servers.
 *
 * Every fake measures job progress in *upstream* (virtual) time. Real time maps to upstream time
 * through `timeScale` (60 = one real second is one upstream minute; 0 = frozen, manual only) and
 * `advance(ms)` jumps forward. The clock keeps the full history of its rate changes and jumps, so
 * `wallAt(t)` answers exactly at which real wall time upstream instant `t` was (or, at the current
 * rate, will be) reached. Fakes use it to record the exact real time a job became observable as
 * completed, for detection-delay measurements.
 *
 * @example
 * const clock = new FakeClock({ timeScale: 60 });          // a 5-minute job takes 5 real seconds
 * const manual = new FakeClock({ timeScale: 0, startAt: Date.UTC(2025, 11, 6) });
 * manual.advance(155_000);                                  // jump 155 upstream seconds
 * await clock.sleep(60_000);                                // ~1 real second
 */
import { wallNow } from './util.js';

export interface FakeClockOptions {
  /** Upstream milliseconds per real millisecond (default 1; 0 freezes the clock). */
  timeScale?: number;
  /** Upstream epoch milliseconds at creation (default: the real `Date.now()`). */
  startAt?: number;
}

interface Segment {
  /** Real wall time (epoch ms) at which the segment starts. */
  wall: number;
  /** Upstream time at the segment start. */
  virt: number;
  /** Upstream ms per real ms within the segment. */
  scale: number;
}

export class FakeClock {
  private readonly segments: Segment[];
  private readonly listeners = new Set<() => void>();

  constructor(opts: FakeClockOptions = {}) {
    const scale = opts.timeScale ?? 1;
    if (!(scale >= 0) || !Number.isFinite(scale)) throw new RangeError(`timeScale must be a finite number >= 0, got ${scale}`);
    this.segments = [{ wall: wallNow(), virt: opts.startAt ?? Date.now(), scale }];
  }

  private get last(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  /** Current upstream time in epoch milliseconds (may be fractional). */
  now(): number {
    const seg = this.last;
    return seg.virt + (wallNow() - seg.wall) * seg.scale;
  }

  /** Current upstream time in whole Unix seconds. */
  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Current rate (upstream ms per real ms). */
  get timeScale(): number {
    return this.last.scale;
  }

  /** Jumps upstream time forward by `ms`. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance() needs ms >= 0, got ${ms}`);
    const wall = wallNow();
    const seg = this.last;
    this.segments.push({ wall, virt: seg.virt + (wall - seg.wall) * seg.scale + ms, scale: seg.scale });
    this.notify();
  }

  /** Changes the rate from now on (0 freezes). */
  setTimeScale(scale: number): void {
    if (!(scale >= 0) || !Number.isFinite(scale)) throw new RangeError(`timeScale must be a finite number >= 0, got ${scale}`);
    const wall = wallNow();
    const seg = this.last;
    this.segments.push({ wall, virt: seg.virt + (wall - seg.wall) * seg.scale, scale });
    this.notify();
  }

  /**
   * Real wall time (epoch ms) at which upstream time `virt` was reached, or — if it lies in the
   * future — will be reached at the current rate. `undefined` if it will never be reached (the
   * clock is frozen before it).
   */
  wallAt(virt: number): number | undefined {
    const segs = this.segments;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] as Segment;
      if (virt <= seg.virt) return seg.wall;
      const next = segs[i + 1];
      if (seg.scale > 0) {
        const w = seg.wall + (virt - seg.virt) / seg.scale;
        if (!next || w < next.wall) return w;
      }
    }
    return undefined;
  }

  /** Real milliseconds from now until upstream time `virt` (0 if already reached; undefined if never). */
  realDelayUntil(virt: number): number | undefined {
    const w = this.wallAt(virt);
    return w === undefined ? undefined : Math.max(0, w - wallNow());
  }

  /** Subscribes to `advance()` / `setTimeScale()`; returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once `ms` of upstream time have passed (by rate, jumps, or both). */
  sleep(ms: number): Promise<void> {
    return this.sleepUntil(this.now() + ms);
  }

  /** Resolves once upstream time reaches `virt`. */
  sleepUntil(virt: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (this.now() >= virt) {
          unsubscribe();
          resolve();
          return;
        }
        const delay = this.realDelayUntil(virt);
        if (delay !== undefined) timer = setTimeout(check, Math.min(Math.max(1, Math.ceil(delay)), 2 ** 31 - 1));
      };
      const unsubscribe = this.onChange(check);
      check();
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}
