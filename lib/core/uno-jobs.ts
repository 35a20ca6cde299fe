import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../contract/clock.js';
import { ConfigurationError, UnoJobsError, messages } from '../contract/errors.js';
import { JobEvents } from './events.js';
import { JobQueue } from './job-queue.js';
import { resolveLimits, type JobLimits, type ResolvedLimits } from './limits.js';
import { Maintenance } from './maintenance.js';
import { OutcomeWriter } from './outcome-writer.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './payload.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { EventSubscriptions, type SubscriptionOptions } from './subscriptions.js';
import { TaskRegistry, validateConcurrency, validateFlow, validateQueueName, type TaskDefinition, type TaskHandler, type TaskOptions } from './task-registry.js';
import type { TaskHandlerOptions, TaskRef } from './task-ref.js';
import type { BatchHandler } from './batcher.js';
import { MAX_DELAY_MS } from './limits.js';
import { DEFAULT_PREFETCH_BYTES } from './prefetch.js';
import { WorkerPool, type QueueWorkerConfig, type WorkerPoolConfig } from './worker-pool.js';
import { MonitorRecorder } from './monitor-recorder.js';
import { UnoMetrics } from './uno-metrics.js';
import { UnoWorkers } from './uno-workers.js';
import { WorkerRegistry, type WorkerQueueInfo } from './worker-registry.js';
import type { ClaimFlow, FlowLimits, JobStorage, PauseTarget, RateLimit, RetentionPolicy } from '../contract/job-storage.js';
import { isStoredName } from '../contract/job.js';
import type { Instrumentation } from './instrumentation.js';
import { UnoAlerts, type AlertsOptions } from './alerts.js';
import { Autoscaler, type AutoscaleOptions, type AutoscaleReason, type ResolvedAutoscale } from './autoscaler.js';

/** Worker settings of this process. */
export interface WorkerOptions {
  /** Run jobs in this process. `false` makes a producer-only instance. Default `true`. */
  enabled?: boolean;
  /**
   * Identifies this worker in leases and the admin API: 1 to 200 characters, no control character or lone surrogate,
   * one per process (an instance that starts while another live one uses its id emits a `worker:error`).
   * Default `<hostname>:<pid>:<random>`.
   */
  id?: string;
  /** Queues this process serves. Default: every queue a registered task uses. */
  queues?: string[];
  /** Jobs running at once per queue, unless `queues` options say otherwise. Default 10. */
  concurrency?: number;
  /** Extra slots per queue that only `critical` jobs may use when all others are busy. Default 1. */
  criticalSlots?: number;
  /** Aging: jobs ready for longer than this many ms are fetched one priority level higher. Default: off. */
  agingMs?: number;
  /**
   * Most jobs per queue claimed ahead of free slots, waiting in this process with their lease held and renewed.
   * The buffer adapts below this cap to about two claim round trips of work (2 × concurrency × claim time / handler
   * time): short jobs are fetched in large batches, slow ones hardly ahead at all. `0` claims only for free slots.
   * Default `max(500, 4 × concurrency)`; 0 on a store that is not shared between processes (the memory store), where
   * a claim is a function call.
   */
  prefetch?: number;
  /**
   * Most payload bytes (as UTF-8 JSON) per queue held in the prefetch buffer: the buffer claims fewer jobs when
   * payloads are large, and hands back at once a claimed job that does not fit. Default 64 MiB.
   */
  prefetchBytes?: number;
  /** Lease length in ms; a job whose worker stops renewing it is recovered after this long. Default 30 000. */
  leaseMs?: number;
  /** Lease renewal period in ms. Default leaseMs / 3. */
  heartbeatMs?: number;
  /** Longest idle wait before claiming again without a wake-up. Default 1000 (5000 on stores with push). */
  pollIntervalMs?: number;
  /** At shutdown, how long running jobs may take to finish before they are handed back. Default 10 000. */
  shutdownGraceMs?: number;
  /**
   * Poison-pill guard for tasks that do not set their own: how many times a job's worker may die while running its
   * handler before the job fails with `JobStalledError`. A dead worker never uses up an attempt. Default 1.
   */
  maxStalls?: number;
  /**
   * Move each queue's concurrency between `min` and `max` from its backlog, handler time and the event-loop delay
   * (see docs/scaling.md); `intervalMs` (default 5000) is how often it decides. A queue's own `autoscale` wins, and
   * `false` there keeps that queue fixed. Default: off (fixed concurrency).
   */
  autoscale?: AutoscaleOptions & { intervalMs?: number };
}

