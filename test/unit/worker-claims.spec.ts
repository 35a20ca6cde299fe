/**
 * Claims of docs/worker.md and docs/queue.md that no other test pinned: defaults, option checks, the lease bound,
 * the prefetch buffer's refill point, per-task caps and payload sizes with prefetch, aging against the critical
 * reserve, job:recovered, self-fencing of buffered jobs, enqueues during the shutdown grace, the prune pace, runNow
 * on a retry, payload checks, FIFO by ready time and jobId deduplication in every state.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, InvalidJobError } from '../../lib/index.js';
import type { ClaimRequest, JobStorage, Lease } from '../../lib/contract/job-storage.js';
import type { ClaimedJob } from '../../lib/contract/job.js';
import { ManualClock } from '../../lib/contract/clock.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import type { UnoJobs } from '../../lib/core/uno-jobs.js';
import type { QueueWorker } from '../../lib/core/queue-worker.js';
import { createEngine, deferred, prefetchTimer, runUntil } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
/** The prefetch sizing's timer: handlers take no time on it, claims of a `remote` store 2 ms. */
const timer = prefetchTimer();
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

/** The settings each queue worker of a started engine resolved (read from the engine's private pool). */
const queueConfigs = (uno: UnoJobs) => uno['pool']!.queues;
/** The claim loop of one queue of a started engine (private). */
const queueWorker = (uno: UnoJobs, queue = 'default'): QueueWorker => uno['pool']!['workers'].get(queue)!;

/** Make a memory store say it is shared between processes (the default prefetch is then on) and, optionally, that it sends no wake-ups. */
function lookShared(storage: JobStorage, push = true): void {
  Object.assign(storage, { capabilities: { ...storage.capabilities, distributed: true, push } });
}

/** An engine whose store takes 2 ms per claim on the sizing's timer, so the buffer grows to its cap. */
function remoteLike(options: Parameters<typeof createEngine>[0] = {}) {
  const e = (env = createEngine({ ...options, worker: { criticalSlots: 0, ...options.worker } }));
  return { ...e, requests: timer.remote(e.storage) };
}

/**
 * Register the tasks (`register`) and a quick one, start, and run 20 quick jobs so the sizing has measured claims and
 * handlers (the buffer's target is then its cap).
 */
async function warmUp(e: ReturnType<typeof createEngine>, register: () => void = () => {}) {
  e.uno.register('quick', () => undefined);
  register();
  await e.uno.start();
  await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'quick', payload: i })));
  await runUntil(async () => (await e.queue.counts()).completed === 20);
  expect((await e.queue.counts()).completed).toBe(20);
}

