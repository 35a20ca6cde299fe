import {
  PRIORITIES,
  type ClaimedJob,
  type InsertResult,
  type JobCounts,
  type JobError,
  type JobFilter,
  type JobPage,
  type JobRecord,
  type NewJob,
  type Priority,
} from './job.js';
import { InvalidJobError, StorageError, messages } from './errors.js';
import type { ErrorPattern, ErrorPatternBounds, ErrorPatternFilter, ErrorPatternHit, MetricPoint, MetricQuery, MetricRetention, StoredDocument, StoredWorker } from './monitoring.js';

/**
 * What a backend guarantees. The core adapts to it (for example it polls when `push` is false).
 */
export interface StorageCapabilities {
  /** `subscribe` wakes idle workers when jobs become ready, so they need not poll. */
  readonly push: boolean;
  /** Several processes can share this store (leases and fencing hold across them). */
  readonly distributed: boolean;
  /** `insert` accepts a transaction handle (`manager`) and commits with it. */
  readonly transactions: boolean;
  /** Flows: `insert` takes `parent` and `awaitChildren`, and {@link JobStorage.children} answers. Default false. */
  readonly flows?: boolean;
  /** `list` takes `payloadContains` (see {@link JobFilter.payloadContains}). Default false: it is refused. */
  readonly payloadSearch?: boolean;
  /**
   * Groups: `insert` keeps `NewJob.group`, claims serve ready groups round-robin and keep
   * {@link FlowLimits.groupConcurrency} (see docs/flow-control.md#groups). Default false.
   */
  readonly groups?: boolean;
}

/** A rate limit: at most `max` jobs claimed in any window of `per` ms (store clock). */
export interface RateLimit {
  /** Jobs per window (whole number >= 1). */
  max: number;
  /** Window length in ms (whole number >= 1). */
  per: number;
}

/** Cluster-wide limits of a queue or of one task, kept by the store for every claimer (see docs/flow-control.md). */
export interface FlowLimits {
  /** Most jobs `active` at once in the whole cluster: running, or claimed ahead into a worker's buffer. */
  concurrency?: number;
  /** Most jobs claimed in any window of `rate.per` ms. */
  rate?: RateLimit;
  /**
   * Most jobs of one group `active` at once in the whole cluster (grouped jobs only; see `NewJob.group`). The group's
   * active jobs of the queue are counted, whatever their task; the cap applied is that of the group's next job (in
   * priority and FIFO order): its task's when set, else its queue's. A group at that cap is passed over: its jobs
   * stay waiting, in their place.
   */
  groupConcurrency?: number;
}

/** The limits a claim keeps: of its queue, and of tasks by name. */
export interface ClaimFlow {
  queue?: FlowLimits;
  tasks?: Readonly<Record<string, FlowLimits>>;
}

/**
 * What `claim` returns: the jobs, and `heldMs` when a rate limit held back jobs that were ready (how long until it
 * allows more, store clock), so the worker waits that long instead of polling. Absent when no rate limit held any.
 */
export type ClaimReply = ClaimedJob[] & {
  heldMs?: number;
  /**
   * True when no other job of the queue was claimable as the claim ran (it returned fewer than asked, and no task
   * limit, pause, flow limit or group held any back), and every change that makes one claimable from then on wakes
   * the queue's workers (`subscribe`). A worker then claims again on a wake-up or its poll, not each time a slot frees:
   * an idle worker running one job at a time makes one claim per job instead of two. Optional: absent means unknown.
   */
  drained?: boolean;
  /**
   * Set when the store claimed these jobs for the worker before the call (Redis hands a job to a worker that waits for
   * work as it is inserted): their leases may have begun up to this many ms before `claim` was called, and the worker
   * counts its deadline from then. Absent: the leases began after the call.
   */
  leaseAgeMs?: number;
};

