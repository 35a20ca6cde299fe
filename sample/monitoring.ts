import { Controller, Get, Header, Module, Query } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { register } from 'prom-client';
import { UnoMetrics } from '../lib/index.js';
import { UnoJobsPrometheusModule } from '../lib/prometheus.js';
import { UnoJobsHealthIndicator } from '../lib/terminus.js';

/** `GET /health`: Terminus with the Uno Jobs indicator (store reachable within 2 s, worker running, backlog below 1000). */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly jobs: UnoJobsHealthIndicator,
  ) {}

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.jobs.isHealthy('jobs', { timeoutMs: 2000, maxWaiting: 1000 })]);
  }
}

/** `GET /metrics`: prom-client's global registry, where UnoJobsPrometheusModule registers the `uno_*` metrics. */
@Controller()
export class MetricsController {
  @Get('metrics')
  @Header('Content-Type', register.contentType)
  metrics(): Promise<string> {
    return register.metrics();
  }
}

/** `GET /stats?queue=`: the cluster's figures, workers and error patterns from the store (`UnoMetrics`). */
@Controller()
export class StatsController {
  constructor(private readonly metrics: UnoMetrics) {}

  @Get('stats')
  async stats(@Query('queue') queue?: string) {
    const [summary, workers, errorPatterns] = await Promise.all([
      this.metrics.summary(queue ? { queue } : {}),
      this.metrics.workers(),
      this.metrics.errorPatterns({ limit: 10 }),
    ]);
    return { summary, workers, errorPatterns };
  }
}

/** Health and metrics of the sample: what an app adds to serve both (see docs/monitoring.md). */
@Module({
  imports: [TerminusModule, UnoJobsPrometheusModule.register()],
  controllers: [HealthController, MetricsController, StatsController],
  providers: [UnoJobsHealthIndicator],
})
export class MonitoringModule {}
