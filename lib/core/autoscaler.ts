import type { Clock, TimerHandle } from '../contract/clock.js';
import type { JobStorage } from '../contract/job-storage.js';
import { toError, type JobEvents } from './events.js';
import { LoopDelay } from './loop-delay.js';

/**
 * Autoscaling of one queue's concurrency in this process (`worker.autoscale`, or `queues[name].autoscale`): between
 * `min` and `max`, from the queue's backlog, its handlers' run time and this process's event-loop delay.
 */
export interface AutoscaleOptions {
  /** Fewest slots (>= 1). */
  min: number;
  /** Most slots (>= min). */
  max: number;
  /** Never raise while the event loop's p99 delay over the last period is above this, in ms; lower instead. Default 100. */
  maxLoopDelayMs?: number;
  /** Aim to work the backlog off within this long, in ms (with the handlers' mean run time). Default 30 000. */
  targetDrainMs?: number;
  /** Lower only after this many decisions in a row found the queue idle (nothing waiting, half the slots free or more). Default 3. */
  downAfter?: number;
}

/** Autoscaling settings with their defaults. */
export type ResolvedAutoscale = Required<AutoscaleOptions>;

/** Why a decision changed the concurrency or kept it. */
export type AutoscaleReason = 'backlog' | 'idle' | 'loop-saturated' | 'hold';

/** What one decision looks at. */
export interface AutoscaleInput {
  current: number;
  /** Handlers of the queue running in this process. */
  busy: number;
  /** Jobs of the queue waiting in the store. */
  waiting: number;
  /** Mean run time of the queue's handlers here, in ms; null before the first one finished. */
  handlerMs: number | null;
  /** p99 event-loop delay of this process over the last period, in ms. */
  loopP99Ms: number;
  /** Decisions in a row so far that found the queue idle. */
  idleStreak: number;
}

/**
 * One autoscaling decision, with hysteresis: it raises at once when every slot is busy and the backlog would take
 * longer than `targetDrainMs` to work off (at most doubling per decision), lowers only after `downAfter` idle decisions
 * in a row (halving at most, never below the busy slots), and never raises while the event loop is saturated: it
 * lowers by one then, since more concurrent handlers would only wait longer for the loop.
 */
export function autoscaleStep(input: AutoscaleInput, o: ResolvedAutoscale): { concurrency: number; reason: AutoscaleReason; idleStreak: number } {
  const { current, busy, waiting, handlerMs, loopP99Ms } = input;
  if (loopP99Ms > o.maxLoopDelayMs) return { concurrency: Math.max(o.min, current - 1), reason: 'loop-saturated', idleStreak: 0 };
  if (waiting > 0 && busy >= current) {
    // Slots that work the backlog off within targetDrainMs; without a run time yet, double.
    const needed = handlerMs === null ? 2 * current : Math.ceil((waiting * handlerMs) / o.targetDrainMs);
    const concurrency = Math.min(o.max, 2 * current, needed);
    return { concurrency: Math.max(current, concurrency), reason: concurrency > current ? 'backlog' : 'hold', idleStreak: 0 };
  }
  if (waiting === 0 && busy <= current / 2) {
    const idleStreak = input.idleStreak + 1;
    if (idleStreak < o.downAfter) return { concurrency: current, reason: 'hold', idleStreak };
    const concurrency = Math.max(o.min, busy, Math.ceil(current / 2));
    return { concurrency, reason: concurrency < current ? 'idle' : 'hold', idleStreak: 0 };
  }
  return { concurrency: current, reason: 'hold', idleStreak: 0 };
}

/** What the autoscaler needs of the engine. */
export interface AutoscalerDeps {
  storage: JobStorage;
  clock: Clock;
  events: JobEvents;
  /** Handlers running now, per queue. */
  active: () => Record<string, number>;
  /** The queue's concurrency now. */
  concurrency: (queue: string) => number;
  /** Apply a decision. */
  apply: (queue: string, n: number, reason: AutoscaleReason) => void;
}

/** Weight of the newest run time in the moving average. */
const ALPHA = 0.2;

/**
 * Moves the concurrency of the autoscaled queues of this process every `intervalMs` (see {@link autoscaleStep}): one
 * `counts()` per queue and decision, run times from this process's job events, the loop delay from `perf_hooks`.
 */
export class Autoscaler {
  private timer: TimerHandle | null = null;
  private readonly loop = new LoopDelay();
  private readonly handlerMs = new Map<string, number>();
  private readonly idle = new Map<string, number>();
  private readonly offs: (() => void)[] = [];
  private running = false;

  constructor(
    private readonly deps: AutoscalerDeps,
    readonly queues: ReadonlyMap<string, ResolvedAutoscale>,
    private readonly intervalMs: number,
  ) {}

  /** The bounds of an autoscaled queue, or undefined. */
  bounds(queue: string): ResolvedAutoscale | undefined {
    return this.queues.get(queue);
  }

  /** Start measuring and deciding. */
  start(): void {
    if (this.running || this.queues.size === 0) return;
    this.running = true;
    this.loop.start();
    const note = ({ job, durationMs }: { job: { queue: string }; durationMs: number }) => {
      if (!this.queues.has(job.queue)) return;
      const before = this.handlerMs.get(job.queue);
      this.handlerMs.set(job.queue, before === undefined ? durationMs : before + ALPHA * (durationMs - before));
    };
    this.offs.push(this.deps.events.on('job:completed', note), this.deps.events.on('job:retry', note), this.deps.events.on('job:failed', note));
    this.schedule();
  }

  /** Stop deciding. */
  stop(): void {
    this.running = false;
    this.loop.stop();
    for (const off of this.offs.splice(0)) off();
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Decide once for every autoscaled queue now. */
  async tick(): Promise<void> {
    const { p99Ms } = this.loop.take();
    const active = this.deps.active();
    await Promise.all([...this.queues].map(async ([queue, options]) => {
      try {
        const { waiting } = await this.deps.storage.counts({ queue });
        const current = this.deps.concurrency(queue);
        const input = { current, busy: active[queue] ?? 0, waiting, handlerMs: this.handlerMs.get(queue) ?? null, loopP99Ms: p99Ms, idleStreak: this.idle.get(queue) ?? 0 };
        const step = autoscaleStep(input, options);
        this.idle.set(queue, step.idleStreak);
        if (step.concurrency !== current && this.running) this.deps.apply(queue, step.concurrency, step.reason);
      } catch (error) {
        this.deps.events.emit('worker:error', { error: toError(error), context: `autoscaling queue "${queue}"` });
      }
    }));
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimeout(() => {
      void this.tick().finally(() => {
        if (this.running) this.schedule();
      });
    }, this.intervalMs);
    this.timer.unref?.();
  }
}
