import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, MemoryJobStorage, UnoJobs, autoscaleStep, type JobEventMap } from '../../lib/index.js';
import { ManualClock, flushMicrotasks } from '../../lib/testing/index.js';
import { LoopDelay } from '../../lib/core/loop-delay.js';
import { deferred, runUntil } from '../support/engine.js';

const engines: { uno: UnoJobs; clock: ManualClock }[] = [];
const realHistogram = LoopDelay.histogram;
afterEach(async () => {
  // The grace period runs on the manual clock: move it until every engine has stopped.
  let stopped = false;
  const clocks = [...new Set(engines.map((e) => e.clock))];
  const stopping = Promise.all(engines.splice(0).map(({ uno }) => uno.stop(0))).then(() => (stopped = true));
  while (!stopped) await Promise.all([flushMicrotasks(5), ...clocks.map((c) => c.advance(1))]);
  await stopping;
  LoopDelay.histogram = realHistogram;
});

/** An engine on a fresh memory store and manual clock, stopped after the test; records its concurrency changes. */
function engine(options: Partial<ConstructorParameters<typeof UnoJobs>[0]> = {}) {
  const clock = new ManualClock(Date.UTC(2026, 10, 30, 0, 0, 0));
  const storage = new MemoryJobStorage({ clock });
  const uno = new UnoJobs({ storage, clock, monitoring: { heartbeatMs: 1000 }, ...options });
  engines.push({ uno, clock });
  const changes: JobEventMap['worker:concurrency'][] = [];
  uno.events.on('worker:concurrency', (change) => changes.push(change));
  return { uno, clock, storage, changes };
}

/** A loop-delay histogram that reports `p99` ms for every period. */
function loopDelayOf(p99: () => number): void {
  LoopDelay.histogram = () => ({ enable: () => true, disable: () => true, reset: () => {}, percentile: () => p99() * 1e6, get max() { return p99() * 1e6; } });
}

describe('runtime concurrency', () => {
  it('setConcurrency raises and lowers a queue without a restart; the registry shows it at the next heartbeat', async () => {
    const { uno, clock, storage, changes } = engine({ worker: { concurrency: 1 } });
    const gate = deferred();
    let started = 0;
    let running = 0;
    let peakAfterGate = 0;
    let opened = false;
    uno.register('t', async () => {
      started++;
      running++;
      if (opened) peakAfterGate = Math.max(peakAfterGate, running);
      await gate.promise;
      running--;
    }, { queue: 'q' });
    await uno.start();
    await uno.queue.enqueueMany(Array.from({ length: 6 }, () => ({ task: 't', payload: {} })));
    await runUntil(async () => started === 1);
    expect(uno.activeCounts()).toEqual({ q: 1 });

    uno.workers.setConcurrency('q', 4);
    await runUntil(async () => started === 4);
    expect(uno.activeCounts()).toEqual({ q: 4 });
    expect(uno.workers.concurrency()).toEqual({ q: 4 });
    expect(changes).toEqual([{ queue: 'q', from: 1, to: 4, reason: 'manual' }]);
    await clock.advance(1000);
    expect((await uno.metrics.workers())![0]!.queues.q).toEqual({ concurrency: 4, busy: 4 });

    // Lowered to 1: the four running finish, and the last two jobs run one at a time.
    uno.setConcurrency('q', 1);
    opened = true;
    gate.resolve();
    await runUntil(async () => started === 5);
    await runUntil(async () => (await storage.counts()).completed === 6);
    expect(started).toBe(6);
    expect(peakAfterGate).toBe(1);
  });

  it('refuses a queue it does not serve, a bad number, a stopped worker and a number outside the autoscaling bounds', async () => {
    const { uno } = engine({ worker: { queues: ['q', 'r'] }, queues: { r: { autoscale: { min: 2, max: 4 } } } });
    expect(() => uno.setConcurrency('q', 2)).toThrow(/worker is not running/);
    uno.register('t', () => 1, { queue: 'q' });
    await uno.start();
    expect(() => uno.setConcurrency('nope', 2)).toThrow(ConfigurationError);
    expect(() => uno.setConcurrency('nope', 2)).toThrow('Queue "nope" is not served by this worker, so its concurrency cannot be set here. Served queues: "q", "r".');
    expect(() => uno.setConcurrency('q', 0)).toThrow(/queue "q"/);
    expect(() => uno.setConcurrency('q', 1.5)).toThrow(ConfigurationError);
    expect(() => uno.setConcurrency('r', 5)).toThrow('Concurrency 5 for queue "r" is outside its autoscaling bounds (min 2, max 4).');
    uno.setConcurrency('r', 3);
    expect(uno.workers.concurrency()).toEqual({ q: 10, r: 3 });
    expect(uno.workers.autoscaled()).toEqual({ r: { min: 2, max: 4 } });
  });

  it('refuses autoscaling bounds that cannot work, naming the field and the queue', async () => {
    for (const [autoscale, pattern] of [
      [{ min: 0, max: 4 }, /autoscale\.min \(queue "q"\) = 0 is invalid/],
      [{ min: 3, max: 2 }, /autoscale\.max \(queue "q"\) = 2 is invalid: expected a whole number >= min \(3\)/],
      [{ min: 1, max: 2, downAfter: 0 }, /autoscale\.downAfter \(queue "q"\)/],
    ] as const) {
      const { uno } = engine({ worker: { autoscale } });
      uno.register('t', () => 1, { queue: 'q' });
      await expect(uno.start()).rejects.toThrow(pattern);
    }
    expect(() => new UnoJobs({ storage: new MemoryJobStorage(), worker: { autoscale: { min: 1, max: 2, intervalMs: 0 } } })).toThrow(/worker\.autoscale\.intervalMs/);
  });
});

