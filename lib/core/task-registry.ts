import { ConfigurationError, InvalidJobError, messages, shownOption } from '../contract/errors.js';
import { isStoredName, PRIORITIES, type BackoffOptions, type Priority } from '../contract/job.js';
import type { RateLimit } from '../contract/job-storage.js';
import { type RetryPolicy } from './job.js';
import type { JobContext } from './job-context.js';
import { MAX_ATTEMPTS, MAX_DELAY_MS } from './limits.js';
import { validateBackoff } from './retry-policy.js';
import { validateBatch, type BatchHandler, type BatchOptions } from './batcher.js';
import { isTaskRef, PRODUCER_OPTIONS, type TaskRef } from './task-ref.js';

/** Queue used when a task names none. */
export const DEFAULT_QUEUE = 'default';

/** Options of a task, from `@Task(name, options)` and the module's `tasks` overrides. */
export interface TaskOptions {
  /** Queue the task's jobs go to. Default `'default'`. */
  queue?: string;
  /** Default priority of its jobs. Default `'normal'`. */
  priority?: Priority;
  /** Total attempts per job (>= 1). Default 1 (no retry). */
  attempts?: number;
  /** Backoff between attempts, or a custom policy. Default: retry at once. */
  backoff?: BackoffOptions | RetryPolicy;
  /** Per-attempt timeout in ms; the handler's signal is aborted and the attempt fails. Default: none. */
  timeout?: number;
  /** Most jobs of this task running at once in this process (within the queue's concurrency). Default: unlimited. */
  concurrency?: number;
  /**
   * Most jobs of this task active at once in the whole cluster, kept by the store in every claim (see
   * docs/flow-control.md). Default: unlimited.
   */
  globalConcurrency?: number;
  /** Most jobs of this task started in any window of `per` ms across the cluster. Default: unlimited. */
  rateLimit?: RateLimit;
  /**
   * The group (tenant) of each job of this task, from its payload, when the producer passes no `group`: e.g.
   * `(p) => p.tenantId`. Return null or undefined for no group. Set on the task's reference (`defineTask`) when
   * producers enqueue without the handler. See docs/flow-control.md#groups.
   */
  group?: (payload: any) => string | null | undefined;
  /**
   * Most jobs of one group active at once in the whole cluster, for this task's jobs (over the queue's
   * `groupConcurrency`); the group's active jobs of every task of the queue are counted. Default: the queue's, else
   * unlimited.
   */
  groupConcurrency?: number;
  /** Event(s) that enqueue a job of this task: `jobs.emit(event, payload)` fans out to every subscriber. */
  on?: string | readonly string[];
  /**
   * Delete each job as it completes instead of keeping it as `completed` until retention removes it: the fastest
   * completion on every store, for high-volume tasks whose history nobody reads. Its result can then only be read
   * by `waitForResult` in the process that ran it, and its `jobId` is free for a new job at once. Failed jobs are
   * kept as usual, and so are the jobs a schedule fires (their id guards the tick). Default: true when
   * `retention.completed` keeps nothing (`maxCount: 0` or `maxAgeMs: 0`), else false (kept until retention prunes it).
   */
  removeOnComplete?: boolean;
  /**
   * Poison-pill guard: how many times a job's worker may die (its lease expire) while running the handler before the
   * job fails with a `JobStalledError` instead of being put back. A dead worker never uses up an attempt. Default:
   * the module's `worker.maxStalls` (1).
   */
  maxStalls?: number;
  /**
   * Run the handler on up to `size` jobs at once (see {@link BatchHandler}): started jobs of this task gather for at
   * most `waitMs`, and the handler gets their payloads and returns one result or `Error` per job. Each job keeps its
   * own attempt, so a failed one retries alone. A job waiting for its batch holds its worker slot: give the queue a
   * `concurrency` of at least `size` for full batches. Default: none (one job per call).
   */
  batch?: BatchOptions;
}

