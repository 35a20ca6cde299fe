import { Inject, Injectable, Logger, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import {
  Cron as NestCron,
  Interval as NestInterval,
  ScheduleExplorer,
  SchedulerRegistry,
  Timeout as NestTimeout,
  type CronOptions as NestCronOptions,
} from '@nestjs/schedule';
import type { TimerHandle } from '../contract/clock.js';
import { ConfigurationError, messages } from '../contract/errors.js';
import type { UnoJobs } from '../core/uno-jobs.js';
import { discoverMethods } from './jobs.explorer.js';
import { NEST_SCHEDULE_ADOPTER, type NestScheduleAdopterPort, type ResolvedNestSchedule } from './nest-schedule.bridge.js';
import { UnoSchedulerRegistry, type AdoptedCron, type AdoptedSchedules, type AdoptedTimeout } from './nest-schedule.registry.js';

/**
 * The metadata keys `@nestjs/schedule` writes, learnt from its own exported decorators at load time (its constants
 * module is not exported): each decorator is applied to a probe method and the keys are told apart by the values
 * they hold. A version that stores its metadata differently fails the boot here instead of being misread.
 */
function probeMetadataKeys(): MetadataKeys {
  const written = (decorator: MethodDecorator): [unknown, unknown][] => {
    const holder = { probe() {} };
    const descriptor = Object.getOwnPropertyDescriptor(holder, 'probe')!;
    decorator(holder, 'probe', descriptor);
    const fn = descriptor.value as object;
    return (Reflect.getMetadataKeys(fn) as unknown[]).map((key) => [key, Reflect.getMetadata(key, fn)]);
  };
  const NAME = 'uno-probe';
  const find = (entries: [unknown, unknown][], test: (value: unknown) => boolean) => entries.find(([, value]) => test(value));
  const holds = (field: string, expected: unknown) => (v: unknown) => (v as Record<string, unknown> | undefined)?.[field] === expected;
  const cron = written(NestCron('1 2 3 4 5', { name: NAME }));
  const interval = written(NestInterval(NAME, 4321));
  const timeout = written(NestTimeout(NAME, 1234));
  // The type key holds a number (SchedulerType, not exported) that differs between the three decorators.
  const type = (entries: [unknown, unknown][]) => find(entries, (v) => typeof v === 'number');
  const found = {
    type: type(cron)?.[0],
    name: find(cron, (v) => v === NAME)?.[0],
    cron: find(cron, holds('cronTime', '1 2 3 4 5'))?.[0],
    interval: find(interval, holds('timeout', 4321))?.[0],
    timeout: find(timeout, holds('timeout', 1234))?.[0],
  };
  const types = { cron: type(cron)?.[1], interval: type(interval)?.[1], timeout: type(timeout)?.[1] };
  const sameTypeKey = type(interval)?.[0] === found.type && type(timeout)?.[0] === found.type;
  if (!sameTypeKey || new Set(Object.values(types)).size !== 3 || Object.values(found).some((key) => typeof key !== 'string')) {
    throw new ConfigurationError(messages.nestScheduleIncompatible());
  }
  return { ...(found as Omit<MetadataKeys, 'types'>), types: types as MetadataKeys['types'] };
}

interface MetadataKeys {
  type: string;
  name: string;
  cron: string;
  interval: string;
  timeout: string;
  /** The values of the type key for each decorator. */
  types: { cron: number; interval: number; timeout: number };
}

/** Token of the resolved adoption options. */
export const NEST_SCHEDULE_OPTIONS = 'uno:jobs:nest-schedule-options';

/** A fixed UTC offset in minutes (`@nestjs/schedule`'s `utcOffset`) as the zone name the `cron` package reads. */
export function offsetZone(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.trunc(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * Runs the methods decorated with `@nestjs/schedule`'s `@Cron`, `@Interval` and `@Timeout` with Uno Jobs: each cron
 * and interval becomes a task plus a Uno schedule (one job per tick across the cluster), each timeout a timer in
 * this process (`timeouts: 'instance'`) or one job per deploy (`'deploy'`). The mapping is in docs/nest-schedule.md.
 */
@Injectable()
export class NestScheduleAdopter implements NestScheduleAdopterPort, AdoptedSchedules, OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Adopted `@Cron` methods by name. */
  readonly crons = new Map<string, AdoptedCron>();
  /** Adopted `@Interval` methods: name → period in ms. */
  readonly intervals = new Map<string, number>();
  /** Adopted `@Timeout` methods by name. */
  readonly timeouts = new Map<string, AdoptedTimeout>();
  private readonly logger = new Logger('UnoJobs');
  private readonly keys = probeMetadataKeys();
  private uno: UnoJobs | null = null;
  private timers: TimerHandle[] = [];

  constructor(@Inject(NEST_SCHEDULE_OPTIONS) private readonly options: ResolvedNestSchedule) {}

  /** The engine's clock (for `nextDate()` in `SchedulerRegistry`); the wall clock before adoption. */
  now(): number {
    return this.uno?.clock.now() ?? Date.now();
  }

  /** Register every adopted method (called by the explorer at module init). Fails the boot if ScheduleModule is imported. */
  adopt(discovery: DiscoveryService, scanner: MetadataScanner, uno: UnoJobs): void {
    if (discovery.getProviders().some((wrapper) => wrapper.metatype === ScheduleExplorer)) {
      throw new ConfigurationError(messages.nestScheduleModuleImported());
    }
    this.uno = uno;
    for (const { instance, owner, method, metadata: type } of discoverMethods<number>(discovery, scanner, this.keys.type, this.logger)) {
      const fn = (instance as Record<string, unknown>)[method];
      const where = `${owner}.${method}`;
      if (typeof fn !== 'function') throw new ConfigurationError(messages.handlerNotFunction(owner, method));
      const name = (Reflect.getMetadata(this.keys.name, fn) as string | undefined) ?? where;
      // Called with no arguments, as @nestjs/schedule calls it: the decorators and methods stay as they are.
      const handler = async () => {
        await (fn as () => unknown).call(instance);
      };
      if (type === this.keys.types.cron) this.adoptCron(name, where, fn, handler);
      else if (type === this.keys.types.interval) {
        const { timeout: every } = Reflect.getMetadata(this.keys.interval, fn) as { timeout: number };
        uno.scheduler.declare(name, { every, task: name }, where, '@Interval');
        uno.register(name, handler, {}, where);
        this.intervals.set(name, every);
      } else if (type === this.keys.types.timeout) {
        const { timeout: ms } = Reflect.getMetadata(this.keys.timeout, fn) as { timeout: number };
        if (!Number.isInteger(ms) || ms < 0) throw new ConfigurationError(messages.invalidScheduleDeclaration('@Timeout', where, messages.invalidDelay(ms, 2 ** 31 - 1)));
        const existing = this.timeouts.get(name);
        if (existing) throw new ConfigurationError(messages.duplicateSchedule(name, existing.owner, where));
        if (this.options.timeouts === 'deploy') uno.register(name, handler, {}, where);
        this.timeouts.set(name, { name, ms, run: handler, owner: where });
      }
    }
  }

  private adoptCron(name: string, where: string, fn: object, handler: () => Promise<void>): void {
    const options = Reflect.getMetadata(this.keys.cron, fn) as NestCronOptions & { cronTime: unknown };
    if (typeof options.cronTime !== 'string') throw new ConfigurationError(messages.nestScheduleCronTime(where));
    if (options.initialDelay !== undefined) {
      throw new ConfigurationError(
        messages.nestScheduleUnsupported(where, 'initialDelay', 'ticks are shared by the cluster, not counted from each boot. Remove it (a tick fires only once the store is connected).'),
      );
    }
    const timezone =
      typeof options.timeZone === 'string' ? options.timeZone : typeof options.utcOffset === 'number' ? offsetZone(options.utcOffset) : this.options.timeZone;
    const disabled = options.disabled === true;
    this.uno!.scheduler.declare(
      name,
      // waitForCompletion: no new run while the previous one runs = overlap: false. disabled: stored paused at every boot.
      { cron: options.cronTime, timezone, task: name, overlap: options.waitForCompletion !== true, ...(disabled ? { paused: true } : {}) },
      where,
      '@Cron',
    );
    this.uno!.register(name, handler, {}, where);
    this.crons.set(name, { name, cron: options.cronTime, timezone, disabled });
  }

  /** Arm `@Timeout`s: a timer per method in this process, or (deploy) one job per deploy id. */
  async onApplicationBootstrap(): Promise<void> {
    const uno = this.uno;
    if (!uno) return;
    for (const timeout of this.timeouts.values()) {
      if (this.options.timeouts === 'deploy') {
        await uno.queue.enqueue(timeout.name, null, { jobId: `nest-timeout:${timeout.name}:${this.options.deployId}`, delay: timeout.ms });
        continue;
      }
      const timer = uno.clock.setTimeout(() => {
        this.timers = this.timers.filter((t) => t !== timer);
        // As @nestjs/schedule does: a failure is logged, never thrown into the timer.
        timeout.run().catch((error: unknown) => this.logger.error(`@Timeout ${timeout.name}: ${(error as Error)?.message ?? String(error)}`, (error as Error)?.stack));
      }, timeout.ms);
      this.timers.push(timer);
    }
  }

  /** Clear `@Timeout` timers that have not fired. */
  beforeApplicationShutdown(): void {
    for (const timer of this.timers) this.uno?.clock.clearTimeout(timer);
    this.timers = [];
  }
}

@Module({})
class NestScheduleAdoptionModule {}

/**
 * The global module added by `nestSchedule`: the adopter, and `SchedulerRegistry` (Uno's, serving adopted
 * schedules read-only and anything added at runtime as `@nestjs/schedule` does).
 */
export function nestScheduleModule(options: ResolvedNestSchedule): DynamicModule {
  return {
    module: NestScheduleAdoptionModule,
    global: true,
    providers: [
      { provide: NEST_SCHEDULE_OPTIONS, useValue: options },
      NestScheduleAdopter,
      { provide: NEST_SCHEDULE_ADOPTER, useExisting: NestScheduleAdopter },
      { provide: SchedulerRegistry, useClass: UnoSchedulerRegistry },
    ],
    exports: [NEST_SCHEDULE_ADOPTER, SchedulerRegistry],
  };
}
