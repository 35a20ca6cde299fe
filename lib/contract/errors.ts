/**
 * Every error Uno Jobs throws, and the one place their messages are written. Each message names the problem and
 * says what to do about it.
 */

/** Base class of every error thrown by Uno Jobs. */
export class UnoJobsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Invalid input from the caller (options, payload, task name). Nothing was written. */
export class InvalidJobError extends UnoJobsError {}

/** Invalid module, task or queue configuration, detected at boot. */
export class ConfigurationError extends UnoJobsError {}

/** A job id that does not exist (or no longer exists: retention removed it). */
export class JobNotFoundError extends UnoJobsError {}

/** `waitForResult` gave up before the job reached a final state. */
export class WaitTimeoutError extends UnoJobsError {}

/** The awaited job ended `failed` or `cancelled`. */
export class JobFailedError extends UnoJobsError {
  constructor(
    message: string,
    /** Final state of the job: `failed` or `cancelled`. */
    readonly state: 'failed' | 'cancelled',
    /** The last recorded error, if any. */
    readonly lastError?: { name: string; message: string },
  ) {
    super(message);
  }
}

/**
 * Throw this from a handler to fail the job at once, without the remaining attempts
 * (bad input, a deleted record: anything a retry cannot fix).
 */
export class UnrecoverableError extends UnoJobsError {}

/**
 * Thrown by `ctx.rateLimited(retryAfterMs)`: the handler hit a limit of a service it calls. The job goes back to the
 * store, due in `retryAfterMs`, without using an attempt.
 */
export class JobRateLimitedError extends UnoJobsError {
  constructor(readonly retryAfterMs: number) {
    super(messages.rateLimited(retryAfterMs));
  }
}

/** The attempt ran longer than its timeout; its signal was aborted and the attempt counts as failed. */
export class JobTimeoutError extends UnoJobsError {}

/** The job was cancelled while running; its signal was aborted. */
export class JobCancelledError extends UnoJobsError {}

/**
 * The worker lost the job's lease (it stalled past the lease and another worker took over, or the store rejected a
 * fenced write). Its signal was aborted and its outcome is discarded.
 */
export class LeaseLostError extends UnoJobsError {}

/**
 * The job's worker died (its lease expired) while running the handler. Recorded on the job each time; once the count
 * passes the task's `maxStalls` the job fails with it instead of killing another worker.
 */
export class JobStalledError extends UnoJobsError {}

/**
 * Recorded on a flow's parent that failed unrun because a child with `onFailure: 'fail'` ended failed or cancelled.
 */
export class ChildFailedError extends UnoJobsError {}

/** The storage backend failed or is unreachable. */
export class StorageError extends UnoJobsError {}

/** A handler threw something that is not an `Error` (a string, an object, undefined). */
export class NonErrorThrown extends UnoJobsError {}

/** A value as JSON for a message (functions and undefined, which JSON drops, by their type). */
const describeValue = (value: unknown): string => JSON.stringify(value) ?? String(value);
/**
 * A task option's value for a message: a function (a `group` key function) by its name, which JSON would drop, and
 * an option left out as `none`.
 */
export const shownOption = (value: unknown): string =>
  typeof value === 'function' ? `a function${value.name ? ` (${value.name})` : ''}` : value === undefined ? 'none' : describeValue(value);
const list = (names: readonly string[]): string => (names.length ? names.map((n) => `"${n}"`).join(', ') : '(none)');

