import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, MemoryJobStorage, type JobCounts } from '../../lib/index.js';
import { checkHealth } from '../../lib/terminus.js';
import { ManualClock, flushMicrotasks } from '../../lib/testing/index.js';
import { LoopDelay } from '../../lib/core/loop-delay.js';
import { createEngine } from '../support/engine.js';

/** A memory store whose `counts()` answers after `delayMs` on the clock, never (`null`), or fails. */
class SlowStore extends MemoryJobStorage {
  delayMs: number | null = 0;
  failure: Error | null = null;
  calls = 0;
  constructor(private readonly manual: ManualClock) {
    super({ clock: manual });
  }
  override async counts(filter?: { queue?: string }): Promise<JobCounts> {
    this.calls++;
    if (this.failure) throw this.failure;
    const counts = await super.counts(filter);
    if (this.delayMs === 0) return counts;
    return new Promise((resolve) => {
      if (this.delayMs !== null) this.manual.setTimeout(() => resolve(counts), this.delayMs);
    });
  }
}

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

function slowEngine(options: Parameters<typeof createEngine>[0] = {}) {
  const clock = new ManualClock();
  const store = new SlowStore(clock);
  env = createEngine({ ...options, clock, storage: store });
  return { ...env, store };
}

/** Settle `promise` while the test moves the clock; `undefined` while it is still pending. */
function track<T>(promise: Promise<T>): { value: T | undefined } {
  const box: { value: T | undefined } = { value: undefined };
  void promise.then((v) => (box.value = v));
  return box;
}

