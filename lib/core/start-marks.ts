import { toError, type JobEvents } from './events.js';
import type { JobStorage, Lease } from '../storage/job-storage.js';

/**
 * Records in the store that handlers of prefetched jobs started, so that recovery can tell a job its dead worker was
 * running (a stall, counted toward `maxStalls`) from one that only sat in the dead worker's buffer (put back
 * unchanged).
 *
 * Why batched and not awaited: a handler must not wait a round trip to start (that would undo prefetching), and
 * jobs started in the same turn share one write. The write leaves at the end of the current turn, so a handler that
 * kills its process before then (a synchronous `process.exit`, an endless loop) is recovered as never started; the
 * guard then still catches it once a worker with an empty buffer claims it, because such a claim records the start
 * itself (`ClaimRequest.startNow`).
 */
export class StartMarks {
  private pending: Lease[] = [];

  constructor(private readonly deps: { storage: JobStorage; events: JobEvents }) {}

  /** The handler of this claimed job starts now. */
  add(lease: Lease): void {
    if (this.pending.push(lease) === 1) queueMicrotask(() => void this.flush());
  }

  private async flush(): Promise<void> {
    const leases = this.pending;
    this.pending = [];
    try {
      await this.deps.storage.markStarted(leases);
    } catch (error) {
      // Only the stall count of these jobs is at stake: a crash would put them back as never started.
      this.deps.events.emit('worker:error', { error: toError(error), context: 'recording job starts' });
    }
  }
}
