import { systemClock, type Clock, type TimerHandle } from '../../contract/clock.js';
import {
  emptyCounts,
  newJobRecord,
  initialState,
  type ClaimedJob,
  type InsertResult,
  type JobCounts,
  type JobFilter,
  type JobPage,
  type JobRecord,
  type JobState,
  type NewJob,
  type Priority,
} from '../../contract/job.js';
import { InvalidJobError, messages } from '../../contract/errors.js';
import {
  boundHistory,
  checkPriority,
  checkRetryDelays,
  DEFAULT_ERROR_HISTORY,
  JobStorage,
  MAX_LOG_LINES,
  type ClaimRequest,
  type CompleteOutcome,
  type FailOutcome,
  type Lease,
  type ProgressUpdate,
  type RecoverOptions,
  type RecoveryResult,
  type RetentionPolicy,
  type StorageCapabilities,
  type Subscription,
  type PauseTarget,
  type ReleasedLease,
  narrowClaim,
  PAYLOAD_SEARCH_SCAN,
  searchWindow,
  type ClaimFlow,
  type ClaimReply,
  type FlowLimits,
} from '../../contract/job-storage.js';
import { seqCursor } from '../../contract/cursor.js';
import { checkDocumentKey, checkMetricPoints, type ErrorPattern, type ErrorPatternBounds, type ErrorPatternFilter, type ErrorPatternHit, type MetricPoint, type MetricQuery, type MetricRetention, type StoredDocument, type StoredWorker } from '../../contract/monitoring.js';
import { MinHeap } from './min-heap.js';
import { ReadyLists, type GroupRoom, type Queued } from './ready-lists.js';
import { RateLog } from './rate-log.js';

/** A stored job plus the bookkeeping the memory store needs. Payload and result are kept as JSON text. */
interface Entry extends Queued {
  payloadJson: string;
  resultJson: string | null;
  progressJson: string | null;
  token: string | null;
  /** Insertion order, for newest-first listing. */
  order: number;
  /** The dedupe key it took (see `dedupeKeys`), if any. */
  dedupeKey?: string;
}

interface DueRef {
  entry: Entry;
  seq: number;
  at: number;
}

/** Options of the in-memory store. */
export interface MemoryJobStorageOptions {
  /** Clock the store judges due times and leases by. Default: the system clock. */
  clock?: Clock;
}

/** The map key of a job's dedupe key: scoped to its task. */
const dedupeKey = (job: NewJob): string => JSON.stringify([job.task, job.dedupe!.key]);

const FINAL: ReadonlySet<JobState> = new Set(['completed', 'failed', 'cancelled']);

/**
 * The default store: everything in this process's memory. Fast and exact, but jobs are lost when the process exits
 * and it cannot be shared between processes. Use it for development, tests and single-process apps whose jobs can be
 * lost on restart.
 */
export class MemoryJobStorage extends JobStorage {
  readonly capabilities: StorageCapabilities = { push: true, distributed: false, transactions: false, flows: true, groups: true, payloadSearch: true };

  private readonly clock: Clock;
  private readonly jobs = new Map<string, Entry>();
  private readonly ready = new ReadyLists<Entry>();
  private readonly due = new MinHeap<DueRef>((a, b) => a.at - b.at || a.seq - b.seq);
  private readonly active = new Map<string, Entry>();
  /** Active jobs per group, by `<queue>\0<group>` (groups with none are deleted). */
  private readonly activeInGroup = new Map<string, number>();
  /** Finished job ids per final state, in the order they finished (oldest first). */
  private readonly finished: Record<'completed' | 'failed', Set<string>> = { completed: new Set(), failed: new Set() };
  private readonly listeners = new Set<(queue: string) => void>();
  private readonly cancelListeners = new Set<(id: string) => void>();
  private readonly pauseListeners = new Set<(target: Required<PauseTarget>) => void>();
  private readonly schedules = new Map<string, string>();
  /** Event subscriptions by event, then task. */
  private readonly subs = new Map<string, Map<string, Subscription>>();
  private readonly workers = new Map<string, { data: string; lastSeenAt: number }>();
  /** Rate logs by queue and task ('' for the queue's own). */
  private readonly rateLogs = new Map<string, RateLog>();
  private readonly documents = new Map<string, StoredDocument>();
  /** Paused tasks per queue; `null` stands for the whole queue. */
  private readonly paused = new Map<string, Set<string | null>>();
  /** Error patterns by task, then fingerprint. */
  private readonly patterns = new Map<string, Map<string, ErrorPattern>>();
  /** Metric points by their full key. */
  private readonly metrics = new Map<string, MetricPoint>();
  /** Ids of each flow parent's children, in insertion order. */
  private readonly childIds = new Map<string, string[]>();
  /** Dedupe keys (`[task, key]` as JSON): the job that holds each, and until when (a `window` key). */
  private readonly dedupeKeys = new Map<string, { id: string; until: number }>();
  private readonly pendingWake = new Set<string>();
  private wakeScheduled = false;
  private seq = 0;
  private order = 0;
  private tokenSeq = 0;
  private dueTimer: TimerHandle | null = null;
  private dueTimerAt = Infinity;

