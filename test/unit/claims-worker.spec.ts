/**
 * Claims of docs/worker.md, docs/reliability.md and docs/scaling.md that no other test pinned: a task at its cap is
 * left in the store when prefetch is off, the derived heartbeat rounds down, option checks not covered elsewhere,
 * self-fencing at 27 s with the default lease, the autoscaled start from worker.concurrency, and the suggested
 * instances' slots averaged over the live instances. Memory store and manual clock.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, UnoJobs, type JobContext, type JobError } from '../../lib/index.js';
import type { ClaimRequest, Lease } from '../../lib/contract/job-storage.js';
import { ManualClock } from '../../lib/contract/clock.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { LoopDelay } from '../../lib/core/loop-delay.js';
import { enginesOfTest, runUntil } from '../support/engine.js';

const T0 = Date.UTC(2026, 10, 30, 0, 0, 0);
const realHistogram = LoopDelay.histogram;
afterEach(() => {
  LoopDelay.histogram = realHistogram;
});
const { engine, gate } = enginesOfTest(T0);

describe('docs/worker.md, Concurrency: with prefetch 0 the worker never holds a job it cannot start', () => {
  it('a task at its cap is left waiting in the store: each claim caps it at its limit less its running jobs, and other tasks still run', async () => {
    // The memory store's default prefetch is 0.
    const e = engine({ worker: { concurrency: 5, criticalSlots: 0 } });
    const requests: ClaimRequest[] = [];
    const claim = e.storage.claim.bind(e.storage);
    e.storage.claim = (request: ClaimRequest) => (requests.push(request), claim(request));
    const held = gate();
    const started: string[] = [];
    e.uno.register('limited', (id: string) => (started.push(id), held.promise), { concurrency: 2 });
    e.uno.register('free', (id: string) => void started.push(id));
    await e.uno.start();
    const limited = await e.queue.enqueueMany(['l0', 'l1', 'l2', 'l3'].map((id) => ({ task: 'limited', payload: id })));
    await e.clock.advance(10);
    expect(started).toEqual(['l0', 'l1']);
    expect(e.uno.activeCounts()).toEqual({ default: 2 });
    // The two it cannot start stay in the store, unclaimed (not active in a buffer here).
    for (const job of limited.slice(2)) expect(await e.queue.getJob(job.id)).toMatchObject({ state: 'waiting', attempt: 0 });

    requests.length = 0;
    await e.queue.enqueue('free', 'f0'); // queued behind l2 and l3: the claim skips them
    await e.clock.advance(10);
    expect(started).toEqual(['l0', 'l1', 'f0']);
    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) {
      expect(r.taskLimits).toEqual({ limited: 0 }); // cap 2 less 2 running
      expect(r.limit).toBeLessThanOrEqual(5 - 2); // no more than the free slots
    }
    for (const job of limited.slice(2)) expect(await e.queue.getJob(job.id)).toMatchObject({ state: 'waiting', attempt: 0 });

    held.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 5);
    expect((await e.queue.counts()).completed).toBe(5);
    expect(started.slice(3).sort()).toEqual(['l2', 'l3']);
  });
});

describe('docs/reliability.md, setup: a lease of 2000 ms is renewed every 666 ms (leaseMs / 3 rounded down)', () => {
  it('the derived heartbeat is floor(leaseMs / 3)', async () => {
    const e = engine({ worker: { leaseMs: 2000 }, monitoring: { enabled: false } });
    const renewals: { at: number; leaseMs: number }[] = [];
    const heartbeat = e.storage.heartbeat.bind(e.storage);
    e.storage.heartbeat = (leases: readonly Lease[], leaseMs: number) => {
      renewals.push({ at: e.clock.now(), leaseMs });
      return heartbeat(leases, leaseMs);
    };
    const held = gate();
    e.uno.register('held', () => held.promise);
    await e.uno.start();
    const claimedAt = e.clock.now();
    await e.queue.enqueue('held', null);
    await flushMicrotasks();
    expect(e.uno.activeCounts()).toEqual({ default: 1 });
    await e.clock.advance(2000);
    expect(renewals).toEqual([666, 1332, 1998].map((ms) => ({ at: claimedAt + ms, leaseMs: 2000 })));
  });
});

describe('docs/worker.md, settings: option checks not pinned elsewhere', () => {
  it.each([
    ['a zero heartbeatMs', { heartbeatMs: 0 }, 'Option worker.heartbeatMs = 0 is invalid: expected a whole number of ms from 1'],
    ['a fractional heartbeatMs', { heartbeatMs: 1000.5 }, 'Option worker.heartbeatMs = 1000.5 is invalid'],
    ['a fractional pollIntervalMs', { pollIntervalMs: 2.5 }, 'Option worker.pollIntervalMs = 2.5 is invalid'],
    ['a fractional shutdownGraceMs', { shutdownGraceMs: 0.5 }, 'Option worker.shutdownGraceMs = 0.5 is invalid'],
    ['a fractional prefetchBytes', { prefetchBytes: 1.5 }, 'Option worker.prefetchBytes = 1.5 is invalid'],
  ])('the worker-wide setting when the engine is built: %s', (_what, worker, message) => {
    const build = () => new UnoJobs({ storage: new MemoryJobStorage(), worker });
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(message);
  });

  it('zero is accepted where the floor is 0: prefetch, criticalSlots and shutdownGraceMs', () => {
    expect(() => new UnoJobs({ storage: new MemoryJobStorage(), worker: { prefetch: 0, criticalSlots: 0, shutdownGraceMs: 0 } })).not.toThrow();
  });

  it.each([0, 1.5, -2])('a queue\'s own concurrency %p is checked when the worker starts, not when the engine is built', async (concurrency) => {
    const e = engine({ queues: { default: { concurrency } } }); // built without an error
    e.uno.register('t', () => undefined);
    await expect(e.uno.start()).rejects.toThrow(expect.objectContaining({
      name: ConfigurationError.name,
      message: `Concurrency ${concurrency} for queue "default" (queues.default.concurrency) is invalid: pass a whole number >= 1.`,
    }));
  });

  it.each([0, 1.5, -5])('an autoscaled queue\'s own concurrency %p fails too, instead of being clamped to its minimum', async (concurrency) => {
    const e = engine({ worker: { queues: ['q'] }, queues: { q: { concurrency, autoscale: { min: 2, max: 4 } } } });
    e.uno.register('t', () => undefined, { queue: 'q' });
    await expect(e.uno.start()).rejects.toThrow(`Concurrency ${concurrency} for queue "q" (queues.q.concurrency) is invalid: pass a whole number >= 1.`);
  });

});

describe('docs/worker.md, self-fencing with the defaults', () => {
  it('a worker whose renewals fail gives its job up 27 s after the claim (leaseMs less a tenth), before the store could hand it on', async () => {
    const clock = new ManualClock(T0);
    let renewals = true;
    class NoRenewals extends MemoryJobStorage {
      override heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
        return renewals ? super.heartbeat(leases, leaseMs) : Promise.reject(new Error('network split'));
      }
    }
    const storage = new NoRenewals({ clock });
    const e = engine({ clock, storage, monitoring: { enabled: false } });
    const lost: string[] = [];
    e.uno.events.on('job:lease-lost', ({ jobId }) => lost.push(jobId));
    const aborted: { at: number; reason: Error }[] = [];
    const done = gate();
    e.uno.register('slow', (_p: unknown, ctx: JobContext) => {
      ctx.signal.addEventListener('abort', () => aborted.push({ at: clock.now(), reason: ctx.signal.reason as Error }));
      return done.promise;
    });
    await e.uno.start();
    const claimedAt = clock.now();
    const job = await e.queue.enqueue('slow', null);
    await flushMicrotasks();
    expect(e.uno.activeCounts()).toEqual({ default: 1 });
    renewals = false;
    await clock.advance(26_999);
    expect(aborted).toEqual([]);
    await clock.advance(1);
    expect(aborted.map((a) => [a.at - claimedAt, a.reason.name])).toEqual([[27_000, 'LeaseLostError']]);
    expect(lost).toEqual([job.id]);
    done.resolve();
    await flushMicrotasks(5);
    // No outcome written: the job is still active in the store, with its lease ending at 30 s.
    const stored = (await storage.get(job.id))!;
    expect(stored).toMatchObject({ state: 'active', errors: [], result: null });
    expect(stored.leaseExpiresAt!.getTime() - claimedAt).toBe(30_000);
  });
});

describe('docs/scaling.md', () => {
  it('an idle autoscaled queue halves after downAfter idle decisions in a row, 3 by default', async () => {
    // An event loop that is never saturated (p99 5 ms), so only idleness moves the concurrency.
    LoopDelay.histogram = () => ({ enable: () => true, disable: () => true, reset: () => {}, percentile: () => 5e6, get max() { return 5e6; } });
    const e = engine({ worker: { concurrency: 8, autoscale: { min: 1, max: 8, intervalMs: 1000 } } });
    const changes: { at: number; to: number; reason: string }[] = [];
    e.uno.events.on('worker:concurrency', ({ to, reason }) => changes.push({ at: e.clock.now(), to, reason }));
    e.uno.register('t', () => null, { queue: 'q' });
    await e.uno.start();
    const from = e.clock.now();
    await e.clock.advance(2999);
    expect(changes).toEqual([]); // two idle decisions: held
    await e.clock.advance(1);
    await e.clock.advance(6000);
    expect(changes.map((c) => [c.at - from, c.to, c.reason])).toEqual([[3000, 4, 'idle'], [6000, 2, 'idle'], [9000, 1, 'idle']]);
  });

  it('an autoscaled queue without its own concurrency starts at worker.concurrency, clamped to the bounds', async () => {
    const within = engine({ worker: { queues: ['a', 'b'], concurrency: 3, autoscale: { min: 2, max: 4 } }, queues: { b: { concurrency: 1 } } });
    within.uno.register('t', () => null, { queue: 'a' });
    await within.uno.start();
    expect(within.uno.workers.concurrency()).toEqual({ a: 3, b: 2 });
    const above = engine({ worker: { queues: ['a'], concurrency: 10, autoscale: { min: 2, max: 4 } } });
    above.uno.register('t', () => null, { queue: 'a' });
    await above.uno.start();
    expect(above.uno.workers.concurrency()).toEqual({ a: 4 });
  });

  it('suggestedInstances: one instance\'s capacity is the slots averaged over the live instances of the queue, over the mean run time', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const monitoring = { heartbeatMs: 1000, flushIntervalMs: 1000 };
    const small = engine({ clock, storage, worker: { id: 'small', concurrency: 1 }, monitoring });
    const large = engine({ clock, storage, worker: { id: 'large', concurrency: 3 }, monitoring });
    for (const { uno } of [small, large]) {
      uno.register('sec', () => new Promise<void>((resolve) => clock.setTimeout(resolve, 1000)), { queue: 'q' });
      await uno.start();
    }
    await small.queue.enqueueMany(Array.from({ length: 8 }, () => ({ task: 'sec', payload: {} })));
    await runUntil(async () => {
      await clock.advance(500);
      return (await storage.counts()).completed === 8;
    });
    expect((await storage.counts()).completed).toBe(8);
    await clock.advance(2000); // figures flushed, registry heartbeats written
    const s = await small.uno.metrics.suggestedInstances('q');
    expect(s.live).toBe(2);
    // (1 + 3) slots / 2 live instances = 2 slots each, over a mean run time of 1 s.
    expect(s.capacityPerInstance).toBe(2);
    expect(await large.uno.metrics.suggestedInstances('q')).toEqual(s);
  });
});

describe('docs/scaling.md, suggested instances: the 5-minute enqueue rate and the mean run time of the last 15 minutes', () => {
  const MIN = 60_000;
  /** The figures' rounding (4 decimals). */
  const r = (x: number) => Math.round(x * 10_000) / 10_000;

  it('arrivals are the enqueue rate of the current minute bucket and the four before it: an enqueue leaves it once its minute is five buckets old', async () => {
    const e = engine({ worker: { enabled: false }, monitoring: { flushIntervalMs: 1000 } });
    e.uno.register('t', () => null, { queue: 'q' });
    await e.uno.start();
    // Due in a day: scheduled, not waiting, so the backlog adds nothing to the demand.
    const enqueue = (n: number) => e.queue.enqueueMany(Array.from({ length: n }, () => ({ task: 't', payload: {}, options: { delay: 24 * 60 * MIN } })));
    await enqueue(3); // T0: the first instant of the minute bucket T0
    await e.clock.setTime(T0 + MIN - 1);
    await enqueue(3); // its last instant
    await e.clock.setTime(T0 + MIN);
    await enqueue(6); // the bucket T0 + 1 min
    const read = async (at: number) => {
      await e.clock.setTime(at);
      const [summary, s] = [await e.uno.metrics.summary({ queue: 'q' }), await e.uno.metrics.suggestedInstances('q')];
      expect(summary.counts!.waiting).toBe(0);
      return [summary.totals['5m'].enqueued, s.demandPerSecond];
    };
    expect(await read(T0 + 4 * MIN)).toEqual([12, r(12 / 240)]); // window T0 .. now: 240 s
    expect(await read(T0 + 5 * MIN - 1)).toEqual([12, r(12 / 299.999)]); // the first three, 5 min less 1 ms old: in
    // The window starts at T0 + 1 min: the whole bucket T0 left it (the first three 5 min old, the next three 4 min).
    expect(await read(T0 + 5 * MIN)).toEqual([6, r(6 / 240)]);
    expect(await read(T0 + 6 * MIN - 1)).toEqual([6, r(6 / 299.999)]);
    expect(await read(T0 + 6 * MIN)).toEqual([0, 0]);
  });

  it('capacity uses the mean run time of the current minute bucket and the fourteen before it: a run leaves it once its minute is fifteen buckets old', async () => {
    const e = engine({ worker: { concurrency: 1, pollIntervalMs: 10_000 }, monitoring: { flushIntervalMs: 1000 } });
    e.uno.register('sleep', (ms: number) => new Promise<void>((resolve) => e.clock.setTimeout(resolve, ms)), { queue: 'q' });
    await e.uno.start();
    await e.queue.enqueue('sleep', 10_000); // runs T0 .. T0 + 10 s: minute bucket T0
    await e.clock.setTime(T0 + MIN);
    await e.queue.enqueue('sleep', 2000); // runs T0 + 1 min .. + 2 s: bucket T0 + 1 min
    await e.clock.advance(5000);
    expect((await e.queue.counts('q')).completed).toBe(2);
    const read = async (at: number) => {
      await e.clock.setTime(at);
      const [summary, s] = [await e.uno.metrics.summary({ queue: 'q' }), await e.uno.metrics.suggestedInstances('q')];
      expect(s.live).toBe(1);
      const p = summary.processingMs;
      return [p && [p.count, p.mean], s.capacityPerInstance];
    };
    // One slot over the mean run time.
    expect(await read(T0 + 14 * MIN)).toEqual([[2, 6000], r(1000 / 6000)]);
    expect(await read(T0 + 15 * MIN - 1)).toEqual([[2, 6000], r(1000 / 6000)]); // the 10 s run, 14 min 50 s old: in
    expect(await read(T0 + 15 * MIN)).toEqual([[1, 2000], r(1000 / 2000)]); // its bucket T0 left the window
    expect(await read(T0 + 16 * MIN - 1)).toEqual([[1, 2000], r(1000 / 2000)]);
    expect(await read(T0 + 16 * MIN)).toEqual([null, null]); // no run left: capacity unknown
  });
});

