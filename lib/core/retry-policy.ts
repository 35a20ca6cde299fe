import { InvalidJobError, messages } from './errors.js';
import type { BackoffOptions, JobInfo, RetryPolicy } from './job.js';

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
  if (typeof b.delay !== 'number' || !Number.isFinite(b.delay) || b.delay < 0) {
    throw new InvalidJobError(messages.invalidBackoff(`delay ${JSON.stringify(b.delay)} must be a number of ms >= 0`));
  }
  if (b.maxDelay !== undefined && (typeof b.maxDelay !== 'number' || !(b.maxDelay >= b.delay))) {
    throw new InvalidJobError(messages.invalidBackoff(`maxDelay ${JSON.stringify(b.maxDelay)} must be a number >= delay`));
  }
  if (b.jitter !== undefined && typeof b.jitter !== 'boolean' && !(typeof b.jitter === 'number' && b.jitter >= 0 && b.jitter <= 1)) {
    throw new InvalidJobError(messages.invalidBackoff(`jitter ${JSON.stringify(b.jitter)} must be a boolean or a number in [0, 1]`));
  }
}

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
 * The policy is only asked while attempts remain.
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
    return Math.round(decided);
  }
  return backoffDelay(backoff, attempt);
}