/** Ask for up to `limit` runnable jobs of one queue. */
export interface ClaimRequest {
  queue: string;
  /** Most jobs to return (>= 1). */
  limit: number;
  /** Lease length in ms, judged by the store's clock. */
  leaseMs: number;
  /** Identifies the claiming worker (shown in the admin API, recorded in lease-expiry errors). */
  workerId: string;
  /** Only jobs of these priorities (the critical reserve slot asks for `['critical']`). Default: all. */
  priorities?: readonly Priority[];
  /**
   * Per-task cap on how many jobs of that task this claim may return; 0 excludes the task. Tasks not listed are
   * unlimited. Lets a worker never claim work it cannot start.
   */
  taskLimits?: Readonly<Record<string, number>>;
  /**
   * Aging: a job that has been ready for longer than this many ms is fetched as if it were one priority level
   * higher. Default: off (strict priority).
   */
  agingMs?: number;
  /**
   * The first `startNow` jobs of the reply (in claim order) start at once: record their start (`startedAt`) in the
   * claim itself. The others wait in the worker's prefetch buffer with `startedAt` null until `markStarted`.
   * Default 0.
   */
  startNow?: number;
  /**
   * Cluster-wide limits to keep: the claim returns no more jobs of the queue or of a task than its `concurrency`
   * leaves room for (jobs `active` in the store, whoever holds them), nor than its `rate` allows, and records what it
   * took against the rate. Jobs held back stay waiting, in their place; other tasks are claimed past them.
   */
  flow?: ClaimFlow;
}

/** What one `recoverExpired` call did. */
export interface RecoveryResult {
  /** Jobs put back to `waiting` (both kinds below). */
  recovered: number;
  /** Of those, jobs whose handler had started: their `stalls` count went up. The others went back unchanged. */
  stalled: number;
}

/** The identity of one claim: a job id and the fencing token the claim returned. */
export interface Lease {
  id: string;
  token: string;
}

/** A claimed job handed back by `release`: waiting again at once, or after `delayMs` (store clock). */
export interface ReleasedLease extends Lease {
  /** Due in this many ms (a whole number, at most {@link MAX_RETRY_DELAY_MS}); 0 or absent: waiting at once. */
  delayMs?: number;
}

/** A successful attempt. `result` is JSON text (the core validated it). */
export interface CompleteOutcome extends Lease {
  result: string;
  /**
   * Delete the job instead of keeping it `completed` (its task keeps no completed jobs). Fenced like any outcome;
   * once deleted, the job's id is free again.
   */
  remove?: boolean;
}

/**
 * A failed attempt: retry after `retryDelayMs` (store clock), or fail for good when it is `null`. A store refuses
 * (throws) a delay that is not a whole number from 0 to {@link MAX_RETRY_DELAY_MS}, before writing anything.
 */
export interface FailOutcome extends Lease {
  error: JobError;
  retryDelayMs: number | null;
  /**
   * Bound of the job's error history: after appending `error`, the store keeps the first entry and the last
   * `errorHistory` ones (see {@link boundHistory}). Default {@link DEFAULT_ERROR_HISTORY}.
   */
  errorHistory?: number;
}

/** A progress or log write from a running handler. `progress` is JSON text. */
export interface ProgressUpdate {
  progress?: string;
  log?: string;
  /** Most log lines kept; older ones are dropped first. Default {@link MAX_LOG_LINES}. */
  logLines?: number;
}

/** Options of `recoverExpired`. */
export interface RecoverOptions {
  /** Bound of the error history when the lease-expiry entry is appended, as in {@link FailOutcome}. */
  errorHistory?: number;
}

/** How long finished jobs are kept. `cancelled` jobs follow the `failed` rule. */
export interface RetentionPolicy {
  completed: { maxAgeMs: number; maxCount: number };
  failed: { maxAgeMs: number; maxCount: number };
}

/**
 * A durable event subscription: task `task` gets one job for every `emit(event)` from any process on the store.
 * Keyed by (`event`, `task`). It carries what a producer needs to insert the job without the task's code: the queue
 * it goes to and the job defaults set at insert. Timeout and backoff are not part of it: the worker that runs the
 * job applies its own task's (a job carries them only when the emitter set them explicitly).
 */
