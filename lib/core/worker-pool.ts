import { Cancellations } from './cancellations.js';
import { SHUTDOWN_WRITE_MS, withDeadline, type TimerHandle } from '../contract/clock.js';
import { ConfigurationError, JobCancelledError, LeaseLostError, StorageError, messages } from '../contract/errors.js';
import { toError } from './events.js';
import { PRIORITIES, type ClaimedJob, type Priority } from '../contract/job.js';
import { jobInfo } from './job.js';
import { Executor, type ExecutorDeps, type RunningJob } from './executor.js';
import { PrefetchBuffer, payloadBytes, type BufferedJob } from './prefetch.js';
import { StartMarks } from './start-marks.js';
import type { TaskDefinition, TaskRegistry } from './task-registry.js';

/** What the pool needs: the executor's services plus the registry to find each job's handler. */
export type WorkerPoolDeps = ExecutorDeps & { registry: TaskRegistry };
import type { ClaimRequest, Lease } from '../contract/job-storage.js';

/** Settings of one queue's workers in this process. */
export interface QueueWorkerConfig {
  queue: string;
  /** Jobs running at once. */
  concurrency: number;
  /** Extra slots only `critical` jobs may use when every regular slot is busy. */
  criticalSlots: number;
  /** Aging threshold in ms (see `ClaimRequest.agingMs`), or undefined for strict priority. */
  agingMs: number | undefined;
  /** Per-task concurrency caps within this queue. */
  taskConcurrency: ReadonlyMap<string, number>;
  /** Most jobs claimed ahead of free slots (0: none); the buffer adapts below it (see PrefetchBuffer). */
  prefetch: number;
  /** Most payload bytes held in the prefetch buffer. */
  prefetchBytes: number;
}

/** Settings shared by every queue worker of the pool. */
export interface WorkerPoolConfig {
  leaseMs: number;
  heartbeatMs: number;
  /** Longest idle wait before claiming again when no wake-up arrives. */
  pollIntervalMs: number;
}

const CRITICAL: readonly Priority[] = ['critical'];


/** Safety margin of self-fencing: a tenth of the lease (3 s by default). */
const fenceMargin = (leaseMs: number): number => Math.max(1, Math.floor(leaseMs / 10));

/** Claims and runs the jobs of one queue, never above its concurrency (plus the critical reserve). */
class QueueWorker {
  readonly running = new Map<string, RunningJob>();
  /** Jobs claimed ahead of free slots, waiting here with their lease held. */
  readonly buffer: PrefetchBuffer;
  private readonly perTask = new Map<string, number>();
  /** Slots in use: handlers running (a job whose outcome is still being written no longer holds one). */
  private busy = 0;
  /** Handlers still running after their attempt was settled without them (timeout, cancel, lease loss). */
  overdue = 0;
  private wake: (() => void) | null = null;
  private dirty = true;
  /** Jobs may have become ready in the store since the last claim (a wake-up or a poll), not just a slot freed. */
  private arrived = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private drainWaiters: (() => void)[] = [];
  /** Tasks met in this queue that no handler here serves. */
  private readonly unknownTasks = new Set<string>();

