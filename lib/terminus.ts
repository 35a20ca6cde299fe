/**
 * The Terminus health indicator, as its own entry point (`@uno/jobs/terminus`) so apps without `@nestjs/terminus`
 * never load it.
 * @packageDocumentation
 */
export { UnoJobsHealthIndicator, type UnoJobsHealthOptions } from './nest-monitoring/uno-jobs.health.js';
export { checkHealth, type HealthCheckOptions, type HealthCheckName, type HealthReport } from './monitoring/health-check.js';
