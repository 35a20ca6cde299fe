import { InvalidJobError, messages } from '../contract/errors.js';
import { PRIORITIES, type Priority } from '../contract/job.js';
import { RESERVED_JOB_ID_PREFIX } from './limits.js';
import { toJson } from './payload.js';
import { DEFAULT_TIMEZONE, cronTiming, intervalTiming, type Timing } from './scheduler-timing.js';
import { validateTaskName } from './task-registry.js';
import type { JobStorage } from '../contract/job-storage.js';

/**
 * What to do with ticks that passed while no instance could fire them (every instance down, or the schedule's
 * instance stalled for longer than the grace period):
 * - `skip` (default, as in `@nestjs/schedule`): drop them; the schedule resumes at its next tick.
 * - `last`: run the newest missed tick once, then carry on.
 * - `all`: run every missed tick, newest `maxMissed` at most.
 */
export type MissedPolicy = 'skip' | 'last' | 'all';

/** Policies accepted by `missed`. */
export const MISSED_POLICIES: readonly MissedPolicy[] = ['skip', 'last', 'all'];

/**
 * A schedule as given to `scheduler.upsert` (and built from `@Cron`/`@Interval`). Exactly one of `cron` and
 * `every` is required.
 *
 * @example
 * { cron: '0 8 * * 1', timezone: 'America/New_York', task: 'digest.send', payload: { userId: 'u1' }, missed: 'last' }
 * { every: 30_000, task: 'heartbeat', overlap: false }
 */
export interface ScheduleOptions {
  /** Cron expression: 5 fields, or 6 with seconds first (`*\/10 * * * * *`). */
  cron?: string;
  /** Fixed period in ms; ticks fall on multiples of it since the Unix epoch. */
  every?: number;
  /** IANA time zone of `cron` (DST handled by the `cron` package). Default `'UTC'`. */
  timezone?: string;
  /** Task each firing enqueues (it must be registered where the scheduler fires). */
  task: string;
  /** Payload of every job (JSON). Default `null`. */
  payload?: unknown;
  /** Priority of every job. Default: the task's. */
  priority?: Priority;
  /** Missed-tick policy. Default `'skip'`. */
  missed?: MissedPolicy;
  /** With `missed: 'all'`, most missed ticks run after a downtime (the newest ones). Default 10. */
  maxMissed?: number;
  /**
   * `false`: skip a tick while the job of the previous firing is still waiting, scheduled (backing off) or active,
   * so runs never overlap. Default `true`.
   */
  overlap?: boolean;
  /** Store the schedule paused. Default: keep the current state (new schedules start active). */
  paused?: boolean;
}

/** Where a schedule came from: a decorator (re-synced at every boot) or `scheduler.upsert`. */
export type ScheduleSource = 'decorator' | 'dynamic';

/** The stored definition document (version 1). The core owns this shape; stores keep it as opaque JSON. */
export interface ScheduleDefinition {
  v: 1;
  name: string;
  cron: string | null;
  every: number | null;
  timezone: string;
  task: string;
  payload: unknown;
  priority: Priority | null;
  missed: MissedPolicy;
  maxMissed: number;
  overlap: boolean;
  paused: boolean;
  source: ScheduleSource;
  /** When the schedule was first stored (epoch ms): ticks before it never fire. */
  createdAt: number;
}

/**
 * Run state of a schedule, in its own document so that the loop (which writes it) never overwrites a
 * definition change (upsert, pause) written concurrently by another instance.
 */
export interface ScheduleState {
  v: 1;
  /** Every tick up to this instant (epoch ms) has been handled: fired, skipped or dropped. */
  cursor: number;
  /** Tick of the latest firing that created a job. */
  lastRunAt: number | null;
  /** Id of that job (the overlap check reads its state). */
  lastJobId: string | null;
}

/** A schedule as `scheduler.list()` shows it: its definition plus when it runs next and ran last. */
export interface ScheduleInfo extends Omit<ScheduleDefinition, 'v' | 'createdAt'> {
  /** Next tick, or null while paused. */
  nextRunAt: Date | null;
  /** Tick of the latest firing that created a job, or null if it never fired. */
  lastRunAt: Date | null;
  /** Id of that job (`sched:<name>:<tick ms>`). */
  lastJobId: string | null;
}

/** Names of state documents start with this; schedule names may not contain `#`, so they never collide. */
export const STATE_PREFIX = '#state:';

/** Store key of a schedule's state document. */
export const stateKey = (name: string): string => `${STATE_PREFIX}${name}`;

/** Job id of the firing of `name` at `tick`: identical on every instance, so the store keeps one job per tick. */
export const tickJobId = (name: string, tick: number): string => `${RESERVED_JOB_ID_PREFIX}${name}:${tick}`;

