import { SHUTDOWN_WRITE_MS, withDeadline, type Clock, type TimerHandle } from '../contract/clock.js';
import type { JobEvents } from './events.js';
import { toError } from './events.js';
import type { JobStorage, RetentionPolicy } from '../contract/job-storage.js';

/** Settings of the maintenance loop. */
export interface MaintenanceConfig {
  /** How often due jobs are promoted and expired leases recovered. */
  intervalMs: number;
  /**
   * Longest wait between two prune rounds. A round that found the store over its limits is followed by the next one
   * after `intervalMs` instead, and jobs finished in this process start one early (see `pruneEvery`).
   */
  pruneIntervalMs: number;
  retention: RetentionPolicy;
  /**
   * Most jobs deleted per prune call. The store splits a call into short transactions or scripts of its own; a round
   * calls again while calls come back full, so a round deletes the whole excess however large.
   */
  pruneBatch: number;
  /** Error history kept when a recovered job gets its lease-expiry entry (see `limits.errorHistory`). */
  errorHistory?: number;
  /**
   * Jobs of one kind (completed, failed) finished in this process that start a prune round of that kind before the
   * interval is up. Default: a tenth of the kind's `maxCount`, between 100 and 1000.
   */
  pruneEvery?: number;
}

type Kind = 'completed' | 'failed';

/** Keeps everything: a prune round of one kind passes this rule for the other kind, which the store skips. */
const KEEP = { maxAgeMs: Infinity, maxCount: Infinity };

/**
 * Housekeeping every worker process runs: promote due jobs, recover jobs whose lease expired, prune finished jobs.
 * Every step is idempotent in the store, so many processes may run it at once without a leader.
 *
 * Pruning keeps up with any completion rate: a round repeats bounded prune calls until one comes back short (the
 * store is within its limits), and rounds come as often as jobs finish here (one per `pruneEvery` finished jobs of
 * a kind), every `intervalMs` while the store was found over its limits, and every `pruneIntervalMs` otherwise.
 */
export class Maintenance {
  private timer: TimerHandle | null = null;
  private pruneTimer: TimerHandle | null = null;
  private stopped = false;
  private inFlight: Promise<void> | null = null;
  private pruning: Promise<void> | null = null;
  /** Kinds a round should prune as soon as the running one ends (finished jobs piled up meanwhile). */
  private pending = new Set<Kind>();
  private finished = { completed: 0, failed: 0 };
  private readonly every: Record<Kind, number>;

  constructor(
    private readonly storage: JobStorage,
    private readonly clock: Clock,
    private readonly events: JobEvents,
    private readonly config: MaintenanceConfig,
  ) {
    const every = (kind: Kind) => config.pruneEvery ?? Math.min(1000, Math.max(100, Math.ceil(config.retention[kind].maxCount / 10)));
    this.every = { completed: every('completed'), failed: every('failed') };
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
    this.schedulePrune(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    if (this.pruneTimer) this.clock.clearTimeout(this.pruneTimer);
    this.timer = this.pruneTimer = null;
    // A round stuck on an unreachable store must not hold shutdown: it is left to finish or fail on its own.
    const rounds = Promise.all([this.inFlight, this.pruning]);
    await withDeadline(this.clock, rounds, SHUTDOWN_WRITE_MS, () => new Error('timeout')).catch(() => {});
  }

  /** Run one round now; `forcePrune` also runs a whole prune round (every kind) and waits for it. */
  async tick(forcePrune = false): Promise<void> {
    try {
      await this.storage.promoteDue();
      const { recovered, stalled } = await this.storage.recoverExpired({ errorHistory: this.config.errorHistory });
      if (recovered > 0) this.events.emit('job:recovered', { count: recovered, stalled });
    } catch (error) {
      this.events.emit('worker:error', { error: toError(error), context: 'maintenance' });
    }
    if (forcePrune) {
      await this.pruning;
      await this.prune(['completed', 'failed']);
    }
  }

  /**
   * A job finished in this process for good (completed, or failed with no retry left): told by the executor once
   * the store accepted the outcome, as `job:completed` and `job:failed` are emitted (not through them, which would
   * make every job build an event for this count).
   */
  finishedHere(kind: Kind): void {
    if (++this.finished[kind] < this.every[kind]) return;
    this.finished[kind] = 0;
    this.pending.add(kind);
    if (!this.pruning && !this.stopped) this.startRound();
  }

  /** Start a round for the pending kinds (every kind when it is the periodic one). */
  private startRound(all = false): void {
    const kinds: Kind[] = all ? ['completed', 'failed'] : [...this.pending];
    this.pending.clear();
    if (this.pruneTimer) this.clock.clearTimeout(this.pruneTimer);
    this.pruneTimer = null;
    this.pruning = this.prune(kinds).then((over) => {
      this.pruning = null;
      if (this.stopped) return;
      // Jobs that finished during the round go next, at once; otherwise wait, shorter while the store was over.
      if (this.pending.size > 0) this.startRound();
      else this.schedulePrune(over ? this.config.intervalMs : this.config.pruneIntervalMs);
    });
  }

  /**
   * Call `prune` until a call deletes less than a full batch. Each call is its own set of short store steps, so
   * claims and completions of every process run between them. Resolves with whether anything was deleted.
   */
  private async prune(kinds: Kind[]): Promise<boolean> {
    const { retention, pruneBatch } = this.config;
    const policy: RetentionPolicy = {
      completed: kinds.includes('completed') ? retention.completed : KEEP,
      failed: kinds.includes('failed') ? retention.failed : KEEP,
    };
    let removed = 0;
    try {
      for (;;) {
        const n = await this.storage.prune(policy, pruneBatch);
        removed += n;
        if (n < pruneBatch || this.stopped) break;
      }
    } catch (error) {
      this.events.emit('worker:error', { error: toError(error), context: 'maintenance' });
    }
    return removed > 0;
  }

  private schedulePrune(ms: number): void {
    if (this.stopped) return;
    this.pruneTimer = this.clock.setTimeout(() => {
      this.pruneTimer = null;
      if (!this.pruning) this.startRound(true);
    }, ms);
    this.pruneTimer.unref?.();
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
