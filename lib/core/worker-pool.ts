import { SHUTDOWN_WRITE_MS, withDeadline, type TimerHandle } from '../contract/clock.js';
import { LeaseLostError, StorageError, messages } from '../contract/errors.js';
import type { Lease, PauseTarget } from '../contract/job-storage.js';
import type { JobState } from '../contract/job.js';
import { Cancellations } from './cancellations.js';
import { toError } from './events.js';
import type { Attempt } from './attempt.js';
import { Executor } from './executor.js';
import { fenceMargin, QueueWorker, type QueueWorkerConfig, type WorkerPoolConfig, type WorkerPoolDeps } from './queue-worker.js';

export type { QueueWorkerConfig, WorkerPoolConfig, WorkerPoolDeps } from './queue-worker.js';

/**
 * Runs the workers of every queue this process serves: one claim loop per queue, one heartbeat for all leases,
 * local cancellation, and a graceful stop that drains running jobs and hands back the rest.
 */
export class WorkerPool {
  private readonly workers = new Map<string, QueueWorker>();
  private readonly executor: Executor;
  private heartbeatTimer: TimerHandle | null = null;
  private fenceTimer: TimerHandle | null = null;
  /** Local deadline (this process's clock) of every lease held, by token: last claim or renewal sent + leaseMs. */
  private readonly leaseUntil = new Map<string, number>();
  private unsubscribe: (() => void) | null = null;
  private unsubscribeCancels: (() => void) | null = null;
  /** Stops the store's pause notices; null when it sends none (then heartbeats read `listPaused`). */
  private unsubscribePauses: (() => void) | null = null;
  /** Cancellations from `JobQueue.cancel` here and from the store's notices, routed to the jobs held here. */
  readonly cancellations: Cancellations;
  private stopping: Promise<void> | null = null;
  private closed = false;

  constructor(
    queues: readonly QueueWorkerConfig[],
    private readonly config: WorkerPoolConfig,
    private readonly deps: WorkerPoolDeps,
  ) {
    this.executor = new Executor(deps);
    this.cancellations = new Cancellations((id) => this.cancelLocal(id), deps.events);
    for (const queue of queues) {
      this.workers.set(queue.queue, new QueueWorker(queue, config, deps, this.executor, this.leaseUntil, () => this.armHeartbeat()));
    }
    this.executor.marks.watch(() => this.attempts());
  }

  /** Every attempt whose lease is held here, of every queue. */
  private *attempts(): Iterable<Attempt> {
    for (const worker of this.workers.values()) yield* worker.running.values();
  }

  /** Queues served, with their settings. */
  get queues(): QueueWorkerConfig[] {
    return [...this.workers.values()].map((w) => w.config);
  }

  /** Jobs running now, per queue. */
  activeCounts(): Record<string, number> {
    return Object.fromEntries([...this.workers].map(([name, w]) => [name, w.running.size]));
  }

  /**
   * Overdue handlers per queue: handlers still running after their attempt ended without them (timeout, cancel,
   * lease loss) because they ignore `ctx.signal`. Each keeps its slot until it returns.
   */
  overdueCounts(): Record<string, number> {
    return Object.fromEntries([...this.workers].map(([name, w]) => [name, w.overdueCount]));
  }

  /** Tasks whose jobs a queue's worker claimed with no handler here, per queue (only queues that met one). */
  unservedTasks(): Record<string, string[]> {
    return Object.fromEntries([...this.workers].map(([name, w]) => [name, w.unserved()]).filter(([, tasks]) => tasks.length > 0));
  }

  /** Change a queue's concurrency now (see {@link QueueWorker.setConcurrency}). */
  setConcurrency(queue: string, n: number): void {
    this.workers.get(queue)?.setConcurrency(n);
  }

  start(): void {
    if (this.stopping || this.workers.size === 0) return;
    this.unsubscribe = this.deps.storage.subscribe((queue) => this.workers.get(queue)?.arrival());
    this.unsubscribeCancels = this.deps.storage.subscribeCancels((id) => this.cancellations.notice(id));
    this.unsubscribePauses = this.deps.storage.subscribePauses((target) => void this.paused(target));
    for (const worker of this.workers.values()) worker.start();
    this.scheduleHeartbeat();
  }

  /**
   * End a job this process holds, after the store cancelled it. Returns whether it was held here and not already
   * ended, so a second notice of the same cancellation changes and reports nothing.
   */
  private cancelLocal(id: string): boolean {
    for (const worker of this.workers.values()) {
      // Not started yet: it simply never starts (the store already ended it), and its place may be refilled.
      if (worker.buffer.remove(id)) {
        worker.poke();
        return true;
      }
      const attempt = worker.running.get(id);
      if (attempt) return attempt.end('cancelled');
    }
    return false;
  }

