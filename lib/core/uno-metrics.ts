import type { Clock } from '../contract/clock.js';
import type { JobCounts } from '../contract/job.js';
import type { JobStorage } from '../contract/job-storage.js';
import { METRIC_RESOLUTION_MS, type ErrorPattern, type ErrorPatternFilter, type MetricPoint, type MetricResolution } from '../contract/monitoring.js';
import { METRIC } from './monitor-recorder.js';
import { percentiles, type Percentiles } from './metric-histogram.js';
import type { WorkerInstance, WorkerRegistry } from './worker-registry.js';

/** The three windows rates are given over, in minutes. */
export const RATE_WINDOWS = [1, 5, 15] as const;

/** Jobs per window (or per second of it, in `rates`), by what happened to them. */
export interface Rates {
  enqueued: number;
  completed: number;
  /** Attempts that failed for good. */
  failed: number;
  /** Attempts that failed and will run again. */
  retried: number;
  /** Jobs whose worker died while running them. */
  stalled: number;
}

/** Slots and busy slots of live instances. */
export interface Utilisation {
  busy: number;
  slots: number;
  /** busy / slots, or null with no slot. */
  ratio: number | null;
}

/** Cluster-wide figures of one queue, one task, or everything. */
export interface MetricsSummary {
  queue: string | null;
  task: string | null;
  /**
   * Jobs by state in the store, of the queue, the task (with both filters, the task's jobs in that queue) or
   * everything; null for a task on a store that cannot count per task (`countsByTask` answers null).
   */
  counts: JobCounts | null;
  /**
   * Jobs counted in the last 1, 5 and 15 minutes (keys `1m`, `5m`, `15m`). A window of n minutes is the current
   * minute bucket (from its start to now) plus the n - 1 before it.
   */
  totals: Record<'1m' | '5m' | '15m', Rates>;
  /** `totals` per second of each window (the window's length counted to now, at least 1 s). */
  rates: Record<'1m' | '5m' | '15m', Rates>;
  /** failed / (completed + failed) over each window; null with nothing finished. Retries are not failures here. */
  failureRate: Record<'1m' | '5m' | '15m', number | null>;
  /** Attempt run time over the last 15 minutes in ms (every outcome); null with no attempt. */
  processingMs: (Percentiles & { mean: number }) | null;
  /** Wait from due to started over the last 15 minutes in ms; null with no start. */
  waitMs: Percentiles | null;
  /** Age in ms of the longest-waiting ready job (of the queue, or of all known queues); null with none waiting. */
  oldestWaitMs: number | null;
  /** Slots of live instances serving the queue (all queues without a queue filter). */
  utilisation: Utilisation;
}

/** How many worker instances a queue needs, for external autoscalers (see {@link UnoMetrics.suggestedInstances}). */
export interface InstanceSuggestion {
  queue: string;
  /** Instances needed to keep up with arrivals and work the backlog off within `drainMs`. */
  instances: number;
  /** Live instances serving the queue now. */
  live: number;
  /** Jobs per second to handle: the 5-minute enqueue rate plus the backlog over `drainMs`. */
  demandPerSecond: number;
  /** Jobs per second one instance can run (its slots over the mean run time); null before any job ran. */
  capacityPerInstance: number | null;
}

/** Totals of one bucket, for charts. */
export interface MetricsSeriesPoint {
  /** Start of the bucket. */
  at: Date;
  enqueued: number;
  completed: number;
  failed: number;
  retried: number;
  stalled: number;
  processingMs: Percentiles | null;
  waitMs: Percentiles | null;
}

/** What {@link UnoMetrics} needs of the engine. */
export interface UnoMetricsDeps {
  storage: JobStorage;
  clock: Clock;
  registry: WorkerRegistry;
  /** Queues this process knows (its tasks' and its worker's): what "all queues" means for the oldest wait. */
  knownQueues: () => string[];
}

const COUNTERS = ['enqueued', 'completed', 'failed', 'retried', 'stalled'] as const;

/**
 * Cluster-wide monitoring read from the store: every instance flushes its job figures into shared minute and hour
 * buckets, registers itself with a heartbeat, and groups its failures into error patterns, so any instance (and the
 * admin API) answers for the whole cluster. Figures lag by up to the flush interval (`monitoring.flushIntervalMs`).
 * Injectable in NestJS apps; `uno.metrics` otherwise.
 *
 * @example
 * const s = await metrics.summary({ queue: 'emails' });
 * console.log(s.rates['5m'].completed, s.failureRate['15m'], s.processingMs?.p95, s.oldestWaitMs);
 */
