import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client';
import { withDeadline } from '../contract/clock.js';
import { ConfigurationError, UnoJobsError, messages } from '../contract/errors.js';
import { JOB_STATES, type JobCounts } from '../contract/job.js';
import { toError } from '../core/events.js';
import type { UnoJobs } from '../core/uno-jobs.js';

/** Options of {@link UnoJobsMetrics}. */
export interface PrometheusMetricsOptions {
  /**
   * The prom-client registry the metrics are registered on. Default: prom-client's global `register`, the one
   * `@willsoto/nestjs-prometheus` serves on `/metrics`, so those apps get the metrics with no wiring.
   */
  registry?: Registry;
  /**
   * Collect the store gauges at scrape time: `uno_queue_jobs{queue,state}` (one `counts()` per queue this instance
   * knows: its tasks' queues and the queues its worker serves), `uno_queue_oldest_job_age_seconds{queue}` and
   * `uno_workers{queue}` (the worker registry) and `uno_suggested_instances{queue}` (worker instances needed, for
   * external autoscalers). `false` leaves the store alone on scrapes. Default `true`.
   */
  queueGauges?: boolean;
  /**
   * With `queueGauges`, also `uno_task_jobs{task,state}`: jobs in the store by state for each task registered in this
   * instance (one `countsByTask` per scrape, read from an index or the store's counters; a store that cannot count
   * per task leaves it empty). Its labels are bounded by the registered tasks. Default `true`.
   */
  taskGauges?: boolean;
  /** Longest wait in ms for those `counts()` at a scrape; a store that does not answer in time is left out of it. Default 3000. */
  timeoutMs?: number;
  /** Buckets of the two histograms, in seconds. Default 5 ms to 5 min ({@link DEFAULT_BUCKETS}). */
  buckets?: number[];
}

/** Default histogram buckets in seconds: 5 ms to 5 min. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Names of every metric Uno Jobs registers. */
export const METRIC_NAMES = {
  enqueued: 'uno_jobs_enqueued_total',
  processed: 'uno_jobs_processed_total',
  duration: 'uno_jobs_duration_seconds',
  wait: 'uno_jobs_wait_seconds',
  stalled: 'uno_jobs_stalled_total',
  active: 'uno_worker_active_jobs',
  concurrency: 'uno_worker_concurrency',
  queueJobs: 'uno_queue_jobs',
  taskJobs: 'uno_task_jobs',
  oldestAge: 'uno_queue_oldest_job_age_seconds',
  workers: 'uno_workers',
  suggested: 'uno_suggested_instances',
} as const;

/** The instances attached to each registry: the scrape-time gauges read them (a registry's metrics exist once). */
const sources = new WeakMap<Registry, Set<UnoJobsMetrics>>();

interface Metrics {
  enqueued: Counter<'queue' | 'task' | 'priority'>;
  processed: Counter<'queue' | 'task' | 'status'>;
  duration: Histogram<'queue' | 'task' | 'status'>;
  wait: Histogram<'queue' | 'task'>;
  stalled: Counter<string>;
}

/**
 * Prometheus metrics of one Uno Jobs instance, fed by its lifecycle events and, at scrape time, by its worker and its
 * store. Labels are queue, task, priority, status and state: never a job id, a payload or an error message.
 * NestJS-free; in a NestJS app use `UnoJobsPrometheusModule` from `@uno/jobs/prometheus`.
 *
 * Building it twice on one registry (two apps in one test, a module built twice) reuses the registered metrics
 * (`registry.getSingleMetric`): counters keep counting and the gauges sum the attached instances.
 *
 * @example
 * const metrics = new UnoJobsMetrics(uno, { registry }).attach();
 * // ... later
 * metrics.detach();
 */
export class UnoJobsMetrics {
  private readonly registry: Registry;
  private readonly metrics: Metrics;
  private offs: (() => void)[] = [];
  /** @internal Read by the scrape-time gauges. */
  readonly queueGauges: boolean;
  /** @internal Read by the scrape-time gauges. */
  readonly taskGauges: boolean;
  /** @internal Read by the scrape-time gauges. */
  readonly timeoutMs: number;

