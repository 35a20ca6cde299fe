import type { Clock } from '../contract/clock.js';
import type { JobTally } from './monitor-recorder.js';
import { InvalidJobError, JobCancelledError, JobRateLimitedError, JobStalledError, NonErrorThrown, messages } from '../contract/errors.js';
import type { ClaimedJob, JobError, JobRecord } from '../contract/job.js';
import type { CompleteOutcome, FailOutcome, JobStorage } from '../contract/job-storage.js';
import { Attempt, type AttemptOptions, type AttemptOwner } from './attempt.js';
import { Batcher, type BatchHandler } from './batcher.js';
import { toError, type JobEvents } from './events.js';
import type { JobInfo } from './job.js';
import { boundJobError, DEFAULT_LIMITS, type ResolvedLimits } from './limits.js';
import type { OutcomeReceiver, OutcomeWriter } from './outcome-writer.js';
import { bytesOver, toJson } from './payload.js';
import { nextRetryDelay } from './retry-policy.js';
import { isTickJobId } from './scheduler-definition.js';
import { StartMarks } from './start-marks.js';
import type { TaskDefinition } from './task-registry.js';
import type { Instrumentation } from './instrumentation.js';

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
  /** Runs each attempt in its scope and is told how it ended (the `instrumentation` option). */
  instrumentation?: Instrumentation;
  /** Told of each start and completion, without an event payload (the store-backed monitoring). */
  tally?: JobTally;
  /** Told of each job finished for good, as `job:completed` or `job:failed` is emitted (the prune pacing). */
  finished?: (kind: 'completed' | 'failed') => void;
}

/** Outcome writes are retried this many times (with these waits) when the store errors. */
const WRITE_RETRY_DELAYS = [50, 250, 1000];

/**
 * Starts attempts and writes their outcomes. Each claimed job runs as one {@link Attempt}, which decides when and
 * why it ended; the executor holds the services they share and the outcome policy: a completion (its result checked
 * as JSON within the size limit), or a failure that the retry policy turns into a retry or a final failure. Retry
 * decisions (attempts, backoff, custom policies, `UnrecoverableError`) are made here, once, never in a store.
 */
export class Executor {
  /** Size limits of results, progress, errors and logs. */
  readonly limits: ResolvedLimits;
  /** Start records of handlers taken from the prefetch buffer. */
  readonly marks: StartMarks;
  /** Batch tasks' batchers, by task name. */
  private readonly batchers = new Map<string, Batcher>();
  /**
   * Jobs whose outcome is being written again after an error ({@link rewrite}), each with whether this process has
   * started the job again since: then the job's outcome read back may be the new run's, not the one being rewritten.
   */
  private readonly rewriting = new Map<string, { again: boolean }>();

  constructor(readonly deps: ExecutorDeps) {
    this.limits = deps.limits ?? DEFAULT_LIMITS;
    this.marks = new StartMarks(deps);
  }

  /**
   * A new attempt of `claimed` with its task's `definition`, reporting its slot and lease to `owner`. Register it,
   * then call `start()`.
   */
  attempt(claimed: ClaimedJob, definition: TaskDefinition, owner: AttemptOwner, options: AttemptOptions): Attempt {
    if (this.rewriting.size > 0) {
      const pending = this.rewriting.get(claimed.job.id);
      if (pending) pending.again = true;
    }
    return new Attempt(this, claimed, definition, owner, options);
  }

  /** The batcher of a batch task (see {@link Batcher}), made on its first job. */
  batcher(definition: TaskDefinition): Batcher {
    let batcher = this.batchers.get(definition.name);
    if (!batcher) {
      batcher = new Batcher(definition.name, definition.handler as BatchHandler, definition.batch!, this.deps.clock);
      this.batchers.set(definition.name, batcher);
    }
    return batcher;
  }

  /** Forget pending start records and the jobs still gathering for a batch (the pool stopped). */
  close(): void {
    this.marks.clear();
    for (const batcher of this.batchers.values()) batcher.clear();
  }