/** Per-queue worker settings. */
export interface QueueOptions {
  /** Jobs running at once (with autoscaling: where it starts, within the bounds; default `min`). */
  concurrency?: number;
  /** Autoscaling of this queue, over `worker.autoscale`; `false` turns it off for this queue. */
  autoscale?: AutoscaleOptions | false;
  criticalSlots?: number;
  agingMs?: number;
  prefetch?: number;
  /** See {@link WorkerOptions.prefetchBytes}. */
  prefetchBytes?: number;
  /**
   * Most jobs of this queue active at once in the whole cluster, kept by the store in every claim. Workers of such a
   * queue claim only for free slots (no prefetch). See docs/flow-control.md. Default: unlimited.
   */
  globalConcurrency?: number;
  /** Most jobs of this queue started in any window of `per` ms across the cluster (no prefetch either). */
  rateLimit?: RateLimit;
  /**
   * Most jobs of one group (see `EnqueueOptions.group`) active at once in the whole cluster; a task's own
   * `groupConcurrency` wins for its jobs. No prefetch either. See docs/flow-control.md#groups. Default: unlimited.
   */
  groupConcurrency?: number;
}

/** Retention of finished jobs. */
export interface RetentionOptions {
  /**
   * Completed jobs: kept 24 h and at most 10 000 by default. `maxCount: 0` (or `maxAgeMs: 0`) deletes each job as it
   * completes, which is also the fastest completion (see `removeOnComplete` of a task).
   */
  completed?: { maxAgeMs?: number; maxCount?: number };
  /** Failed and cancelled jobs: kept 7 days and at most 100 000 by default. */
  failed?: { maxAgeMs?: number; maxCount?: number };
}

/**
 * Cluster-wide monitoring kept in the store (see docs/monitoring.md): job figures per minute and hour, error patterns
 * and the worker registry. On by default; a store that keeps none of it (a custom store without the optional
 * methods) simply reports nothing.
 */
export interface MonitoringOptions {
  /** Record figures, error patterns and this instance in the store. Default `true`. */
  enabled?: boolean;
  /** How often this process adds its gathered figures and error patterns to the store, in ms. Default 5000. */
  flushIntervalMs?: number;
  /** Period of this instance's registry heartbeat, in ms. Default 10 000. */
  heartbeatMs?: number;
  /** An instance whose heartbeat is older than this is shown as gone (not alive), in ms. Default 3 × heartbeatMs. */
  goneAfterMs?: number;
  /** A gone instance is removed from the registry after this long, in ms. Default 1 h. */
  removeAfterMs?: number;
  /** How long minute buckets are kept, in ms. Default 24 h. */
  keepMinutesMs?: number;
  /** How long hour buckets are kept, in ms. Default 7 days. */
  keepHoursMs?: number;
  /** Error patterns kept per task (the ones seen longest ago go first). Default 100. */
  maxErrorPatternsPerTask?: number;
  /** An error pattern not seen for this long is deleted, in ms. Default 7 days. */
  keepErrorPatternsMs?: number;
  /**
   * An instance whose event loop was held longer than this in its last heartbeat period (the longest delay measured
   * by `perf_hooks.monitorEventLoopDelay`) is shown as unhealthy, in ms. Default 1000.
   */
  maxLoopDelayMs?: number;
  /** An instance whose registry heartbeats are later than this is shown as unhealthy, in ms. Default `heartbeatMs`. */
  maxHeartbeatLagMs?: number;
}

/** Options of the engine (the NestJS module passes its own options through). */
export interface UnoJobsOptions {
  storage: JobStorage;
  /** Time source (tests pass a `ManualClock`). Default: the system clock. */
  clock?: Clock;
  worker?: WorkerOptions;
  /** Settings per queue name. */
  queues?: Record<string, QueueOptions>;
  /** Overrides of `@Task` options by task name (e.g. from ConfigService): they win over the decorator. */
  tasks?: Record<string, TaskOptions>;
  retention?: RetentionOptions;
  /** Largest payload as UTF-8 JSON. Default 1 MiB. */
  maxPayloadBytes?: number;
  /**
   * Size limits of what running jobs store: results, progress, error messages and stacks, error history, logs.
   * Defaults in {@link JobLimits}; each is a whole number >= 1, checked at construction.
   */
  limits?: JobLimits;
  /** Period of promote/recover housekeeping in ms. Default 1000. */
  maintenanceIntervalMs?: number;
  /** Cron/interval scheduler of this instance (by default it fires where the worker runs). */
  scheduler?: SchedulerOptions;
  /** Stored event subscriptions: how long `emit` caches another process's subscribers (see docs/events.md). */
  subscriptions?: SubscriptionOptions;
  /** Cluster-wide monitoring records in the store. */
  monitoring?: MonitoringOptions;
  /**
   * A tracing hook: adds headers to the jobs of every insert and runs every attempt of this process in its own
   * scope, told of the outcome (see {@link Instrumentation}; `UnoJobsTracing` from `@uno/jobs/opentelemetry` is one).
   * Default: none, and no cost.
   */
  instrumentation?: Instrumentation;
  /**
   * Alert rules evaluated once per cluster every `intervalMs`, sent to `@OnAlert()` methods (`alerts.on`) and webhooks
   * (see docs/alerts.md). Default: none.
   */
  alerts?: AlertsOptions;
}

