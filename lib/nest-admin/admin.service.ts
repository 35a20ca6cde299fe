import { ConflictException, Inject, Injectable, Logger, NotFoundException, type OnApplicationBootstrap } from '@nestjs/common';
import { InvalidJobError, JobNotFoundError, messages } from '../contract/errors.js';
import type { JobError, JobFilter, JobRecord, JobState, Priority } from '../contract/job.js';
import { PAYLOAD_SEARCH_SCAN, type PauseTarget } from '../contract/job-storage.js';
import { METRIC_RESOLUTION_MS, type ErrorPattern, type MetricResolution } from '../contract/monitoring.js';
import type { ScheduleInfo } from '../core/scheduler-definition.js';
import type { UnoJobs } from '../core/uno-jobs.js';
import { UNO_JOBS } from '../nest/tokens.js';
import { ADMIN_OPTIONS } from './admin-access.js';
import type { RedactedField, ResolvedAdminOptions } from './admin-options.js';
import { badField } from './fields.js';
import { BULK_LIMIT, SCAN_LIMIT, type AdminScope, type BulkAction } from './routes.js';

/** The fields of a job that lists show. */
type SummaryFields = 'id' | 'task' | 'queue' | 'state' | 'priority' | 'attempt' | 'maxAttempts' | 'stalls' | 'runAt' | 'createdAt' | 'startedAt' | 'finishedAt' | 'workerId';

/** A job in a list: no payload, result or logs. */
export interface JobSummary extends Pick<JobRecord, SummaryFields> {
  /** The latest error, redacted. */
  lastError: { name: string; message: string } | null;
}

/** One step of a job's life, for its timeline. */
export interface TimelineEntry {
  at: Date;
  event: 'created' | 'due' | 'failed-attempt' | 'started' | 'completed' | 'failed' | 'cancelled';
  detail?: string;
}

/** One job with everything the API shows of it (redacted). */
export interface JobDetail extends JobSummary {
  payload: unknown;
  result: unknown;
  progress: unknown;
  errors: JobError[];
  logs: string[];
  timeoutMs: number | null;
  leaseExpiresAt: Date | null;
  timeline: TimelineEntry[];
}

/** Filter of the jobs route and of bulk actions. */
export interface AdminJobFilter extends Omit<JobFilter, 'payloadContains'> {
  idPrefix?: string;
  from?: Date;
  to?: Date;
  /** Text in the payload (the store's `payloadContains`). */
  search?: string;
}

/** What an action on one job does: the states it applies to, those in which it already happened, the call. */
interface Action {
  applies: readonly JobState[];
  done: readonly JobState[];
  run: (uno: UnoJobs, id: string, priority: Priority) => Promise<JobRecord>;
}

/** Every state but `active`: a running job is cancelled first. */
const REMOVABLE: readonly JobState[] = ['waiting-children', 'waiting', 'scheduled', 'completed', 'failed', 'cancelled'];
/** The states whose priority can change. */
const REPRIORITISABLE: readonly JobState[] = ['waiting', 'scheduled'];

const ACTIONS: Record<BulkAction, Action> = {
  retry: { applies: ['failed', 'cancelled'], done: ['waiting', 'scheduled', 'active'], run: (uno, id) => uno.queue.retry(id) },
  cancel: { applies: ['waiting', 'scheduled', 'active'], done: ['cancelled'], run: (uno, id) => uno.queue.cancel(id) },
  'run-now': { applies: ['scheduled'], done: ['waiting', 'active'], run: (uno, id) => uno.queue.runNow(id) },
  delete: { applies: REMOVABLE, done: [], run: (uno, id) => uno.queue.remove(id) },
  'change-priority': { applies: REPRIORITISABLE, done: [], run: (uno, id, priority) => uno.queue.changePriority(id, priority) },
};

/** Whether `action` would change `job` (a job already at the new priority would not). */
const wouldChange = (action: BulkAction, job: JobRecord, priority: Priority | undefined): boolean =>
  ACTIONS[action].applies.includes(job.state) && !(action === 'change-priority' && job.priority === priority);