/**
 * Whether `id` is a schedule firing's id. Such jobs are never deleted at completion (`removeOnComplete`): while the
 * job exists, its id stops a slower instance from firing the same tick again. Only the scheduler writes ids with this
 * prefix: the queue refuses it in a producer's `jobId`.
 */
export const isTickJobId = (id: string): boolean => id.startsWith(RESERVED_JOB_ID_PREFIX);

/** Throw unless `name` is a usable schedule name: 1..150 characters, no whitespace, no `#`, no lone surrogate. */
export function validateScheduleName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !/^[^\s#]{1,150}$/.test(name) || !name.isWellFormed()) throw new InvalidJobError(messages.invalidScheduleName(name));
}

/**
 * Validate options and build the definition to store. Throws a plain `Error` (reason only) so that callers can
 * name the culprit: the decorated method at boot, the schedule name for `upsert`.
 */
export function buildDefinition(
  name: string,
  options: ScheduleOptions,
  source: ScheduleSource,
  now: number,
  previous?: ScheduleDefinition,
): ScheduleDefinition {
  validateScheduleName(name);
  if (typeof options !== 'object' || options === null) throw new Error(messages.scheduleTiming());
  const { cron, every, timezone, task, payload = null, priority, missed = 'skip', maxMissed = 10, overlap = true } = options;
  if ((cron === undefined) === (every === undefined)) throw new Error(messages.scheduleTiming());
  if (every !== undefined && timezone !== undefined) throw new Error(messages.timezoneWithEvery());
  validateTaskName(task);
  if (priority !== undefined && !PRIORITIES.includes(priority)) throw new Error(messages.invalidPriority(priority));
  if (!MISSED_POLICIES.includes(missed)) throw new Error(messages.invalidMissed(missed));
  if (!Number.isInteger(maxMissed) || maxMissed < 1 || maxMissed > 1000) throw new Error(messages.invalidMaxMissed(maxMissed));
  if (typeof overlap !== 'boolean') throw new Error(messages.invalidOption('overlap', overlap, 'true or false'));
  if (options.paused !== undefined && typeof options.paused !== 'boolean') {
    throw new Error(messages.invalidOption('paused', options.paused, 'true or false'));
  }
  const definition: ScheduleDefinition = {
    v: 1,
    name,
    cron: cron ?? null,
    every: every ?? null,
    timezone: timezone ?? DEFAULT_TIMEZONE,
    task,
    // Stored parsed: the document is JSON anyway, and the check refuses what JSON would mangle.
    payload: JSON.parse(toJson(payload, 'payload')),
    priority: priority ?? null,
    missed,
    maxMissed,
    overlap,
    paused: options.paused ?? previous?.paused ?? false,
    source,
    createdAt: previous?.createdAt ?? now,
  };
  compileTiming(definition, now);
  return definition;
}

/** The tick calculator of a definition. Throws (reason only) on an invalid expression, time zone or period. */
export function compileTiming(definition: Pick<ScheduleDefinition, 'cron' | 'every' | 'timezone'>, now: number): Timing {
  return definition.cron !== null ? cronTiming(definition.cron, definition.timezone, now) : intervalTiming(definition.every!);
}

/** Parse a stored definition; null when the document is not one this version understands. */
export function parseDefinition(data: string): ScheduleDefinition | null {
  try {
    const doc = JSON.parse(data) as ScheduleDefinition;
    if (doc?.v !== 1 || typeof doc.name !== 'string' || typeof doc.task !== 'string') return null;
    return doc;
  } catch {
    return null;
  }
}

/** Parse a stored state document; null when unreadable (the loop then starts from the definition). */
export function parseState(data: string): ScheduleState | null {
  try {
    const doc = JSON.parse(data) as ScheduleState;
    return doc?.v === 1 && typeof doc.cursor === 'number' ? doc : null;
  } catch {
    return null;
  }
}

/** True when two definitions are identical: a boot then skips the write (saves one per instance per boot). */
export function sameDefinition(a: ScheduleDefinition, b: ScheduleDefinition): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Every stored schedule: definitions and run states, told apart by the state key prefix (one store round trip). */
export async function loadSchedules(
  storage: JobStorage,
): Promise<{ definitions: Map<string, ScheduleDefinition>; states: Map<string, ScheduleState> }> {
  const definitions = new Map<string, ScheduleDefinition>();
  const states = new Map<string, ScheduleState>();
  for (const { name, data } of await storage.listSchedules()) {
    if (name.startsWith(STATE_PREFIX)) {
      const state = parseState(data);
      if (state) states.set(name.slice(STATE_PREFIX.length), state);
    } else {
      // Unreadable documents (another version's, or damaged) are ignored rather than stopping every schedule.
      const definition = parseDefinition(data);
      if (definition && definition.name === name) definitions.set(name, definition);
    }
  }
  return { definitions, states };
}
