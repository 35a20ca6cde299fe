import { randomUUID } from 'node:crypto';
import { SHUTDOWN_WRITE_MS, withDeadline, type Clock, type TimerHandle } from '../contract/clock.js';
import { ConfigurationError, InvalidJobError, UnoJobsError, messages } from '../contract/errors.js';
import { toError, type JobEvents } from './events.js';
import type { InsertResult, JobRecord, JobState } from '../contract/job.js';
import type { EnqueueItem, JobQueue } from './job-queue.js';
import {
  buildDefinition,
  compileTiming,
  loadSchedules,
  sameDefinition,
  stateKey,
  tickJobId,
  validateScheduleName,
  type ScheduleDefinition,
  type ScheduleInfo,
  type ScheduleOptions,
  type ScheduleState,
} from './scheduler-definition.js';
import { dueTicks, type Timing } from './scheduler-timing.js';
import type { TaskRegistry } from './task-registry.js';
import type { JobStorage } from '../contract/job-storage.js';

/** Scheduler settings of one instance. */
export interface SchedulerOptions {
  /**
   * Run the firing loop in this instance. Default: `true` when the worker runs, `false` on producer-only
   * instances (workers fire schedules; firing is idempotent, so enabling it anywhere is safe too).
   */
  enabled?: boolean;
  /** Longest wait before re-reading schedules from the store (changes made by other instances). Default 5000. */
  syncIntervalMs?: number;
  /** A tick handled more than this many ms after its time counts as missed (its `missed` policy applies). Default 5000. */
  graceMs?: number;
}

/** What the scheduler needs from the engine around it. */
export interface SchedulerDeps {
  storage: JobStorage;
  registry: TaskRegistry;
  queue: JobQueue;
  clock: Clock;
  events: JobEvents;
  /** Resolves when the store is initialised. */
  ready: () => Promise<void>;
}

/** States in which the previous firing's job blocks a schedule with `overlap: false`. */
const BUSY: readonly JobState[] = ['waiting', 'scheduled', 'active'];

interface Declared {
  options: ScheduleOptions;
  owner: string;
}

/**
 * Cron and interval schedules that fire **once per tick across every instance** sharing a store. There is no
 * leader: every instance runs the loop, and each firing is a job whose id is derived from (schedule, tick), so the
 * store keeps one job per tick however many instances fire it. Schedules live in the store, so dynamic ones
 * survive restarts; decorator ones are re-synced at every boot. Each firing is an ordinary job (retries, priority,
 * timeout, history). Inject it in NestJS (`constructor(private readonly scheduler: Scheduler) {}`).
 *
 * @example
 * await scheduler.upsert('digest:u1', { cron: '0 8 * * 1', timezone: 'America/New_York', task: 'digest.send', payload: { userId: 'u1' } });
 * await scheduler.pause('digest:u1');
 * const [info] = await scheduler.list(); // info.nextRunAt, info.lastRunAt
 */
export class Scheduler {
  private readonly declared = new Map<string, Declared>();
  /** What this instance knows beyond the store: its cursor and the latest job it saw per schedule. */
  private readonly local = new Map<string, ScheduleState>();
  private readonly timings = new Map<string, { key: string; timing: Timing | null }>();
  private readonly syncIntervalMs: number;
  private readonly graceMs: number;
  private timer: TimerHandle | null = null;
  private looping = false;
  private inFlight: Promise<void> | null = null;
  private rerun = false;

  constructor(
    private readonly deps: SchedulerDeps,
    options: SchedulerOptions = {},
  ) {
    this.syncIntervalMs = positive('scheduler.syncIntervalMs', options.syncIntervalMs ?? 5000);
    this.graceMs = positive('scheduler.graceMs', options.graceMs ?? 5000);
  }

  /**
   * Declare a schedule in code (the NestJS explorer calls this for `@Cron`/`@Interval`). Validated at once: an
   * invalid expression, time zone or option throws a `ConfigurationError` naming `owner`, so the boot fails.
   * Stored (or updated) when the engine starts.
   */
  declare(name: string, options: ScheduleOptions, owner: string, decorator = '@Cron'): void {
    try {
      buildDefinition(name, options, 'decorator', this.deps.clock.now());
    } catch (error) {
      throw new ConfigurationError(messages.invalidScheduleDeclaration(decorator, owner, (error as Error).message));
    }
    const existing = this.declared.get(name);
    if (existing) throw new ConfigurationError(messages.duplicateSchedule(name, existing.owner, owner));
    this.declared.set(name, { options, owner });
  }

