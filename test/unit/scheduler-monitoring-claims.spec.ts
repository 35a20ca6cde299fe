import { describe, it, expect } from '@jest/globals';
import { HealthIndicatorService } from '@nestjs/terminus';
import { Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import {
  ConfigurationError,
  InvalidJobError,
  JobStorage,
  MemoryJobStorage,
  UnoJobs,
  type JobContext,
  type UnoJobsOptions,
} from '../../lib/index.js';
import { ManualClock } from '../../lib/testing/index.js';
import { cronTiming, newestTicks, type Timing } from '../../lib/core/scheduler-timing.js';
import { DEFAULT_BUCKETS, METRIC_NAMES, UnoJobsMetrics } from '../../lib/prometheus.js';
import { UnoJobsHealthIndicator } from '../../lib/terminus.js';
import type { ErrorPatternBounds, ErrorPatternHit, MetricPoint, MetricRetention } from '../../lib/contract/monitoring.js';
import { runUntil } from '../support/engine.js';
import { iso, jobIds, schedulerEngines, T0 } from '../support/scheduler.js';

/**
 * Claims of docs/scheduler.md and docs/monitoring.md that no other test pins: defaults, error classes and behaviours
 * users rely on. Memory store and manual clock only.
 */

const MINUTE = 60_000;
const DAY = 24 * 3600_000;
const engine = schedulerEngines();

function walk(expr: string, tz: string | undefined, from: string, n: number): string[] {
  const timing = cronTiming(expr, tz);
  const out: string[] = [];
  for (let t = Date.parse(from), i = 0; i < n; i++) out.push(iso((t = timing.next(t))));
  return out;
}

describe('docs/scheduler.md: cron expressions', () => {
  it('month and day names and the presets of the cron package work', async () => {
    // 1 January 2026 is a Thursday: the Mondays of January, then January 2027.
    expect(walk('0 0 * jan mon', undefined, '2026-01-01T00:00:00Z', 4)).toEqual([
      '2026-01-05T00:00:00.000Z', '2026-01-12T00:00:00.000Z', '2026-01-19T00:00:00.000Z', '2026-01-26T00:00:00.000Z',
    ]);
    expect(walk('0 0 * jan mon', undefined, '2026-01-26T00:00:00Z', 1)).toEqual(['2027-01-04T00:00:00.000Z']);
    expect(walk('@daily', undefined, '2026-01-01T12:00:00Z', 2)).toEqual(['2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z']);
    expect(walk('@hourly', undefined, '2026-01-01T12:30:00Z', 1)).toEqual(['2026-01-01T13:00:00.000Z']);
    // Through the scheduler too.
    const clock = new ManualClock(T0);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    expect((await uno.scheduler.upsert('names', { cron: '0 0 * jan mon', task: 'tick' })).nextRunAt).toEqual(new Date('2026-01-05T00:00:00Z'));
    expect((await uno.scheduler.upsert('preset', { cron: '@daily', task: 'tick' })).nextRunAt).toEqual(new Date('2026-01-02T00:00:00Z'));
  });

  it('Europe/Berlin spring-forward: an hourly job runs at 01:00, 03:00, 04:00 (no 02:00)', () => {
    const berlinHour = (isoString: string) =>
      new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(isoString));
    const ticks = walk('0 * * * *', 'Europe/Berlin', '2026-03-28T23:30:00Z', 4);
    expect(ticks).toEqual([
      '2026-03-29T00:00:00.000Z', // 01:00 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: 02:00 does not exist
      '2026-03-29T02:00:00.000Z', // 04:00 CEST
      '2026-03-29T03:00:00.000Z', // 05:00 CEST
    ]);
    expect(ticks.map(berlinHour)).toEqual(['01:00', '03:00', '04:00', '05:00']);
  });

  it('a declaration fails with a ConfigurationError; upsert throws an InvalidJobError and stores nothing', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const uno = engine(storage, clock);
    expect(() => uno.scheduler.declare('x', { cron: '61 * * * *', task: 'x' }, 'ReportService.nightly')).toThrow(ConfigurationError);
    await uno.scheduler.upsert('kept', { every: 1000, task: 'tick' });
    const before = await storage.listSchedules();
    const listed = await uno.scheduler.list();
    // A new name and a replacement of an existing schedule: both refused, nothing written.
    await expect(uno.scheduler.upsert('x', { cron: '61 * * * *', task: 'tick' })).rejects.toThrow(InvalidJobError);
    await expect(uno.scheduler.upsert('kept', { cron: '* * * * *', timezone: 'Mars/Olympus', task: 'tick' })).rejects.toThrow(InvalidJobError);
    expect(await storage.listSchedules()).toEqual(before);
    expect(await uno.scheduler.list()).toEqual(listed);
  });

  it('timezone is refused with every (cron only)', async () => {
    const clock = new ManualClock(T0);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    const upsert = uno.scheduler.upsert('i', { every: 1000, timezone: 'UTC', task: 'tick' });
    await expect(upsert).rejects.toThrow(InvalidJobError);
    await expect(upsert).rejects.toThrow('Schedule "i": timezone applies to cron schedules only');
    expect(() => uno.scheduler.declare('i', { every: 1000, timezone: 'Europe/Berlin', task: 'i' }, 'A.b', '@Interval')).toThrow(ConfigurationError);
    expect(await uno.scheduler.list()).toEqual([]);
  });

  it("schedule names may not contain '#'", async () => {
    const clock = new ManualClock(T0);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    const upsert = uno.scheduler.upsert('a#b', { every: 1000, task: 'tick' });
    await expect(upsert).rejects.toThrow(InvalidJobError);
    await expect(upsert).rejects.toThrow('Schedule name "a#b" is invalid');
    expect(() => uno.scheduler.declare('#state:x', { every: 1000, task: 'x' }, 'A.b', '@Interval')).toThrow(ConfigurationError);
  });
});

