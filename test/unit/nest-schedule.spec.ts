import 'reflect-metadata';
import { describe, it, expect, afterEach, jest } from '@jest/globals';
import { Injectable, Logger, Scope, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
// The app's decorators come from @nestjs/schedule only: adoption means they stay as they are.
import { Cron, CronExpression, Interval, ScheduleModule, SchedulerRegistry, Timeout } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { MemoryJobStorage, Scheduler, UnoJobsModule, UNO_JOBS, type NestScheduleOption, type TaskOptions, type UnoJobs } from '../../lib/index.js';
import { ManualClock, flushMicrotasks } from '../../lib/testing/index.js';
import { loadNestScheduleModule, resolveNestSchedule } from '../../lib/nest/nest-schedule.bridge.js';
import { offsetZone } from '../../lib/nest/nest-schedule.adopter.js';

const apps: INestApplicationContext[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** 2026-01-01T00:00:00.100Z: 100 ms past a whole second, so every tick below is a round second after it. */
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0, 100);

@Injectable()
class LegacyService {
  readonly calls: { method: string; args: number; at: number }[] = [];
  clock: ManualClock | null = null;
  private note(method: string, args: IArguments) {
    this.calls.push({ method, args: args.length, at: this.clock!.now() });
  }

  @Cron('*/2 * * * * *', { name: 'report', timeZone: 'Europe/Berlin', waitForCompletion: true })
  report() {
    this.note('report', arguments);
  }

  @Cron('0 3 * * *', { name: 'offset', utcOffset: 330 })
  offset() {}

  @Cron('0 4 * * *', { name: 'off', disabled: true, unrefTimeout: true, threshold: 1000 })
  off() {}

  @Cron(CronExpression.EVERY_MINUTE)
  everyMinute() {}

  @Interval(5000)
  poll() {
    this.note('poll', arguments);
  }

  @Interval('named-interval', 60_000)
  named() {}

  @Timeout(1500)
  warm() {
    this.note('warm', arguments);
  }
}

async function boot(options: {
  clock: ManualClock;
  nestSchedule?: NestScheduleOption;
  storage?: MemoryJobStorage;
  providers?: unknown[];
  imports?: unknown[];
  tasks?: Record<string, TaskOptions>;
}) {
  const ref = await Test.createTestingModule({
    imports: [
      UnoJobsModule.forRoot({ clock: options.clock, storage: options.storage, tasks: options.tasks, worker: { pollIntervalMs: 100 }, nestSchedule: options.nestSchedule }),
      ...((options.imports ?? []) as never[]),
    ],
    providers: (options.providers ?? [LegacyService]) as never[],
  }).compile();
  apps.push(ref);
  await ref.init();
  const service = (options.providers ?? [LegacyService]).includes(LegacyService) ? ref.get(LegacyService) : null;
  if (service) service.clock = options.clock;
  return { ref, service, uno: ref.get<UnoJobs>(UNO_JOBS), scheduler: ref.get(Scheduler) };
}

/** Advance the fake clock in small steps until `done` (the worker picks the job up on its next poll). */
async function advanceUntil(clock: ManualClock, ms: number, done: () => boolean) {
  await clock.advance(ms);
  for (let i = 0; i < 100 && !done(); i++) await clock.advance(10);
}

describe("@nestjs/schedule's decorators run by Uno Jobs (nestSchedule: 'adopt')", () => {
  it('maps every @Cron and @Interval to a Uno schedule with its options (semantics table of docs/nest-schedule.md)', async () => {
    const clock = new ManualClock(T0);
    // Uno's task options (retries, timeout, queue, priority) come from the module's overrides by task name.
    const { scheduler, uno } = await boot({ clock, nestSchedule: { timeZone: 'America/New_York' }, tasks: { report: { attempts: 3, timeout: 30_000, priority: 'high' } } });
    const rows = (await scheduler.list()).map((s) => [s.name, s.cron ?? s.every, s.timezone, s.overlap, s.paused, s.missed, s.task, s.source]);
    expect(rows).toEqual([
      // No name: <Class>.<method>; no timeZone/utcOffset: the configured default zone.
      ['LegacyService.everyMinute', '*/1 * * * *', 'America/New_York', true, false, 'skip', 'LegacyService.everyMinute', 'decorator'],
      ['LegacyService.poll', 5000, 'UTC', true, false, 'skip', 'LegacyService.poll', 'decorator'],
      ['named-interval', 60_000, 'UTC', true, false, 'skip', 'named-interval', 'decorator'],
      // disabled: stored paused; unrefTimeout and threshold have no Uno meaning and change nothing.
      ['off', '0 4 * * *', 'America/New_York', true, true, 'skip', 'off', 'decorator'],
      // utcOffset in minutes: a fixed-offset zone.
      ['offset', '0 3 * * *', 'UTC+05:30', true, false, 'skip', 'offset', 'decorator'],
      // waitForCompletion: overlap false.
      ['report', '*/2 * * * * *', 'Europe/Berlin', false, false, 'skip', 'report', 'decorator'],
    ]);
    expect((await scheduler.get('offset'))!.nextRunAt!.toISOString()).toBe('2026-01-01T21:30:00.000Z');
    expect((await scheduler.get('off'))!.nextRunAt).toBeNull();
    expect(uno.task('report')).toMatchObject({ owner: 'LegacyService.report', attempts: 3, timeout: 30_000, priority: 'high' });
  });

  it('fires a cron tick as one job and calls the method with no arguments, as @nestjs/schedule does', async () => {
    const clock = new ManualClock(T0);
    const { service, uno } = await boot({ clock, nestSchedule: 'adopt' });
    await advanceUntil(clock, 1900, () => service!.calls.some((c) => c.method === 'report'));
    const reports = service!.calls.filter((c) => c.method === 'report');
    expect(reports.map((c) => c.args)).toEqual([0]);
    const tick = T0 - 100 + 2000;
    const job = await uno.queue.getJob(`sched:report:${tick}`);
    expect(job).toMatchObject({ task: 'report', state: 'completed' });
    // The next tick is another job: one per tick.
    await advanceUntil(clock, 2000, () => service!.calls.filter((c) => c.method === 'report').length === 2);
    expect(service!.calls.filter((c) => c.method === 'report')).toHaveLength(2);
    expect(await uno.queue.getJob(`sched:report:${tick + 2000}`)).toMatchObject({ state: 'completed' });
  });

  it('@Timeout runs once per process, ms after boot, in that process (timeouts: instance, the default)', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const a = await boot({ clock, storage, nestSchedule: 'adopt' });
    await clock.advance(1000);
    const b = await boot({ clock, storage, nestSchedule: 'adopt' });
    const warm = (s: LegacyService) => s.calls.filter((c) => c.method === 'warm').map((c) => c.at - T0);
    await clock.advance(499);
    expect([warm(a.service!), warm(b.service!)]).toEqual([[], []]);
    await clock.advance(1);
    expect([warm(a.service!), warm(b.service!)]).toEqual([[1500], []]);
    await clock.advance(1000);
    expect([warm(a.service!), warm(b.service!)]).toEqual([[1500], [2500]]);
    await clock.advance(10_000);
    expect([warm(a.service!), warm(b.service!)]).toEqual([[1500], [2500]]);
    expect(a.service!.calls.find((c) => c.method === 'warm')!.args).toBe(0);
  });

  it('@Timeout: an error is logged, not thrown; a timer that has not fired is cleared at shutdown; request-scoped providers are skipped', async () => {
    const errors: string[] = [];
    const warnings: string[] = [];
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation((m: unknown) => void errors.push(String(m)));
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    try {
      @Injectable()
      class Failing {
        runs = 0;
        @Timeout('boom', 100)
        boom() {
          this.runs++;
          throw new Error('cache server down');
        }
      }
      @Injectable({ scope: Scope.REQUEST })
      class PerRequest {
        @Cron('* * * * * *', { name: 'per-request' })
        tick() {}
      }
      const clock = new ManualClock(T0);
      const { ref, scheduler } = await boot({ clock, nestSchedule: 'adopt', providers: [Failing, LegacyService, PerRequest] });
      await clock.advance(100);
      expect(ref.get(Failing).runs).toBe(1);
      await flushMicrotasks();
      expect(errors).toEqual(['@Timeout boom: cache server down']);
      expect(warnings).toEqual(['PerRequest.tick is request-scoped (or depends on a request-scoped provider): background handlers need a provider that exists outside a request; it is skipped.']);
      expect((await scheduler.list()).map((s) => s.name)).not.toContain('per-request');
      const service = ref.get(LegacyService);
      await apps.pop()!.close();
      await clock.advance(5000);
      expect(service.calls.filter((c) => c.method === 'warm')).toEqual([]);
    } finally {
      error.mockRestore();
      warn.mockRestore();
    }
  });

  it("@Timeout with timeouts: 'deploy' runs once for a deploy id across instances, again for the next deploy", async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const v1 = { timeouts: 'deploy', deployId: 'v1' } as const;
    const a = await boot({ clock, storage, nestSchedule: v1 });
    const b = await boot({ clock, storage, nestSchedule: v1 });
    const warms = () => [a, b, ...rest].flatMap((app) => app.service!.calls.filter((c) => c.method === 'warm'));
    const rest: typeof a[] = [];
    await advanceUntil(clock, 1500, () => warms().length > 0);
    await clock.advance(2000);
    expect(warms()).toHaveLength(1);
    expect(await a.uno.queue.getJob('nest-timeout:LegacyService.warm:v1')).toMatchObject({ state: 'completed' });
    rest.push(await boot({ clock, storage, nestSchedule: { timeouts: 'deploy', deployId: 'v2' } }));
    await advanceUntil(clock, 1500, () => warms().length > 1);
    await clock.advance(2000);
    expect(warms()).toHaveLength(2);
  });

  it('SchedulerRegistry: the read calls list adopted schedules; calls on a local timer point to Scheduler', async () => {
    const clock = new ManualClock(T0);
    const { ref, scheduler } = await boot({ clock, nestSchedule: 'adopt' });
    const registry = ref.get(SchedulerRegistry);
    expect([...registry.getCronJobs().keys()].sort()).toEqual(['LegacyService.everyMinute', 'off', 'offset', 'report']);
    expect(registry.getIntervals()).toEqual(['LegacyService.poll', 'named-interval']);
    expect(registry.getTimeouts()).toEqual(['LegacyService.warm']);
    expect([registry.doesExist('cron', 'report'), registry.doesExist('interval', 'named-interval'), registry.doesExist('cron', 'nope')]).toEqual([true, true, false]);
    const report = registry.getCronJob('report');
    expect([report.name, report.cronTime.source, report.isActive, registry.getCronJob('off').isActive]).toEqual(['report', '*/2 * * * * *', true, false]);
    expect(report.nextDate().toMillis()).toBe((await scheduler.get('report'))!.nextRunAt!.getTime());
    expect(report.nextDates(3).map((d) => d.toMillis() - T0)).toEqual([1900, 3900, 5900]);
    expect(() => report.isCallbackRunning).toThrow('.state');
    expect(() => report.stop()).toThrow("SchedulerRegistry.getCronJob('report').stop() is not available");
    expect(() => report.stop()).toThrow("Instead: scheduler.pause('report') (Uno's Scheduler)");
    expect(() => report.lastDate()).toThrow("(await scheduler.get('report')).lastRunAt");
    expect(() => report.start()).toThrow("Instead: scheduler.resume('report')");
    expect(() => report.setTime(report.cronTime)).toThrow("Instead: scheduler.upsert('report', { cron, task })");
    expect(() => report.fireOnTick()).toThrow("Instead: scheduler.trigger('report')");
    expect(() => registry.deleteCronJob('report')).toThrow("scheduler.pause('report')");
    expect(() => registry.deleteInterval('named-interval')).toThrow("scheduler.pause('named-interval')");
    expect(() => registry.getTimeout('LegacyService.warm')).toThrow('SchedulerRegistry.getTimeout');
    expect(() => registry.deleteTimeout('LegacyService.warm')).toThrow('is cleared at shutdown');
    expect(() => registry.getInterval('named-interval')).toThrow("scheduler.get('named-interval')");
    expect(() => registry.getCronJob('nope')).toThrow('No cron job named "nope"');

    // Runtime additions behave as with ScheduleModule: local to this process.
    const job = CronJob.from({ cronTime: '0 0 1 1 *', onTick: () => {}, start: false });
    registry.addCronJob('runtime', job);
    expect(registry.getCronJob('runtime')).toBe(job);
    expect([...registry.getCronJobs().keys()]).toContain('runtime');
    registry.deleteCronJob('runtime');
    expect(registry.doesExist('cron', 'runtime')).toBe(false);
    // ... and are stopped at shutdown, as ScheduleModule's orchestrator stops them.
    const live = CronJob.from({ cronTime: '0 0 1 1 *', onTick: () => {}, start: true });
    registry.addCronJob('live', live);
    expect(live.isActive).toBe(true);
    await apps.pop()!.close();
    expect(live.isActive).toBe(false);
  });

  it('forRootAsync takes nestSchedule beside the factory; disabled is paused again at every boot, as @nestjs/schedule leaves it stopped', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const bootAsync = async () => {
      const ref = await Test.createTestingModule({
        imports: [UnoJobsModule.forRootAsync({ nestSchedule: 'adopt', useFactory: () => ({ clock, storage, worker: { pollIntervalMs: 100 } }) })],
        providers: [LegacyService],
      }).compile();
      apps.push(ref);
      await ref.init();
      return ref.get(Scheduler);
    };
    const first = await bootAsync();
    expect((await first.get('off'))!.paused).toBe(true);
    await first.resume('off');
    expect((await first.get('off'))!.paused).toBe(false);
    await apps.pop()!.close();
    const second = await bootAsync();
    expect((await second.get('off'))!.paused).toBe(true);
    // An ordinary schedule keeps a pause across boots (Uno's rule for decorator schedules).
    await second.pause('report');
    await apps.pop()!.close();
    expect((await (await bootAsync()).get('report'))!.paused).toBe(true);
  });

  it('fails the boot when ScheduleModule is imported too, saying what to remove', async () => {
    await expect(boot({ clock: new ManualClock(T0), nestSchedule: 'adopt', imports: [ScheduleModule.forRoot()] })).rejects.toThrow(
      'ScheduleModule (from @nestjs/schedule) is imported while UnoJobsModule adopts its @Cron, @Interval and @Timeout methods',
    );
  });

  it('refuses what cannot keep its meaning: a Date cronTime, initialDelay; and a name Uno cannot store', async () => {
    @Injectable()
    class OnceService {
      @Cron(new Date(T0 + 60_000))
      once() {}
    }
    await expect(boot({ clock: new ManualClock(T0), nestSchedule: 'adopt', providers: [OnceService] })).rejects.toThrow(
      '@Cron on OnceService.once: a Date or DateTime fires once, not on a schedule, and cannot be adopted. Enqueue a one-time job instead',
    );
    @Injectable()
    class DelayedService {
      @Cron('* * * * *', { initialDelay: 5000 })
      delayed() {}
    }
    await expect(boot({ clock: new ManualClock(T0), nestSchedule: 'adopt', providers: [DelayedService] })).rejects.toThrow(
      '@Cron on DelayedService.delayed: the option initialDelay cannot be kept',
    );
    @Injectable()
    class SpacedService {
      @Cron('* * * * *', { name: 'nightly report' })
      report() {}
    }
    @Injectable()
    class OtherWarm {
      @Timeout('LegacyService.warm', 10)
      warm() {}
    }
    await expect(boot({ clock: new ManualClock(T0), nestSchedule: 'adopt', providers: [LegacyService, OtherWarm] })).rejects.toThrow(
      'Schedule "LegacyService.warm" is declared twice: by LegacyService.warm and by OtherWarm.warm. Give one of them another name.',
    );
    await expect(boot({ clock: new ManualClock(T0), nestSchedule: 'adopt', providers: [SpacedService] })).rejects.toThrow(
      `@Cron on SpacedService.report: Schedule name "nightly report" is invalid: use 1 to 150 characters without whitespace, '#' or a lone surrogate.`,
    );
  });

  it('without the option, @nestjs/schedule decorators are left alone and no SchedulerRegistry is provided', async () => {
    const clock = new ManualClock(T0);
    const { ref, scheduler, service } = await boot({ clock });
    expect(await scheduler.list()).toEqual([]);
    expect(() => ref.get(SchedulerRegistry)).toThrow();
    await clock.advance(10_000);
    expect(service!.calls).toEqual([]);
  });

  it('validates the option, defaults the zone to the process zone, and names the package when it is missing', async () => {
    expect(resolveNestSchedule('adopt')).toEqual({ timeouts: 'instance', deployId: null, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone });
    expect(() => resolveNestSchedule({ timeouts: 'deploy' })).toThrow("nestSchedule.deployId undefined is invalid: timeouts: 'deploy' needs the release's id");
    expect(() => resolveNestSchedule({ timeouts: 'always' as never })).toThrow(`nestSchedule.timeouts "always" is invalid: use 'instance' or 'deploy'.`);
    expect(() => resolveNestSchedule('yes' as never)).toThrow(`nestSchedule "yes" is invalid`);
    const missing = Object.assign(new Error("Cannot find package '@nestjs/schedule' imported from /app/dist/nest/nest-schedule.adopter.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    await expect(loadNestScheduleModule('adopt', () => Promise.reject(missing))).rejects.toThrow(
      `UnoJobsModule's nestSchedule option needs the package "@nestjs/schedule". Install it: npm install @nestjs/schedule`,
    );
    expect([offsetZone(330), offsetZone(-90), offsetZone(0)]).toEqual(['UTC+05:30', 'UTC-01:30', 'UTC+00:00']);
  });
});