/** A job handler: receives the payload and the job's context; its return value is stored as the result. */
export type TaskHandler<P = any, R = unknown> = (payload: P, ctx: JobContext) => R | Promise<R>;

/** A registered task with its options resolved. */
export interface TaskDefinition {
  name: string;
  queue: string;
  priority: Priority;
  attempts: number;
  backoff: BackoffOptions | RetryPolicy | undefined;
  timeout: number | undefined;
  concurrency: number | undefined;
  globalConcurrency: number | undefined;
  rateLimit: RateLimit | undefined;
  /** Group of a job from its payload; undefined: none. */
  group: ((payload: any) => string | null | undefined) | undefined;
  groupConcurrency: number | undefined;
  /** Events this task subscribes to. */
  on: readonly string[];
  /** Delete completed jobs at once; undefined: follow the retention policy. */
  removeOnComplete: boolean | undefined;
  /** Worker deaths tolerated while running one job; undefined: the module's default. */
  maxStalls: number | undefined;
  /** Batch options; undefined: one job per handler call. With them, `handler` is a {@link BatchHandler}. */
  batch: BatchOptions | undefined;
  handler: TaskHandler;
  /** Who declared it, e.g. `ReportService.generate`: named in duplicate-name errors. */
  owner: string;
}

/** What a producer stamps on a job of a task: resolved from a local handler, a reference or module options. */
export interface ProducerTask {
  name: string;
  queue: string;
  priority: Priority;
  attempts: number;
  /** Group of a job from its payload, when the producer passes none. */
  group?: ((payload: any) => string | null | undefined) | undefined;
}

const QUEUE_NAME = /^[A-Za-z0-9._:-]{1,100}$/;

/** Throw unless `event` is a usable event name. */
export function validateEventName(event: unknown): asserts event is string {
  if (!isStoredName(event)) throw new InvalidJobError(messages.invalidEventName(event));
}

/** Throw unless `name` is a usable task name. */
export function validateTaskName(name: unknown): asserts name is string {
  if (!isStoredName(name)) throw new InvalidJobError(messages.invalidTaskName(name));
}

/** Throw unless `queue` is a usable queue name (safe as a Redis key part and a SQL value). */
export function validateQueueName(queue: unknown): asserts queue is string {
  if (typeof queue !== 'string' || !QUEUE_NAME.test(queue)) throw new InvalidJobError(messages.invalidQueueName(queue));
}

/** Throw unless `priority` is one of the four priorities. */
export function validatePriority(priority: unknown): asserts priority is Priority {
  if (!PRIORITIES.includes(priority as Priority)) throw new InvalidJobError(messages.invalidPriority(priority));
}

/** Throw unless `maxStalls` is a whole number >= 0. */
export function validateMaxStalls(value: unknown): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new InvalidJobError(messages.invalidMaxStalls(value));
}

/** Throw unless `attempts` is a whole number from 1 to {@link MAX_ATTEMPTS}. */
export function validateAttempts(attempts: unknown): asserts attempts is number {
  if (!Number.isInteger(attempts) || (attempts as number) < 1 || (attempts as number) > MAX_ATTEMPTS) {
    throw new InvalidJobError(messages.invalidAttempts(attempts, MAX_ATTEMPTS));
  }
}

/** Throw unless `timeout` is a whole number of ms from 1 to {@link MAX_DELAY_MS} (longer than a timer: re-armed). */
export function validateTimeout(timeout: unknown): asserts timeout is number {
  if (!Number.isInteger(timeout) || (timeout as number) <= 0 || (timeout as number) > MAX_DELAY_MS) {
    throw new InvalidJobError(messages.invalidTimeout(timeout, MAX_DELAY_MS));
  }
}

/** Throw unless `value` is a whole number >= 1. */
export function validateConcurrency(what: string, value: unknown): asserts value is number {
  if (!Number.isInteger(value) || (value as number) < 1) throw new ConfigurationError(messages.invalidConcurrency(what, value));
}

