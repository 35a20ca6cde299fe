import { ConfigurationError, messages } from '../contract/errors.js';
import { PRIORITIES, type ClaimedJob, type Priority } from '../contract/job.js';
import type { ClaimFlow, ClaimReply, ClaimRequest, FlowLimits, PauseTarget } from '../contract/job-storage.js';
import type { Attempt, AttemptOwner } from './attempt.js';
import { toError } from './events.js';
import type { Executor, ExecutorDeps } from './executor.js';
import { PrefetchBuffer, payloadBytes, type BufferedJob } from './prefetch.js';
import type { TaskDefinition, TaskRegistry } from './task-registry.js';

/** What the pool needs: the executor's services plus the registry to find each job's handler. */
export type WorkerPoolDeps = ExecutorDeps & { registry: TaskRegistry };

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
  /** Cluster-wide limits of the queue and its tasks, kept by the store (none: undefined). */
  flow?: ClaimFlow;
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
export const fenceMargin = (leaseMs: number): number => Math.max(1, Math.floor(leaseMs / 10));

/**
 * Claims and runs the jobs of one queue, never above its concurrency (plus the critical reserve). It starts an
 * {@link Attempt} per job and owns what the attempts report: the slot (freed when a handler really returned) and
 * the lease (held until the outcome is settled).
 */
export class QueueWorker implements AttemptOwner {
  /** Attempts whose outcome is not settled yet (their lease is held and renewed), by job id. */
  readonly running = new Map<string, Attempt>();
  /** Jobs claimed ahead of free slots, waiting here with their lease held. */
  readonly buffer: PrefetchBuffer;
  private readonly perTask = new Map<string, number>();
  /** Slots in use: handlers running (a job whose outcome is still being written no longer holds one). */
  private busy = 0;
  /** Handlers still running after their attempt ended without them (timeout, cancel, lease loss, shutdown). */
  private overdueHandlers = 0;
  private wake: (() => void) | null = null;
  private dirty = true;
  /** Jobs may have become ready in the store since the last claim (a wake-up or a poll), not just a slot freed. */
  private arrived = false;
  /**
   * The last claim of every priority found nothing else claimable (`ClaimReply.drained`) and no wake-up or poll came
   * since: a freed slot then claims nothing, as the claim would come back empty.
   */
  private storeDrained = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private drainWaiters: (() => void)[] = [];
  /** Tasks met in this queue that no handler here serves. */
  private readonly unknownTasks = new Set<string>();
  /** Pauses heard of while a claim is on its way (null when none is): its jobs of those go back at once. */
  private pausedDuringClaim: Required<PauseTarget>[] | null = null;
  /** The queue or one of its tasks has a cluster-wide concurrency cap (of all its jobs or per group). */
  private readonly capped: boolean;
  /** Jobs of the last claim handed back because a pause arrived during it. */
  private readonly handedBack = new Set<ClaimedJob>();

  constructor(
    readonly config: QueueWorkerConfig,
    private readonly pool: WorkerPoolConfig,
    private readonly deps: WorkerPoolDeps,
    private readonly executor: Executor,
    /** Local deadline of every lease this process holds, by token (see WorkerPool.selfFence). */
    private readonly leaseUntil: Map<string, number>,
    /** Told when a claim brought leases, so the pool renews them (its renewals stop while nothing is held). */
    private readonly onLeases: () => void = () => {},
  ) {
    this.buffer = new PrefetchBuffer(config.prefetch, config.concurrency, config.prefetchBytes, config.agingMs);
    const flow = config.flow;
    const caps = (l: FlowLimits | undefined) => l?.concurrency !== undefined || l?.groupConcurrency !== undefined;
    this.capped = caps(flow?.queue) || Object.values(flow?.tasks ?? {}).some(caps);
  }

  /** Handlers of this queue still running after their attempt ended without them; each keeps its slot. */
  get overdueCount(): number {
    return this.overdueHandlers;
  }

  /** Start the claim loop. */
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

