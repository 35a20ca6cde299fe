import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { UnoJobsOptions } from '../core/uno-jobs.js';
import type { JobStorage } from '../contract/job-storage.js';
import { loadNestScheduleModule, type NestScheduleOption } from './nest-schedule.bridge.js';
import type { StorageToken } from './storage.js';

/**
 * Options of `UnoJobsModule.forRoot()` / `forRootAsync()`: the engine's options (see `UnoJobsOptions`: worker,
 * queues, task overrides, retention, payload and size limits, scheduler, clock), with the store given as an instance or a provider token. Every field
 * is optional.
 */
export interface UnoJobsModuleOptions extends Omit<UnoJobsOptions, 'storage'> {
  /**
   * Where jobs are stored: a store instance or the DI token of a provider of one. Default: a `MemoryJobStorage`.
   * Each backend has one spelling, from its own entry point, so an app never loads the drivers of another:
   * `new RedisJobStorage({ connection, prefix })` from `@uno/jobs/redis`, `new TypeormJobStorage({ dataSource })`
   * from `@uno/jobs/typeorm`, or your own `JobStorage`. The module connects it at init and closes it at shutdown.
   */
  storage?: JobStorage | StorageToken;
}

export const {
  ConfigurableModuleClass: UnoJobsConfigurableModule,
  MODULE_OPTIONS_TOKEN: UNO_JOBS_OPTIONS,
  OPTIONS_TYPE: UNO_JOBS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: UNO_JOBS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<UnoJobsModuleOptions>()
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createUnoJobsOptions')
  // nestSchedule is an extra (known when the module is built, also with forRootAsync): it adds the module that
  // provides SchedulerRegistry, loaded only when set (see nest-schedule.bridge.ts).
  .setExtras<{ isGlobal?: boolean; nestSchedule?: NestScheduleOption }>({ isGlobal: true, nestSchedule: undefined }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
    ...(extras.nestSchedule === undefined ? {} : { imports: [...(definition.imports ?? []), loadNestScheduleModule(extras.nestSchedule)] }),
  }))
  .build();