export interface Subscription {
  /** Event name (1..200 characters). */
  event: string;
  /** Task that subscribes (1..200 characters). */
  task: string;
  /** Queue of the task's jobs. */
  queue: string;
  /** Default priority of the task's jobs. */
  priority: Priority;
  /** Total attempts per job (the task's `attempts`). */
  attempts: number;
}

/** What `pause` stops: a whole queue, or one task of it (`task` set). */
export interface PauseTarget {
  queue: string;
  /** One task of the queue; null or absent pauses the whole queue. */
  task?: string | null;
}

/** Insert options. */
export interface InsertOptions {
  /** Store-specific transaction handle (e.g. a TypeORM EntityManager). Only when `capabilities.transactions`. */
  manager?: unknown;
}

/** Most log lines kept per job by default; older ones are dropped first. */
export const MAX_LOG_LINES = 100;

/** Error history kept per job by default: the first failed attempt and the last 10. */
export const DEFAULT_ERROR_HISTORY = 10;

/**
 * Longest retry delay a store accepts: 2^52 ms (about 142,000 years). Any longer and `now + delay` is no longer a
 * valid `Date` (the stores would read the job back with an invalid `runAt`), or overflows a SQL BIGINT.
 */
export const MAX_RETRY_DELAY_MS = 2 ** 52;

/**
 * Bound a history after an append: keep the first entry (how it started) and the last `keep` (how it is going),
 * drop the middle. Returns `items` itself when nothing is dropped. Stores that keep the history in memory or as
 * parsed JSON use it; the SQL and Lua paths do the same in place.
 */
export function boundHistory<T>(items: T[], keep: number): T[] {
  if (items.length <= keep + 1) return items;
  return [items[0]!, ...items.slice(items.length - keep)];
}

/**
 * Throw unless every retry delay can be stored (see {@link MAX_RETRY_DELAY_MS}). Stores call it before writing
 * anything, so a bad outcome rejects its call without applying half of it.
 */
export function checkRetryDelays(outcomes: readonly FailOutcome[]): void {
  for (const o of outcomes) {
    const d = o.retryDelayMs;
    if (d !== null && !(Number.isInteger(d) && d >= 0 && d <= MAX_RETRY_DELAY_MS)) {
      throw new StorageError(messages.retryDelayOutOfRange(o.id, d, MAX_RETRY_DELAY_MS));
    }
  }
}

/** Most jobs one `list` call with `payloadContains` examines (see {@link JobFilter.payloadContains}). */
export const PAYLOAD_SEARCH_SCAN = 1000;

/**
 * The page of a payload search over one scan window: the jobs of the other filters, newest first from the cursor, at
 * most {@link PAYLOAD_SEARCH_SCAN}. Returns the first `limit` hits and the next cursor: after the last hit returned
 * when more hits follow, after the window when it was full (the search goes on below it), else null.
 */
export function searchWindow<T>(window: readonly T[], hit: (row: T) => boolean, limit: number, cursorOf: (row: T) => string): { rows: T[]; nextCursor: string | null } {
  const hits = window.filter(hit);
  if (hits.length > limit) return { rows: hits.slice(0, limit), nextCursor: cursorOf(hits[limit - 1]!) };
  return { rows: hits, nextCursor: window.length >= PAYLOAD_SEARCH_SCAN ? cursorOf(window[window.length - 1]!) : null };
}

/** Throw an `InvalidJobError` (`messages.invalidPriority`) unless `priority` is one of {@link PRIORITIES}. */
export function checkPriority(priority: unknown): asserts priority is Priority {
  if (!PRIORITIES.includes(priority as Priority)) throw new InvalidJobError(messages.invalidPriority(priority));
}

/**
 * `request` narrowed to the room its flow limits leave (see {@link ClaimRequest.flow}): `limit` at most `queueRoom`,
 * and each task at most its room in `taskRooms` (0 excludes it, as a `taskLimits` entry does). Stores that count the
 * room themselves use it to claim through their usual path.
 */
