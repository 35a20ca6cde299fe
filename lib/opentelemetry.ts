/**
 * OpenTelemetry tracing, as its own entry point (`@uno/jobs/opentelemetry`) so apps without `@opentelemetry/api`
 * never load it.
 * @packageDocumentation
 */
export { UnoJobsTracing, TRACER_NAME, MESSAGING_SYSTEM, type TracingOptions } from './monitoring/tracing.js';
