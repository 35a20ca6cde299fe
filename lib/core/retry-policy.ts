import { InvalidJobError, messages } from '../contract/errors.js';
import type { BackoffOptions } from '../contract/job.js';
import type { JobInfo, RetryPolicy } from './job.js';
import { MAX_DELAY_MS } from './limits.js';

/** Exponential delays never exceed this (24 h) unless `maxDelay` says otherwise. */
const DEFAULT_MAX_DELAY = 24 * 60 * 60 * 1000;

/** Throw a clear error unless `backoff` is a valid {@link BackoffOptions} or policy function. */
export function validateBackoff(backoff: unknown): asserts backoff is BackoffOptions | RetryPolicy | undefined {
  if (backoff === undefined || typeof backoff === 'function') return;
  if (typeof backoff !== 'object' || backoff === null) throw new InvalidJobError(messages.invalidBackoff(`got ${JSON.stringify(backoff)}`));
  const b = backoff as Partial<BackoffOptions>;
  if (b.type !== 'fixed' && b.type !== 'exponential') {
    throw new InvalidJobError(messages.invalidBackoff(`type ${JSON.stringify(b.type)} is not 'fixed' or 'exponential'`));
  }
  // Every delay becomes a due time in the store (a BIGINT, a Redis score): bounded, so none can overflow there.
  if (typeof b.delay !== 'number' || !Number.isFinite(b.delay) || b.delay < 0 || b.delay > MAX_DELAY_MS) {
    throw new InvalidJobError(messages.invalidBackoff(`delay ${show(b.delay)} must be a number of ms >= 0 and <= ${MAX_DELAY_MS} (100 years)`));
  }
  if (b.maxDelay !== undefined && (typeof b.maxDelay !== 'number' || !(b.maxDelay >= b.delay) || !(b.maxDelay <= MAX_DELAY_MS))) {
    throw new InvalidJobError(messages.invalidBackoff(`maxDelay ${show(b.maxDelay)} must be a number >= delay and <= ${MAX_DELAY_MS} (100 years)`));
  }
  if (b.jitter !== undefined && typeof b.jitter !== 'boolean' && !(typeof b.jitter === 'number' && b.jitter >= 0 && b.jitter <= 1)) {
    throw new InvalidJobError(messages.invalidBackoff(`jitter ${JSON.stringify(b.jitter)} must be a boolean or a number in [0, 1]`));
  }
}

/** A value as the user wrote it: numbers plainly (Infinity, NaN), anything else as JSON. */
const show = (value: unknown): string => (typeof value === 'number' ? String(value) : JSON.stringify(value));

/**
 * Delay before attempt `attempt + 1`, after attempt `attempt` (1-based) failed.
 * fixed: `delay`; exponential: `delay * 2^(attempt-1)`, capped at `maxDelay`. With jitter, the delay is drawn
 * uniformly from `[delay * (1 - j), delay]` (j = 0.5 for `true`), so retries spread out but never come early
 * by more than the jitter fraction.
 */
export function backoffDelay(backoff: BackoffOptions, attempt: number, random: () => number = Math.random): number {
  let delay = backoff.delay;
  if (backoff.type === 'exponential') {
    const cap = backoff.maxDelay ?? DEFAULT_MAX_DELAY;
    delay = Math.min(cap, backoff.delay * 2 ** Math.min(attempt - 1, 52));
  }
  const j = backoff.jitter === true ? 0.5 : typeof backoff.jitter === 'number' ? backoff.jitter : 0;
  if (j > 0) delay = delay * (1 - j) + delay * j * random();
  return Math.round(delay);
}

/**
 * Decide what happens after a failed attempt: a delay in ms before the next one, or `false` to fail the job.
 * The policy is only asked while attempts remain; a custom policy's delay is capped at `MAX_DELAY_MS` (100 years).
 */
export function nextRetryDelay(
  backoff: BackoffOptions | RetryPolicy | undefined,
  attempt: number,
  error: Error,
  job: JobInfo,
): number | false {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'function') {
    const decided = backoff(attempt, error, job);
    if (decided === false) return false;
    if (typeof decided !== 'number' || !Number.isFinite(decided) || decided < 0) return false;
    // A policy runs after enqueue, where nothing can be refused any more: a delay beyond the limit waits the limit.
    return Math.round(Math.min(decided, MAX_DELAY_MS));
  }
  return backoffDelay(backoff, attempt);
}