export class UnoMetrics {
  constructor(private readonly deps: UnoMetricsDeps) {}

  /** Figures of one queue, one task, or the whole cluster (no filter). */
  async summary(filter: { queue?: string; task?: string } = {}): Promise<MetricsSummary> {
    const { storage, clock } = this.deps;
    const now = clock.now();
    const minute = METRIC_RESOLUTION_MS.minute;
    const windowStart = (n: number) => Math.floor(now / minute) * minute - (n - 1) * minute;
    const [points, counts, oldest, workers] = await Promise.all([
      storage.readMetrics({ resolution: 'minute', from: windowStart(15), to: now + 1, ...filter }),
      filter.task === undefined
        ? storage.counts(filter.queue === undefined ? {} : { queue: filter.queue })
        : this.taskCounts([filter.task], filter).then((counts) => counts?.[filter.task!] ?? null),
      filter.task === undefined ? this.oldestWait(filter.queue === undefined ? this.deps.knownQueues() : [filter.queue], now) : Promise.resolve(null),
      this.workers(),
    ]);
    const rates = {} as MetricsSummary['rates'];
    const totalsByWindow = {} as MetricsSummary['totals'];
    const failureRate = {} as MetricsSummary['failureRate'];
    for (const n of RATE_WINDOWS) {
      const from = windowStart(n);
      const totals = sumCounters((points ?? []).filter((p) => p.bucket >= from));
      totalsByWindow[`${n}m`] = totals;
      const seconds = Math.max(1, (now - from) / 1000);
      rates[`${n}m`] = Object.fromEntries(COUNTERS.map((c) => [c, round(totals[c] / seconds)])) as unknown as Rates;
      const finished = totals.completed + totals.failed;
      failureRate[`${n}m`] = finished === 0 ? null : round(totals.failed / finished);
    }
    const duration = histogram(points ?? [], METRIC.duration);
    const processing = percentiles(duration);
    const durationSum = (points ?? []).filter((p) => p.name === METRIC.durationSum).reduce((sum, p) => sum + p.value, 0);
    return {
      queue: filter.queue ?? null,
      task: filter.task ?? null,
      counts,
      totals: totalsByWindow,
      rates,
      failureRate,
      processingMs: processing && { ...processing, mean: round(durationSum / processing.count) },
      waitMs: percentiles(histogram(points ?? [], METRIC.wait)),
      oldestWaitMs: oldest,
      utilisation: utilisation(workers ?? [], filter.queue),
    };
  }

  /**
   * Jobs by state of each of `tasks`, cluster-wide from the store (of one queue with `filter.queue`, else of every
   * queue); a scheduled job already due counts as waiting. The store reads an index or counters it keeps, never every
   * job. `null` when the store cannot count per task (a custom store without `countsByTask`).
   *
   * @example
   * const byTask = await metrics.taskCounts(['mail.send', 'mail.digest']);
   * byTask?.['mail.send'].failed;
   */
  taskCounts(tasks: readonly string[], filter: { queue?: string } = {}): Promise<Record<string, JobCounts> | null> {
    return this.deps.storage.countsByTask(tasks, filter.queue === undefined ? {} : { queue: filter.queue });
  }

  /** Per-bucket totals over [`from`, `to`) for charts, optionally of one queue or task. Minute buckets by default. */
  async series(query: { from: Date; to: Date; resolution?: MetricResolution; queue?: string; task?: string }): Promise<MetricsSeriesPoint[]> {
    const resolution = query.resolution ?? 'minute';
    const points = await this.deps.storage.readMetrics({
      resolution, from: query.from.getTime(), to: query.to.getTime(),
      ...(query.queue === undefined ? {} : { queue: query.queue }),
      ...(query.task === undefined ? {} : { task: query.task }),
    });
    const byBucket = new Map<number, MetricPoint[]>();
    for (const p of points ?? []) {
      let list = byBucket.get(p.bucket);
      if (!list) byBucket.set(p.bucket, (list = []));
      list.push(p);
    }
    return [...byBucket].sort((a, b) => a[0] - b[0]).map(([bucket, list]) => ({
      at: new Date(bucket),
      ...sumCounters(list),
      processingMs: percentiles(histogram(list, METRIC.duration)),
      waitMs: percentiles(histogram(list, METRIC.wait)),
    }));
  }

