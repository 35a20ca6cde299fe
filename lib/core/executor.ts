import type { Clock, TimerHandle } from '../contract/clock.js';
import {
  InvalidJobError,
  JobCancelledError,
  JobStalledError,
  JobTimeoutError,
  LeaseLostError,
  NonErrorThrown,
  messages,
} from '../contract/errors.js';
import type { JobEvents } from './events.js';
import { type ClaimedJob, type JobError, type JobRecord } from '../contract/job.js';
import { jobInfo, type JobInfo } from './job.js';
import { JobContext } from './job-context.js';
import { LazyAbort } from './lazy-abort.js';
import { boundJobError, DEFAULT_LIMITS, type ResolvedLimits } from './limits.js';
import type { OutcomeWriter } from './outcome-writer.js';
import { bytesOver, toJson } from './payload.js';
import { nextRetryDelay } from './retry-policy.js';
import { isTickJobId } from './scheduler-definition.js';
import type { TaskDefinition } from './task-registry.js';
import type { CompleteOutcome, FailOutcome, JobStorage, Lease } from '../contract/job-storage.js';

/** A job this process is running. */
export interface RunningJob extends Lease {
  task: string;
  queue: string;
  abort: LazyAbort;
  /** Settles the attempt early with this error (timeout, cancel, lease loss). */
  interrupt: (error: Error) => void;
  /** The store already ended this job (cancelled, taken over): do not report the rejected write as a lease loss. */
  ended: boolean;
  /**
   * This worker could not renew the lease in time and gave the job up itself (self-fencing): write no outcome, the
   * store recovers the job once the lease expires.
   */
  fenced?: boolean;
}

/** Shared services of the executor. */
export interface ExecutorDeps {
  storage: JobStorage;
  clock: Clock;
  events: JobEvents;
  outcomes: OutcomeWriter;
  workerId: string;
  /** Delete completed jobs of tasks that do not say otherwise (retention keeps no completed jobs). */
  removeCompleted: boolean;
  /** Worker deaths tolerated per job for tasks that set no `maxStalls`. */
  maxStalls: number;
  /** Size limits of results, progress, errors and logs. Default {@link DEFAULT_LIMITS}. */
  limits?: ResolvedLimits;
}

/** Outcome writes are retried this many times (with these waits) when the store errors. */
const WRITE_RETRY_DELAYS = [50, 250, 1000];

/**
 * Runs one claimed attempt: calls the handler with a context, enforces the timeout, turns the result or error into
 * a fenced outcome (complete, retry later, or fail for good) and emits the lifecycle events.
 */
export class Executor {
  private readonly limits: ResolvedLimits;

  constructor(private readonly deps: ExecutorDeps) {
    this.limits = deps.limits ?? DEFAULT_LIMITS;
  }

