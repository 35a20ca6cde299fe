import { withDeadline } from '../contract/clock.js';
import { ConfigurationError, UnoJobsError, messages } from '../contract/errors.js';
import type { JobCounts } from '../contract/job.js';
import type { UnoJobs } from '../core/uno-jobs.js';

/** Options of a health check: the store timeout and the optional thresholds. */
export interface HealthCheckOptions {
  /**
   * Longest wait in ms for the store's `counts()`; a store that has not answered by then reports down instead of
   * hanging the probe. Default 3000 (keep it below your probe's own timeout).
   */
  timeoutMs?: number;
  /**
   * Backlog threshold: down when more jobs wait than this. A number bounds the total over every queue; an object
   * bounds each named queue (`{ emails: 1000, reports: 50 }`, one `counts()` per queue). Default: no threshold.
   */
  maxWaiting?: number | Record<string, number>;
  /** Down when the store keeps more `failed` jobs than this (all queues). Default: no threshold. */
  maxFailed?: number;
}

/** Name of one check: the store answered, the worker runs, the backlog and failed-job thresholds hold. */
export type HealthCheckName = 'store' | 'worker' | 'backlog' | 'failed';

/** Outcome of {@link checkHealth}. Details carry counts and timings only: never job ids, payloads or error texts. */
export interface HealthReport {
  /** True when every check passed. */
  healthy: boolean;
  /** The checks that failed, in the order they ran. */
  failed: HealthCheckName[];
  /** Why each failed check failed (from the `messages` module: what went wrong and what to do), in the same order. */
  problems: string[];
  /** Store round trip of `counts()` in ms (on the engine's clock), or null when it failed or timed out. */
  responseTimeMs: number | null;
  /** Job counts by state over every queue, when the store answered. */
  counts: JobCounts | null;
  /** Waiting jobs of each queue named in `maxWaiting` (when it is an object and the store answered). */
  waitingByQueue?: Record<string, number>;
  /** This instance's worker: `enabled` (the option) and `running`. */
  worker: { enabled: boolean; running: boolean };
}

const DEFAULT_TIMEOUT_MS = 3000;

/**
 * Check one Uno Jobs instance: the store answers `counts()` within `timeoutMs`, this instance's worker runs (when it
 * is enabled), and the optional backlog and failed-job thresholds hold. NestJS-free; the Terminus indicator
 * (`@uno/jobs/terminus`) reports it. Thresholds on the oldest job's age, the failure rate and the number of live
 * workers need store-backed metrics and are not available yet.
 *
 * @example
 * const report = await checkHealth(uno, { timeoutMs: 2000, maxWaiting: { emails: 1000 }, maxFailed: 100 });
 * if (!report.healthy) console.warn(report.problems.join(' '));
 */
export async function checkHealth(uno: UnoJobs, options: HealthCheckOptions = {}): Promise<HealthReport> {
  const timeoutMs = validated(options);
  const failed: HealthCheckName[] = [];
  const problems: string[] = [];
  const status = uno.workerStatus();
  const report: HealthReport = { healthy: true, failed, problems, responseTimeMs: null, counts: null, worker: { enabled: status.enabled, running: status.running } };
  const fail = (check: HealthCheckName, problem: string) => {
    failed.push(check);
    problems.push(problem);
  };

  const perQueue = typeof options.maxWaiting === 'object' ? Object.keys(options.maxWaiting) : [];
  const startedAt = uno.clock.now();
  try {
    const [counts, ...queueCounts] = await withDeadline(
      uno.clock,
      Promise.all([uno.storage.counts(), ...perQueue.map((queue) => uno.storage.counts({ queue }))]),
      timeoutMs,
      () => new HealthTimeout(),
    );
    report.responseTimeMs = uno.clock.now() - startedAt;
    report.counts = counts!;
    if (perQueue.length > 0) report.waitingByQueue = Object.fromEntries(perQueue.map((queue, i) => [queue, queueCounts[i]!.waiting]));
  } catch (error) {
    fail('store', error instanceof HealthTimeout ? messages.healthStoreTimeout(timeoutMs) : messages.healthStoreFailed(describe(error)));
  }

  if (status.enabled && !status.running) fail('worker', messages.healthWorkerNotRunning(status.phase === 'new' || status.phase === 'started' ? 'not started yet' : 'stopping or stopped'));

  if (report.counts) {
    const { maxWaiting, maxFailed } = options;
    if (typeof maxWaiting === 'number' && report.counts.waiting > maxWaiting) {
      fail('backlog', messages.healthBacklog('over all queues', report.counts.waiting, maxWaiting));
    } else if (typeof maxWaiting === 'object') {
      const over = perQueue.filter((queue) => report.waitingByQueue![queue]! > maxWaiting[queue]!);
      if (over.length > 0) {
        fail('backlog', over.map((queue) => messages.healthBacklog(`in queue "${queue}"`, report.waitingByQueue![queue]!, maxWaiting[queue]!)).join(' '));
      }
    }
    if (maxFailed !== undefined && report.counts.failed > maxFailed) fail('failed', messages.healthFailedJobs(report.counts.failed, maxFailed));
  }
  report.healthy = failed.length === 0;
  return report;
}

/** Raised by the deadline; told apart from the store's own errors to pick the message. */
class HealthTimeout extends UnoJobsError {
  constructor() {
    super('timeout');
  }
}

/** The store error's name and message, on one line. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return `${error.name}: ${error.message}`.replace(/\s+/g, ' ');
}

/** Check the options once per call (they come from configuration) and return the timeout. */
function validated(options: HealthCheckOptions): number {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  count('timeoutMs', timeoutMs, 1);
  if (typeof options.maxWaiting === 'number') count('maxWaiting', options.maxWaiting, 0);
  else if (options.maxWaiting !== undefined) {
    if (typeof options.maxWaiting !== 'object' || options.maxWaiting === null) {
      throw new ConfigurationError(messages.invalidOption('maxWaiting', options.maxWaiting, 'a whole number >= 0, or { [queue]: number }'));
    }
    for (const [queue, max] of Object.entries(options.maxWaiting)) count(`maxWaiting.${queue}`, max, 0);
  }
  if (options.maxFailed !== undefined) count('maxFailed', options.maxFailed, 0);
  return timeoutMs;
}

function count(name: string, value: unknown, min: number): void {
  if (!Number.isInteger(value) || (value as number) < min) {
    throw new ConfigurationError(messages.invalidOption(name, value, `a whole number >= ${min}`));
  }
}
