import { Inject, Injectable, Module, type DynamicModule, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { UnoJobs } from '../core/uno-jobs.js';
import { UnoJobsMetrics, type PrometheusMetricsOptions } from '../monitoring/metrics.js';
import { UNO_JOBS } from '../nest/tokens.js';

const PROMETHEUS_OPTIONS = Symbol('UNO_JOBS_PROMETHEUS_OPTIONS');

/**
 * Feeds the `uno_*` Prometheus metrics from the app's Uno Jobs engine: attached at `onModuleInit` (before the
 * workers start at bootstrap), detached at `onModuleDestroy`. Provided by {@link UnoJobsPrometheusModule}; inject it
 * to reach the underlying {@link UnoJobsMetrics}.
 */
@Injectable()
export class UnoJobsPrometheus implements OnModuleInit, OnModuleDestroy {
  /** The metrics of this app's engine. */
  readonly metrics: UnoJobsMetrics;

  constructor(@Inject(UNO_JOBS) uno: UnoJobs, @Inject(PROMETHEUS_OPTIONS) options: PrometheusMetricsOptions) {
    this.metrics = new UnoJobsMetrics(uno, options);
  }

  /** @internal */
  onModuleInit(): void {
    this.metrics.attach();
  }

  /** @internal */
  onModuleDestroy(): void {
    this.metrics.detach();
  }
}

/**
 * Prometheus metrics of Uno Jobs (`@uno/jobs/prometheus`, needs `prom-client`). Registers `uno_jobs_*`,
 * `uno_worker_*` and `uno_queue_jobs` on prom-client's global `register` by default, so an app that serves
 * `/metrics` with `@willsoto/nestjs-prometheus` shows them with no more wiring; pass `registry` to use another.
 * Opens no HTTP route. Import it next to `UnoJobsModule`.
 *
 * @example
 * @Module({ imports: [UnoJobsModule.forRoot(), PrometheusModule.register(), UnoJobsPrometheusModule.register()] })
 * export class AppModule {}
 */
@Module({})
export class UnoJobsPrometheusModule {
  /** The metrics with these options (all optional). */
  static register(options: PrometheusMetricsOptions = {}): DynamicModule {
    return {
      module: UnoJobsPrometheusModule,
      providers: [{ provide: PROMETHEUS_OPTIONS, useValue: options }, UnoJobsPrometheus],
      exports: [UnoJobsPrometheus],
    };
  }
}
