import { describe, it, expect } from '@jest/globals';
import { MemoryJobStorage, UnoJobs } from '../../lib/index.js';
import { ManualClock } from '../../lib/testing/index.js';
import { cronTiming, intervalTiming, newestTicks, ticksBetween } from '../../lib/core/scheduler-timing.js';
import { deferred } from '../support/engine.js';
import { iso, jobIds, schedulerEngines, T0 } from '../support/scheduler.js';

const DAY = 24 * 3600_000;
const engine = schedulerEngines();

describe('cron maths (the cron package, seconds field, time zones, DST)', () => {
  const walk = (expr: string, tz: string | undefined, from: string, n: number) => {
    const timing = cronTiming(expr, tz);
    const out: string[] = [];
    for (let t = Date.parse(from), i = 0; i < n; i++) out.push(iso((t = timing.next(t))));
    return out;
  };

  it('reads 6-field expressions with seconds first and defaults to UTC', () => {
    expect(walk('*/20 * * * * *', undefined, '2026-01-01T00:00:00.500Z', 3)).toEqual([
      '2026-01-01T00:00:20.000Z',
      '2026-01-01T00:00:40.000Z',
      '2026-01-01T00:01:00.000Z',
    ]);
    expect(walk('0 3 * * *', undefined, '2026-06-01T00:00:00Z', 1)).toEqual(['2026-06-01T03:00:00.000Z']);
  });

  it('Europe/Berlin spring-forward: a 02:30 job runs once at 03:00 CEST on the short day', () => {
    expect(walk('30 2 * * *', 'Europe/Berlin', '2026-03-28T00:00:00Z', 3)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 02:30 does not exist: 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('Europe/Berlin fall-back: a 02:30 job runs once on the long day; an hourly job runs every real hour', () => {
    expect(walk('30 2 * * *', 'Europe/Berlin', '2026-10-24T00:00:00Z', 3)).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST) only
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
    expect(walk('0 * * * *', 'Europe/Berlin', '2026-10-24T23:30:00Z', 4)).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET, the repeated hour
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
  });

  it('a New York schedule follows its own zone', () => {
    expect(walk('0 8 * * 1', 'America/New_York', '2026-03-01T00:00:00Z', 2)).toEqual([
      '2026-03-02T13:00:00.000Z', // EST
      '2026-03-09T12:00:00.000Z', // EDT from 8 March
    ]);
  });

  it('rejects invalid expressions and time zones with a reason', () => {
    expect(() => cronTiming('61 * * * *')).toThrow(/Cron expression "61 \* \* \* \*" is invalid \(.*out of range\)/);
    expect(() => cronTiming('* * * * * * *')).toThrow(/Too many fields/);
    expect(() => cronTiming('* * * * *', 'Mars/Olympus')).toThrow('Time zone "Mars/Olympus" is invalid');
    expect(() => intervalTiming(0)).toThrow('Interval 0 is invalid');
  });

  it('intervals tick on multiples of the period since the epoch; newestTicks finds recent ticks without walking all', () => {
    const every30 = intervalTiming(30_000);
    expect(ticksBetween(every30, T0 + 1, T0 + 90_000)).toEqual([T0 + 30_000, T0 + 60_000, T0 + 90_000]);
    const perSecond = cronTiming('* * * * * *');
    const weekLater = T0 + 7 * 24 * 3600_000;
    expect(newestTicks(perSecond, T0, weekLater, 3)).toEqual([weekLater - 2000, weekLater - 1000, weekLater]);
    expect(newestTicks(cronTiming('0 3 1 * *'), T0, Date.UTC(2026, 5, 15), 1)).toEqual([Date.UTC(2026, 5, 1, 3)]);
  });
});

describe('firing', () => {
  it('an every-second schedule enqueues one job per tick with an id derived from the tick', async () => {
    const clock = new ManualClock(T0 + 200);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    await uno.scheduler.upsert('beat', { every: 1000, task: 'tick', payload: { n: 1 } });
    await uno.start();
    await clock.advance(3000);
    expect(await jobIds(uno)).toEqual([1, 2, 3].map((s) => `sched:beat:${T0 + s * 1000}`));
    const job = await uno.queue.getJob(`sched:beat:${T0 + 1000}`);
    expect(job).toMatchObject({ task: 'tick', payload: { n: 1 }, state: 'waiting' });
    await uno.stop(0);
    expect(clock.pendingTimers()).toBe(0); // stop leaves no scheduler timer behind
    await clock.advance(5000);
    expect(await jobIds(uno)).toHaveLength(3);
  });

  it('two engines on one store produce exactly one job per tick', async () => {
    const clock = new ManualClock(T0 + 500);
    const storage = new MemoryJobStorage({ clock });
    const a = engine(storage, clock);
    const b = engine(storage, clock);
    await a.scheduler.upsert('cron5s', { cron: '*/5 * * * * *', task: 'tick' });
    await a.start();
    await b.start();
    await clock.advance(20_000);
    expect(await jobIds(a)).toEqual([5, 10, 15, 20].map((s) => `sched:cron5s:${T0 + s * 1000}`));
  });

  it('a Europe/Berlin cron fires at the right instants across the spring-forward night', async () => {
    const clock = new ManualClock(Date.parse('2026-03-27T23:00:00Z'));
    // A long sync interval: the loop then wakes only at ticks, so days of fake time pass quickly.
    const uno = engine(new MemoryJobStorage({ clock }), clock, { scheduler: { enabled: true, syncIntervalMs: DAY } });
    await uno.scheduler.upsert('berlin', { cron: '30 2 * * *', timezone: 'Europe/Berlin', task: 'tick' });
    await uno.start();
    await clock.advance(3 * 24 * 3600_000);
    const ticks = (await jobIds(uno)).map((id) => iso(Number(id.split(':').pop())));
    expect(ticks).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
  });

  it('a tick handled within the grace period after a restart still fires, even with missed: skip', async () => {
    const clock = new ManualClock(T0 - 500);
    const storage = new MemoryJobStorage({ clock });
    await engine(storage, clock).scheduler.upsert('g', { every: 60_000, task: 'tick' });
    await clock.advance(2000); // T0 passed while no loop ran, 1.5 s ago
    const uno = engine(storage, clock, { scheduler: { enabled: true, graceMs: 5000 } });
    await uno.start();
    expect(await jobIds(uno)).toEqual([`sched:g:${T0}`]);
  });
});

describe('a loop round and a pause from another instance at the same time', () => {
  it('the round writes only the schedule\'s state: a pause made between its read and its write stands, and stops the firing', async () => {
    const clock = new ManualClock(T0 + 200);
    const storage = new MemoryJobStorage({ clock });
    const admin = engine(storage, clock, { scheduler: { enabled: false } });
    let pausedMidRound = false;
    // The looping instance's view of the store: its first state write waits until the other instance has paused.
    const racing = new Proxy(storage, {
      get(target, key) {
        if (key === 'saveSchedule') {
          return async (name: string, data: string) => {
            if (name.startsWith('#state:') && !pausedMidRound) {
              pausedMidRound = true;
              await admin.scheduler.pause('beat');
            }
            return target.saveSchedule(name, data);
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const looping = engine(racing, clock);
    await looping.scheduler.upsert('beat', { every: 1000, task: 'tick' });
    await looping.start();
    await clock.advance(1000); // the round that read 'beat' unpaused fires its tick, then writes its state
    expect(pausedMidRound).toBe(true);
    expect(await jobIds(looping)).toEqual([`sched:beat:${T0 + 1000}`]);
    expect((await looping.scheduler.get('beat'))!.paused).toBe(true);
    await clock.advance(10_000);
    expect(await jobIds(looping)).toHaveLength(1);
  });

  it('a round writes the states of its schedules concurrently, not one after another', async () => {
    const clock = new ManualClock(T0 + 200);
    const storage = new MemoryJobStorage({ clock });
    let inFlight = 0;
    let most = 0;
    const slowStates = new Proxy(storage, {
      get(target, key) {
        if (key === 'saveSchedule') {
          return async (name: string, data: string) => {
            if (!name.startsWith('#state:')) return target.saveSchedule(name, data);
            most = Math.max(most, ++inFlight);
            await new Promise((resolve) => setImmediate(resolve)); // a round trip
            try {
              return await target.saveSchedule(name, data);
            } finally {
              inFlight--;
            }
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const uno = engine(slowStates, clock);
    for (const name of ['a', 'b', 'c']) await uno.scheduler.upsert(name, { every: 1000, task: 'tick' });
    await uno.start();
    await clock.advance(1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await jobIds(uno)).toHaveLength(3); // one round, three firings
    expect(most).toBe(3);
  });
});

describe('one-time future jobs', () => {
  it('enqueue with runAt waits as scheduled and runs at that instant, not before', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    // Slow housekeeping and polling: the fake hour then passes in few timer callbacks.
    const uno = new UnoJobs({ storage, clock, maintenanceIntervalMs: 60_000, worker: { pollIntervalMs: 60_000 } });
    engine.track(uno);
    const ranAt: number[] = [];
    uno.register('report.generate', () => void ranAt.push(clock.now()));
    await uno.start();
    const at = new Date(T0 + 3600_000);
    const job = await uno.queue.enqueue('report.generate', { id: 1 }, { runAt: at });
    expect(job).toMatchObject({ state: 'scheduled', runAt: at });
    await clock.advance(3600_000 - 1);
    expect(ranAt).toEqual([]);
    await clock.advance(200);
    expect(ranAt).toHaveLength(1);
    expect(ranAt[0]).toBeGreaterThanOrEqual(at.getTime());
    expect((await uno.queue.getJob(job.id))!.state).toBe('completed');
  });
});

describe('a schedule whose firing is refused', () => {
  it('is reported and skipped without holding up the other schedules', async () => {
    const clock = new ManualClock(T0 + 100);
    const uno = engine(new MemoryJobStorage({ clock }), clock, { maxPayloadBytes: 100 });
    const errors: string[] = [];
    uno.events.on('worker:error', ({ error, context }) => errors.push(`${context}: ${error.message}`));
    await uno.scheduler.upsert('big', { every: 1000, task: 'tick', payload: { blob: 'x'.repeat(500) } });
    await uno.scheduler.upsert('small', { every: 1000, task: 'tick' });
    await uno.start();
    await clock.advance(2000);
    expect(await jobIds(uno)).toEqual([`sched:small:${T0 + 1000}`, `sched:small:${T0 + 2000}`]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^schedule "big": Payload is \d+ bytes as JSON, over the limit of 100 bytes/);
  });
});

describe('missed ticks after every instance was down', () => {
  async function downtime(missed: 'skip' | 'last' | 'all', maxMissed?: number) {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const first = engine(storage, clock);
    await first.scheduler.upsert('m', { every: 60_000, task: 'tick', missed, ...(maxMissed ? { maxMissed } : {}) });
    await first.start();
    await clock.advance(60_000); // fires T0+60s
    await first.stop(0);
    await clock.advance(10 * 60_000 + 30_000); // 10 ticks pass with nobody running
    const second = engine(storage, clock);
    await second.start();
    return { ids: await jobIds(second), second, clock };
  }
  const id = (minutes: number) => `sched:m:${T0 + minutes * 60_000}`;

  it('skip: only ticks from now on run', async () => {
    const { ids, clock, second } = await downtime('skip');
    expect(ids).toEqual([id(1)]);
    await clock.advance(30_000);
    expect(await jobIds(second)).toEqual([id(1), id(12)].sort());
  });

  it('last: the newest missed tick runs once', async () => {
    const { ids } = await downtime('last');
    expect(ids).toEqual([id(1), id(11)].sort());
  });

  it('all: every missed tick runs, bounded by maxMissed (the newest ones)', async () => {
    expect((await downtime('all')).ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(id).sort());
    expect((await downtime('all', 3)).ids).toEqual([id(1), id(9), id(10), id(11)].sort());
  });
});

describe('overlap', () => {
  it('overlap: false skips ticks while the previous firing is still running, then resumes', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const uno = new UnoJobs({ storage, clock, worker: { pollIntervalMs: 50 } });
    engine.track(uno);
    const gate = deferred();
    let runs = 0;
    uno.register('slow', async () => {
      runs++;
      if (runs === 1) await gate.promise;
    });
    await uno.scheduler.upsert('slow', { every: 1000, task: 'slow', overlap: false });
    await uno.start();
    await clock.advance(4000); // tick 1 runs and blocks; ticks 2..4 are skipped
    expect(await jobIds(uno, 'slow')).toEqual([`sched:slow:${T0 + 1000}`]);
    gate.resolve();
    await clock.advance(1000);
    expect(await jobIds(uno, 'slow')).toEqual([`sched:slow:${T0 + 1000}`, `sched:slow:${T0 + 5000}`]);
    expect(runs).toBe(2);
  });

  it('overlap: true (default) fires every tick regardless', async () => {
    const clock = new ManualClock(T0 + 100);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    await uno.scheduler.upsert('o', { every: 1000, task: 'tick' });
    await uno.start();
    await clock.advance(3000);
    expect(await jobIds(uno)).toHaveLength(3); // all still waiting: no worker
  });
});

describe('dynamic schedules', () => {
  it('persist in the store: a new engine on the same store lists and fires them, paused state included', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const a = engine(storage, clock);
    await a.start();
    const info = await a.scheduler.upsert('digest:u1', {
      cron: '0 8 * * 1', timezone: 'America/New_York', task: 'tick', payload: { userId: 'u1' }, priority: 'high',
    });
    expect(info).toMatchObject({ name: 'digest:u1', source: 'dynamic', paused: false, lastRunAt: null });
    expect(info.nextRunAt).toEqual(new Date('2026-01-05T13:00:00Z'));
    await a.scheduler.upsert('every-min', { every: 60_000, task: 'tick' });
    await a.scheduler.pause('every-min');
    await a.stop(0);

    const b = engine(storage, clock, { scheduler: { enabled: true, syncIntervalMs: DAY } });
    await b.start();
    const list = await b.scheduler.list();
    expect(list.map((s) => [s.name, s.paused])).toEqual([['digest:u1', false], ['every-min', true]]);
    expect(list[1]!.nextRunAt).toBeNull();
    await clock.setTime(Date.parse('2026-01-05T13:00:00Z'));
    expect(await jobIds(b)).toEqual([`sched:digest:u1:${Date.parse('2026-01-05T13:00:00Z')}`]);
    const job = (await b.queue.getJob(`sched:digest:u1:${Date.parse('2026-01-05T13:00:00Z')}`))!;
    expect(job).toMatchObject({ priority: 'high', payload: { userId: 'u1' } });
    const digest = (await b.scheduler.get('digest:u1'))!;
    expect(digest.lastRunAt).toEqual(new Date('2026-01-05T13:00:00Z'));
    expect(digest.lastJobId).toBe(job.id);
    expect(digest.nextRunAt).toEqual(new Date('2026-01-12T13:00:00Z'));
  });

  it('changes made on another instance reach a running loop within syncIntervalMs; remove stops the firing', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const producer = engine(storage, clock, { scheduler: { enabled: false } });
    const worker = engine(storage, clock, { scheduler: { enabled: true, syncIntervalMs: 3000 } });
    await producer.start();
    await worker.start();
    await producer.scheduler.upsert('remote', { every: 1000, task: 'tick' });
    await clock.advance(2000); // the worker's loop has not re-read the store yet, and the producer does not fire
    expect(await jobIds(worker)).toEqual([]);
    // Sync at +3 s: the ticks since the schedule was stored are within graceMs, so they still fire (late).
    await clock.advance(1000);
    const fired = [1000, 2000, 3000].map((ms) => `sched:remote:${T0 + ms}`);
    expect(await jobIds(worker)).toEqual(fired);
    await clock.advance(1000);
    await producer.scheduler.remove('remote');
    await clock.advance(5000);
    expect(await jobIds(worker)).toEqual([...fired, `sched:remote:${T0 + 4000}`]);
  });

  it('resume fires from the next tick on: ticks that passed while paused never run', async () => {
    const clock = new ManualClock(T0 + 100);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    await uno.start();
    await uno.scheduler.upsert('p', { every: 1000, task: 'tick', missed: 'all' });
    await clock.advance(1000);
    await uno.scheduler.pause('p');
    await clock.advance(10_000);
    expect(await jobIds(uno)).toEqual([`sched:p:${T0 + 1000}`]);
    await uno.scheduler.resume('p');
    await clock.advance(1000);
    expect(await jobIds(uno)).toEqual([`sched:p:${T0 + 1000}`, `sched:p:${T0 + 12_000}`]);
    // Un-pausing through upsert({ paused: false }) drops the paused ticks the same way.
    await uno.scheduler.pause('p');
    await clock.advance(10_000);
    await uno.scheduler.upsert('p', { every: 1000, task: 'tick', missed: 'all', paused: false });
    await clock.advance(1000);
    expect(await jobIds(uno)).toEqual([`sched:p:${T0 + 1000}`, `sched:p:${T0 + 12_000}`, `sched:p:${T0 + 23_000}`]);
  });

  it('remove deletes it everywhere; upsert keeps the paused state; unknown names and tasks are refused', async () => {
    const clock = new ManualClock(T0 + 100);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    await uno.start();
    await uno.scheduler.upsert('r', { every: 1000, task: 'tick', paused: true });
    expect((await uno.scheduler.upsert('r', { every: 2000, task: 'tick' })).paused).toBe(true);
    expect(await uno.scheduler.remove('r')).toBe(true);
    expect(await uno.scheduler.remove('r')).toBe(false);
    expect(await uno.scheduler.list()).toEqual([]);
    await expect(uno.scheduler.pause('r')).rejects.toThrow('Schedule "r" does not exist. Known schedules: (none).');
    await expect(uno.scheduler.upsert('x', { every: 1000, task: 'nope' })).rejects.toThrow('Task "nope" is not registered');
    await expect(uno.scheduler.upsert('x', { cron: '99 * * * *', task: 'tick' })).rejects.toThrow(/^Schedule "x": Cron expression "99/);
    await expect(uno.scheduler.upsert('x', { cron: '* * * * *', every: 5, task: 'tick' })).rejects.toThrow('exactly one of cron');
    await expect(uno.scheduler.upsert('a b', { every: 1000, task: 'tick' })).rejects.toThrow('Schedule name "a b" is invalid');
    await expect(uno.scheduler.upsert('nightly\ud800', { every: 1000, task: 'tick' })).rejects.toThrow(/^Schedule name "nightly\\ud800" is invalid: .*a lone surrogate/);
    await expect(uno.scheduler.upsert('x', { every: 1000, task: 'tick', missed: 'some' as never })).rejects.toThrow("Use 'skip', 'last' or 'all'");
  });

  it('trigger enqueues a run now, with the schedule payload or a replacement', async () => {
    const clock = new ManualClock(T0 + 100);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    await uno.start();
    await uno.scheduler.upsert('nightly', { cron: '0 3 * * *', task: 'tick', payload: { full: true } });
    const a = await uno.scheduler.trigger('nightly');
    const b = await uno.scheduler.trigger('nightly', { full: false });
    expect(a.id).toMatch(/^sched:nightly:manual:/);
    expect([a.payload, b.payload, a.state]).toEqual([{ full: true }, { full: false }, 'waiting']);
    await expect(uno.scheduler.trigger('missing')).rejects.toThrow('Schedule "missing" does not exist. Known schedules: "nightly".');
  });
});

describe('declared schedules (what @Cron/@Interval use)', () => {
  it('an invalid expression or time zone throws a ConfigurationError naming the declaring method', () => {
    const clock = new ManualClock(T0);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    expect(() => uno.scheduler.declare('x', { cron: '61 * * * *', task: 'x' }, 'ReportService.nightly')).toThrow(
      /^@Cron on ReportService\.nightly: Cron expression "61 \* \* \* \*" is invalid/,
    );
    expect(() => uno.scheduler.declare('y', { cron: '0 3 * * *', timezone: 'Europe/Nowhere', task: 'y' }, 'A.b')).toThrow(
      '@Cron on A.b: Time zone "Europe/Nowhere" is invalid',
    );
    expect(() => uno.scheduler.declare('z', { every: -1, task: 'z' }, 'A.c', '@Interval')).toThrow('@Interval on A.c: Interval -1 is invalid');
    uno.scheduler.declare('dup', { every: 1000, task: 'dup' }, 'A.d');
    expect(() => uno.scheduler.declare('dup', { every: 1000, task: 'dup' }, 'B.e')).toThrow('declared twice: by A.d and by B.e');
  });

  it('are stored at start, keep a pause across restarts, and are rewritten only when they change', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    let saves = 0;
    const save = storage.saveSchedule.bind(storage);
    storage.saveSchedule = async (name, data) => {
      if (!name.startsWith('#')) saves++;
      return save(name, data);
    };
    const boot = async () => {
      const uno = engine(storage, clock);
      uno.scheduler.declare('tick', { every: 60_000, task: 'tick' }, 'Svc.tick', '@Interval');
      await uno.start();
      return uno;
    };
    const a = await boot();
    expect(saves).toBe(1);
    await a.scheduler.pause('tick');
    await a.stop(0);
    const b = await boot();
    expect(saves).toBe(2); // the pause; the unchanged declaration is not written again
    expect(await b.scheduler.get('tick')).toMatchObject({ source: 'decorator', paused: true, every: 60_000 });
  });
});
