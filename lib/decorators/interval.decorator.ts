import { defineScheduleMetadata, type ScheduleDecoratorOptions } from './cron.decorator.js';

/** Options of `@Interval`. */
export type IntervalOptions = ScheduleDecoratorOptions;

/**
 * Run a provider's method every `ms` milliseconds, **once per tick across all instances**. Ticks fall on
 * multiples of `ms` since the Unix epoch (every 30 s: at :00 and :30), so every instance agrees on them whenever
 * it started. The method becomes a task (named `options.name`, default `<Class>.<method>`) run as an ordinary job.
 *
 * @example
 * @Interval(30_000, { name: 'heartbeat', overlap: false })
 * async ping() { ... }
 */
export function Interval(ms: number, options: IntervalOptions = {}): MethodDecorator {
  return defineScheduleMetadata({ decorator: '@Interval', every: ms, options });
}