/** Longest range of a series per resolution: a day of minutes, a week of hours. */
const MAX_SERIES_MS: Record<MetricResolution, number> = { minute: 24 * METRIC_RESOLUTION_MS.hour, hour: 7 * 24 * METRIC_RESOLUTION_MS.hour };
/** Store reads one page of the jobs route may take when it filters the store's pages itself. */
const MAX_READS = 20;

/** What a failed redactor leaves in place of the value: never the raw data. */
export const REDACTION_FAILED = '[redaction failed]';

/**
 * The admin API's logic on the app's engine: views of queues, jobs and schedules with every job part redacted,
 * actions, bulk actions and the reads of `UnoMetrics`. The controller only maps routes to it.
 */
@Injectable()
export class UnoJobsAdminService implements OnApplicationBootstrap {
  private readonly logger = new Logger('UnoJobsAdmin');

  constructor(
    @Inject(UNO_JOBS) private readonly uno: UnoJobs,
    @Inject(ADMIN_OPTIONS) private readonly options: ResolvedAdminOptions,
  ) {}

  /** @internal Warn at every boot while the API is open to anyone. */
  onApplicationBootstrap(): void {
    if (this.options.unauthenticated) this.logger.warn(messages.adminUnauthenticatedWarning(this.options.path));
  }

  /** The caller's scope, and whether the store can search payloads (the dashboard hides its search box otherwise). */
  me(scope: AdminScope) {
    return { scope, readOnly: this.options.readOnly, payloadSearch: this.uno.storage.capabilities.payloadSearch === true };
  }

  /** Every queue known to this instance, the worker registry or the paused list. */
  async queues() {
    const [workers, paused] = await Promise.all([this.uno.metrics.workers(), this.uno.storage.listPaused()]);
    const names = new Set([
      ...this.uno.taskNames().map((name) => this.uno.task(name)!.queue),
      ...(workers ?? []).flatMap((w) => Object.keys(w.queues)),
      ...(paused ?? []).map((p) => p.queue),
    ]);
    const queues = await Promise.all([...names].sort().map((name) => this.queue(name, paused)));
    return { queues, pauseSupported: paused !== null };
  }

  /** One queue: counts, rates, failure rate, oldest wait and paused state. */
  async queue(name: string, known?: Required<PauseTarget>[] | null) {
    const [summary, paused] = await Promise.all([this.uno.metrics.summary({ queue: name }), known !== undefined ? known : this.uno.storage.listPaused()]);
    const mine = (paused ?? []).filter((p) => p.queue === name);
    return {
      name,
      counts: summary.counts,
      rates: summary.rates,
      failureRate: summary.failureRate,
      oldestWaitMs: summary.oldestWaitMs,
      paused: paused === null ? null : mine.some((p) => p.task === null),
      pausedTasks: mine.flatMap((p) => (p.task === null ? [] : [p.task])).sort(),
    };
  }

  /** Pause or resume claims of a queue or one task of it (idempotent: `changed` says whether it did anything). */
  async setPaused(queue: string, task: string | undefined, paused: boolean) {
    const target = { queue, task: task ?? null };
    const { storage } = this.uno;
    let changed: boolean;
    if (paused) {
      const before = await storage.listPaused();
      changed = !(before ?? []).some((p) => p.queue === queue && p.task === target.task);
      await storage.pause(target);
    } else {
      changed = await storage.resume(target);
    }
    return { queue, task: target.task, paused, changed };
  }

  /**
   * One page of jobs, newest first. The store filters by queue, task, state and text in the payload; the id prefix and
   * time range are applied here to the store's pages, reading at most {@link SCAN_LIMIT} jobs, so a page may hold
   * fewer than `limit` jobs while `nextCursor` is not null. A payload search reads once: the store examines at most
   * `PAYLOAD_SEARCH_SCAN` jobs for it.
   */
  async jobs(filter: AdminJobFilter, limit: number, cursor: string | null) {
    const storeFilter = this.storeFilter(filter);
    const jobs: JobSummary[] = [];
    let next = cursor;
    for (let reads = 0, scanned = 0; jobs.length < limit && reads < MAX_READS && scanned < SCAN_LIMIT; reads++) {
      const page = await this.listPage(storeFilter, limit - jobs.length, next);
      scanned += filter.search === undefined ? page.jobs.length : PAYLOAD_SEARCH_SCAN;
      jobs.push(...page.jobs.filter((job) => matches(job, filter)).map((job) => this.summary(job)));
      next = page.nextCursor;
      if (next === null) break;
    }
    return { jobs, nextCursor: next };
  }