const DAY = 24 * 60 * 60 * 1000;

/**
 * Most finished jobs one prune call deletes. Stores split a call into short steps (a few hundred rows per
 * transaction or script); a prune round repeats calls until the store is within its limits.
 */
const PRUNE_BATCH = 10_000;

/** Resolve retention defaults: bounded by default, so finished jobs never fill the store. */
export function resolveRetention(options: RetentionOptions = {}): RetentionPolicy {
  return {
    completed: { maxAgeMs: options.completed?.maxAgeMs ?? DAY, maxCount: options.completed?.maxCount ?? 10_000 },
    failed: { maxAgeMs: options.failed?.maxAgeMs ?? 7 * DAY, maxCount: options.failed?.maxCount ?? 100_000 },
  };
}

type Phase = 'new' | 'started' | 'stopping' | 'stopped';

/** What {@link UnoJobs.workerStatus} reports about this process's worker. */
export interface WorkerStatus {
  /** The `worker.enabled` option: false on a producer-only instance. */
  enabled: boolean;
  /** Started and not stopping: its claim loops are running. */
  running: boolean;
  /** Where the engine is in its life: `new` (not started), `started`, `stopping` or `stopped`. */
  phase: 'new' | 'started' | 'stopping' | 'stopped';
  /** Configured concurrency per queue this worker serves (empty until it starts). */
  concurrency: Record<string, number>;
}

/**
 * One Uno Jobs instance: the task registry, the producer queue, the worker pool and housekeeping over one store.
 * NestJS-free: the module wires it, and tests or scripts can use it directly.
 *
 * @example
 * const uno = new UnoJobs({ storage: new MemoryJobStorage() });
 * const SendEmail = defineTask<{ to: string }>('email.send', { attempts: 3 });
 * uno.register(SendEmail, async (payload) => send(payload.to));
 * await uno.start();
 * await uno.queue.enqueue(SendEmail, { to: 'a@b.c' });
 * await uno.stop();
 */
export class UnoJobs {
  readonly events = new JobEvents();
  /** The tasks registered here. Private: reading goes through `task()` and `taskNames()`, registering through `register()`. */
  private readonly registry: TaskRegistry;
  readonly queue: JobQueue;
  /** Cron and interval schedules, fired once per tick across the cluster. */
  readonly scheduler: Scheduler;
  readonly storage: JobStorage;
  readonly clock: Clock;
  readonly workerId: string;
  /** Event subscriptions of every process on the store, saved by workers at start and read by `emit`. */
  readonly subscriptions: EventSubscriptions;
  private pool: WorkerPool | null = null;
  private concurrency: Record<string, number> = {};
  private maintenance: Maintenance | null = null;
  private autoscaler: Autoscaler | null = null;
  private phase: Phase = 'new';
  private initialised: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private readonly limits: ResolvedLimits;
  private readonly timing: WorkerPoolConfig & { maintenanceIntervalMs: number };
  /** Cluster-wide figures, worker registry and error patterns, read from the store. */
  readonly metrics: UnoMetrics;
  /** This process's worker at runtime: concurrency per queue, changed without a restart. */
  readonly workers: UnoWorkers = new UnoWorkers(this);
  /** Alerts of the cluster: open ones, history, listeners (see docs/alerts.md). */
  readonly alerts: UnoAlerts;
  private readonly registryEntry: WorkerRegistry;
  private readonly recorder: MonitorRecorder | null;