describe('docs/scheduler.md: firing', () => {
  it('an instance whose clock runs ahead fires early, and its job is the one that counts', async () => {
    const real = new ManualClock(T0 + 100); // the store's clock: the true time
    const ahead = new ManualClock(T0 + 2100); // 2 s ahead
    const storage = new MemoryJobStorage({ clock: real });
    const early = engine(storage, ahead);
    const onTime = engine(storage, real);
    await early.scheduler.upsert('ahead', { every: MINUTE, task: 'tick' });
    await early.start();
    await onTime.start();
    await ahead.advance(58_000); // the early instance reaches the tick T0 + 60 s; the true time is T0 + 0.1 s
    const id = `sched:ahead:${T0 + MINUTE}`;
    expect(await jobIds(onTime)).toEqual([id]);
    expect((await storage.get(id))!.createdAt.getTime()).toBe(T0 + 100);
    await real.advance(MINUTE); // the on-time instance passes the tick: no second job, the early one stands
    expect(await jobIds(onTime)).toEqual([id]);
    expect((await onTime.scheduler.get('ahead'))!.lastJobId).toBe(id);
  });

  it('the stored cursor stops another instance re-firing a tick whose job was deleted', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const options = { scheduler: { enabled: true, graceMs: MINUTE } }; // the tick stays within the grace period
    const first = engine(storage, clock, options);
    await first.scheduler.upsert('c', { every: MINUTE, task: 'tick' });
    await first.start();
    await clock.advance(MINUTE);
    const id = `sched:c:${T0 + MINUTE}`;
    expect(await jobIds(first)).toEqual([id]);
    await first.stop(0);
    await first.queue.remove(id);

    const second = engine(storage, clock, options);
    await second.start();
    expect(await jobIds(second)).toEqual([]);
    await second.stop(0);

    // Without the cursor document, the same tick fires again: the cursor is what held it back.
    await storage.removeSchedule('#state:c');
    const third = engine(storage, clock, options);
    await third.start();
    expect(await jobIds(third)).toEqual([id]);
  });

  it('payload defaults to null and priority to the task\'s; a schedule\'s priority overrides it', async () => {
    const clock = new ManualClock(T0 + 100);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    uno.register('urgent', () => 1, { priority: 'high' });
    await uno.scheduler.upsert('plain', { every: 1000, task: 'urgent' });
    await uno.scheduler.upsert('low', { every: 1000, task: 'urgent', priority: 'low' });
    await uno.start();
    await clock.advance(1000);
    expect(await uno.queue.getJob(`sched:plain:${T0 + 1000}`)).toMatchObject({ payload: null, priority: 'high' });
    expect(await uno.queue.getJob(`sched:low:${T0 + 1000}`)).toMatchObject({ payload: null, priority: 'low' });
  });

  it('maxMissed defaults to 10: after 15 missed ticks, missed: all runs the newest 10', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const first = engine(storage, clock);
    await first.scheduler.upsert('m', { every: MINUTE, task: 'tick', missed: 'all' });
    await first.start();
    await clock.advance(MINUTE); // fires minute 1
    await first.stop(0);
    await clock.advance(15 * MINUTE + 30_000); // minutes 2..16 pass with nobody running
    const second = engine(storage, clock);
    await second.start();
    const id = (minutes: number) => `sched:m:${T0 + minutes * MINUTE}`;
    expect(await jobIds(second)).toEqual([1, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16].map(id).sort());
  });

  it('producer-only instances store declared schedules at start but do not fire them', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const producer = engine(storage, clock, { scheduler: undefined }); // worker off, scheduler option not given
    producer.scheduler.declare('beat', { every: 1000, task: 'tick' }, 'Svc.beat', '@Interval');
    await producer.start();
    expect(await producer.scheduler.get('beat')).toMatchObject({ source: 'decorator', paused: false });
    await clock.advance(10_000);
    expect(await jobIds(producer)).toEqual([]);
  });

  it('scheduler defaults: syncIntervalMs 5000 (another instance\'s change is read 5 s later)', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const producer = engine(storage, clock, { scheduler: { enabled: false } });
    const worker = engine(storage, clock, { scheduler: { enabled: true } }); // syncIntervalMs and graceMs not given
    await producer.start();
    await worker.start(); // first round at T0 + 0.1 s: no schedule yet, next read at T0 + 5.1 s
    await producer.scheduler.upsert('remote', { every: 1000, task: 'tick' });
    await clock.advance(4999);
    expect(await jobIds(worker)).toEqual([]);
    await clock.advance(1);
    expect(await jobIds(worker)).toEqual([1, 2, 3, 4, 5].map((s) => `sched:remote:${T0 + s * 1000}`));
  });

  it('scheduler defaults: graceMs 5000 (a tick handled more than 5 s late is missed)', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    await engine(storage, clock, { scheduler: { enabled: false } }).scheduler.upsert('g', { every: 100, task: 'tick' });
    await clock.setTime(T0 + 8050); // nobody ran meanwhile
    const late = engine(storage, clock, { scheduler: { enabled: true } }); // missed: 'skip' by default
    await late.start();
    const ticks = (await jobIds(late)).map((id) => Number(id.split(':').pop()) - T0).sort((a, b) => a - b);
    // T0 + 3.0 s is 5.05 s old: missed and dropped; T0 + 3.1 s (4.95 s old) and later fire.
    expect(ticks[0]).toBe(3100);
    expect(ticks.at(-1)).toBe(8000);
    expect(ticks).toHaveLength(50);
  });

  it('finding missed ticks looks back from now: a per-second cron down for a week costs a few dozen steps', () => {
    const perSecond = cronTiming('* * * * * *');
    let steps = 0;
    const counted: Timing = { next: (after) => (steps++, perSecond.next(after)) };
    const weekLater = T0 + 7 * DAY;
    expect(newestTicks(counted, T0, weekLater, 10)).toEqual(Array.from({ length: 10 }, (_, i) => weekLater - (9 - i) * 1000));
    expect(steps).toBeLessThan(200); // walking the week would be 604 800 steps
  });
});