  /** Every registered instance with its queues, slots and heartbeat; `null` when the store keeps no registry. */
  workers(): Promise<WorkerInstance[] | null> {
    return this.deps.registry.list();
  }

  /**
   * Live instances whose event loop was blocked or whose heartbeats lag past the thresholds
   * (`monitoring.maxLoopDelayMs`, `maxHeartbeatLagMs`); each says why in `health.problems`.
   */
  unhealthyWorkers(): Promise<WorkerInstance[]> {
    return this.deps.registry.unhealthy();
  }

  /**
   * How many worker instances `queue` needs: the jobs arriving per second (the 5-minute enqueue rate) plus the
   * backlog worked off within `drainMs` (default 60 s), over what one instance runs per second (its slots, averaged
   * over the live instances serving the queue, divided by the mean run time of the last 15 minutes). At least 1
   * while jobs wait; before any job ran, the live instances (or 1 with a backlog and none). The
   * `uno_suggested_instances` gauge of `@uno/jobs/prometheus` reports it for KEDA or an HPA (docs/scaling.md).
   */
  async suggestedInstances(queue: string, drainMs = 60_000): Promise<InstanceSuggestion> {
    const summary = await this.summary({ queue });
    const live = (await this.workersOf(queue)).length;
    const waiting = summary.counts?.waiting ?? 0;
    const demandPerSecond = round(summary.rates['5m'].enqueued + waiting / (drainMs / 1000));
    const meanMs = summary.processingMs?.mean ?? null;
    const slots = live === 0 ? 0 : summary.utilisation.slots / live;
    const capacityPerInstance = meanMs === null || slots === 0 ? null : round((slots * 1000) / Math.max(meanMs, 1));
    const floor = waiting > 0 ? 1 : 0;
    const instances = capacityPerInstance === null ? Math.max(live, floor) : Math.max(floor, Math.ceil(demandPerSecond / capacityPerInstance));
    return { queue, instances, live, demandPerSecond, capacityPerInstance };
  }

  /** Live instances serving `queue`. */
  async workersOf(queue: string): Promise<WorkerInstance[]> {
    return ((await this.workers()) ?? []).filter((w) => w.alive && queue in w.queues);
  }

  /** Busy and total slots of live instances, for the cluster and per queue. */
  async utilisation(): Promise<{ cluster: Utilisation; queues: Record<string, Utilisation> }> {
    const workers = (await this.workers()) ?? [];
    const queues = [...new Set(workers.filter((w) => w.alive).flatMap((w) => Object.keys(w.queues)))].sort();
    return { cluster: utilisation(workers), queues: Object.fromEntries(queues.map((q) => [q, utilisation(workers, q)])) };
  }

  /** Failures grouped by error pattern, most recently seen first; `null` when the store keeps none. */
  errorPatterns(filter: ErrorPatternFilter = {}): Promise<ErrorPattern[] | null> {
    return this.deps.storage.listErrorPatterns(filter);
  }

  /** Age in ms of the longest-waiting ready job of `queues`, or null with none (or a store that cannot tell). */
  async oldestWait(queues: readonly string[], now = this.deps.clock.now()): Promise<number | null> {
    if (queues.length === 0) return null;
    const oldest = await this.deps.storage.oldestWaiting(queues);
    const times = Object.values(oldest ?? {}).filter((d): d is Date => d !== null).map((d) => d.getTime());
    return times.length === 0 ? null : Math.max(0, now - Math.min(...times));
  }
}

function sumCounters(points: readonly MetricPoint[]): Record<(typeof COUNTERS)[number], number> {
  const totals = { enqueued: 0, completed: 0, failed: 0, retried: 0, stalled: 0 };
  for (const p of points) if (p.name in totals) totals[p.name as keyof typeof totals] += p.value;
  return totals;
}

function histogram(points: readonly MetricPoint[], name: string): Map<number, number> {
  const slots = new Map<number, number>();
  for (const p of points) if (p.name === name) slots.set(p.slot, (slots.get(p.slot) ?? 0) + p.value);
  return slots;
}

function utilisation(workers: readonly WorkerInstance[], queue?: string): Utilisation {
  let busy = 0;
  let slots = 0;
  for (const w of workers) {
    if (!w.alive) continue;
    if (queue === undefined) {
      busy += w.busy;
      slots += w.concurrency;
    } else if (w.queues[queue]) {
      busy += w.queues[queue]!.busy;
      slots += w.queues[queue]!.concurrency;
    }
  }
  return { busy, slots, ratio: slots === 0 ? null : round(busy / slots) };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;
