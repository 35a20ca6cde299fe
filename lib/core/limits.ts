import { ConfigurationError, messages } from '../contract/errors.js';
import type { JobError } from '../contract/job.js';
import { DEFAULT_ERROR_HISTORY, MAX_LOG_LINES } from '../contract/job-storage.js';

/**
 * Bounds on what a running job may store, so no job can grow the store without limit. Every backend gets them:
 * the core cuts or refuses before writing, and the stores trim the histories they append to.
 * See docs/limits.md for the reasons behind each default.
 */
export interface JobLimits {
  /** Largest handler result, as UTF-8 JSON; a larger one fails the job (not its batch). Default 1 MiB. */
  resultBytes?: number;
  /** Largest `ctx.progress()` value, as UTF-8 JSON; a larger one throws in the handler. Default 64 KiB. */
  progressBytes?: number;
  /** Longest error message (and name) kept per failed attempt, in characters; the rest is cut with a marker. Default 8192. */
  errorMessageLength?: number;
  /** Longest stack trace kept per failed attempt, in characters; the rest is cut with a marker. Default 16 384. */
  stackLength?: number;
  /** Error history per job: the first failed attempt and the last `errorHistory` are kept. Default 10. */
  errorHistory?: number;
  /** Most `ctx.log()` lines kept per job; older lines are dropped first. Default 100. */
  logLines?: number;
  /** Longest `ctx.log()` line, in characters; the rest is cut with a marker. Default 4096. */
  logLineLength?: number;
}

/** {@link JobLimits} with every default filled in. */
export type ResolvedLimits = Required<JobLimits>;

/** The defaults of {@link JobLimits}. */
export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  resultBytes: 1024 * 1024,
  progressBytes: 64 * 1024,
  errorMessageLength: 8192,
  stackLength: 16 * 1024,
  errorHistory: DEFAULT_ERROR_HISTORY,
  logLines: MAX_LOG_LINES,
  logLineLength: 4096,
});

/** Fill in defaults and refuse a limit that is not a whole number >= 1, naming the option. */
export function resolveLimits(limits: JobLimits = {}): ResolvedLimits {
  const resolved = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ResolvedLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigurationError(messages.invalidOption(`limits.${key}`, value, 'a whole number >= 1'));
    }
    resolved[key] = value;
  }
  return resolved;
}

/**
 * Cut `text` to `max` characters plus a marker that says how much was cut and which option keeps more. Never splits
 * a surrogate pair, so the stored text stays valid UTF-16 (and valid UTF-8 once encoded).
 */
export function truncate(text: string, max: number, option: keyof JobLimits): string {
  if (text.length <= max) return text;
  let end = max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--; // a high surrogate whose pair would be cut off
  return text.slice(0, end) + messages.truncated(text.length - end, option);
}

/**
 * An error entry with its name, message and stack cut to the limits and made well-formed: a lone surrogate (half of
 * an emoji, say, from a message sliced by UTF-16 units) becomes U+FFFD. Stores keep error texts as JSON, and one that
 * reads its history back (Redis' cjson does, to bound it) cannot decode a lone surrogate's escape: the failure would
 * not be written, and the job would wait for recovery instead of recording what went wrong.
 */
export function boundJobError(error: JobError, limits: ResolvedLimits): JobError {
  const bounded = {
    ...error,
    name: truncate(error.name, limits.errorMessageLength, 'errorMessageLength').toWellFormed(),
    message: truncate(error.message, limits.errorMessageLength, 'errorMessageLength').toWellFormed(),
  };
  if (error.stack !== undefined) bounded.stack = truncate(error.stack, limits.stackLength, 'stackLength').toWellFormed();
  return bounded;
}

/*
 * The hard limits of Uno Jobs' inputs (docs/limits.md lists them with the reason for each). Each is checked before
 * anything is written, with an error that names the field and the limit.
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