describe('checkHealth', () => {
  it('is healthy when the store answers and the worker runs; reports the round trip on the engine clock and the counts', async () => {
    const e = slowEngine();
    e.uno.register('t', () => 1, { queue: 'q' });
    await e.uno.start();
    await e.queue.enqueue('t', null, { delay: 60_000 });
    e.store.delayMs = 40;
    const report = track(checkHealth(e.uno));
    await e.clock.advance(39);
    expect(report.value).toBeUndefined();
    await e.clock.advance(1);
    expect(report.value).toEqual({
      healthy: true,
      failed: [],
      problems: [],
      responseTimeMs: 40,
      counts: { 'waiting-children': 0, waiting: 0, scheduled: 1, active: 0, completed: 0, failed: 0, cancelled: 0 },
      worker: { enabled: true, running: true },
    });
  });

  it('a store that never answers reports down once timeoutMs has passed, instead of hanging the probe', async () => {
    const e = slowEngine();
    e.uno.register('t', () => 1);
    await e.uno.start();
    e.store.delayMs = null;
    const report = track(checkHealth(e.uno, { timeoutMs: 2000 }));
    await e.clock.advance(1999);
    expect(report.value).toBeUndefined();
    await e.clock.advance(1);
    expect(report.value).toMatchObject({ healthy: false, failed: ['store'], responseTimeMs: null, counts: null });
    expect(report.value!.problems).toEqual([
      'store: the job store did not answer counts() within 2000 ms. Check that the database or Redis server is up and reachable ' +
        "from this process (network, credentials, connection pool), or raise the health check's timeoutMs if it is only slow.",
    ]);
    // The default timeout is 3 s.
    const again = track(checkHealth(e.uno));
    await e.clock.advance(2999);
    expect(again.value).toBeUndefined();
    await e.clock.advance(1);
    expect(again.value!.failed).toEqual(['store']);
  });

  it('a store that fails names its error and what to check', async () => {
    const e = slowEngine();
    e.uno.register('t', () => 1);
    await e.uno.start();
    e.store.failure = new Error('connect ECONNREFUSED\n127.0.0.1:1');
    const report = await checkHealth(e.uno);
    expect(report.failed).toEqual(['store']);
    expect(report.problems[0]).toBe(
      'store: the job store failed counts(): Error: connect ECONNREFUSED 127.0.0.1:1. Check that the database or Redis server ' +
        "is up and reachable from this process, and the store's connection options.",
    );
  });

  it('reports a worker that is not running yet or any more, and skips the check on a producer-only instance', async () => {
    const e = slowEngine();
    e.uno.register('t', () => 1);
    await e.uno.init();
    const before = await checkHealth(e.uno);
    expect(before).toMatchObject({ healthy: false, failed: ['worker'], worker: { enabled: true, running: false } });
    expect(before.problems[0]).toMatch(/^worker: this instance's worker is not started yet, so it runs no jobs\. Check the application's startup logs/);
    await e.uno.start();
    expect((await checkHealth(e.uno)).healthy).toBe(true);
    await e.uno.stop(0);
    const after = await checkHealth(e.uno);
    expect(after.problems[0]).toMatch(/^worker: this instance's worker is stopping or stopped/);

    const producer = createEngine({ worker: { enabled: false } });
    producer.uno.register('t', () => 1);
    await producer.uno.start();
    expect(await checkHealth(producer.uno)).toMatchObject({ healthy: true, worker: { enabled: false, running: false } });
    await producer.uno.stop(0);
  });

  it('backlog thresholds: the total over every queue, or each named queue with one counts() per queue', async () => {
    const e = slowEngine({ worker: { enabled: false } });
    e.uno.register('a', () => 1, { queue: 'emails' });
    e.uno.register('b', () => 1, { queue: 'reports' });
    await e.uno.start();
    await e.queue.enqueueMany([...Array.from({ length: 3 }, () => ({ task: 'a', payload: null })), { task: 'b', payload: null }]);

    expect((await checkHealth(e.uno, { maxWaiting: 4 })).healthy).toBe(true);
    const total = await checkHealth(e.uno, { maxWaiting: 3 });
    expect(total.failed).toEqual(['backlog']);
    expect(total.problems).toEqual([
      'backlog: 4 jobs are waiting over all queues, above the threshold of 3. Add workers or concurrency, look for a slow or stuck task, or raise maxWaiting.',
    ]);

    e.store.calls = 0;
    const perQueue = await checkHealth(e.uno, { maxWaiting: { emails: 2, reports: 1 } });
    expect(e.store.calls).toBe(3);
    expect(perQueue).toMatchObject({ healthy: false, failed: ['backlog'], waitingByQueue: { emails: 3, reports: 1 } });
    expect(perQueue.problems[0]).toMatch(/^backlog: 3 jobs are waiting in queue "emails", above the threshold of 2\./);
    expect(perQueue.problems[0]).not.toMatch(/reports/);
    expect((await checkHealth(e.uno, { maxWaiting: { emails: 3 } })).healthy).toBe(true);
  });

  it('failed-job threshold counts the failed jobs the store keeps; several failed checks are all reported, in order', async () => {
    const e = slowEngine();
    e.uno.register('bad', () => {
      throw new Error('boom');
    });
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 3 }, () => ({ task: 'bad', payload: null })));
    for (let i = 0; i < 50 && (await e.queue.counts()).failed < 3; i++) await flushMicrotasks();
    expect((await checkHealth(e.uno, { maxFailed: 3 })).healthy).toBe(true);
    await e.uno.stop(0);
    // A producer on the same store leaves one job waiting: the stopped worker will not take it.
    const producer = createEngine({ storage: e.store, clock: e.clock, worker: { enabled: false } });
    producer.uno.register('bad', () => 1);
    await producer.queue.enqueue('bad', null);
    const report = await checkHealth(e.uno, { maxFailed: 2, maxWaiting: 0 });
    expect(report.failed).toEqual(['worker', 'backlog', 'failed']);
    expect(report.problems[2]).toBe(
      "failed: 3 failed jobs are kept in the store, above the threshold of 2. Inspect them (jobs.list({ state: 'failed' })), " +
        'fix the cause and retry or remove them, or raise maxFailed.',
    );
  });

  it('oldest-wait threshold: the longest-waiting job of each known or named queue, aged on the clock', async () => {
    const e = slowEngine({ worker: { enabled: false } });
    e.uno.register('later', () => 1, { queue: 'slow' });
    await e.uno.start();
    await e.queue.enqueue('later', null);
    await e.clock.advance(4000);
    const ok = await checkHealth(e.uno, { maxOldestWaitMs: 4000 });
    expect(ok.healthy).toBe(true);
    expect(ok.oldestWaitMs).toEqual({ slow: 4000 });
    await e.clock.advance(1);
    const down = await checkHealth(e.uno, { maxOldestWaitMs: { slow: 4000, other: 0 } });
    expect(down.failed).toEqual(['oldest']);
    expect(down.oldestWaitMs).toEqual({ slow: 4001, other: null });
    expect(down.problems[0]).toMatch(/^oldest: the longest-waiting job of queue "slow" has waited 4001 ms, above the threshold of 4000 ms\./);
  });

  it('failure-rate threshold: read from the stored figures over a window, only past a minimum volume', async () => {
    const e = slowEngine({ monitoring: { flushIntervalMs: 100 } });
    e.uno.register('flaky', (payload) => {
      if ((payload as { fail: boolean }).fail) throw new Error('nope');
      return 1;
    });
    await e.uno.start();
    const run = async (fails: number, passes: number) => {
      await e.queue.enqueueMany([...Array.from({ length: fails }, () => ({ task: 'flaky', payload: { fail: true } })), ...Array.from({ length: passes }, () => ({ task: 'flaky', payload: { fail: false } }))]);
      const target = (await e.queue.counts()).completed + (await e.queue.counts()).failed + fails + passes;
      for (let i = 0; i < 200 && (await e.queue.counts()).completed + (await e.queue.counts()).failed < target; i++) await e.clock.advance(10);
      await e.clock.advance(200);
      for (let i = 0; i < 50; i++) await flushMicrotasks();
    };
    await run(3, 1);
    // 75% failed, but 4 finished jobs are below minFinished (20 by default).
    const quiet = await checkHealth(e.uno, { maxFailureRate: { rate: 0.5 } });
    expect(quiet.healthy).toBe(true);
    expect(quiet.failureRate).toBe(0.75);
    await run(7, 9);
    const down = await checkHealth(e.uno, { maxFailureRate: { rate: 0.4, window: '15m' } });
    expect(down.failed).toEqual(['failure-rate']);
    expect(down.problems[0]).toMatch(/^failure-rate: 50\.0% of the jobs finished in the last 15m failed \(10 of 20\), above the threshold of 40\.0%\./);
    expect((await checkHealth(e.uno, { maxFailureRate: { rate: 0.5 } })).healthy).toBe(true);
    // The default window is 5m: these failures still count 2 minutes on, and no longer 7 minutes on (15m still holds them).
    const failedWithin = async (window?: '15m') => (await checkHealth(e.uno, { maxFailureRate: { rate: 0.4, ...(window ? { window } : {}) } })).failed;
    await e.clock.advance(120_000);
    expect(await failedWithin()).toEqual(['failure-rate']);
    await e.clock.advance(300_000);
    expect(await failedWithin()).toEqual([]);
    expect(await failedWithin('15m')).toEqual(['failure-rate']);
  });

  it("live-worker check: every queue of this instance's tasks (or the named ones) has a live worker in the registry", async () => {
    const e = slowEngine({ worker: { queues: ['a'] } });
    e.uno.register('ta', () => 1, { queue: 'a' });
    e.uno.register('tb', () => 1, { queue: 'b' });
    await e.uno.start();
    const report = await checkHealth(e.uno, { requireWorkers: true });
    expect(report.failed).toEqual(['workers']);
    expect(report.liveWorkers).toEqual({ a: 1, b: 0 });
    expect(report.problems[0]).toMatch(/^workers: no live worker serves "b"/);
    expect((await checkHealth(e.uno, { requireWorkers: ['a'] })).healthy).toBe(true);
  });

  it("worker-health check: this instance's blocked loop ('self'), or any live instance's ('cluster')", async () => {
    const real = LoopDelay.histogram;
    let maxNs = 0;
    LoopDelay.histogram = () => ({ enable: () => true, disable: () => true, reset: () => {}, percentile: () => maxNs, get max() { return maxNs; } });
    try {
      const e = slowEngine({ worker: { id: 'me' }, monitoring: { heartbeatMs: 1000, maxLoopDelayMs: 500 } });
      e.uno.register('t', () => 1);
      await e.uno.start();
      await e.store.saveWorker('other', JSON.stringify({ queues: {}, startedAt: 0, health: { loopP99Ms: 900, loopMaxMs: 900, lagMs: 0 } }));
      expect((await checkHealth(e.uno, { workerHealth: 'self' })).healthy).toBe(true);
      const cluster = await checkHealth(e.uno, { workerHealth: 'cluster' });
      expect(cluster.failed).toEqual(['worker-health']);
      expect(cluster.unhealthyWorkers).toEqual(['other']);
      expect(cluster.problems[0]).toMatch(/^worker-health: instance "other": its event loop was blocked for 900 ms \(threshold 500 ms\)/);
      maxNs = 800e6;
      await e.clock.advance(1000);
      const self = await checkHealth(e.uno, { workerHealth: 'self' });
      expect(self.unhealthyWorkers).toEqual(['me']);
      expect(self.failed).toEqual(['worker-health']);
    } finally {
      LoopDelay.histogram = real;
    }
  });

  it('refuses invalid options with the option named', async () => {
    const e = slowEngine();
    await expect(checkHealth(e.uno, { timeoutMs: 0 })).rejects.toThrow(ConfigurationError);
    await expect(checkHealth(e.uno, { timeoutMs: 0 })).rejects.toThrow('Option timeoutMs = 0 is invalid: expected a whole number >= 1.');
    await expect(checkHealth(e.uno, { maxWaiting: { emails: -1 } })).rejects.toThrow('Option maxWaiting.emails = -1 is invalid');
    await expect(checkHealth(e.uno, { maxFailed: 1.5 })).rejects.toThrow('Option maxFailed = 1.5 is invalid');
    await expect(checkHealth(e.uno, { maxOldestWaitMs: -1 })).rejects.toThrow('Option maxOldestWaitMs = -1 is invalid');
    await expect(checkHealth(e.uno, { maxFailureRate: { rate: 2 } })).rejects.toThrow('Option maxFailureRate');
    await expect(checkHealth(e.uno, { maxFailureRate: { rate: 0.1, window: '2m' as '1m' } })).rejects.toThrow('Option maxFailureRate.window');
    await expect(checkHealth(e.uno, { requireWorkers: [''] })).rejects.toThrow('Option requireWorkers');
    await expect(checkHealth(e.uno, { workerHealth: 'all' as 'self' })).rejects.toThrow(`Option workerHealth = "all" is invalid: expected 'self' or 'cluster'.`);
  });
});