describe('autoscaling (fake clock)', () => {
  /** Handlers that take 10 s of the manual clock; 60 jobs waiting; autoscaled from 1 to 8 every second. */
  async function backlog(options: { loopP99?: () => number } = {}) {
    loopDelayOf(options.loopP99 ?? (() => 5));
    const env = engine({ worker: { autoscale: { min: 1, max: 8, intervalMs: 1000 } } });
    env.uno.register('slow', () => new Promise<void>((resolve) => env.clock.setTimeout(resolve, 10_000)), { queue: 'q' });
    await env.uno.start();
    await env.uno.queue.enqueueMany(Array.from({ length: 60 }, () => ({ task: 'slow', payload: {} })));
    await runUntil(async () => env.uno.activeCounts().q === 1);
    return env;
  }

  it('rises under backlog up to max, then falls back to min once idle, with hysteresis', async () => {
    const { uno, clock, storage, changes } = await backlog();
    for (let i = 0; i < 3; i++) await clock.advance(1000);
    expect(changes.map((c) => [c.to, c.reason])).toEqual([[2, 'backlog'], [4, 'backlog'], [8, 'backlog']]);
    await runUntil(async () => uno.activeCounts().q === 8);
    await clock.advance(1000);
    expect(uno.workers.concurrency().q).toBe(8); // capped

    // Work the backlog off (10 s per job, 8 at a time), then stay idle: it halves after 3 idle decisions in a row
    // each time (the tail of the backlog, with nothing waiting and half the slots free, counts as idle too).
    changes.length = 0;
    const at: number[] = [];
    uno.events.on('worker:concurrency', () => at.push(clock.now()));
    await runUntil(async () => {
      await clock.advance(1000);
      return (await storage.counts()).completed === 60;
    });
    expect((await storage.counts()).completed).toBe(60);
    for (let i = 0; i < 15; i++) await clock.advance(1000);
    expect(changes.map((c) => [c.to, c.reason])).toEqual([[4, 'idle'], [2, 'idle'], [1, 'idle']]);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(3000);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(3000);
    expect(uno.workers.concurrency().q).toBe(1); // never below min
  });

  it('never raises while the event loop is saturated, and lowers one step at a time instead', async () => {
    let p99 = 500;
    const { uno, clock, changes } = await backlog({ loopP99: () => p99 });
    uno.setConcurrency('q', 3);
    changes.length = 0;
    for (let i = 0; i < 5; i++) await clock.advance(1000);
    expect(changes.map((c) => [c.to, c.reason])).toEqual([[2, 'loop-saturated'], [1, 'loop-saturated']]);
    // The loop is free again: the backlog raises it.
    p99 = 5;
    await clock.advance(1000);
    expect(changes.at(-1)).toEqual({ queue: 'q', from: 1, to: 2, reason: 'backlog' });
  });

  it('reads the store once per autoscaled queue and decision: one counts() of that queue, every intervalMs', async () => {
    loopDelayOf(() => 5);
    const { uno, clock, storage } = engine({ worker: { autoscale: { min: 1, max: 4, intervalMs: 1000 } } });
    const reads: string[] = [];
    const counts = storage.counts.bind(storage);
    storage.counts = (filter = {}) => (reads.push(`${clock.now() % 1_000_000}:${filter.queue ?? '*'}`), counts(filter));
    uno.register('a', () => null, { queue: 'q1' });
    uno.register('b', () => null, { queue: 'q2' });
    await uno.start();
    const t0 = clock.now() % 1_000_000;
    for (let i = 0; i < 4; i++) {
      await clock.advance(1000);
      await flushMicrotasks(10);
    }
    const expected = [1, 2, 3, 4].flatMap((k) => [`${t0 + k * 1000}:q1`, `${t0 + k * 1000}:q2`]);
    expect(reads.sort()).toEqual(expected.sort());
  });

  it('from the handler time: a backlog that is worked off within targetDrainMs keeps the concurrency', () => {
    const options = { min: 1, max: 50, maxLoopDelayMs: 100, targetDrainMs: 30_000, downAfter: 3 };
    const input = { current: 4, busy: 4, waiting: 100, loopP99Ms: 5, idleStreak: 0 };
    // 100 jobs of 100 ms need 1 slot for 10 s: no more slots.
    expect(autoscaleStep({ ...input, handlerMs: 100 }, options)).toEqual({ concurrency: 4, reason: 'hold', idleStreak: 0 });
    // 100 jobs of 3 s need 10 slots to finish within 30 s: doubled at most per decision, never above max.
    expect(autoscaleStep({ ...input, handlerMs: 3000 }, options)).toEqual({ concurrency: 8, reason: 'backlog', idleStreak: 0 });
    expect(autoscaleStep({ ...input, current: 12, busy: 12, handlerMs: 3000 }, options)).toEqual({ concurrency: 12, reason: 'hold', idleStreak: 0 });
    expect(autoscaleStep({ ...input, current: 12, busy: 12, waiting: 300, handlerMs: 3000 }, options)).toEqual({ concurrency: 24, reason: 'backlog', idleStreak: 0 });
    expect(autoscaleStep({ ...input, current: 40, busy: 40, waiting: 3000, handlerMs: 3000 }, options)).toEqual({ concurrency: 50, reason: 'backlog', idleStreak: 0 });
    // Half busy with nothing waiting is idle; more than half busy holds (the band between up and down).
    expect(autoscaleStep({ ...input, waiting: 0, busy: 2, handlerMs: 100, idleStreak: 2 }, options)).toEqual({ concurrency: 2, reason: 'idle', idleStreak: 0 });
    expect(autoscaleStep({ ...input, waiting: 0, busy: 3, handlerMs: 100, idleStreak: 2 }, options)).toEqual({ concurrency: 4, reason: 'hold', idleStreak: 0 });
  });
});

