import type { Clock, TimerHandle } from '../contract/clock.js';
import { toError, type JobEvents } from './events.js';
import type { JobStorage, Lease } from '../contract/job-storage.js';

/**
 * How long a handler started from the prefetch buffer runs before its start is recorded in the store. Handlers
 * shorter than this are never recorded one by one: their completion records the start (a write per job would cost
 * short jobs a third of their throughput on PostgreSQL).
 */
export const START_MARK_DELAY_MS = 100;

/** What the sweep asks of each attempt (implemented by `Attempt.startMark`). */
export interface Markable {
  /**
   * The lease to record when this attempt's handler was started from the buffer at `due` or earlier, is still
   * running and was not recorded yet (handed out once); `'young'` while such a handler has not run that long; else null.
   */
  startMark(due: number): Lease | 'young' | null;
}

/**
 * Records in the store that handlers of prefetched jobs started, so that recovery can tell a job its dead worker was
 * running (a stall, counted toward `maxStalls`) from one that only sat in the dead worker's buffer (put back
 * unchanged).
 *
 * Why only handlers still running after {@link START_MARK_DELAY_MS}, in one write per sweep: a write per started job
 * would double the writes of short jobs, and a worker death costs no attempt either way. What is recorded is what
 * the poison-pill guard needs: a handler that runs a while and then takes its process down (out of memory, a native
 * crash). One that kills its process within the delay is recovered as never started; the guard still catches it once
 * a worker with an empty buffer claims it, because such a claim records the start itself (`ClaimRequest.startNow`),
 * as the first claims of a restarted worker do.
 *
 * Why the sweep walks the attempts the pool holds instead of a list of its own: an entry per started job (set at
 * start, deleted at return) was most of what a short job left for the collector to copy at 20,000 jobs a second
 * (docs/benchmark-log.md), for a sweep that at most looks at the attempts held, every {@link START_MARK_DELAY_MS}.
 */
export class StartMarks {
  private timer: TimerHandle | null = null;
  private attempts: () => Iterable<Markable> = () => [];

  constructor(private readonly deps: { storage: JobStorage; events: JobEvents; clock: Clock }) {}

  /** Where the sweep finds the attempts to look at (every queue's, set by the pool that owns them). */
  watch(attempts: () => Iterable<Markable>): void {
    this.attempts = attempts;
  }

  /** A handler of a buffered job started now: a sweep comes within the delay. */
  started(): void {
    this.timer ??= this.schedule();
  }

  /** Stop sweeping (the pool stopped). */
  clear(): void {
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): TimerHandle {
    const timer = this.deps.clock.setTimeout(() => void this.sweep(), START_MARK_DELAY_MS);
    timer.unref?.();
    return timer;
  }

  /** Record every handler that has run for the delay, in one write; come back while others are still young. */
  private async sweep(): Promise<void> {
    this.timer = null;
    const due = this.deps.clock.now() - START_MARK_DELAY_MS;
    const leases: Lease[] = [];
    let young = false;
    for (const attempt of this.attempts()) {
      const mark = attempt.startMark(due);
      if (mark === 'young') young = true;
      else if (mark) leases.push(mark);
    }
    if (young) this.timer = this.schedule();
    if (leases.length === 0) return;
    try {
      await this.deps.storage.markStarted(leases);
    } catch (error) {
      // Only the stall count of these jobs is at stake: a crash would put them back as never started.
      this.deps.events.emit('worker:error', { error: toError(error), context: 'recording job starts' });
    }
  }
}