  constructor(private readonly options: UnoJobsOptions) {
    // Checked first: without a store every later step fails with a TypeError that names none of this.
    if (!isStorage(options?.storage)) throw new ConfigurationError(messages.storageMissing(describeValue(options?.storage)));
    this.limits = resolveLimits(options.limits);
    this.storage = options.storage;
    this.clock = options.clock ?? systemClock;
    this.registry = new TaskRegistry(options.tasks);
    this.workerId = options.worker?.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    checkWorkerId(this.workerId);
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    wholeNumber('maxPayloadBytes', maxPayloadBytes, 'a whole number of bytes >= 1', 1);
    this.timing = resolveTiming(options, this.storage.capabilities.push);
    const { instrumentation } = options;
    if (instrumentation !== undefined && !isInstrumentation(instrumentation)) {
      throw new ConfigurationError(messages.invalidOption('instrumentation', instrumentation, 'an object whose enqueue and attempt, where present, are methods'));
    }
    this.subscriptions = new EventSubscriptions({ storage: this.storage, registry: this.registry, clock: this.clock }, options.subscriptions);
    const monitoring = resolveMonitoring(options.monitoring);
    this.recorder = monitoring.enabled ? new MonitorRecorder(this.storage, this.clock, this.events, monitoring) : null;
    this.queue = new JobQueue({
      storage: this.storage,
      registry: this.registry,
      subscriptions: this.subscriptions,
      events: this.events,
      clock: this.clock,
      maxPayloadBytes,
      instrumentation,
      tally: this.recorder ?? undefined,
      cancelling: (id) => this.pool?.cancellations.cancelling(id) ?? (() => {}),
      paused: (target) => void this.pool?.paused(target),
      ready: () => {
        if (this.phase === 'stopped') throw new UnoJobsError(messages.engineStopped());
        return this.init();
      },
    });
    this.scheduler = new Scheduler(
      { storage: this.storage, registry: this.registry, queue: this.queue, clock: this.clock, events: this.events, ready: () => this.init() },
      options.scheduler,
    );
    this.registryEntry = new WorkerRegistry(this.storage, this.clock, this.events, this.workerId, () => this.registryQueues(), monitoring);
    this.metrics = new UnoMetrics({
      storage: this.storage, clock: this.clock, registry: this.registryEntry,
      knownQueues: () => this.knownQueues(),
    });
    this.alerts = new UnoAlerts({
      storage: this.storage, clock: this.clock, events: this.events, metrics: this.metrics, scheduler: this.scheduler,
      knownQueues: () => this.knownQueues(), taskTimeout: (task) => this.registry.get(task)?.timeout,
    }, options.alerts);
  }

  /** Queues this process knows: its tasks' and its worker's. */
  knownQueues(): string[] {
    return [...new Set([...this.registry.queues(), ...Object.keys(this.concurrency)])].sort();
  }

  /**
   * Register the handler of a task declared with `defineTask`: it must take the reference's payload type and return
   * its result type. `options` add worker-side settings to the reference's (the NestJS explorer calls this for
   * every `@Task(ref)`).
   */
  register<P, R>(task: TaskRef<P, R>, handler: TaskHandler<P, R>, options?: TaskHandlerOptions, owner?: string): void;
  /**
   * Register the batch handler of a task declared with `defineTask` (`batch` in `options` or the reference's): it gets
   * up to `batch.size` items of the reference's payload type and returns one result (or `Error`) per item.
   */
  register<P, R>(task: TaskRef<P, R>, handler: BatchHandler<P, R>, options: TaskHandlerOptions, owner?: string): void;
  /**
   * Register a handler by name (the NestJS explorer calls this for every `@Task(name)`); with `batch` in `options`, a
   * {@link BatchHandler}.
   */
  register(name: string, handler: TaskHandler, options?: TaskOptions, owner?: string): void;
  register(task: string | TaskRef<any, any>, handler: TaskHandler | BatchHandler, options?: TaskOptions, owner?: string): void {
    this.registry.register(task, handler as TaskHandler, options, owner);
  }

  /**
   * Tasks whose jobs this worker claimed without a handler for them, per queue: it left those jobs waiting (no
   * attempt used) and no longer claims them. A name here is a typo in a producer or a worker not yet deployed.
   */
  unservedTasks(): Record<string, string[]> {
    return this.pool?.unservedTasks() ?? {};
  }

  /** The task registered here under `name`, with its options resolved (read-only), or undefined. */
  task(name: string): Readonly<TaskDefinition> | undefined {
    return this.registry.get(name);
  }

  /** Names of the tasks registered in this process, sorted. */
  taskNames(): string[] {
    return this.registry.names();
  }

  /**
   * Connect the store. Idempotent; `start` calls it too. A failed attempt (the store was unreachable) is not
   * remembered: the next call tries again.
   */
  init(): Promise<void> {
    this.initialised ??= this.storage.init().catch((error: unknown) => {
      this.initialised = null;
      throw error;
    });
    return this.initialised;
  }