  constructor(
    readonly config: QueueWorkerConfig,
    private readonly pool: WorkerPoolConfig,
    private readonly deps: WorkerPoolDeps,
    private readonly executor: Executor,
    private readonly marks: StartMarks,
    /** Local deadline of every lease this process holds, by token (see WorkerPool.selfFence). */
    private readonly leaseUntil: Map<string, number>,
  ) {
    this.buffer = new PrefetchBuffer(config.prefetch, config.concurrency, config.prefetchBytes, config.agingMs);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Jobs of this queue may have become ready in the store (a wake-up): claim again, probing above the buffer. */
  arrival(): void {
    this.arrived = true;
    this.poke();
  }

  /** Something may have changed (a job arrived, a slot freed): claim again. */
  poke(): void {
    this.dirty = true;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Stop claiming; resolves when the loop has exited (running jobs continue). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.loop;
  }

  /** Resolves when no job of this queue is running. */
  drained(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    const { concurrency, criticalSlots } = this.config;
    while (!this.stopped) {
      this.dirty = false;
      const arrived = this.arrived;
      this.arrived = false;
      this.startBuffered();
      const busy = this.busy;
      const leaseRoom = this.leaseRoom();
      const regular = this.regularNeed();
      let request: ClaimRequest | null = null;
      // No room: a probe waits (its wake-up kept) until a finished job hands a lease back.
      if (leaseRoom <= 0) this.arrived ||= arrived;
      else if (regular > 0) {
        // With the buffer empty, the first jobs of the reply (the store's claim order) start at once, so the claim
        // records their start itself and a crash from here on counts as a stall. Jobs started later from the buffer
        // are recorded by StartMarks.
        const limit = Math.min(regular, leaseRoom);
        const startNow = this.buffer.size === 0 ? Math.min(limit, Math.max(0, concurrency - busy)) : 0;
        request = this.request(limit, undefined, startNow);
      }
      // The reserve slot's own claim, when every regular slot is busy and nothing is buffered.
      else if (busy < concurrency + criticalSlots && this.buffer.size === 0) {
        const limit = Math.min(concurrency + criticalSlots - busy, leaseRoom);
        request = this.request(limit, CRITICAL, limit);
      }
      // The priority probe. Buffered jobs were claimed before the jobs that just arrived, and the buffer is not due
      // for a refill: without this, a job arriving with a higher priority would wait behind every buffered job of a
      // lower one. So fetch only what outranks the least urgent buffered job (critical included: the reserve slot
      // takes it from the buffer); a batch of nothing costs one round trip per wake-up, and only while jobs wait here.
      else if (arrived && this.buffer.lowestLevel() > 0) {
        request = this.request(Math.min(Math.max(1, this.buffer.target()), leaseRoom), PRIORITIES.slice(0, this.buffer.lowestLevel()), 0);
      }
      let claimed: ClaimedJob[] = [];
      if (request) {
        const began = PrefetchBuffer.now();
        // The store starts the lease when it runs the claim, after this instant: a deadline from here is safe.
        const sentAt = this.deps.clock.now();
        try {
          claimed = await this.deps.storage.claim(request);
          // A reply that arrives past this worker's own deadline for the leases (the claim was held up by a partition
          // and delivered late) would be self-fenced at once: hand the jobs back unstarted instead of starting
          // handlers that are aborted a moment later and then run again elsewhere.
          if (claimed.length > 0 && this.deps.clock.now() >= sentAt + request.leaseMs - fenceMargin(request.leaseMs)) {
            await this.handBackLate(claimed);
            claimed = [];
          }
          for (const { token } of claimed) this.leaseUntil.set(token, sentAt + request.leaseMs);
        } catch (error) {
          this.deps.events.emit('worker:error', { error: toError(error), context: `claiming from queue "${this.config.queue}"` });
          await this.idle(this.pool.pollIntervalMs);
          continue;
        }
        this.buffer.noteClaim(PrefetchBuffer.now() - began);
        if (this.deps.events.has('storage:claim')) {
          this.deps.events.emit('storage:claim', { queue: this.config.queue, count: claimed.length });
        }
      }
      const unknown: ClaimedJob[] = [];
      const overBudget: ClaimedJob[] = [];
      // Jobs for free slots start at once (the first `startNow`, as the claim recorded); the rest wait in the buffer
      // only while its byte budget allows.
      const startNow = request?.startNow ?? 0;
      let free = concurrency - this.busy;
      for (let i = 0; i < claimed.length; i++) {
        const job = claimed[i]!;
        const definition = this.deps.registry.get(job.job.task);
        if (!definition) {
          unknown.push(job);
          continue;
        }
        if (i < startNow && !this.stopped) {
          free--;
          this.start1(job, definition, false);
          continue;
        }
        const bytes = this.buffer.max > 0 ? payloadBytes(job) : 0;
        if (free-- > 0 || this.buffer.fits(bytes)) this.buffer.push({ claimed: job, definition, bytes });
        else overBudget.push(job);
      }
      // Once stopped this starts nothing: WorkerPool.doStop hands the buffered jobs back.
      this.startBuffered();
      if (unknown.length) await this.handBack(unknown);
      if (overBudget.length) await this.release(overBudget, 'handing back jobs over the prefetch byte budget');
      // A full batch means more may be waiting: claim again at once if there is room (a full probe: probe again).
      if (claimed.length > 0 && claimed.length === request!.limit) {
        if (this.regularNeed() > 0) continue;
        if (request!.priorities && request!.priorities !== CRITICAL) {
          this.arrived = true;
          continue;
        }
      }
      if (!this.dirty && !this.stopped) await this.idle(this.pool.pollIntervalMs);
    }
  }

  /**
   * Leases this worker may still take. Handlers that finished keep their lease until their outcome is written, and
   * a crash of this process makes exactly those jobs run again: bounding all leases held to twice the slots plus the
   * prefetch cap bounds that, however slow the store's writes are (buffered jobs never ran: a crash only delays them
   * until their lease expires).
   */
  private leaseRoom(): number {
    const { concurrency, criticalSlots } = this.config;
    return 2 * (concurrency + criticalSlots + this.buffer.max) - this.running.size - this.buffer.size;
  }

  /**
   * Jobs of any priority to claim now. Free slots the buffer cannot fill are claimed for at once; otherwise the
   * buffer is refilled to its target when it is down to half of it, so the next claim is under way while the rest is
   * worked off (a claim for a few jobs each time some start would cost a full round trip for little).
   */
  private regularNeed(): number {
    const free = this.config.concurrency - this.busy;
    const target = this.buffer.target();
    const size = this.buffer.size;
    return size < free + Math.ceil(target / 2) ? Math.max(0, free + target - size) : 0;
  }

  /** Start buffered jobs while slots are free: any priority in regular slots, critical ones in the reserve. */
  private startBuffered(): void {
    if (this.stopped || this.buffer.size === 0) return;
    const { concurrency, criticalSlots, taskConcurrency } = this.config;
    const allowed = taskConcurrency.size === 0
      ? () => true
      : (b: BufferedJob) => {
          const max = taskConcurrency.get(b.claimed.job.task);
          return max === undefined || (this.perTask.get(b.claimed.job.task) ?? 0) < max;
        };
    const now = this.config.agingMs ? this.deps.clock.now() : 0;
    while (this.buffer.size > 0 && this.busy < concurrency + criticalSlots) {
      const next = this.buffer.take(allowed, this.busy >= concurrency, now);
      if (!next) break;
      this.start1(next.claimed, next.definition, true);
    }
  }

  /** Tasks met in this queue that no handler here serves (their jobs were left waiting). */
  unserved(): string[] {
    return [...this.unknownTasks].sort();
  }

  /** Hand the buffered jobs over (shutdown): the caller releases their leases. */
  takeBuffered(): BufferedJob[] {
    return this.buffer.clear();
  }

  private request(limit: number, priorities: readonly Priority[] | undefined, startNow: number): ClaimRequest {
    let taskLimits: Record<string, number> | undefined;
    if (this.config.taskConcurrency.size > 0 || this.unknownTasks.size > 0) {
      taskLimits = {};
      const buffered = this.buffer.perTask();
      for (const [task, max] of this.config.taskConcurrency) {
        taskLimits[task] = Math.max(0, max - (this.perTask.get(task) ?? 0) - (buffered.get(task) ?? 0));
      }
      for (const task of this.unknownTasks) taskLimits[task] = 0;
    }
    return {
      queue: this.config.queue,
      limit,
      leaseMs: this.pool.leaseMs,
      workerId: this.deps.workerId,
      priorities,
      taskLimits,
      agingMs: this.config.agingMs,
      startNow,
    };
  }

  /** Put claimed jobs back to waiting, their attempt not counted. */
  private async release(jobs: ClaimedJob[], context: string): Promise<void> {
    try {
      await this.deps.storage.release(jobs.map(({ job, token }) => ({ id: job.id, token })));
    } catch (error) {
      // Their leases expire and recovery puts them back.
      this.deps.events.emit('worker:error', { error: toError(error), context });
    }
  }

  /**
   * Jobs of tasks this process does not know (another version of the app enqueued them) are put back untouched,
   * and the task is excluded from later claims here, so an instance that lags behind a deploy never fails them.
   */
  private async handBack(jobs: ClaimedJob[]): Promise<void> {
    for (const { job } of jobs) {
      if (this.unknownTasks.has(job.task)) continue;
      this.unknownTasks.add(job.task);
      const error = new ConfigurationError(messages.unservedTask(job.task, this.config.queue, this.deps.registry.names()));
      this.deps.events.emit('worker:error', { error, context: `queue "${this.config.queue}" (left for a worker that knows the task)` });
    }
    await this.release(jobs, 'handing back jobs of unknown tasks');
  }

  /** Release jobs claimed too late to run safely (see the claim loop); a failed release leaves them to lease expiry. */
  private async handBackLate(jobs: ClaimedJob[]): Promise<void> {
    try {
      await this.deps.storage.release(jobs.map(({ job, token }) => ({ id: job.id, token })));
    } catch (error) {
      this.deps.events.emit('worker:error', { error: toError(error), context: `handing back jobs claimed past their lease in queue "${this.config.queue}"` });
    }
  }

  /**
   * Start one job. Its slot frees as soon as the handler settles, so the next claim overlaps the outcome write (one
   * round trip per job at concurrency 1, not two); its lease stays in `running`, renewed by heartbeats, until the
   * outcome is written. A handler that ignores its signal after a timeout, cancel or lease loss keeps its slot until
   * it really returns: its outcome is written at the interruption, but it still uses a slot's worth of resources.
   * A job taken from the buffer has its start recorded (`mark`), so that only a crash after this point counts as a
   * stall.
   */
  private start1(claimed: ClaimedJob, definition: TaskDefinition, mark: boolean): void {
    const task = claimed.job.task;
    const unmark = mark ? this.marks.add({ id: claimed.job.id, token: claimed.token }) : undefined;
    this.busy++;
    this.perTask.set(task, (this.perTask.get(task) ?? 0) + 1);
    let slotHeld = true;
    let wasOverdue = false;
    // Handler times only size the prefetch buffer: without one, skip the timer.
    const began = this.buffer.max > 0 ? PrefetchBuffer.now() : 0;
    const freeSlot = () => {
      if (!slotHeld) return;
      slotHeld = false;
      unmark?.();
      if (wasOverdue) this.overdue--;
      this.busy--;
      this.perTask.set(task, (this.perTask.get(task) ?? 1) - 1);
      if (this.buffer.max > 0) this.buffer.noteRun(PrefetchBuffer.now() - began);
      const reserveFreed = this.busy >= this.config.concurrency;
      this.startBuffered();
      // Wake the loop when it has something to claim. Asking for critical jobs after every handler would cost a
      // round trip each; only a freed reserve slot does (other critical work arrives through wake-ups and polling).
      if (reserveFreed || this.regularNeed() > 0) this.poke();
    };
    const overdue = (reason: Error) => {
      wasOverdue = true;
      this.overdue++;
      this.deps.events.emit('job:overdue', { job: jobInfo(claimed.job), workerId: this.deps.workerId, reason: reason.name, overdue: this.overdue });
    };
    let mine: RunningJob | undefined;
    const finished = () => {
      // freeSlot() already announced the slot (or will, when an overdue handler returns); the released lease matters
      // only when leases, not slots, held the claim back (poking every time made the loop ask for critical jobs
      // after each write: a wasted round trip).
      // A probe kept waiting for room (this.arrived still set) may go now too.
      const leaseBound = this.leaseRoom() < this.regularNeed() || this.arrived;
      // Only our own entry: after a lost lease the same job may already run here again under a newer claim.
      if (this.running.get(claimed.job.id) === mine) this.running.delete(claimed.job.id);
      if (this.running.size === 0 && this.drainWaiters.length) for (const resolve of this.drainWaiters.splice(0)) resolve();
      if (leaseBound) this.poke();
    };
    this.executor.run(claimed, definition, (running) => this.running.set(running.id, (mine = running)), freeSlot, overdue).then(finished, (error) => {
      this.deps.events.emit('worker:error', { error: toError(error), context: `running job ${claimed.job.id}` });
      freeSlot();
      finished();
    });
  }

  private idle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.deps.clock.setTimeout(() => {
        if (this.wake === finish) this.wake = null;
        // A poll stands in for the wake-ups a store without push cannot send (and any a store with push lost).
        this.arrived = true;
        resolve();
      }, ms);
      const finish = () => {
        this.deps.clock.clearTimeout(timer);
        resolve();
      };
      this.wake = finish;
    });
  }
}

