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
  /**
   * Down when the longest-waiting ready job of a queue has waited longer than this many ms. A number applies to every
   * queue this instance knows (its tasks' and its worker's), an object to each named queue. Default: no threshold.
   */
  maxOldestWaitMs?: number | Record<string, number>;
  /**
   * Down when more than `rate` (0..1) of the jobs that finished in the last `window` (cluster-wide, from the stored
   * figures) failed for good, once at least `minFinished` finished (default 20, so a handful of failures on a quiet
   * system does not page anyone). `window` is `'1m'`, `'5m'` (default) or `'15m'`.
   */
  maxFailureRate?: { rate: number; window?: '1m' | '5m' | '15m'; minFinished?: number };
  /**
   * Down when a queue has no live worker in the registry: `true` checks the queues of this instance's tasks, a list
   * names them. Default: off.
   */
  requireWorkers?: boolean | string[];
  /**
   * Down when an instance's event loop was blocked or its heartbeats lag past the thresholds of the registry
   * (`monitoring.maxLoopDelayMs`, `maxHeartbeatLagMs`): `'self'` judges this instance (a liveness probe), `'cluster'`
   * every live one. Default: off.
   */
  workerHealth?: 'self' | 'cluster';
}

/** Name of one check: the store answered, the worker runs, the backlog and failed-job thresholds hold. */
export type HealthCheckName = 'store' | 'worker' | 'backlog' | 'failed' | 'oldest' | 'failure-rate' | 'workers' | 'worker-health';

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
  /** Age in ms of the longest-waiting job per checked queue (with `maxOldestWaitMs`; null: none waits). */
  oldestWaitMs?: Record<string, number | null>;
  /** The failure rate of the checked window (with `maxFailureRate`; null: nothing finished). */
  failureRate?: number | null;
  /** Live workers per checked queue (with `requireWorkers`). */
  liveWorkers?: Record<string, number>;
  /** Ids of the unhealthy instances found (with `workerHealth`). */
  unhealthyWorkers?: string[];
}

const DEFAULT_TIMEOUT_MS = 3000;

