import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { UnoJobs } from '../core/uno-jobs.js';
import { checkHealth, type HealthCheckOptions } from '../monitoring/health-check.js';
import { UNO_JOBS } from '../nest/tokens.js';

/** Options of {@link UnoJobsHealthIndicator.isHealthy}: the store timeout and the optional thresholds. */
export type UnoJobsHealthOptions = HealthCheckOptions;

/**
 * Terminus health indicator of Uno Jobs (`@uno/jobs/terminus`). Up when the store answers `counts()` within
 * `timeoutMs` (default 3000), this instance's worker runs (unless `worker.enabled: false`), and the optional
 * `maxWaiting` / `maxFailed` thresholds hold. Down names each failed check (`failed: ['store', ...]`) and says why
 * in `message`. Both carry the store's round trip (`responseTimeMs`) and the job counts when the store answered.
 * Needs `TerminusModule` imported in the module that provides it, and `UnoJobsModule` in the app.
 *
 * @example
 * @Controller('health')
 * class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly jobs: UnoJobsHealthIndicator) {}
 *   @Get() @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.jobs.isHealthy('jobs', { timeoutMs: 2000, maxWaiting: 10_000 })]);
 *   }
 * }
 * @Module({ imports: [TerminusModule], controllers: [HealthController], providers: [UnoJobsHealthIndicator] })
 * class HealthModule {}
 */
@Injectable()
export class UnoJobsHealthIndicator {
  constructor(
    @Inject(UNO_JOBS) private readonly uno: UnoJobs,
    private readonly health: HealthIndicatorService,
  ) {}

  /** Run the checks and report them under `key` (default `uno_jobs`). */
  async isHealthy<const Key extends string = 'uno_jobs'>(key: Key = 'uno_jobs' as Key, options: UnoJobsHealthOptions = {}): Promise<HealthIndicatorResult<Key>> {
    const session = this.health.check(key);
    const report = await checkHealth(this.uno, options);
    const details = {
      responseTimeMs: report.responseTimeMs,
      worker: report.worker,
      ...(report.counts ? { counts: report.counts } : {}),
      ...(report.waitingByQueue ? { waitingByQueue: report.waitingByQueue } : {}),
      ...(report.unhealthyWorkers ? { unhealthyWorkers: report.unhealthyWorkers } : {}),
    };
    if (report.healthy) return session.up(details);
    return session.down({ failed: report.failed, message: report.problems.join(' '), ...details });
  }
}
