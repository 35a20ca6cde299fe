/**
 * The stored job model, part of the storage contract: states, priorities, the record every store persists and what
 * the queue hands a store to insert. One vocabulary everywhere: storage, events, admin API, database columns and
 * dashboard. The producer's side (enqueue options, retry policies) lives in the core (`core/job.ts`).
 */

/**
 * Where a job is in its life.
 * - `waiting-children`: a flow's parent waiting for its children (see {@link NewJob.awaitChildren}); never claimed. It moves
 *   to `waiting` when its last child finishes.
 * - `waiting`: ready to run now.
 * - `scheduled`: due later (delayed, one-time future, or backing off before a retry).
 * - `active`: claimed by a worker that holds its lease.
 * - `completed`: the handler returned; the result is stored.
 * - `failed`: no attempts left, or an unrecoverable error; kept for inspection (a dead letter).
 * - `cancelled`: cancelled before it finished.
 */
export type JobState = 'waiting-children' | 'waiting' | 'scheduled' | 'active' | 'completed' | 'failed' | 'cancelled';

/** Every job state, in lifecycle order. */
export const JOB_STATES: readonly JobState[] = ['waiting-children', 'waiting', 'scheduled', 'active', 'completed', 'failed', 'cancelled'];

/**
 * What a child's failure does to its flow's parent (a child fails when it ends `failed` or `cancelled`):
 * - `fail`: the parent fails at once, unrun, with a `ChildFailedError` entry naming the child;
 * - `ignore`: the parent runs when its other children finish, and does not see this child;
 * - `continue`: the parent runs when its other children finish, and sees this child's error.
 */
export type ChildFailurePolicy = 'fail' | 'ignore' | 'continue';

/** The parent of a flow's child job (see {@link NewJob.parent}). */
export interface JobParent {
  /** The parent job's id. */
  id: string;
  onFailure: ChildFailurePolicy;
}

/** States a job never leaves on its own (it may be retried by hand). */
export const FINAL_STATES: readonly JobState[] = ['completed', 'failed', 'cancelled'];

/** Job priority. Workers fetch `critical` before `high` before `normal` before `low`, FIFO within one level. */
export type Priority = 'critical' | 'high' | 'normal' | 'low';

/** Priorities from most to least urgent. The index is the numeric level stores persist (0 = critical). */
export const PRIORITIES: readonly Priority[] = ['critical', 'high', 'normal', 'low'];

