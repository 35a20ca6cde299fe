/**
 * Prometheus metrics, as their own entry point (`@uno/jobs/prometheus`) so apps without `prom-client` never load it.
 * @packageDocumentation
 */
export { UnoJobsPrometheusModule, UnoJobsPrometheus } from './nest-monitoring/uno-jobs-prometheus.module.js';
export { UnoJobsMetrics, DEFAULT_BUCKETS, METRIC_NAMES, type PrometheusMetricsOptions } from './monitoring/metrics.js';