describe('worker defaults (docs/worker.md, settings)', () => {
  it('concurrency 10, criticalSlots 1, no aging, 64 MiB of prefetched payloads, and no prefetch on the memory store', async () => {
    const e = (env = createEngine());
    e.uno.register('t', () => undefined);
    await e.uno.start();
    expect(queueConfigs(e.uno)).toEqual([
      expect.objectContaining({ queue: 'default', concurrency: 10, criticalSlots: 1, agingMs: undefined, prefetch: 0, prefetchBytes: 64 * 1024 * 1024 }),
    ]);
  });

  it.each([[10, 500], [200, 800]])('on a shared store, concurrency %p prefetches up to %p jobs: max(500, 4 × concurrency)', async (concurrency, prefetch) => {
    const e = (env = createEngine({ worker: { concurrency } }));
    lookShared(e.storage);
    e.uno.register('t', () => undefined);
    await e.uno.start();
    expect(queueConfigs(e.uno)[0]).toMatchObject({ concurrency, prefetch });
  });

  it('a lease of 30 s, renewed every 10 s (leaseMs / 3)', async () => {
    const e = (env = createEngine({ monitoring: { enabled: false } }));
    const renewals: { at: number; leaseMs: number }[] = [];
    const heartbeat = e.storage.heartbeat.bind(e.storage);
    e.storage.heartbeat = (leases, leaseMs) => {
      renewals.push({ at: e.clock.now(), leaseMs });
      return heartbeat(leases, leaseMs);
    };
    const gate = deferred();
    e.uno.register('held', () => gate.promise);
    await e.uno.start();
    const claimedAt = e.clock.now();
    const job = await e.queue.enqueue('held', null);
    await flushMicrotasks();
    expect((await e.queue.getJob(job.id))!.leaseExpiresAt!.getTime() - claimedAt).toBe(30_000);
    await e.clock.advance(30_000);
    expect(renewals).toEqual([10_000, 20_000, 30_000].map((ms) => ({ at: claimedAt + ms, leaseMs: 30_000 })));
    gate.resolve();
  });

  it.each([[5000, true], [1000, false]])('an idle worker claims every %p ms (store with push wake-ups: %p)', async (every, push) => {
    const clock = new ManualClock();
    const storage = new MemoryJobStorage({ clock });
    lookShared(storage, push); // read as the engine is built
    const e = (env = createEngine({ clock, storage }));
    const claims: number[] = [];
    const claim = e.storage.claim.bind(e.storage);
    e.storage.claim = (request: ClaimRequest) => {
      claims.push(e.clock.now());
      return claim(request);
    };
    e.uno.register('t', () => undefined);
    await e.uno.start();
    const from = e.clock.now();
    await e.clock.advance(20_000);
    expect(claims.map((at) => at - from)).toEqual(Array.from({ length: 20_000 / every + 1 }, (_, i) => i * every));
  });

  it('housekeeping runs every second', async () => {
    const e = (env = createEngine());
    const rounds: number[] = [];
    const recover = e.storage.recoverExpired.bind(e.storage);
    e.storage.recoverExpired = (options) => {
      rounds.push(e.clock.now());
      return recover(options);
    };
    e.uno.register('t', () => undefined);
    await e.uno.start();
    const from = e.clock.now();
    await e.clock.advance(5000);
    expect(rounds.map((at) => at - from)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
  });

  it('stop() gives running handlers 10 s, then hands their jobs back', async () => {
    const e = (env = createEngine());
    e.uno.register('stuck', () => new Promise(() => {}));
    await e.uno.start();
    const job = await e.queue.enqueue('stuck', null);
    await flushMicrotasks();
    let stopped = false;
    void e.uno.stop().then(() => (stopped = true));
    await e.clock.advance(9_999);
    expect(stopped).toBe(false);
    expect((await e.queue.getJob(job.id))!.state).toBe('active');
    await e.clock.advance(1);
    await flushMicrotasks();
    expect(stopped).toBe(true);
    expect((await e.queue.getJob(job.id))!).toMatchObject({ state: 'waiting', attempt: 0 });
  });
});

describe('worker options are checked, naming the option', () => {
  it.each([
    ['a zero agingMs', { agingMs: 0 }, 'Option worker.agingMs = 0 is invalid'],
    ['a fractional agingMs', { agingMs: 1.5 }, 'Option worker.agingMs = 1.5 is invalid'],
    ['a NaN agingMs', { agingMs: NaN }, 'Option worker.agingMs = NaN is invalid'],
    ['a negative criticalSlots', { criticalSlots: -1 }, 'Option worker.criticalSlots = -1 is invalid: expected a whole number >= 0'],
    ['a fractional criticalSlots', { criticalSlots: 0.5 }, 'Option worker.criticalSlots = 0.5 is invalid'],
    ['a zero prefetchBytes', { prefetchBytes: 0 }, 'Option worker.prefetchBytes = 0 is invalid: expected a whole number of bytes >= 1'],
  ])('the worker-wide setting when the engine is built: %s', (_what, worker, message) => {
    const build = () => createEngine({ worker });
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(message);
  });

  it.each([
    ['criticalSlots', { criticalSlots: -1 }],
    ['prefetchBytes', { prefetchBytes: 0 }],
  ])('a queue\'s own %s when the worker starts, not when the engine is built', async (name, queue) => {
    const e = createEngine({ queues: { default: queue } });
    e.uno.register('t', () => undefined);
    await expect(e.uno.start()).rejects.toThrow(expect.objectContaining({ name: ConfigurationError.name, message: expect.stringContaining(`queues.default.${name}`) }));
  });
});

describe('leases held per queue: at most 2 × (concurrency + criticalSlots + prefetch)', () => {
  it.each([
    [{ concurrency: 1, criticalSlots: 0 }, 2],
    [{ concurrency: 2, criticalSlots: 1 }, 6],
  ])('with outcome writes held up, %p claims no more than %p jobs (prefetch 0)', async (worker, bound) => {
    const e = (env = createEngine({ worker }));
    const writes = deferred();
    const complete = e.storage.complete.bind(e.storage);
    e.storage.complete = async (outcomes) => {
      await writes.promise;
      return complete(outcomes);
    };
    let ran = 0;
    e.uno.register('t', () => void ran++);
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 't', payload: i })));
    await e.clock.advance(10_000);
    expect(ran).toBe(bound);
    expect((await e.queue.counts()).active).toBe(bound);
    writes.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 20);
    expect((await e.queue.counts()).completed).toBe(20);
  });

  it('with prefetch on, counting the jobs claimed ahead', async () => {
    const e = remoteLike({ worker: { concurrency: 1, prefetch: 3 } });
    await warmUp(e);
    const writes = deferred();
    const complete = e.storage.complete.bind(e.storage);
    e.storage.complete = async (outcomes) => {
      await writes.promise;
      return complete(outcomes);
    };
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'quick', payload: i })));
    await e.clock.advance(10_000);
    expect((await e.queue.counts()).active).toBe(2 * (1 + 0 + 3));
    writes.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 40);
    expect((await e.queue.counts()).completed).toBe(40);
  });
});

