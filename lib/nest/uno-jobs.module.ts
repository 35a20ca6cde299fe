import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule, ModuleRef } from '@nestjs/core';
import { JobEvents } from '../core/events.js';
import { JobQueue } from '../core/job-queue.js';
import { Scheduler } from '../core/scheduler.js';
import { UnoJobs } from '../core/uno-jobs.js';
import { UnoMetrics } from '../core/uno-metrics.js';
import { UnoWorkers } from '../core/uno-workers.js';
import { UnoAlerts } from '../core/alerts.js';
import { JobStorage } from '../contract/job-storage.js';
import { resolveStorage } from './storage.js';
import { JobEventListeners } from './job-event.listeners.js';
import { JobsExplorer } from './jobs.explorer.js';
import { JobsOrchestrator } from './jobs.orchestrator.js';
import { UNO_JOBS } from './tokens.js';
import { UNO_JOBS_OPTIONS, UnoJobsConfigurableModule, type UNO_JOBS_OPTIONS_TYPE, type UnoJobsModuleOptions } from './uno-jobs.module-definition.js';

const providers: Provider[] = [
  {
    provide: UNO_JOBS,
    inject: [UNO_JOBS_OPTIONS, ModuleRef],
    useFactory: (options: UnoJobsModuleOptions, moduleRef: ModuleRef) => {
      const { storage, ...rest } = options ?? {};
      return new UnoJobs({ ...rest, storage: resolveStorage(storage, moduleRef, rest.clock) });
    },
  },
  { provide: JobQueue, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.queue },
  { provide: JobEvents, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.events },
  { provide: Scheduler, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.scheduler },
  { provide: JobStorage, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.storage },
  { provide: UnoMetrics, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.metrics },
  { provide: UnoWorkers, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.workers },
  { provide: UnoAlerts, inject: [UNO_JOBS], useFactory: (uno: UnoJobs) => uno.alerts },
  JobsExplorer,
  JobEventListeners,
  JobsOrchestrator,
];

/**
 * Uno Jobs for NestJS. Import it once, in the root module; it is global by default (`isGlobal: false` to opt out).
 *
 * @example
 * @Module({ imports: [UnoJobsModule.forRoot()] }) // memory store
 * export class AppModule {}
 *
 * // the store and options from configuration:
 * UnoJobsModule.forRootAsync({
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ storage: new RedisJobStorage({ connection: config.get('REDIS_URL') }) }),
 * })
 */
@Module({
  imports: [DiscoveryModule],
  providers,
  exports: [JobQueue, JobEvents, Scheduler, JobStorage, UnoMetrics, UnoWorkers, UnoAlerts, UNO_JOBS],
})
export class UnoJobsModule extends UnoJobsConfigurableModule {
  /** Uno Jobs with these options (all optional: `forRoot()` runs on a memory store with the defaults). */
  static override forRoot(options: typeof UNO_JOBS_OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
