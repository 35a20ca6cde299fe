import { InvalidJobError, messages } from '../contract/errors.js';
import { MAX_HEADERS, type InsertResult, type JobRecord, type NewJob } from '../contract/job.js';
import type { EndReason } from './attempt.js';
import { toError, type JobEvents } from './events.js';

/** Longest header key, in characters. */
export const MAX_HEADER_KEY_LENGTH = 64;

/** Longest header value, in characters. */
export const MAX_HEADER_VALUE_LENGTH = 512;

/** A job's headers: a small string map kept with the job (see `NewJob.headers`). */
export type JobHeaders = Record<string, string>;

/**
 * A hook for tracing (or any plugin that follows jobs across processes), set with the `instrumentation` option of
 * `UnoJobs` and `UnoJobsModule`. Both methods are optional; with no instrumentation the engine does none of this
 * work. `@uno/jobs/opentelemetry` provides one for OpenTelemetry.
 *
 * @example
 * UnoJobsModule.forRoot({ instrumentation: new UnoJobsTracing() })
 */
export interface Instrumentation {
  /**
   * Jobs are about to be inserted (by `enqueue`, `enqueueMany`, `emit` or a schedule's firing), validated and in call
   * order. Return headers to store with them and be told how the insert went, or nothing.
   */
  enqueue?(jobs: readonly NewJob[]): EnqueueScope | void;
  /**
   * A worker of this process is about to run an attempt of `job` (its record as claimed: `attempt` counts this one,
   * `headers` are the ones stored at insert). Return a scope to run the handler in and be told how the attempt ended,
   * or nothing.
   */
  attempt?(job: JobRecord): AttemptScope | void;
}

/** What an {@link Instrumentation} does around one insert. */
export interface EnqueueScope {
  /**
   * Headers per job, in the order of the jobs (null or `{}`: none). Checked before anything is written: at most
   * `MAX_HEADERS` entries, keys of 1..64 characters, string values of at most 512.
   */
  headers?: readonly (JobHeaders | null | undefined)[];
  /**
   * Call `fn` (the store's insert) in the context it should run in, e.g. the enqueue's span, so that a database
   * client's own spans nest under it; return what it returns. Default: the caller's context.
   */
  run?<T>(fn: () => T): T;
  /**
   * The insert is over: `results` per job in the same order (`created: false` for a deduplicated id), or null with
   * the `error` that failed it (the store's, or a header the core refused). Called once.
   */
  end(results: readonly InsertResult[] | null, error?: unknown): void;
}

/**
 * How an attempt ended, as its instrumentation is told:
 * - `completed`: the handler returned and the result was stored;
 * - `retry`: the attempt failed (threw, timed out) and the job runs again after `retryDelayMs`;
 * - `failed`: the attempt failed and the job failed for good;
 * - `cancelled`: the job was cancelled while it ran;
 * - `lease-lost`: the store no longer held the lease for this worker: the outcome was discarded;
 * - `shutdown`: the process stopped and handed the job back (no attempt counted);
 * - `unknown`: the outcome could not be written (the store kept failing); lease recovery decides.
 */
export type AttemptOutcome = 'completed' | 'retry' | 'failed' | 'cancelled' | 'lease-lost' | 'shutdown' | 'unknown';

/** What an {@link AttemptScope} is told when its attempt ends. */
export interface AttemptEnd {
  outcome: AttemptOutcome;
  /** Why the attempt ended: `timeout` for one that timed out (its outcome is `retry` or `failed`), see `EndReason`. */
  reason: EndReason;
  /**
   * What failed it (what the handler threw, as an Error; the timeout or cancel error), null when it completed. For an
   * `unknown` outcome of a handler that did not fail: the store's error that the last try to write the outcome met.
   */
  error: Error | null;
  /** For `retry`: milliseconds until the next attempt; otherwise null. */
  retryDelayMs: number | null;
}

/** What an {@link Instrumentation} does around one attempt. */
export interface AttemptScope {
  /** Call `fn` (it starts the handler) in the context the handler should run in, and return what it returns. */
  run<T>(fn: () => T): T;
  /** The attempt has ended: its outcome is written, or none will be. Called once. */
  end(end: AttemptEnd): void;
}

/**
 * The headers an enqueue scope gave for `jobs`, checked and set on each job (a job without any keeps none). Throws an
 * `InvalidJobError` naming the job and the rule a header breaks, before anything is written.
 */
export function applyHeaders(jobs: NewJob[], headers: EnqueueScope['headers']): void {
  if (!headers) return;
  const refuse = (job: NewJob, detail: string) =>
    new InvalidJobError(messages.invalidHeaders(job.id, detail, { entries: MAX_HEADERS, key: MAX_HEADER_KEY_LENGTH, value: MAX_HEADER_VALUE_LENGTH }));
  jobs.forEach((job, i) => {
    const map = headers[i];
    if (map == null) return;
    const entries = typeof map === 'object' ? Object.entries(map) : null;
    if (entries === null) throw refuse(job, `they are ${typeof map}, not an object of strings`);
    if (entries.length === 0) return;
    if (entries.length > MAX_HEADERS) throw refuse(job, `${entries.length} entries, more than ${MAX_HEADERS}`);
    for (const [key, value] of entries) {
      if (key.length === 0 || key.length > MAX_HEADER_KEY_LENGTH) {
        throw refuse(job, `the key "${key.slice(0, 80)}" has ${key.length} characters, not 1 to ${MAX_HEADER_KEY_LENGTH}`);
      }
      if (typeof value !== 'string' || value.length > MAX_HEADER_VALUE_LENGTH) {
        const what = typeof value === 'string' ? `${value.length} characters, more than ${MAX_HEADER_VALUE_LENGTH}` : `a ${typeof value}, not a string`;
        throw refuse(job, `the value of "${key}" is ${what}`);
      }
    }
    job.headers = { ...map };
  });
}

/**
 * Call into the instrumentation (`what` names the call, e.g. `attempt end()`): one that throws is reported as
 * `worker:error` and gives undefined, never failing the enqueue or the job it observes.
 */
export function safely<T>(events: JobEvents, what: string, call: () => T): T | undefined {
  try {
    return call();
  } catch (error) {
    events.emit('worker:error', { error: toError(error), context: `the instrumentation's ${what}` });
    return undefined;
  }
}