  constructor(
    /** @internal */ readonly uno: UnoJobs,
    options: PrometheusMetricsOptions = {},
  ) {
    this.registry = options.registry ?? globalRegistry;
    this.queueGauges = options.queueGauges ?? true;
    this.taskGauges = options.taskGauges ?? true;
    this.timeoutMs = options.timeoutMs ?? 3000;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) {
      throw new ConfigurationError(messages.invalidOption('timeoutMs', options.timeoutMs, 'a whole number of ms >= 1'));
    }
    const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
    this.metrics = defineMetrics(this.registry, buckets);
  }

  /** Start counting this instance's events and report it in the gauges. Idempotent; returns `this`. */
  attach(): this {
    if (this.offs.length > 0) return this;
    const { events } = this.uno;
    const m = this.metrics;
    this.offs = [
      events.on('job:enqueued', ({ job, created }) => {
        if (created) m.enqueued.inc({ queue: job.queue, task: job.task, priority: job.priority });
      }),
      events.on('job:active', ({ job, waitMs }) => m.wait.observe({ queue: job.queue, task: job.task }, waitMs / 1000)),
      events.on('job:completed', ({ job, durationMs }) => this.processed(job.queue, job.task, 'completed', durationMs)),
      events.on('job:retry', ({ job, durationMs }) => this.processed(job.queue, job.task, 'retry', durationMs)),
      events.on('job:failed', ({ job, durationMs }) => this.processed(job.queue, job.task, 'failed', durationMs)),
      events.on('job:recovered', ({ stalled }) => {
        if (stalled > 0) m.stalled.inc(stalled);
      }),
    ];
    let set = sources.get(this.registry);
    if (!set) sources.set(this.registry, (set = new Set()));
    set.add(this);
    return this;
  }

  /** Stop counting and leave the gauges. The registered metrics stay (counters are cumulative). Idempotent. */
  detach(): void {
    for (const off of this.offs.splice(0)) off();
    sources.get(this.registry)?.delete(this);
  }

  private processed(queue: string, task: string, status: 'completed' | 'retry' | 'failed', durationMs: number): void {
    this.metrics.processed.inc({ queue, task, status });
    this.metrics.duration.observe({ queue, task, status }, durationMs / 1000);
  }

  /** @internal Queues this instance knows: its tasks' queues and the ones its worker serves. */
  queues(): string[] {
    return this.uno.knownQueues();
  }
}