  /** Connect the store, then start workers and housekeeping (unless the worker is disabled). */
  async start(): Promise<void> {
    if (this.phase !== 'new') return;
    this.phase = 'started';
    await this.init();
    const worker = this.options.worker ?? {};
    await this.alerts.start();
    this.recorder?.start();
    // Decorator schedules are stored on every instance; the loop runs where jobs run unless configured otherwise.
    await this.scheduler.start(this.options.scheduler?.enabled ?? worker.enabled !== false);
    if (worker.enabled === false) return this.joinRegistry();
    const queues = this.queueConfigs(worker);
    // A worker stores the subscriptions of the tasks it runs, so emits from any process reach them (docs/events.md).
    await this.subscriptions.save(queues.map((q) => q.queue));
    const autoscaled = new Map(queues.flatMap((q) => (q.autoscale ? [[q.queue, q.autoscale] as const] : [])));
    this.concurrency = Object.fromEntries(queues.map((q) => [q.queue, q.concurrency]));
    const maxStalls = worker.maxStalls ?? 1;
    wholeNumber('worker.maxStalls', maxStalls, 'a whole number >= 0');
    const outcomes = new OutcomeWriter(this.storage);
    const retention = resolveRetention(this.options.retention);
    const { leaseMs, heartbeatMs, pollIntervalMs, maintenanceIntervalMs } = this.timing;
    this.pool = new WorkerPool(
      queues,
      { leaseMs, heartbeatMs, pollIntervalMs },
      { storage: this.storage, registry: this.registry, clock: this.clock, events: this.events, outcomes, workerId: this.workerId,
        removeCompleted: retention.completed.maxCount === 0 || retention.completed.maxAgeMs === 0, maxStalls,
        limits: this.limits, instrumentation: this.options.instrumentation, tally: this.recorder ?? undefined,
        finished: (kind) => this.maintenance?.finishedHere(kind) },
    );
    this.maintenance = new Maintenance(this.storage, this.clock, this.events, {
      intervalMs: maintenanceIntervalMs,
      // Once a minute, or at the housekeeping period when that is longer (a slower housekeeping asked for fewer rounds).
      pruneIntervalMs: Math.max(60_000, maintenanceIntervalMs),
      retention,
      pruneBatch: PRUNE_BATCH,
      errorHistory: this.limits.errorHistory,
    });
    this.autoscaler = new Autoscaler(
      { storage: this.storage, clock: this.clock, events: this.events, active: () => this.activeCounts(), concurrency: (queue) => this.concurrency[queue]!,
        apply: (queue, n, reason) => this.applyConcurrency(queue, n, reason) },
      autoscaled,
      worker.autoscale?.intervalMs ?? 5000,
    );
    // Registered before the first claim: the instance is listed by the time it holds a job, and its first registry
    // write never competes with its first claims for a store connection.
    await this.joinRegistry();
    this.pool.start();
    this.maintenance.start();
    this.autoscaler.start();
  }

  /**
   * Run up to `n` jobs of `queue` at once in this process from now on, without a restart: more slots fill at once;
   * with fewer, running jobs finish and no new one starts until the queue is below `n`. The registry shows it at the
   * next heartbeat. On an autoscaled queue `n` must lie within its bounds, and autoscaling goes on from there.
   *
   * @example
   * uno.setConcurrency('emails', 20);
   */
  setConcurrency(queue: string, n: number): void {
    if (!this.pool || this.phase !== 'started' || !(queue in this.concurrency)) {
      throw new ConfigurationError(messages.queueNotServed(queue, Object.keys(this.concurrency), this.phase === 'started' && this.pool !== null));
    }
    validateConcurrency(`queue "${queue}"`, n);
    const bounds = this.autoscaler?.bounds(queue);
    if (bounds && (n < bounds.min || n > bounds.max)) throw new ConfigurationError(messages.concurrencyOutsideAutoscale(queue, n, bounds.min, bounds.max));
    this.applyConcurrency(queue, n, 'manual');
  }

  /** Autoscaling bounds per autoscaled queue of this worker (empty without autoscaling). */
  autoscaled(): Record<string, { min: number; max: number }> {
    return Object.fromEntries([...(this.autoscaler?.queues ?? [])].map(([queue, { min, max }]) => [queue, { min, max }]));
  }

  private applyConcurrency(queue: string, n: number, reason: AutoscaleReason | 'manual'): void {
    const from = this.concurrency[queue]!;
    this.concurrency[queue] = n;
    this.pool?.setConcurrency(queue, n);
    if (from !== n) this.events.emit('worker:concurrency', { queue, from, to: n, reason });
  }

  /** Register this instance (with its queues, none on a producer) in the store's worker registry. */
  private async joinRegistry(): Promise<void> {
    if (this.recorder) await this.registryEntry.start();
  }

  /**
   * Stop claims of a queue, or of one task (`{ queue, task }`), in every process on the store until {@link resume}:
   * running jobs finish, jobs claimed ahead are handed back. Same as `queue.pause`.
   */
  pause(target: string | PauseTarget): Promise<void> {
    return this.queue.pause(target);
  }

  /** Resume claims of a paused queue or task and wake its workers everywhere; false when it was not paused. */
  resume(target: string | PauseTarget): Promise<boolean> {
    return this.queue.resume(target);
  }