/** Message factories: the only place user-facing error text is written. */
export const messages = {
  unknownTask: (task: string, known: readonly string[]) =>
    `Task "${task}" is not registered. Known tasks: ${list(known)}. ` +
    `Add @Task('${task}') to a method of a provider in a module that is imported, or fix the name.`,
  unservedTask: (task: string, queue: string, known: readonly string[]) =>
    `Jobs of task "${task}" in queue "${queue}" have no handler in this worker (it knows ${list(known)}). They are left ` +
    `waiting, with no attempt used, for a worker that has @Task('${task}'): deploy or start one. If the name is a typo, ` +
    `fix the producer (a defineTask reference catches it at compile time) and cancel the jobs already enqueued ` +
    `(jobs.list({ task: '${task}' })).`,
  taskRefOptionConflict: (task: string, owner: string, field: string, fromRef: unknown, given: unknown) =>
    `@Task on ${owner} sets ${field} ${shownOption(given)} for "${task}", but its reference from defineTask says ` +
    `${shownOption(fromRef)}. Producers enqueue with the reference's ${field}: set it in defineTask('${task}', ` +
    `{ ${field}: ... }), not in @Task.`,
  taskRefMismatch: (task: string, fromRef: string, owner: string, fromHandler: string) =>
    `Task "${task}": its reference from defineTask enqueues with ${fromRef}, but its handler here (${owner}) is ` +
    `registered with ${fromHandler}, so jobs would go where its workers do not look. Declare the handler with ` +
    `@Task(ref) so both use the reference's options, or make defineTask and @Task agree.`,
  duplicateTask: (task: string, first: string, second: string) =>
    `Task "${task}" is declared twice: by ${first} and by ${second}. Task names must be unique; rename one of them.`,
  invalidTaskName: (task: unknown) =>
    `Task name ${JSON.stringify(task)} is invalid: use a non-empty string of at most 200 characters with no lone surrogate (stores write names as UTF-8), or a reference from defineTask().`,
  invalidQueueName: (queue: unknown) =>
    `Queue name ${JSON.stringify(queue)} is invalid: use a non-empty string of letters, digits, '.', '_', ':' or '-' (at most 100).`,
  invalidPriority: (priority: unknown) =>
    `Priority ${JSON.stringify(priority)} is invalid. Use one of "critical", "high", "normal", "low".`,
  invalidDelay: (delay: unknown, max: number) =>
    `Delay ${String(delay)} is invalid: pass a whole number of milliseconds from 0 to ${max} (100 years), or a Date as runAt.`,
  delayAndRunAt: () => `Pass either delay or runAt, not both.`,
  invalidRunAt: (runAt: unknown) => `runAt ${String(runAt)} is not a valid Date. Pass a Date instance with a valid time.`,
  runAtTooFar: (runAt: Date, max: number) =>
    `runAt ${runAt.toISOString()} is more than ${max} ms (100 years) from now. Pass an earlier date.`,
  invalidAttempts: (attempts: unknown, max: number) =>
    `attempts ${String(attempts)} is invalid: pass a whole number from 1 to ${max} (1 means no retry).`,
  invalidTimeout: (timeout: unknown, max: number) =>
    `timeout ${String(timeout)} is invalid: pass a whole number of milliseconds from 1 to ${max} (100 years), or leave it out for no timeout.`,
  invalidConcurrency: (what: string, value: unknown) =>
    `Concurrency ${String(value)} for ${what} is invalid: pass a whole number >= 1.`,
  rateLimited: (retryAfterMs: number) => `The handler reported a rate limit: the job runs again in ${retryAfterMs} ms, without using an attempt.`,
  invalidRetryAfter: (value: unknown, max: number) =>
    `ctx.rateLimited(${String(value)}): pass how long to wait before the job runs again, a whole number of ms from 0 to ${max}.`,
  invalidRateLimit: (what: string, value: unknown) =>
    `Rate limit ${JSON.stringify(value)} for ${what} is invalid: pass { max, per } with max jobs (a whole number >= 1) ` +
    `per window of per ms (a whole number >= 1), e.g. { max: 50, per: 1000 } for 50 jobs a second.`,
  invalidBackoff: (detail: string) =>
    `Invalid backoff: ${detail}. Use { type: 'fixed' | 'exponential', delay: ms >= 0, maxDelay?: ms >= delay, jitter?: boolean | 0..1 } or a function (attempt, error, job) => ms | false.`,
  invalidJobId: (jobId: unknown) =>
    `jobId ${JSON.stringify(jobId)} is invalid: use a non-empty string of at most 200 characters, with no lone surrogate ` +
    `(half of a UTF-16 pair, which stores would write as U+FFFD, so two such ids could name one job).`,
  invalidDedupe: (option: string, value: unknown, expected: string) =>
    `${option} ${describeValue(value)} is invalid: pass ${expected}.`,
  dedupeOptions: (given: readonly string[]) =>
    `Pass at most one of jobId, dedupe, debounce and replace (got ${given.join(' and ')}): each decides alone what an enqueue ` +
    `does when a job of the same key exists.`,
  debounceAndDelay: () =>
    `A debounced enqueue takes its delay from debounce.delay: leave out delay and runAt.`,
  invalidBatch: (batch: unknown) =>
    `batch ${describeValue(batch)} is invalid: pass { size: a whole number >= 1 (most jobs per handler call), waitMs: a whole number of ms from 0 to 60000 (longest wait for a batch to fill) }.`,
  batchResults: (task: string, items: number, got: number | string) =>
    `The batch handler of task "${task}" got ${items} items and returned ${typeof got === 'number' ? `${got} results` : `a ${got}`}: ` +
    `return one entry per item, in order (its result, or an Error to fail that job alone), or nothing to complete them all.`,
  reservedJobId: (jobId: string, prefix: string) =>
    `jobId ${JSON.stringify(jobId)} starts with "${prefix}", which is reserved for the scheduler's firings. ` +
    `Use another prefix (e.g. "schedule-" or "cron:").`,
  invalidHeaders: (jobId: string, detail: string, max: { entries: number; key: number; value: number }) =>
    `The headers the instrumentation added to job "${jobId}" are invalid: ${detail}. A job keeps at most ${max.entries} headers, ` +
    `keys of 1 to ${max.key} characters and string values of at most ${max.value} (a trace context needs traceparent and tracestate): ` +
    `fix the instrumentation option's enqueue() so it returns fewer or shorter ones. Nothing was written.`,
  payloadTooDeep: (path: string, max: number) =>
    `Payload is nested deeper than ${max} levels at ${path}. Flatten it, or store the data elsewhere and pass its id.`,
  payloadNotSerialisable: (path: string, why: string) =>
    `Payload is not JSON-serialisable at ${path}: ${why}. Pass plain data (objects, arrays, strings, finite numbers, booleans, null); ` +
    `convert BigInt to string, Map to an object, and pass ids instead of class instances or functions.`,
  payloadUndefined: () => `Payload is undefined. Pass null or an object if the task needs no input.`,
  payloadProtoKey: (path: string) =>
    `Payload has a "__proto__" key at ${path}; it is refused because it can pollute object prototypes in handlers. Rename the key.`,
  payloadTooLarge: (bytes: number, limit: number) =>
    `Payload is ${bytes} bytes as JSON, over the limit of ${limit} bytes. Store large data elsewhere (a bucket, a table) ` +
    `and pass its id, or raise maxPayloadBytes in UnoJobsModule options.`,
  resultNotSerialisable: (task: string, why: string) =>
    `The handler of "${task}" returned a value that is not JSON-serialisable (${why}). Return plain data.`,
  resultTooLarge: (task: string, bytes: number, limit: number) =>
    `The handler of "${task}" returned ${bytes} bytes of JSON, over the result limit of ${limit} bytes. Store large ` +
    `output elsewhere (a bucket, a table) and return its id, or raise limits.resultBytes in UnoJobsModule options.`,
  progressTooLarge: (bytes: number, limit: number) =>
    `Progress is ${bytes} bytes as JSON, over the limit of ${limit} bytes. Report a number or a small object, ` +
    `or raise limits.progressBytes in UnoJobsModule options.`,
  truncated: (cut: number, option: string) => `… [${cut} more characters cut; raise limits.${option} to keep more]`,
  retryDelayOutOfRange: (id: string, delay: unknown, max: number) =>
    `The retry delay ${String(delay)} ms of job "${id}" cannot be stored: use a whole number of ms from 0 to ${max}. ` +
    `Check the backoff function of its task: it must return a finite number of ms or false.`,
  jobNotFound: (id: string) =>
    `Job "${id}" does not exist: it never did, or retention removed it (a task with removeOnComplete has its ` +
    `completed jobs removed at once; keep them to read them later).`,
  waitTimeout: (id: string, ms: number, state: string) =>
    `Job "${id}" did not finish within ${ms} ms (it is ${state}). Wait longer, or check that a worker runs its queue.`,
  jobFailed: (id: string, state: string, last?: string) =>
    `Job "${id}" ended ${state}${last ? `: ${last}` : ''}.`,
  cannotRetry: (id: string, state: string) =>
    `Job "${id}" is ${state}; only failed or cancelled jobs can be retried.`,
  timeout: (ms: number) => `The attempt exceeded its timeout of ${ms} ms and was aborted.`,
  cancelled: (id: string) => `Job "${id}" was cancelled while running.`,
  leaseLost: (id: string) =>
    `Lost the lease of job "${id}": this worker stalled past its lease or the job was cancelled; its outcome is discarded.`,
  selfFenced: (id: string, ms: number) =>
    `Gave up job "${id}": this worker could not renew its lease for ${ms} ms (the store is unreachable or slow), so ` +
    `another worker may take it over soon. Its signal was aborted and no outcome is written; the job is recovered ` +
    `when its lease expires. Check the store connection, or raise worker.leaseMs.`,
  handedBackAtShutdown: (id: string) =>
    `Job "${id}" was handed back to the queue because this worker is shutting down: another worker runs it again ` +
    `without using an attempt. Stop work when ctx.signal aborts, and give handlers time with worker.shutdownGraceMs.`,
  heartbeatTimeout: (ms: number) => `Lease renewal did not answer within ${ms} ms; the leases count as not renewed.`,
  shutdownWriteTimeout: (ms: number) =>
    `The store did not answer within ${ms} ms while handing jobs back at shutdown; they are recovered when their leases expire.`,
  childFailed: (childId: string, task: string, state: string) =>
    `Child job "${childId}" (task "${task}") ended ${state}, and its onFailure is 'fail': the parent fails unrun. ` +
    `Retry the child, then this job; or give the child onFailure 'continue' (the parent sees its error) or 'ignore'.`,
  invalidGroupName: (group: unknown) =>
    `Group ${JSON.stringify(group)} is invalid: use 1 to 100 letters, digits, '.', '_', ':', '@' or '-' (e.g. "tenant-42"), ` +
    `or null for no group. A task's group(payload) function must return the same.`,
  groupsUnsupported: () =>
    `This store keeps no groups (capabilities.groups is false): use the memory or Redis store, or enqueue without a group ` +
    `and without groupConcurrency.`,
  flowsUnsupported: () =>
    `This store keeps no flows (capabilities.flows is false): use the memory store or one that supports them, or enqueue the jobs one by one.`,
  invalidFlow: (path: string, detail: string) =>
    `The flow job at ${path} is invalid: ${detail}.`,
  leaseExpired: (workerId: string) =>
    `The worker ${workerId} stopped renewing its lease while running this job (it crashed, was killed or its event loop ` +
    `was blocked). The job was put back without using an attempt; this counts one stall toward the task's maxStalls.`,
  stalledTooOften: (id: string, stalls: number, maxStalls: number) =>
    `Job "${id}" was given up: its worker died ${stalls} time${stalls === 1 ? '' : 's'} while running it (maxStalls ` +
    `${maxStalls}). Its handler probably crashes the process (out of memory, a native crash, process.exit) or blocks the ` +
    `event loop past the lease. Fix the handler, or raise maxStalls / worker.leaseMs, then retry the job.`,
  invalidMaxStalls: (value: unknown) =>
    `maxStalls ${String(value)} is invalid: pass a whole number >= 0 (0 fails a job the first time its worker dies running it).`,
  nonErrorThrown: (value: string) => `The handler threw a non-Error value: ${value}. Throw Error instances to keep a stack.`,
  invalidStorage: (value: unknown) => {
    const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
    const hint: Record<string, string> = {
      redis: "new RedisJobStorage({ connection, prefix }) from '@uno/jobs/redis'",
      typeorm: "new TypeormJobStorage({ dataSource }) from '@uno/jobs/typeorm'",
      memory: "new MemoryJobStorage() from '@uno/jobs', or leave storage out (memory is the default)",
      custom: 'the store itself (or its provider token) as storage, without the { type, storage } wrapper',
    };
    const given = typeof type === 'string' ? `{ type: ${JSON.stringify(type)} }` : typeof value === 'object' && value !== null ? 'an object' : String(value);
    return (
      `Option storage = ${given} is not a store. Pass a JobStorage instance or the DI token of a provider of one: ` +
      (typeof type === 'string' && hint[type] ? `here, ${hint[type]}.` : "new MemoryJobStorage() from '@uno/jobs', " +
        "new RedisJobStorage({ connection, prefix }) from '@uno/jobs/redis', new TypeormJobStorage({ dataSource }) from '@uno/jobs/typeorm', or your own JobStorage.")
    );
  },
  missingOptionalDependency: (pkg: string, feature: string) =>
    `${feature} needs the package "${pkg}". Install it: npm install ${pkg}`,
  storageNotReady: () => `Uno Jobs storage is not initialised yet. Enqueue after the application has started (onModuleInit or later).`,
  engineStopped: () => `Uno Jobs is shutting down; new jobs are refused. Enqueue before shutdown starts.`,
  handlerNotFunction: (owner: string, method: string) =>
    `@Task on ${owner}.${method} decorates something that is not a method.`,
  invalidOption: (name: string, value: unknown, expected: string) =>
    `Option ${name} = ${typeof value === 'number' ? String(value) : JSON.stringify(value)} is invalid: expected ${expected}.`,
  storageMissing: (got: string) =>
    `Option storage is ${got === 'undefined' ? 'missing' : `not a job store (got ${got})`}: UnoJobs keeps its jobs in a ` +
    `JobStorage. Pass storage: new MemoryJobStorage() for one process, or new TypeormJobStorage({ dataSource }) or ` +
    `new RedisJobStorage({ connection }) to share jobs between processes.`,
  heartbeatNotBelowLease: (heartbeatMs: number, leaseMs: number) =>
    `Option worker.heartbeatMs = ${heartbeatMs} is invalid: it must be below worker.leaseMs (${leaseMs}), or every ` +
    `lease runs out before it is renewed. Leave heartbeatMs out (it defaults to leaseMs / 3) or lower it.`,
  storageUnavailable: (what: string, detail: string) =>
    `Cannot reach the ${what} database: ${detail}. Check that the server is running and that the connection options ` +
    `(host, port, user, password, database) are right; Uno Jobs needs its database at startup.`,
  storageTablesMissing: (table: string, detail: string) =>
    `Uno Jobs' table "${table}" is missing (${detail}). Add unoJobsMigrations() from '@uno/jobs/typeorm' to your ` +
    `DataSource's migrations and run them, or set runMigrations: true in the storage options.`,
  storageSchemaOutdated: (table: string, detail: string) =>
    `Uno Jobs' table "${table}" is from an older version (${detail}). Run the migrations of unoJobsMigrations() from ` +
    `'@uno/jobs/typeorm' (they include every version since your last run), or set runMigrations: true in the storage options.`,
  migrationLockTimeout: (lock: string, seconds: number) =>
    `Could not take the migration lock "${lock}" within ${seconds} s: another process is migrating Uno Jobs' tables, ` +
    `or holds the lock. Start again once it has finished, or run the migrations once before the workers start ` +
    `(unoJobsMigrations() in your DataSource's migrations, runMigrations: false here).`,
  dataSourceNotInitialised: () =>
    `The DataSource passed to Uno Jobs is not initialised. Call dataSource.initialize() first (TypeOrmModule does), ` +
    `or pass connection options instead and Uno Jobs opens its own connection.`,
  unsupportedDatabase: (type: unknown) =>
    `Uno Jobs' SQL storage does not support the TypeORM database type ${JSON.stringify(type)}. ` +
    `Use "postgres", "mysql", "mariadb" or "better-sqlite3".`,
  invalidManager: () =>
    `The manager passed to enqueue is not a TypeORM EntityManager of the storage's database. ` +
    `Pass the manager you get from dataSource.transaction(async (manager) => ...).`,
  invalidCursor: (cursor: unknown) =>
    `List cursor ${JSON.stringify(cursor)} is invalid: pass the nextCursor of the previous page unchanged (cursors ` +
    `belong to the store that returned them), or leave it out to start from the newest job.`,
  invalidMetricPoint: (point: unknown, problem: string) =>
    `Metric point ${JSON.stringify(point)} is invalid: ${problem}. Pass a resolution of "minute" or "hour", a bucket ` +
    `start that is a multiple of its width, a slot from 0 to 255 and a whole value >= 0.`,
  jobVanished: (id: string) => `Job "${id}" was removed while it was being enqueued (retention ran meanwhile). Enqueue it again.`,
  redisUnreachable: (target: string, ms: number, cause: string) =>
    `Redis at ${target} is unreachable: no connection within ${ms} ms of retrying (last error: ${cause}). ` +
    `Check that Redis runs and that host, port, password and TLS settings are right, or raise initTimeoutMs.`,
  redisEvictionPolicy: (policy: string) =>
    `Redis maxmemory-policy is "${policy}": when memory runs out Redis may silently delete jobs. ` +
    `Set it to "noeviction" (CONFIG SET maxmemory-policy noeviction, or in redis.conf / your provider's settings).`,
  redisDataLost: (target: string, prefix: string) =>
    `Redis at ${target} lost every job of prefix "${prefix}": its marker key vanished, so Redis restarted without ` +
    `persistence, was flushed (FLUSHALL / FLUSHDB) or evicted keys. The jobs, results and schedules it held are gone ` +
    `and cannot be recovered; handlers still running lose their leases. Turn on persistence (appendonly yes with ` +
    `appendfsync always or everysec) and set maxmemory-policy noeviction, then enqueue the lost work again.`,
  redisConfigUnavailable: (cause: string) =>
    `Could not read Redis maxmemory-policy (${cause}); make sure it is "noeviction", or jobs may be evicted under memory pressure.`,
  // Scheduler
  invalidCron: (expression: unknown, reason: string) =>
    `Cron expression ${JSON.stringify(expression)} is invalid (${reason}). Use 5 fields (minute hour day-of-month month ` +
    `day-of-week), or 6 with seconds first, e.g. '0 3 * * *' or '*/10 * * * * *'.`,
  invalidTimezone: (timezone: unknown) =>
    `Time zone ${JSON.stringify(timezone)} is invalid. Use an IANA name such as 'Europe/Berlin' or 'UTC'.`,
  invalidEvery: (every: unknown) => `Interval ${String(every)} is invalid: pass a whole number of milliseconds >= 1.`,
  scheduleTiming: () => `A schedule needs exactly one of cron (an expression) and every (milliseconds).`,
  timezoneWithEvery: () => `timezone applies to cron schedules only; an interval (every) counts milliseconds.`,
  invalidScheduleName: (name: unknown) =>
    `Schedule name ${JSON.stringify(name)} is invalid: use 1 to 150 characters without whitespace, '#' or a lone surrogate.`,
  invalidMissed: (missed: unknown) => `missed ${JSON.stringify(missed)} is invalid. Use 'skip', 'last' or 'all'.`,
  invalidMaxMissed: (maxMissed: unknown) => `maxMissed ${String(maxMissed)} is invalid: pass a whole number from 1 to 1000.`,
  invalidSchedule: (name: string, reason: string) => `Schedule "${name}": ${reason}`,
  invalidScheduleDeclaration: (decorator: string, owner: string, reason: string) =>
    `${decorator} on ${owner}: ${reason}`,
  scheduleNotFound: (name: string, known: readonly string[]) =>
    `Schedule "${name}" does not exist. Known schedules: ${list(known)}.`,
  duplicateSchedule: (name: string, first: string, second: string) =>
    `Schedule "${name}" is declared twice: by ${first} and by ${second}. Give one of them another name.`,
  unknownJobEvent: (where: string, event: unknown, known: readonly string[]) =>
    `@OnJobEvent(${JSON.stringify(event)}) on ${where}: no such event. Use a job event by its short name ` +
    `(${known.filter((e) => e.startsWith('job:')).map((e) => `'${e.slice(4)}'`).join(', ')}) or one of ` +
    `${known.filter((e) => !e.startsWith('job:')).map((e) => `'${e}'`).join(', ')}.`,
  invalidJobEventTaskFilter: (where: string, event: unknown, filterable: readonly string[]) =>
    `@OnJobEvent(${JSON.stringify(event)}, { task }) on ${where}: a task filter needs one or more task names, and ` +
    `applies only to events that carry the job (${filterable.map((e) => `'${e}'`).join(', ')}). Remove the filter or listen to one of those.`,
  conflictingTimeZone: (where: string, timeZone: unknown, timezone: unknown) =>
    `@Cron on ${where} sets timeZone ${JSON.stringify(timeZone)} and timezone ${JSON.stringify(timezone)}. They are the same option ` +
    `(timeZone is the @nestjs/schedule spelling): keep one.`,
  scheduleDecoratedTwice: (owner: string) =>
    `${owner} carries more than one @Cron/@Interval. Use one schedule per method, or scheduler.upsert() for more.`,
  unsubscribeDeclared: (event: string, task: string) =>
    `Task "${task}" still subscribes to event "${event}" in this process (its @Task 'on' option), and its next start ` +
    `would store the subscription again. Remove "${event}" from the task's 'on' option and deploy first; unsubscribe ` +
    `is for subscriptions of tasks that no longer exist in your code.`,
  invalidEventName: (event: unknown) =>
    `Event name ${JSON.stringify(event)} is invalid: use a non-empty string of at most 200 characters with no lone surrogate (stores write names as UTF-8).`,
  // @nestjs/schedule adoption (UnoJobsModule.forRoot({ nestSchedule: 'adopt' }), docs/nest-schedule.md)
  nestScheduleModuleImported: () =>
    `ScheduleModule (from @nestjs/schedule) is imported while UnoJobsModule adopts its @Cron, @Interval and @Timeout ` +
    `methods (nestSchedule: 'adopt'): both would fire them, and ScheduleModule on every instance. Remove ` +
    `ScheduleModule.forRoot() from your imports; Uno Jobs runs those methods and provides SchedulerRegistry ` +
    `(see docs/nest-schedule.md). To keep ScheduleModule instead, remove the nestSchedule option.`,
  nestScheduleIncompatible: () =>
    `This version of @nestjs/schedule stores its decorator metadata in a way Uno Jobs does not know. Install ` +
    `@nestjs/schedule 12 (npm install @nestjs/schedule@12), or remove the nestSchedule option and move the methods ` +
    `to Uno's own @Cron/@Interval (docs/scheduler.md).`,
  nestScheduleCronTime: (owner: string) =>
    `@Cron on ${owner}: a Date or DateTime fires once, not on a schedule, and cannot be adopted. Enqueue a one-time ` +
    `job instead (jobs.enqueue(task, payload, { runAt })), or use a cron expression.`,
  nestScheduleUnsupported: (owner: string, option: string, hint: string) =>
    `@Cron on ${owner}: the option ${option} cannot be kept when Uno Jobs runs the schedule: ${hint}`,
  nestScheduleInvalid: (option: string, value: unknown, expected: string) =>
    `${option} ${JSON.stringify(value)} is invalid: ${expected}.`,
  nestScheduleReadOnly: (call: string, instead: string) =>
    `SchedulerRegistry.${call} is not available for a schedule that Uno Jobs adopted from @nestjs/schedule: it runs ` +
    `cluster-wide, not in this process. Instead: ${instead} (see docs/nest-schedule.md).`,
  nestScheduleNotFound: (kind: string, name: string) =>
    `No ${kind} named "${name}": neither adopted from @nestjs/schedule nor added to SchedulerRegistry. ` +
    `Uno's Scheduler lists every stored schedule: scheduler.list().`,
  dashboardAssetsMissing: (tried: readonly string[]) =>
    `The admin dashboard's files are missing (looked for manifest.json in ${tried.join(', ')}). They are built by ` +
    `\`npm run build\` (scripts/build-dashboard.mjs); reinstall @uno/jobs, or build it when running from source.`,
  invalidDashboardPollMs: (value: unknown) =>
    `dashboard.pollMs ${String(value)} is invalid: pass a whole number of milliseconds from 1000 to 3600000.`,
  healthStoreTimeout: (ms: number) =>
    `store: the job store did not answer counts() within ${ms} ms. Check that the database or Redis server is up and ` +
    `reachable from this process (network, credentials, connection pool), or raise the health check's timeoutMs if it is only slow.`,
  healthStoreFailed: (detail: string) =>
    `store: the job store failed counts(): ${detail}. Check that the database or Redis server is up and reachable ` +
    `from this process, and the store's connection options.`,
  healthWorkerNotRunning: (phase: string) =>
    `worker: this instance's worker is ${phase}, so it runs no jobs. Check the application's startup logs (the ` +
    `worker starts at onApplicationBootstrap), or set worker.enabled: false on a producer-only instance.`,
  healthBacklog: (where: string, waiting: number, max: number) =>
    `backlog: ${waiting} jobs are waiting ${where}, above the threshold of ${max}. Add workers or concurrency, ` +
    `look for a slow or stuck task, or raise maxWaiting.`,
  healthFailedJobs: (failed: number, max: number) =>
    `failed: ${failed} failed jobs are kept in the store, above the threshold of ${max}. Inspect them (jobs.list({ state: 'failed' })), ` +
    `fix the cause and retry or remove them, or raise maxFailed.`,
  invalidPauseTask: (task: unknown) =>
    `Cannot pause or resume task ${JSON.stringify(task)}: a task is named by a string of 1..200 characters with no lone surrogate. Pass ` +
    `{ queue, task: 'report.build' } for one task, or the queue name alone for the whole queue.`,
  pauseUnsupported: () =>
    `This job store cannot pause queues or tasks (it does not implement pause()). Every store of @uno/jobs can; ` +
    `a custom store implements pause, resume and listPaused (see docs/storage.md).`,
  promoteUnsupported: () =>
    `This job store cannot run a scheduled job now (it does not implement promote()). The memory store can; a ` +
    `custom store implements promote (see docs/storage.md). Meanwhile the job runs at its runAt.`,
  removeUnsupported: () =>
    `This job store cannot delete a job (it does not implement remove()). Every store of @uno/jobs can; a custom ` +
    `store implements remove (see docs/storage.md). Meanwhile cancel the job, and retention deletes it later.`,
  changePriorityUnsupported: () =>
    `This job store cannot change a job's priority (it does not implement changePriority()). Every store of @uno/jobs ` +
    `can; a custom store implements changePriority (see docs/storage.md).`,
  payloadSearchUnsupported: () =>
    `This job store cannot search payloads (the Redis store keeps each payload in its job's hash, with no index to ` +
    `search). Filter by queue, task, state, id prefix and creation time instead; the memory and SQL stores can search.`,
  removeActive: (id: string) =>
    `Job "${id}" is active: a worker holds it, so it cannot be deleted. Cancel it first (jobs.cancel(id), or the ` +
    `admin's cancel action), then delete it.`,
  removeCrossSlotFlow: (id: string) =>
    `Job "${id}" belongs to a flow that spans queues, and on a Redis Cluster those queues live in other hash slots, ` +
    `which one delete cannot reach atomically. Cancel it instead (jobs.cancel(id)): a cancel moves the flow on every ` +
    `store, and retention removes the job later.`,
  // Admin API (@uno/jobs/admin, docs/admin.md)
  adminNoAuthorization: () =>
    `UnoJobsAdminModule.register() needs an authorization hook: guards (your app's Nest guards, run on every admin ` +
    `route) or authorize: (request) => 'read' | 'write' | false. For local development only, allowUnauthenticated: true ` +
    `opens the API to anyone (refused when NODE_ENV=production).`,
  adminUnauthenticatedInProduction: () =>
    `UnoJobsAdminModule: allowUnauthenticated: true is refused when NODE_ENV=production: it would open the job admin ` +
    `API (payloads, retries, cancels) to anyone. Pass guards or authorize instead.`,
  adminUnauthenticatedWarning: (path: string) =>
    `The Uno Jobs admin API at /${path} is open to anyone (allowUnauthenticated: true). Use it for local development ` +
    `only; pass guards or authorize before deploying.`,
  adminUnauthorized: () =>
    `Not authorized for the Uno Jobs admin API: the app's authorize hook refused this request. Sign in with an account it accepts.`,
  adminReadOnly: (why: 'scope' | 'readOnly') =>
    why === 'readOnly'
      ? `The Uno Jobs admin API is read-only (readOnly: true): actions are refused. Remove readOnly to allow them.`
      : `This caller has the read scope of the Uno Jobs admin API: actions need the write scope (the app's authorize hook decides).`,
  adminCrossSite: (detail: string) =>
    `Refused a cross-site request to an admin action (${detail}). Send actions from the admin's own origin (the dashboard), ` +
    `or from a client that sends no Origin header (curl, a server).`,
  adminInvalidField: (field: string, value: unknown, expected: string) =>
    `${field} ${JSON.stringify(value)} is invalid: expected ${expected}.`,
  adminUnknownField: (field: string, known: readonly string[]) =>
    `${field} is not a known field. Known fields: ${list(known)}.`,
  adminScheduleNotFound: (name: string) => `Schedule "${name}" does not exist. GET the schedules route for the stored ones.`,
  adminStateConflict: (id: string, state: string, action: string, states: readonly string[]) =>
    `Job "${id}" is ${state}; ${action} applies only to ${states.join(' or ')} jobs.`,
  adminBulkTooMany: (limit: number) =>
    `More than ${limit} jobs match this bulk action, the most one call acts on. Narrow the filter (queue, task, state, ` +
    `idPrefix, from, to) and dry-run it again.`,
  adminBulkConfirm: (confirm: unknown, matched: number) =>
    `confirm ${JSON.stringify(confirm)} does not match the ${matched} jobs this bulk action applies to now. Dry-run it ` +
    `(dryRun: true), check the count, and send it again with confirm set to that count.`,
  adminInvalidOption: (name: string, value: unknown, expected: string) =>
    `UnoJobsAdminModule option ${name} = ${typeof value === 'function' ? 'a function' : JSON.stringify(value)} is invalid: expected ${expected}.`,
  healthOldestWait: (queue: string, ageMs: number, max: number) =>
    `oldest: the longest-waiting job of queue "${queue}" has waited ${ageMs} ms, above the threshold of ${max} ms. ` +
    `Check that workers serve the queue and are not saturated (uno.metrics.workersOf), or raise maxOldestWaitMs.`,
  healthFailureRate: (rate: number, window: string, failed: number, finished: number, max: number) =>
    `failure-rate: ${(rate * 100).toFixed(1)}% of the jobs finished in the last ${window} failed (${failed} of ${finished}), ` +
    `above the threshold of ${(max * 100).toFixed(1)}%. See the error patterns (uno.metrics.errorPatterns()) for the cause, ` +
    `or raise maxFailureRate.`,
  healthNoWorkers: (queues: string[]) =>
    `workers: no live worker serves ${queues.map((q) => `"${q}"`).join(', ')} (none has sent a heartbeat recently). ` +
    `Start a worker for ${queues.length === 1 ? 'it' : 'them'}, or check the worker logs; a producer-only setup leaves requireWorkers off.`,
  healthRegistryMissing: () =>
    `workers: this store keeps no worker registry, so live workers cannot be checked. Use a store that keeps one ` +
    `(every store of @uno/jobs does) or leave requireWorkers off.`,
  documentsUnsupported: () =>
    `This job store keeps no versioned documents (it does not implement readDocument and writeDocument), which ` +
    `alerts need for their cluster-wide state. Every store of @uno/jobs does; a custom store implements both (see docs/storage.md).`,
  invalidDocumentKey: (key: unknown) =>
    `Document key ${JSON.stringify(key)} is invalid: use 1 to 200 characters with no lone surrogate.`,
  webhookRefused: (url: string, status: string) =>
    `Webhook ${url} refused an alert notice with ${status}; it is not retried. Check the URL, the receiver's ` +
    `authentication (headers, secret) and that it accepts a JSON POST.`,
  webhookFailed: (url: string, attempts: number, last: string) =>
    `Webhook ${url} did not take an alert notice after ${attempts} attempts (last: ${last}). Check that the receiver ` +
    `is up and reachable from this process, or raise the webhook's retries, backoffMs or timeoutMs.`,
  invalidAlertRule: (index: number, rule: unknown, problem: string) =>
    `Alert rule ${index} ${JSON.stringify(rule)} is invalid: ${problem}.`,
  duplicateAlertRule: (name: string) =>
    `Two alert rules are named "${name}". Give each rule its own name (the name option; it defaults to the rule's type).`,
  alertBacklog: (queue: string, waiting: number, above: number) =>
    `${waiting} jobs wait in queue "${queue}", above ${above}. Add workers or concurrency for it, or look for a slow or stuck task.`,
  alertOldestWait: (queue: string, ageMs: number, above: number) =>
    `The longest-waiting job of queue "${queue}" has waited ${ageMs} ms, above ${above} ms. Check that workers serve it and are not saturated.`,
  alertFailureRate: (subject: string, rate: number, window: string, failed: number, finished: number, above: number) =>
    `${(rate * 100).toFixed(1)}% of the jobs of ${subject} finished in the last ${window} failed (${failed} of ${finished}), ` +
    `above ${(above * 100).toFixed(1)}%. See the error patterns (uno.metrics.errorPatterns()) for the cause.`,
  alertNewErrorPattern: (task: string, pattern: string, count: number) =>
    `Task "${task}" fails in a new way: ${pattern} (${count} so far). See the pattern's sample jobs for the cause.`,
  alertNoWorker: (queue: string, waiting: number) =>
    `${waiting} jobs wait in queue "${queue}" and no live worker serves it. Start a worker for it, or check the worker logs.`,
  alertJobTimeout: (id: string, task: string, runningMs: number, timeoutMs: number) =>
    `Job "${id}" of task "${task}" has been active for ${runningMs} ms, past its timeout of ${timeoutMs} ms: its handler ` +
    `ignores ctx.signal, or its worker is stuck. Make the handler honour ctx.signal, or check the worker.`,
  alertMissedSchedule: (name: string, dueAt: string, lateMs: number) =>
    `Schedule "${name}" missed its tick of ${dueAt} (${lateMs} ms ago): no instance fired it. Check that an instance ` +
    `with the scheduler enabled is running (scheduler.enabled, worker.enabled).`,
  alertWorkerUnhealthy: (id: string, problems: string[]) => `Instance "${id}" is unhealthy: ${problems.join(' ')}`,
  queueNotServed: (queue: string, served: string[], running: boolean) =>
    running
      ? `Queue "${queue}" is not served by this worker, so its concurrency cannot be set here. Served queues: ${list(served)}. ` +
        `Add it to worker.queues (or register a task of it) on the instances that should run it.`
      : `Cannot set the concurrency of queue "${queue}": this instance's worker is not running (not started, stopping, ` +
        `or worker.enabled is false). Call it after the application has started, on an instance that runs jobs.`,
  concurrencyOutsideAutoscale: (queue: string, n: number, min: number, max: number) =>
    `Concurrency ${n} for queue "${queue}" is outside its autoscaling bounds (min ${min}, max ${max}). Pass a number ` +
    `from ${min} to ${max}, or change the queue's autoscale bounds (autoscale moves it back within them anyway).`,
  workerIdTaken: (id: string, host: string, pid: number, ageMs: number) =>
    `Worker id "${id}" is already used by a live instance (host ${host}, pid ${pid}, seen ${ageMs} ms ago). Each ` +
    `process needs a worker.id of its own: leases, recovery, the worker registry and the reading back of an outcome ` +
    `tell workers apart by it. Leave worker.id unset (the default is <hostname>:<pid>:<random>) or derive it from ` +
    `something unique per process, such as the pod name.`,
  workerLoopBlocked: (ms: number, max: number) =>
    `its event loop was blocked for ${ms} ms (threshold ${max} ms): a handler does CPU-bound or synchronous work. ` +
    `Move that work to a worker thread or split it, lower the queue's concurrency, or raise monitoring.maxLoopDelayMs.`,
  workerHeartbeatLag: (ms: number, max: number) =>
    `its registry heartbeats are ${ms} ms late (threshold ${max} ms): its event loop is held or the store is slow to ` +
    `answer it. Check its CPU and the store, or raise monitoring.maxHeartbeatLagMs.`,
  healthWorkersUnhealthy: (instances: string[]) =>
    `worker-health: ${instances.join(' ')} Fix the instance (see uno.metrics.unhealthyWorkers()) or restart it.`,
  metricConflict: (name: string, registered: string) =>
    `The metric "${name}" is already registered on this prom-client registry as ${registered}, not as Uno Jobs defines it. ` +
    `Remove the other metric of that name, or give Uno Jobs its own registry (the registry option).`,
};