/** Numeric level of a priority: 0 (critical) to 3 (low). */
export function priorityLevel(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

/**
 * One failed attempt, as recorded on the job. Its texts are well-formed: the engine replaces a lone surrogate with
 * U+FFFD before a store sees the entry, so a store may keep and re-read them with any JSON library.
 */
export interface JobError {
  /** The attempt that failed (1-based). */
  attempt: number;
  /** Error class name, e.g. `TypeError`, `JobTimeoutError`. */
  name: string;
  message: string;
  stack?: string;
  /** When the failure was recorded (ISO 8601). */
  at: string;
}

/** Backoff between attempts. `delay` is the first wait in ms; exponential doubles it each attempt up to `maxDelay`. */
export interface BackoffOptions {
  type: 'fixed' | 'exponential';
  /** First delay in milliseconds (>= 0). */
  delay: number;
  /** Upper bound for exponential delays, in milliseconds. Default: no cap beyond 24 h. */
  maxDelay?: number;
  /**
   * Spread retries so that failed jobs do not come back in lockstep. `true` picks uniformly in [delay/2, delay];
   * a number in (0, 1] is the fraction of the delay that is randomised. Default `false`.
   */
  jitter?: boolean | number;
}

/** Everything a stored job carries. Backends persist exactly these fields. */
export interface JobRecord {
  id: string;
  task: string;
  queue: string;
  payload: unknown;
  priority: Priority;
  state: JobState;
  /**
   * Attempts counted so far, the running one included. A worker that dies costs no attempt: recovery gives the
   * attempt back (see `stalls`). 0 until first claimed.
   */
  attempt: number;
  maxAttempts: number;
  /**
   * Times a worker died (its lease expired) while running this job's handler. A job whose handler never started
   * is recovered without counting one. The worker fails a job whose count passed its task's `maxStalls`.
   */
  stalls: number;
  /** When the job may run (for `scheduled` jobs: when it becomes due). */
  runAt: Date;
  createdAt: Date;
  /**
   * When the handler of the latest attempt started (store clock). Null while a claimed job waits in a worker's
   * prefetch buffer, and before its first start.
   */
  startedAt: Date | null;
  /** When the job reached a final state. */
  finishedAt: Date | null;
  /** Per-attempt timeout in ms, when the producer set one (otherwise the task's). */
  timeoutMs: number | null;
  /** Backoff chosen by the producer, overriding the task's. */
  backoff: BackoffOptions | null;
  progress: unknown;
  result: unknown;
  /** One entry per failed attempt, oldest first. */
  errors: JobError[];
  /** Messages from `ctx.log()`, oldest first (bounded). */
  logs: string[];
  /**
   * Worker that holds the lease while active; on a `completed` job, the worker whose completion was recorded (the
   * executor tells its own completion from another process's run of the job by it). Null in every other state.
   */
  workerId: string | null;
  /** Lease expiry while active (store clock). */
  leaseExpiresAt: Date | null;
  /** The string map given at insert (see {@link NewJob.headers}), or null/absent when there was none. */
  headers?: Record<string, string> | null;
  /** The flow's parent of a child job (see {@link NewJob.parent}); null/absent for any other job. */
  parent?: JobParent | null;
  /** The job's group (tenant), see {@link NewJob.group}; null/absent for a job in no group. */
  group?: string | null;
}

/** A job handed out by `claim`, with the fencing token every later write must carry. */
export interface ClaimedJob {
  job: JobRecord;
  /** Fencing token of this claim: a write with an older token is rejected. */
  token: string;
  /**
   * Size of the payload as UTF-8 JSON, when the store has its text at hand: the worker counts buffered jobs against
   * `prefetchBytes` with it, and serialises the payload again only when a store leaves it out.
   */
  payloadBytes?: number;
}

/** What the queue hands to storage for insertion, fully resolved and validated. */
export interface NewJob {
  id: string;
  task: string;
  queue: string;
  /** Payload as JSON text, already validated (see `toJson`). */
  payload: string;
  priority: Priority;
  maxAttempts: number;
  /** Delay from the store's now in ms (0 = waiting at once). Stores turn it into `runAt` with their own clock. */
  delayMs: number;
  /** Absolute due time, when the producer gave `runAt`; takes precedence over `delayMs`. */
  runAt: Date | null;
  timeoutMs: number | null;
  backoff: BackoffOptions | null;
  /**
   * A small string map the store keeps with the job and returns with it, unchanged: the W3C trace context of the
   * enqueue (`traceparent`, `tracestate`), so the attempt's span can link to the producer's. At most
   * {@link MAX_HEADERS} entries, keys of 1..64 and values of at most 512 characters (the core checks).
   */
  headers?: Record<string, string> | null;
  /**
   * A dedupe key beside the id (see {@link JobDedupe}): the store decides atomically, against the job that holds the
   * same (`task`, `key`), whether this insert creates a job, returns the held one, or updates its payload. Null or
   * absent: none (no cost to the insert).
   */
  dedupe?: JobDedupe | null;
  /**
   * A flow's child: the job `parent.id` waits for it. A parent and all its children are inserted in one `insert`
   * call, the parent before them (a store may count them there). When a child ends (`completed`, or `failed` /
   * `cancelled` for good), the store, in the same atomic step, fails the parent (a failed child with `onFailure:
   * 'fail'`) or, once every child of the parent has ended, moves the parent to `waiting` (or `scheduled` until its
   * `runAt`). A store that cannot reach the parent in that step (Redis Cluster: another hash slot) does it right
   * after, in an idempotent step its maintenance replays if the process died in between, so the parent is never
   * released early or twice, but may wait until then. Only stores with `capabilities.flows`.
   */
  parent?: JobParent | null;
  /** A flow's parent: inserted in state `waiting-children` (never claimed) until its children end (see {@link parent}). */
  awaitChildren?: boolean;
  /**
   * The job's group (a tenant, a customer: see {@link MAX_GROUP_LENGTH} and docs/flow-control.md#groups), scoped to
   * its queue. Claims serve the ready groups of a queue round-robin (jobs in no group take their turn as one more
   * group), priority and FIFO within each, and keep `groupConcurrency` per group. Null or absent: no group. Only
   * stores with `capabilities.groups`.
   */
  group?: string | null;
}

/** Longest group name. A group name is 1..100 letters, digits, '.', '_', ':', '@' or '-' (safe in a key or a column). */
export const MAX_GROUP_LENGTH = 100;

/** Whether `group` is a valid group name (see {@link MAX_GROUP_LENGTH}). */
export function isGroupName(group: unknown): group is string {
  return typeof group === 'string' && /^[A-Za-z0-9._:@-]{1,100}$/.test(group);
}

/**
 * How an insert with a dedupe key meets the job that holds the key (the same `task` and `key`):
 * - `window`: while the key's window runs (`ttlMs` from the insert that took it, store clock) and its job exists, the
 *   insert returns that job unchanged (`created: false`); after it, the insert creates a job that takes the key for
 *   a new window.
 * - `debounce`: while the key's job is `waiting` or `scheduled`, the insert replaces its payload and moves its run time
 *   to this insert's (`runAt`, else store now + `delayMs`), and returns it (`created: false`); otherwise it creates a
 *   job that takes the key.
 * - `replace`: as `debounce`, but the run time is kept: only the payload is replaced.
 *
 * Concurrent inserts of one key never create two jobs where one of these rules says one.
 */
export type DedupeMode = 'window' | 'debounce' | 'replace';

/** A job's dedupe key (see {@link DedupeMode}). */
export interface JobDedupe {
  /** The key, 1..200 characters; scoped to the job's task. */
  key: string;
  mode: DedupeMode;
  /** `window` only: length of the key's window in ms (a whole number >= 1). Null for the other modes. */
  ttlMs: number | null;
}

/** Most entries in a job's `headers`. */
export const MAX_HEADERS = 8;

/** Result of inserting one job. */
export interface InsertResult {
  job: JobRecord;
  /**
   * False when a job with the same id, or holding the same dedupe key, already existed (deduplicated); `job` is then
   * that job, after the update a `debounce` or `replace` key made to it.
   */
  created: boolean;
}

/** Filter for `list`. */
export interface JobFilter {
  state?: JobState;
  task?: string;
  queue?: string;
  /**
   * Only jobs whose payload (its JSON text) contains this text, case-sensitively. Stores with
   * `capabilities.payloadSearch` only; the others refuse it with an `InvalidJobError`
   * (`messages.payloadSearchUnsupported`). Bounded: one call examines at most `PAYLOAD_SEARCH_SCAN` jobs of the other
   * filters (newest first from the cursor), so a page may hold fewer than `limit` jobs while `nextCursor` is not null.
   */
  payloadContains?: string;
}

/** A page of jobs with an opaque cursor for the next page (null at the end). */
export interface JobPage {
  jobs: JobRecord[];
  nextCursor: string | null;
}

/** Number of jobs per state. */
export type JobCounts = Record<JobState, number>;

/** A zeroed `JobCounts`. */
export function emptyCounts(): JobCounts {
  return { 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: 0, failed: 0, cancelled: 0 };
}

/**
 * When a new job is due and the state it starts in, by the store's clock `now` at its insert: due at `runAt`, or `now`
 * plus its delay; `waiting-children` for a flow's parent, `scheduled` when due after `now`, else `waiting`. Every store
 * creates a job by this rule, and one whose script or statement applies it (Redis, PostgreSQL) rebuilds the record
 * it returns with it instead of reading the job back.
 */
export function initialState(job: NewJob, now: number): { state: JobState; runAt: number } {
  const runAt = job.runAt ? job.runAt.getTime() : now + job.delayMs;
  return { state: job.awaitChildren ? 'waiting-children' : runAt > now ? 'scheduled' : 'waiting', runAt };
}

/**
 * The record of a job a store has just created from `job`: state and times as the store decided them, nothing run
 * yet. Stores that keep the payload as text may pass their own `payload` to skip the parse.
 */
export function newJobRecord(job: NewJob, state: JobState, runAt: number, createdAt: number, payload: unknown = JSON.parse(job.payload)): JobRecord {
  return {
    id: job.id,
    task: job.task,
    queue: job.queue,
    payload,
    priority: job.priority,
    state,
    attempt: 0,
    maxAttempts: job.maxAttempts,
    stalls: 0,
    runAt: new Date(runAt),
    createdAt: new Date(createdAt),
    startedAt: null,
    finishedAt: null,
    timeoutMs: job.timeoutMs,
    backoff: job.backoff,
    progress: null,
    result: null,
    errors: [],
    logs: [],
    workerId: null,
    leaseExpiresAt: null,
    headers: job.headers ?? null,
    ...(job.parent && { parent: { ...job.parent } }),
    ...(job.group && { group: job.group }),
  };
}

/**
 * Text that names something stores keep and compare (a job id, a dedupe key, a worker id, a task or event name, a document key): 1 to
 * 200 characters (the SQL columns are `VARCHAR(200)`) and well-formed, since stores write UTF-8, where a lone
 * surrogate becomes U+FFFD and two different names would become one.
 */
export function isStoredName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 200 && value.isWellFormed();
}
