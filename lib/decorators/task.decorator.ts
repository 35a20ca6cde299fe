import type { TaskHandler, TaskOptions } from '../core/task-registry.js';
import type { TaskHandlerOptions, TaskRef } from '../core/task-ref.js';

/** Metadata key under which `@Task` stores its arguments on the method. */
export const TASK_METADATA = 'uno:jobs:task';

/** What `@Task` records on a method. */
export interface TaskMetadata {
  name: string;
  options: TaskOptions;
  /** The reference given to `@Task(ref)`, whose options the handler is registered with. */
  ref?: TaskRef<any, any>;
}

/**
 * The decorator `@Task(ref)` returns: it accepts only a method that takes the reference's payload type (and
 * optionally the `JobContext`) and returns its result type, or a promise of it.
 */
export type TaskMethodDecorator<P, R> = <H extends TaskHandler<P, R>>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<H>,
) => TypedPropertyDescriptor<H> | void;

/**
 * Turn a provider's method into the handler of a task declared with `defineTask`. The handler is registered with
 * the reference's options plus `options` (worker-side settings only: concurrency, timeout, backoff, ...; queue,
 * priority and attempts belong to the reference, which producers read). A method whose payload or return type does
 * not match the reference's fails to compile (TypeScript compares parameters of methods bivariantly, so a handler
 * whose payload type is a subtype of the reference's still compiles).
 *
 * @example
 * export const GenerateReport = defineTask<{ userId: string }, { url: string }>('report.generate', { queue: 'reports' });
 *
 * @Task(GenerateReport, { concurrency: 4 })
 * async generate(payload: { userId: string }, ctx: JobContext) { return { url: `/r/${payload.userId}.pdf` }; }
 */
export function Task<P, R>(task: TaskRef<P, R>, options?: TaskHandlerOptions): TaskMethodDecorator<P, R>;
/**
 * Turn a provider's method into the handler of task `name`. The method receives `(payload, ctx: JobContext)`;
 * its return value (JSON) is stored as the job's result. Found at boot on every provider and controller; two
 * handlers with one name fail the boot. Options can be overridden by name in `UnoJobsModule.forRoot({ tasks })`.
 *
 * @example
 * @Task('report.generate', { queue: 'reports', priority: 'high', attempts: 5,
 *   backoff: { type: 'exponential', delay: 1000, maxDelay: 60_000, jitter: true }, timeout: 30_000, concurrency: 4 })
 * async generate(payload: { userId: string }, ctx: JobContext) { ... }
 */
export function Task(name: string, options?: TaskOptions): MethodDecorator;
export function Task(task: string | TaskRef<any, any>, options: TaskOptions = {}): MethodDecorator {
  const metadata: TaskMetadata = typeof task === 'string' ? { name: task, options } : { name: task.name, options, ref: task };
  return (_target, _key, descriptor) => {
    Reflect.defineMetadata(TASK_METADATA, metadata, descriptor.value as object);
    return descriptor;
  };
}