export function narrowClaim(request: ClaimRequest, queueRoom: number, taskRooms: ReadonlyMap<string, number>): ClaimRequest {
  if (queueRoom >= request.limit && taskRooms.size === 0) return request;
  const taskLimits: Record<string, number> = { ...request.taskLimits };
  for (const [task, room] of taskRooms) taskLimits[task] = Math.max(0, Math.min(taskLimits[task] ?? Infinity, room));
  return { ...request, limit: Math.max(0, Math.min(request.limit, queueRoom)), taskLimits };
}

/**
 * The storage contract: the job state machine. Every backend implements it and passes the conformance suite
 * (`describeJobStorage` in `@uno/jobs/testing`); the core engine depends on nothing else.
 *
 * Rules every backend keeps:
 * - **Atomic claim**: a job is handed to one claimer at a time. Claim moves `waiting` jobs, and `scheduled` jobs
 *   whose `runAt` has passed, to `active`, counts the attempt, and returns a fresh fencing token per job.
 * - **A crash is not an attempt**: recovery of an expired lease gives the attempt back; only a started handler counts
 *   a stall (see `recoverExpired`).
 *   Order: priority (critical first, with optional aging), then FIFO by the time the job became ready. With
 *   `capabilities.groups`, the ready groups of a queue (jobs in no group count as one more) take turns, one job each,
 *   the group served longest ago first; within a group, priority then FIFO (no aging).
 * - **Fencing**: `complete`, `fail`, `progress`, `heartbeat` and `release` with a token that is no longer the job's
 *   current one change nothing and report the rejection. A job is never removed before its outcome is written.
 * - **Store clock**: `runAt`, delays and lease expiry are judged by the store's clock.
 * - **Unique ids**: inserting an id that exists returns the existing job with `created: false`.
 * - **Dedupe keys**: a job with `dedupe` set is inserted, returned or updated by the rules of {@link DedupeMode},
 *   atomically per (`task`, `key`) across every process.
 *
 * @example
 * class MyStorage extends JobStorage { ... }
 * UnoJobsModule.forRoot({ storage: new MyStorage() })
 */
export abstract class JobStorage {
  abstract readonly capabilities: StorageCapabilities;

  /** Connect and prepare (create structures if the backend does that). Called once before any other method. */
  abstract init(): Promise<void>;

  /** Release resources the store opened itself. Idempotent. Never closes a client the user passed in. */
  abstract close(): Promise<void>;

  /** Insert jobs in one round trip; per job, the stored record and whether it is new. */
  abstract insert(jobs: readonly NewJob[], options?: InsertOptions): Promise<InsertResult[]>;

  /** Atomically claim up to `request.limit` runnable jobs (see the class rules). */
  abstract claim(request: ClaimRequest): Promise<ClaimReply>;