  constructor(options: MemoryJobStorageOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
  }

  async init(): Promise<void> {}

  async close(): Promise<void> {
    if (this.dueTimer) this.clock.clearTimeout(this.dueTimer);
    this.dueTimer = null;
    this.listeners.clear();
    this.cancelListeners.clear();
    this.pauseListeners.clear();
  }

  override subscribe(listener: (queue: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  override subscribeCancels(listener: (id: string) => void): () => void {
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  override subscribePauses(listener: (target: Required<PauseTarget>) => void): () => void {
    this.pauseListeners.add(listener);
    return () => this.pauseListeners.delete(listener);
  }

  async insert(jobs: readonly NewJob[]): Promise<InsertResult[]> {
    const now = this.clock.now();
    const results: InsertResult[] = [];
    const woken = new Set<string>();
    for (const job of jobs) {
      const existing = this.jobs.get(job.id) ?? (job.dedupe ? this.keyHolder(job, now) : undefined);
      if (existing) {
        results.push({ job: this.snapshot(existing), created: false });
        continue;
      }
      const { state, runAt } = initialState(job, now);
      const record = newJobRecord(job, state, runAt, now, undefined);
      if (record.headers) record.headers = { ...record.headers };
      const entry: Entry = {
        record,
        payloadJson: job.payload,
        resultJson: null,
        progressJson: null,
        token: null,
        seq: 0,
        readyAt: runAt,
        order: this.order++,
      };
      this.jobs.set(job.id, entry);
      if (job.dedupe) {
        entry.dedupeKey = dedupeKey(job);
        this.dedupeKeys.set(entry.dedupeKey, { id: job.id, until: now + (job.dedupe.ttlMs ?? Infinity) });
      }
      if (job.parent) {
        const siblings = this.childIds.get(job.parent.id);
        if (siblings) siblings.push(job.id);
        else this.childIds.set(job.parent.id, [job.id]);
      }
      if (record.state === 'waiting') {
        this.pushReady(entry, now);
        woken.add(job.queue);
      } else if (record.state === 'scheduled') {
        this.pushDue(entry, runAt);
      }
      results.push({ job: this.snapshot(entry), created: true });
    }
    for (const queue of woken) this.notify(queue);
    return results;
  }

  async claim(request: ClaimRequest): Promise<ClaimReply> {
    const now = this.clock.now();
    this.promoteAt(now);
    const paused = this.paused.get(request.queue);
    if (paused) {
      if (paused.has(null)) return [];
      const held = Object.fromEntries([...paused].map((task) => [task, 0]));
      request = { ...request, taskLimits: { ...request.taskLimits, ...held } };
    }
    const startNow = request.startNow ?? 0;
    if (!request.flow) return this.ready.take(request, now).map((entry, i) => this.activate(entry, request, now, i < startNow));
    return this.claimWithin(request, request.flow, now);
  }

  /**
   * A claim under cluster-wide limits: the room each limit leaves (active jobs counted, rate logs read) narrows the
   * request, and what it took is logged against the rates. `heldMs` says when a rate that ran out lets more through.
   */
  private claimWithin(request: ClaimRequest, flow: ClaimFlow, now: number): ClaimReply {
    const active = [...this.active.values()].filter((e) => e.record.queue === request.queue);
    let heldMs = Infinity;
    const roomOf = (limits: FlowLimits, key: string, running: number): number => {
      let room = limits.concurrency === undefined ? Infinity : limits.concurrency - running;
      if (limits.rate) {
        const rate = this.rateLogOf(request.queue, key).room(limits.rate, now);
        if (rate.room === 0) heldMs = Math.min(heldMs, rate.heldMs);
        room = Math.min(room, rate.room);
      }
      return Math.max(0, room);
    };
    const queueRoom = flow.queue ? roomOf(flow.queue, '', active.length) : Infinity;
    const taskRooms = new Map(Object.entries(flow.tasks ?? {}).map(([task, limits]) =>
      [task, roomOf(limits, task, active.filter((e) => e.record.task === task).length)] as const));
    const narrowed = narrowClaim(request, queueRoom, taskRooms);
    const startNow = request.startNow ?? 0;
    const taken = narrowed.limit > 0 ? this.ready.take(narrowed, now, this.groupRoom(request.queue, flow)) : [];
    if (flow.queue?.rate) this.rateLogOf(request.queue, '').took(now, taken.length);
    for (const [task, limits] of Object.entries(flow.tasks ?? {})) {
      if (limits.rate) this.rateLogOf(request.queue, task).took(now, taken.filter((e) => e.record.task === task).length);
    }
    const reply: ClaimReply = taken.map((entry, i) => this.activate(entry, request, now, i < startNow));
    if (heldMs < Infinity) reply.heldMs = heldMs;
    return reply;
  }

  /** Room per group under the flow's `groupConcurrency` (a task's, else the queue's); undefined when none is set. */
  private groupRoom(queue: string, flow: ClaimFlow): GroupRoom | undefined {
    const tasks = flow.tasks ?? {};
    const queueCap = flow.queue?.groupConcurrency;
    if (queueCap === undefined && !Object.values(tasks).some((l) => l.groupConcurrency !== undefined)) return undefined;
    return (group, task) => {
      const cap = tasks[task]?.groupConcurrency ?? queueCap;
      return cap === undefined ? Infinity : cap - (this.activeInGroup.get(`${queue}\0${group}`) ?? 0);
    };
  }

  /** The rate log of a queue ('' ) or task. */
  private rateLogOf(queue: string, task: string): RateLog {
    const key = `${queue}\0${task}`;
    let log = this.rateLogs.get(key);
    if (!log) this.rateLogs.set(key, (log = new RateLog()));
    return log;
  }

  private activate(entry: Entry, request: ClaimRequest, now: number, startNow: boolean): ClaimedJob {
    const r = entry.record;
    r.state = 'active';
    r.attempt++;
    r.startedAt = startNow ? new Date(now) : null;
    r.workerId = request.workerId;
    r.leaseExpiresAt = new Date(now + request.leaseMs);
    entry.token = String(++this.tokenSeq);
    this.active.set(r.id, entry);
    if (r.group) {
      const key = `${r.queue}\0${r.group}`;
      this.activeInGroup.set(key, (this.activeInGroup.get(key) ?? 0) + 1);
    }
    return { job: this.snapshot(entry), token: entry.token, payloadBytes: Buffer.byteLength(entry.payloadJson, 'utf8') };
  }

  async markStarted(leases: readonly Lease[]): Promise<void> {
    const now = this.clock.now();
    for (const lease of leases) {
      const entry = this.owned(lease);
      if (entry) entry.record.startedAt = new Date(now);
    }
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
    const expiresAt = this.clock.now() + leaseMs;
    const lost: string[] = [];
    for (const lease of leases) {
      const entry = this.owned(lease);
      if (entry) entry.record.leaseExpiresAt = new Date(expiresAt);
      else lost.push(lease.id);
    }
    return lost;
  }

  async complete(outcomes: readonly CompleteOutcome[]): Promise<boolean[]> {
    const now = this.clock.now();
    return outcomes.map((outcome) => {
      const entry = this.owned(outcome);
      if (!entry) return false;
      if (outcome.remove) {
        this.deactivate(entry);
        this.drop(entry);
        return true;
      }
      entry.resultJson = outcome.result;
      // A start mark still on its way (the handler finished first): the finish time stands in for the start.
      entry.record.startedAt ??= new Date(now);
      const { workerId } = entry.record;
      this.finish(entry, 'completed', now);
      entry.record.workerId = workerId; // who completed it (see JobRecord.workerId)
      return true;
    });
  }

  async fail(outcomes: readonly FailOutcome[]): Promise<boolean[]> {
    checkRetryDelays(outcomes);
    const now = this.clock.now();
    return outcomes.map((outcome) => {
      const entry = this.owned(outcome);
      if (!entry) return false;
      entry.record.errors.push(outcome.error);
      entry.record.errors = boundHistory(entry.record.errors, outcome.errorHistory ?? DEFAULT_ERROR_HISTORY);
      if (outcome.retryDelayMs === null) {
        this.finish(entry, 'failed', now);
      } else {
        this.deactivate(entry);
        this.requeue(entry, now + outcome.retryDelayMs, now);
      }
      return true;
    });
  }

  async release(leases: readonly ReleasedLease[]): Promise<void> {
    const now = this.clock.now();
    for (const lease of leases) {
      const entry = this.owned(lease);
      if (!entry) continue;
      this.deactivate(entry);
      entry.record.attempt = Math.max(0, entry.record.attempt - 1);
      this.requeue(entry, now + (lease.delayMs ?? 0), now);
    }
  }

  async progress(lease: Lease, update: ProgressUpdate): Promise<boolean> {
    const entry = this.owned(lease);
    if (!entry) return false;
    if (update.progress !== undefined) entry.progressJson = update.progress;
    if (update.log !== undefined) {
      const logs = entry.record.logs;
      const keep = update.logLines ?? MAX_LOG_LINES;
      logs.push(update.log);
      if (logs.length > keep) logs.splice(0, logs.length - keep);
    }
    return true;
  }

  async cancel(id: string): Promise<JobRecord | null> {
    const entry = this.jobs.get(id);
    if (!entry) return null;
    if (!FINAL.has(entry.record.state)) {
      const active = entry.record.state === 'active';
      if (active) this.deactivate(entry);
      this.finish(entry, 'cancelled', this.clock.now());
      if (active) for (const listener of this.cancelListeners) listener(id);
    }
    return this.snapshot(entry);
  }

  async retry(id: string): Promise<JobRecord | null> {
    const entry = this.jobs.get(id);
    if (!entry) return null;
    const state = entry.record.state;
    if (state === 'failed' || state === 'cancelled') {
      this.finished.failed.delete(id);
      entry.record.attempt = 0;
      entry.record.stalls = 0;
      entry.record.finishedAt = null;
      const now = this.clock.now();
      this.requeue(entry, now, now);
    }
    return this.snapshot(entry);
  }

  override async promote(id: string): Promise<JobRecord | null> {
    const entry = this.jobs.get(id);
    if (!entry) return null;
    if (entry.record.state === 'scheduled') {
      const now = this.clock.now();
      this.requeue(entry, now, now);
    }
    return this.snapshot(entry);
  }

  override async remove(id: string): Promise<JobRecord | null> {
    const entry = this.jobs.get(id);
    if (!entry) return null;
    if (entry.record.state === 'active') throw new InvalidJobError(messages.removeActive(id));
    const removed = this.snapshot(entry);
    this.finished.completed.delete(id);
    this.finished.failed.delete(id);
    for (const childId of this.childIds.get(id) ?? []) {
      const child = this.jobs.get(childId);
      if (child?.record.parent?.id === id) delete child.record.parent;
    }
    this.drop(entry);
    if (entry.record.parent) this.leaveParent(id, entry.record.parent.id);
    return removed;
  }

  override async changePriority(id: string, priority: Priority): Promise<JobRecord | null> {
    checkPriority(priority);
    const entry = this.jobs.get(id);
    if (!entry) return null;
    const r = entry.record;
    if ((r.state === 'waiting' || r.state === 'scheduled') && r.priority !== priority) {
      r.priority = priority;
      // A scheduled job reaches its new level when due; a waiting one moves now (its old list entry goes stale).
      if (r.state === 'waiting') this.pushReady(entry, this.clock.now());
    }
    return this.snapshot(entry);
  }

  async promoteDue(): Promise<number> {
    return this.promoteAt(this.clock.now());
  }

  async recoverExpired(options: RecoverOptions = {}): Promise<RecoveryResult> {
    const now = this.clock.now();
    const result = { recovered: 0, stalled: 0 };
    for (const entry of [...this.active.values()]) {
      const r = entry.record;
      if (r.leaseExpiresAt && r.leaseExpiresAt.getTime() > now) continue;
      result.recovered++;
      if (r.startedAt) {
        result.stalled++;
        r.stalls++;
        r.errors.push({
          attempt: r.attempt,
          name: 'JobStalledError',
          message: messages.leaseExpired(r.workerId ?? 'unknown'),
          at: new Date(now).toISOString(),
        });
        r.errors = boundHistory(r.errors, options.errorHistory ?? DEFAULT_ERROR_HISTORY);
      }
      this.deactivate(entry);
      r.attempt = Math.max(0, r.attempt - 1);
      this.requeue(entry, now, now);
    }
    return result;
  }

  async prune(policy: RetentionPolicy, limit: number): Promise<number> {
    const now = this.clock.now();
    let removed = 0;
    for (const kind of ['completed', 'failed'] as const) {
      const ids = this.finished[kind];
      const rule = policy[kind];
      for (const id of ids) {
        if (removed >= limit) return removed;
        const entry = this.jobs.get(id)!;
        const old = now - (entry.record.finishedAt?.getTime() ?? now) > rule.maxAgeMs;
        if (!old && ids.size <= rule.maxCount) break; // oldest first: everything after is newer
        ids.delete(id);
        this.drop(entry);
        removed++;
      }
    }
    return removed;
  }

  async get(id: string): Promise<JobRecord | null> {
    const entry = this.jobs.get(id);
    return entry ? this.snapshot(entry) : null;
  }

  async list(filter: JobFilter, page: { limit: number; cursor?: string | null }): Promise<JobPage> {
    const before = seqCursor(page.cursor) ?? Infinity;
    const matches = [...this.jobs.values()]
      .filter(
        (e) =>
          e.order < before &&
          (!filter.state || e.record.state === filter.state) &&
          (!filter.task || e.record.task === filter.task) &&
          (!filter.queue || e.record.queue === filter.queue),
      )
      .sort((a, b) => b.order - a.order);
    const text = filter.payloadContains;
    if (text !== undefined) {
      const window = matches.slice(0, PAYLOAD_SEARCH_SCAN);
      const { rows, nextCursor } = searchWindow(window, (e) => e.payloadJson.includes(text), page.limit, (e) => String(e.order));
      return { jobs: rows.map((e) => this.snapshot(e)), nextCursor };
    }
    const slice = matches.slice(0, page.limit);
    const more = matches.length > page.limit;
    return { jobs: slice.map((e) => this.snapshot(e)), nextCursor: more ? String(slice[slice.length - 1]!.order) : null };
  }

  async counts(filter: { queue?: string } = {}): Promise<JobCounts> {
    const counts = emptyCounts();
    const now = this.clock.now();
    this.promoteAt(now);
    for (const entry of this.jobs.values()) {
      if (!filter.queue || entry.record.queue === filter.queue) counts[entry.record.state]++;
    }
    return counts;
  }

  /** Per-task counts: a pass over the jobs in this process's memory, like {@link counts}. */
  override async countsByTask(tasks: readonly string[], filter: { queue?: string } = {}): Promise<Record<string, JobCounts>> {
    const byTask = new Map(tasks.map((task) => [task, emptyCounts()]));
    this.promoteAt(this.clock.now());
    for (const entry of this.jobs.values()) {
      const counts = byTask.get(entry.record.task);
      if (counts && (!filter.queue || entry.record.queue === filter.queue)) counts[entry.record.state]++;
    }
    return Object.fromEntries(byTask);
  }

  override async children(parentId: string): Promise<JobRecord[]> {
    return (this.childIds.get(parentId) ?? []).flatMap((id) => {
      const entry = this.jobs.get(id);
      return entry ? [this.snapshot(entry)] : [];
    });
  }

  async saveSchedule(name: string, data: string): Promise<void> {
    this.schedules.set(name, data);
  }

  async listSchedules(): Promise<{ name: string; data: string }[]> {
    return [...this.schedules].map(([name, data]) => ({ name, data }));
  }

  async removeSchedule(name: string): Promise<boolean> {
    return this.schedules.delete(name);
  }

  async saveSubscriptions(subscriptions: readonly Subscription[]): Promise<void> {
    for (const { event, task, queue, priority, attempts } of subscriptions) {
      let tasks = this.subs.get(event);
      if (!tasks) this.subs.set(event, (tasks = new Map()));
      tasks.set(task, { event, task, queue, priority, attempts });
    }
  }

  async subscriptions(event?: string): Promise<Subscription[]> {
    const maps = event === undefined ? [...this.subs.values()] : [this.subs.get(event) ?? new Map<string, Subscription>()];
    return maps.flatMap((tasks) => [...tasks.values()].map((s) => ({ ...s })));
  }

  async removeSubscription(event: string, task: string): Promise<boolean> {
    const tasks = this.subs.get(event);
    const removed = tasks?.delete(task) ?? false;
    if (tasks?.size === 0) this.subs.delete(event);
    return removed;
  }

  async pause(target: PauseTarget): Promise<void> {
    let set = this.paused.get(target.queue);
    if (!set) this.paused.set(target.queue, (set = new Set()));
    set.add(target.task ?? null);
    for (const listener of this.pauseListeners) listener({ queue: target.queue, task: target.task ?? null });
  }

  async resume(target: PauseTarget): Promise<boolean> {
    const set = this.paused.get(target.queue);
    const resumed = set?.delete(target.task ?? null) ?? false;
    if (set?.size === 0) this.paused.delete(target.queue);
    if (resumed) this.notify(target.queue);
    return resumed;
  }

  async listPaused(): Promise<Required<PauseTarget>[]> {
    return [...this.paused].flatMap(([queue, tasks]) => [...tasks].map((task) => ({ queue, task })));
  }

  async readDocument(key: string): Promise<StoredDocument | null> {
    checkDocumentKey(key);
    const doc = this.documents.get(key);
    return doc ? { ...doc } : null;
  }

  async writeDocument(key: string, expectedVersion: number | null, data: string): Promise<boolean> {
    checkDocumentKey(key);
    if ((this.documents.get(key)?.version ?? null) !== expectedVersion) return false;
    this.documents.set(key, { data, version: (expectedVersion ?? 0) + 1 });
    return true;
  }

  async saveWorker(id: string, data: string): Promise<void> {
    this.workers.set(id, { data, lastSeenAt: this.clock.now() });
  }

  async listWorkers(): Promise<StoredWorker[]> {
    const now = this.clock.now();
    return [...this.workers].map(([id, w]) => ({ id, data: w.data, lastSeenAt: new Date(w.lastSeenAt), ageMs: Math.max(0, now - w.lastSeenAt) }));
  }

  async removeWorker(id: string): Promise<boolean> {
    return this.workers.delete(id);
  }

  async pruneWorkers(olderThanMs: number): Promise<number> {
    const cutoff = this.clock.now() - olderThanMs;
    let removed = 0;
    for (const [id, w] of this.workers) if (w.lastSeenAt < cutoff && this.workers.delete(id)) removed++;
    return removed;
  }

  async recordErrorPatterns(hits: readonly ErrorPatternHit[], bounds: ErrorPatternBounds): Promise<void> {
    const now = new Date(this.clock.now());
    const touched = new Set<string>();
    for (const { fingerprint, task, queue, name, pattern, frame, count, jobIds } of hits) {
      let byFingerprint = this.patterns.get(task);
      if (!byFingerprint) this.patterns.set(task, (byFingerprint = new Map()));
      const stored = byFingerprint.get(fingerprint);
      const samples = [...(stored?.sampleJobIds ?? []), ...jobIds].slice(-bounds.samples);
      // Delete first so the map's order stays "seen longest ago first".
      byFingerprint.delete(fingerprint);
      byFingerprint.set(fingerprint, {
        fingerprint, task, queue, name, pattern, frame,
        count: (stored?.count ?? 0) + count,
        firstSeenAt: stored?.firstSeenAt ?? now,
        lastSeenAt: now,
        sampleJobIds: samples,
      });
      touched.add(task);
    }
    for (const task of touched) {
      const byFingerprint = this.patterns.get(task)!;
      for (const fingerprint of byFingerprint.keys()) {
        if (byFingerprint.size <= bounds.maxPerTask) break;
        byFingerprint.delete(fingerprint);
      }
    }
  }

  async listErrorPatterns(filter: ErrorPatternFilter = {}): Promise<ErrorPattern[]> {
    const tasks = filter.task === undefined ? [...this.patterns.values()] : [this.patterns.get(filter.task) ?? new Map<string, ErrorPattern>()];
    return tasks
      .flatMap((byFingerprint) => [...byFingerprint.values()])
      .filter((p) => filter.queue === undefined || p.queue === filter.queue)
      .sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime())
      .slice(0, filter.limit ?? 100)
      .map((p) => ({ ...p, sampleJobIds: [...p.sampleJobIds] }));
  }

  async pruneErrorPatterns(olderThanMs: number): Promise<number> {
    const cutoff = this.clock.now() - olderThanMs;
    let removed = 0;
    for (const [task, byFingerprint] of this.patterns) {
      for (const [fingerprint, p] of byFingerprint) {
        if (p.lastSeenAt.getTime() < cutoff && byFingerprint.delete(fingerprint)) removed++;
      }
      if (byFingerprint.size === 0) this.patterns.delete(task);
    }
    return removed;
  }

  async addMetrics(points: readonly MetricPoint[]): Promise<void> {
    checkMetricPoints(points);
    for (const p of points) {
      const key = `${p.resolution}\0${p.bucket}\0${p.queue}\0${p.task}\0${p.name}\0${p.slot}`;
      const stored = this.metrics.get(key);
      if (stored) stored.value += p.value;
      else this.metrics.set(key, { ...p });
    }
  }

  async readMetrics(query: MetricQuery): Promise<MetricPoint[]> {
    const out: MetricPoint[] = [];
    for (const p of this.metrics.values()) {
      if (p.resolution !== query.resolution || p.bucket < query.from || p.bucket >= query.to) continue;
      if ((query.queue !== undefined && p.queue !== query.queue) || (query.task !== undefined && p.task !== query.task)) continue;
      out.push({ ...p });
    }
    return out;
  }

  async pruneMetrics(before: MetricRetention): Promise<number> {
    let removed = 0;
    for (const [key, p] of this.metrics) if (p.bucket < before[p.resolution] && this.metrics.delete(key)) removed++;
    return removed;
  }

  async oldestWaiting(queues: readonly string[]): Promise<Record<string, Date | null>> {
    this.promoteAt(this.clock.now());
    return Object.fromEntries(queues.map((queue) => {
      const at = this.ready.oldest(queue);
      return [queue, at === null ? null : new Date(at)];
    }));
  }

  // --- internals -------------------------------------------------------------------------------------------------

  /**
   * The job that holds the dedupe key of `job` and so takes its place (see `DedupeMode`), after a `debounce` or
   * `replace` key gave it the new payload (and run time); undefined when `job` is to be inserted.
   */
  private keyHolder(job: NewJob, now: number): Entry | undefined {
    const { mode } = job.dedupe!;
    const held = this.dedupeKeys.get(dedupeKey(job));
    const entry = held && this.jobs.get(held.id);
    if (!entry) return undefined;
    if (mode === 'window') return held.until > now ? entry : undefined;
    const { state } = entry.record;
    if (state !== 'waiting' && state !== 'scheduled') return undefined;
    entry.payloadJson = job.payload;
    if (mode === 'debounce') this.requeue(entry, initialState(job, now).runAt, now);
    return entry;
  }

  /** The entry when `lease` is its current claim; null when the write must be fenced out. */
  private owned(lease: Lease): Entry | null {
    const entry = this.jobs.get(lease.id);
    return entry && entry.record.state === 'active' && entry.token === lease.token ? entry : null;
  }

  /** Delete a job, and the dedupe key it holds; its entries left in the ready lists and the due heap go stale. */
  private drop(entry: Entry): void {
    const { id } = entry.record;
    entry.seq = -1;
    this.jobs.delete(id);
    this.childIds.delete(id);
    if (entry.dedupeKey && this.dedupeKeys.get(entry.dedupeKey)?.id === id) this.dedupeKeys.delete(entry.dedupeKey);
  }

  private deactivate(entry: Entry): void {
    const r = entry.record;
    if (r.group && this.active.has(r.id)) {
      const key = `${r.queue}\0${r.group}`;
      const left = (this.activeInGroup.get(key) ?? 1) - 1;
      if (left > 0) this.activeInGroup.set(key, left);
      else this.activeInGroup.delete(key);
    }
    this.active.delete(entry.record.id);
    entry.token = null;
    entry.record.workerId = null;
    entry.record.leaseExpiresAt = null;
  }

  private finish(entry: Entry, state: 'completed' | 'failed' | 'cancelled', now: number): void {
    this.deactivate(entry);
    entry.record.state = state;
    entry.record.finishedAt = new Date(now);
    entry.seq = -1;
    this.finished[state === 'completed' ? 'completed' : 'failed'].add(entry.record.id);
    if (entry.record.parent) this.childEnded(entry, now);
  }

  /**
   * A flow's child ended: fail its parent (a failed child whose `onFailure` is 'fail'), or release it once every
   * child has ended. A parent no longer waiting for its children is left alone.
   */
  private childEnded(child: Entry, now: number): void {
    const { id, task, state, parent: link } = child.record;
    const parent = this.jobs.get(link!.id);
    if (parent?.record.state !== 'waiting-children') return;
    if (state !== 'completed' && link!.onFailure === 'fail') {
      const r = parent.record;
      const message = messages.childFailed(id, task, state);
      r.errors = boundHistory([...r.errors, { attempt: r.attempt, name: 'ChildFailedError', message, at: new Date(now).toISOString() }], DEFAULT_ERROR_HISTORY);
      this.finish(parent, 'failed', now);
      return;
    }
    const ended = (this.childIds.get(link!.id) ?? []).every((childId) => FINAL.has(this.jobs.get(childId)?.record.state ?? 'completed'));
    if (ended) this.requeue(parent, Math.max(parent.record.runAt.getTime(), now), now);
  }

  /**
   * A removed child leaves its parent's list of children; a parent waiting for its children runs once the ones left
   * have all ended.
   */
  private leaveParent(id: string, parentId: string): void {
    const siblings = this.childIds.get(parentId) ?? [];
    const at = siblings.indexOf(id);
    if (at >= 0) siblings.splice(at, 1);
    const parent = this.jobs.get(parentId);
    if (parent?.record.state !== 'waiting-children') return;
    if (siblings.every((childId) => FINAL.has(this.jobs.get(childId)?.record.state ?? 'completed'))) {
      const now = this.clock.now();
      this.requeue(parent, Math.max(parent.record.runAt.getTime(), now), now);
    }
  }

  /** Back to waiting (due now) or scheduled (due later). */
  private requeue(entry: Entry, runAt: number, now: number): void {
    entry.record.runAt = new Date(runAt);
    if (runAt > now) {
      entry.record.state = 'scheduled';
      this.pushDue(entry, runAt);
    } else {
      entry.record.state = 'waiting';
      entry.readyAt = now;
      this.pushReady(entry, now);
      this.notify(entry.record.queue);
    }
  }

  private pushReady(entry: Entry, now: number): void {
    entry.seq = ++this.seq;
    entry.readyAt = Math.min(entry.readyAt, now);
    this.ready.push(entry);
  }

  private pushDue(entry: Entry, at: number): void {
    entry.seq = ++this.seq;
    this.due.push({ entry, seq: entry.seq, at });
    this.armDueTimer();
  }

  /** Move due scheduled jobs to their ready lists. */
  private promoteAt(now: number): number {
    let moved = 0;
    const woken = new Set<string>();
    for (let top = this.due.peek(); top && top.at <= now; top = this.due.peek()) {
      this.due.pop();
      const entry = top.entry;
      if (entry.seq !== top.seq || entry.record.state !== 'scheduled') continue;
      entry.record.state = 'waiting';
      entry.readyAt = top.at;
      this.pushReady(entry, now);
      woken.add(entry.record.queue);
      moved++;
    }
    for (const queue of woken) this.notify(queue);
    return moved;
  }

  /** One timer for the earliest due job, so idle workers wake exactly when it is due. */
  private armDueTimer(): void {
    const top = this.due.peek();
    if (!top || top.at >= this.dueTimerAt) return;
    if (this.dueTimer) this.clock.clearTimeout(this.dueTimer);
    this.dueTimerAt = top.at;
    this.dueTimer = this.clock.setTimeout(() => {
      this.dueTimer = null;
      this.dueTimerAt = Infinity;
      this.promoteAt(this.clock.now());
      this.armDueTimer();
    }, top.at - this.clock.now());
    this.dueTimer.unref?.();
  }

  /**
   * Wake-ups are coalesced and delivered on the next macrotask: a burst of inserts wakes each queue once, and
   * everything the caller does in its own promise chain (emitting `job:retry`, say) happens before a worker reacts.
   */
  private notify(queue: string): void {
    if (this.listeners.size === 0) return;
    this.pendingWake.add(queue);
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      const queues = [...this.pendingWake];
      this.pendingWake.clear();
      for (const q of queues) for (const listener of this.listeners) listener(q);
    });
  }

  /** A copy the caller may keep: later state changes do not show through it. */
  private snapshot(entry: Entry): JobRecord {
    const r = entry.record;
    return {
      ...r,
      payload: JSON.parse(entry.payloadJson),
      result: entry.resultJson === null ? null : JSON.parse(entry.resultJson),
      progress: entry.progressJson === null ? null : JSON.parse(entry.progressJson),
      errors: r.errors.slice(),
      logs: r.logs.slice(),
      headers: r.headers ? { ...r.headers } : null,
      ...(r.parent && { parent: { ...r.parent } }),
    };
  }
}
