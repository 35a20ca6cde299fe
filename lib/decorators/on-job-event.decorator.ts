import type { JobEventMap } from '../core/events.js';
import { ConfigurationError, messages } from '../contract/errors.js';

/** Metadata key of `@OnJobEvent` (a list: one method may listen to several events). */
export const JOB_EVENT_METADATA = 'uno:jobs:on-job-event';

/** Lifecycle events of a job, by their short name (`'completed'` is the `job:completed` event). */
export type JobLifecycleEvent = {
  [K in keyof JobEventMap]: K extends `job:${infer Short}` ? Short : never;
}[keyof JobEventMap];

/** Events whose payload names the job's task, so `{ task }` can filter them. */
export const TASK_FILTERABLE_EVENTS = ['enqueued', 'active', 'progress', 'completed', 'retry', 'failed', 'overdue'] as const;

/** Every event `@OnJobEvent` accepts: a job lifecycle event by short name, or another event by its full name. */
export type OnJobEventName = JobLifecycleEvent | Exclude<keyof JobEventMap, `job:${string}`>;

/** The payload a listener of `E` receives. */
export type OnJobEventPayload<E extends OnJobEventName> = E extends keyof JobEventMap ? JobEventMap[E] : JobEventMap[`job:${E & string}` & keyof JobEventMap];

/** Options of `@OnJobEvent`. */
export interface OnJobEventOptions {
  /**
   * Only jobs of this task (or these tasks). Allowed for events whose payload carries the job:
   * `enqueued`, `active`, `progress`, `completed`, `retry`, `failed`, `overdue`.
   */
  task?: string | readonly string[];
}

/** What `@OnJobEvent` records on a method. */
export interface JobEventMetadata {
  /** The full event name, e.g. `job:completed`. */
  event: keyof JobEventMap;
  tasks: readonly string[] | undefined;
}

/** Every event name, checked against `JobEventMap` by the compiler (a new event that is not listed fails the build). */
const EVENTS: Record<keyof JobEventMap, true> = {
  'job:enqueued': true, 'job:active': true, 'job:progress': true, 'job:completed': true, 'job:retry': true, 'job:failed': true,
  'job:cancelled': true, 'job:overdue': true, 'job:lease-lost': true, 'job:recovered': true, 'event:unhandled': true,
  'storage:claim': true, 'worker:error': true, 'worker:concurrency': true,
};
const EVENT_NAMES = Object.keys(EVENTS) as (keyof JobEventMap)[];

/**
 * Run a provider's method on a lifecycle event of this process (jobs it enqueued, ran or recovered), discovered at
 * boot like `@Task` and unsubscribed at shutdown. The method receives the event's payload (see `JobEventMap`);
 * a listener that throws or rejects is reported as `worker:error` and never affects the job.
 *
 * @example
 * @OnJobEvent('failed', { task: 'invoice.send' })
 * alert({ job, error }: JobEventMap['job:failed']) { this.pager.notify(`${job.id}: ${error.message}`); }
 *
 * @OnJobEvent('worker:error')
 * logBackgroundError({ error, context }: JobEventMap['worker:error']) { ... }
 */
export function OnJobEvent<E extends OnJobEventName>(
  event: E,
  options: OnJobEventOptions = {},
): <T extends (payload: OnJobEventPayload<E>) => unknown>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<T>) => TypedPropertyDescriptor<T> {
  const full = (EVENT_NAMES as readonly string[]).includes(event) ? (event as keyof JobEventMap) : (`job:${event}` as keyof JobEventMap);
  const where = (target: object, key: string | symbol) => `${(target as { constructor: { name: string } }).constructor.name}.${String(key)}`;
  return (target, key, descriptor) => {
    if (!EVENT_NAMES.includes(full)) throw new ConfigurationError(messages.unknownJobEvent(where(target, key), event, EVENT_NAMES));
    const tasks = options.task === undefined ? undefined : typeof options.task === 'string' ? [options.task] : [...options.task];
    if (tasks !== undefined) {
      const short = full.startsWith('job:') ? full.slice(4) : full;
      if (!(TASK_FILTERABLE_EVENTS as readonly string[]).includes(short) || tasks.length === 0 || tasks.some((t) => typeof t !== 'string' || t === '')) {
        throw new ConfigurationError(messages.invalidJobEventTaskFilter(where(target, key), event, TASK_FILTERABLE_EVENTS));
      }
    }
    const fn = descriptor.value as object;
    const list = (Reflect.getOwnMetadata(JOB_EVENT_METADATA, fn) as JobEventMetadata[] | undefined) ?? [];
    Reflect.defineMetadata(JOB_EVENT_METADATA, [...list, { event: full, tasks } satisfies JobEventMetadata], fn);
    return descriptor;
  };
}