  /**
   * Running jobs whose leases the store no longer holds. A store without cancel notices (PostgreSQL with
   * `listen: false`, a custom store) tells of a cancellation only here: a job the store has `cancelled` ends as a
   * cancellation (`JobCancelledError`, `job:cancelled`), as a notice would have ended it; any other ends with its
   * lease lost. One look-up per interrupted job, and only for these, bounded by `heartbeatMs`: a job whose state
   * cannot be read in time ends with its lease lost, as before the look-up existed.
   */
  private async interrupt(attempts: readonly Attempt[]): Promise<void> {
    let states: (JobState | undefined)[] = [];
    try {
      const reads = Promise.all(attempts.map((a) => this.deps.storage.get(a.id).then((job) => job?.state)));
      states = await this.bounded(reads, this.config.heartbeatMs, messages.heartbeatTimeout(this.config.heartbeatMs));
    } catch {
      // Unknown: the lease is gone either way.
    }
    attempts.forEach((attempt, k) => {
      if (states[k] === 'cancelled') this.cancellations.notice(attempt.id);
      else attempt.end('lease-lost');
    });
  }

  /**
   * A queue or task was paused (here, or by another process as the store tells): its jobs claimed ahead and not
   * started go back to the store, their attempt not counted. Running ones finish.
   */
  async paused(target: Required<PauseTarget>): Promise<void> {
    const worker = this.workers.get(target.queue);
    if (!worker || this.stopping) return;
    worker.pauseNoticed(target);
    const held = worker.buffer.takeWhere((b) => target.task === null || b.claimed.job.task === target.task);
    if (held.length === 0) return;
    worker.poke();
    await this.release(held.map(({ claimed }) => ({ id: claimed.job.id, token: claimed.token })), `handing back prefetched jobs of paused ${target.task === null ? `queue "${target.queue}"` : `task "${target.task}"`}`);
  }

  /** Without pause notices: read what is paused while prefetched jobs wait here (at each heartbeat). */
  private async pollPauses(): Promise<void> {
    if (this.unsubscribePauses || ![...this.workers.values()].some((w) => w.buffer.size > 0)) return;
    try {
      for (const target of (await this.deps.storage.listPaused()) ?? []) await this.paused(target);
    } catch (error) {
      this.deps.events.emit('worker:error', { error: toError(error), context: 'reading paused queues and tasks' });
    }
  }

