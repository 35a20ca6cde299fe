import { newJobId } from './job-id.js';
import type { JobTally } from './monitor-recorder.js';
import type { Clock } from '../contract/clock.js';
import {
  InvalidJobError,
  JobFailedError,
  JobNotFoundError,
  StorageError,
  WaitTimeoutError,
  messages,
} from '../contract/errors.js';
import type { JobEvents } from './events.js';
import {
  FINAL_STATES,
  isGroupName,
  isStoredName,
  type InsertResult,
  type JobCounts,
  type JobFilter,
  type JobPage,
  type ChildFailurePolicy,
  type JobDedupe,
  type JobRecord,
  type NewJob,
  type Priority,
} from '../contract/job.js';
import {
  type EnqueueOptions,
} from './job.js';
import { MAX_DELAY_MS, RESERVED_JOB_ID_PREFIX } from './limits.js';
import { toJson } from './payload.js';
import { validateBackoff } from './retry-policy.js';
import { validateAttempts, validateEventName, validatePriority, validateQueueName, validateTimeout, type TaskRegistry } from './task-registry.js';
import type { Job, TaskRef } from './task-ref.js';
import type { JobStorage, PauseTarget, Subscription } from '../contract/job-storage.js';
import type { EventSubscriptions } from './subscriptions.js';
import { applyHeaders, safely, type Instrumentation } from './instrumentation.js';

/**
 * One item of {@link JobQueue.enqueueMany}: a task by reference (its payload is checked against the reference's
 * type) or by name.
 */
export interface EnqueueItem<P = unknown> {
  task: string | TaskRef<P, any>;
  payload: NoInfer<P>;
  options?: EnqueueOptions;
}

/** Options of {@link JobQueue.waitForResult}. */
export interface WaitOptions {
  /** Give up after this many ms with a `WaitTimeoutError`. Default 30 000. */
  timeoutMs?: number;
}

/** Options of {@link JobQueue.list}. */
export interface ListOptions extends JobFilter {
  /** Page size, 1..1000. Default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

/** What the queue needs from the engine around it. */
export interface JobQueueDeps {
  storage: JobStorage;
  registry: TaskRegistry;
  /** Stored event subscriptions of every process, for `emit`. */
  subscriptions: EventSubscriptions;
  events: JobEvents;
  clock: Clock;
  maxPayloadBytes: number;
  /**
   * A cancel starts in this process; the returned function, called with whether the store cancelled the job, aborts
   * it if this process holds it.
   */
  cancelling: (id: string) => (cancelled: boolean) => void;
  /** A pause written by this process: its workers hand back what they claimed ahead of it (whatever the store tells). */
  paused: (target: Required<PauseTarget>) => void;
  /** Resolves when the store is initialised; throws when the engine no longer accepts work. */
  ready: () => Promise<void>;
  /** Told of every insert, and may add headers to its jobs (the `instrumentation` option). */
  instrumentation?: Instrumentation;
  /** Told of each job created, without an event payload (the store-backed monitoring). */
  tally?: JobTally;
}

/**
 * The producer API: enqueue jobs, read them back, wait for results, cancel and retry.
 * Inject it in NestJS (`constructor(private readonly jobs: JobQueue) {}`).
 *
 * @example
 * const GenerateReport = defineTask<{ userId: string }, { url: string }>('report.generate', { queue: 'reports' });
 * const job = await jobs.enqueue(GenerateReport, { userId: 'u1' }, { priority: 'high', jobId: 'report-u1' });
 * const { url } = await jobs.waitForResult(job, { timeoutMs: 10_000 });
 * // by name (untyped): await jobs.enqueue('report.generate', { userId: 'u1' })
 */
export class JobQueue {
  private readonly emitted = { total: 0, unhandled: 0 };

  constructor(private readonly deps: JobQueueDeps) {}