/**
 * Check one Uno Jobs instance: the store answers `counts()` within `timeoutMs`, this instance's worker runs (when it
 * is enabled), and the optional thresholds hold: backlog, failed jobs kept, the oldest waiting job's age, the
 * cluster's failure rate, a live worker per queue and responsive instances (event loop, heartbeats). NestJS-free; the Terminus indicator (`@uno/jobs/terminus`)
 * reports it.
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
  if (!failed.includes('store')) {
    const found: [HealthCheckName, string][] = [];
    try {
      await withDeadline(uno.clock, checkClusterFigures(uno, options, report, (check, problem) => found.push([check, problem])), timeoutMs, () => new HealthTimeout());
      for (const [check, problem] of found) fail(check, problem);
    } catch (error) {
      fail('store', error instanceof HealthTimeout ? messages.healthStoreTimeout(timeoutMs) : messages.healthStoreFailed(describe(error)));
    }
  }
  report.healthy = failed.length === 0;
  return report;
}

/** The thresholds read from the stored figures and the registry: oldest wait, failure rate, live workers. */
async function checkClusterFigures(uno: UnoJobs, options: HealthCheckOptions, report: HealthReport, fail: (check: HealthCheckName, problem: string) => void): Promise<void> {
  const { maxOldestWaitMs, maxFailureRate, requireWorkers, workerHealth } = options;
  if (maxOldestWaitMs !== undefined) {
    const limits = typeof maxOldestWaitMs === 'number' ? Object.fromEntries(uno.knownQueues().map((q) => [q, maxOldestWaitMs])) : maxOldestWaitMs;
    const queues = Object.keys(limits);
    const now = uno.clock.now();
    const oldest = queues.length === 0 ? {} : ((await uno.storage.oldestWaiting(queues)) ?? {});
    report.oldestWaitMs = Object.fromEntries(queues.map((q) => [q, oldest[q] ? Math.max(0, now - oldest[q]!.getTime()) : null]));
    const over = queues.filter((q) => (report.oldestWaitMs![q] ?? 0) > limits[q]!);
    if (over.length > 0) fail('oldest', over.map((q) => messages.healthOldestWait(q, report.oldestWaitMs![q]!, limits[q]!)).join(' '));
  }
  if (maxFailureRate) {
    const window = maxFailureRate.window ?? '5m';
    const { totals } = await uno.metrics.summary();
    const finished = totals[window].completed + totals[window].failed;
    report.failureRate = finished === 0 ? null : totals[window].failed / finished;
    if (finished >= (maxFailureRate.minFinished ?? 20) && report.failureRate! > maxFailureRate.rate) {
      fail('failure-rate', messages.healthFailureRate(report.failureRate!, window, totals[window].failed, finished, maxFailureRate.rate));
    }
  }
  if (requireWorkers) {
    const queues = requireWorkers === true ? [...new Set(uno.taskNames().map((name) => uno.task(name)!.queue))].sort() : requireWorkers;
    const instances = await uno.metrics.workers();
    if (instances === null) {
      fail('workers', messages.healthRegistryMissing());
      return;
    }
    report.liveWorkers = Object.fromEntries(queues.map((q) => [q, instances.filter((w) => w.alive && q in w.queues).length]));
    const unserved = queues.filter((q) => report.liveWorkers![q] === 0);
    if (unserved.length > 0) fail('workers', messages.healthNoWorkers(unserved));
  }
  if (workerHealth) {
    const unhealthy = (await uno.metrics.unhealthyWorkers()).filter((w) => workerHealth === 'cluster' || w.id === uno.workerId);
    report.unhealthyWorkers = unhealthy.map((w) => w.id);
    if (unhealthy.length > 0) fail('worker-health', messages.healthWorkersUnhealthy(unhealthy.map((w) => `instance "${w.id}": ${w.health.problems.join(' ')}`)));
  }
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
  if (typeof options.maxOldestWaitMs === 'number') count('maxOldestWaitMs', options.maxOldestWaitMs, 0);
  else if (options.maxOldestWaitMs !== undefined) {
    if (typeof options.maxOldestWaitMs !== 'object' || options.maxOldestWaitMs === null) {
      throw new ConfigurationError(messages.invalidOption('maxOldestWaitMs', options.maxOldestWaitMs, 'a whole number of ms >= 0, or { [queue]: ms }'));
    }
    for (const [queue, max] of Object.entries(options.maxOldestWaitMs)) count(`maxOldestWaitMs.${queue}`, max, 0);
  }
  const rate = options.maxFailureRate;
  if (rate !== undefined) {
    if (typeof rate !== 'object' || rate === null || typeof rate.rate !== 'number' || !(rate.rate >= 0 && rate.rate <= 1)) {
      throw new ConfigurationError(messages.invalidOption('maxFailureRate', rate, "{ rate: a number from 0 to 1, window?: '1m' | '5m' | '15m', minFinished?: n }"));
    }
    if (rate.window !== undefined && !['1m', '5m', '15m'].includes(rate.window)) {
      throw new ConfigurationError(messages.invalidOption('maxFailureRate.window', rate.window, "'1m', '5m' or '15m'"));
    }
    if (rate.minFinished !== undefined) count('maxFailureRate.minFinished', rate.minFinished, 0);
  }
  const req = options.requireWorkers;
  if (req !== undefined && typeof req !== 'boolean' && !(Array.isArray(req) && req.every((q) => typeof q === 'string' && q.length > 0))) {
    throw new ConfigurationError(messages.invalidOption('requireWorkers', req, 'true, false, or a list of queue names'));
  }
  if (options.workerHealth !== undefined && options.workerHealth !== 'self' && options.workerHealth !== 'cluster') {
    throw new ConfigurationError(messages.invalidOption('workerHealth', options.workerHealth, "'self' or 'cluster'"));
  }
  return timeoutMs;
}

function count(name: string, value: unknown, min: number): void {
  if (!Number.isInteger(value) || (value as number) < min) {
    throw new ConfigurationError(messages.invalidOption(name, value, `a whole number >= ${min}`));
  }
}
