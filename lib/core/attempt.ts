import type { TimerHandle } from '../contract/clock.js';
import { JobCancelledError, JobStalledError, JobTimeoutError, LeaseLostError, messages } from '../contract/errors.js';
import type { ClaimedJob } from '../contract/job.js';
import type { Lease } from '../contract/job-storage.js';
import { toError } from './events.js';
import { jobInfo, type JobInfo } from './job.js';
import { AttemptContext } from './job-context.js';
import { LazyAbort } from './lazy-abort.js';
import type { Executor } from './executor.js';
import { safely, type AttemptOutcome, type AttemptScope } from './instrumentation.js';
import type { TaskDefinition } from './task-registry.js';

/**
 * Why an attempt ended. The first two come from the handler; the others interrupt it:
 * - `completed`: the handler returned (a result that cannot be stored turns this into a failure);
 * - `failed`: the handler threw, or the job was given up unrun (it killed its workers more than `maxStalls` times);
 * - `timeout`: the task's timeout passed (a failed attempt: the retry policy decides what follows);
 * - `cancelled`: the store cancelled the job (here or in another process);
 * - `lease-lost`: the store no longer holds the lease for this worker, or this worker could not renew it in time and
 *   gave the job up itself (self-fencing);
 * - `shutdown`: the process stops and hands the job back to the queue, its attempt not counted.
 */
export type EndReason = 'completed' | 'failed' | 'timeout' | 'cancelled' | 'lease-lost' | 'shutdown';

/** Reasons that mean the store took (or is taking) the job away from this attempt: no outcome of ours may follow. */
type TakenReason = 'cancelled' | 'lease-lost' | 'shutdown';
const TAKEN: ReadonlySet<EndReason> = new Set<TakenReason>(['cancelled', 'lease-lost', 'shutdown']);

/**
 * What the owner of attempts (one queue's worker) hears from them, each at most once per attempt and synchronously,
 * so a freed slot is refilled in the same turn and the next handler's outcome can join the same write batch.
 */
export interface AttemptOwner {
  /** The handler has returned (or never ran): the slot it held is free. */
  slotFreed(attempt: Attempt): void;
  /** The attempt ended without its handler, which still runs a turn later because it ignores its signal. */
  overdue(attempt: Attempt): void;
  /** The outcome is settled (written, refused, unknown, or none to write): the lease is no longer held here. */
  settled(attempt: Attempt): void;
}

/** How an attempt starts. */
export interface AttemptOptions {
  /** Record the handler's start in the store (`StartMarks`): a job taken from the prefetch buffer. */
  mark: boolean;
  /** Monotonic timer to measure the handler with (see {@link Attempt.handlerMs}); none: not measured. */
  timer?: () => number;
}

/**
 * One run of one claimed job in this process, from the handler's start to its settled outcome. It holds the claimed
 * job and its lease token, the abort signal, the timeout timer, the start mark and the overdue state, and is ended in
 * exactly one way: {@link end}. The first `end` decides the outcome, and with it the only store write (a completion,
 * a failure, or none when the store already took the job away); every later `end` changes nothing.
 *
 * Two things are released at different times and reported to the {@link AttemptOwner}: the slot, when the handler
 * has really returned (an interrupted handler that ignores its signal keeps it: it still uses a slot's worth of
 * resources), and the lease, when the outcome is settled.
 */
export class Attempt {
  /** The job's id. */
  readonly id: string;
  /** The fencing token of the claim: every write of this attempt carries it. */
  readonly token: string;
  private view: JobInfo | undefined;
  /** Aborted with the reason's error when the attempt is interrupted. */
  readonly abort = new LazyAbort();
  private why: EndReason | null = null;
  private cause: Error | null = null;
  private running = false;
  private late = false;
  /** The store ended the job (why) while our outcome write was under way: its refusal is no lease loss to report. */
  private taken: TakenReason | null = null;
  /** The instrumentation's scope of this attempt, until it is told the outcome. */
  private scope: AttemptScope | undefined;
  private done = false;
  private timeout: TimerHandle | undefined;
  /** The start mark was handed to the sweep (see {@link startMark}). */
  private marked = false;
  private startedAt = 0;
  private began = 0;
  /** Handler run time on the owner's timer, once it returned; NaN when not measured. */
  handlerMs = Number.NaN;
  /** The failure the executor writes (what failed the attempt, and the retry delay or null), once it decided one. */
  failure: { error: Error; retryDelayMs: number | null } | null = null;
  /** Why the outcome could not be written, when the executor gave up writing it (the outcome is then unknown). */
  writeError: Error | null = null;

  constructor(
    private readonly executor: Executor,
    readonly claimed: ClaimedJob,
    readonly definition: TaskDefinition,
    private readonly owner: AttemptOwner,
    private readonly options: AttemptOptions,
  ) {
    this.id = claimed.job.id;
    this.token = claimed.token;
  }

