import type { JobEvents } from './events.js';
import { InvalidJobError, LeaseLostError, messages } from './errors.js';
import type { JobInfo } from './job.js';
import type { LazyAbort } from './lazy-abort.js';
import { toJson } from './payload.js';
import type { JobStorage, Lease } from '../storage/job-storage.js';

/** Longest log line kept; longer lines are cut. */
const MAX_LOG_LENGTH = 4096;

/**
 * What a handler gets besides its payload: the job, an `AbortSignal`, and progress and log writers.
 *
 * The signal aborts when the attempt times out, the job is cancelled, or this worker lost the lease. Pass it to
 * `fetch`, database drivers and child processes, or check `signal.aborted` in loops: JavaScript cannot stop a
 * function from outside, so a handler that ignores it keeps running, but its outcome is discarded.
 *
 * @example
 * async generate(payload: { userId: string }, ctx: JobContext) {
 *   const rows = await this.db.query(sql, { signal: ctx.signal });
 *   await ctx.progress(50);
 *   ctx.log(`read ${rows.length} rows`);
 * }
 */
export class JobContext {
  constructor(
    /** The job being run: id, task, payload, attempt (1-based), maxAttempts, priority, createdAt. */
    readonly job: JobInfo,
    private readonly abort: LazyAbort,
    private readonly lease: Lease,
    private readonly storage: JobStorage,
    private readonly events: JobEvents,
    private readonly onLeaseLost: () => void,
  ) {}

  /** Aborted on timeout, cancellation or lease loss; `signal.reason` says which. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Report progress: a number (e.g. a percentage) or a JSON object. Readable through `getJob` and events. */
  async progress(value: number | object): Promise<void> {
    if (typeof value !== 'number' && (typeof value !== 'object' || value === null)) {
      throw new InvalidJobError(messages.invalidOption('progress', value, 'a number or a JSON object'));
    }
    const json = toJson(value, 'payload');
    await this.write({ progress: json });
    this.events.emit('job:progress', { job: this.job, progress: value });
  }

  /** Append a line to the job's log (the last 100 lines are kept). */
  async log(message: string): Promise<void> {
    await this.write({ log: String(message).slice(0, MAX_LOG_LENGTH) });
  }

  private async write(update: { progress?: string; log?: string }): Promise<void> {
    if (this.abort.aborted) return;
    const accepted = await this.storage.progress(this.lease, update);
    if (!accepted) {
      this.onLeaseLost();
      throw new LeaseLostError(messages.leaseLost(this.job.id));
    }
  }
}
