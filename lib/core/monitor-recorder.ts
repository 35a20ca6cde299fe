import { fileURLToPath } from 'node:url';
import type { Clock, TimerHandle } from '../contract/clock.js';
import type { JobError } from '../contract/job.js';
import type { JobStorage } from '../contract/job-storage.js';
import { METRIC_RESOLUTION_MS, type ErrorPatternHit, type MetricPoint } from '../contract/monitoring.js';
import { fingerprintError } from './error-fingerprint.js';
import { toError, type JobEvents } from './events.js';
import { HISTOGRAM_SLOTS, histogramSlot } from './metric-histogram.js';

/** Counter names in the store's metric points (see docs/monitoring.md). */
export const METRIC = {
  enqueued: 'enqueued',
  completed: 'completed',
  failed: 'failed',
  retried: 'retried',
  stalled: 'stalled',
  /** Histogram of attempt run times in ms (every outcome). */
  duration: 'duration',
  /** Sum of attempt run times in ms (with the histogram's count, the mean). */
  durationSum: 'duration_sum',
  /** Histogram of waits in ms, from due to started. */
  wait: 'wait',
} as const;

type Counter = 'enqueued' | 'completed' | 'failed' | 'retried' | 'stalled';

/** One (queue, task)'s figures in the current minute. */
interface Stats {
  queue: string;
  task: string;
  counters: Record<Counter, number>;
  durationSum: number;
  /** Counts per histogram slot. */
  duration: Uint32Array;
  wait: Uint32Array;
}

/**
 * The per-job figures the engine hands the recorder directly (the hot path): a call with plain values rather than an
 * event payload per job, which cost the memory store a tenth of its throughput in garbage collection. Failures and
 * retries, rarer and richer, still come as events.
 */
export interface JobTally {
  /** A job was created (not a dedupe hit). */
  enqueued(queue: string, task: string): void;
  /** A handler started, `waitMs` after the job became ready; `afterStall`: its last worker died running it. */
  active(queue: string, task: string, waitMs: number, afterStall: boolean): void;
  /** A completion was written, `durationMs` after its handler started. */
  completed(queue: string, task: string, durationMs: number): void;
}

/** Settings of the recorder, resolved by the engine. */
export interface MonitorRecorderConfig {
  flushIntervalMs: number;
  /** Error patterns kept per task, and sample job ids per pattern. */
  maxPatternsPerTask: number;
  patternSamples: number;
  /** Most distinct keys held while the store is unreachable; past it, the oldest minute's figures are dropped. */
  maxPendingPoints: number;
  /** How long minute and hour buckets, error patterns and gone instances are kept, in ms. */
  keep: { minuteMs: number; hourMs: number; patternsMs: number; workersMs: number };
  /** Period of the pruning of those (every instance prunes; it is idempotent). */
  pruneIntervalMs: number;
}

/** Uno's own files: their stack frames are not the user's code. */
const LIBRARY_PATHS = [fileURLToPath(new URL('..', import.meta.url))];

/**
 * Aggregates this process's job events in memory, per minute and per (queue, task), and adds them to the store's
 * metric buckets (minute and hour) and error patterns every `flushIntervalMs`: a job costs a few map updates here and
 * nothing in the store. Every process flushes its own figures; the store sums them, so any instance reads the
 * cluster's. A flush that fails keeps its figures for the next one (bounded). The flush timer is armed by the first
 * figure after a flush, so an idle instance does not wake every `flushIntervalMs`: only once per `pruneIntervalMs`
 * to prune.
 */
export class MonitorRecorder implements JobTally {
  /** Figures per minute bucket, then per `queue\0task`. */
  private readonly minutes = new Map<number, Map<string, Stats>>();
  private current: { minute: number; stats: Map<string, Stats> } | null = null;
  private hits = new Map<string, ErrorPatternHit>();
  /** Points of a failed flush, written again with the next one. */
  private pending: MetricPoint[] = [];
  private offs: (() => void)[] = [];
  private timer: TimerHandle | null = null;
  /** `timer` is a flush of held figures (due in `flushIntervalMs`), not an idle instance's pruning. */
  private flushArmed = false;
  /** Between start() and stop(): figures are counted (the engine's direct calls included). */
  private listening = false;
  private flushing: Promise<void> | null = null;
  private prunedAt = -Infinity;
  /** The figures the last event went to (in the current minute). */
  private last: Stats | null = null;
  private minuteTimer: TimerHandle | null = null;