  /** One job with everything the API shows; 404 when unknown. */
  async job(id: string): Promise<JobDetail> {
    return this.detail(await this.found(id));
  }

  /**
   * Retry, cancel or run now one job. Idempotent: a job already in the action's outcome answers `changed: false`;
   * a state the action cannot apply to answers 409.
   */
  async act(action: 'retry' | 'cancel' | 'run-now', id: string): Promise<{ job: JobDetail; changed: boolean }> {
    const job = await this.found(id);
    const { applies, done, run } = ACTIONS[action];
    if (applies.includes(job.state)) return { job: this.detail(await run(this.uno, id, job.priority)), changed: true };
    if (done.includes(job.state)) return { job: this.detail(job), changed: false };
    throw new ConflictException(messages.adminStateConflict(id, job.state, action, applies));
  }

  /**
   * Delete a job that is not active; 404 when unknown (a second delete too), 409 for an active job (cancel it first).
   * Answers the job as it was.
   */
  async remove(id: string): Promise<{ removed: true; job: JobDetail }> {
    const job = await this.found(id);
    if (job.state === 'active') throw new ConflictException(messages.removeActive(id));
    try {
      return { removed: true, job: this.detail(await this.uno.queue.remove(id)) };
    } catch (error) {
      // Claimed since it was read: the store refused it.
      if (error instanceof InvalidJobError) throw new ConflictException(error.message);
      if (error instanceof JobNotFoundError) throw new NotFoundException(error.message);
      throw error;
    }
  }

  /**
   * Give a waiting or scheduled job another priority. Idempotent: a job already at that priority answers
   * `changed: false`; another state answers 409.
   */
  async changePriority(id: string, priority: Priority): Promise<{ job: JobDetail; changed: boolean }> {
    const job = await this.found(id);
    if (!REPRIORITISABLE.includes(job.state)) throw new ConflictException(messages.adminStateConflict(id, job.state, 'change-priority', REPRIORITISABLE));
    if (job.priority === priority) return { job: this.detail(job), changed: false };
    const after = await this.uno.queue.changePriority(id, priority);
    return { job: this.detail(after), changed: after.priority === priority };
  }