  /**
   * Add one job of a task declared with `defineTask`: the payload is checked against the reference's type, the job
   * goes to the reference's queue with its priority and attempts (a handler need not be registered here), and the
   * returned job is typed, so `waitForResult(job)` resolves to the task's result type. Validates everything first:
   * an invalid payload or option throws `InvalidJobError` and writes nothing. With `jobId`, an existing job of that
   * id is returned instead of a second one.
   */
  enqueue<P, R>(task: TaskRef<P, R>, payload: NoInfer<P>, options?: EnqueueOptions): Promise<Job<P, R>>;
  /**
   * Add one job of a task by name (untyped). With a handler registered here, the job takes its options; without
   * one, the module's `tasks[name]` options, else the default queue. A worker that does not know the name leaves
   * the job waiting and reports it, so check spelling with `defineTask` references where you can.
   */
  enqueue<P = unknown>(task: string, payload: P, options?: EnqueueOptions): Promise<JobRecord>;
  async enqueue(task: string | TaskRef, payload: unknown, options: EnqueueOptions = {}): Promise<JobRecord> {
    const [result] = await this.insert([{ task, payload, options }], options.manager);
    return result!.job;
  }

  /**
   * Add many jobs in one store round trip, each by reference (its payload checked against the reference's type) or
   * by name. All are validated before any is written; results keep the input order. A shared `manager` is taken from
   * the first item's options.
   */
  async enqueueMany<T extends readonly unknown[]>(items: readonly [...{ [K in keyof T]: EnqueueItem<T[K]> }]): Promise<JobRecord[]> {
    if (items.length === 0) return [];
    return (await this.insert(items as readonly EnqueueItem[], (items[0] as EnqueueItem).options?.manager)).map((r) => r.job);
  }

  /**
   * Enqueue a flow: a parent job that runs after its children and gets their results (`ctx.children()`), each child
   * a flow of its own (nested to any depth, on any queue). The whole tree is inserted in one store call; the parent
   * waits in state `waiting-children` until its last child ends. A child's `onFailure` says what its failure does to
   * the parent (see {@link ChildFailurePolicy}; default `'fail'`). Cancelling the parent cancels its unfinished
   * children. Every job gets a fresh id (`jobId` and the dedupe modes are refused in a flow). Needs a store with
   * `capabilities.flows`. Returns the tree of stored jobs.
   *
   * @example
   * const flow = await jobs.enqueueFlow({
   *   task: RenderVideo, payload: { id },
   *   children: [{ task: TranscodeAudio, payload: { id } }, { task: Thumbnail, payload: { id }, onFailure: 'ignore' }],
   * });
   */
  async enqueueFlow<P>(flow: FlowJob<P>): Promise<FlowTree> {
    if (!this.deps.storage.capabilities.flows) throw new StorageError(messages.flowsUnsupported());
    const jobs: NewJob[] = [];
    const tree = this.flatten(flow as FlowJob, null, 'root', jobs);
    const results = await this.insertJobs(jobs, flow.options?.manager);
    const byId = new Map(results.map((r) => [r.job.id, r.job]));
    const build = (node: FlowShape): FlowTree => ({ job: byId.get(node.id)!, children: node.children.map(build) });
    return build(tree);
  }

  /** Validate and prepare the jobs of a flow, parents before their children (pre-order), into `jobs`. */
  private flatten(node: FlowJob, parentId: string | null, path: string, jobs: NewJob[]): FlowShape {
    const refuse = (detail: string) => new InvalidJobError(messages.invalidFlow(path, detail));
    if (typeof node !== 'object' || node === null) throw refuse('pass { task, payload, options?, onFailure?, children? }');
    const { task, payload, options = {}, onFailure = 'fail', children = [] } = node;
    for (const name of ['jobId', 'dedupe', 'debounce', 'replace'] as const) {
      if (options[name] !== undefined) throw refuse(`${name} cannot be used in a flow, whose jobs get fresh ids`);
    }
    if (!CHILD_POLICIES.includes(onFailure)) throw refuse(`onFailure ${JSON.stringify(onFailure)} is not one of 'fail', 'ignore', 'continue'`);
    if (!Array.isArray(children)) throw refuse('children must be an array of flow jobs');
    const job = this.prepare({ task, payload, options }, false);
    if (parentId !== null) job.parent = { id: parentId, onFailure };
    if (children.length > 0) job.awaitChildren = true;
    jobs.push(job);
    return { id: job.id, children: children.map((child, i) => this.flatten(child, job.id, `${path}.children[${i}]`, jobs)) };
  }

