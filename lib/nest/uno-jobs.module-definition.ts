import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { Clock } from '../core/clock.js';
import type { QueueOptions, RetentionOptions, WorkerOptions } from '../core/uno-jobs.js';
import type { SchedulerOptions } from '../core/scheduler.js';
import type { TaskOptions } from '../core/task-registry.js';
import type { StorageConfig } from '../storage/create-storage.js';

/** Options of `UnoJobsModule.forRoot()` / `forRootAsync()`. Every field is optional. */
export interface UnoJobsModuleOptions {
  /** Where jobs are stored. Default `{ type: 'memory' }`. */
  storage?: StorageConfig;
  /** Workers of this instance (concurrency, leases, shutdown grace; `enabled: false` for producer-only). */
  worker?: WorkerOptions;
  /** Settings per queue name. */
  queues?: Record<string, QueueOptions>;
  /** Overrides of `@Task` options by task name, e.g. concurrency from ConfigService. They win over the decorator. */
  tasks?: Record<string, TaskOptions>;
  /** How long finished jobs are kept (bounded by default). */
  retention?: RetentionOptions;
  /** Largest payload as UTF-8 JSON. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Period of promote/recover housekeeping in ms. Default 1000. */
  maintenanceIntervalMs?: number;
  /** Cron/interval scheduler: `enabled` (default: where the worker runs), `syncIntervalMs`, `graceMs`. */
  scheduler?: SchedulerOptions;
  /** Time source (tests pass a `ManualClock`). Default: the system clock. */
  clock?: Clock;
}

export const {
  ConfigurableModuleClass: UnoJobsConfigurableModule,
  MODULE_OPTIONS_TOKEN: UNO_JOBS_OPTIONS,
  OPTIONS_TYPE: UNO_JOBS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: UNO_JOBS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<UnoJobsModuleOptions>()
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createUnoJobsOptions')
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
