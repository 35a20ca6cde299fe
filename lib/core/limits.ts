/**
 * The hard limits of Uno Jobs' inputs, in one place (docs/limits.md lists them with the reason for each). Each is
 * checked before anything is written, with an error that names the field and the limit.
 */

/**
 * Longest `delay`, `timeout`, backoff delay or `maxDelay`, and the furthest `runAt` from now: 100 years in ms.
 * Far beyond any real plan, and it keeps every due time a whole number well inside a JavaScript `Date`, a SQL
 * `BIGINT` and the integers Redis' Lua prints exactly.
 */
export const MAX_DELAY_MS = 100 * 365.25 * 24 * 60 * 60 * 1000;

/** Most attempts of one job: 1,000,000. Far beyond any retry plan, and within every store's `INTEGER` column. */
export const MAX_ATTEMPTS = 1_000_000;

/**
 * Deepest nesting of a payload or result (objects and arrays inside each other): 100 levels. Deeper data is refused
 * with a clear error instead of overflowing the stack while it is checked, encoded or decoded.
 */
export const MAX_JSON_DEPTH = 100;

/** The reserved job id prefix of the scheduler's firings (`sched:<name>:<tick>`); a producer's `jobId` may not use it. */
export const RESERVED_JOB_ID_PREFIX = 'sched:';