  /**
   * Insert the scheduler's own firings, saying per job whether it was created or already existed, so the scheduler
   * knows which instance's firing won a tick. Their ids carry the reserved `sched:` prefix that producers may not
   * use. Internal: the `Scheduler` calls it.
   * @internal
   */
  enqueueScheduled(items: readonly EnqueueItem[]): Promise<InsertResult[]> {
    if (items.length === 0) return Promise.resolve([]);
    return this.insert(items, items[0]!.options?.manager, true);
  }

  /**
   * Publish an event: enqueue one job per task subscribed to it (`@Task(name, { on: event })`), all in one store
   * round trip. Subscribers are the tasks registered in this process and those stored by the worker instances of
   * every process on the store (read through a cache of `subscriptions.cacheMs`, see docs/events.md), so a producer
   * needs no handler of its own. With no subscriber nothing is written and `event:unhandled` is emitted. `options`
   * apply to every job; a `jobId` becomes `<jobId>:<task>` per job, so emitting again with the same id is idempotent.
   *
   * @example
   * await jobs.emit('user.created', { userId: 'u1' });
   */
  async emit<P = unknown>(event: string, payload: P, options: EnqueueOptions = {}): Promise<JobRecord[]> {
    validateEventName(event);
    await this.deps.ready();
    const subscribers = await this.deps.subscriptions.resolve(event);
    this.emitted.total++;
    if (subscribers.length === 0) {
      this.emitted.unhandled++;
      this.deps.events.emit('event:unhandled', { event });
      return [];
    }
    const { jobId, ...rest } = options;
    const items = subscribers.map((s) => ({ task: s.task, payload, options: { ...rest, ...(jobId === undefined ? {} : { jobId: `${jobId}:${s.task}` }) } }));
    const defaults = new Map(subscribers.flatMap((s) => (s.defaults ? [[s.task, s.defaults] as const] : [])));
    return (await this.insert(items, options.manager, false, defaults)).map((r) => r.job);
  }

  /**
   * Stored event subscriptions, of one event or all, sorted by event then task: what `emit` reaches beyond this
   * process's own tasks. Empty when the store keeps none (a custom store without them).
   */
  subscriptions(event?: string): Promise<Subscription[]> {
    return this.deps.subscriptions.list(event);
  }

  /**
   * Remove the stored subscription of `task` to `event`: for a task renamed or deleted from your code, whose
   * subscription would otherwise keep enqueueing jobs that no worker runs. Refused with an `InvalidJobError` while this
   * process still declares it. Other processes stop enqueueing for it within `subscriptions.cacheMs`. Returns false
   * when there was no such subscription.
   */
  async unsubscribe(event: string, task: string): Promise<boolean> {
    await this.deps.ready();
    return this.deps.subscriptions.remove(event, task);
  }

  /** Events emitted by this process so far, and how many found no subscriber (for metrics). */
  eventCounts(): { emitted: number; unhandled: number } {
    return { emitted: this.emitted.total, unhandled: this.emitted.unhandled };
  }

  /** The job, or null when it does not exist (never did, or retention removed it). */
  getJob(id: string): Promise<JobRecord | null> {
    return this.deps.storage.get(id);
  }

