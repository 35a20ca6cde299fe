import { createRequire } from 'node:module';
import type { CronTime } from 'cron';
import { ConfigurationError, messages } from '../contract/errors.js';

let cronTime: typeof CronTime | undefined;

/**
 * The `cron` package, loaded on first use: apps without cron schedules (intervals only, or no scheduler) need not
 * install it. It is CommonJS, so a synchronous require keeps schedule validation synchronous.
 */
function loadCronTime(): typeof CronTime {
  if (!cronTime) {
    try {
      cronTime = (createRequire(import.meta.url)('cron') as typeof import('cron')).CronTime;
    } catch (error) {
      if ((error as { code?: string }).code === 'MODULE_NOT_FOUND') throw new ConfigurationError(messages.missingOptionalDependency('cron', 'A cron schedule'));
      throw error;
    }
  }
  return cronTime;
}

/**
 * When a schedule fires, as tick times in epoch milliseconds. Every instance of a cluster must compute the same
 * ticks from the same definition, so ticks depend only on the definition and the instant asked about: never on
 * when a process started.
 */
export interface Timing {
  /** The first tick strictly after `after`. */
  next(after: number): number;
}

/** The default time zone of cron schedules: UTC, so instances in different zones agree on tick times. */
export const DEFAULT_TIMEZONE = 'UTC';

/**
 * Compile a cron expression (5 fields, or 6 with seconds first) in a time zone, using the `cron` package that
 * `@nestjs/schedule` uses. Throws a plain `Error` with a readable reason; callers wrap it with who declared it.
 * `now` (the engine clock) is where the check for an expression that never matches starts.
 */
export function cronTiming(expression: string, timezone: string = DEFAULT_TIMEZONE, now = 0): Timing {
  if (typeof expression !== 'string' || expression.trim() === '') throw new Error(messages.invalidCron(expression, 'it is empty'));
  if (typeof timezone !== 'string' || timezone === '') throw new Error(messages.invalidTimezone(timezone));
  let cron: CronTime;
  const CronTimeClass = loadCronTime();
  try {
    cron = new CronTimeClass(expression, timezone);
  } catch (error) {
    const reason = (error as Error).message;
    if (/time ?zone/i.test(reason)) throw new Error(messages.invalidTimezone(timezone));
    throw new Error(messages.invalidCron(expression, reason));
  }
  const timing: Timing = {
    next(after: number): number {
      const at = cron.getNextDateFrom(new Date(after), timezone).toMillis();
      // The library never goes backwards today; a guard keeps a future regression from looping forever.
      return at > after ? at : Math.floor(after / 1000) * 1000 + 1000;
    },
  };
  // An expression that never matches (e.g. 30 February) only shows when asked for a date: fail at declaration.
  try {
    timing.next(now);
  } catch (error) {
    throw new Error(messages.invalidCron(expression, (error as Error).message.split('\n')[0]!));
  }
  return timing;
}

/**
 * A fixed period. Ticks sit on multiples of `every` since the Unix epoch (every 30 s: at :00 and :30), so all
 * instances agree without talking to each other, whenever each one started.
 */
export function intervalTiming(every: number): Timing {
  if (!Number.isInteger(every) || every < 1) throw new Error(messages.invalidEvery(every));
  return { next: (after) => (Math.floor(after / every) + 1) * every };
}

/** Most ticks enumerated in one call: protects the loop from pathological definitions (an interval of 1 ms). */
const MAX_ENUMERATED = 10_000;

/** Every tick in `(after, upTo]`, oldest first, at most `limit` (the oldest ones). */
export function ticksBetween(timing: Timing, after: number, upTo: number, limit = MAX_ENUMERATED): number[] {
  const ticks: number[] = [];
  for (let t = timing.next(after); t <= upTo && ticks.length < limit; t = timing.next(t)) ticks.push(t);
  return ticks;
}

/**
 * The newest `limit` ticks in `(after, upTo]`, oldest first. Used for missed ticks after a long downtime: rather
 * than walking every tick since `after` (a per-second cron down for a week is 600 000 ticks), it looks back over
 * growing windows ending at `upTo` until it has found `limit` ticks or reached `after`.
 */
export function newestTicks(timing: Timing, after: number, upTo: number, limit: number): number[] {
  if (upTo <= after || limit < 1) return [];
  for (let span = 1000; ; span *= 8) {
    const start = Math.max(after, upTo - span);
    const ticks: number[] = [];
    let walked = 0;
    for (let t = timing.next(start); t <= upTo; t = timing.next(t)) {
      ticks.push(t);
      if (ticks.length > limit) ticks.shift();
      // A dense cluster in a wide window: skip ahead towards upTo (the newest ticks are the ones kept), so the
      // cost stays bounded. Ticks in the skipped stretch are dropped: the result is then approximate, never slow.
      if (++walked % MAX_ENUMERATED === 0) t = Math.max(t, Math.floor((t + upTo) / 2));
    }
    if (ticks.length >= limit || start === after) return ticks;
  }
}

/**
 * Ticks to fire in `(cursor, now]`, oldest first: every tick within `graceMs` of now (on time: the loop was merely
 * late), plus the newest `missedLimit` older ones (missed: no instance ran when they fell due).
 */
export function dueTicks(timing: Timing, cursor: number, now: number, graceMs: number, missedLimit: number): number[] {
  const onTime = ticksBetween(timing, Math.max(cursor, now - graceMs), now);
  return [...newestTicks(timing, cursor, now - graceMs, missedLimit), ...onTime];
}
