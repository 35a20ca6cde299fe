import type { DynamicModule } from '@nestjs/common';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { ConfigurationError, messages } from '../contract/errors.js';
import type { UnoJobs } from '../core/uno-jobs.js';

/**
 * What `@Timeout(ms)` of `@nestjs/schedule` means once Uno Jobs runs it:
 * - `'instance'` (default, as in `@nestjs/schedule`): every process runs the method once, `ms` after its boot, in
 *   that process (a cache warm-up stays local);
 * - `'deploy'`: once per deploy across the cluster, as a job with the id `nest-timeout:<name>:<deployId>` enqueued
 *   by whichever instance boots first, `ms` after that boot (needs `deployId`).
 */
export type NestScheduleTimeouts = 'instance' | 'deploy';

/** Options of the adoption of `@nestjs/schedule`'s decorators (the object form of `nestSchedule`). */
export interface NestScheduleAdoptOptions {
  /** `@Timeout` semantics: `'instance'` (default) or `'deploy'`. See {@link NestScheduleTimeouts}. */
  timeouts?: NestScheduleTimeouts;
  /**
   * Identity of the running release (image tag, git sha), the same on every instance of one deploy. Required with
   * `timeouts: 'deploy'`: a `@Timeout` then runs once per value.
   */
  deployId?: string;
  /**
   * Time zone of `@Cron` methods that give neither `timeZone` nor `utcOffset`. Default: this process's zone, which is
   * what `@nestjs/schedule` uses. Set it (e.g. `'UTC'`) when instances may run in different zones: every instance
   * must compute the same ticks.
   */
  timeZone?: string;
}

/**
 * The `nestSchedule` option of `UnoJobsModule.forRoot()` / `forRootAsync()`: `'adopt'` (or an options object) makes
 * Uno Jobs run the methods decorated with `@nestjs/schedule`'s `@Cron`, `@Interval` and `@Timeout`, once per tick
 * across the cluster, and provide `SchedulerRegistry`. Remove `ScheduleModule.forRoot()` from the imports then.
 * See docs/nest-schedule.md.
 *
 * @example
 * UnoJobsModule.forRoot({ storage, nestSchedule: 'adopt' })
 * UnoJobsModule.forRootAsync({ nestSchedule: { timeouts: 'deploy', deployId: process.env.RELEASE }, useFactory })
 */
export type NestScheduleOption = 'adopt' | NestScheduleAdoptOptions;

/** The adoption settings with defaults applied. */
export interface ResolvedNestSchedule {
  timeouts: NestScheduleTimeouts;
  deployId: string | null;
  timeZone: string;
}

/** Token of the adopter provider (present only when `nestSchedule` is set). */
export const NEST_SCHEDULE_ADOPTER = 'uno:jobs:nest-schedule-adopter';

/** What the explorer calls on the adopter: register the adopted methods as tasks and schedules. */
export interface NestScheduleAdopterPort {
  adopt(discovery: DiscoveryService, scanner: MetadataScanner, uno: UnoJobs): void;
}

/** Validate the option and apply defaults; throws a `ConfigurationError` that names the bad value. */
export function resolveNestSchedule(option: NestScheduleOption): ResolvedNestSchedule {
  if (option !== 'adopt' && (typeof option !== 'object' || option === null)) {
    throw new ConfigurationError(messages.nestScheduleInvalid('nestSchedule', option, "pass 'adopt' or an options object"));
  }
  const { timeouts = 'instance', deployId, timeZone } = option === 'adopt' ? {} : option;
  if (timeouts !== 'instance' && timeouts !== 'deploy') {
    throw new ConfigurationError(messages.nestScheduleInvalid('nestSchedule.timeouts', timeouts, "use 'instance' or 'deploy'"));
  }
  if (deployId !== undefined && (typeof deployId !== 'string' || !/^\S{1,100}$/.test(deployId))) {
    throw new ConfigurationError(messages.nestScheduleInvalid('nestSchedule.deployId', deployId, 'use 1 to 100 characters without whitespace'));
  }
  if (timeouts === 'deploy' && deployId === undefined) {
    throw new ConfigurationError(
      messages.nestScheduleInvalid('nestSchedule.deployId', deployId, "timeouts: 'deploy' needs the release's id, the same on every instance (e.g. process.env.GIT_SHA)"),
    );
  }
  if (timeZone !== undefined && (typeof timeZone !== 'string' || timeZone === '')) {
    throw new ConfigurationError(messages.nestScheduleInvalid('nestSchedule.timeZone', timeZone, "use an IANA zone name such as 'UTC'"));
  }
  return { timeouts, deployId: deployId ?? null, timeZone: timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone };
}

type Importer = () => Promise<{ nestScheduleModule: (options: ResolvedNestSchedule) => DynamicModule }>;

/**
 * The module that adopts `@nestjs/schedule`, as a lazy import: `@nestjs/schedule` is loaded only when the option is
 * set, so apps without it need not install it. A missing package fails the boot with the install command.
 */
export async function loadNestScheduleModule(
  option: NestScheduleOption,
  importer: Importer = () => import('./nest-schedule.adopter.js'),
): Promise<DynamicModule> {
  const resolved = resolveNestSchedule(option);
  let loaded: Awaited<ReturnType<Importer>>;
  try {
    loaded = await importer();
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message?.includes('@nestjs/schedule')) {
      throw new ConfigurationError(messages.missingOptionalDependency('@nestjs/schedule', "UnoJobsModule's nestSchedule option"));
    }
    throw error;
  }
  return loaded.nestScheduleModule(resolved);
}