  /** The job as handlers and events see it: made on first use (most short jobs have no reader), the same object after. */
  get info(): JobInfo {
    return (this.view ??= jobInfo(this.claimed.job));
  }

  /** The lease this attempt holds (until its outcome is settled). */
  get lease(): Lease {
    return { id: this.id, token: this.token };
  }

  /** See {@link Markable.startMark}: marks are due for handlers started from the buffer, while they run. */
  startMark(due: number): Lease | 'young' | null {
    if (!this.options.mark || !this.running || this.marked) return null;
    if (this.startedAt > due) return 'young';
    this.marked = true;
    return this.lease;
  }

  /** The job's task name. */
  get task(): string {
    return this.claimed.job.task;
  }

  /** Why it ended, or null while the handler runs undecided. */
  get reason(): EndReason | null {
    return this.why;
  }

  /** The error an interruption aborted the signal with (timeout, cancel, lease loss, shutdown), else null. */
  get interruption(): Error | null {
    return this.cause;
  }

  /**
   * The handler outlived the attempt (it ignored its signal) and was reported to the owner as overdue; it keeps its
   * slot until it returns. Stays true afterwards, so the owner can count it down in `slotFreed`.
   */
  get overdue(): boolean {
    return this.late;
  }

  /** Whether the outcome is settled and the lease no longer held here. */
  get settled(): boolean {
    return this.done;
  }

  /**
   * Run the handler (or give the job up unrun when it killed its workers more than `maxStalls` times). Call once,
   * after the owner has registered the attempt: a give-up ends it at once.
   */
  start(): void {
    const { job } = this.claimed;
    const { deps } = this.executor;
    const maxStalls = this.definition.maxStalls ?? deps.maxStalls;
    this.startedAt = deps.clock.now();
    const { instrumentation } = deps;
    if (instrumentation?.attempt) this.scope = safely(deps.events, `attempt() of job ${this.id}`, () => instrumentation.attempt!(job)) ?? undefined;
    if (job.stalls > maxStalls) {
      // Its handler would likely take this process down too.
      this.owner.slotFreed(this);
      this.end('failed', new JobStalledError(messages.stalledTooOften(job.id, job.stalls, maxStalls)));
      return;
    }
    this.running = true;
    if (this.options.mark) this.executor.marks.started();
    if (this.options.timer) this.began = this.options.timer();
    const announce = deps.events.has('job:active');
    if (announce || deps.tally) {
      const waitMs = Math.max(0, deps.clock.now() - Math.max(job.createdAt.getTime(), job.runAt.getTime()));
      const last = job.stalls > 0 ? job.errors[job.errors.length - 1] : undefined;
      const afterStall = last !== undefined && last.name === 'JobStalledError' && last.attempt === job.attempt;
      deps.tally?.active(job.queue, job.task, waitMs, afterStall);
      if (announce) deps.events.emit('job:active', { job: this.info, workerId: deps.workerId, waitMs, afterStall });
    }
    const timeoutMs = job.timeoutMs ?? this.definition.timeout;
    if (timeoutMs) this.timeout = deps.clock.setTimeout(() => this.end('timeout', new JobTimeoutError(messages.timeout(timeoutMs))), timeoutMs);
    let value: unknown;
    try {
      value = this.scope ? this.scope.run(() => this.invoke()) : this.invoke();
    } catch (error) {
      value = Promise.reject(error);
    }
    // Settled a turn later even when the handler returned at once, like an awaited call: the owner is never re-entered
    // from inside its own start.
    Promise.resolve(value).then(
      (result) => {
        this.returned();
        this.end('completed', result);
      },
      (error: unknown) => {
        this.returned();
        this.end('failed', error);
      },
    );
  }

