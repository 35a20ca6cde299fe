/**
 * The producer's and handler's side of the job model: enqueue options, retry policies and the job view a handler
 * receives. The stored vocabulary (states, priorities, records) lives in the storage contract (`contract/job.ts`).
 */
import type { BackoffOptions, JobRecord, Priority } from '../contract/job.js';

/**
 * A custom retry policy: return the delay in ms before the next attempt, or `false` to fail the job now.
 * It is only consulted while attempts remain.
 */
export type RetryPolicy = (attempt: number, error: Error, job: JobInfo) => number | false;

/** The view of a job a handler receives in its context. */
export interface JobInfo {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  readonly payload: unknown;
  /** The current attempt, 1-based. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly priority: Priority;
  readonly createdAt: Date;
  /** The job's group (tenant), or null when it has none. */
  readonly group: string | null;
}

/** Options a producer passes to `enqueue`. */
export interface EnqueueOptions {
  /** Priority; default: the task's, else `normal`. */
  priority?: Priority;
  /** Run no earlier than this many ms from now (store clock). Exclusive with `runAt`. */
  delay?: number;
  /** Run no earlier than this instant. Exclusive with `delay`. */
  runAt?: Date;
  /** Total attempts (>= 1); default: the task's, else 1. */
  attempts?: number;
  /** Backoff between attempts; default: the task's. */
  backoff?: BackoffOptions;
  /** Per-attempt timeout in ms; default: the task's. */
  timeout?: number;
  /**
   * Deduplication key: while a job with this id exists (in any state, until retention removes it),
   * enqueueing the same id returns the existing job instead of adding a second.
   */
  jobId?: string;
  /**
   * One job per key per window (throttling): while a job of this task enqueued with the same `key` less than `ttlMs`
   * ago exists, enqueueing returns it unchanged; after the window a new job may be enqueued. E.g. one cache warm-up
   * per product per minute however many edits arrive. See docs/flow-control.md.
   */
  dedupe?: { key: string; ttlMs: number };
  /**
   * Debounce: run once `delay` ms after the last enqueue of the key. While the key's job waits, a newer enqueue replaces
   * its payload and pushes its run time back to now + `delay`. E.g. reindex a document once typing stops.
   */
  debounce?: { key: string; delay: number };
  /**
   * Latest payload wins: while the key's job waits, a newer enqueue replaces its payload and keeps its run time. E.g.
   * push the latest state of an entity to a partner API, never a stale one.
   */
  replace?: { key: string };
  /**
   * The job's group (tenant), e.g. `'tenant-42'`: the ready groups of a queue are served round-robin, and
   * `groupConcurrency` caps each group's running jobs across the cluster. 1 to 100 letters, digits, '.', '_', ':', '@'
   * or '-'; null for none. Default: the task's `group(payload)`, else none. Needs a store with groups. See
   * docs/flow-control.md#groups.
   */
  group?: string | null;
  /** Store-specific transaction handle (e.g. a TypeORM EntityManager) so the job commits with the caller's work. */
  manager?: unknown;
}

/** Public view of a job handed to handlers. */
export function jobInfo(job: JobRecord): JobInfo {
  return {
    id: job.id,
    task: job.task,
    queue: job.queue,
    payload: job.payload,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    priority: job.priority,
    createdAt: job.createdAt,
    group: job.group ?? null,
  };
}