describe('the prefetch buffer', () => {
  it('is refilled when about half of it is left: before it is empty, not after every job', async () => {
    const e = remoteLike({ worker: { concurrency: 1, prefetch: 20 } });
    await warmUp(e);
    const worker = queueWorker(e.uno);
    const seen: { size: number; half: number; free: number; priorities: unknown }[] = [];
    const claim = e.storage.claim.bind(e.storage);
    e.storage.claim = (request: ClaimRequest) => {
      seen.push({ size: worker.buffer.size, half: Math.ceil(worker.buffer.target() / 2), free: 1 - worker['busy'], priorities: request.priorities });
      return claim(request);
    };
    await e.queue.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ task: 'quick', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 220);
    expect((await e.queue.counts()).completed).toBe(220);
    const refills = seen.filter((s) => s.priorities === undefined && s.size > 0);
    // Claimed again while jobs were still buffered, and only once fewer than half the buffer's target (plus the free
    // slots) were left.
    expect(refills.length).toBeGreaterThan(3);
    for (const r of refills) expect(r.size).toBeLessThan(r.free + r.half);
    expect(Math.max(...refills.map((r) => r.size))).toBeGreaterThan(1);
    // Far fewer claims than jobs.
    expect(seen.length).toBeLessThan(200 / 3);
  });

  it('respects per-task caps: a capped task never runs above its cap while jobs are claimed ahead', async () => {
    const e = remoteLike({ worker: { concurrency: 5, prefetch: 50 } });
    let limited = 0;
    let maxLimited = 0;
    let running = 0;
    let maxRunning = 0;
    const work = (capped: boolean) => async () => {
      running++;
      if (capped) limited++;
      maxRunning = Math.max(maxRunning, running);
      maxLimited = Math.max(maxLimited, limited);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      if (capped) limited--;
    };
    e.uno.register('free', work(false));
    e.uno.register('limited', work(true), { concurrency: 2 });
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ task: i % 2 ? 'free' : 'limited', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 300);
    expect((await e.queue.counts()).completed).toBe(300);
    expect(Math.max(...e.requests.map((r) => r.limit))).toBeGreaterThan(5); // jobs were claimed ahead
    expect(maxRunning).toBe(5);
    expect(maxLimited).toBe(2);
  });

  /**
   * Hold the only slot with a blocking job and leave 10 jobs whose payloads are 600 bytes as JSON to a buffer of
   * 1000 bytes, the store's reported sizes changed by `weigh`. Returns how many the buffer held.
   */
  async function bufferWithSizes(weigh: (claimed: ClaimedJob) => void) {
    const e = remoteLike({ worker: { concurrency: 1, prefetch: 20, prefetchBytes: 1000 } });
    const gate = deferred();
    await warmUp(e, () => {
      e.uno.register('block', () => gate.promise);
      e.uno.register('record', () => undefined);
    });
    const claim = e.storage.claim.bind(e.storage);
    e.storage.claim = async (request: ClaimRequest) => {
      const claimed = await claim(request);
      for (const c of claimed) if (c.job.task === 'record') weigh(c);
      return claimed;
    };
    await e.queue.enqueue('block', null);
    await runUntil(async () => (await e.queue.counts()).active === 1);
    const payload = 'x'.repeat(598);
    expect(Buffer.byteLength(JSON.stringify(payload))).toBe(600);
    await e.queue.enqueueMany(Array.from({ length: 10 }, () => ({ task: 'record', payload })));
    for (let i = 0; i < 50; i++) await flushMicrotasks(5);
    const held = (await e.queue.counts()).active - 1;
    gate.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 20 + 11);
    expect((await e.queue.counts()).completed).toBe(31);
    return held;
  }

  it('weighs a payload by the size the store reported, not by serialising it again', async () => {
    // Reported as 1 byte each: several fit in 1000 bytes, although each is 600 bytes as JSON.
    expect(await bufferWithSizes((c) => void (c.payloadBytes = 1))).toBeGreaterThan(1);
  });

  it('weighs a payload with JSON.stringify when the store leaves the size out', async () => {
    // 600 bytes each as JSON: one fits in 1000 bytes, a second does not.
    expect(await bufferWithSizes((c) => void delete c.payloadBytes)).toBe(1);
  });

  it('drops a buffered job whose lease it could not renew in time, before it starts', async () => {
    const clock = new ManualClock();
    let renewals = true;
    class NoRenewals extends MemoryJobStorage {
      override heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
        return renewals ? super.heartbeat(leases, leaseMs) : Promise.reject(new Error('network split'));
      }
    }
    const storage = new NoRenewals({ clock });
    const e = remoteLike({ clock, storage, worker: { concurrency: 1, prefetch: 20, leaseMs: 3000, heartbeatMs: 1000 }, maintenanceIntervalMs: 60_000 });
    const gate = deferred();
    const ran: number[] = [];
    await warmUp(e, () => {
      e.uno.register('block', () => gate.promise);
      e.uno.register('record', (n: number) => void ran.push(n));
    });
    const [block, ...records] = await e.queue.enqueueMany([
      { task: 'block', payload: null },
      ...[0, 1, 2].map((n) => ({ task: 'record', payload: n })),
    ]);
    await runUntil(async () => (await e.queue.counts()).active === 4);
    expect(queueWorker(e.uno).buffer.size).toBe(3);
    renewals = false;
    await clock.advance(2900); // past the self-fencing deadline (lease less a tenth), before the lease ends in the store
    expect(queueWorker(e.uno).buffer.size).toBe(0);
    gate.resolve(); // the slot frees: nothing buffered is left to start
    for (let i = 0; i < 20; i++) await flushMicrotasks(5);
    expect(ran).toEqual([]);
    for (const job of records) expect((await e.queue.getJob(job.id))!).toMatchObject({ state: 'active', startedAt: null });
    // The store gets them back when their lease expires, and they run then, once each.
    renewals = true;
    await clock.advance(200);
    await e.uno.runMaintenance();
    await runUntil(async () => (await e.queue.counts()).completed === 24);
    expect(ran.sort()).toEqual([0, 1, 2]);
    for (const job of [block!, ...records]) expect((await e.queue.getJob(job.id))!.state).toBe('completed');
  });
});