  /**
   * Run `claimed` with its task's `definition`: `track` receives the running job before the handler starts,
   * `settled` is called when the handler has really returned (before the outcome is written, unless the attempt was
   * interrupted first). Resolves when the outcome is written. An attempt interrupted (timeout, cancel, lease loss)
   * while its handler ignores the signal is settled at once, but its handler is *overdue*: `overdue` is called then,
   * and `settled` only when the handler returns, so the caller can keep its slot taken until then.
   */
  async run(
    claimed: ClaimedJob,
    definition: TaskDefinition,
    track: (running: RunningJob) => void,
    settled: () => void = () => {},
    overdue: (reason: Error) => void = () => {},
  ): Promise<void> {
    const { storage, clock, events, workerId } = this.deps;
    const { job, token } = claimed;
    const info = jobInfo(job);
    const maxStalls = definition.maxStalls ?? this.deps.maxStalls;
    if (job.stalls > maxStalls) return this.giveUp(claimed, info, track, settled, maxStalls);
    const abort = new LazyAbort();
    let interrupt: (error: Error) => void = () => {};
    const running: RunningJob = {
      id: job.id,
      token,
      task: job.task,
      queue: job.queue,
      abort,
      interrupt: (error) => interrupt(error),
      ended: false,
    };
    track(running);
    const startedAt = clock.now();
    if (events.has('job:active')) {
      const waitMs = Math.max(0, startedAt - Math.max(job.createdAt.getTime(), job.runAt.getTime()));
      events.emit('job:active', { job: info, workerId, waitMs });
    }

    const timeoutMs = job.timeoutMs ?? definition.timeout;
    let timer: TimerHandle | undefined;
    let result: unknown;
    let thrown: unknown;
    let failed = false;
    // An interruption settles the attempt without the handler: track whether the handler itself has returned, and
    // whether the attempt was given up on while it still ran (overdue), to announce the slot free only once it has.
    let interrupted: Error | null = null;
    let returned = false;
    let isOverdue = false;
    const handlerReturned = () => {
      returned = true;
      if (!isOverdue) return;
      isOverdue = false;
      settled();
    };
    try {
      const ctx = new JobContext(info, abort, running, storage, events, () => {
        running.ended = true;
        abort.abort(new LeaseLostError(messages.leaseLost(job.id)));
      }, this.limits);
      result = await new Promise<unknown>((resolve, reject) => {
        interrupt = (error) => {
          interrupted ??= error;
          abort.abort(error);
          reject(error);
        };
        if (timeoutMs) {
          timer = clock.setTimeout(() => interrupt(new JobTimeoutError(messages.timeout(timeoutMs))), timeoutMs);
        }
        try {
          const value = definition.handler(job.payload, ctx);
          if (value && typeof (value as PromiseLike<unknown>).then === 'function') {
            (value as PromiseLike<unknown>).then(
              (v) => {
                handlerReturned();
                resolve(v);
              },
              (error: unknown) => {
                handlerReturned();
                reject(error);
              },
            );
          } else {
            returned = true;
            resolve(value);
          }
        } catch (error) {
          returned = true;
          reject(error);
        }
      });
    } catch (error) {
      failed = true;
      thrown = error;
    } finally {
      if (timer) clock.clearTimeout(timer);
      if (returned || !interrupted) {
        settled();
      } else {
        // The slot stays taken until the handler returns. It is reported overdue only if it has not returned by the
        // next turn of the event loop: one that honours its signal often needs a few promise ticks to unwind.
        isOverdue = true;
        const reason: Error = interrupted;
        setImmediate(() => {
          if (isOverdue) overdue(reason);
        });
      }
    }

    let resultJson = 'null';
    if (!failed) {
      try {
        resultJson = toJson(result, 'result');
      } catch (error) {
        failed = true;
        thrown = new InvalidJobError(messages.resultNotSerialisable(job.task, (error as Error).message));
      }
      // Checked here, not by the store: an oversized result must fail its own job, never the batch it joins.
      const bytes = failed ? null : bytesOver(resultJson, this.limits.resultBytes);
      if (bytes !== null) {
        failed = true;
        thrown = new InvalidJobError(messages.resultTooLarge(job.task, bytes, this.limits.resultBytes));
      }
    }
    const durationMs = clock.now() - startedAt;
    if (running.fenced) return;
    if (!failed) {
      const remove = (definition.removeOnComplete ?? this.deps.removeCompleted) && !isTickJobId(job.id);
      const outcome: CompleteOutcome = { id: job.id, token, result: resultJson, remove };
      const accepted = await this.write(job.id, () => this.deps.outcomes.complete(outcome), (now) =>
        now === null ? remove : now.state === 'completed' && JSON.stringify(now.result) === resultJson);
      if (accepted === false) this.lost(running);
      else if (accepted && events.has('job:completed')) events.emit('job:completed', { job: info, result, durationMs });
      return;
    }

    const error = boundJobError(toJobError(thrown, job.attempt, clock.now()), this.limits);
    const retryDelayMs = this.retryDelay(definition, info, thrown, job.backoff ?? undefined);
    // One object for every write attempt: the writer recognises an outcome the store rejected and retries it alone.
    const outcome: FailOutcome = { id: job.id, token, error, retryDelayMs, errorHistory: this.limits.errorHistory };
    const accepted = await this.write(job.id, () => this.deps.outcomes.fail(outcome), (now) => recorded(now, error));
    if (accepted === false) return this.lost(running);
    if (accepted === null) return;
    if (retryDelayMs === null) events.emit('job:failed', { job: info, error, durationMs });
    else events.emit('job:retry', { job: info, error, delayMs: retryDelayMs, durationMs });
  }

