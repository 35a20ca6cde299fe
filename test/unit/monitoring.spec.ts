import { hostname } from 'node:os';
import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, MemoryJobStorage, UnoJobs, defineTask } from '../../lib/index.js';
import { ManualClock, newJob } from '../../lib/testing/index.js';
import { histogramSlot, percentiles, slotUpperBound } from '../../lib/core/metric-histogram.js';
import { MonitorRecorder } from '../../lib/core/monitor-recorder.js';
import { JobEvents } from '../../lib/core/events.js';
import type { MetricPoint, MetricRetention } from '../../lib/contract/monitoring.js';
import type { JobStorage } from '../../lib/contract/job-storage.js';
import { createEngine, runUntil } from '../support/engine.js';

const engines: UnoJobs[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((uno) => uno.stop(0)));
});

/** An engine on `storage` driven by `clock`, stopped after the test. */
function engine(clock: ManualClock, storage: MemoryJobStorage, options: ConstructorParameters<typeof UnoJobs>[0] extends infer O ? Partial<O> : never = {}) {
  const uno = new UnoJobs({ storage, clock, ...options });
  engines.push(uno);
  return uno;
}

/** A handler that takes `ms` of the manual clock. */
const takes = (clock: ManualClock) => (payload: unknown) => new Promise<void>((resolve) => clock.setTimeout(resolve, (payload as { ms: number }).ms));

async function settle(clock: ManualClock, uno: UnoJobs, done: () => Promise<boolean>): Promise<void> {
  await runUntil(async () => {
    await clock.advance(50);
    return done();
  });
  expect(await done()).toBe(true);
  void uno;
}

describe('metric histogram', () => {
  it('puts each value in a slot whose bounds hold it, four slots per doubling', () => {
    for (const ms of [0, 0.5, 1, 1.01, 2, 3, 100, 999, 1000, 60_000, 3_600_000]) {
      const slot = histogramSlot(ms);
      expect(ms).toBeLessThanOrEqual(slotUpperBound(slot));
      if (slot > 0) expect(ms).toBeGreaterThan(slotUpperBound(slot - 1));
    }
    expect(histogramSlot(2) - histogramSlot(1)).toBe(4);
    // The integer fast path agrees with the logarithm everywhere (away from float rounding at the exact bounds).
    for (let ms = 1.5; ms < 2 ** 32; ms *= 1.0137) {
      if (Math.abs(Math.log2(ms) * 4 - Math.round(Math.log2(ms) * 4)) < 1e-6) continue;
      expect(histogramSlot(ms)).toBe(Math.ceil(Math.log2(ms) * 4));
    }
  });

  it('reads percentiles within one slot (19%) of the true value, from 1 ms to an hour', () => {
    for (const scale of [1, 1000, 3_600_000 / 1000]) {
      const slots = new Map<number, number>();
      for (let v = 1; v <= 1000; v++) {
        const slot = histogramSlot(v * scale);
        slots.set(slot, (slots.get(slot) ?? 0) + 1);
      }
      const p = percentiles(slots)!;
      expect(p.count).toBe(1000);
      for (const [got, truth] of [[p.p50, 500], [p.p95, 950], [p.p99, 990]] as const) {
        expect(Math.abs(got / (truth * scale) - 1)).toBeLessThan(0.19);
      }
    }
    expect(percentiles(new Map())).toBeNull();
  });
});

