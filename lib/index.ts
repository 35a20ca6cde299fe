/**
 * Uno Jobs: background jobs and schedules for NestJS.
 * @packageDocumentation
 */
export { UnoJobsModule } from './nest/uno-jobs.module.js';
export type { UnoJobsModuleOptions } from './nest/uno-jobs.module-definition.js';
export { UNO_JOBS } from './nest/tokens.js';
export { Task, TASK_METADATA, type TaskMetadata } from './decorators/task.decorator.js';
export { Cron, SCHEDULE_METADATA, type CronOptions, type ScheduleDecoratorOptions, type ScheduleMetadata } from './decorators/cron.decorator.js';
export { Interval, type IntervalOptions } from './decorators/interval.decorator.js';

export { UnoJobs, resolveRetention, type UnoJobsOptions, type WorkerOptions, type QueueOptions, type RetentionOptions } from './core/uno-jobs.js';
export { DEFAULT_LIMITS, type JobLimits } from './core/limits.js';
export { JobQueue, type EnqueueItem, type WaitOptions, type ListOptions } from './core/job-queue.js';
export { JobContext } from './core/job-context.js';
export { Scheduler, type SchedulerOptions } from './core/scheduler.js';
export { MISSED_POLICIES, type MissedPolicy, type ScheduleOptions, type ScheduleInfo, type ScheduleSource } from './core/scheduler-definition.js';
export { JobEvents, type JobEventMap, type JobEventName, type JobEventListener } from './core/events.js';
export { DEFAULT_QUEUE, type TaskOptions, type TaskHandler, type TaskDefinition } from './core/task-registry.js';
export { systemClock, type Clock, type TimerHandle } from './core/clock.js';
export { backoffDelay } from './core/retry-policy.js';
export { MAX_ATTEMPTS, MAX_DELAY_MS, MAX_JSON_DEPTH, RESERVED_JOB_ID_PREFIX } from './core/limits.js';
export {
  JOB_STATES,
  FINAL_STATES,
  PRIORITIES,
  priorityLevel,
  newJobRecord,
  emptyCounts,
  type JobState,
  type Priority,
  type JobRecord,
  type JobInfo,
  type JobError,
  type BackoffOptions,
  type RetryPolicy,
  type EnqueueOptions,
  type JobFilter,
  type JobPage,
  type JobCounts,
  type ClaimedJob,
  type NewJob,
  type InsertResult,
} from './core/job.js';
export {
  UnoJobsError,
  InvalidJobError,
  ConfigurationError,
  JobNotFoundError,
  WaitTimeoutError,
  JobFailedError,
  UnrecoverableError,
  JobTimeoutError,
  JobCancelledError,
  LeaseLostError,
  StorageError,
  NonErrorThrown,
} from './core/errors.js';

export {
  JobStorage,
  MAX_LOG_LINES,
  DEFAULT_ERROR_HISTORY,
  MAX_RETRY_DELAY_MS,
  boundHistory,
  checkRetryDelays,
  type RecoverOptions,
  type StorageCapabilities,
  type ClaimRequest,
  type Lease,
  type CompleteOutcome,
  type FailOutcome,
  type ProgressUpdate,
  type RetentionPolicy,
  type InsertOptions,
} from './storage/job-storage.js';
export { MemoryJobStorage, type MemoryJobStorageOptions } from './storage/memory/memory.storage.js';
export type { StorageConfig, StorageToken } from './storage/create-storage.js';