  /**
   * Fail a job that killed its worker more than `maxStalls` times, without running it again: its handler would
   * likely take this process down too.
   */
  private async giveUp(
    claimed: ClaimedJob,
    info: JobInfo,
    track: (running: RunningJob) => void,
    settled: () => void,
    maxStalls: number,
  ): Promise<void> {
    const { job, token } = claimed;
    const running: RunningJob = { id: job.id, token, task: job.task, queue: job.queue, abort: new LazyAbort(), interrupt: () => {}, ended: false };
    track(running);
    settled();
    const thrown = new JobStalledError(messages.stalledTooOften(job.id, job.stalls, maxStalls));
    const error = boundJobError(toJobError(thrown, job.attempt, this.deps.clock.now()), this.limits);
    const outcome: FailOutcome = { id: job.id, token, error, retryDelayMs: null, errorHistory: this.limits.errorHistory };
    const accepted = await this.write(job.id, () => this.deps.outcomes.fail(outcome), (now) => recorded(now, error));
    if (accepted === false) return this.lost(running);
    if (accepted) this.deps.events.emit('job:failed', { job: info, error, durationMs: 0 });
  }

  /** Delay before the next attempt, or null to fail for good. */
  private retryDelay(
    definition: TaskDefinition,
    info: JobInfo,
    thrown: unknown,
    jobBackoff: TaskDefinition['backoff'],
  ): number | null {
    if (isUnrecoverable(thrown) || info.attempt >= info.maxAttempts) return null;
    const error = thrown instanceof Error ? thrown : new NonErrorThrown(describe(thrown));
    const delay = nextRetryDelay(jobBackoff ?? definition.backoff, info.attempt, error, info);
    return delay === false ? null : delay;
  }

  private lost(running: RunningJob): void {
    running.abort.abort(new LeaseLostError(messages.leaseLost(running.id)));
    if (running.ended) return;
    this.deps.events.emit('job:lease-lost', { jobId: running.id, workerId: this.deps.workerId });
  }

  /**
   * Write an outcome, retrying a few times when the store errors. If it still fails, the job stays active and is
   * recovered when its lease expires: never lost, at worst run again. Null: the outcome is unknown.
   *
   * A write that errored may still have been applied (the connection died after the store committed it); its retry
   * is then refused, as the lease is gone. `applied` reads the job to tell that case from a real lease loss.
   */
  private async write(id: string, attempt: () => Promise<boolean>, applied: (job: JobRecord | null) => boolean): Promise<boolean | null> {
    for (let i = 0; ; i++) {
      try {
        const accepted = await attempt();
        if (accepted || i === 0) return accepted;
        return applied(await this.deps.storage.get(id));
      } catch (error) {
        this.deps.events.emit('worker:error', { error: error as Error, context: 'writing a job outcome' });
        if (i >= WRITE_RETRY_DELAYS.length) return null; // unknown, not a lease loss: lease recovery takes over
        await new Promise((resolve) => this.deps.clock.setTimeout(() => resolve(undefined), WRITE_RETRY_DELAYS[i]!));
      }
    }
  }
}

/** Whether `error` is the last entry of the job's error history: a fail outcome that was applied. */
function recorded(job: JobRecord | null, error: JobError): boolean {
  const last = job?.errors.at(-1);
  return !!last && last.attempt === error.attempt && last.at === error.at && last.message === error.message;
}

function isUnrecoverable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // By name too, so an UnrecoverableError from a second copy of the package still counts.
  return error.name === 'UnrecoverableError' || error instanceof InvalidJobError || error instanceof JobCancelledError;
}

/** Record what a handler threw, whatever it is. */
export function toJobError(thrown: unknown, attempt: number, now: number): JobError {
  const at = new Date(now).toISOString();
  if (thrown instanceof Error) {
    return { attempt, name: thrown.name || 'Error', message: thrown.message, stack: thrown.stack, at };
  }
  return { attempt, name: 'NonErrorThrown', message: messages.nonErrorThrown(describe(thrown)), at };
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 500 ? `${json.slice(0, 500)}…` : json;
  } catch {
    // fall through to String()
  }
  return String(value);
}