  /** Store declared schedules, then (when `loop`) run the first round and keep firing until `stop`. */
  async start(loop: boolean): Promise<void> {
    await this.deps.ready();
    await this.syncDeclared();
    if (!loop || this.looping) return;
    this.looping = true;
    this.wake(0);
    await this.inFlight;
  }

  /** Stop firing; waits for a round in flight. Idempotent. Stored schedules are untouched. */
  async stop(): Promise<void> {
    this.looping = false;
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
    // A round stuck on an unreachable store must not hold shutdown: it is left to finish or fail on its own.
    if (this.inFlight) await withDeadline(this.deps.clock, this.inFlight, SHUTDOWN_WRITE_MS, () => new Error('timeout')).catch(() => {});
  }

  /**
   * Create or replace a schedule; it persists in the store. The task must be registered in this process. The
   * paused state is kept unless `paused` is given. Returns the schedule as `list` shows it.
   */
  async upsert(name: string, options: ScheduleOptions): Promise<ScheduleInfo> {
    validateScheduleName(name);
    if (options && typeof options === 'object' && typeof options.task === 'string') this.deps.registry.require(options.task);
    await this.deps.ready();
    const { definitions, states } = await loadSchedules(this.deps.storage);
    let definition: ScheduleDefinition;
    try {
      definition = buildDefinition(name, options, 'dynamic', this.deps.clock.now(), definitions.get(name));
    } catch (error) {
      if (error instanceof UnoJobsError) throw error;
      throw new InvalidJobError(messages.invalidSchedule(name, (error as Error).message));
    }
    const state = await this.resumeCursor(definitions.get(name), definition, states.get(name));
    await this.deps.storage.saveSchedule(name, JSON.stringify(definition));
    this.wake(0);
    return this.info(definition, state);
  }

  /** Delete a schedule (its jobs stay). False when it did not exist. A decorator schedule returns at next boot. */
  async remove(name: string): Promise<boolean> {
    await this.deps.ready();
    const removed = await this.deps.storage.removeSchedule(name);
    await this.deps.storage.removeSchedule(stateKey(name));
    this.local.delete(name);
    return removed;
  }

  /** Stop firing a schedule (on every instance) until `resume`. Kept across restarts. */
  pause(name: string): Promise<ScheduleInfo> {
    return this.setPaused(name, true);
  }

  /** Fire a paused schedule again, from its next tick on: ticks that passed while paused are not run. */
  resume(name: string): Promise<ScheduleInfo> {
    return this.setPaused(name, false);
  }

  /**
   * Enqueue a job of the schedule now, outside its timing (also when paused; overlap is not checked). Its id is
   * `sched:<name>:manual:<uuid>`. `payload` replaces the schedule's for this run.
   */
  async trigger(name: string, payload?: unknown): Promise<JobRecord> {
    const definition = await this.require(name);
    const [result] = await this.deps.queue.enqueueScheduled([{
      task: definition.task,
      payload: payload === undefined ? definition.payload : payload,
      options: { jobId: `sched:${name}:manual:${randomUUID()}`, ...(definition.priority ? { priority: definition.priority } : {}) },
    }]);
    return result!.job;
  }