describe('aging and the critical reserve', () => {
  it('aging never lifts a job into the critical reserve slot; a critical job still takes it', async () => {
    const e = (env = createEngine({ worker: { concurrency: 1, criticalSlots: 1, agingMs: 1000 } }));
    const gate = deferred();
    const started: string[] = [];
    e.uno.register('block', () => gate.promise);
    e.uno.register('record', (id: string) => void started.push(id));
    await e.uno.start();
    await e.queue.enqueue('block', null);
    await flushMicrotasks();
    await e.queue.enqueue('record', 'high', { priority: 'high' });
    await e.clock.advance(60_000); // long past agingMs, with polls and wake-ups on the way
    expect(started).toEqual([]);
    await e.queue.enqueue('record', 'critical', { priority: 'critical' });
    await e.clock.advance(10);
    expect(started).toEqual(['critical']);
    gate.resolve();
    await e.clock.advance(10);
    expect(started).toEqual(['critical', 'high']);
  });
});

describe('job:recovered', () => {
  it('reports { count, stalled } for each housekeeping round that put jobs back', async () => {
    const e = (env = createEngine());
    const rounds: { count: number; stalled: number }[] = [];
    e.uno.events.on('job:recovered', (payload) => rounds.push(payload));
    e.uno.register('t', () => undefined, { queue: 'elsewhere' });
    await e.uno.start();
    await e.queue.enqueueMany([1, 2, 3].map((n) => ({ task: 't', payload: n })));
    // A dead worker held three jobs: one whose handler had started, two claimed ahead.
    await e.storage.claim({ queue: 'elsewhere', limit: 3, leaseMs: 5000, workerId: 'dead', startNow: 1 });
    await e.clock.advance(4000);
    expect(rounds).toEqual([]);
    await e.clock.advance(2000);
    expect(rounds).toEqual([{ count: 3, stalled: 1 }]);
    await e.clock.advance(5000);
    expect(rounds).toHaveLength(1); // rounds with nothing to recover say nothing
  });
});