/**
 * Runs the workers of every queue this process serves: one claim loop per queue, one heartbeat for all leases,
 * local cancellation, and a graceful stop that drains running jobs and hands back the rest.
 */
export class WorkerPool {
  private readonly workers = new Map<string, QueueWorker>();
  private readonly executor: Executor;
  private heartbeatTimer: TimerHandle | null = null;
  private fenceTimer: TimerHandle | null = null;
  private readonly marks: StartMarks;
  /** Local deadline (this process's clock) of every lease held, by token: last claim or renewal sent + leaseMs. */
  private readonly leaseUntil = new Map<string, number>();
  private unsubscribe: (() => void) | null = null;
  private unsubscribeCancels: (() => void) | null = null;
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
    this.cancellations = new Cancellations((id) => this.abortLocal(id), deps.events);
    this.marks = new StartMarks(deps);
    for (const queue of queues) this.workers.set(queue.queue, new QueueWorker(queue, config, deps, this.executor, this.marks, this.leaseUntil));
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
    return Object.fromEntries([...this.workers].map(([name, w]) => [name, w.overdue]));
  }

  /** Tasks whose jobs a queue's worker claimed with no handler here, per queue (only queues that met one). */
  unservedTasks(): Record<string, string[]> {
    return Object.fromEntries([...this.workers].map(([name, w]) => [name, w.unserved()]).filter(([, tasks]) => tasks.length > 0));
  }

  start(): void {
    if (this.stopping || this.workers.size === 0) return;
    this.unsubscribe = this.deps.storage.subscribe((queue) => this.workers.get(queue)?.arrival());
    this.unsubscribeCancels = this.deps.storage.subscribeCancels((id) => this.cancellations.notice(id));
    for (const worker of this.workers.values()) worker.start();
    this.scheduleHeartbeat();
  }

  /**
   * Abort a job this process holds (after the store cancelled it). Returns whether it was held here and not already
   * ended, so a second notice of the same cancellation changes and reports nothing.
   */
  abortLocal(id: string, error: Error = new JobCancelledError(messages.cancelled(id))): boolean {
    for (const worker of this.workers.values()) {
      // Not started yet: it simply never starts (the store already ended it), and its place may be refilled.
      if (worker.buffer.remove(id)) {
        worker.poke();
        return true;
      }
      const running = worker.running.get(id);
      if (running) {
        if (running.ended) return false;
        running.ended = true;
        running.interrupt(error);
        return true;
      }
    }
    return false;
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
      for (const running of leftovers) {
        running.ended = true;
        running.abort.abort(new LeaseLostError(`Shutting down: job ${running.id} was handed back to the queue.`));
      }
      await this.release(leftovers.map(({ id, token }) => ({ id, token })), 'releasing jobs at shutdown');
      for (const running of leftovers) running.interrupt(new LeaseLostError('released at shutdown'));
    }
    this.closed = true;
    this.marks.clear();
    // Only now: jobs still draining above had to hear of cancellations too.
    this.unsubscribeCancels?.();
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
      for (const job of w.running.values()) {
        const until = this.leaseUntil.get(job.token);
        if (until === undefined || job.fenced) continue;
        if (until - margin > now) {
          next = Math.min(next, until - margin);
          continue;
        }
        job.fenced = job.ended = true;
        job.interrupt(new LeaseLostError(messages.selfFenced(job.id, now - (until - this.config.leaseMs))));
        this.deps.events.emit('job:lease-lost', { jobId: job.id, workerId: this.deps.workerId });
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

  /** The next renewal `heartbeatMs` after the last one began (a slow or timed-out renewal does not delay it further). */
  private scheduleHeartbeat(began?: number): void {
    const wait = began === undefined ? this.config.heartbeatMs : Math.max(1, this.config.heartbeatMs - (this.deps.clock.now() - began));
    this.heartbeatTimer = this.deps.clock.setTimeout(() => void this.heartbeat(), wait);
    this.heartbeatTimer.unref?.();
  }

  /** Extend every lease in one call (running and buffered jobs); abort the handlers whose lease is gone. */
  private async heartbeat(): Promise<void> {
    const began = this.deps.clock.now();
    const workers = [...this.workers.values()];
    const leases: Lease[] = [];
    for (const w of workers) {
      for (const { id, token } of w.running.values()) leases.push({ id, token });
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
        for (const l of leases) if (!gone.has(l.id)) this.leaseUntil.set(l.token, sentAt + this.config.leaseMs);
        const sent = new Map(leases.map((l) => [l.id, l.token]));
        // Act on where each job is now: a buffered job whose lease is gone (recovered, cancelled) is dropped before
        // it starts; one that started meanwhile is interrupted like any running job.
        for (const id of lost) {
          for (const w of workers) {
            if (w.buffer.remove(id)) break;
            const job = w.running.get(id);
            if (!job || job.token !== sent.get(id)) continue;
            job.interrupt(new LeaseLostError(messages.leaseLost(id)));
            this.deps.events.emit('job:lease-lost', { jobId: id, workerId: this.deps.workerId });
            job.ended = true;
            break;
          }
        }
      } catch (error) {
        this.deps.events.emit('worker:error', { error: toError(error), context: 'renewing leases' });
      }
    }
    if (this.closed) return;
    if (!this.fenceTimer) this.selfFence();
    this.scheduleHeartbeat(began);
  }
}