  /** Every stored schedule with its next and last run, by name. */
  async list(): Promise<ScheduleInfo[]> {
    await this.deps.ready();
    const { definitions, states } = await loadSchedules(this.deps.storage);
    return [...definitions.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((d) => this.info(d, states.get(d.name)));
  }

  /**
   * Schedules whose first unhandled tick is more than `graceMs` in the past: no instance fired (or skipped) it, so no
   * scheduler loop runs for them or it is stuck. Paused schedules are left out. Read from the store, for alerts.
   */
  async overdue(graceMs: number): Promise<{ name: string; dueAt: Date; lastRunAt: Date | null }[]> {
    const { definitions, states } = await loadSchedules(this.deps.storage);
    const now = this.deps.clock.now();
    const late: { name: string; dueAt: Date; lastRunAt: Date | null }[] = [];
    for (const definition of definitions.values()) {
      const timing = definition.paused ? null : this.timing(definition);
      if (!timing) continue;
      const state = this.merged(definition.name, states.get(definition.name), definition.createdAt);
      const due = timing.next(state.cursor);
      if (due < now - graceMs) late.push({ name: definition.name, dueAt: new Date(due), lastRunAt: state.lastRunAt === null ? null : new Date(state.lastRunAt) });
    }
    return late.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** One schedule as `list` shows it, or null. */
  async get(name: string): Promise<ScheduleInfo | null> {
    return (await this.list()).find((s) => s.name === name) ?? null;
  }

  private async setPaused(name: string, paused: boolean): Promise<ScheduleInfo> {
    const previous = await this.require(name);
    const definition = { ...previous, paused };
    const state = await this.resumeCursor(previous, definition, (await loadSchedules(this.deps.storage)).states.get(name));
    await this.deps.storage.saveSchedule(name, JSON.stringify(definition));
    this.wake(0);
    return this.info(definition, state);
  }

  /**
   * Ticks that passed while a schedule was paused are dropped, not missed: when it is un-paused, move its cursor to
   * now for every instance. Written before the definition, so no loop sees it active with the old cursor.
   */
  private async resumeCursor(previous: ScheduleDefinition | undefined, next: ScheduleDefinition, stored: ScheduleState | undefined): Promise<ScheduleState> {
    const state = this.merged(next.name, stored, next.createdAt);
    if (previous?.paused && !next.paused) {
      state.cursor = Math.max(state.cursor, this.deps.clock.now());
      this.local.set(next.name, state);
      await this.deps.storage.saveSchedule(stateKey(next.name), JSON.stringify(state));
    }
    return state;
  }

  private async require(name: string): Promise<ScheduleDefinition> {
    await this.deps.ready();
    const { definitions } = await loadSchedules(this.deps.storage);
    const definition = definitions.get(name);
    if (!definition) throw new InvalidJobError(messages.scheduleNotFound(name, [...definitions.keys()].sort()));
    return definition;
  }

  private async syncDeclared(): Promise<void> {
    if (this.declared.size === 0) return;
    const { definitions } = await loadSchedules(this.deps.storage);
    const now = this.deps.clock.now();
    for (const [name, { options }] of this.declared) {
      const previous = definitions.get(name);
      const definition = buildDefinition(name, options, 'decorator', now, previous);
      if (!previous || !sameDefinition(previous, definition)) await this.deps.storage.saveSchedule(name, JSON.stringify(definition));
    }
  }

  /** Cursor and last run: the newer of what the store says and what this instance saw. */
  private merged(name: string, stored: ScheduleState | undefined, fallbackCursor: number): ScheduleState {
    const mine = this.local.get(name);
    const cursor = Math.max(stored?.cursor ?? -Infinity, mine?.cursor ?? -Infinity);
    const last = (mine?.lastRunAt ?? -Infinity) > (stored?.lastRunAt ?? -Infinity) ? mine! : stored;
    return {
      v: 1,
      cursor: Number.isFinite(cursor) ? cursor : fallbackCursor,
      lastRunAt: last?.lastRunAt ?? null,
      lastJobId: last?.lastJobId ?? null,
    };
  }

  private info(definition: ScheduleDefinition, stored: ScheduleState | undefined): ScheduleInfo {
    const { v: _v, createdAt: _c, ...rest } = definition;
    const state = this.merged(definition.name, stored, definition.createdAt);
    const timing = this.timing(definition);
    const from = Math.max(this.deps.clock.now(), state.cursor);
    return {
      ...rest,
      nextRunAt: definition.paused || !timing ? null : new Date(timing.next(from)),
      lastRunAt: state.lastRunAt === null ? null : new Date(state.lastRunAt),
      lastJobId: state.lastJobId,
    };
  }

  /** Compiled timing, cached per definition; null (reported once) when a stored definition no longer compiles. */
  private timing(definition: ScheduleDefinition): Timing | null {
    const key = `${definition.cron}|${definition.every}|${definition.timezone}`;
    const cached = this.timings.get(definition.name);
    if (cached?.key === key) return cached.timing;
    let timing: Timing | null = null;
    try {
      timing = compileTiming(definition, this.deps.clock.now());
    } catch (error) {
      this.deps.events.emit('worker:error', { error: toError(error), context: `schedule "${definition.name}"` });
    }
    this.timings.set(definition.name, { key, timing });
    return timing;
  }

  /**
   * One round: read the schedules, work out which ticks are due on each, enqueue all firings in one insert, and
   * record progress. Returns when the next round should run.
   */
  private async round(): Promise<number> {
    const { clock, registry, storage } = this.deps;
    const now = clock.now();
    const { definitions, states } = await loadSchedules(this.deps.storage);
    for (const name of [...this.local.keys(), ...this.timings.keys()]) {
      if (definitions.has(name)) continue;
      this.local.delete(name);
      this.timings.delete(name);
    }
    let nextAt = now + this.syncIntervalMs;
    const plans: { definition: ScheduleDefinition; state: ScheduleState; ticks: number[] }[] = [];
    for (const definition of definitions.values()) {
      const timing = this.timing(definition);
      const state = this.merged(definition.name, states.get(definition.name), definition.createdAt);
      // A task this process does not know is left to the instances that register it.
      if (!timing || !registry.get(definition.task)) continue;
      if (definition.paused) {
        this.local.set(definition.name, { ...state, cursor: Math.max(state.cursor, now) });
        continue;
      }
      nextAt = Math.min(nextAt, timing.next(Math.max(now, state.cursor)));
      if (timing.next(state.cursor) > now) continue;
      let ticks = dueTicks(timing, state.cursor, now, this.graceMs, definition.missed === 'all' ? definition.maxMissed : definition.missed === 'last' ? 1 : 0);
      if (!definition.overlap && ticks.length > 0) {
        // One run at a time: at most the newest tick, and none while the previous firing's job is unfinished.
        ticks = ticks.slice(-1);
        if (state.lastJobId && BUSY.includes((await storage.get(state.lastJobId))?.state as JobState)) ticks = [];
      }
      plans.push({ definition, state, ticks });
    }
    const batches: EnqueueItem[][] = plans.map(({ definition: d, ticks }) =>
      ticks.map((tick) => ({
        task: d.task,
        payload: d.payload,
        options: { jobId: tickJobId(d.name, tick), ...(d.priority ? { priority: d.priority } : {}) },
      })),
    );
    // One store round trip for every firing of the round. If the store fails, no cursor moves: the next round
    // retries (the tick ids make that safe).
    const results = await this.insertAll(batches, plans.map((p) => p.definition.name));
    const writes: Promise<void>[] = [];
    for (const [k, { definition, state }] of plans.entries()) {
      const mine = results[k] ?? [];
      const next: ScheduleState = { v: 1, cursor: Math.max(state.cursor, now), lastRunAt: state.lastRunAt, lastJobId: state.lastJobId };
      const newest = mine[mine.length - 1];
      if (newest) {
        next.lastRunAt = plans[k]!.ticks[mine.length - 1]!;
        next.lastJobId = newest.job.id;
      }
      this.local.set(definition.name, next);
      // The instance whose insert created the job records the run, so a tick costs one state write, not one per
      // instance. When nothing was enqueued (skipped as missed or overlapping), every instance records the skip.
      if (mine.some((r) => r.created) || mine.length === 0) writes.push(storage.saveSchedule(stateKey(definition.name), JSON.stringify(next)));
    }
    // Concurrently: a thousand digests due at 08:00 should not cost a thousand sequential round trips.
    await Promise.all(writes);
    return Math.max(nextAt, now);
  }

  /**
   * Insert each schedule's firings, all in one round trip. A firing the queue refuses (a payload over the engine's
   * size limit, say) must not hold up the other schedules: the batch is then retried per schedule, and a refused
   * schedule is reported (`worker:error`) and its ticks dropped (null).
   */
  private async insertAll(batches: EnqueueItem[][], names: string[]): Promise<(InsertResult[] | null)[]> {
    const { queue, events } = this.deps;
    try {
      const flat = await queue.enqueueScheduled(batches.flat());
      let i = 0;
      return batches.map((batch) => flat.slice(i, (i += batch.length)));
    } catch (error) {
      if (!(error instanceof InvalidJobError)) throw error;
    }
    const results: (InsertResult[] | null)[] = [];
    for (const [k, batch] of batches.entries()) {
      try {
        results.push(await queue.enqueueScheduled(batch));
      } catch (error) {
        if (!(error instanceof InvalidJobError)) throw error;
        events.emit('worker:error', { error, context: `schedule "${names[k]}"` });
        results.push(null);
      }
    }
    return results;
  }

  /** (Re)arm the loop: run a round `ms` from now (0: at once). A round in flight re-runs when it ends. */
  private wake(ms: number): void {
    if (!this.looping) return;
    if (this.inFlight) {
      if (ms === 0) this.rerun = true;
      return;
    }
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
    if (ms === 0) {
      this.inFlight = this.run();
      return;
    }
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = null;
      if (!this.inFlight) this.inFlight = this.run();
    }, ms);
    this.timer.unref?.();
  }

  private async run(): Promise<void> {
    let delay = this.syncIntervalMs;
    try {
      delay = (await this.round()) - this.deps.clock.now();
    } catch (error) {
      // The store may be briefly unreachable: report, and try again after the sync interval.
      this.deps.events.emit('worker:error', { error: toError(error), context: 'scheduler' });
    } finally {
      this.inFlight = null;
    }
    const again = this.rerun;
    this.rerun = false;
    this.wake(again ? 0 : Math.max(0, delay));
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigurationError(messages.invalidOption(name, value, 'a whole number of ms >= 1'));
  return value;
}
