import 'reflect-metadata';
import { describe, it, expect, afterEach } from '@jest/globals';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Cron as NestCron, ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Cron, Interval, Scheduler, UnoJobsModule, UNO_JOBS, type JobContext, type UnoJobs } from '../../lib/index.js';
import { ManualClock } from '../../lib/testing/index.js';

let app: INestApplicationContext | null = null;
afterEach(async () => {
  await app?.close();
  app = null;
});

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0, 100);

@Injectable()
class SyncService {
  readonly seen: unknown[] = [];
  readonly legacy: number[] = [];

  @Cron('*/2 * * * * *', { name: 'nightly-sync', timezone: 'Europe/Berlin', payload: { full: true }, attempts: 2, priority: 'high' })
  async nightlySync(payload: { full: boolean }, ctx: JobContext) {
    this.seen.push({ payload, id: ctx.job.id, self: this instanceof SyncService });
  }

  @Interval(60_000, { overlap: false, missed: 'last' })
  async beat() {}

  /** Still driven by @nestjs/schedule: both libraries live side by side. */
  @NestCron('0 0 1 1 *', { name: 'legacy' })
  legacyCron() {
    this.legacy.push(1);
  }
}

async function boot(providers: unknown[], clock: ManualClock, withNestSchedule = false) {
  const ref = await Test.createTestingModule({
    imports: [UnoJobsModule.forRoot({ clock, worker: { pollIntervalMs: 100 } }), ...(withNestSchedule ? [ScheduleModule.forRoot()] : [])],
    providers: providers as never[],
  }).compile();
  app = ref;
  await ref.init();
  return ref;
}

describe('@Cron / @Interval in a NestJS app', () => {
  it('registers each method as a task and a schedule, fires it as a job, and leaves @nestjs/schedule alone', async () => {
    const clock = new ManualClock(T0);
    const ref = await boot([SyncService], clock, true);
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    const scheduler = ref.get(Scheduler);
    expect(scheduler).toBe(uno.scheduler);

    const list = await scheduler.list();
    expect(list.map((s) => [s.name, s.task, s.source, s.cron, s.every, s.timezone])).toEqual([
      ['SyncService.beat', 'SyncService.beat', 'decorator', null, 60_000, 'UTC'],
      ['nightly-sync', 'nightly-sync', 'decorator', '*/2 * * * * *', null, 'Europe/Berlin'],
    ]);
    expect(list[0]).toMatchObject({ overlap: false, missed: 'last' });
    expect(uno.task('nightly-sync')).toMatchObject({ priority: 'high', attempts: 2, owner: 'SyncService.nightlySync' });

    const service = ref.get(SyncService);
    await clock.advance(2000);
    for (let i = 0; i < 50 && service.seen.length === 0; i++) await clock.advance(10);
    expect(service.seen).toEqual([{ payload: { full: true }, id: `sched:nightly-sync:${T0 - 100 + 2000}`, self: true }]);

    // @nestjs/schedule registered its own cron; ours did not pick it up, and its metadata did not pick up ours.
    const registry = ref.get(SchedulerRegistry);
    expect([...registry.getCronJobs().keys()]).toEqual(['legacy']);
    expect(service.legacy).toEqual([]);
  });

  it('an invalid expression or time zone fails the boot, naming the class and the method', async () => {
    @Injectable()
    class BadCronService {
      @Cron('61 * * * *')
      run() {}
    }
    await expect(boot([BadCronService], new ManualClock(T0))).rejects.toThrow(
      /^@Cron on BadCronService\.run: Cron expression "61 \* \* \* \*" is invalid \(.*out of range\)/,
    );
    @Injectable()
    class BadZoneService {
      @Cron('0 3 * * *', { timezone: 'Europe/Atlantis' })
      nightly() {}
    }
    await expect(boot([BadZoneService], new ManualClock(T0))).rejects.toThrow(
      '@Cron on BadZoneService.nightly: Time zone "Europe/Atlantis" is invalid',
    );
  });

  it('accepts timeZone, the @nestjs/schedule spelling, and refuses it when it contradicts timezone', async () => {
    @Injectable()
    class ZonedService {
      @Cron('0 8 * * 1', { name: 'weekly-digest', timeZone: 'America/New_York' })
      digest() {}
      @Cron('0 9 * * 1', { name: 'same-twice', timeZone: 'Asia/Tokyo', timezone: 'Asia/Tokyo' })
      same() {}
    }
    const ref = await boot([ZonedService], new ManualClock(T0));
    const list = await ref.get(Scheduler).list();
    expect(list.map((s) => [s.name, s.timezone])).toEqual([
      ['same-twice', 'Asia/Tokyo'],
      ['weekly-digest', 'America/New_York'],
    ]);
    expect(() => {
      class Conflicting {
        @Cron('0 8 * * *', { timeZone: 'Europe/Paris', timezone: 'Europe/Berlin' })
        run() {}
      }
      return Conflicting;
    }).toThrow('@Cron on Conflicting.run sets timeZone "Europe/Paris" and timezone "Europe/Berlin". They are the same option');
  });

  it('refuses two schedule decorators on one method when the class is defined', () => {
    expect(() => {
      class Twice {
        @Cron('* * * * *')
        @Interval(1000)
        run() {}
      }
      return Twice;
    }).toThrow('Twice.run carries more than one @Cron/@Interval');
  });
});