describe('graceful shutdown', () => {
  it('a handler still running in the grace period may enqueue a follow-up job', async () => {
    const e = (env = createEngine());
    const gate = deferred();
    let followUp: Promise<{ id: string; state: string }> | null = null;
    e.uno.register('first', async () => {
      await gate.promise;
      followUp = e.queue.enqueue('next', { after: 'first' });
      await followUp;
    });
    e.uno.register('next', () => undefined);
    await e.uno.start();
    const first = await e.queue.enqueue('first', null);
    await flushMicrotasks();
    const stopping = e.uno.stop(5000);
    await flushMicrotasks();
    expect(e.uno.workerStatus().phase).toBe('stopping');
    gate.resolve();
    await flushMicrotasks();
    await stopping;
    const next = await followUp!;
    expect((await e.queue.getJob(next.id))!.state).toBe('waiting'); // enqueued; this worker had stopped claiming
    expect((await e.queue.getJob(first.id))!.state).toBe('completed');
  });
});

describe('prune rounds started by jobs finished here', () => {
  it('come every tenth of maxCount finished jobs, at most every 1,000', async () => {
    // maxCount 20,000: a tenth would be 2,000; the cap makes it 1,000.
    const e = (env = createEngine({ retention: { completed: { maxCount: 20_000 } } }));
    const rounds: number[] = [];
    const prune = e.storage.prune.bind(e.storage);
    e.storage.prune = (policy, limit) => {
      rounds.push(policy.completed.maxCount);
      return prune(policy, limit);
    };
    e.uno.register('quick', () => undefined);
    await e.uno.start();
    await e.clock.advance(1); // the first periodic round
    expect(rounds).toEqual([20_000]);
    rounds.length = 0;
    await e.queue.enqueueMany(Array.from({ length: 999 }, () => ({ task: 'quick', payload: null })));
    await runUntil(async () => (await e.queue.counts()).completed === 999);
    expect(rounds).toEqual([]);
    await e.queue.enqueue('quick', null);
    await runUntil(async () => rounds.length > 0);
    expect(rounds).toEqual([20_000]);
  });
});