  /**
   * Write the completion of `attempt` (called by the attempt, once), and tell the attempt whether the store accepted
   * it (`Attempt.written`: false when the lease was lost first; null when unknown, left to lease recovery). A result
   * that is not JSON or is over the size limit fails the attempt instead: checked here, not by the store, so it fails
   * its own job, never the batch it joins.
   */
  complete(attempt: Attempt, result: unknown, durationMs: number): void {
    const { job, token } = attempt.claimed;
    let resultJson: string;
    try {
      resultJson = toJson(result, 'result');
    } catch (error) {
      attempt.record(this.fail(attempt, new InvalidJobError(messages.resultNotSerialisable(job.task, (error as Error).message)), durationMs));
      return;
    }
    const bytes = bytesOver(resultJson, this.limits.resultBytes);
    if (bytes !== null) {
      attempt.record(this.fail(attempt, new InvalidJobError(messages.resultTooLarge(job.task, bytes, this.limits.resultBytes)), durationMs));
      return;
    }
    // A flow's child is kept: its parent reads its result.
    const remove = (attempt.definition.removeOnComplete ?? this.deps.removeCompleted) && !isTickJobId(job.id) && !job.parent;
    const outcome: CompleteOutcome = { id: job.id, token, result: resultJson, remove };
    this.deps.outcomes.completeTo(outcome, new CompletionWrite(this, attempt, outcome, result, durationMs));
  }

  /** The store accepted the completion of `attempt`: count it and tell the listeners. */
  completed(attempt: Attempt, result: unknown, durationMs: number): void {
    const { job } = attempt.claimed;
    this.deps.tally?.completed(job.queue, job.task, durationMs);
    this.deps.finished?.('completed');
    if (this.deps.events.has('job:completed')) this.deps.events.emit('job:completed', { job: attempt.info, result, durationMs });
  }

  /**
   * Write the failure of `attempt` for `thrown` (called by the attempt, once). Resolves with whether the store
   * accepted it (false: the lease was lost first; null: unknown, left to lease recovery).
   */
  async fail(attempt: Attempt, thrown: unknown, durationMs: number): Promise<boolean | null> {
    const { job, token } = attempt.claimed;
    const { clock, events } = this.deps;
    // The handler hit a rate limit (ctx.rateLimited): back to the store, due later, its attempt given back.
    if (thrown instanceof JobRateLimitedError) {
      attempt.failure = { error: thrown, retryDelayMs: thrown.retryAfterMs }; // a tracing hook hears "retry"
      return this.write(() => this.deps.storage.release([{ id: job.id, token, delayMs: thrown.retryAfterMs }]).then(() => true), () => true, attempt);
    }
    const error = boundJobError(toJobError(thrown, job.attempt, clock.now()), this.limits);
    const failure = asError(thrown);
    const retryDelayMs = this.retryDelay(attempt.definition, attempt.info, failure, job.backoff ?? undefined);
    attempt.failure = { error: failure, retryDelayMs };
    // One object for every write attempt: the writer recognises an outcome the store rejected and retries it alone.
    const outcome: FailOutcome = { id: job.id, token, error, retryDelayMs, errorHistory: this.limits.errorHistory };
    const accepted = await this.write(() => this.deps.outcomes.fail(outcome), (now) => recorded(now, error), attempt);
    if (!accepted) return accepted;
    if (retryDelayMs === null) {
      this.deps.finished?.('failed');
      events.emit('job:failed', { job: attempt.info, error, durationMs });
    } else {
      events.emit('job:retry', { job: attempt.info, error, delayMs: retryDelayMs, durationMs });
    }
    return accepted;
  }

  /** Delay before the next attempt, or null to fail for good. */
  private retryDelay(
    definition: TaskDefinition,
    info: JobInfo,
    error: Error,
    jobBackoff: TaskDefinition['backoff'],
  ): number | null {
    if (isUnrecoverable(error) || info.attempt >= info.maxAttempts) return null;
    const delay = nextRetryDelay(jobBackoff ?? definition.backoff, info.attempt, error, info);
    return delay === false ? null : delay;
  }

  /**
   * Write an outcome, retrying a few times when the store errors. If it still fails, the job stays active and is
   * recovered when its lease expires: never lost, at worst run again. Null: the outcome is unknown.
   *
   * A write that errored may still have been applied (the connection died after the store committed it); its retry
   * is then refused, as the lease is gone. `applied` reads the job to tell that case from a real lease loss.
   */
  private write(attempt: () => Promise<boolean>, applied: (job: JobRecord | null) => boolean, of: Attempt): Promise<boolean | null> {
    // The first try without an async frame of its own: every job's outcome goes through here.
    let first: Promise<boolean>;
    try {
      first = attempt();
    } catch (error) {
      return this.rewrite(attempt, applied, error, of);
    }
    return first.then(undefined, (error: unknown) => this.rewrite(attempt, applied, error, of));
  }