  constructor(
    private readonly storage: JobStorage,
    private readonly clock: Clock,
    private readonly events: JobEvents,
    private readonly config: MonitorRecorderConfig,
  ) {}

  /** Start listening and flushing. */
  start(): void {
    const { events } = this;
    this.listening = true;
    this.offs = [
      events.on('job:retry', ({ job, durationMs, error }) => {
        this.ended(job.queue, job.task, 'retried', durationMs);
        this.failure(job.queue, job.task, job.id, error);
      }),
      events.on('job:failed', ({ job, durationMs, error }) => {
        const stats = this.ended(job.queue, job.task, 'failed', durationMs);
        // A job that killed its workers too often fails before it starts: its last stall is counted here.
        if (error.name === 'JobStalledError') stats.counters.stalled++;
        this.failure(job.queue, job.task, job.id, error);
      }),
    ];
    // The first run prunes after one flush interval, as a busy instance's first flush would.
    this.arm();
  }

  enqueued(queue: string, task: string): void {
    if (this.listening) this.stats(queue, task).counters.enqueued++;
  }

  active(queue: string, task: string, waitMs: number, afterStall: boolean): void {
    if (!this.listening) return;
    const stats = this.stats(queue, task);
    stats.wait[histogramSlot(waitMs)]!++;
    if (afterStall) stats.counters.stalled++;
  }

  completed(queue: string, task: string, durationMs: number): void {
    if (this.listening) this.ended(queue, task, 'completed', durationMs);
  }

  /** Stop listening and write what is left. */
  async stop(): Promise<void> {
    this.listening = false;
    for (const off of this.offs.splice(0)) off();
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.flushArmed = false;
    await this.flush();
    this.retireMinute();
  }

  /** Write the figures gathered so far (and those of a flush that failed). Resolves when written or reported. */
  flush(): Promise<void> {
    // One flush at a time: a second caller waits for the running one, then writes what came in meanwhile.
    const run = async (): Promise<void> => {
      const points = [...this.pending, ...this.drainPoints()];
      const hits = [...this.hits.values()];
      this.pending = [];
      this.hits = new Map();
      if (points.length > 0) {
        try {
          await this.storage.addMetrics(merge(points));
        } catch (error) {
          this.pending = merge(points).slice(-this.config.maxPendingPoints);
          this.events.emit('worker:error', { error: toError(error), context: 'writing job metrics' });
        }
      }
      if (hits.length > 0) {
        try {
          await this.storage.recordErrorPatterns(hits, { maxPerTask: this.config.maxPatternsPerTask, samples: this.config.patternSamples });
        } catch (error) {
          this.events.emit('worker:error', { error: toError(error), context: 'writing error patterns' });
        }
      }
      await this.prune();
    };
    const next: Promise<void> = (this.flushing ?? Promise.resolve()).then(run).finally(() => {
      if (this.flushing === next) this.flushing = null;
    });
    this.flushing = next;
    return next;
  }

  /** Drop buckets, patterns and gone instances past their keep times, once per `pruneIntervalMs`. */
  private async prune(): Promise<void> {
    const now = this.clock.now();
    if (now - this.prunedAt < this.config.pruneIntervalMs) return;
    this.prunedAt = now;
    const { keep } = this.config;
    try {
      await this.storage.pruneMetrics({ minute: now - keep.minuteMs, hour: now - keep.hourMs });
      await this.storage.pruneErrorPatterns(keep.patternsMs);
      await this.storage.pruneWorkers(keep.workersMs);
    } catch (error) {
      this.events.emit('worker:error', { error: toError(error), context: 'pruning monitoring records' });
    }
  }

  /** Flush in `flushIntervalMs`: figures came in (or the recorder started). Replaces an idle pruning timer. */
  private arm(): void {
    if (this.flushArmed || this.offs.length === 0) return;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.flushArmed = true;
    this.timer = this.clock.setTimeout(() => this.tick(), this.config.flushIntervalMs);
  }

  private tick(): void {
    this.timer = null;
    this.flushArmed = false;
    void this.flush().finally(() => {
      if (this.offs.length === 0 || this.timer) return;
      // Figures that came in during the flush armed it again already; a failed flush's are held for the next one.
      if (this.pending.length > 0 || this.hits.size > 0 || this.minutes.size > 0) return this.arm();
      // Idle: wake only for the next pruning (every instance prunes, so gone ones leave the registry while all idle).
      this.timer = this.clock.setTimeout(() => this.tick(), Math.max(1, this.prunedAt + this.config.pruneIntervalMs - this.clock.now()));
    });
  }

