import { SHUTDOWN_WRITE_MS, withDeadline, type Clock, type TimerHandle } from './clock.js';
import type { JobEvents } from './events.js';
import { toError } from './events.js';
import type { JobStorage, RetentionPolicy } from '../storage/job-storage.js';

/** Settings of the maintenance loop. */
export interface MaintenanceConfig {
  /** How often due jobs are promoted and expired leases recovered. */
  intervalMs: number;
  /** How often finished jobs are pruned. */
  pruneIntervalMs: number;
  retention: RetentionPolicy;
  /** Most jobs deleted per prune call (bounded batches keep the store responsive). */
  pruneBatch: number;
  /** Error history kept when a recovered job gets its lease-expiry entry (see `limits.errorHistory`). */
  errorHistory?: number;
}

/**
 * Housekeeping every worker process runs: promote due jobs, recover jobs whose lease expired, prune finished jobs.
 * Every step is idempotent in the store, so many processes may run it at once without a leader.
 */
export class Maintenance {
  private timer: TimerHandle | null = null;
  private lastPrune = -Infinity;
  private stopped = false;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly storage: JobStorage,
    private readonly clock: Clock,
    private readonly events: JobEvents,
    private readonly config: MaintenanceConfig,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    // A round stuck on an unreachable store must not hold shutdown: it is left to finish or fail on its own.
    if (this.inFlight) await withDeadline(this.clock, this.inFlight, SHUTDOWN_WRITE_MS, () => new Error('timeout')).catch(() => {});
  }

  /** Run one round now; `forcePrune` prunes even if the prune interval has not passed. */
  async tick(forcePrune = false): Promise<void> {
    try {
      await this.storage.promoteDue();
      const { recovered, stalled } = await this.storage.recoverExpired({ errorHistory: this.config.errorHistory });
      if (recovered > 0) this.events.emit('job:recovered', { count: recovered, stalled });
      const now = this.clock.now();
      if (forcePrune || now - this.lastPrune >= this.config.pruneIntervalMs) {
        this.lastPrune = now;
        // Bounded batches: a large backlog is worked off over several rounds.
        await this.storage.prune(this.config.retention, this.config.pruneBatch);
      }
    } catch (error) {
      this.events.emit('worker:error', { error: toError(error), context: 'maintenance' });
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.inFlight = this.tick().finally(() => {
        this.inFlight = null;
        this.schedule(this.config.intervalMs);
      });
    }, ms);
    this.timer.unref?.();
  }
}