describe('UnoMetrics on the store (fake clock)', () => {
  it('counts, rates, failure rate, run-time and wait percentiles and error patterns of every outcome', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 10));
    const storage = new MemoryJobStorage({ clock });
    const uno = engine(clock, storage, { monitoring: { flushIntervalMs: 1000 } });
    uno.register('ok', takes(clock), { queue: 'q' });
    uno.register('bad', (payload) => {
      throw new Error(`user ${(payload as { user: number }).user} not found`);
    }, { queue: 'q', attempts: 2, backoff: { type: 'fixed', delay: 0 } });
    await uno.start();
    const ids = [
      ...(await uno.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'ok', payload: { ms: i < 10 ? 100 : 400 } })))),
      ...(await uno.queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ task: 'bad', payload: { user: 1000 + i } })))),
    ].map((j) => j.id);
    await settle(clock, uno, async () => {
      const c = await uno.queue.counts();
      return c.completed === 20 && c.failed === 5;
    });
    await clock.advance(1000);
    await runUntil(async () => ((await uno.metrics.summary()).totals['15m'].failed === 5));

    const all = await uno.metrics.summary();
    expect(all.totals['15m']).toEqual({ enqueued: 25, completed: 20, failed: 5, retried: 5, stalled: 0 });
    expect(all.totals['1m']).toEqual(all.totals['15m']);
    expect(all.failureRate['15m']).toBe(0.2);
    expect(all.counts).toMatchObject({ completed: 20, failed: 5, waiting: 0 });
    // 30 attempts: 10 failures at 0 ms, 10 runs of 100 ms, 10 of 400 ms.
    expect(all.processingMs!.count).toBe(30);
    expect(all.processingMs!.mean).toBeCloseTo(5000 / 30, 1);
    expect(all.processingMs!.p50 / 100).toBeGreaterThan(0.81);
    expect(all.processingMs!.p50 / 100).toBeLessThan(1.19);
    expect(all.processingMs!.p99 / 400).toBeGreaterThan(0.81);
    expect(all.processingMs!.p99 / 400).toBeLessThan(1.19);
    expect(all.waitMs!.count).toBe(30);
    // Rates are totals per second of the window (10 s of the current minute here, and a bit more).
    expect(all.rates['1m'].completed).toBeGreaterThan(0);
    expect(all.rates['1m'].completed).toBeLessThanOrEqual(2);

    const ok = await uno.metrics.summary({ task: 'ok' });
    expect(ok.totals['15m']).toEqual({ enqueued: 20, completed: 20, failed: 0, retried: 0, stalled: 0 });
    expect(ok.failureRate['15m']).toBe(0);
    expect(ok.counts).toMatchObject({ completed: 20, failed: 0, waiting: 0 });
    expect((await uno.metrics.summary({ task: 'bad', queue: 'q' })).counts).toMatchObject({ completed: 0, failed: 5 });
    expect((await uno.metrics.summary({ task: 'bad', queue: 'other' })).counts).toMatchObject({ failed: 0 });
    expect(await uno.metrics.taskCounts(['ok', 'bad', 'none'])).toEqual({
      ok: { 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: 20, failed: 0, cancelled: 0 },
      bad: { 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: 0, failed: 5, cancelled: 0 },
      none: { 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: 0, failed: 0, cancelled: 0 },
    });

    const patterns = (await uno.metrics.errorPatterns({ task: 'bad' }))!;
    expect(patterns).toHaveLength(1);
    expect(patterns[0]).toMatchObject({ task: 'bad', queue: 'q', name: 'Error', pattern: 'user <n> not found', count: 10 });
    expect(patterns[0]!.frame).toMatch(/monitoring\.spec\.ts/);
    expect(patterns[0]!.sampleJobIds).toHaveLength(5);
    for (const id of patterns[0]!.sampleJobIds) expect(ids.slice(20)).toContain(id);

    // Minute buckets as a series for charts.
    const series = await uno.metrics.series({ from: new Date(clock.now() - 3_600_000), to: new Date(clock.now() + 1) });
    expect(series.reduce((n, p) => n + p.completed, 0)).toBe(20);
    expect((await uno.metrics.series({ from: new Date(0), to: new Date(clock.now() + 1), resolution: 'hour' }))[0]!.enqueued).toBe(25);
  });

  it('a store that cannot count per task answers null for a task, and the queue counts still', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new MemoryJobStorage({ clock });
    (storage as JobStorage).countsByTask = async () => null;
    const uno = engine(clock, storage);
    uno.register('t', () => 1, { queue: 'q' });
    await uno.queue.enqueue('t', null);
    expect((await uno.metrics.summary({ task: 't' })).counts).toBeNull();
    expect(await uno.metrics.taskCounts(['t'])).toBeNull();
    expect((await uno.metrics.summary({ queue: 'q' })).counts).toMatchObject({ waiting: 1 });
  });

  it('windows: a job counted 10 minutes ago is in the 15-minute figures only', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new MemoryJobStorage({ clock });
    const uno = engine(clock, storage, { monitoring: { flushIntervalMs: 1000 } });
    uno.register('ok', () => 1, { queue: 'q' });
    await uno.start();
    await uno.queue.enqueue('ok', {});
    await settle(clock, uno, async () => (await uno.queue.counts()).completed === 1);
    await clock.advance(10 * 60_000);
    await uno.queue.enqueue('ok', {});
    await settle(clock, uno, async () => (await uno.queue.counts()).completed === 2);
    await clock.advance(1000);
    await runUntil(async () => (await uno.metrics.summary()).totals['1m'].completed === 1);
    const s = await uno.metrics.summary();
    expect([s.totals['1m'].completed, s.totals['5m'].completed, s.totals['15m'].completed]).toEqual([1, 1, 2]);
  });

  it('the oldest waiting job of a queue ages on the clock; stalls are counted when the job runs again', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new MemoryJobStorage({ clock });
    const producer = engine(clock, storage, { worker: { enabled: false } });
    producer.register('slow', () => 1, { queue: 'idle' });
    await producer.start();
    await producer.queue.enqueue('slow', {});
    await clock.advance(5000);
    expect((await producer.metrics.summary({ queue: 'idle' })).oldestWaitMs).toBe(5000);
    expect((await producer.metrics.summary({ queue: 'nothing-here' })).oldestWaitMs).toBeNull();

    // A worker that died while running a job: claimed, started, then its lease ran out.
    await producer.queue.enqueue('crashy', {}, {});
    const [claimed] = await storage.claim({ queue: 'default', limit: 1, leaseMs: 1000, workerId: 'dead' });
    await storage.markStarted([{ id: claimed!.job.id, token: claimed!.token }]);
    await clock.advance(2000);
    const worker = engine(clock, storage, { monitoring: { flushIntervalMs: 1000 } });
    worker.register('crashy', () => 'fine');
    await worker.start();
    await worker.runMaintenance();
    await settle(clock, worker, async () => (await storage.get(claimed!.job.id))!.state === 'completed');
    await clock.advance(1000);
    await runUntil(async () => (await worker.metrics.summary({ task: 'crashy' })).totals['15m'].stalled === 1);
    expect((await worker.metrics.summary({ task: 'crashy' })).totals['15m']).toMatchObject({ stalled: 1, completed: 1 });
  });

  it('worker registry: instances with their queues and slots, busy slots, gone after the timeout, removed later', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new MemoryJobStorage({ clock });
    const monitoring = { heartbeatMs: 1000, goneAfterMs: 3000, removeAfterMs: 60_000, flushIntervalMs: 500 };
    const a = engine(clock, storage, { worker: { id: 'a', concurrency: 3 }, monitoring });
    const b = engine(clock, storage, { worker: { id: 'b', queues: ['mail', 'other'], concurrency: 2 }, monitoring });
    const p = engine(clock, storage, { worker: { id: 'p', enabled: false }, monitoring });
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const Send = defineTask<Record<string, never>>('send', { queue: 'mail' });
    for (const uno of [a, b]) uno.register(Send, () => blocked);
    await Promise.all([a.start(), b.start(), p.start()]);
    await p.queue.enqueueMany(Array.from({ length: 4 }, () => ({ task: Send, payload: {} })));
    await settle(clock, a, async () => (await storage.counts()).active === 4);
    await clock.advance(1000);

    const workers = (await p.metrics.workers())!;
    expect(workers.map((w) => [w.id, w.alive, w.concurrency])).toEqual([['a', true, 3], ['b', true, 4], ['p', true, 0]]);
    expect(workers[1]!.queues.other).toEqual({ concurrency: 2, busy: 0 });
    expect(workers[0]!.pid).toBe(process.pid);
    expect(workers[0]!.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(workers[0]!.busy + workers[1]!.busy).toBe(4);
    expect((await p.metrics.workersOf('mail')).map((w) => w.id)).toEqual(['a', 'b']);
    const use = await p.metrics.utilisation();
    expect(use.queues.mail).toEqual({ busy: 4, slots: 5, ratio: 0.8 });
    expect(use.cluster).toEqual({ busy: 4, slots: 7, ratio: round(4 / 7) });
    expect((await p.metrics.summary({ queue: 'mail' })).utilisation).toEqual({ busy: 4, slots: 5, ratio: 0.8 });

    // b stops gracefully: it leaves the registry. A dead instance ("ghost") stops heartbeating: gone, then removed.
    release();
    await storage.saveWorker('ghost', JSON.stringify({ host: 'h', pid: 1, version: '0.0.0', queues: { mail: { concurrency: 5, busy: 5 } }, startedAt: 0 }));
    await b.stop(0);
    await clock.advance(3500);
    const later = (await a.metrics.workers())!;
    expect(later.map((w) => [w.id, w.alive])).toEqual([['a', true], ['ghost', false], ['p', true]]);
    expect((await a.metrics.utilisation()).queues.mail!.slots).toBe(3);
    await clock.advance(121_000); // pruned within a prune period (60 s here) of being 60 s old
    await a.stop(0);
    expect((await p.metrics.workers())!.map((w) => w.id)).not.toContain('ghost');
  });

  it('an instance that starts with the worker id of another live one is told so; a gone one or this process is not', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new MemoryJobStorage({ clock });
    const monitoring = { heartbeatMs: 1000, goneAfterMs: 3000 };
    const errors: string[] = [];
    const start = async (id: string) => {
      const uno = engine(clock, storage, { worker: { id }, monitoring });
      uno.events.on('worker:error', ({ error, context }) => errors.push(`${context}: ${error.name}: ${error.message}`));
      await uno.start();
      return uno;
    };
    // Another process (other pid) heartbeating as 'shared', and one that was 'old' but stopped heartbeating 4 s ago.
    const other = { host: 'node-7', pid: process.pid + 1, version: '0.1.0', queues: {}, startedAt: 0 };
    await storage.saveWorker('old', JSON.stringify(other));
    await clock.advance(4000);
    await storage.saveWorker('shared', JSON.stringify(other));
    await start('shared');
    expect(errors).toEqual([
      'joining the worker registry: ConfigurationError: Worker id "shared" is already used by a live instance (host node-7, ' +
        `pid ${process.pid + 1}, seen 0 ms ago). Each process needs a worker.id of its own: leases, recovery, the worker ` +
        'registry and the reading back of an outcome tell workers apart by it. Leave worker.id unset (the default is ' +
        '<hostname>:<pid>:<random>) or derive it from something unique per process, such as the pod name.',
    ]);
    errors.length = 0;
    await start('old'); // its entry is past goneAfterMs: a restart, not a twin
    // This process's own entry (same host and pid), as when an app stops and starts its engine again.
    await storage.saveWorker('self', JSON.stringify({ ...other, host: hostname(), pid: process.pid }));
    await start('self');
    expect(errors).toEqual([]);
  });

  it('a graceful stop during a heartbeat write waits for it, then leaves: no ghost entry saved after the removal', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new MemoryJobStorage({ clock });
    const uno = engine(clock, storage, { worker: { id: 'w' }, monitoring: { heartbeatMs: 1000, goneAfterMs: 3000 } });
    await uno.start();
    const calls: string[] = [];
    let saved!: () => void;
    const save = storage.saveWorker.bind(storage);
    storage.saveWorker = async (id: string, data: string) => {
      calls.push(`save ${id}`);
      await new Promise<void>((resolve) => (saved = resolve)); // a slow store: the write is still out when stop() comes
      return save(id, data);
    };
    const remove = storage.removeWorker.bind(storage);
    storage.removeWorker = async (id: string) => {
      calls.push(`remove ${id}`);
      return remove(id);
    };
    await clock.advance(1000); // the next heartbeat starts its write
    expect(calls).toEqual(['save w']);
    const stopped = uno.stop(0);
    await clock.advance(0);
    expect(calls).toEqual(['save w']); // the removal waits for the write
    saved();
    await stopped;
    expect(calls).toEqual(['save w', 'remove w']);
    expect(await storage.listWorkers()).toEqual([]);
  });

  it('worker health: a blocked event loop and late heartbeats mark an instance unhealthy, with the reason', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new MemoryJobStorage({ clock });
    const monitoring = { heartbeatMs: 1000, goneAfterMs: 5000, maxLoopDelayMs: 200, maxHeartbeatLagMs: 1500 };
    const a = engine(clock, storage, { worker: { id: 'a' }, monitoring });
    a.register('t', () => 1);
    await a.start();
    // A real block of the event loop, measured by perf_hooks and reported with the next heartbeat.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const until = Date.now() + 400;
    while (Date.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 30));
    await clock.advance(1000);
    const [self] = (await a.metrics.workers())!;
    expect(self!.health.loopDelayMaxMs).toBeGreaterThanOrEqual(350);
    expect(self!.health.healthy).toBe(false);
    expect(self!.health.problems[0]).toMatch(/^its event loop was blocked for \d+(\.\d+)? ms \(threshold 200 ms\)/);
    expect((await a.metrics.unhealthyWorkers()).map((w) => w.id)).toEqual(['a']);

    // An instance that stopped heartbeating on time (but is not gone yet) lags; an older document has zero delays.
    await storage.saveWorker('slow', JSON.stringify({ host: 'h', pid: 1, version: '0.0.0', queues: {}, startedAt: 0 }));
    await clock.advance(2000);
    const slow = (await a.metrics.workers())!.find((w) => w.id === 'slow')!;
    expect(slow.alive).toBe(true);
    expect(slow.health).toEqual({
      loopDelayP99Ms: 0, loopDelayMaxMs: 0, heartbeatLagMs: 1000, healthy: true, problems: [],
    });
    await clock.advance(1000);
    const later = (await a.metrics.workers())!;
    expect(later.find((w) => w.id === 'slow')!.health.problems).toEqual([expect.stringMatching(/^its registry heartbeats are 2000 ms late \(threshold 1500 ms\)/)]);
    // a's loop is free again: its later heartbeats report it healthy.
    expect(later.find((w) => w.id === 'a')!.health.healthy).toBe(true);
    expect((await a.metrics.unhealthyWorkers()).map((w) => w.id)).toEqual(['slow']);
  });

  it('refuses monitoring settings that cannot work, naming the option', () => {
    const storage = new MemoryJobStorage();
    expect(() => new UnoJobs({ storage, monitoring: { heartbeatMs: 1000, goneAfterMs: 1000 } })).toThrow(ConfigurationError);
    expect(() => new UnoJobs({ storage, monitoring: { heartbeatMs: 1000, goneAfterMs: 1000 } })).toThrow(/monitoring\.goneAfterMs/);
    expect(() => new UnoJobs({ storage, monitoring: { flushIntervalMs: 0 } })).toThrow(/monitoring\.flushIntervalMs/);
    expect(() => new UnoJobs({ storage, monitoring: { maxErrorPatternsPerTask: 0 } })).toThrow(/monitoring\.maxErrorPatternsPerTask/);
    expect(() => new UnoJobs({ storage, monitoring: { maxLoopDelayMs: -1 } })).toThrow(/monitoring\.maxLoopDelayMs/);
    expect(() => new UnoJobs({ storage, monitoring: { maxHeartbeatLagMs: 0.5 } })).toThrow(/monitoring\.maxHeartbeatLagMs/);
  });

  it('monitoring off: nothing is written to the store', async () => {
    const { uno, clock, storage } = createEngine({ monitoring: { enabled: false } });
    engines.push(uno);
    uno.register('t', () => 1);
    await uno.start();
    await uno.queue.enqueue('t', {});
    await settle(clock, uno, async () => (await uno.queue.counts()).completed === 1);
    await clock.advance(60_000);
    expect(await storage.readMetrics({ resolution: 'minute', from: 0, to: clock.now() + 1 })).toEqual([]);
    expect(await storage.listWorkers()).toEqual([]);
  });
});