  /**
   * Wait until the job completes and return its result: typed when the job came from `enqueue(ref, payload)`. Throws `JobFailedError` when it ends failed or cancelled,
   * `JobNotFoundError` when it does not exist, `WaitTimeoutError` after `timeoutMs`.
   */
  waitForResult<R>(job: Job<unknown, R>, options?: WaitOptions): Promise<R>;
  /** {@link waitForResult} by job id; give the result type yourself (`waitForResult<MyResult>(id)`). */
  waitForResult<R = unknown>(id: string, options?: WaitOptions): Promise<R>;
  async waitForResult<R>(job: string | JobRecord, options: WaitOptions = {}): Promise<R> {
    const id = typeof job === 'string' ? job : job.id;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const { clock, events, storage } = this.deps;
    const deadline = clock.now() + timeoutMs;
    let pollMs = 25;
    // A completion seen in this process: its result, even if the job was deleted as it completed (removeOnComplete).
    const completed: { seen: boolean; result?: unknown } = { seen: false };
    for (;;) {
      const job = await storage.get(id);
      if (!job) {
        if (completed.seen) return completed.result as R;
        throw new JobNotFoundError(messages.jobNotFound(id));
      }
      if (FINAL_STATES.includes(job.state)) return settled<R>(job);
      const remaining = deadline - clock.now();
      if (remaining <= 0) throw new WaitTimeoutError(messages.waitTimeout(id, timeoutMs, job.state));
      // Local events end the wait at once; polling covers jobs finished by other processes.
      await new Promise<void>((resolve) => {
        const offs = (['job:completed', 'job:failed', 'job:cancelled'] as const).map((event) =>
          events.on(event, (payload) => {
            if (('jobId' in payload ? payload.jobId : payload.job.id) !== id) return;
            if ('result' in payload) Object.assign(completed, { seen: true, result: payload.result });
            finish();
          }),
        );
        const timer = clock.setTimeout(finish, Math.min(remaining, pollMs));
        function finish() {
          clock.clearTimeout(timer);
          for (const off of offs) off();
          resolve();
        }
      });
      pollMs = Math.min(pollMs * 2, 1000);
    }
  }

  /**
   * Cancel a job: a waiting or scheduled job never runs; a running job's `ctx.signal` is aborted and its outcome
   * discarded, at once in this process and, in another, as soon as its store tells it (see docs/worker.md: pub/sub on
   * Redis and NOTIFY on PostgreSQL within milliseconds, the store's poll interval on MySQL/MariaDB and SQLite, the
   * next heartbeat otherwise). A job claimed ahead and not yet started never starts. Returns the job after the change.
   */
  async cancel(id: string): Promise<JobRecord> {
    const done = this.deps.cancelling(id);
    let job: JobRecord | null = null;
    try {
      job = await this.deps.storage.cancel(id);
    } finally {
      done(job?.state === 'cancelled');
    }
    if (!job) throw new JobNotFoundError(messages.jobNotFound(id));
    if (job.state === 'cancelled') this.deps.events.emit('job:cancelled', { jobId: id });
    if (this.deps.storage.capabilities.flows) await this.cancelChildren(id);
    return job;
  }

  /** A cancelled flow parent takes its unfinished children (and theirs) with it. */
  private async cancelChildren(id: string): Promise<void> {
    for (const child of (await this.deps.storage.children(id)) ?? []) {
      if (!FINAL_STATES.includes(child.state)) await this.cancel(child.id);
    }
  }

  /** Run a failed or cancelled job again, with a fresh set of attempts. Its error history is kept. */
  async retry(id: string): Promise<JobRecord> {
    const job = await this.deps.storage.retry(id);
    if (!job) throw new JobNotFoundError(messages.jobNotFound(id));
    if (job.state !== 'waiting') throw new InvalidJobError(messages.cannotRetry(id, job.state));
    return job;
  }

  /**
   * Run a scheduled job (delayed, or backing off before a retry) now: it becomes waiting, its attempts unchanged.
   * Other states are returned unchanged. A store without `promote` refuses with a `StorageError`.
   */
  async runNow(id: string): Promise<JobRecord> {
    const job = await this.deps.storage.promote(id);
    if (!job) throw new JobNotFoundError(messages.jobNotFound(id));
    return job;
  }