  /**
   * The retries of an outcome write ({@link write}, or a completion's) after its first try failed with `error`. A
   * retry refused may be the first try applied after all: `applied` tells from the job read back, and from whether
   * this process has started the job again meanwhile (`again`: its lease expired during the outage and recovery
   * handed it back here, or it is a retry of a failure that was applied). When it gives up, `of` (the attempt whose
   * outcome this is) keeps the last error as the reason the outcome is unknown.
   */
  async rewrite(
    attempt: () => Promise<boolean>,
    applied: (job: JobRecord | null, again: boolean) => boolean,
    error: unknown,
    of: Attempt,
  ): Promise<boolean | null> {
    const { id } = of;
    const mark = { again: false };
    this.rewriting.set(id, mark);
    try {
      for (let i = 0; ; i++) {
        this.deps.events.emit('worker:error', { error: error as Error, context: 'writing a job outcome' });
        if (i >= WRITE_RETRY_DELAYS.length) {
          of.writeError = toError(error);
          return null; // unknown, not a lease loss: lease recovery takes over
        }
        await new Promise((resolve) => this.deps.clock.setTimeout(() => resolve(undefined), WRITE_RETRY_DELAYS[i]!));
        try {
          return (await attempt()) || applied(await this.deps.storage.get(id), mark.again);
        } catch (next) {
          error = next;
        }
      }
    } finally {
      if (this.rewriting.get(id) === mark) this.rewriting.delete(id);
    }
  }
}

/** Whether `error` is the last entry of the job's error history: a fail outcome that was applied. */
function recorded(job: JobRecord | null, error: JobError): boolean {
  const last = job?.errors.at(-1);
  return !!last && last.attempt === error.attempt && last.at === error.at && last.message === error.message;
}

/** What was thrown, as an Error (a string or object thrown becomes a `NonErrorThrown` describing it). */
function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new NonErrorThrown(describe(thrown));
}

function isUnrecoverable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // By name too, so an UnrecoverableError from a second copy of the package still counts.
  // A job given up for killing its workers (JobStalledError) is not run again either.
  return error.name === 'UnrecoverableError' || error instanceof InvalidJobError || error instanceof JobCancelledError ||
    error instanceof JobStalledError;
}

/** Record what a handler threw, whatever it is. */
export function toJobError(thrown: unknown, attempt: number, now: number): JobError {
  const at = new Date(now).toISOString();
  if (thrown instanceof Error) {
    // Whatever a subclass or a library put in these fields, the entry holds text.
    const stack = typeof thrown.stack === 'string' ? thrown.stack : undefined;
    return { attempt, name: String(thrown.name || 'Error'), message: String(thrown.message), ...(stack !== undefined && { stack }), at };
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

/**
 * One completion on its way to the store, and the writer's receiver of its answer: a completion, the path every job
 * takes, costs this object instead of a promise and a closure at each step down to the attempt. A write that threw is
 * retried as every outcome is ({@link Executor.rewrite}, then the job read back).
 */
class CompletionWrite implements OutcomeReceiver {
  constructor(
    private readonly executor: Executor,
    private readonly attempt: Attempt,
    private readonly outcome: CompleteOutcome,
    private readonly result: unknown,
    private readonly durationMs: number,
  ) {}

  written(accepted: boolean | null): void {
    try {
      if (accepted) this.executor.completed(this.attempt, this.result, this.durationMs);
    } catch (error) {
      this.attempt.unwritten(error);
      return;
    }
    this.attempt.written(accepted);
  }

  failed(error: unknown): void {
    const { executor, outcome: sent } = this;
    const again = () => executor.deps.outcomes.complete(sent);
    // The result alone cannot tell this run's completion from a later run's with the same result. Another process's
    // run left its worker id on the job (a store that records none leaves null). When this process started the job
    // again meanwhile, the completion read back is taken for that run's (which reports its own).
    const mine = executor.deps.workerId;
    const applied = (now: JobRecord | null, again: boolean) => {
      if (again) return false;
      if (now === null) return !!sent.remove;
      return now.state === 'completed' && (now.workerId ?? mine) === mine && JSON.stringify(now.result) === sent.result;
    };
    executor.rewrite(again, applied, error, this.attempt).then(
      (accepted) => this.written(accepted),
      (thrown: unknown) => this.attempt.unwritten(thrown),
    );
  }
}