describe('docs/scheduler.md: overlap: false', () => {
  it('a waiting previous job blocks the next ticks; trigger() still enqueues', async () => {
    const clock = new ManualClock(T0 + 100);
    const uno = engine(new MemoryJobStorage({ clock }), clock); // no worker: the first job stays waiting
    await uno.scheduler.upsert('o', { every: 1000, task: 'tick', overlap: false });
    await uno.start();
    await clock.advance(3000);
    expect(await jobIds(uno)).toEqual([`sched:o:${T0 + 1000}`]);
    const manual = await uno.scheduler.trigger('o');
    expect(manual).toMatchObject({ state: 'waiting' });
    expect((await jobIds(uno)).sort()).toEqual([`sched:o:${T0 + 1000}`, manual.id].sort());
  });

  it('a previous job backing off before a retry (scheduled) blocks the next ticks', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const uno = new UnoJobs({ storage, clock, worker: { pollIntervalMs: 50 } });
    engine.track(uno);
    uno.register('flaky', () => {
      throw new Error('down');
    }, { attempts: 3, backoff: { type: 'fixed', delay: 60_000 } });
    await uno.scheduler.upsert('f', { every: 1000, task: 'flaky', overlap: false });
    await uno.start();
    await clock.advance(1000);
    const first = `sched:f:${T0 + 1000}`;
    await runUntil(async () => (await storage.get(first))?.state === 'scheduled');
    await clock.advance(5000);
    expect(await jobIds(uno, 'flaky')).toEqual([first]);
    expect((await storage.get(first))!.state).toBe('scheduled');
  });

  it('with missed: all, a round runs only the newest missed tick', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    await engine(storage, clock, { scheduler: { enabled: false } }).scheduler.upsert('a', { every: MINUTE, task: 'tick', missed: 'all', overlap: false });
    await clock.advance(10 * MINUTE + 30_000); // 10 ticks pass with no loop running
    const uno = engine(storage, clock);
    await uno.start();
    expect(await jobIds(uno)).toEqual([`sched:a:${T0 + 10 * MINUTE}`]);
  });
});