describe('docs/worker.md, maxStalls: the message of a job given up for stalling', () => {
  it('JobStalledError says the handler probably crashes the process (out of memory, a native crash, process.exit) or blocks the event loop past the lease', async () => {
    const e = engine({ worker: { pollIntervalMs: 100 }, monitoring: { enabled: false } });
    const ran: string[] = [];
    e.uno.register('poison', () => void ran.push('poison'));
    e.uno.register('strict', () => void ran.push('strict'), { maxStalls: 0 });
    /** A job whose worker died `stalls` times while running it: claimed as started, lease expired, put back. */
    const stalled = async (task: string, stalls: number) => {
      const job = await e.queue.enqueue(task, null);
      for (let i = 0; i < stalls; i++) {
        await e.storage.claim({ queue: 'default', limit: 1, leaseMs: 100, workerId: `dead-${task}-${i}`, startNow: 1, taskLimits: { poison: task === 'poison' ? 1 : 0, strict: task === 'strict' ? 1 : 0 } });
        await e.clock.advance(200);
        expect(await e.storage.recoverExpired()).toEqual({ recovered: 1, stalled: 1 });
      }
      return job;
    };
    const poison = await stalled('poison', 2); // default maxStalls 1
    const strict = await stalled('strict', 1); // maxStalls 0
    const failed: JobError[] = [];
    e.uno.events.on('job:failed', ({ error }) => void failed.push(error));
    await e.uno.start();
    await runUntil(async () => (await e.queue.counts()).failed === 2);
    const message = (id: string, stalls: string, maxStalls: number) =>
      `Job "${id}" was given up: its worker died ${stalls} while running it (maxStalls ${maxStalls}). Its handler probably ` +
      'crashes the process (out of memory, a native crash, process.exit) or blocks the event loop past the lease. Fix the ' +
      'handler, or raise maxStalls / worker.leaseMs, then retry the job.';
    expect(ran).toEqual([]);
    expect(failed.map((f) => [f.name, f.message]).sort()).toEqual([
      ['JobStalledError', message(poison.id, '2 times', 1)],
      ['JobStalledError', message(strict.id, '1 time', 0)],
    ].sort());
    // Stored after one record per stall: the job's last error.
    for (const [job, deaths, stalls, maxStalls] of [[poison, 2, '2 times', 1], [strict, 1, '1 time', 0]] as const) {
      const stored = (await e.queue.getJob(job.id))!;
      expect(stored.state).toBe('failed');
      expect(stored.errors).toHaveLength(deaths + 1);
      expect(stored.errors.at(-1)).toMatchObject({ name: 'JobStalledError', message: message(job.id, stalls, maxStalls) });
    }
  });
});
