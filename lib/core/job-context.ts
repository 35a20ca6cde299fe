import type { JobEvents } from './events.js';
import { InvalidJobError, LeaseLostError, messages } from '../contract/errors.js';
import type { JobInfo } from './job.js';
import type { LazyAbort } from './lazy-abort.js';
import { DEFAULT_LIMITS, truncate, type ResolvedLimits } from './limits.js';
import { bytesOver, toJson } from './payload.js';
import type { JobStorage, Lease } from '../contract/job-storage.js';

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
    private readonly limits: ResolvedLimits = DEFAULT_LIMITS,
  ) {}

  /** Aborted on timeout, cancellation or lease loss; `signal.reason` says which. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /**
   * Report progress: a number (e.g. a percentage) or a JSON object of at most `limits.progressBytes` (default
   * 64 KiB); a larger one throws an `InvalidJobError` and nothing is written. Readable through `getJob` and events.
   */
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

  /**
   * Append a line to the job's log. The last `limits.logLines` lines are kept (default 100), each cut to
   * `limits.logLineLength` characters (default 4096) with a marker.
   */
  async log(message: string): Promise<void> {
    await this.write({ log: truncate(String(message), this.limits.logLineLength, 'logLineLength') });
  }

  private async write(update: { progress?: string; log?: string }): Promise<void> {
    if (this.abort.aborted) return;
    const accepted = await this.storage.progress(this.lease, { ...update, logLines: this.limits.logLines });
    if (!accepted) {
      this.onLeaseLost();
      throw new LeaseLostError(messages.leaseLost(this.job.id));
    }
  }
}
