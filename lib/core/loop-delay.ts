import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Event-loop delay over one period, in ms. */
export interface LoopDelaySample {
  /** 99th percentile of the delays seen. */
  p99Ms: number;
  /** Longest delay seen. */
  maxMs: number;
}

/** What {@link LoopDelay} needs of `perf_hooks`' histogram (tests replace it through {@link LoopDelay.histogram}). */
export interface LoopDelayHistogram {
  enable(): boolean;
  disable(): boolean;
  reset(): void;
  percentile(p: number): number;
  readonly max: number;
}

/**
 * This process's event-loop delay, measured by `perf_hooks.monitorEventLoopDelay`: how late timers and I/O callbacks
 * run because something holds the loop (a CPU-bound handler, a synchronous parse). Each {@link take} returns the
 * figures since the previous one. Real time, not the engine's clock: a blocked loop is a real-world fact.
 */
export class LoopDelay {
  /** Make the histogram (10 ms resolution); replaceable by tests that need a given delay. */
  static histogram: () => LoopDelayHistogram = () => monitorEventLoopDelay({ resolution: 10 });

  private histogram: LoopDelayHistogram | null = null;

  /** Start measuring. Idempotent. */
  start(): void {
    if (this.histogram) return;
    this.histogram = LoopDelay.histogram();
    this.histogram.enable();
  }

  /** Stop measuring. */
  stop(): void {
    this.histogram?.disable();
    this.histogram = null;
  }

  /** The delays since the last call (or since `start`), then start a new period; zeros when not measuring. */
  take(): LoopDelaySample {
    const h = this.histogram;
    if (!h) return { p99Ms: 0, maxMs: 0 };
    // An empty histogram answers 0 for both (max is 0 before the first sample, not -Infinity, in Node's histogram).
    const sample = { p99Ms: toMs(h.percentile(99)), maxMs: toMs(h.max) };
    h.reset();
    return sample;
  }
}

/** Nanoseconds to ms with two decimals; a histogram's "nothing yet" values (0, huge) become 0. */
function toMs(ns: number): number {
  return Number.isFinite(ns) && ns > 0 && ns < 9e18 ? Math.round(ns / 1e4) / 100 : 0;
}