  private ended(queue: string, task: string, counter: Counter, durationMs: number): Stats {
    const stats = this.stats(queue, task);
    stats.counters[counter]++;
    stats.durationSum += durationMs;
    stats.duration[histogramSlot(durationMs)]!++;
    return stats;
  }

  private failure(queue: string, task: string, jobId: string, error: JobError): void {
    const fp = fingerprintError(error, LIBRARY_PATHS);
    const key = `${task}\0${fp.id}`;
    const hit = this.hits.get(key);
    if (hit) {
      hit.count++;
      hit.jobIds.push(jobId);
      if (hit.jobIds.length > this.config.patternSamples) hit.jobIds.shift();
    } else {
      this.hits.set(key, { fingerprint: fp.id, task, queue, name: fp.name, pattern: fp.pattern, frame: fp.frame, count: 1, jobIds: [jobId] });
    }
  }

  /**
   * The current minute's figures of (queue, task). The minute is read from the clock at its first event only: a
   * timer at its end retires it, so the events in between (most of them of one task) cost no clock read.
   */
  private stats(queue: string, task: string): Stats {
    const last = this.last;
    if (last !== null && last.queue === queue && last.task === task) return last;
    if (this.current === null) {
      const now = this.clock.now();
      const width = METRIC_RESOLUTION_MS.minute;
      const minute = Math.floor(now / width) * width;
      let stats = this.minutes.get(minute);
      if (!stats) this.minutes.set(minute, (stats = new Map()));
      this.current = { minute, stats };
      this.minuteTimer = this.clock.setTimeout(() => this.retireMinute(), minute + width - now);
    }
    // Off the per-event path: after a flush, the first figure of any key comes through here (the flush reset `last`).
    this.arm();
    const key = `${queue}\0${task}`;
    let stats = this.current.stats.get(key);
    if (!stats) {
      stats = { queue, task, counters: { enqueued: 0, completed: 0, failed: 0, retried: 0, stalled: 0 }, durationSum: 0, duration: new Uint32Array(HISTOGRAM_SLOTS), wait: new Uint32Array(HISTOGRAM_SLOTS) };
      this.current.stats.set(key, stats);
    }
    this.last = stats;
    return stats;
  }

  /** The minute is over: the next event starts the next one. */
  private retireMinute(): void {
    if (this.minuteTimer) this.clock.clearTimeout(this.minuteTimer);
    this.minuteTimer = null;
    this.current = null;
    this.last = null;
  }

  /** Every gathered figure as store points, minute and hour; the gathered figures are reset. */
  private drainPoints(): MetricPoint[] {
    const points: MetricPoint[] = [];
    for (const [minute, byKey] of this.minutes) {
      const hour = Math.floor(minute / METRIC_RESOLUTION_MS.hour) * METRIC_RESOLUTION_MS.hour;
      for (const s of byKey.values()) {
        const push = (name: string, slot: number, value: number) => {
          if (value <= 0) return;
          points.push({ resolution: 'minute', bucket: minute, queue: s.queue, task: s.task, name, slot, value });
          points.push({ resolution: 'hour', bucket: hour, queue: s.queue, task: s.task, name, slot, value });
        };
        for (const counter of Object.keys(s.counters) as Counter[]) push(METRIC[counter], 0, s.counters[counter]);
        push(METRIC.durationSum, 0, Math.round(s.durationSum));
        s.duration.forEach((n, slot) => push(METRIC.duration, slot, n));
        s.wait.forEach((n, slot) => push(METRIC.wait, slot, n));
      }
    }
    this.minutes.clear();
    this.retireMinute();
    return points;
  }
}

/** Points with the same key summed into one (a store's multi-row upsert must not see one key twice). */
function merge(points: MetricPoint[]): MetricPoint[] {
  const byKey = new Map<string, MetricPoint>();
  for (const p of points) {
    const key = `${p.resolution}\0${p.bucket}\0${p.queue}\0${p.task}\0${p.name}\0${p.slot}`;
    const seen = byKey.get(key);
    if (seen) seen.value += p.value;
    else byKey.set(key, { ...p });
  }
  return [...byKey.values()];
}
