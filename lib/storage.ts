/**
 * The storage contract, for authors of custom stores: `@uno/jobs/storage`. A store extends {@link JobStorage},
 * persists {@link JobRecord}s, and proves itself with the conformance suite from `@uno/jobs/testing`.
 * Nothing here imports the engine, NestJS, TypeORM or ioredis.
 * @packageDocumentation
 */
export {
  JobStorage,
  MAX_LOG_LINES,
  DEFAULT_ERROR_HISTORY,
  MAX_RETRY_DELAY_MS,
  boundHistory,
  checkRetryDelays,
  checkPriority,
  PAYLOAD_SEARCH_SCAN,
  searchWindow,
  type RecoverOptions,
  type RecoveryResult,
  type StorageCapabilities,
  type ClaimRequest,
  type Lease,
  type CompleteOutcome,
  type FailOutcome,
  type ProgressUpdate,
  type RetentionPolicy,
  type InsertOptions,
  type Subscription,
  type PauseTarget,
} from './contract/job-storage.js';
export {
  JOB_STATES,
  FINAL_STATES,
  PRIORITIES,
  priorityLevel,
  newJobRecord,
  initialState,
  emptyCounts,
  type JobState,
  type Priority,
  type JobRecord,
  type JobError,
  type BackoffOptions,
  type JobFilter,
  type JobPage,
  type JobCounts,
  type ChildFailurePolicy,
  type JobParent,
  type DedupeMode,
  type JobDedupe,
  type ClaimedJob,
  type NewJob,
  type InsertResult,
  MAX_HEADERS,
  MAX_GROUP_LENGTH,
  isGroupName,
} from './contract/job.js';
export {
  METRIC_RESOLUTION_MS,
  checkMetricPoints,
  type StoredWorker,
  type ErrorPattern,
  type ErrorPatternHit,
  type ErrorPatternBounds,
  type ErrorPatternFilter,
  type MetricResolution,
  type MetricPoint,
  type MetricQuery,
  type MetricRetention,
} from './contract/monitoring.js';
export { seqCursor } from './contract/cursor.js';
export { systemClock, ManualClock, type Clock, type TimerHandle } from './contract/clock.js';
export { UnoJobsError, StorageError, ConfigurationError, InvalidJobError } from './contract/errors.js';