  /** Extend the leases by `leaseMs`; returns the ids whose lease is no longer held (taken over, cancelled, gone). */
  abstract heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]>;

  /**
   * Record successful attempts; per outcome, whether it was accepted (false: fenced out). A completed job keeps the
   * `workerId` of the lease that completed it.
   */
  abstract complete(outcomes: readonly CompleteOutcome[]): Promise<boolean[]>;

  /** Record failed attempts (scheduled for retry or failed for good); per outcome, whether it was accepted. */
  abstract fail(outcomes: readonly FailOutcome[]): Promise<boolean[]>;

  /**
   * Record that the handlers of these claimed jobs started (`startedAt` = store now). Fenced: a stale token changes
   * nothing. Only jobs whose start was recorded count a stall if their worker dies.
   */
  abstract markStarted(leases: readonly Lease[]): Promise<void>;

  /**
   * Put claimed jobs back without counting the attempt (graceful shutdown, prefetched jobs of a paused queue): to
   * `waiting`, or `scheduled` when a lease has a `delayMs` (the handler reported a rate limit).
   */
  abstract release(leases: readonly ReleasedLease[]): Promise<void>;

  /** Store progress and/or append a log line; false when fenced out. */
  abstract progress(lease: Lease, update: ProgressUpdate): Promise<boolean>;

  /**
   * Cancel a job: `waiting`/`scheduled` never run; an `active` job loses its lease (its worker hears of it through
   * {@link subscribeCancels}, or at its next heartbeat, and aborts). Final jobs are returned unchanged. Null when the
   * id does not exist.
   */
  abstract cancel(id: string): Promise<JobRecord | null>;

  /** Run a `failed` or `cancelled` job again with a fresh set of attempts. Other states are returned unchanged. */
  abstract retry(id: string): Promise<JobRecord | null>;

  /**
   * Run a `scheduled` job now (delayed, or backing off before a retry): it becomes `waiting`, ready at the store's
   * now, with its attempts and history unchanged, and its queue's workers are woken. Other states are returned
   * unchanged; null when the id does not exist. Optional: the default refuses with a `StorageError`
   * (`messages.promoteUnsupported`).
   */
  async promote(_id: string): Promise<JobRecord | null> {
    throw new StorageError(messages.promoteUnsupported());
  }

  /**
   * Delete a job that is not `active`, with everything the store keeps for it: its place in every state and
   * retention index, its logs, and the dedupe key it holds (a later insert with that key creates a new job). Returns
   * the job as it was, or null when the id does not exist. An `active` job is refused with an `InvalidJobError`
   * (`messages.removeActive`) and left as it is: cancel it first.
   *
   * Flows: a removed child leaves its parent's list of children, as if it had never been added, so a parent waiting
   * for its children runs once the others have ended; a removed parent's children stay, with no parent.
   * Optional: the default refuses with a `StorageError` (`messages.removeUnsupported`).
   */
  async remove(_id: string): Promise<JobRecord | null> {
    throw new StorageError(messages.removeUnsupported());
  }

  /**
   * Give a `waiting` or `scheduled` job another priority: from then on it is claimed in its new level's order (a
   * waiting job at once, a scheduled one once due; where within the level depends on the store's FIFO rule). Other
   * states are returned unchanged; null when the id does not exist. A priority that is not one of
   * {@link PRIORITIES} is refused with an `InvalidJobError` before anything is read (see {@link checkPriority}).
   * Optional: the default refuses with a `StorageError` (`messages.changePriorityUnsupported`).
   */
  async changePriority(_id: string, _priority: Priority): Promise<JobRecord | null> {
    throw new StorageError(messages.changePriorityUnsupported());
  }

  /** Move `scheduled` jobs that are due to `waiting`; returns how many moved. */
  abstract promoteDue(): Promise<number>;

  /**
   * Put `active` jobs whose lease expired back to `waiting`, giving their attempt back: a dead worker never uses up
   * a job's retries. A job whose handler had started (`startedAt` set) also counts one stall and gets a
   * `JobStalledError` entry in its errors; one that never started goes back unchanged. Stores never fail a job
   * here: the worker that next claims it applies its task's `maxStalls`.
   */
  abstract recoverExpired(options?: RecoverOptions): Promise<RecoveryResult>;

  /**
   * Delete finished jobs beyond the retention policy, oldest first, at most `limit` per call; returns how many were
   * deleted. A rule whose `maxCount` and `maxAgeMs` are both `Infinity` is skipped without reading anything.
   *
   * The core calls this again while a call comes back with `limit` deleted, so returning fewer must mean the store
   * is within its policy (as far as this call saw). Work in short steps: no transaction, lock or script may delete
   * more than a few hundred jobs, so claims of every process keep running while a large excess is worked off, and
   * find the excess through an index (never a count of the whole table).
   */
  abstract prune(policy: RetentionPolicy, limit: number): Promise<number>;

  abstract get(id: string): Promise<JobRecord | null>;

  /**
   * Newest first, `limit` per page, `cursor` from the previous page. A cursor this store did not hand out is refused
   * with an `InvalidJobError` (`messages.invalidCursor`), never a database error or a silently wrong page.
   */
  abstract list(filter: JobFilter, page: { limit: number; cursor?: string | null }): Promise<JobPage>;

  /** Jobs per state, optionally for one queue. */
  abstract counts(filter?: { queue?: string }): Promise<JobCounts>;

  /**
   * Jobs per state of each task in `tasks` (of one queue with `filter.queue`, else of every queue), as `counts` gives
   * them for a queue: a `scheduled` job already due counts as `waiting`. Every task asked for is in the answer (all
   * zeros when it has no job). Optional. Dashboards and scrapes poll it, so a store answers from counters it keeps or
   * from indexes, not from the records of every job. The built-in stores: memory and Redis from counters, MySQL and
   * SQLite from a task index; PostgreSQL reads each state from the index that holds it, and so counts waiting jobs by
   * reading every claimable job of the scope, from its claim index or its table (docs/monitoring.md). `null` (the
   * default) means the store cannot.
   */
  async countsByTask(_tasks: readonly string[], _filter?: { queue?: string }): Promise<Record<string, JobCounts> | null> {
    return null;
  }

  /**
   * Schedules (cron, interval, dynamic) are kept as opaque JSON documents keyed by name; the core scheduler owns
   * their shape. Insert or replace one.
   */
  abstract saveSchedule(name: string, data: string): Promise<void>;

  /** Every stored schedule document. */
  abstract listSchedules(): Promise<{ name: string; data: string }[]>;

  /** Delete a schedule document; false when it did not exist. */
  abstract removeSchedule(name: string): Promise<boolean>;

  /**
   * Durable event subscriptions, optional: a store that keeps them returns them here, and `emit` in any process then
   * reaches tasks registered in other processes. Insert or replace each subscription by (`event`, `task`); others
   * are left alone (no subscription is removed by a save, so one instance can never drop another's). Idempotent.
   * The default keeps nothing (then {@link subscriptions} returns `null`).
   */
  async saveSubscriptions(_subscriptions: readonly Subscription[]): Promise<void> {}

  /**
   * The stored subscriptions of `event` (all of them without `event`), in no particular order. `null` (the
   * default) means this store keeps none: `emit` then reaches only the tasks registered in the emitting process.
   */
  async subscriptions(_event?: string): Promise<Subscription[] | null> {
    return null;
  }

  /** Delete the subscription of `task` to `event`; false when there was none. The default keeps nothing. */
  async removeSubscription(_event: string, _task: string): Promise<boolean> {
    return false;
  }

  /**
   * Worker registry, optional like the rest of the monitoring methods (a store that keeps none answers `null` from
   * {@link listWorkers}, the default). Insert or replace the instance `id` with the core's JSON document `data`, and
   * set its `lastSeenAt` to the store's now.
   */
  async saveWorker(_id: string, _data: string): Promise<void> {}

  /** Every registered instance, in no particular order; `null` (the default) when this store keeps no registry. */
  async listWorkers(): Promise<StoredWorker[] | null> {
    return null;
  }

  /** Remove one instance (it stopped); false when it was not registered. */
  async removeWorker(_id: string): Promise<boolean> {
    return false;
  }

  /** Remove instances not seen for more than `olderThanMs` (store clock); returns how many were removed. */
  async pruneWorkers(_olderThanMs: number): Promise<number> {
    return 0;
  }

  /**
   * Merge failures into the stored error patterns, keyed by (`task`, `fingerprint`): add `count`, set `lastSeenAt`
   * to the store's now (and `firstSeenAt` when new), refresh `name`, `pattern`, `frame` and `queue`, and append
   * `jobIds` to the samples, keeping the last `bounds.samples`. Then keep at most `bounds.maxPerTask` patterns per
   * task, dropping those seen longest ago. Hits of one call have distinct keys.
   */
  async recordErrorPatterns(_hits: readonly ErrorPatternHit[], _bounds: ErrorPatternBounds): Promise<void> {}

  /** Stored error patterns, most recently seen first; `null` (the default) when this store keeps none. */
  async listErrorPatterns(_filter?: ErrorPatternFilter): Promise<ErrorPattern[] | null> {
    return null;
  }

  /** Delete error patterns not seen for more than `olderThanMs` (store clock); returns how many. */
  async pruneErrorPatterns(_olderThanMs: number): Promise<number> {
    return 0;
  }

  /**
   * Add metric points to the stored counters (see {@link MetricPoint}), in one round trip where the store can. Points
   * of one call have distinct keys. Concurrent calls from many processes add up exactly.
   */
  async addMetrics(_points: readonly MetricPoint[]): Promise<void> {}

  /** Stored points of one resolution in a time range; `null` (the default) when this store keeps no metrics. */
  async readMetrics(_query: MetricQuery): Promise<MetricPoint[] | null> {
    return null;
  }

  /** Delete buckets that start before `before[resolution]`; returns how many points were deleted. */
  async pruneMetrics(_before: MetricRetention): Promise<number> {
    return 0;
  }

  /**
   * When the longest-waiting ready job of each queue became ready: the smallest `runAt` among its `waiting` jobs
   * (and `scheduled` jobs already due, where the store sees them without a scan). A queue with none maps to `null`.
   * `null` (the default) when this store cannot tell.
   */
  async oldestWaiting(_queues: readonly string[]): Promise<Record<string, Date | null> | null> {
    return null;
  }

  /**
   * The document stored under `key` (1..200 characters) with its version, or null when there is none. Optional, with
   * {@link writeDocument}: the default refuses with a `StorageError`, and what needs them (alerts) says so at start.
   */
  async readDocument(_key: string): Promise<StoredDocument | null> {
    throw new StorageError(messages.documentsUnsupported());
  }

  /**
   * Compare-and-set: store `data` under `key` only if its version is still `expectedVersion` (`null`: only if there is
   * no document yet), as version `expectedVersion + 1` (1 for a new one), atomically across every process. Returns
   * whether it was written; false means another process wrote first, and the caller reads again.
   */
  async writeDocument(_key: string, _expectedVersion: number | null, _data: string): Promise<boolean> {
    throw new StorageError(messages.documentsUnsupported());
  }

  /**
   * Pause claims, cluster-wide, until {@link resume}: `claim` returns no job of a paused queue, and no job of a paused
   * task (as if its `taskLimits` entry were 0); jobs already claimed keep running. Idempotent. Optional: the default
   * refuses with a `StorageError`, and {@link listPaused} answers `null`.
   */
  async pause(_target: PauseTarget): Promise<void> {
    throw new StorageError(messages.pauseUnsupported());
  }

  /** Resume claims of a paused queue or task and wake its workers; false when it was not paused. */
  async resume(_target: PauseTarget): Promise<boolean> {
    return false;
  }

  /** Every paused queue (`task` null) and task, in no particular order; `null` when this store cannot pause. */
  async listPaused(): Promise<Required<PauseTarget>[] | null> {
    return null;
  }

  /**
   * Be told when any process pauses a queue or task, so workers hand back the jobs they claimed ahead of it at once
   * rather than at their next heartbeat. Delivery is best effort, like {@link subscribeCancels}. Returns an
   * unsubscribe function, or `null` when the store cannot tell (the default): workers then read {@link listPaused}
   * at each heartbeat while they hold prefetched jobs.
   */
  subscribePauses(_listener: (target: Required<PauseTarget>) => void): (() => void) | null {
    return null;
  }

  /**
   * The children of a flow's parent (jobs inserted with `parent.id` = `parentId`), in insertion order; `null` (the
   * default) when this store keeps no flows (`capabilities.flows` false).
   */
  async children(_parentId: string): Promise<JobRecord[] | null> {
    return null;
  }

  /**
   * Be told when jobs of a queue may have become ready (insert, due, retry, release). Returns an unsubscribe
   * function. Backends without push keep the default, and the core polls.
   */
  subscribe(_listener: (queue: string) => void): () => void {
    return () => {};
  }

  /**
   * Be told when `active` jobs (running, or claimed ahead and not started) are cancelled by any process, so their
   * worker aborts them now rather than at its next heartbeat. `listener` gets job ids; it may also get ids this process
   * does not hold, or one id more than once, and ignores those. Delivery is best effort: a notification missed (a
   * dropped connection) is made up by the next heartbeat, which reports the lease as lost.
   *
   * Returns an unsubscribe function, or `null` when the store cannot tell (the default): workers then learn of a
   * cancellation at their next heartbeat.
   */
  subscribeCancels(_listener: (id: string) => void): (() => void) | null {
    return null;
  }
}
