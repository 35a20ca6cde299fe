/**
 * Uno Jobs: background jobs and schedules for NestJS.
 * @packageDocumentation
 */
export { UnoJobsModule } from './nest/uno-jobs.module.js';
export type { UnoJobsModuleOptions } from './nest/uno-jobs.module-definition.js';
export type { NestScheduleOption, NestScheduleAdoptOptions, NestScheduleTimeouts } from './nest/nest-schedule.bridge.js';
export { UNO_JOBS } from './nest/tokens.js';
export { Task, TASK_METADATA, type TaskMetadata, type TaskMethodDecorator } from './decorators/task.decorator.js';
export { Cron, SCHEDULE_METADATA, type CronOptions, type ScheduleDecoratorOptions, type ScheduleMetadata } from './decorators/cron.decorator.js';
export { Interval, type IntervalOptions } from './decorators/interval.decorator.js';
export {
  OnJobEvent,
  JOB_EVENT_METADATA,
  type OnJobEventName,
  type OnJobEventOptions,
  type OnJobEventPayload,
  type JobLifecycleEvent,
  type JobEventMetadata,
} from './decorators/on-job-event.decorator.js';

export {
  UnoJobs,
  resolveRetention,
  type UnoJobsOptions,
  type WorkerOptions,
  type QueueOptions,
  type RetentionOptions,
  type MonitoringOptions,
} from './core/uno-jobs.js';
/** This process's worker at runtime (injectable): concurrency changed without a restart, autoscaled queues. */
export { UnoAlerts, type Alert, type AlertNotice, type AlertRule, type AlertRuleType, type AlertsOptions, type AlertListener } from './core/alerts.js';
export { webhookSignature, type WebhookOptions } from './core/webhook-notifier.js';
export { OnAlert, type OnAlertMetadata } from './decorators/on-alert.decorator.js';
export { UnoWorkers } from './core/uno-workers.js';
export { autoscaleStep, type AutoscaleOptions, type AutoscaleInput, type AutoscaleReason } from './core/autoscaler.js';
/** Cluster-wide monitoring read from the store (injectable): rates, percentiles, workers, error patterns. */
export { UnoMetrics, RATE_WINDOWS, type InstanceSuggestion, type MetricsSummary, type MetricsSeriesPoint, type Rates, type Utilisation } from './core/uno-metrics.js';
export type { WorkerHealth, WorkerInstance, WorkerQueueInfo } from './core/worker-registry.js';
export type { Percentiles } from './core/metric-histogram.js';
export type { ErrorPattern, ErrorPatternFilter, MetricResolution } from './contract/monitoring.js';
export { DEFAULT_LIMITS, type JobLimits } from './core/limits.js';
export { JobQueue, type EnqueueItem, type FlowJob, type FlowTree, type WaitOptions, type ListOptions } from './core/job-queue.js';
/** Event subscriptions stored across processes (`jobs.emit`, `jobs.subscriptions()`, `jobs.unsubscribe()`). */
export { EventSubscriptions, type SubscriptionOptions, type Subscriber } from './core/subscriptions.js';
export type { Subscription, PauseTarget } from './contract/job-storage.js';
export { JobContext, type ChildResult } from './core/job-context.js';
/** The tracing hook (the `instrumentation` option); `@uno/jobs/opentelemetry` implements it for OpenTelemetry. */
export {
  MAX_HEADER_KEY_LENGTH,
  MAX_HEADER_VALUE_LENGTH,
  type Instrumentation,
  type EnqueueScope,
  type AttemptScope,
  type AttemptEnd,
  type AttemptOutcome,
  type JobHeaders,
} from './core/instrumentation.js';
export type { EndReason } from './core/attempt.js';
export { Scheduler, type SchedulerOptions } from './core/scheduler.js';
export { MISSED_POLICIES, type MissedPolicy, type ScheduleOptions, type ScheduleInfo, type ScheduleSource } from './core/scheduler-definition.js';
export { JobEvents, type JobEventMap, type JobEventName, type JobEventListener } from './core/events.js';
export { DEFAULT_QUEUE, type TaskOptions, type TaskHandler, type TaskDefinition } from './core/task-registry.js';
export type { BatchHandler, BatchItem, BatchOptions } from './core/batcher.js';
export { defineTask, isTaskRef, type TaskRef, type TaskHandlerOptions, type Job, type PayloadOf, type ResultOf } from './core/task-ref.js';
export { backoffDelay } from './core/retry-policy.js';
export { MAX_ATTEMPTS, MAX_DELAY_MS, MAX_JSON_DEPTH, RESERVED_JOB_ID_PREFIX } from './core/limits.js';
export { systemClock, type Clock, type TimerHandle } from './contract/clock.js';
export {
  JOB_STATES,
  FINAL_STATES,
  PRIORITIES,
  MAX_HEADERS,
  type JobState,
  type Priority,
  type JobRecord,
  type NewJob,
  type InsertResult,
  type JobError,
  type BackoffOptions,
  type JobFilter,
  type JobPage,
  type JobCounts,
  type ChildFailurePolicy,
  type JobParent,
  type DedupeMode,
  type JobDedupe,
} from './contract/job.js';
export type { JobInfo, RetryPolicy, EnqueueOptions } from './core/job.js';
export {
  UnoJobsError,
  InvalidJobError,
  ConfigurationError,
  JobNotFoundError,
  WaitTimeoutError,
  JobFailedError,
  UnrecoverableError,
  JobRateLimitedError,
  JobTimeoutError,
  JobCancelledError,
  LeaseLostError,
  JobStalledError,
  ChildFailedError,
  StorageError,
  NonErrorThrown,
} from './contract/errors.js';

/** The storage contract: the injectable store (`JobStorage`); store authors import the rest from `@uno/jobs/storage`. */
export { JobStorage, type RetentionPolicy } from './contract/job-storage.js';
export { MemoryJobStorage, type MemoryJobStorageOptions } from './storage/memory/memory.storage.js';
export type { StorageToken } from './nest/storage.js';