/** Throw unless `globalConcurrency`, `groupConcurrency` and `rateLimit`, where set, are valid (see {@link TaskOptions}). */
export function validateFlow(what: string, options: { globalConcurrency?: unknown; groupConcurrency?: unknown; rateLimit?: unknown }): void {
  if (options.globalConcurrency !== undefined) validateConcurrency(`${what} (globalConcurrency)`, options.globalConcurrency);
  if (options.groupConcurrency !== undefined) validateConcurrency(`${what} (groupConcurrency)`, options.groupConcurrency);
  const rate = options.rateLimit as RateLimit | undefined;
  const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 1;
  if (rate !== undefined && !(typeof rate === 'object' && rate !== null && whole(rate.max) && whole(rate.per))) {
    throw new ConfigurationError(messages.invalidRateLimit(what, rate));
  }
}

/** Check every field of a task's options; the error names the task. */
export function validateTaskOptions(name: string, options: TaskOptions): void {
  try {
    if (options.queue !== undefined) validateQueueName(options.queue);
    if (options.priority !== undefined) validatePriority(options.priority);
    if (options.attempts !== undefined) validateAttempts(options.attempts);
    if (options.maxStalls !== undefined) validateMaxStalls(options.maxStalls);
    if (options.timeout !== undefined) validateTimeout(options.timeout);
    validateBackoff(options.backoff);
    if (options.concurrency !== undefined) validateConcurrency(`task "${name}"`, options.concurrency);
    validateFlow(`task "${name}"`, options);
    for (const event of eventList(options.on)) validateEventName(event);
    if (options.batch !== undefined) validateBatch(options.batch);
    if (options.group !== undefined && typeof options.group !== 'function') {
      throw new InvalidJobError(messages.invalidOption('group', options.group, 'a function (payload) => group name'));
    }
    if (options.removeOnComplete !== undefined && typeof options.removeOnComplete !== 'boolean') {
      throw new InvalidJobError(messages.invalidOption('removeOnComplete', options.removeOnComplete, 'true or false'));
    }
  } catch (error) {
    throw new ConfigurationError(`Task "${name}": ${(error as Error).message}`);
  }
}

/** The tasks this process knows, by name. */
export class TaskRegistry {
  private readonly tasks = new Map<string, TaskDefinition>();
  /** Producer defaults per reference, checked once against the local handler (cleared when one registers). */
  private refTargets = new WeakMap<TaskRef, ProducerTask>();
  private readonly overrides: Readonly<Record<string, TaskOptions>>;

  /** Module overrides are checked here, so a bad one fails the boot even for a task this process only enqueues. */
  constructor(overrides: Readonly<Record<string, TaskOptions>> | null = {}) {
    this.overrides = overrides ?? {};
    for (const [name, options] of Object.entries(this.overrides)) validateTaskOptions(name, options ?? {});
  }

