import type { MissedPolicy } from '../core/scheduler-definition.js';
import type { TaskOptions } from '../core/task-registry.js';
import { ConfigurationError, messages } from '../contract/errors.js';

/**
 * Metadata key of `@Cron` and `@Interval` (one per method). Deliberately distinct from `@nestjs/schedule`'s keys
 * (`SCHEDULE_CRON_OPTIONS`, `SCHEDULER_TYPE`, ...), so an app can use both libraries side by side.
 */
export const SCHEDULE_METADATA = 'uno:jobs:schedule';

/** Options shared by `@Cron` and `@Interval`: the schedule's, plus the options of the task the method becomes. */
export interface ScheduleDecoratorOptions extends TaskOptions {
  /** Name of the schedule and of its task. Default `<Class>.<method>`. */
  name?: string;
  /** Payload of every job (JSON). Default `null`. */
  payload?: unknown;
  /** Missed-tick policy after a downtime: `skip` (default), `last` or `all`. */
  missed?: MissedPolicy;
  /** With `missed: 'all'`, most missed ticks run (the newest). Default 10. */
  maxMissed?: number;
  /** `false`: skip a tick while the previous firing's job is still waiting or running. Default `true`. */
  overlap?: boolean;
}

/** Options of `@Cron`. */
export interface CronOptions extends ScheduleDecoratorOptions {
  /** IANA time zone the expression is read in (DST-aware). Default `'UTC'` (see docs/scheduler.md). */
  timezone?: string;
  /** The same as `timezone`, spelled as `@nestjs/schedule` spells it, so moving a decorator over is a rename of the import. */
  timeZone?: string;
}

/** What `@Cron`/`@Interval` record on a method. */
export interface ScheduleMetadata {
  decorator: '@Cron' | '@Interval';
  cron?: string;
  every?: number;
  options: CronOptions;
}

/** Record schedule metadata, refusing a second schedule decorator on the same method. */
export function defineScheduleMetadata(metadata: ScheduleMetadata): MethodDecorator {
  return (target, key, descriptor) => {
    const fn = descriptor.value as object;
    if (typeof fn === 'function' && Reflect.hasOwnMetadata(SCHEDULE_METADATA, fn)) {
      throw new ConfigurationError(messages.scheduleDecoratedTwice(`${(target as { constructor: { name: string } }).constructor.name}.${String(key)}`));
    }
    Reflect.defineMetadata(SCHEDULE_METADATA, metadata, fn);
    return descriptor;
  };
}

/**
 * Run a provider's method on a cron schedule, **once per tick across all instances** sharing the store. The
 * method becomes a task (named `options.name`, default `<Class>.<method>`) and each firing is an ordinary job:
 * `attempts`, `backoff`, `timeout`, `priority`, `queue` apply. It receives `(payload, ctx: JobContext)`.
 * An invalid expression or time zone fails the boot with an error naming the class and method.
 *
 * @example
 * @Cron('0 3 * * *', { name: 'nightly-sync', timeZone: 'Europe/Berlin', payload: { full: true }, attempts: 3 })
 * async nightlySync(payload: { full: boolean }, ctx: JobContext) { ... }
 *
 * @Cron('*\/10 * * * * *', { overlap: false })   // 6 fields: seconds first
 * async poll() { ... }
 */
export function Cron(expression: string, options: CronOptions = {}): MethodDecorator {
  const { timeZone, ...rest } = options;
  if (timeZone === undefined) return defineScheduleMetadata({ decorator: '@Cron', cron: expression, options });
  return (target, key, descriptor) => {
    if (rest.timezone !== undefined && rest.timezone !== timeZone) {
      throw new ConfigurationError(messages.conflictingTimeZone(`${(target as { constructor: { name: string } }).constructor.name}.${String(key)}`, timeZone, rest.timezone));
    }
    return defineScheduleMetadata({ decorator: '@Cron', cron: expression, options: { ...rest, timezone: timeZone } })(target, key, descriptor);
  };
}