  /**
   * Delete a job that is not active, with its dedupe key; returns the job as it was. A running job is refused with an
   * `InvalidJobError`: cancel it first. A flow's child leaves its parent's children (a parent waiting for them runs
   * once the others have ended); a parent's children stay, without a parent. An unknown id throws `JobNotFoundError`;
   * a store without `remove` refuses with a `StorageError`.
   */
  async remove(id: string): Promise<JobRecord> {
    const job = await this.deps.storage.remove(id);
    if (!job) throw new JobNotFoundError(messages.jobNotFound(id));
    return job;
  }

  /**
   * Give a waiting or scheduled job another priority: it is claimed in its new level's order from then on. Other
   * states are returned unchanged. An unknown id throws `JobNotFoundError`, a bad priority `InvalidJobError`; a store
   * without `changePriority` refuses with a `StorageError`.
   */
  async changePriority(id: string, priority: Priority): Promise<JobRecord> {
    validatePriority(priority);
    const job = await this.deps.storage.changePriority(id, priority);
    if (!job) throw new JobNotFoundError(messages.jobNotFound(id));
    return job;
  }

  /**
   * Stop claims of a queue (`'emails'`) or of one task of it (`{ queue: 'emails', task: 'email.send' }`) in every
   * process on the store, until {@link resume}. Running jobs finish; jobs claimed ahead and not started are handed
   * back (no attempt used). Idempotent.
   */
  async pause(target: string | PauseTarget): Promise<void> {
    const resolved = pauseTarget(target);
    await this.deps.ready();
    await this.deps.storage.pause(resolved);
    this.deps.paused(resolved);
  }

  /** Resume claims of a paused queue or task, waking its workers everywhere; false when it was not paused. */
  async resume(target: string | PauseTarget): Promise<boolean> {
    const resolved = pauseTarget(target);
    await this.deps.ready();
    return this.deps.storage.resume(resolved);
  }

  /** Every paused queue (`task` null) and task. A store that cannot pause refuses with a `StorageError`. */
  async listPaused(): Promise<Required<PauseTarget>[]> {
    await this.deps.ready();
    const paused = await this.deps.storage.listPaused();
    if (paused === null) throw new StorageError(messages.pauseUnsupported());
    return paused;
  }

  /** Jobs newest first, filtered by state, task or queue, one page at a time. */
  list(options: ListOptions = {}): Promise<JobPage> {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new InvalidJobError(messages.invalidOption('limit', limit, 'a whole number from 1 to 1000'));
    }
    const { state, task, queue, cursor } = options;
    return this.deps.storage.list({ state, task, queue }, { limit, cursor });
  }

  /** Number of jobs per state, optionally for one queue. */
  counts(queue?: string): Promise<JobCounts> {
    return this.deps.storage.counts(queue ? { queue } : {});
  }

  private insert(items: readonly EnqueueItem[], manager: unknown, reserved = false, defaults?: ReadonlyMap<string, TaskDefaults>): Promise<InsertResult[]> {
    const taskName = (item: EnqueueItem) => (typeof item.task === 'string' ? item.task : item.task.name);
    return this.insertJobs(items.map((item) => this.prepare(item, reserved, defaults?.get(taskName(item)))), manager);
  }

  /** Insert validated jobs through the instrumentation's scope, if any. */
  private async insertJobs(jobs: NewJob[], manager: unknown): Promise<InsertResult[]> {
    await this.deps.ready();
    const { instrumentation, events } = this.deps;
    const scope = instrumentation?.enqueue && safely(events, 'enqueue()', () => instrumentation.enqueue!(jobs));
    if (!scope) return this.write(jobs, manager);
    let results: InsertResult[];
    try {
      applyHeaders(jobs, scope.headers);
      results = await (scope.run ? scope.run(() => this.write(jobs, manager)) : this.write(jobs, manager));
    } catch (error) {
      safely(events, 'enqueue end()', () => scope.end(null, error));
      throw error;
    }
    safely(events, 'enqueue end()', () => scope.end(results));
    return results;
  }