  /** Run one housekeeping round now: promote due jobs, recover expired leases, prune. */
  async runMaintenance(): Promise<void> {
    await this.maintenance?.tick(true);
  }

  /** Jobs running in this process, per queue. */
  activeCounts(): Record<string, number> {
    return this.pool?.activeCounts() ?? {};
  }

  /** This process's worker: enabled or not, running or not, and its concurrency per queue (for health and metrics). */
  workerStatus(): WorkerStatus {
    return { enabled: this.options.worker?.enabled !== false, running: this.phase === 'started' && this.pool !== null, phase: this.phase, concurrency: { ...this.concurrency } };
  }

  /**
   * Handlers still running in this process after their attempt ended without them (they ignore `ctx.signal` past a
   * timeout, cancel or lease loss), per queue. Each keeps its slot until it returns; see the `job:overdue` event.
   */
  overdueCounts(): Record<string, number> {
    return this.pool?.overdueCounts() ?? {};
  }

  /**
   * Graceful stop: stop claiming, give running jobs `graceMs` (default: `worker.shutdownGraceMs`) to finish, hand
   * back the rest, stop housekeeping. The store stays open (see `close`). Idempotent.
   */
  stop(graceMs?: number): Promise<void> {
    this.stopping ??= (async () => {
      this.phase = 'stopping';
      await this.scheduler.stop();
      await this.alerts.stop();
      this.autoscaler?.stop();
      await this.pool?.stop(graceMs ?? this.options.worker?.shutdownGraceMs ?? 10_000);
      await this.maintenance?.stop();
      if (this.recorder) await Promise.all([this.recorder.stop(), this.registryEntry.stop()]);
      this.phase = 'stopped';
    })();
    return this.stopping;
  }

  /** This instance's queues as the registry shows them: slots and busy slots. */
  private registryQueues(): Record<string, WorkerQueueInfo> {
    const active = this.activeCounts();
    return Object.fromEntries(Object.entries(this.concurrency).map(([queue, concurrency]) => [queue, { concurrency, busy: active[queue] ?? 0 }]));
  }

  private queueConfigs(worker: WorkerOptions): (QueueWorkerConfig & { autoscale: ResolvedAutoscale | null })[] {
    const names = worker.queues ?? this.registry.queues();
    return names.map((queue) => {
      validateQueueName(queue);
      const q = this.options.queues?.[queue] ?? {};
      const autoscale = resolveAutoscale(queue, q.autoscale === false ? undefined : { ...worker.autoscale, ...q.autoscale });
      const configured = q.concurrency ?? worker.concurrency ?? autoscale?.min ?? 10;
      // Checked before an autoscaled queue clamps it to its bounds: a bad value is an error, not the minimum. (A bad
      // worker.concurrency already failed when the engine was built.)
      validateConcurrency(q.concurrency !== undefined ? `queue "${queue}" (queues.${queue}.concurrency)` : `queue "${queue}"`, configured);
      const concurrency = autoscale ? Math.min(autoscale.max, Math.max(autoscale.min, configured)) : configured;
      const criticalSlots = q.criticalSlots ?? worker.criticalSlots ?? 1;
      wholeNumber(`queues.${queue}.criticalSlots`, criticalSlots, 'a whole number >= 0');
      const taskConcurrency = new Map<string, number>();
      for (const task of this.registry.all()) {
        if (task.queue === queue && task.concurrency !== undefined) taskConcurrency.set(task.name, task.concurrency);
      }
      const flow = flowOf(queue, q, this.registry.all());
      const grouped = [flow?.queue, ...Object.values(flow?.tasks ?? {})].some((l) => l?.groupConcurrency !== undefined);
      if (grouped && !this.storage.capabilities.groups) throw new ConfigurationError(messages.groupsUnsupported());
      // An in-process store answers a claim with a function call: nothing to amortise, so no prefetch by default. A
      // queue under a cluster-wide limit claims only for free slots: jobs held in one buffer would idle the others.
      const prefetch = flow?.queue ? 0 : q.prefetch ?? worker.prefetch ?? (this.storage.capabilities.distributed ? Math.max(500, 4 * concurrency) : 0);
      wholeNumber(`queues.${queue}.prefetch`, prefetch, 'a whole number >= 0 (0 turns prefetching off)');
      const prefetchBytes = q.prefetchBytes ?? worker.prefetchBytes ?? DEFAULT_PREFETCH_BYTES;
      wholeNumber(`queues.${queue}.prefetchBytes`, prefetchBytes, 'a whole number of bytes >= 1', 1);
      if (q.agingMs !== undefined) wholeMs(`queues.${queue}.agingMs`, q.agingMs);
      return { queue, concurrency, criticalSlots, agingMs: q.agingMs ?? worker.agingMs, taskConcurrency, prefetch, prefetchBytes, flow, autoscale };
    });
  }
}

