import type { Clock, TimerHandle } from '../contract/clock.js';
import { toError, type JobEvents } from './events.js';
import type { JobStorage, Lease } from '../contract/job-storage.js';

/**
 * How long a handler started from the prefetch buffer runs before its start is recorded in the store. Handlers
 * shorter than this are never recorded one by one: their completion records the start (a write per job would cost
 * short jobs a third of their throughput on PostgreSQL).
 */
export const START_MARK_DELAY_MS = 100;

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
 */
export class StartMarks {
  /** Handlers started from the buffer and not finished yet, with when they started (engine clock). */
  private readonly running = new Map<string, { lease: Lease; at: number }>();
  private timer: TimerHandle | null = null;

  constructor(private readonly deps: { storage: JobStorage; events: JobEvents; clock: Clock }) {}

  /** The handler of this claimed job starts now. Returns what to call when it finishes. */
  add(lease: Lease): () => void {
    const key = lease.token;
    this.running.set(key, { lease, at: this.deps.clock.now() });
    this.timer ??= this.schedule();
    return () => this.running.delete(key);
  }

  /** Forget every pending start (the pool stopped). */
  clear(): void {
    this.running.clear();
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
    for (const [key, { lease, at }] of this.running) {
      if (at > due) continue;
      leases.push(lease);
      this.running.delete(key);
    }
    if (this.running.size > 0) this.timer = this.schedule();
    if (leases.length === 0) return;
    try {
      await this.deps.storage.markStarted(leases);
    } catch (error) {
      // Only the stall count of these jobs is at stake: a crash would put them back as never started.
      this.deps.events.emit('worker:error', { error: toError(error), context: 'recording job starts' });
    }
  }
}