  /**
   * End the attempt. The first call decides: `completed` (`detail`: the handler's result) writes a completion,
   * `failed` (`detail`: what was thrown) and `timeout` write a failure that the retry policy turns into a retry or a
   * final failure; `cancelled`, `lease-lost` and `shutdown` write nothing, as the store has ended the job or is handed
   * it back. An interruption aborts the signal with `detail` (an Error) or the reason's own error, and reports the
   * handler overdue if it has not returned a turn later. Returns whether this call changed anything: later calls are
   * no-ops, except that a cancel, lease loss or shutdown that arrives while the outcome write is under way is noted
   * once (the store refuses that write, and it is no lease loss to report again).
   */
  end(reason: EndReason, detail?: unknown): boolean {
    if (this.why !== null) {
      if (this.done || this.taken || !TAKEN.has(reason)) return false;
      this.taken = reason as TakenReason;
      this.abort.abort(this.reasonError(reason, detail));
      if (reason === 'lease-lost') this.leaseLost();
      return true;
    }
    this.why = reason;
    if (this.timeout) this.executor.deps.clock.clearTimeout(this.timeout);
    this.timeout = undefined;
    const durationMs = this.executor.deps.clock.now() - this.startedAt;
    if (reason === 'completed') {
      this.executor.complete(this, detail, durationMs);
      return true;
    }
    if (reason === 'failed') {
      this.record(this.executor.fail(this, detail, durationMs));
      return true;
    }
    const error = this.reasonError(reason, detail);
    this.cause = error;
    this.abort.abort(error);
    if (this.running) {
      // Reported overdue only if it has not returned by the next turn of the event loop: a handler that honours its
      // signal often needs a few promise ticks to unwind.
      setImmediate(() => {
        if (!this.running || this.late) return;
        this.late = true;
        this.owner.overdue(this);
      });
    }
    if (reason === 'timeout') {
      this.record(this.executor.fail(this, error, durationMs));
      return true;
    }
    if (reason === 'lease-lost') this.leaseLost();
    this.report(reason as TakenReason, error);
    this.settle();
    return true;
  }

  /** Call the handler with the job's payload and this attempt's context (or add them to the task's batch). */
  private invoke(): unknown {
    const { deps } = this.executor;
    const ctx = new AttemptContext(this, deps.storage, deps.events, this.executor.limits);
    const { payload } = this.claimed.job;
    // A batch task's job joins the batch gathering in this process, and settles with its own entry of the reply.
    return this.definition.batch ? this.executor.batcher(this.definition).add(payload, ctx) : this.definition.handler(payload, ctx);
  }

  /** The handler has returned (no start mark is due for it from now on): measure it, and free its slot. */
  private returned(): void {
    this.running = false;
    if (this.options.timer) this.handlerMs = this.options.timer() - this.began;
    this.owner.slotFreed(this);
  }

  /** Settle once `write` answers (see {@link written}). Chained rather than an async method. */
  record(write: Promise<boolean | null>): void {
    void write.then(
      (accepted) => this.written(accepted),
      (error: unknown) => this.unwritten(error),
    );
  }

  /**
   * Settle with what the store said of the outcome write (called once, by the executor or {@link record}): a refusal
   * means the lease was lost first, unless the store took the job; null, that the outcome is unknown.
   */
  written(accepted: boolean | null): void {
    try {
      this.recorded(accepted);
    } catch (error) {
      this.unrecorded(error);
    }
    this.settle();
  }

  /** The outcome write (or what ran around it) threw: settle with the outcome unknown. */
  unwritten(error: unknown): void {
    this.unrecorded(error);
    this.settle();
  }

  /** Report what the store said of the outcome write. */
  private recorded(accepted: boolean | null): void {
    if (accepted === false) {
      const lost = new LeaseLostError(messages.leaseLost(this.id));
      this.abort.abort(lost);
      if (!this.taken) this.leaseLost();
      this.report(this.taken ?? 'lease-lost', this.taken ? this.reasonError(this.taken, undefined) : lost);
    } else if (accepted === null) this.report('unknown', this.failure?.error ?? this.writeError);
    else if (this.failure) this.report(this.failure.retryDelayMs === null ? 'failed' : 'retry', this.failure.error, this.failure.retryDelayMs);
    else this.report('completed', null);
  }

  /** The outcome write (or what ran around it) threw: the outcome is unknown, left to lease recovery. */
  private unrecorded(error: unknown): void {
    this.executor.deps.events.emit('worker:error', { error: toError(error), context: `running job ${this.id}` });
    this.report('unknown', toError(error));
  }

  /** Tell the instrumentation how the attempt ended (once; nothing without one). */
  private report(outcome: AttemptOutcome, error: Error | null, retryDelayMs: number | null = null): void {
    const scope = this.scope;
    if (!scope) return;
    this.scope = undefined;
    safely(this.executor.deps.events, 'attempt end()', () => scope.end({ outcome, reason: this.why!, error, retryDelayMs }));
  }

  private settle(): void {
    if (this.done) return;
    this.done = true;
    this.owner.settled(this);
  }

  private leaseLost(): void {
    const { events, workerId } = this.executor.deps;
    events.emit('job:lease-lost', { jobId: this.id, workerId });
  }

  private reasonError(reason: EndReason, detail: unknown): Error {
    if (detail instanceof Error) return detail;
    switch (reason) {
      case 'cancelled':
        return new JobCancelledError(messages.cancelled(this.id));
      case 'shutdown':
        return new LeaseLostError(messages.handedBackAtShutdown(this.id));
      case 'timeout':
        return new JobTimeoutError(messages.timeout(this.claimed.job.timeoutMs ?? this.definition.timeout ?? 0));
      default:
        return new LeaseLostError(messages.leaseLost(this.id));
    }
  }
}