/** The cluster-wide limits of a queue and of its tasks, checked; undefined when none is set. */
function flowOf(queue: string, options: QueueOptions, tasks: readonly TaskDefinition[]): ClaimFlow | undefined {
  validateFlow(`queue "${queue}"`, options);
  const limits = (l: { globalConcurrency?: number; rateLimit?: RateLimit; groupConcurrency?: number }): FlowLimits | undefined =>
    l.globalConcurrency === undefined && l.rateLimit === undefined && l.groupConcurrency === undefined
      ? undefined
      : { concurrency: l.globalConcurrency, rate: l.rateLimit, ...(l.groupConcurrency !== undefined && { groupConcurrency: l.groupConcurrency }) };
  const taskLimits = tasks.filter((t) => t.queue === queue && limits(t)).map((t) => [t.name, limits(t)!] as const);
  const own = limits(options);
  if (!own && taskLimits.length === 0) return undefined;
  return { ...(own ? { queue: own } : {}), ...(taskLimits.length ? { tasks: Object.fromEntries(taskLimits) } : {}) };
}

/** An object whose `enqueue` and `attempt` are functions where present. */
/** A job store by its shape (duck-typed, so a store from another copy of the package passes too). */
function isStorage(value: unknown): value is JobStorage {
  if (typeof value !== 'object' || value === null) return false;
  const store = value as Partial<Record<keyof JobStorage, unknown>>;
  return typeof store.capabilities === 'object' && store.capabilities !== null && typeof store.init === 'function' &&
    typeof store.insert === 'function' && typeof store.claim === 'function';
}

/** What a wrong option value is, for an error message (never the value itself: it may be large or circular). */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return `${typeof value} ${JSON.stringify(value)}`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `an instance of ${name}` : 'a plain object';
}

function isInstrumentation(value: unknown): value is Instrumentation {
  if (typeof value !== 'object' || value === null) return false;
  const { enqueue, attempt } = value as Record<string, unknown>;
  return (enqueue === undefined || typeof enqueue === 'function') && (attempt === undefined || typeof attempt === 'function');
}

/**
 * The worker id is stored with every job the worker holds and joined into Redis hand-off messages by newlines:
 * refuse what would fail every claim or garble a message, before anything starts.
 */
function checkWorkerId(id: unknown): void {
  // eslint-disable-next-line no-control-regex
  if (!isStoredName(id) || /[\u0000-\u001f\u007f]/.test(id)) {
    throw new ConfigurationError(messages.invalidOption('worker.id', id, 'a string of 1 to 200 characters with no control character or lone surrogate (it is stored with every job the worker holds)'));
  }
}

/** Refuse a setting that is not a whole number from `min` to `max`, naming it and what it takes. */
function wholeNumber(name: string, value: unknown, expected: string, min = 0, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new ConfigurationError(messages.invalidOption(name, value, expected));
  }
}

/** A queue's autoscaling settings with their defaults, checked; null when it has none (no `min`/`max` given). */
function resolveAutoscale(queue: string, options: Partial<AutoscaleOptions> | undefined): ResolvedAutoscale | null {
  if (!options || (options.min === undefined && options.max === undefined)) return null;
  const name = (field: string) => `autoscale.${field} (queue "${queue}")`;
  const { min, max } = options;
  wholeNumber(name('min'), min, 'a whole number >= 1', 1);
  wholeNumber(name('max'), max, `a whole number >= min (${min})`, min!);
  const resolved = { min: min!, max: max!, maxLoopDelayMs: options.maxLoopDelayMs ?? 100, targetDrainMs: options.targetDrainMs ?? 30_000, downAfter: options.downAfter ?? 3 };
  wholeNumber(name('maxLoopDelayMs'), resolved.maxLoopDelayMs, 'a whole number of ms >= 1', 1);
  wholeNumber(name('targetDrainMs'), resolved.targetDrainMs, 'a whole number of ms >= 1', 1);
  wholeNumber(name('downAfter'), resolved.downAfter, 'a whole number >= 1', 1);
  return resolved;
}