  /**
   * Run up to `n` jobs at once from now on: more slots are filled at once; with fewer, running jobs finish and no
   * new one starts until the queue is below `n`.
   */
  setConcurrency(n: number): void {
    this.config.concurrency = n;
    this.buffer.concurrency = n;
    this.poke();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // Read on every round: the concurrency may change at runtime (setConcurrency, autoscaling).
      const { concurrency, criticalSlots } = this.config;
      this.dirty = false;
      const arrived = this.arrived;
      this.arrived = false;
      if (arrived) this.storeDrained = false;
      this.startBuffered();
      const busy = this.busy;
      const leaseRoom = this.leaseRoom();
      const regular = this.regularNeed();
      let request: ClaimRequest | null = null;
      // No room: a probe waits (its wake-up kept) until a finished job hands a lease back.
      if (leaseRoom <= 0) this.arrived ||= arrived;
      // Nothing was left to claim and nothing arrived since: a freed slot waits for a wake-up or the poll.
      else if (this.storeDrained) request = null;
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
      let claimed: ClaimReply = [];
      if (request) {
        const began = PrefetchBuffer.now();
        // The store starts the lease when it runs the claim, after this instant: a deadline from here is safe.
        const sentAt = this.deps.clock.now();
        this.pausedDuringClaim = [];
        try {
          claimed = await this.deps.storage.claim(request);
          await this.handBackPaused(claimed);
          // A reply that arrives past this worker's own deadline for the leases (the claim was held up by a partition
          // and delivered late) would be self-fenced at once: hand the jobs back unstarted instead of starting
          // handlers that are aborted a moment later and then run again elsewhere.
          // A store that claimed ahead of the call says how much earlier the leases may have begun.
          const leaseFrom = sentAt - (claimed.leaseAgeMs ?? 0);
          if (claimed.length > 0 && this.deps.clock.now() >= leaseFrom + request.leaseMs - fenceMargin(request.leaseMs)) {
            await this.handBackLate(claimed);
            claimed = [];
          }
          for (const { token } of claimed) this.leaseUntil.set(token, leaseFrom + request.leaseMs);
          if (claimed.length > 0) this.onLeases();
        } catch (error) {
          this.pausedDuringClaim = null;
          this.deps.events.emit('worker:error', { error: toError(error), context: `claiming from queue "${this.config.queue}"` });
          await this.idle(this.pool.pollIntervalMs);
          continue;
        }
        this.buffer.noteClaim(PrefetchBuffer.now() - began);
        // Only a claim of every priority speaks for the whole queue (a probe or the reserve's asks for some).
        if (!request.priorities) this.storeDrained = claimed.drained === true && claimed.length < request.limit && !this.arrived;
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
        if (this.handedBack.has(job)) continue;
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
      // A rate limit held jobs back: look again when it lets more through, not at the next poll (nor any sooner).
      const wait = claimed.heldMs === undefined ? this.pool.pollIntervalMs : Math.min(this.pool.pollIntervalMs, Math.max(1, claimed.heldMs));
      if (!this.dirty && !this.stopped) await this.idle(wait);
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
    const flowTasks = this.config.flow?.tasks;
    if (flowTasks) {
      // A task under a cluster-wide limit is claimed only for free slots, not into the buffer: a job held there would
      // count against the limit while other processes sit idle.
      // Free slots: those no running or buffered job has taken.
      taskLimits ??= {};
      const free = Math.max(0, this.config.concurrency - this.busy - this.buffer.size);
      for (const task of Object.keys(flowTasks)) taskLimits[task] = Math.min(taskLimits[task] ?? Infinity, free);
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
      ...(this.config.flow ? { flow: this.config.flow } : {}),
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

  /** A pause was heard of: a claim on its way keeps none of that queue's or task's jobs (see the claim loop). */
  pauseNoticed(target: Required<PauseTarget>): void {
    this.pausedDuringClaim?.push(target);
  }

  /**
   * Hand back the jobs of a claim that a pause heard of during it covers: the claim may have run in the store before
   * the pause, but its jobs arrive after the worker was told to start none. Kept in place in `claimed` (the claim's
   * start records go by position) and skipped through `handedBack`.
   */
  private async handBackPaused(claimed: ClaimReply): Promise<void> {
    const pauses = this.pausedDuringClaim ?? [];
    this.pausedDuringClaim = null;
    this.handedBack.clear();
    if (pauses.length === 0) return;
    for (const job of claimed) if (pauses.some((t) => t.task === null || t.task === job.job.task)) this.handedBack.add(job);
    if (this.handedBack.size > 0) await this.release([...this.handedBack], 'handing back jobs of a queue or task paused during their claim');
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
   * Start one job. Its slot frees as soon as the handler returns (`slotFreed`), so the next claim overlaps the
   * outcome write (one round trip per job at concurrency 1, not two); its lease stays in `running`, renewed by
   * heartbeats, until the outcome is settled (`settled`). A handler that ignores its signal after a timeout, cancel
   * or lease loss keeps its slot until it really returns (`overdue`): its outcome is settled at the interruption, but
   * it still uses a slot's worth of resources. A job taken from the buffer has its start recorded (`mark`), so that
   * only a crash after this point counts as a stall.
   */
  private start1(claimed: ClaimedJob, definition: TaskDefinition, mark: boolean): void {
    const task = claimed.job.task;
    this.busy++;
    this.perTask.set(task, (this.perTask.get(task) ?? 0) + 1);
    // Handler times only size the prefetch buffer: without one, skip the timer.
    const attempt = this.executor.attempt(claimed, definition, this, { mark, timer: this.buffer.max > 0 ? PrefetchBuffer.now : undefined });
    this.running.set(claimed.job.id, attempt);
    attempt.start();
  }

  /** An attempt's handler returned: its slot is free for a buffered job or the next claim. */
  slotFreed(attempt: Attempt): void {
    if (attempt.overdue) this.overdueHandlers--;
    this.busy--;
    this.perTask.set(attempt.task, (this.perTask.get(attempt.task) ?? 1) - 1);
    if (!Number.isNaN(attempt.handlerMs)) this.buffer.noteRun(attempt.handlerMs);
    const reserveFreed = this.busy >= this.config.concurrency;
    this.startBuffered();
    // Wake the loop when it has something to claim. Asking for critical jobs after every handler would cost a
    // round trip each; only a freed reserve slot does (other critical work arrives through wake-ups and polling).
    if (reserveFreed || this.regularNeed() > 0) this.poke();
  }

  /** An attempt ended without its handler, which still runs: it keeps its slot, and the pool says so. */
  overdue(attempt: Attempt): void {
    this.overdueHandlers++;
    this.deps.events.emit('job:overdue', {
      job: attempt.info,
      workerId: this.deps.workerId,
      reason: attempt.interruption?.name ?? 'Error',
      overdue: this.overdueHandlers,
    });
  }

  /** An attempt's outcome is settled: its lease is no longer held. */
  settled(attempt: Attempt): void {
    // slotFreed() already announced the slot (or will, when an overdue handler returns); the released lease matters
    // only when leases, not slots, held the claim back (poking every time made the loop ask for critical jobs
    // after each write: a wasted round trip).
    // A probe kept waiting for room (this.arrived still set) may go now too.
    const leaseBound = this.leaseRoom() < this.regularNeed() || this.arrived;
    // Only this attempt's entry: after a lost lease the same job may already run here again under a newer claim.
    if (this.running.get(attempt.id) === attempt) this.running.delete(attempt.id);
    // Its lease deadline too: kept until the next renewal, 20,000 jobs a second left that many entries per second
    // (and their tokens) for the collector to copy and promote.
    this.leaseUntil.delete(attempt.token);
    if (this.running.size === 0 && this.drainWaiters.length) for (const resolve of this.drainWaiters.splice(0)) resolve();
    // Under a cluster-wide cap, the written outcome is what frees room in the store: claim again now.
    if (leaseBound || this.capped) this.poke();
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