describe('docs/scheduler.md: storage of schedules, trigger, round cost', () => {
  it('boot sync keeps createdAt; a schedule whose task no instance registers is not fired; a removed declaration comes back at boot', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const boot = async (every: number, withOld: boolean) => {
      const uno = engine(storage, clock);
      uno.scheduler.declare('beat', { every, task: 'tick' }, 'Svc.beat', '@Interval');
      if (withOld) {
        uno.register('old', () => 1);
        uno.scheduler.declare('old', { every: 1000, task: 'old' }, 'Svc.old', '@Interval');
      }
      await uno.start();
      return uno;
    };
    const createdAt = async (name: string) => (JSON.parse((await storage.listSchedules()).find((s) => s.name === name)!.data) as { createdAt: number }).createdAt;
    const a = await boot(3_600_000, true);
    await a.stop(0);
    await clock.advance(MINUTE);

    // The next version of the app: 'beat' changed, 'old' deleted from the code (task no longer registered).
    const b = await boot(7_200_000, false);
    expect(await b.scheduler.get('beat')).toMatchObject({ every: 7_200_000 });
    expect(await createdAt('beat')).toBe(T0 + 100);
    await clock.advance(10_000);
    expect(await jobIds(b, 'old')).toEqual([]);
    expect((await b.scheduler.list()).map((s) => s.name)).toEqual(['beat', 'old']);

    expect(await b.scheduler.remove('beat')).toBe(true);
    await b.stop(0);
    const c = await boot(7_200_000, false);
    expect((await c.scheduler.list()).map((s) => s.name)).toEqual(['beat', 'old']);
  });

  it('trigger does not change lastRunAt or lastJobId', async () => {
    const clock = new ManualClock(T0 + 100);
    const uno = engine(new MemoryJobStorage({ clock }), clock);
    await uno.scheduler.upsert('t', { every: 1000, task: 'tick' });
    await uno.start();
    await clock.advance(1000);
    const before = (await uno.scheduler.get('t'))!;
    expect(before).toMatchObject({ lastRunAt: new Date(T0 + 1000), lastJobId: `sched:t:${T0 + 1000}` });
    const manual = await uno.scheduler.trigger('t');
    expect(manual.id).toMatch(/^sched:t:manual:[0-9a-f-]{36}$/);
    expect(await uno.scheduler.get('t')).toMatchObject({ lastRunAt: before.lastRunAt, lastJobId: before.lastJobId });
  });

  it('a round reads the schedules once and enqueues every due firing in one insert', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const uno = engine(storage, clock);
    await uno.scheduler.upsert('one', { every: 1000, task: 'tick' });
    await uno.scheduler.upsert('two', { every: 1000, task: 'tick' });
    await uno.start();
    const calls = { lists: 0, inserts: 0, jobs: 0 };
    const list = storage.listSchedules.bind(storage);
    storage.listSchedules = () => (calls.lists++, list());
    const insert = storage.insert.bind(storage);
    storage.insert = (jobs) => (calls.inserts++, (calls.jobs += jobs.length), insert(jobs));
    await clock.advance(1000);
    expect(calls).toEqual({ lists: 1, inserts: 1, jobs: 2 });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// docs/monitoring.md

const M0 = Date.UTC(2026, 10, 29, 12, 0, 0);

/** A memory store that records what the monitoring writes and prunes. */
class RecordingStorage extends MemoryJobStorage {
  metricWrites = 0;
  prunes: { metrics: MetricRetention; patternsMs: number; workersMs: number }[] = [];
  private pendingPrune: Partial<{ metrics: MetricRetention; patternsMs: number }> = {};
  patternBounds: ErrorPatternBounds[] = [];
  heartbeats = 0;
  override async addMetrics(points: readonly MetricPoint[]): Promise<void> {
    this.metricWrites++;
    return super.addMetrics(points);
  }
  override async pruneMetrics(before: MetricRetention): Promise<number> {
    this.pendingPrune.metrics = before;
    return super.pruneMetrics(before);
  }
  override async pruneErrorPatterns(olderThanMs: number): Promise<number> {
    this.pendingPrune.patternsMs = olderThanMs;
    return super.pruneErrorPatterns(olderThanMs);
  }
  override async pruneWorkers(olderThanMs: number): Promise<number> {
    this.prunes.push({ metrics: this.pendingPrune.metrics!, patternsMs: this.pendingPrune.patternsMs!, workersMs: olderThanMs });
    return super.pruneWorkers(olderThanMs);
  }
  override async recordErrorPatterns(hits: readonly ErrorPatternHit[], bounds: ErrorPatternBounds): Promise<void> {
    this.patternBounds.push(bounds);
    return super.recordErrorPatterns(hits, bounds);
  }
  override async saveWorker(id: string, data: string): Promise<void> {
    if (id === 'self') this.heartbeats++;
    return super.saveWorker(id, data);
  }
}

function monitored(storage: JobStorage, clock: ManualClock, options: Partial<UnoJobsOptions> = {}): UnoJobs {
  const uno = new UnoJobs({ ...options, storage, clock });
  engine.track(uno);
  return uno;
}

describe('docs/monitoring.md: default settings', () => {
  it('flush every 5 s, heartbeat every 10 s, prune every 10 min keeping minutes 24 h, hours and patterns 7 days, gone instances 1 h, 100 patterns per task', async () => {
    const clock = new ManualClock(M0);
    const storage = new RecordingStorage({ clock });
    const uno = monitored(storage, clock, { worker: { id: 'self', pollIntervalMs: 3_600_000 } }); // monitoring options not given
    uno.register('bad', () => {
      throw new Error('broken');
    });
    await uno.start();
    expect(storage.heartbeats).toBe(1);
    await clock.advance(5000); // the recorder's first run prunes
    expect(storage.prunes).toEqual([{ metrics: { minute: M0 + 5000 - DAY, hour: M0 + 5000 - 7 * DAY }, patternsMs: 7 * DAY, workersMs: 3_600_000 }]);

    await uno.queue.enqueue('bad', null); // the first figure arms the flush
    await runUntil(async () => (await uno.queue.counts()).failed === 1);
    await clock.advance(4999);
    expect(storage.metricWrites).toBe(0);
    expect(storage.heartbeats).toBe(1); // M0 + 9.999 s
    await clock.advance(1);
    expect(storage.metricWrites).toBe(1);
    expect(storage.patternBounds).toEqual([{ maxPerTask: 100, samples: 5 }]);
    expect(storage.heartbeats).toBe(2); // M0 + 10 s

    await clock.setTime(M0 + 5000 + 600_000 - 1);
    expect(storage.prunes).toHaveLength(1);
    await clock.advance(1);
    expect(storage.prunes).toHaveLength(2);
  });

  it('gone after 3 heartbeats (30 s); unhealthy past a 1000 ms loop delay or a heartbeat lag over heartbeatMs (10 s)', async () => {
    const clock = new ManualClock(M0);
    const storage = new MemoryJobStorage({ clock });
    const uno = monitored(storage, clock, { worker: { enabled: false } });
    await uno.start();
    const doc = (loopMaxMs: number) => JSON.stringify({ host: 'h', pid: 1, version: '0.0.0', queues: {}, startedAt: 0, health: { loopP99Ms: 0, loopMaxMs, lagMs: 0 } });
    await storage.saveWorker('at-limit', doc(1000));
    await storage.saveWorker('blocked', doc(1001));
    const find = async (id: string) => (await uno.metrics.workers())!.find((w) => w.id === id)!;
    expect((await find('at-limit')).health.healthy).toBe(true);
    expect((await find('blocked')).health.problems).toEqual([expect.stringMatching(/threshold 1000 ms/)]);

    await clock.advance(20_000); // 10 s past a heartbeat period: lag 10 000 ms, not over
    expect((await find('at-limit')).health).toMatchObject({ heartbeatLagMs: 10_000, healthy: true });
    await clock.advance(1);
    expect((await find('at-limit')).health).toMatchObject({ heartbeatLagMs: 10_001, healthy: false });
    await clock.setTime(M0 + 30_000);
    expect((await find('at-limit')).alive).toBe(true);
    await clock.advance(1);
    expect((await find('at-limit')).alive).toBe(false);
  });
});

describe('docs/monitoring.md: summary figures', () => {
  it('failureRate is null when nothing finished (a retry is not a finish)', async () => {
    const clock = new ManualClock(M0);
    const storage = new MemoryJobStorage({ clock });
    const uno = monitored(storage, clock, { monitoring: { flushIntervalMs: 1000 }, worker: { pollIntervalMs: 50 } });
    uno.register('flaky', () => {
      throw new Error('down');
    }, { attempts: 2, backoff: { type: 'fixed', delay: 3_600_000 } });
    await uno.start();
    expect((await uno.metrics.summary()).failureRate).toEqual({ '1m': null, '5m': null, '15m': null });
    await uno.queue.enqueue('flaky', null);
    await runUntil(async () => (await uno.queue.counts()).scheduled === 1);
    await clock.advance(1000);
    await runUntil(async () => (await uno.metrics.summary()).totals['1m'].retried === 1);
    const s = await uno.metrics.summary();
    expect(s.totals['1m']).toMatchObject({ retried: 1, completed: 0, failed: 0 });
    expect(s.failureRate).toEqual({ '1m': null, '5m': null, '15m': null });
  });

  it('rates divide the totals by the window\'s length in seconds up to now, at least 1 s', async () => {
    const clock = new ManualClock(M0 + 10_000); // 10 s into the minute
    const storage = new MemoryJobStorage({ clock });
    const uno = monitored(storage, clock, { monitoring: { flushIntervalMs: 1000 }, worker: { enabled: false } });
    uno.register('t', () => 1);
    await uno.start();
    await uno.queue.enqueueMany(Array.from({ length: 33 }, () => ({ task: 't', payload: null })));
    await clock.advance(1000);
    await runUntil(async () => (await uno.metrics.summary()).totals['1m'].enqueued === 33);
    const s = await uno.metrics.summary();
    expect(s.totals['15m'].enqueued).toBe(33);
    expect(s.rates['1m'].enqueued).toBeCloseTo(33 / 11, 4); // 11 s of the current minute
    expect(s.rates['5m'].enqueued).toBeCloseTo(33 / (4 * 60 + 11), 4);
    expect(s.rates['15m'].enqueued).toBeCloseTo(33 / (14 * 60 + 11), 4);

    // 1 ms into a minute, the 1-minute window counts as 1 s.
    const clock2 = new ManualClock(M0 + MINUTE);
    const uno2 = monitored(new MemoryJobStorage({ clock: clock2 }), clock2, { monitoring: { flushIntervalMs: 1 }, worker: { enabled: false } });
    uno2.register('t', () => 1);
    await uno2.start();
    await uno2.queue.enqueueMany(Array.from({ length: 7 }, () => ({ task: 't', payload: null })));
    await clock2.advance(1);
    await runUntil(async () => (await uno2.metrics.summary()).totals['1m'].enqueued === 7);
    expect((await uno2.metrics.summary()).rates['1m'].enqueued).toBe(7);
  });

  it('oldestWaitMs without a queue covers every queue this instance knows, not others', async () => {
    const clock = new ManualClock(M0);
    const storage = new MemoryJobStorage({ clock });
    const other = monitored(storage, clock, { worker: { enabled: false } });
    other.register('c.task', () => 1, { queue: 'c' });
    const uno = monitored(storage, clock, { worker: { enabled: false } });
    uno.register('a.task', () => 1, { queue: 'a' });
    uno.register('b.task', () => 1, { queue: 'b' });
    await other.queue.enqueue('c.task', null); // M0, in a queue this instance does not know
    await clock.advance(1000);
    await uno.queue.enqueue('b.task', null); // M0 + 1 s
    await clock.advance(2000);
    await uno.queue.enqueue('a.task', null); // M0 + 3 s
    await clock.advance(2000);
    expect((await uno.metrics.summary()).oldestWaitMs).toBe(4000);
    expect((await uno.metrics.summary({ queue: 'a' })).oldestWaitMs).toBe(2000);
    expect((await other.metrics.summary()).oldestWaitMs).toBe(5000);
  });

  it('a store without the optional monitoring methods: workers() and errorPatterns() answer null, the figures are zero', async () => {
    class BareStorage extends MemoryJobStorage {}
    const optional = [
      'saveWorker', 'listWorkers', 'removeWorker', 'pruneWorkers', 'recordErrorPatterns', 'listErrorPatterns',
      'pruneErrorPatterns', 'addMetrics', 'readMetrics', 'pruneMetrics',
    ] as const;
    for (const method of optional) (BareStorage.prototype as unknown as Record<string, unknown>)[method] = JobStorage.prototype[method];
    const clock = new ManualClock(M0);
    const storage = new BareStorage({ clock });
    const uno = monitored(storage, clock, { monitoring: { flushIntervalMs: 1000 }, worker: { pollIntervalMs: 50 } });
    uno.register('ok', () => 1);
    uno.register('bad', () => {
      throw new Error('broken');
    });
    await uno.start();
    await uno.queue.enqueue('ok', null);
    await uno.queue.enqueue('bad', null);
    await runUntil(async () => {
      const c = await uno.queue.counts();
      return c.completed === 1 && c.failed === 1;
    });
    await clock.advance(2000);
    expect(await uno.metrics.workers()).toBeNull();
    expect(await uno.metrics.errorPatterns()).toBeNull();
    const s = await uno.metrics.summary();
    const zero = { enqueued: 0, completed: 0, failed: 0, retried: 0, stalled: 0 };
    expect(s.totals).toEqual({ '1m': zero, '5m': zero, '15m': zero });
    expect(s.rates).toEqual({ '1m': zero, '5m': zero, '15m': zero });
    expect([s.processingMs, s.waitMs]).toEqual([null, null]);
    expect(s.counts).toMatchObject({ completed: 1, failed: 1 }); // the job counts still come from counts()
  });
});

describe('docs/monitoring.md: health indicator and Prometheus defaults', () => {
  it('isHealthy reports under the key uno_jobs by default', async () => {
    const clock = new ManualClock(M0);
    const uno = monitored(new MemoryJobStorage({ clock }), clock, { worker: { enabled: false } });
    await uno.start();
    const result = await new UnoJobsHealthIndicator(uno, new HealthIndicatorService()).isHealthy();
    expect(Object.keys(result)).toEqual(['uno_jobs']);
    expect(result.uno_jobs).toMatchObject({ status: 'up' });
  });

  type Series = MetricValue<string> & { metricName?: string };
  const read = async (registry: Registry, name: string) => ((await registry.getSingleMetric(name)!.get()) as MetricObjectWithValues<Series>).values;

  it('histogram buckets run from 5 ms to 5 min unless `buckets` is given; cancellations are not in processed_total', async () => {
    const clock = new ManualClock(M0);
    const uno = monitored(new MemoryJobStorage({ clock }), clock, { worker: { pollIntervalMs: 50 } });
    const registry = new Registry();
    new UnoJobsMetrics(uno, { registry }).attach();
    const custom = new Registry();
    new UnoJobsMetrics(uno, { registry: custom, buckets: [1, 2] }).attach();
    uno.register('ok', () => 1);
    uno.register('hang', (_p: unknown, ctx: JobContext) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
    await uno.start();
    await uno.queue.enqueue('ok', null);
    await runUntil(async () => (await uno.queue.counts()).completed === 1);
    const bounds = async (r: Registry) =>
      (await read(r, METRIC_NAMES.duration)).filter((v) => v.metricName === `${METRIC_NAMES.duration}_bucket`).map((v) => v.labels.le);
    expect(DEFAULT_BUCKETS[0]).toBe(0.005);
    expect(DEFAULT_BUCKETS.at(-1)).toBe(300);
    expect(await bounds(registry)).toEqual([...DEFAULT_BUCKETS, '+Inf']);
    expect(await bounds(custom)).toEqual([1, 2, '+Inf']);

    const before = await read(registry, METRIC_NAMES.processed);
    const waiting = await uno.queue.enqueue('ok', null, { delay: 3_600_000 });
    await uno.queue.cancel(waiting.id);
    const running = await uno.queue.enqueue('hang', null);
    await runUntil(async () => (await uno.queue.getJob(running.id))!.state === 'active');
    await uno.queue.cancel(running.id);
    await runUntil(async () => (await uno.queue.getJob(running.id))!.state === 'cancelled');
    await clock.advance(100);
    expect((await uno.queue.counts()).cancelled).toBe(2);
    expect(await read(registry, METRIC_NAMES.processed)).toEqual(before);
  });

  it('the store gauges wait 3000 ms for the store by default', async () => {
    const clock = new ManualClock(M0);
    const storage = new MemoryJobStorage({ clock });
    const uno = monitored(storage, clock, { worker: { enabled: false } });
    uno.register('t', () => 1);
    const registry = new Registry();
    new UnoJobsMetrics(uno, { registry }).attach();
    storage.counts = () => new Promise(() => {});
    let text: string | undefined;
    void registry.metrics().then((t) => (text = t));
    await clock.advance(2999);
    expect(text).toBeUndefined();
    await clock.advance(1);
    await runUntil(async () => text !== undefined);
    expect(text).not.toMatch(/uno_queue_jobs\{/);
  });
});