/** Monitoring settings with their defaults, checked at construction. */
function resolveMonitoring(options: MonitoringOptions = {}) {
  const ms = (name: string, value: number, min = 1) => wholeNumber(`monitoring.${name}`, value, `a whole number of ms from ${min} to ${MAX_DELAY_MS}`, min, MAX_DELAY_MS);
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const resolved = {
    enabled: options.enabled ?? true,
    flushIntervalMs: options.flushIntervalMs ?? 5000,
    heartbeatMs,
    goneAfterMs: options.goneAfterMs ?? 3 * heartbeatMs,
    maxLoopDelayMs: options.maxLoopDelayMs ?? 1000,
    maxHeartbeatLagMs: options.maxHeartbeatLagMs ?? heartbeatMs,
    maxPatternsPerTask: options.maxErrorPatternsPerTask ?? 100,
    patternSamples: 5,
    maxPendingPoints: 100_000,
    // Prune every 10 minutes, or as often as gone instances are to be removed when that is sooner.
    pruneIntervalMs: Math.min(10 * 60_000, options.removeAfterMs ?? Infinity),
    keep: {
      minuteMs: options.keepMinutesMs ?? DAY,
      hourMs: options.keepHoursMs ?? 7 * DAY,
      patternsMs: options.keepErrorPatternsMs ?? 7 * DAY,
      workersMs: options.removeAfterMs ?? 60 * 60_000,
    },
  };
  if (typeof resolved.enabled !== 'boolean') throw new ConfigurationError(messages.invalidOption('monitoring.enabled', resolved.enabled, 'true or false'));
  ms('flushIntervalMs', resolved.flushIntervalMs);
  ms('heartbeatMs', heartbeatMs);
  ms('goneAfterMs', resolved.goneAfterMs);
  if (resolved.goneAfterMs <= heartbeatMs) {
    throw new ConfigurationError(messages.invalidOption('monitoring.goneAfterMs', resolved.goneAfterMs, `more than monitoring.heartbeatMs (${heartbeatMs}), or every instance looks gone between two heartbeats`));
  }
  ms('maxLoopDelayMs', resolved.maxLoopDelayMs);
  ms('maxHeartbeatLagMs', resolved.maxHeartbeatLagMs);
  ms('keepMinutesMs', resolved.keep.minuteMs);
  ms('keepHoursMs', resolved.keep.hourMs);
  ms('keepErrorPatternsMs', resolved.keep.patternsMs);
  ms('removeAfterMs', resolved.keep.workersMs);
  wholeNumber('monitoring.maxErrorPatternsPerTask', resolved.maxPatternsPerTask, 'a whole number from 1 to 10000', 1, 10_000);
  return resolved;
}

/** Check an option that is a period: whole ms from 1 to {@link MAX_DELAY_MS}, or a ConfigurationError naming it. */
function wholeMs(name: string, value: number): void {
  wholeNumber(name, value, `a whole number of ms from 1 to ${MAX_DELAY_MS}`, 1, MAX_DELAY_MS);
}

/**
 * Lease, heartbeat, polling and housekeeping periods, checked at construction: a NaN lease would expire every lease
 * at once, a heartbeat no shorter than the lease loses every lease, and a zero poll interval is a tight loop.
 */
function resolveTiming(options: UnoJobsOptions, push: boolean): WorkerPoolConfig & { maintenanceIntervalMs: number } {
  const worker = options.worker ?? {};
  const leaseMs = worker.leaseMs ?? 30_000;
  wholeMs('worker.leaseMs', leaseMs);
  const heartbeatMs = worker.heartbeatMs ?? Math.max(1, Math.floor(leaseMs / 3));
  wholeMs('worker.heartbeatMs', heartbeatMs);
  if (heartbeatMs >= leaseMs) throw new ConfigurationError(messages.heartbeatNotBelowLease(heartbeatMs, leaseMs));
  const pollIntervalMs = worker.pollIntervalMs ?? (push ? 5000 : 1000);
  wholeMs('worker.pollIntervalMs', pollIntervalMs);
  const maintenanceIntervalMs = options.maintenanceIntervalMs ?? 1000;
  wholeMs('maintenanceIntervalMs', maintenanceIntervalMs);
  if (worker.shutdownGraceMs !== undefined) wholeNumber('worker.shutdownGraceMs', worker.shutdownGraceMs, 'a whole number of ms >= 0');
  if (worker.concurrency !== undefined) validateConcurrency('worker.concurrency', worker.concurrency);
  if (worker.criticalSlots !== undefined) wholeNumber('worker.criticalSlots', worker.criticalSlots, 'a whole number >= 0');
  if (worker.prefetch !== undefined) wholeNumber('worker.prefetch', worker.prefetch, 'a whole number >= 0 (0 turns prefetching off)');
  if (worker.prefetchBytes !== undefined) wholeNumber('worker.prefetchBytes', worker.prefetchBytes, 'a whole number of bytes >= 1', 1);
  if (worker.agingMs !== undefined) wholeMs('worker.agingMs', worker.agingMs);
  if (worker.autoscale?.intervalMs !== undefined) wholeMs('worker.autoscale.intervalMs', worker.autoscale.intervalMs);
  return { leaseMs, heartbeatMs, pollIntervalMs, maintenanceIntervalMs };
}
