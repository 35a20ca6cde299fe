import type { JobEvents } from './events.js';
import { InvalidJobError, JobRateLimitedError, LeaseLostError, messages } from '../contract/errors.js';
import type { Attempt } from './attempt.js';
import type { JobInfo } from './job.js';
import { MAX_DELAY_MS, truncate, type ResolvedLimits } from './limits.js';
import { bytesOver, toJson } from './payload.js';
import type { JobStorage } from '../contract/job-storage.js';
import type { JobError, JobState } from '../contract/job.js';

/**
 * What a handler gets besides its payload: the job, an `AbortSignal`, and progress and log writers.
 *
 * The signal aborts when the attempt times out, the job is cancelled, this worker lost the lease, or the process
 * shuts down and hands the job back. Pass it to `fetch`, database drivers and child processes, or check
 * `signal.aborted` in loops: JavaScript cannot stop a function from outside, so a handler that ignores it keeps
 * running (and keeps its worker slot), but its outcome is discarded.
 *
 * The engine creates one per attempt. The class is abstract, so TypeScript refuses `new JobContext(...)`: its
 * construction is internal and may change. It stays a value, for `instanceof` and decorator metadata. In a unit test
 * of a handler, extend it with your own fake.
 *
 * @example
 * async generate(payload: { userId: string }, ctx: JobContext) {
 *   const rows = await this.db.query(sql, { signal: ctx.signal });
 *   await ctx.progress(50);
 *   ctx.log(`read ${rows.length} rows`);
 * }
 */
export abstract class JobContext {
  /** The job being run: id, task, payload, attempt (1-based), maxAttempts, priority, createdAt. */
  abstract readonly job: JobInfo;

  /** Aborted on timeout, cancellation, lease loss or shutdown; `signal.reason` says which. */
  abstract readonly signal: AbortSignal;

  /**
   * Report progress: a number (e.g. a percentage) or a JSON object of at most `limits.progressBytes` (default
   * 64 KiB); a larger one throws an `InvalidJobError` and nothing is written. Readable through `getJob` and events.
   * Throws a `LeaseLostError` when the store refuses the write: the job is no longer this worker's.
   */
  abstract progress(value: number | object): Promise<void>;

  /**
   * Append a line to the job's log. The last `limits.logLines` lines are kept (default 100), each cut to
   * `limits.logLineLength` characters (default 4096) with a marker.
   */
  abstract log(message: string): Promise<void>;

  /**
   * Report a rate limit the handler hit (a `429` from an API, say): throws a `JobRateLimitedError`, and the job goes
   * back to the store, due in `retryAfterMs`, without using an attempt. `return ctx.rateLimited(ms)` or let it throw.
   *
   * @example
   * if (res.status === 429) ctx.rateLimited(Number(res.headers.get('retry-after') ?? 1) * 1000);
   */
  rateLimited(retryAfterMs: number): never {
    if (!Number.isSafeInteger(retryAfterMs) || retryAfterMs < 0 || retryAfterMs > MAX_DELAY_MS) {
      throw new InvalidJobError(messages.invalidRetryAfter(retryAfterMs, MAX_DELAY_MS));
    }
    throw new JobRateLimitedError(retryAfterMs);
  }

  /**
   * A flow parent's children, once they ended (see `jobs.enqueueFlow`), in the order they were given: each with its
   * final state and result, or its last error (a child with `onFailure: 'continue'` that failed). Children with
   * `onFailure: 'ignore'` that failed are left out. Empty for a job that is no flow's parent.
   */
  children(): Promise<ChildResult[]> {
    return Promise.resolve([]);
  }
}

/** One child of a flow's parent, as {@link JobContext.children} returns it. */
export interface ChildResult<R = unknown> {
  id: string;
  task: string;
  queue: string;
  /** `completed`, or `failed` / `cancelled` for a child with `onFailure: 'continue'`. */
  state: JobState;
  /** The child's result when completed, else null. */
  result: R | null;
  /** The child's last error when it failed (null when completed, or cancelled without one). */
  error: JobError | null;
}

/** The context of one {@link Attempt}: its writes carry the attempt's lease, and a refused one ends the attempt. */
export class AttemptContext extends JobContext {
  constructor(
    private readonly attempt: Attempt,
    private readonly storage: JobStorage,
    private readonly events: JobEvents,
    private readonly limits: ResolvedLimits,
  ) {
    super();
  }

  get job(): JobInfo {
    return this.attempt.info;
  }

  get signal(): AbortSignal {
    return this.attempt.abort.signal;
  }

  async progress(value: number | object): Promise<void> {
    if (typeof value !== 'number' && (typeof value !== 'object' || value === null)) {
      throw new InvalidJobError(messages.invalidOption('progress', value, 'a number or a JSON object'));
    }
    const json = toJson(value, 'payload');
    const bytes = bytesOver(json, this.limits.progressBytes);
    if (bytes !== null) throw new InvalidJobError(messages.progressTooLarge(bytes, this.limits.progressBytes));
    await this.write({ progress: json });
    this.events.emit('job:progress', { job: this.job, progress: value });
  }

  async log(message: string): Promise<void> {
    await this.write({ log: truncate(String(message), this.limits.logLineLength, 'logLineLength') });
  }

  override async children(): Promise<ChildResult[]> {
    const children = (await this.storage.children(this.job.id)) ?? [];
    return children
      .filter((c) => c.state === 'completed' || c.parent?.onFailure !== 'ignore')
      .map((c) => ({
        id: c.id, task: c.task, queue: c.queue, state: c.state, result: c.result,
        error: c.state === 'completed' ? null : (c.errors.at(-1) ?? null),
      }));
  }

  private async write(update: { progress?: string; log?: string }): Promise<void> {
    if (this.attempt.abort.aborted) return;
    const accepted = await this.storage.progress(this.attempt.lease, { ...update, logLines: this.limits.logLines });
    if (!accepted) {
      const error = new LeaseLostError(messages.leaseLost(this.job.id));
      this.attempt.end('lease-lost', error);
      throw error;
    }
  }
}