  /**
   * Register a handler, by name or by a {@link TaskRef} (its options first, then `options`, which may not change the
   * reference's queue, priority or attempts). Module-level overrides for the name win over both, so values can come
   * from configuration. Throws on a duplicate name, naming both owners.
   */
  register(task: string | TaskRef, handler: TaskHandler, options: TaskOptions = {}, owner = 'anonymous'): TaskDefinition {
    const name = isTaskRef(task) ? task.name : task;
    validateTaskName(name);
    const existing = this.tasks.get(name);
    if (existing) throw new ConfigurationError(messages.duplicateTask(name, existing.owner, owner));
    if (isTaskRef(task)) {
      // Compared as producers resolve them: `priority: 'normal'` agrees with a reference that leaves priority out.
      const fromRef = producerDefaults(name, task.options);
      const given = producerDefaults(name, options);
      for (const field of PRODUCER_OPTIONS) {
        if (options[field] !== undefined && given[field] !== fromRef[field]) {
          throw new ConfigurationError(messages.taskRefOptionConflict(name, owner, field, fromRef[field], given[field]));
        }
      }
    }
    const merged: TaskOptions = { ...(isTaskRef(task) ? task.options : {}), ...options, ...this.overrides[name] };
    validateTaskOptions(name, merged);
    const definition: TaskDefinition = {
      name,
      queue: merged.queue ?? DEFAULT_QUEUE,
      priority: merged.priority ?? 'normal',
      attempts: merged.attempts ?? 1,
      backoff: merged.backoff,
      timeout: merged.timeout,
      concurrency: merged.concurrency,
      globalConcurrency: merged.globalConcurrency,
      rateLimit: merged.rateLimit,
      group: merged.group,
      groupConcurrency: merged.groupConcurrency,
      on: [...new Set(eventList(merged.on))],
      removeOnComplete: merged.removeOnComplete,
      maxStalls: merged.maxStalls,
      batch: merged.batch,
      handler,
      owner,
    };
    this.tasks.set(name, definition);
    this.refTargets = new WeakMap();
    return definition;
  }

  /**
   * Where and how a producer enqueues `task`, with or without its handler here:
   * - a local handler: its options (as before references existed);
   * - a reference: its options under the module overrides, and if a handler of that name is registered here with
   *   another queue, priority or attempts, a `ConfigurationError` (its jobs would go where its workers do not look);
   * - a name with no handler here: the module's `tasks[name]` options, else the default queue and defaults. A worker
   *   that claims a job of a task it does not know leaves it waiting (see the worker pool's hand-back).
   */
  producerTask(task: string | TaskRef): ProducerTask {
    if (!isTaskRef(task)) {
      const local = this.tasks.get(task);
      if (local) return local;
      validateTaskName(task);
      return producerDefaults(task, this.overrides[task] ?? {});
    }
    let target = this.refTargets.get(task);
    if (!target) {
      target = producerDefaults(task.name, { ...task.options, ...this.overrides[task.name] });
      const local = this.tasks.get(task.name);
      const differs = local && PRODUCER_OPTIONS.filter((field) => local[field] !== target![field]);
      if (local && differs!.length > 0) {
        const show = (from: ProducerTask) => differs!.map((field) => `${field} ${shownOption(from[field])}`).join(', ');
        throw new ConfigurationError(messages.taskRefMismatch(task.name, show(target), local.owner, show(local)));
      }
      this.refTargets.set(task, target);
    }
    return target;
  }

  get(name: string): TaskDefinition | undefined {
    return this.tasks.get(name);
  }

  /** The definition, or a clear error listing the known names. */
  require(name: string): TaskDefinition {
    const task = this.tasks.get(name);
    if (!task) {
      validateTaskName(name);
      throw new InvalidJobError(messages.unknownTask(name, this.names()));
    }
    return task;
  }

  names(): string[] {
    return [...this.tasks.keys()].sort();
  }

  all(): TaskDefinition[] {
    return [...this.tasks.values()];
  }

  /** Tasks subscribed to `event`, in registration order. */
  subscribers(event: string): TaskDefinition[] {
    return this.all().filter((t) => t.on.includes(event));
  }

  /** Queues that at least one task uses. */
  queues(): string[] {
    return [...new Set(this.all().map((t) => t.queue))].sort();
  }
}

function producerDefaults(name: string, options: TaskOptions): ProducerTask {
  return { name, queue: options.queue ?? DEFAULT_QUEUE, priority: options.priority ?? 'normal', attempts: options.attempts ?? 1, group: options.group };
}

function eventList(on: string | readonly string[] | undefined): readonly string[] {
  // Anything but an array is treated as one name, so a wrong type reaches validateEventName and its message.
  return on === undefined ? [] : Array.isArray(on) ? on : [on as string];
}