  /** Insert prepared jobs and announce them. */
  private async write(jobs: NewJob[], manager: unknown): Promise<InsertResult[]> {
    const results = await this.deps.storage.insert(jobs, manager === undefined ? undefined : { manager });
    const { tally } = this.deps;
    if (tally) for (const { job, created } of results) if (created) tally.enqueued(job.queue, job.task);
    if (this.deps.events.has('job:enqueued')) {
      for (const { job, created } of results) this.deps.events.emit('job:enqueued', { job, created });
    }
    return results;
  }

  /**
   * Resolve task defaults and validate every option: nothing reaches the store unless it is all valid. `stored`: the
   * defaults of a task another process subscribed to an event, when this process does not register it.
   */
  private prepare({ task, payload, options = NO_OPTIONS }: EnqueueItem, reserved: boolean, stored?: TaskDefaults): NewJob {
    const definition = stored ? { name: typeof task === 'string' ? task : task.name, ...stored } : this.deps.registry.producerTask(task);
    const { priority = definition.priority, attempts = definition.attempts, runAt, timeout, backoff, jobId } = options;
    const dedupe = dedupeOf(options);
    const delay = options.debounce?.delay ?? options.delay;
    validatePriority(priority);
    validateAttempts(attempts);
    if (timeout !== undefined) validateTimeout(timeout);
    if (backoff !== undefined) {
      if (typeof backoff === 'function') throw new InvalidJobError(messages.invalidBackoff('a policy function cannot be stored with a job; set it on the task'));
      validateBackoff(backoff);
    }
    if (delay !== undefined && runAt !== undefined) throw new InvalidJobError(messages.delayAndRunAt());
    // Whole milliseconds: SQL stores add the delay to a BIGINT, and a fraction fails the cast there.
    if (delay !== undefined && (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_MS)) {
      throw new InvalidJobError(messages.invalidDelay(delay, MAX_DELAY_MS));
    }
    if (runAt !== undefined && (!(runAt instanceof Date) || Number.isNaN(runAt.getTime()))) {
      throw new InvalidJobError(messages.invalidRunAt(runAt));
    }
    if (runAt !== undefined && runAt.getTime() > this.deps.clock.now() + MAX_DELAY_MS) {
      throw new InvalidJobError(messages.runAtTooFar(runAt, MAX_DELAY_MS));
    }
    if (jobId !== undefined && !isStoredName(jobId)) {
      throw new InvalidJobError(messages.invalidJobId(jobId));
    }
    const group = options.group !== undefined ? options.group : (definition as { group?: (p: unknown) => unknown }).group?.(payload);
    if (group !== undefined && group !== null) {
      if (!isGroupName(group)) throw new InvalidJobError(messages.invalidGroupName(group));
      if (!this.deps.storage.capabilities.groups) throw new StorageError(messages.groupsUnsupported());
    }
    // The scheduler's firings carry this prefix, and a job with it is treated as a tick (never removed at
    // completion, so the id keeps guarding its tick): a producer's own id must not be mistaken for one.
    if (!reserved && jobId?.startsWith(RESERVED_JOB_ID_PREFIX)) {
      throw new InvalidJobError(messages.reservedJobId(jobId, RESERVED_JOB_ID_PREFIX));
    }
    return {
      id: jobId ?? newJobId(),
      task: definition.name,
      queue: definition.queue,
      payload: toJson(payload, 'payload', this.deps.maxPayloadBytes),
      priority,
      maxAttempts: attempts,
      delayMs: delay ?? 0,
      runAt: runAt ?? null,
      timeoutMs: timeout ?? null,
      backoff: backoff ?? null,
      ...(dedupe && { dedupe }),
      ...(group != null && { group: group as string }),
    };
  }
}

/** The options that name a job's identity; at most one of them per job. */
const DEDUPE_OPTIONS = ['jobId', 'dedupe', 'debounce', 'replace'] as const;

/** The options of an item that gives none (read only, never written). */
const NO_OPTIONS: EnqueueOptions = Object.freeze({});