/** Register Uno's metrics on `registry`, or take the ones registered there before. */
function defineMetrics(registry: Registry, buckets: number[]): Metrics {
  const registers = [registry];
  const metrics: Metrics = {
    enqueued: reuse(registry, Counter, METRIC_NAMES.enqueued, ['queue', 'task', 'priority'], () =>
      new Counter({ name: METRIC_NAMES.enqueued, help: 'Jobs inserted (a duplicate jobId returning the existing job is not counted).', labelNames: ['queue', 'task', 'priority'], registers })),
    processed: reuse(registry, Counter, METRIC_NAMES.processed, ['queue', 'task', 'status'], () =>
      new Counter({ name: METRIC_NAMES.processed, help: 'Attempts finished in this process, by outcome: completed, retry (failed, will run again) or failed (for good).', labelNames: ['queue', 'task', 'status'], registers })),
    duration: reuse(registry, Histogram, METRIC_NAMES.duration, ['queue', 'task', 'status'], () =>
      new Histogram({ name: METRIC_NAMES.duration, help: 'Run time of an attempt in seconds, by outcome.', labelNames: ['queue', 'task', 'status'], buckets, registers })),
    wait: reuse(registry, Histogram, METRIC_NAMES.wait, ['queue', 'task'], () =>
      new Histogram({ name: METRIC_NAMES.wait, help: 'Seconds from when a job became due (the later of its creation and runAt) to the start of its attempt.', labelNames: ['queue', 'task'], buckets, registers })),
    stalled: reuse(registry, Counter, METRIC_NAMES.stalled, [], () =>
      new Counter({ name: METRIC_NAMES.stalled, help: 'Jobs whose worker died while running them, recovered by this process when their lease expired.', registers })),
  };
  reuse(registry, Gauge, METRIC_NAMES.active, ['queue'], () =>
    new Gauge({
      name: METRIC_NAMES.active,
      help: 'Jobs running in this process, per queue.',
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const source of sources.get(registry) ?? []) {
          for (const [queue, n] of Object.entries(source.uno.activeCounts())) this.inc({ queue }, n);
        }
      },
    }));
  reuse(registry, Gauge, METRIC_NAMES.concurrency, ['queue'], () =>
    new Gauge({
      name: METRIC_NAMES.concurrency,
      help: 'Configured concurrency (job slots) of this process, per queue; with uno_worker_active_jobs it gives utilisation.',
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const source of sources.get(registry) ?? []) {
          for (const [queue, n] of Object.entries(source.uno.workerStatus().concurrency)) this.inc({ queue }, n);
        }
      },
    }));
  reuse(registry, Gauge, METRIC_NAMES.queueJobs, ['queue', 'state'], () =>
    new Gauge({
      name: METRIC_NAMES.queueJobs,
      help: 'Jobs in the store by queue and state (read from the store at scrape time).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        const rows = await Promise.all(gaugeSources(registry).map(queueCounts));
        this.reset();
        for (const [queue, counts] of rows.flat()) {
          for (const state of JOB_STATES) this.set({ queue, state }, counts[state]);
        }
      },
    }));
  reuse(registry, Gauge, METRIC_NAMES.taskJobs, ['task', 'state'], () =>
    new Gauge({
      name: METRIC_NAMES.taskJobs,
      help: 'Jobs in the store by task and state, for the tasks registered in this instance (read from the store at scrape time).',
      labelNames: ['task', 'state'],
      registers,
      async collect() {
        const rows = await Promise.all(gaugeSources(registry).filter((s) => s.taskGauges).map(taskCounts));
        this.reset();
        for (const [task, counts] of rows.flat()) {
          for (const state of JOB_STATES) this.set({ task, state }, counts[state]);
        }
      },
    }));
  reuse(registry, Gauge, METRIC_NAMES.oldestAge, ['queue'], () =>
    new Gauge({
      name: METRIC_NAMES.oldestAge,
      help: 'Age of the longest-waiting ready job per queue, in seconds (0 when none waits; read from the store at scrape time).',
      labelNames: ['queue'],
      registers,
      async collect() {
        const rows = await Promise.all(gaugeSources(registry).map(oldestAges));
        this.reset();
        for (const [queue, seconds] of rows.flat()) this.set({ queue }, seconds);
      },
    }));
  reuse(registry, Gauge, METRIC_NAMES.workers, ['queue'], () =>
    new Gauge({
      name: METRIC_NAMES.workers,
      help: 'Live worker instances serving each queue, from the worker registry in the store (read at scrape time).',
      labelNames: ['queue'],
      registers,
      async collect() {
        const rows = await Promise.all(gaugeSources(registry).map(liveWorkers));
        this.reset();
        for (const [queue, n] of rows.flat()) this.set({ queue }, n);
      },
    }));
  reuse(registry, Gauge, METRIC_NAMES.suggested, ['queue'], () =>
    new Gauge({
      name: METRIC_NAMES.suggested,
      help: 'Worker instances each queue needs to keep up with arrivals and work its backlog off within a minute (for KEDA or an HPA; read from the store at scrape time).',
      labelNames: ['queue'],
      registers,
      async collect() {
        const rows = await Promise.all(gaugeSources(registry).map(suggestedInstances));
        this.reset();
        for (const [queue, n] of rows.flat()) this.set({ queue }, n);
      },
    }));
  return metrics;
}

