/**
 * Typed task references: a task's name, payload type, result type and options declared once, in code that both the
 * producer and the worker import (a shared package), so `enqueue` checks the payload and `waitForResult` knows the
 * result at compile time, and a producer enqueues a task exactly as its worker's `@Task` would without the handler.
 */
import type { JobRecord } from '../contract/job.js';
import { validateTaskName, validateTaskOptions, type TaskOptions } from './task-registry.js';

/** Type-only key of a reference's payload and result types: it never exists at run time. */
declare const taskTypes: unique symbol;

/** Run-time mark of a reference, shared by every copy of the package (a `Symbol.for` key). */
const TASK_REF = Symbol.for('uno.jobs.taskRef');

/**
 * A task declared by {@link defineTask}: its name and options, typed with its payload `P` and result `R`. Frozen.
 * Pass it to `@Task(ref)` on the worker, `jobs.enqueue(ref, payload)` on the producer (checked against `P`), and
 * `jobs.waitForResult(job)` returns `Promise<R>`.
 */
export interface TaskRef<P = unknown, R = unknown> {
  /** The task name stored on its jobs. */
  readonly name: string;
  /**
   * The task's options: the producer takes `queue`, `priority` and `attempts` from here, the worker's `@Task(ref)`
   * all of them. Module `tasks[name]` overrides win over them, on both sides.
   */
  readonly options: Readonly<TaskOptions>;
  /** Carries `P` and `R` for the compiler (invariant in both); absent at run time. */
  readonly [taskTypes]?: { payload: (payload: P) => P; result: (result: R) => R };
}

/** The payload type of a {@link TaskRef}. */
export type PayloadOf<T> = T extends TaskRef<infer P, any> ? P : never;

/** The result type of a {@link TaskRef}. */
export type ResultOf<T> = T extends TaskRef<any, infer R> ? R : never;

/**
 * Options `@Task(ref, options)` may add to a reference's: only what concerns the worker. `queue`, `priority`,
 * `attempts` and `group` belong to the reference, because producers that enqueue it without the handler read them there.
 */
export type TaskHandlerOptions = Omit<TaskOptions, 'queue' | 'priority' | 'attempts' | 'group'>;

/** Options a reference fixes for its producers; `@Task(ref, options)` may not set them. */
export const PRODUCER_OPTIONS = ['queue', 'priority', 'attempts', 'group'] as const;

/**
 * A stored job whose payload and result are typed: what `jobs.enqueue(ref, payload)` returns. Pass it to
 * `jobs.waitForResult(job)` to get a `Promise<R>`.
 */
export interface Job<P = unknown, R = unknown> extends JobRecord {
  payload: P;
  /** The handler's return value once the job completed, else null. */
  result: R | null;
}

/**
 * Declare a task once, with its payload and result types and its options, for the worker (`@Task(ref)`) and the
 * producers (`jobs.enqueue(ref, payload)`), which then need no handler code. The name and options are checked here,
 * so a bad option fails where the task is declared. The reference is frozen.
 *
 * @example
 * // in a package both services import:
 * export const SendEmail = defineTask<{ to: string; subject: string }, { messageId: string }>('email.send', {
 *   queue: 'mail', attempts: 5, backoff: { type: 'exponential', delay: 1000 },
 * });
 * // worker:   @Task(SendEmail) async send(payload: { to: string; subject: string }) { return { messageId } }
 * // producer: const job = await jobs.enqueue(SendEmail, { to: 'a@b.c', subject: 'Hi' });
 * //           const { messageId } = await jobs.waitForResult(job);
 */
export function defineTask<P = unknown, R = unknown>(name: string, options: TaskOptions = {}): TaskRef<P, R> {
  validateTaskName(name);
  validateTaskOptions(name, options);
  const copy: TaskOptions = { ...options };
  if (Array.isArray(copy.on)) copy.on = Object.freeze([...copy.on]);
  if (copy.backoff && typeof copy.backoff === 'object') copy.backoff = Object.freeze({ ...copy.backoff });
  const ref = { name, options: Object.freeze(copy) };
  Object.defineProperty(ref, TASK_REF, { value: true });
  return Object.freeze(ref);
}

/** True for a reference made by {@link defineTask} (by any copy of the package). */
export function isTaskRef(value: unknown): value is TaskRef {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TASK_REF] === true;
}