/** The dedupe key of a job from its `dedupe`, `debounce` or `replace` option (at most one, never with `jobId`); validated. */
function dedupeOf(options: EnqueueOptions): JobDedupe | null {
  const { jobId, dedupe, debounce, replace } = options;
  // Counted before any array is built: most jobs set none of them.
  if ((jobId !== undefined ? 1 : 0) + (dedupe !== undefined ? 1 : 0) + (debounce !== undefined ? 1 : 0) + (replace !== undefined ? 1 : 0) > 1) {
    throw new InvalidJobError(messages.dedupeOptions(DEDUPE_OPTIONS.filter((name) => options[name] !== undefined)));
  }
  if (dedupe !== undefined) {
    checkKey('dedupe', dedupe, 'ttlMs', 'a whole number of ms from 1 to 100 years');
    return { key: dedupe.key, mode: 'window', ttlMs: dedupe.ttlMs };
  }
  if (debounce !== undefined) {
    checkKey('debounce', debounce, 'delay', 'a whole number of ms from 0 to 100 years');
    if (options.delay !== undefined || options.runAt !== undefined) throw new InvalidJobError(messages.debounceAndDelay());
    return { key: debounce.key, mode: 'debounce', ttlMs: null };
  }
  if (replace !== undefined) {
    checkKey('replace', replace);
    return { key: replace.key, mode: 'replace', ttlMs: null };
  }
  return null;
}

/** Throw unless `value` is `{ key }` (1..200 characters, well-formed), with `field` a whole number of ms in range when named. */
function checkKey(option: string, value: unknown, field?: string, range?: string): void {
  const key = (value as { key?: unknown } | null)?.key;
  if (typeof value !== 'object' || value === null || !isStoredName(key)) {
    throw new InvalidJobError(messages.invalidDedupe(option, value, `{ key: a string of 1 to 200 characters, no lone surrogate${field ? `, ${field}: ${range}` : ''} }`));
  }
  if (!field) return;
  const ms = (value as Record<string, unknown>)[field];
  const min = field === 'ttlMs' ? 1 : 0;
  if (!Number.isInteger(ms) || (ms as number) < min || (ms as number) > MAX_DELAY_MS) {
    throw new InvalidJobError(messages.invalidDedupe(`${option}.${field}`, ms, range!));
  }
}

/** One job of a flow (see {@link JobQueue.enqueueFlow}): a task, its payload and options, and its own children. */
export interface FlowJob<P = unknown> {
  task: string | TaskRef<P, any>;
  payload: NoInfer<P>;
  /** Enqueue options of this job (not `jobId` nor a dedupe mode). The root's `manager` applies to the whole flow. */
  options?: EnqueueOptions;
  /** For a child: what its failure does to its parent. Default `'fail'`. */
  onFailure?: ChildFailurePolicy;
  /** Jobs that must end before this one runs; their results reach it through `ctx.children()`. */
  children?: FlowJob<any>[];
}

/** The stored jobs of an enqueued flow, in the shape it was given. */
export interface FlowTree {
  job: JobRecord;
  children: FlowTree[];
}

/** A flow's shape by job id, while it is inserted. */
interface FlowShape {
  id: string;
  children: FlowShape[];
}

const CHILD_POLICIES: readonly ChildFailurePolicy[] = ['fail', 'ignore', 'continue'];

/** What a job takes from its task at insert. */
type TaskDefaults = Pick<Subscription, 'queue' | 'priority' | 'attempts'>;

function settled<R>(job: JobRecord): R {
  if (job.state === 'completed') return job.result as R;
  const last = job.errors[job.errors.length - 1];
  throw new JobFailedError(
    messages.jobFailed(job.id, job.state, last ? `${last.name}: ${last.message}` : undefined),
    job.state as 'failed' | 'cancelled',
    last,
  );
}

/** A queue name or `{ queue, task }`, checked: a valid queue name, and a task name when one is given. */
function pauseTarget(target: string | PauseTarget): Required<PauseTarget> {
  const { queue, task = null } = typeof target === 'string' ? { queue: target } : (target ?? {}) as PauseTarget;
  validateQueueName(queue);
  if (task !== null && !isStoredName(task)) {
    throw new InvalidJobError(messages.invalidPauseTask(task));
  }
  return { queue, task };
}
