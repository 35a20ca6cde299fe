import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { UnoJobsOptions } from '../core/uno-jobs.js';
import type { StorageConfig } from '../storage/create-storage.js';

/**
 * Options of `UnoJobsModule.forRoot()` / `forRootAsync()`: the engine's options (see `UnoJobsOptions`: worker,
 * queues, task overrides, retention, payload and size limits, scheduler, clock), with the store given as a config. Every field
 * is optional.
 */
export interface UnoJobsModuleOptions extends Omit<UnoJobsOptions, 'storage'> {
  /** Where jobs are stored. Default `{ type: 'memory' }`. */
  storage?: StorageConfig;
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