describe('MonitorRecorder timers (fake clock)', () => {
  /** A memory store that counts the recorder's writes, and refuses metric writes while `down`. */
  class CountingStorage extends MemoryJobStorage {
    writes = 0;
    prunes = 0;
    down = false;
    override async addMetrics(points: readonly MetricPoint[]): Promise<void> {
      this.writes++;
      if (this.down) throw new Error('store down');
      return super.addMetrics(points);
    }
    override async pruneMetrics(before: MetricRetention): Promise<number> {
      this.prunes++;
      return super.pruneMetrics(before);
    }
  }

  function recorder(clock: ManualClock, storage: CountingStorage) {
    const events = new JobEvents();
    const errors: string[] = [];
    events.on('worker:error', ({ context }) => errors.push(context));
    const rec = new MonitorRecorder(storage, clock, events, {
      flushIntervalMs: 5000, maxPatternsPerTask: 10, patternSamples: 5, maxPendingPoints: 1000, pruneIntervalMs: 600_000,
      keep: { minuteMs: 86_400_000, hourMs: 7 * 86_400_000, patternsMs: 86_400_000, workersMs: 3_600_000 },
    });
    // As the engine's queue does: a created job is told to the recorder directly (JobTally), not as an event.
    const enqueued = async (task: string) => {
      const [inserted] = await storage.insert([newJob({ task })]);
      rec.enqueued(inserted!.job.queue, inserted!.job.task);
    };
    return { rec, enqueued, errors };
  }

  it('an idle instance does not wake every flush interval: the timer is armed by the first figure after a flush', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new CountingStorage({ clock });
    const { rec, enqueued } = recorder(clock, storage);
    rec.start();
    expect(clock.pendingTimers()).toBe(1);
    // The first run after one interval prunes; nothing is held, so nothing is written.
    await clock.advance(5000);
    expect([storage.writes, storage.prunes]).toEqual([0, 1]);
    // Idle: one timer, for the next pruning; an hour fires it 6 times, not 720.
    const fired = clock.fired;
    await clock.advance(3_600_000);
    expect(clock.fired - fired).toBe(6);
    expect([storage.writes, storage.prunes]).toEqual([0, 7]);

    // A figure arms the flush at once (the pruning timer gives way to it), written one interval later.
    await enqueued('t');
    await clock.advance(4999);
    expect(storage.writes).toBe(0);
    await clock.advance(1);
    expect(storage.writes).toBe(1);
    expect((await storage.readMetrics({ resolution: 'minute', from: 0, to: clock.now() + 1 }))!.map((p) => [p.task, p.name, p.value])).toEqual([['t', 'enqueued', 1]]);
    // Idle again: no write until the next figure.
    await clock.advance(60_000);
    expect(storage.writes).toBe(1);
    await enqueued('t');
    await enqueued('u');
    await clock.advance(5000);
    expect(storage.writes).toBe(2);
    await rec.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('a failed flush keeps its figures and flushes again every interval until written', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
    const storage = new CountingStorage({ clock });
    const { rec, enqueued, errors } = recorder(clock, storage);
    rec.start();
    storage.down = true;
    await enqueued('t');
    await clock.advance(15_000);
    expect(storage.writes).toBe(3);
    expect(errors).toEqual(['writing job metrics', 'writing job metrics', 'writing job metrics']);
    storage.down = false;
    await clock.advance(5000);
    expect(storage.writes).toBe(4);
    await clock.advance(60_000);
    expect(storage.writes).toBe(4);
    expect((await storage.readMetrics({ resolution: 'minute', from: 0, to: clock.now() + 1 }))!.map((p) => [p.task, p.name, p.value])).toEqual([['t', 'enqueued', 1]]);
    await rec.stop();
  });
});

const round = (x: number) => Math.round(x * 10_000) / 10_000;