  /**
   * A bulk action by filter. A dry run counts the jobs it would change (at most {@link BULK_LIMIT}); the real one
   * needs that count as `confirm` (409 with the current count otherwise) and refuses more than the limit.
   */
  async bulk(action: BulkAction, filter: AdminJobFilter, dryRun: boolean, confirm: number | undefined, priority?: Priority) {
    if (action === 'change-priority' && priority === undefined) {
      throw badField('priority', messages.adminInvalidField('priority', undefined, 'one of "critical", "high", "normal", "low" (change-priority needs it)'));
    }
    const { ids, capped } = await this.matching(action, filter, priority);
    if (dryRun) return { action, matched: ids.length, capped };
    if (capped) throw badField('filter', messages.adminBulkTooMany(BULK_LIMIT));
    if (confirm !== ids.length) {
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: messages.adminBulkConfirm(confirm, ids.length), matched: ids.length });
    }
    const changed: string[] = [];
    for (const id of ids) {
      const job = await this.uno.storage.get(id);
      if (!job || !wouldChange(action, job, priority)) continue;
      try {
        await ACTIONS[action].run(this.uno, id, priority!);
        changed.push(id);
      } catch (error) {
        // Claimed (delete) or gone since it was read: skipped, as a job that no longer matches.
        if (!(error instanceof InvalidJobError || error instanceof JobNotFoundError)) throw error;
      }
    }
    return { action, matched: ids.length, changed: changed.length, ids: changed };
  }

  /** Every schedule with its next and last run, payload redacted. */
  async schedules() {
    return { schedules: (await this.uno.scheduler.list()).map((s) => this.schedule(s)) };
  }

  /** Pause or resume a schedule (idempotent); 404 when unknown. */
  async setSchedulePaused(name: string, paused: boolean) {
    const before = await this.foundSchedule(name);
    const after = paused ? await this.uno.scheduler.pause(name) : await this.uno.scheduler.resume(name);
    return { schedule: this.schedule(after), changed: before.paused !== paused };
  }

  /** Enqueue one firing of a schedule now; 404 when unknown. */
  async trigger(name: string) {
    await this.foundSchedule(name);
    return { job: this.detail(await this.uno.scheduler.trigger(name)) };
  }

  /** Delete a schedule; 404 when unknown. */
  async removeSchedule(name: string) {
    await this.foundSchedule(name);
    return { removed: await this.uno.scheduler.remove(name) };
  }

  /** The worker registry. */
  async workers() {
    return { workers: await this.uno.metrics.workers() };
  }

  /** `UnoMetrics.summary` of a queue, a task or everything. */
  metrics(filter: { queue?: string; task?: string }) {
    return this.uno.metrics.summary(filter);
  }

  /** Per-bucket figures for charts, within the resolution's longest range. */
  async series(query: { from: Date; to: Date; resolution?: MetricResolution; queue?: string; task?: string }) {
    const resolution = query.resolution ?? 'minute';
    const span = query.to.getTime() - query.from.getTime();
    if (span <= 0 || span > MAX_SERIES_MS[resolution]) {
      throw badField('to', messages.adminInvalidField('to', query.to.toISOString(), `a date after from and at most ${MAX_SERIES_MS[resolution] / 3_600_000} h after it for resolution ${resolution}`));
    }
    return { points: await this.uno.metrics.series({ ...query, resolution }) };
  }

  /** Error patterns with their sample jobs (those still stored), redacted. */
  async errorPatterns(filter: { queue?: string; task?: string; limit?: number }) {
    const patterns = await this.uno.metrics.errorPatterns({ ...filter, limit: filter.limit ?? 20 });
    if (patterns === null) return { patterns: null };
    return {
      patterns: await Promise.all(
        patterns.map(async (p) => {
          const jobs = await Promise.all(p.sampleJobIds.map((id) => this.uno.storage.get(id)));
          return { ...this.redactPattern(p), jobs: jobs.filter((j): j is JobRecord => j !== null).map((j) => this.summary(j)) };
        }),
      ),
    };
  }

  /** Open alerts and the recent history (fired, repeated and resolved notices), the same on every instance. */
  async alerts() {
    const [open, history] = await Promise.all([this.uno.alerts.open(), this.uno.alerts.history()]);
    return { open, history };
  }

  private async listPage(filter: JobFilter, limit: number, cursor: string | null) {
    try {
      return await this.uno.storage.list(filter, { limit, cursor });
    } catch (error) {
      if (error instanceof InvalidJobError) throw badField('cursor', error.message);
      throw error;
    }
  }

  /** What the store filters itself; a payload search on a store that cannot search is a 400 naming `search`. */
  private storeFilter(filter: AdminJobFilter): JobFilter {
    const { state, task, queue, search } = filter;
    if (search === undefined) return { state, task, queue };
    if (!this.uno.storage.capabilities.payloadSearch) throw badField('search', messages.payloadSearchUnsupported());
    return { state, task, queue, payloadContains: search };
  }

  private async matching(action: BulkAction, filter: AdminJobFilter, priority: Priority | undefined): Promise<{ ids: string[]; capped: boolean }> {
    const ids: string[] = [];
    const storeFilter = this.storeFilter(filter);
    let scanned = 0;
    for (const state of ACTIONS[action].applies.filter((s) => !filter.state || s === filter.state)) {
      let cursor: string | null = null;
      do {
        const page = await this.uno.storage.list({ ...storeFilter, state }, { limit: 100, cursor });
        scanned += filter.search === undefined ? page.jobs.length : PAYLOAD_SEARCH_SCAN;
        ids.push(...page.jobs.filter((job) => matches(job, filter) && wouldChange(action, job, priority)).map((job) => job.id));
        if (ids.length > BULK_LIMIT || scanned > 10 * BULK_LIMIT) return { ids: ids.slice(0, BULK_LIMIT), capped: true };
        cursor = page.nextCursor;
      } while (cursor !== null);
    }
    return { ids, capped: false };
  }

  private async found(id: string): Promise<JobRecord> {
    const job = await this.uno.storage.get(id);
    if (!job) throw new NotFoundException(messages.jobNotFound(id));
    return job;
  }

  private async foundSchedule(name: string): Promise<ScheduleInfo> {
    const schedule = await this.uno.scheduler.get(name);
    if (!schedule) throw new NotFoundException(messages.adminScheduleNotFound(name));
    return schedule;
  }

  private redact(task: string, value: unknown, field: RedactedField): any {
    const redactor = this.options.redactor(task);
    if (!redactor) return value;
    try {
      return redactor(value, field);
    } catch {
      return REDACTION_FAILED;
    }
  }

  private summary(job: JobRecord): JobSummary {
    const last = job.errors.at(-1);
    const error = last ? this.redact(job.task, last, 'error') : null;
    return {
      id: job.id, task: job.task, queue: job.queue, state: job.state, priority: job.priority, attempt: job.attempt,
      maxAttempts: job.maxAttempts, stalls: job.stalls, runAt: job.runAt, createdAt: job.createdAt, startedAt: job.startedAt,
      finishedAt: job.finishedAt, workerId: job.workerId,
      lastError: error === null ? null : typeof error === 'object' ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) },
    };
  }

  private detail(job: JobRecord): JobDetail {
    const errors = job.errors.map((e) => this.redact(job.task, e, 'error'));
    return {
      ...this.summary(job),
      payload: this.redact(job.task, job.payload, 'payload'),
      result: job.result === null ? null : this.redact(job.task, job.result, 'result'),
      progress: job.progress === null ? null : this.redact(job.task, job.progress, 'progress'),
      errors,
      logs: job.logs.map((line) => this.redact(job.task, line, 'log')),
      timeoutMs: job.timeoutMs,
      leaseExpiresAt: job.leaseExpiresAt,
      timeline: timeline(job, errors),
    };
  }

  private schedule(info: ScheduleInfo) {
    return { ...info, payload: this.redact(info.task, info.payload, 'payload') };
  }

  private redactPattern(p: ErrorPattern) {
    const error = this.redact(p.task, { name: p.name, message: p.pattern, stack: p.frame ?? undefined }, 'error');
    if (typeof error !== 'object' || error === null) return { ...p, pattern: String(error), frame: null };
    return { ...p, name: String(error.name ?? p.name), pattern: String(error.message ?? ''), frame: error.stack === undefined ? null : String(error.stack) };
  }
}

function matches(job: JobRecord, filter: AdminJobFilter): boolean {
  return (
    (filter.idPrefix === undefined || job.id.startsWith(filter.idPrefix)) &&
    (filter.from === undefined || job.createdAt.getTime() >= filter.from.getTime()) &&
    (filter.to === undefined || job.createdAt.getTime() < filter.to.getTime())
  );
}

function timeline(job: JobRecord, errors: readonly JobError[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [{ at: job.createdAt, event: 'created' }];
  if (job.runAt.getTime() > job.createdAt.getTime()) entries.push({ at: job.runAt, event: 'due' });
  if (job.startedAt) entries.push({ at: job.startedAt, event: 'started', detail: `attempt ${job.attempt}` });
  for (const e of errors) {
    const at = new Date(e?.at);
    if (!Number.isNaN(at.getTime())) entries.push({ at, event: 'failed-attempt', detail: `attempt ${e.attempt}: ${e.name}: ${e.message}` });
  }
  if (job.finishedAt && (job.state === 'completed' || job.state === 'failed' || job.state === 'cancelled')) entries.push({ at: job.finishedAt, event: job.state });
  return entries.sort((a, b) => a.at.getTime() - b.at.getTime());
}