describe('suggested worker instances (fake clock)', () => {
  it('from the arrivals and backlog over what one instance runs per second; 1 with a backlog and no worker', async () => {
    const { uno, clock } = engine({ worker: { concurrency: 2 }, monitoring: { heartbeatMs: 1000, flushIntervalMs: 1000 } });
    const producer = engine({ worker: { enabled: false } });
    expect(await producer.uno.metrics.suggestedInstances('q')).toEqual({ queue: 'q', instances: 0, live: 0, demandPerSecond: 0, capacityPerInstance: null });

    const gate = deferred();
    uno.register('t', async (payload: { block?: boolean }) => {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 1000));
      if (payload.block) await gate.promise;
    }, { queue: 'q' });
    await uno.start();
    await uno.queue.enqueueMany(Array.from({ length: 10 }, () => ({ task: 't', payload: {} })));
    await runUntil(async () => {
      await clock.advance(500);
      return (await uno.queue.counts()).completed === 10;
    });
    await uno.queue.enqueueMany(Array.from({ length: 122 }, () => ({ task: 't', payload: { block: true } })));
    await clock.advance(2000); // two run, 120 wait; figures flushed
    const s = await uno.metrics.suggestedInstances('q');
    expect(s.live).toBe(1);
    expect(s.capacityPerInstance).toBe(2); // 2 slots / 1 s per job
    expect(s.demandPerSecond).toBeGreaterThan(120 / 60);
    expect(s.instances).toBe(Math.ceil(s.demandPerSecond / 2));
    expect(s.instances).toBeGreaterThanOrEqual(2);
    // Another instance on the same store, which ran nothing itself, reads the same figure.
    const other = new UnoJobs({ storage: uno.storage, clock, worker: { enabled: false } });
    expect(await other.metrics.suggestedInstances('q')).toEqual(s);
    gate.resolve();
  });
});
