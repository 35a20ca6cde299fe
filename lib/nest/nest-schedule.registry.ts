import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronTime, type CronJob } from 'cron';
import { ConfigurationError, messages } from '../contract/errors.js';
import { NEST_SCHEDULE_ADOPTER } from './nest-schedule.bridge.js';

/** A `@Cron` method as adopted: what `SchedulerRegistry.getCronJob` describes. */
export interface AdoptedCron {
  name: string;
  cron: string;
  timezone: string;
  disabled: boolean;
}

/** A `@Timeout` method as adopted. */
export interface AdoptedTimeout {
  name: string;
  ms: number;
  run: () => Promise<void>;
  /** `<Class>.<method>` that declared it. */
  owner: string;
}

/** What the registry reads from the adopter. */
export interface AdoptedSchedules {
  readonly crons: ReadonlyMap<string, AdoptedCron>;
  readonly intervals: ReadonlyMap<string, number>;
  readonly timeouts: ReadonlyMap<string, AdoptedTimeout>;
  now(): number;
}

const refuse = (call: string, instead: string) => (): never => {
  throw new ConfigurationError(messages.nestScheduleReadOnly(call, instead));
};

/**
 * A read-only stand-in for the `CronJob` of an adopted `@Cron`: `name`, `cronTime`, `isActive` (false only for
 * `disabled: true`, as declared; the stored pause state is `scheduler.get(name)`), `nextDate()` and `nextDates(n)`
 * work; `isCallbackRunning`, `lastDate()` and calls that
 * would start, stop or change a timer in this process throw with the `Scheduler` call to use instead.
 */
function cronView(cron: AdoptedCron, schedules: AdoptedSchedules): CronJob {
  const cronTime = new CronTime(cron.cron, cron.timezone);
  const view = {
    name: cron.name,
    cronTime,
    isActive: !cron.disabled,
    get isCallbackRunning(): boolean {
      return refuse(`getCronJob('${cron.name}').isCallbackRunning`, `(await jobs.getJob((await scheduler.get('${cron.name}')).lastJobId)).state`)();
    },
    nextDate: () => cronTime.getNextDateFrom(new Date(schedules.now()), cron.timezone),
    nextDates: (count = 0) => {
      const dates = [];
      for (let at = new Date(schedules.now()); dates.length < count; ) {
        const next = cronTime.getNextDateFrom(at, cron.timezone);
        dates.push(next);
        at = next.toJSDate();
      }
      return dates;
    },
    lastDate: refuse(`getCronJob('${cron.name}').lastDate()`, `(await scheduler.get('${cron.name}')).lastRunAt (Uno's Scheduler)`),
    start: refuse(`getCronJob('${cron.name}').start()`, `scheduler.resume('${cron.name}') (Uno's Scheduler)`),
    stop: refuse(`getCronJob('${cron.name}').stop()`, `scheduler.pause('${cron.name}') (Uno's Scheduler)`),
    setTime: refuse(`getCronJob('${cron.name}').setTime()`, `scheduler.upsert('${cron.name}', { cron, task }) (Uno's Scheduler)`),
    fireOnTick: refuse(`getCronJob('${cron.name}').fireOnTick()`, `scheduler.trigger('${cron.name}') (Uno's Scheduler)`),
  };
  return view as unknown as CronJob;
}

/**
 * `SchedulerRegistry` when Uno Jobs adopts `@nestjs/schedule`: the adopted `@Cron`, `@Interval` and `@Timeout`
 * methods are listed by the read calls (`getCronJobs`, `getCronJob`, `getIntervals`, `getTimeouts`, `doesExist`),
 * and calls that would act on a process-local timer of an adopted schedule throw, naming the `Scheduler` call to
 * use. Jobs, intervals and timeouts added at runtime (`addCronJob`, ...) behave as in `@nestjs/schedule`: local to
 * this process, and stopped at shutdown.
 */
@Injectable()
export class UnoSchedulerRegistry extends SchedulerRegistry implements OnApplicationShutdown {
  constructor(@Inject(NEST_SCHEDULE_ADOPTER) private readonly adopted: AdoptedSchedules) {
    super();
  }

  override doesExist(type: 'cron' | 'timeout' | 'interval', name: string): boolean {
    const mine = type === 'cron' ? this.adopted.crons : type === 'interval' ? this.adopted.intervals : this.adopted.timeouts;
    return mine.has(name) || super.doesExist(type, name);
  }

  override getCronJob(name: string): CronJob<null, null> {
    const adopted = this.adopted.crons.get(name);
    if (adopted) return cronView(adopted, this.adopted) as CronJob<null, null>;
    if (!super.doesExist('cron', name)) throw new ConfigurationError(messages.nestScheduleNotFound('cron job', name));
    return super.getCronJob(name);
  }

  override getCronJobs(): Map<string, CronJob> {
    const all = new Map<string, CronJob>();
    for (const cron of this.adopted.crons.values()) all.set(cron.name, cronView(cron, this.adopted));
    for (const [name, job] of super.getCronJobs()) all.set(name, job);
    return all;
  }

  override deleteCronJob(name: string): void {
    if (this.adopted.crons.has(name)) refuse(`deleteCronJob('${name}')`, `scheduler.pause('${name}') (Uno's Scheduler)`)();
    super.deleteCronJob(name);
  }

  override getIntervals(): string[] {
    return [...this.adopted.intervals.keys(), ...super.getIntervals()];
  }

  override getInterval<T = unknown>(name: string): T {
    if (this.adopted.intervals.has(name)) refuse(`getInterval('${name}')`, `scheduler.get('${name}') (Uno's Scheduler)`)();
    return super.getInterval<T>(name);
  }

  override deleteInterval(name: string): void {
    if (this.adopted.intervals.has(name)) refuse(`deleteInterval('${name}')`, `scheduler.pause('${name}') (Uno's Scheduler)`)();
    super.deleteInterval(name);
  }

  override getTimeouts(): string[] {
    return [...this.adopted.timeouts.keys(), ...super.getTimeouts()];
  }

  override getTimeout<T = unknown>(name: string): T {
    if (this.adopted.timeouts.has(name)) refuse(`getTimeout('${name}')`, 'nothing to read, an adopted @Timeout has no handle')();
    return super.getTimeout<T>(name);
  }

  override deleteTimeout(name: string): void {
    if (this.adopted.timeouts.has(name)) refuse(`deleteTimeout('${name}')`, 'nothing to do, an adopted @Timeout that has not fired is cleared at shutdown')();
    super.deleteTimeout(name);
  }

  /** Stop what was added at runtime, as `@nestjs/schedule`'s orchestrator does at shutdown. */
  onApplicationShutdown(): void {
    for (const name of super.getTimeouts()) super.deleteTimeout(name);
    for (const name of super.getIntervals()) super.deleteInterval(name);
    for (const name of super.getCronJobs().keys()) super.deleteCronJob(name);
  }
}
