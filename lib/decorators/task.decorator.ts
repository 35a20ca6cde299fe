import type { TaskOptions } from '../core/task-registry.js';

/** Metadata key under which `@Task` stores its arguments on the method. */
export const TASK_METADATA = 'uno:jobs:task';

/** What `@Task` records on a method. */
export interface TaskMetadata {
  name: string;
  options: TaskOptions;
}

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
export function Task(name: string, options: TaskOptions = {}): MethodDecorator {
  return (_target, _key, descriptor) => {
    Reflect.defineMetadata(TASK_METADATA, { name, options } satisfies TaskMetadata, descriptor.value as object);
    return descriptor;
  };
}