  /**
   * Stop claiming, let running jobs finish for up to `graceMs`, then abort the rest and put them back to `waiting`
   * (their attempt not counted) so another worker picks them up. Idempotent.
   */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    const workers = [...this.workers.values()];
    await Promise.all(workers.map((w) => w.stop()));
    this.unsubscribe?.();
    // Jobs claimed ahead and not started go back at once, for other workers to take.
    const buffered = workers.flatMap((w) => w.takeBuffered());
    if (buffered.length > 0) await this.release(buffered.map(({ claimed }) => ({ id: claimed.job.id, token: claimed.token })), 'handing back prefetched jobs at shutdown');
    let timer: TimerHandle | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = this.deps.clock.setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(workers.map((w) => w.drained())), graceOver]);
    if (timer) this.deps.clock.clearTimeout(timer);
    const leftovers = workers.flatMap((w) => [...w.running.values()]);
    if (leftovers.length > 0) {
      // Ended first, so no outcome of theirs is written after the release: their attempt is not counted.
      for (const attempt of leftovers) attempt.end('shutdown');
      await this.release(leftovers.map((attempt) => attempt.lease), 'releasing jobs at shutdown');
    }
    this.closed = true;
    this.executor.close();
    // Only now: jobs still draining above had to hear of cancellations too.
    this.unsubscribeCancels?.();
    this.unsubscribePauses?.();
    if (this.heartbeatTimer) this.deps.clock.clearTimeout(this.heartbeatTimer);
    if (this.fenceTimer) this.deps.clock.clearTimeout(this.fenceTimer);
    this.heartbeatTimer = this.fenceTimer = null;
  }

  /** `promise`, or a `StorageError` with `message` once `ms` have passed on the engine's clock. */
  private bounded<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
    return withDeadline(this.deps.clock, promise, ms, () => new StorageError(message));
  }

  /**
   * Self-fencing: give up every job whose lease this process could not renew in time, before the store can hand it
   * to another worker. Its deadline is the last claim or renewal *sent* plus `leaseMs` on this process's monotonic
   * clock, less a margin for clock rate and transit. A running handler's signal is aborted and its outcome is never
   * written (the store recovers the job when the lease expires); a buffered job is dropped before it starts.
   */
  private selfFence(): void {
    this.fenceTimer = null;
    if (this.closed) return;
    const margin = fenceMargin(this.config.leaseMs);
    const now = this.deps.clock.now();
    let next = Infinity;
    for (const w of this.workers.values()) {
      for (const { claimed } of w.buffer.all()) {
        const until = this.leaseUntil.get(claimed.token);
        if (until === undefined) continue;
        if (until - margin <= now) w.buffer.remove(claimed.job.id);
        else next = Math.min(next, until - margin);
      }
      for (const attempt of w.running.values()) {
        const until = this.leaseUntil.get(attempt.token);
        if (until === undefined) continue;
        if (until - margin > now) {
          next = Math.min(next, until - margin);
          continue;
        }
        attempt.end('lease-lost', new LeaseLostError(messages.selfFenced(attempt.id, now - (until - this.config.leaseMs))));
      }
    }
    if (next < Infinity) {
      this.fenceTimer = this.deps.clock.setTimeout(() => this.selfFence(), Math.max(1, next - now));
      this.fenceTimer.unref?.();
    }
  }

  private async release(leases: Lease[], context: string): Promise<void> {
    try {
      // Bounded: shutdown must end even when the store is unreachable.
      await this.bounded(this.deps.storage.release(leases), SHUTDOWN_WRITE_MS, messages.shutdownWriteTimeout(SHUTDOWN_WRITE_MS));
    } catch (error) {
      // The leases will expire and recovery puts the jobs back: nothing is lost.
      this.deps.events.emit('worker:error', { error: toError(error), context });
    }
  }

  /** A claim brought leases: renew them from now on, unless renewals already run. */
  private armHeartbeat(): void {
    if (this.heartbeatTimer === null && !this.closed) this.scheduleHeartbeat();
  }

  /** Whether any job is held here, running or claimed ahead: only then do leases need renewing. */
  private holdsLeases(): boolean {
    for (const w of this.workers.values()) if (w.running.size > 0 || w.buffer.size > 0) return true;
    return false;
  }

  /** The next renewal `heartbeatMs` after the last one began (a slow or timed-out renewal does not delay it further). */
  private scheduleHeartbeat(began?: number): void {
    const wait = began === undefined ? this.config.heartbeatMs : Math.max(1, this.config.heartbeatMs - (this.deps.clock.now() - began));
    this.heartbeatTimer = this.deps.clock.setTimeout(() => void this.heartbeat(), wait);
    this.heartbeatTimer.unref?.();
  }

  /** Extend every lease in one call (running and buffered jobs); abort the handlers whose lease is gone. */
  private async heartbeat(): Promise<void> {
    this.heartbeatTimer = null;
    const began = this.deps.clock.now();
    const workers = [...this.workers.values()];
    const leases: Lease[] = [];
    for (const w of workers) {
      for (const attempt of w.running.values()) leases.push(attempt.lease);
      for (const { claimed } of w.buffer.all()) leases.push({ id: claimed.job.id, token: claimed.token });
    }
    if (leases.length > 0) {
      const sentAt = this.deps.clock.now();
      try {
        // A renewal that hangs (a dead connection, a pool exhausted by handlers) must not stop the next ones.
        const renewal = this.deps.storage.heartbeat(leases, this.config.leaseMs);
        const lost = await this.bounded(renewal, this.config.heartbeatMs, messages.heartbeatTimeout(this.config.heartbeatMs));
        const gone = new Set(lost);
        const current = new Set(leases.map((l) => l.token));
        for (const token of this.leaseUntil.keys()) if (!current.has(token)) this.leaseUntil.delete(token);
        // Only leases still held: an outcome settled during the renewal took its entry out (QueueWorker.settled).
        for (const l of leases) if (!gone.has(l.id) && this.leaseUntil.has(l.token)) this.leaseUntil.set(l.token, sentAt + this.config.leaseMs);
        const sent = new Map(leases.map((l) => [l.id, l.token]));
        // Act on where each job is now: a buffered job whose lease is gone (recovered, cancelled) is dropped before
        // it starts; one that started meanwhile is interrupted like any running job.
        const interrupted: Attempt[] = [];
        for (const id of lost) {
          for (const w of workers) {
            if (w.buffer.remove(id)) break;
            const attempt = w.running.get(id);
            if (!attempt || attempt.token !== sent.get(id)) continue;
            interrupted.push(attempt);
            break;
          }
        }
        // Not awaited: the look-ups must not hold up this round's other work.
        if (interrupted.length > 0) void this.interrupt(interrupted);
      } catch (error) {
        this.deps.events.emit('worker:error', { error: toError(error), context: 'renewing leases' });
      }
    }
    // Not awaited: a slow read must not hold up the next renewal.
    void this.pollPauses();
    if (this.closed) return;
    if (!this.fenceTimer) this.selfFence();
    // Idle (nothing held): no timer until a claim brings leases (armHeartbeat), so an idle instance does not wake
    // every heartbeatMs. A claim that returned meanwhile may have armed it already.
    if (this.heartbeatTimer === null && this.holdsLeases()) this.scheduleHeartbeat(began);
  }
}