/** The attached instances that read the store at scrape time. */
function gaugeSources(registry: Registry): UnoJobsMetrics[] {
  return [...(sources.get(registry) ?? [])].filter((s) => s.queueGauges);
}

/** `read` bounded by the source's timeout; a store that fails or does not answer is reported and left out. */
async function fromStore<T>(source: UnoJobsMetrics, metric: string, read: () => Promise<T[]>): Promise<T[]> {
  const { uno } = source;
  try {
    return await withDeadline(uno.clock, read(), source.timeoutMs, () => new UnoJobsError(messages.healthStoreTimeout(source.timeoutMs)));
  } catch (error) {
    uno.events.emit('worker:error', { error: toError(error), context: `collecting ${metric}` });
    return [];
  }
}

/** Oldest waiting job's age per queue of `source`, in seconds. */
function oldestAges(source: UnoJobsMetrics): Promise<[string, number][]> {
  return fromStore(source, METRIC_NAMES.oldestAge, async () => {
    const queues = source.queues();
    const oldest = (await source.uno.storage.oldestWaiting(queues)) ?? {};
    const now = source.uno.clock.now();
    return queues.map((q): [string, number] => [q, oldest[q] ? Math.max(0, now - oldest[q]!.getTime()) / 1000 : 0]);
  });
}

/** Live instances per queue in the registry. */
function liveWorkers(source: UnoJobsMetrics): Promise<[string, number][]> {
  return fromStore(source, METRIC_NAMES.workers, async () => {
    const counts = new Map<string, number>();
    for (const w of (await source.uno.metrics.workers()) ?? []) {
      if (!w.alive) continue;
      for (const q of Object.keys(w.queues)) counts.set(q, (counts.get(q) ?? 0) + 1);
    }
    return [...counts];
  });
}

/** Worker instances each queue of `source` needs (see `UnoMetrics.suggestedInstances`). */
function suggestedInstances(source: UnoJobsMetrics): Promise<[string, number][]> {
  return fromStore(source, METRIC_NAMES.suggested, () =>
    Promise.all(source.queues().map(async (q): Promise<[string, number]> => [q, (await source.uno.metrics.suggestedInstances(q)).instances])));
}

/** One scrape's counts of `source`'s queues. */
function queueCounts(source: UnoJobsMetrics): Promise<[string, JobCounts][]> {
  return fromStore(source, METRIC_NAMES.queueJobs, async () => {
    const queues = source.queues();
    const counts = await Promise.all(queues.map((queue) => source.uno.storage.counts({ queue })));
    return queues.map((queue, i): [string, JobCounts] => [queue, counts[i]!]);
  });
}

/** One scrape's counts of the tasks registered in `source`. */
function taskCounts(source: UnoJobsMetrics): Promise<[string, JobCounts][]> {
  return fromStore(source, METRIC_NAMES.taskJobs, async () => Object.entries((await source.uno.metrics.taskCounts(source.uno.taskNames())) ?? {}));
}

type MetricClass = typeof Counter | typeof Gauge | typeof Histogram;

/**
 * The metric `name` already on `registry` when it is the same kind with the same labels (a module built twice), else
 * a new one from `create`. A different metric of that name is a configuration error, named.
 */
function reuse<T>(registry: Registry, kind: MetricClass, name: string, labelNames: string[], create: () => T): T {
  const existing = registry.getSingleMetric(name) as unknown as { constructor: unknown; labelNames?: string[] } | undefined;
  if (!existing) return create();
  const labels = existing.labelNames ?? [];
  if (existing.constructor !== kind || labels.join(',') !== labelNames.join(',')) {
    const kindName = (existing.constructor as { name?: string }).name ?? 'another metric';
    throw new ConfigurationError(messages.metricConflict(name, `a ${kindName} with labels [${labels.join(', ')}]`));
  }
  return existing as T;
}