describe('queue: runNow, payload checks, order and deduplication (docs/queue.md)', () => {
  it('runNow on a job backing off before a retry makes it due now, its attempts unchanged', async () => {
    const e = (env = createEngine());
    let calls = 0;
    e.uno.register('flaky', () => {
      if (++calls === 1) throw new Error('first try fails');
      return 'ok';
    }, { attempts: 3, backoff: { type: 'fixed', delay: 3_600_000 } });
    await e.uno.start();
    const job = await e.queue.enqueue('flaky', null);
    await e.clock.advance(10);
    expect((await e.queue.getJob(job.id))!).toMatchObject({ state: 'scheduled', attempt: 1, maxAttempts: 3 });
    const now = await e.queue.runNow(job.id);
    expect(now).toMatchObject({ state: 'waiting', attempt: 1, maxAttempts: 3 });
    await e.clock.advance(10);
    expect((await e.queue.getJob(job.id))!).toMatchObject({ state: 'completed', attempt: 2, maxAttempts: 3, result: 'ok' });
  });

  it.each([
    ['Infinity', { x: Infinity }, /Infinity is not a finite number/],
    ['-Infinity', { x: [-Infinity] }, /-Infinity is not a finite number/],
    ['a Set', { s: new Set([1]) }, /at \$\.s: a Set/],
  ])('a payload with %s is refused with its path, and nothing is written', async (_what, payload, message) => {
    const e = (env = createEngine());
    e.uno.register('t', () => null);
    await expect(e.queue.enqueue('t', payload)).rejects.toThrow(InvalidJobError);
    await expect(e.queue.enqueue('t', payload)).rejects.toThrow(message);
    expect(Object.values(await e.queue.counts()).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('first-in first-out by the time a job became ready, not by when it was created', async () => {
    const e = (env = createEngine({ worker: { concurrency: 1, criticalSlots: 0 } }));
    const gate = deferred();
    const order: string[] = [];
    e.uno.register('block', () => gate.promise);
    e.uno.register('record', (id: string) => void order.push(id));
    await e.uno.start();
    await e.queue.enqueue('block', null);
    await flushMicrotasks();
    await e.queue.enqueue('record', 'created-first-ready-at-2000', { delay: 2000 });
    await e.clock.advance(1000);
    await e.queue.enqueue('record', 'created-second-ready-at-1000');
    await e.clock.advance(1500); // the delayed job is due and waiting too
    await e.queue.enqueue('record', 'created-third-ready-at-2500');
    expect((await e.queue.counts()).waiting).toBe(3);
    gate.resolve();
    await e.clock.advance(10);
    expect(order).toEqual(['created-second-ready-at-1000', 'created-first-ready-at-2000', 'created-third-ready-at-2500']);
  });

  it('a jobId deduplicates in every state: scheduled, active, completed, failed, cancelled', async () => {
    const e = (env = createEngine());
    const gate = deferred();
    e.uno.register('ok', () => 'done');
    e.uno.register('hold', () => gate.promise);
    e.uno.register('fail', () => {
      throw new Error('no');
    });
    await e.uno.start();
    const created: boolean[] = [];
    e.uno.events.on('job:enqueued', ({ created: c }) => created.push(c));
    await e.queue.enqueue('ok', { v: 1 }, { jobId: 'scheduled', delay: 60_000 });
    await e.queue.enqueue('hold', { v: 1 }, { jobId: 'active' });
    await e.queue.enqueue('ok', { v: 1 }, { jobId: 'completed' });
    await e.queue.enqueue('fail', { v: 1 }, { jobId: 'failed' });
    await e.queue.enqueue('ok', { v: 1 }, { jobId: 'cancelled', delay: 60_000 });
    await e.queue.cancel('cancelled');
    await e.clock.advance(10);
    const before = await e.queue.counts();
    created.length = 0;
    // The job id names the state its job is in.
    for (const [id, task] of [['scheduled', 'ok'], ['active', 'hold'], ['completed', 'ok'], ['failed', 'fail'], ['cancelled', 'ok']]) {
      const again = await e.queue.enqueue(task!, { v: 2 }, { jobId: id });
      expect(again).toMatchObject({ id, state: id, payload: { v: 1 } });
    }
    expect(created).toEqual([false, false, false, false, false]);
    expect(await e.queue.counts()).toEqual(before);
    gate.resolve();
  });
});
