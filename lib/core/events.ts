import type { JobError, JobRecord } from '../contract/job.js';
import type { JobInfo } from './job.js';

/** Payloads of the lifecycle events, by event name. */
export interface JobEventMap {
  /** A job was inserted (or an existing one returned for a duplicate `jobId`, with `created: false`). */
  'job:enqueued': { job: JobRecord; created: boolean };
  /**
   * A worker started an attempt. `waitMs` is how long the job waited since it became due: the start minus the later of
   * its creation and its due time (`runAt`; for a retry, the end of its backoff), never below 0.
   */
  'job:active': {
    job: JobInfo;
    workerId: string;
    waitMs: number;
    /** This attempt re-runs one whose worker died while running it (the job stalled; see `JobRecord.stalls`). */
    afterStall: boolean;
  };
  /** The handler reported progress. */
  'job:progress': { job: JobInfo; progress: unknown };
  /** The handler returned; the result is stored. */
  'job:completed': { job: JobInfo; result: unknown; durationMs: number };
  /** The attempt failed after running `durationMs`, and the job will run again after `delayMs`. */
  'job:retry': { job: JobInfo; error: JobError; delayMs: number; durationMs: number };
  /** The job failed for good (no attempts left, unrecoverable error, or the retry policy said stop). */
  'job:failed': { job: JobInfo; error: JobError; durationMs: number };
  /**
   * A job was cancelled (before or while running): emitted by the process that cancelled it, and by a worker process
   * whose running or claimed-ahead job the store's cancel notice reached (once per process).
   */
  'job:cancelled': { jobId: string };
  /**
   * An attempt ended (timeout, cancel, lease loss) while its handler ignored `ctx.signal` and kept running (it had
   * not returned by the next turn of the event loop). Its outcome is written; its slot stays taken until the handler
   * returns. `reason` is the interruption's error name,
   * `overdue` the number of overdue handlers in this job's queue in this process, this one included.
   */
  'job:overdue': { job: JobInfo; workerId: string; reason: string; overdue: number };
  /** A worker lost a job's lease; its outcome was discarded. */
  'job:lease-lost': { jobId: string; workerId: string };
  /**
   * Jobs whose worker stopped renewing the lease were put back to `waiting`, with no attempt used. `stalled` of them
   * had started their handler (each counted a stall); the rest were still in the dead worker's prefetch buffer.
   */
  'job:recovered': { count: number; stalled: number };
  /** `emit(event)` found no task subscribed to the event. */
  'event:unhandled': { event: string };
  /** A claim round trip returned `count` jobs. */
  'storage:claim': { queue: string; count: number };
  /** This process changed a queue's concurrency: by hand (`setConcurrency`) or by autoscaling, saying why. */
  'worker:concurrency': { queue: string; from: number; to: number; reason: 'manual' | 'backlog' | 'idle' | 'loop-saturated' | 'hold' };
  /** Something failed in the background (storage unreachable, a listener threw). The engine keeps going. */
  'worker:error': { error: Error; context: string };
}

/** Name of a lifecycle event. */
export type JobEventName = keyof JobEventMap;

/** A listener for event `E`. */
export type JobEventListener<E extends JobEventName> = (payload: JobEventMap[E]) => void;

/**
 * Typed lifecycle events of one Uno Jobs instance. Listeners run synchronously; one that throws is reported as
 * `worker:error` and never breaks the job.
 *
 * @example
 * const off = events.on('job:failed', ({ job, error }) => logger.warn(`${job.task} failed: ${error.message}`));
 */
export class JobEvents {
  /**
   * Listeners per event as immutable arrays, replaced on every (un)subscribe: an emit iterates the array it read,
   * so a listener that (un)subscribes during an emit does not disturb it, and an emit copies nothing.
   */
  private readonly listeners = new Map<JobEventName, readonly ((payload: never) => void)[]>();

  /** Subscribe; returns a function that unsubscribes. */
  on<E extends JobEventName>(event: E, listener: JobEventListener<E>): () => void {
    const list = this.listeners.get(event) ?? [];
    if (!list.includes(listener as (payload: never) => void)) this.listeners.set(event, [...list, listener as (payload: never) => void]);
    return () => this.off(event, listener);
  }

  /** Subscribe for one event only. */
  once<E extends JobEventName>(event: E, listener: JobEventListener<E>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<E extends JobEventName>(event: E, listener: JobEventListener<E>): void {
    const list = this.listeners.get(event);
    if (!list?.includes(listener as (payload: never) => void)) return;
    const rest = list.filter((l) => l !== listener);
    if (rest.length === 0) this.listeners.delete(event);
    else this.listeners.set(event, rest);
  }

  /** True when someone listens to `event`: lets hot paths skip building payloads nobody reads. */
  has(event: JobEventName): boolean {
    return this.listeners.has(event);
  }

  emit<E extends JobEventName>(event: E, payload: JobEventMap[E]): void {
    const list = this.listeners.get(event);
    if (!list) return;
    for (const listener of list) {
      try {
        (listener as JobEventListener<E>)(payload);
      } catch (error) {
        if (event === 'worker:error') continue;
        this.emit('worker:error', { error: toError(error), context: `listener of ${event}` });
      }
    }
  }
}

/** Turn anything thrown into an Error, keeping Errors as they are. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
