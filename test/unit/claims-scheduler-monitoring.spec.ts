import 'reflect-metadata';
import { describe, it, expect, afterEach } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Cron, Interval, SchedulerRegistry, Timeout } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import {
  Cron as UnoCron, Interval as UnoInterval, MemoryJobStorage, UnoJobs, UnoJobsModule, UNO_JOBS, type AlertNotice, type JobContext, type UnoJobsOptions,
} from '../../lib/index.js';
import { LoopDelay } from '../../lib/core/loop-delay.js';
import { ManualClock, flushMicrotasks } from '../../lib/testing/index.js';
import { METRIC_NAMES, UnoJobsMetrics } from '../../lib/prometheus.js';
import { runUntil } from '../support/engine.js';
import { schedulerEngines, T0 } from '../support/scheduler.js';

/**
 * Claims of docs/scheduler.md, docs/nest-schedule.md, docs/alerts.md and docs/monitoring.md that no other test
 * pinned. Memory store and manual clock; one local HTTP server for a webhook.
 */

const M0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const engine = schedulerEngines();

/** Engines on a manual clock that may still be sending alert notices: stopped with the clock moving. */
const sending: { uno: UnoJobs; clock: ManualClock }[] = [];
const servers: Server[] = [];
const apps: INestApplicationContext[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  let stopped = false;
  const stopping = Promise.all(sending.map(({ uno }) => uno.stop(0))).then(() => (stopped = true));
  const clocks = [...new Set(sending.splice(0).map(({ clock }) => clock))];
  for (let i = 0; i < 1000 && !stopped; i++) {
    await Promise.all(clocks.map((c) => c.advance(60_000)));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await stopping;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** An engine on `storage` and `clock` (options as given), stopped after the test. */
function plain(storage: MemoryJobStorage, clock: ManualClock, options: Partial<UnoJobsOptions> = {}): UnoJobs {
  return engine.track(new UnoJobs({ ...options, storage, clock }));
}

const ids = async (uno: UnoJobs, prefix: string) =>
  (await uno.queue.list({ task: 'tick', limit: 1000 })).jobs.map((j) => j.id).filter((id) => id.startsWith(prefix)).sort();

// ---------------------------------------------------------------------------------------------------------------
describe('docs/scheduler.md', () => {
  it('a new schedule never fires ticks from before it was stored, even with missed: all and the ticks within graceMs', async () => {
    const clock = new ManualClock(T0 + 100);
    const storage = new MemoryJobStorage({ clock });
    const admin = engine(storage, clock, { scheduler: { enabled: false } });
    // Control: stored before its ticks, at T0 + 0.1 s.
    await admin.scheduler.upsert('early', { every: 1000, task: 'tick', missed: 'all' });
    await clock.setTime(T0 + 4500);
    // Stored at T0 + 4.5 s: the ticks T0 + 1 s .. T0 + 4 s are before it.
    await admin.scheduler.upsert('late', { every: 1000, task: 'tick', missed: 'all' });
    await clock.advance(100);
    const loop = engine(storage, clock); // the first loop to run, at T0 + 4.6 s (graceMs 5000: every tick above is in it)
    await loop.start();
    expect(await ids(loop, 'sched:early:')).toEqual([1, 2, 3, 4].map((s) => `sched:early:${T0 + s * 1000}`));
    expect(await ids(loop, 'sched:late:')).toEqual([]);
    await clock.advance(400);
    expect(await ids(loop, 'sched:late:')).toEqual([`sched:late:${T0 + 5000}`]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('docs/nest-schedule.md', () => {
  async function boot(providers: unknown[], clock: ManualClock) {
    const ref = await Test.createTestingModule({
      imports: [UnoJobsModule.forRoot({ clock, worker: { pollIntervalMs: 100 }, nestSchedule: 'adopt' })],
      providers: providers as never[],
    }).compile();
    apps.push(ref);
    await ref.init();
    return ref;
  }

  it("refuses a luxon DateTime and a name with '#', naming the method; @Timeout is not a job; the registry lists adopted names first and points an unknown name to scheduler.list()", async () => {
    const at = CronJob.from({ cronTime: '0 0 1 1 *', onTick: () => {}, start: false }).nextDate(); // a luxon DateTime
    @Injectable()
    class OnceService {
      @Cron(at)
      once() {}
    }
    await expect(boot([OnceService], new ManualClock(T0))).rejects.toThrow(
      '@Cron on OnceService.once: a Date or DateTime fires once, not on a schedule, and cannot be adopted.',
    );
    @Injectable()
    class HashService {
      @Cron('* * * * *', { name: 'report#1' })
      report() {}
    }
    await expect(boot([HashService], new ManualClock(T0))).rejects.toThrow('@Cron on HashService.report: Schedule name "report#1" is invalid');

    @Injectable()
    class Legacy {
      warmed = 0;
      @Interval('poll-feeds', 60_000)
      poll() {}
      @Timeout('warm-cache', 100)
      warm() {
        this.warmed++;
      }
    }
    const clock = new ManualClock(T0 + 100);
    const ref = await boot([Legacy], clock);
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    await clock.advance(100);
    expect(ref.get(Legacy).warmed).toBe(1);
    // A plain timer, not a job: nothing in the store, no history.
    const counts = await uno.queue.counts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    expect((await uno.queue.list({ limit: 100 })).jobs).toEqual([]);

    const registry = ref.get(SchedulerRegistry);
    // Added at runtime with names that sort first: still listed after the adopted ones.
    registry.addInterval('aaa-runtime', setInterval(() => {}, 3_600_000));
    registry.addTimeout('aaa-runtime', setTimeout(() => {}, 3_600_000));
    expect(registry.getIntervals()).toEqual(['poll-feeds', 'aaa-runtime']);
    expect(registry.getTimeouts()).toEqual(['warm-cache', 'aaa-runtime']);
    expect(() => registry.getCronJob('x')).toThrow('No cron job named "x"');
    expect(() => registry.getCronJob('x')).toThrow('scheduler.list()');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('docs/alerts.md', () => {
  function alerting(storage: MemoryJobStorage, clock: ManualClock, options: Partial<UnoJobsOptions>) {
    const uno = new UnoJobs({ storage, clock, worker: { enabled: false }, monitoring: { heartbeatMs: 1000, flushIntervalMs: 1000 }, ...options });
    sending.push({ uno, clock });
    const notices: AlertNotice[] = [];
    uno.alerts.on((n) => void notices.push(n));
    return { uno, notices };
  }

  it("a rule's name makes the alert id <name>:<subject> and its rule; severity is passed along; a notice carries exactly the documented fields", async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const { uno, notices } = alerting(storage, clock, {
      tasks: { x: { queue: 'q' } },
      alerts: {
        intervalMs: 1000,
        rules: [
          { type: 'backlog', name: 'emails-backlog', queue: 'q', above: 0, severity: 'page' },
          { type: 'backlog', name: 'emails-flood', queue: 'q', above: 1 },
        ],
      },
    });
    await uno.start();
    await uno.queue.enqueue('x', {});
    await clock.advance(1001);
    expect(notices).toHaveLength(1);
    const [notice] = notices;
    expect(Object.keys(notice!).sort()).toEqual(['alert', 'at', 'kind']);
    expect(Object.keys(notice!.alert).sort()).toEqual(
      ['details', 'firedAt', 'id', 'message', 'resolvedAt', 'rule', 'severity', 'status', 'subject', 'type'],
    );
    expect(notice).toMatchObject({
      kind: 'fired',
      at: new Date(T0 + 1001).toISOString(),
      alert: { id: 'emails-backlog:q', rule: 'emails-backlog', type: 'backlog', severity: 'page', subject: 'q', status: 'firing', resolvedAt: null },
    });
    // Two rules of one type, told apart by their names.
    await uno.queue.enqueue('x', {});
    await clock.advance(1000);
    expect(notices.map((n) => [n.kind, n.alert.id, n.alert.rule, n.alert.severity])).toEqual([
      ['fired', 'emails-backlog:q', 'emails-backlog', 'page'],
      ['fired', 'emails-flood:q', 'emails-flood', 'warning'],
    ]);
    expect((await uno.alerts.open()).map((a) => a.id)).toEqual(['emails-backlog:q', 'emails-flood:q']);
  });

  it('new-error-pattern: a pattern first seen before alerts started on this store never fires, even when it recurs; a new one does', async () => {
    const clock = new ManualClock(M0);
    const storage = new MemoryJobStorage({ clock });
    const fails = (payload: { what: string }) => {
      throw new Error(payload.what === 'old' ? 'ledger 17 is locked' : 'mailbox full for "bob"');
    };
    // An app that ran before alerts were configured: its failure pattern is in the store.
    const before = plain(storage, clock, { worker: { pollIntervalMs: 50 }, monitoring: { flushIntervalMs: 1000 } });
    before.register('fails', fails);
    await before.start();
    await before.queue.enqueue('fails', { what: 'old' }, { attempts: 1 });
    await runUntil(async () => (await before.queue.counts()).failed === 1);
    await clock.advance(1000);
    await runUntil(async () => ((await before.metrics.errorPatterns()) ?? []).length === 1);
    await before.stop(0);
    await clock.advance(10 * 60_000); // 10 minutes: well within forgetAfterMs (1 h), so only "first seen" keeps it out

    const { uno, notices } = alerting(storage, clock, {
      worker: { pollIntervalMs: 50 },
      scheduler: { enabled: false },
      alerts: { intervalMs: 1000, rules: [{ type: 'new-error-pattern' }] },
    });
    uno.register('fails', fails);
    await uno.start();
    await clock.advance(1001); // the first evaluation: alerts start on this store now
    await uno.queue.enqueue('fails', { what: 'old' }, { attempts: 1 }); // the old pattern again
    await runUntil(async () => (await uno.queue.counts()).failed === 2);
    for (let i = 0; i < 3; i++) await clock.advance(1000);
    expect((await uno.metrics.errorPatterns({ task: 'fails' }))!.map((p) => [p.pattern, p.count])).toEqual([['ledger <n> is locked', 2]]);
    expect(notices).toEqual([]);

    await uno.queue.enqueue('fails', { what: 'new' }, { attempts: 1 });
    await runUntil(async () => (await uno.queue.counts()).failed === 3);
    for (let i = 0; i < 3; i++) await clock.advance(1000);
    const fresh = (await uno.metrics.errorPatterns({ task: 'fails' }))!.find((p) => p.pattern.startsWith('mailbox full'))!;
    expect(notices.map((n) => [n.kind, n.alert.id])).toEqual([['fired', `new-error-pattern:fails:${fresh.fingerprint}`]]);
  });

  it('stop() waits for a notice being sent: a webhook backing off before its retry holds it until the retry ended', async () => {
    let requests = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        res.writeHead(503).end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const { uno } = alerting(storage, clock, {
      tasks: { x: { queue: 'q' } },
      alerts: { rules: [{ type: 'backlog', queue: 'q', above: 0 }], webhooks: [{ url, retries: 1, backoffMs: 60_000 }] },
    });
    const errors: string[] = [];
    uno.events.on('worker:error', ({ error }) => void errors.push(error.message));
    await uno.start();
    await uno.queue.enqueue('x', {});
    expect((await uno.alerts.evaluate()).map((n) => n.kind)).toEqual(['fired']);
    for (let i = 0; i < 500 && requests === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(requests).toBe(1); // answered 503: the retry waits 60 s on the engine's clock

    let stopped = false;
    const stopping = uno.stop(0).then(() => (stopped = true));
    await flushMicrotasks(20);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await flushMicrotasks(20);
    expect(stopped).toBe(false);
    expect(errors).toEqual([]);
    for (let i = 0; i < 500 && !stopped; i++) {
      await clock.advance(10_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await stopping;
    expect(requests).toBe(2);
    expect(errors).toEqual([`Webhook ${url} did not take an alert notice after 2 attempts (last: HTTP 503). Check that the receiver is up and reachable from this process, or raise the webhook's retries, backoffMs or timeoutMs.`]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('docs/monitoring.md', () => {
  it('summary waitMs runs from when the job became due (the later of its creation and its runAt) to its start', async () => {
    const clock = new ManualClock(M0);
    const storage = new MemoryJobStorage({ clock });
    const producer = plain(storage, clock, { worker: { enabled: false } });
    producer.register('w', () => 1);
    await producer.queue.enqueue('w', { n: 1 }, { delay: 60_000 }); // due at M0 + 60 s
    await producer.queue.enqueue('w', { n: 2 }); // due at M0
    await clock.advance(62_000);
    const worker = plain(storage, clock, { worker: { pollIntervalMs: 50 }, monitoring: { flushIntervalMs: 1000 } });
    worker.register('w', () => 1);
    await worker.start(); // both start now, at M0 + 62 s
    await runUntil(async () => (await worker.queue.counts()).completed === 2);
    await clock.advance(1000);
    await runUntil(async () => (await worker.metrics.summary({ task: 'w' })).waitMs?.count === 2);
    const { waitMs } = await worker.metrics.summary({ task: 'w' });
    // Two waits: p50 reads the shorter, p99 the longer, each within one histogram slot (19 %).
    expect(waitMs!.count).toBe(2);
    expect(Math.abs(waitMs!.p50 / 2000 - 1)).toBeLessThan(0.19); // 2 s after its runAt, not 62 s after its creation
    expect(Math.abs(waitMs!.p99 / 62_000 - 1)).toBeLessThan(0.19);
  });

  it('uno_queue_jobs{state="cancelled"} counts the cancelled jobs that uno_jobs_processed_total leaves out', async () => {
    const clock = new ManualClock(M0);
    const storage = new MemoryJobStorage({ clock });
    const uno = plain(storage, clock, { worker: { enabled: false } });
    uno.register('t', () => 1, { queue: 'q' });
    const registry = new Registry();
    new UnoJobsMetrics(uno, { registry }).attach();
    const [a, b] = await uno.queue.enqueueMany([{ task: 't', payload: 1 }, { task: 't', payload: 2 }, { task: 't', payload: 3 }]);
    await uno.queue.cancel(a!.id);
    await uno.queue.cancel(b!.id);
    type Series = MetricValue<string> & { metricName?: string };
    const values = async (name: string) => ((await registry.getSingleMetric(name)!.get()) as MetricObjectWithValues<Series>).values;
    const gauge = Object.fromEntries((await values(METRIC_NAMES.queueJobs)).filter((v) => v.labels.queue === 'q').map((v) => [v.labels.state, v.value]));
    expect(gauge).toMatchObject({ cancelled: 2, waiting: 1 });
    expect(await values(METRIC_NAMES.processed)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('docs/monitoring.md, worker health: heartbeatLagMs is also how late the last heartbeat ran', () => {
  const realHistogram = LoopDelay.histogram;
  afterEach(() => {
    LoopDelay.histogram = realHistogram;
  });

  it('a registry save held 1500 ms makes the next heartbeat run 1500 ms late: heartbeatLagMs 1500 on an entry just saved, unhealthy over maxHeartbeatLagMs (default heartbeatMs)', async () => {
    // A quiet event loop (p99 and max 5 ms): only the heartbeat lag can make the instance unhealthy.
    LoopDelay.histogram = () => ({ enable: () => true, disable: () => true, reset: () => {}, percentile: () => 5e6, get max() { return 5e6; } });
    const clock = new ManualClock(M0);
    let hold = false;
    const saves: number[] = [];
    class SlowSaves extends MemoryJobStorage {
      override async saveWorker(id: string, data: string): Promise<void> {
        if (id === 'w') saves.push(clock.now() - M0);
        if (id === 'w' && hold) {
          hold = false;
          await new Promise<void>((resolve) => clock.setTimeout(resolve, 1500));
        }
        return super.saveWorker(id, data);
      }
    }
    const storage = new SlowSaves({ clock });
    const uno = plain(storage, clock, { worker: { enabled: false, id: 'w' }, monitoring: { heartbeatMs: 1000 } });
    // A reader that allows 1500 ms: "more than", so the same entry is healthy to it.
    const lenient = plain(storage, clock, { worker: { enabled: false, id: 'lenient' }, monitoring: { heartbeatMs: 1000, maxHeartbeatLagMs: 1500 } });
    await uno.start(); // heartbeats at M0, M0 + 1 s, ...
    const health = async (reader = uno) => (await reader.metrics.workers())!.find((w) => w.id === 'w')!.health;
    await clock.advance(1000);
    hold = true;
    await clock.advance(1000); // the heartbeat of M0 + 2 s (due then, so 0 late) is saved at M0 + 3.5 s
    await clock.advance(1500);
    expect(saves).toEqual([0, 1000, 2000]);
    expect(await health()).toMatchObject({ heartbeatLagMs: 0, healthy: true });
    await clock.advance(999);
    expect(saves).toEqual([0, 1000, 2000]);
    expect(await health()).toMatchObject({ heartbeatLagMs: 0, healthy: true }); // saved 999 ms ago: not late by age
    // Due at M0 + 3 s (1 s after the previous one ran), it runs at M0 + 4.5 s, one second after that save ended.
    await clock.advance(1);
    expect(saves).toEqual([0, 1000, 2000, 4500]);
    // Saved just now (age 0): the 1500 ms is how late the heartbeat ran, not how old the entry is.
    expect(await health()).toEqual({
      loopDelayP99Ms: 5,
      loopDelayMaxMs: 5,
      heartbeatLagMs: 1500,
      healthy: false,
      problems: [
        'its registry heartbeats are 1500 ms late (threshold 1000 ms): its event loop is held or the store is slow to ' +
          'answer it. Check its CPU and the store, or raise monitoring.maxHeartbeatLagMs.',
      ],
    });
    expect((await uno.metrics.unhealthyWorkers()).map((w) => w.id)).toEqual(['w']);
    expect(await health(lenient)).toMatchObject({ heartbeatLagMs: 1500, healthy: true, problems: [] });
    // The next heartbeat runs on time: healthy again.
    await clock.advance(1000);
    expect(saves).toEqual([0, 1000, 2000, 4500, 5500]);
    expect(await health()).toMatchObject({ heartbeatLagMs: 0, healthy: true, problems: [] });
    expect(await uno.metrics.unhealthyWorkers()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('docs/scheduler.md, options: backoff, timeout, queue and concurrency on @Cron / @Interval are task options', () => {
  it('the decorators hand them to the task the method becomes, and a firing runs with them', async () => {
    @Injectable()
    class Reports {
      readonly signals: AbortSignal[] = [];
      running = 0;
      most = 0;
      release = () => {};
      private readonly held = new Promise<void>((resolve) => (this.release = resolve));
      @UnoCron('*/10 * * * * *', { name: 'reports.nightly', backoff: { type: 'fixed', delay: 7000 }, timeout: 3000, queue: 'reports', concurrency: 2, attempts: 2 })
      nightly(_payload: unknown, ctx: JobContext) {
        this.signals.push(ctx.signal);
        return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      }
      @UnoInterval(3_600_000, { name: 'reports.sweep', backoff: { type: 'exponential', delay: 100, maxDelay: 800 }, timeout: 60_000, queue: 'sweeps', concurrency: 3 })
      async sweep() {
        this.most = Math.max(this.most, ++this.running);
        await this.held;
        this.running--;
      }
    }
    const clock = new ManualClock(T0 + 100);
    const ref = await Test.createTestingModule({
      imports: [UnoJobsModule.forRoot({ clock, worker: { pollIntervalMs: 100 } })],
      providers: [Reports],
    }).compile();
    apps.push(ref);
    await ref.init();
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    expect((await uno.scheduler.list()).map((s) => [s.name, s.task, s.source])).toEqual([
      ['reports.nightly', 'reports.nightly', 'decorator'],
      ['reports.sweep', 'reports.sweep', 'decorator'],
    ]);
    expect(uno.task('reports.nightly')).toMatchObject({
      queue: 'reports', concurrency: 2, timeout: 3000, backoff: { type: 'fixed', delay: 7000 }, attempts: 2, owner: 'Reports.nightly',
    });
    expect(uno.task('reports.sweep')).toMatchObject({
      queue: 'sweeps', concurrency: 3, timeout: 60_000, backoff: { type: 'exponential', delay: 100, maxDelay: 800 }, owner: 'Reports.sweep',
    });

    const service = ref.get(Reports);
    // concurrency 3 caps the task, not its queue (10 slots by default): five firings of the interval, three at a time.
    expect(uno.workers.concurrency()).toMatchObject({ sweeps: 10 });
    const sweeps = await Promise.all([1, 2, 3, 4, 5].map(() => uno.scheduler.trigger('reports.sweep')));
    expect(sweeps.map((j) => j.queue)).toEqual(['sweeps', 'sweeps', 'sweeps', 'sweeps', 'sweeps']);
    for (let i = 0; i < 20; i++) await clock.advance(100);
    expect([service.running, service.most]).toEqual([3, 3]);
    service.release();
    for (let i = 0; i < 50 && (await uno.queue.counts('sweeps')).completed < 5; i++) await clock.advance(100);
    expect((await uno.queue.counts('sweeps')).completed).toBe(5);
    expect(service.most).toBe(3);

    // The tick of T0 + 10 s: a job of queue "reports", aborted after 3 s, retried 7 s after its failure.
    await clock.setTime(T0 + 10_000);
    for (let i = 0; i < 50 && service.signals.length === 0; i++) await clock.advance(10);
    expect(service.signals).toHaveLength(1);
    const id = `sched:reports.nightly:${T0 + 10_000}`;
    const startedAt = (await uno.queue.getJob(id))!.startedAt!.getTime();
    await clock.setTime(startedAt + 2999);
    expect(service.signals[0]!.aborted).toBe(false);
    await clock.advance(1);
    expect(service.signals[0]!.aborted).toBe(true);
    for (let i = 0; i < 50 && (await uno.queue.getJob(id))!.state === 'active'; i++) await flushMicrotasks(5);
    const retrying = (await uno.queue.getJob(id))!;
    expect(retrying).toMatchObject({ queue: 'reports', state: 'scheduled', attempt: 1 });
    expect(retrying.errors.map((e) => [e.name, e.message])).toEqual([['JobTimeoutError', 'The attempt exceeded its timeout of 3000 ms and was aborted.']]);
    expect(retrying.runAt.getTime() - Date.parse(retrying.errors[0]!.at)).toBe(7000); // nothing left running
  });
});
