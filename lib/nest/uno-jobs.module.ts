import { Module, type Provider } from '@nestjs/common';
import { DiscoveryModule, ModuleRef } from '@nestjs/core';
import { JobEvents } from '../core/events.js';
import { JobQueue } from '../core/job-queue.js';
import { Scheduler } from '../core/scheduler.js';
import { UnoJobs } from '../core/uno-jobs.js';
import { createStorage, type StorageToken } from '../storage/create-storage.js';
import { JobsExplorer } from './jobs.explorer.js';
import { JobsOrchestrator } from './jobs.orchestrator.js';
import { UNO_JOBS } from './tokens.js';
import { UNO_JOBS_OPTIONS, UnoJobsConfigurableModule, type UnoJobsModuleOptions } from './uno-jobs.module-definition.js';

const providers: Provider[] = [
  {
    provide: UNO_JOBS,
    inject: [UNO_JOBS_OPTIONS, ModuleRef],
    useFactory: async (options: UnoJobsModuleOptions, moduleRef: ModuleRef) => {
      const { storage: storageConfig, ...rest } = options ?? {};
      const storage = await createStorage(storageConfig, (token: StorageToken) => moduleRef.get(token as never, { strict: false }), rest.clock);
      return new UnoJobs({ ...rest, storage });
    },
  },
  { provide: JobQueue, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.queue },
  { provide: JobEvents, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.events },
  { provide: Scheduler, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.scheduler },
  JobsExplorer,
  JobsOrchestrator,
];

/**
 * Uno Jobs for NestJS. Import it once, in the root module; it is global by default (`isGlobal: false` to opt out).
 *
 * @example
 * @Module({ imports: [UnoJobsModule.forRoot({ storage: { type: 'memory' } })] })
 * export class AppModule {}
 *
 * // options from configuration:
 * UnoJobsModule.forRootAsync({
 *   imports: [ConfigModule], inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ tasks: { 'report.generate': { concurrency: config.get('REPORTS') } } }),
 * })
 */
@Module({
  imports: [DiscoveryModule],
  providers,
  exports: [JobQueue, JobEvents, Scheduler, UNO_JOBS],
})
export class UnoJobsModule extends UnoJobsConfigurableModule {}
