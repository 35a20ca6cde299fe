import { describe, it, expect, afterEach } from '@jest/globals';
import type { JobContext, Priority } from '../../lib/index.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { createEngine, deferred } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

describe('worker pool', () => {
  it('runs critical > high > normal > low, FIFO within a priority', async () => {
    env = createEngine({ worker: { concurrency: 1, criticalSlots: 0 } });
    const gate = deferred();
    const order: string[] = [];
    env.uno.register('block', () => gate.promise);
    env.uno.register('record', (p: { id: string }) => void order.push(p.id));
    await env.uno.start();
    await env.queue.enqueue('block', null);
    await flushMicrotasks();
    const plan: [string, Priority][] = [
      ['low-1', 'low'], ['normal-1', 'normal'], ['crit-1', 'critical'], ['high-1', 'high'],
      ['normal-2', 'normal'], ['low-2', 'low'], ['crit-2', 'critical'], ['high-2', 'high'],
    ];
    for (const [id, priority] of plan) await env.queue.enqueue('record', { id }, { priority });
    gate.resolve();
    await env.clock.advance(10);
    expect(order).toEqual(['crit-1', 'crit-2', 'high-1', 'high-2', 'normal-1', 'normal-2', 'low-1', 'low-2']);
  });

  it('starts a critical job at once in the reserve slot while every slot is busy, but never a normal one', async () => {
    env = createEngine({ worker: { concurrency: 2 } }); // criticalSlots defaults to 1
    const gate = deferred();
    const started: string[] = [];
    env.uno.register('slow', async (p: { id: string }) => {
      started.push(p.id);
      await gate.promise;
    });
    await env.uno.start();
    await env.queue.enqueueMany([{ task: 'slow', payload: { id: 'a' } }, { task: 'slow', payload: { id: 'b' } }]);
    await flushMicrotasks();
    await env.queue.enqueue('slow', { id: 'normal' });
    await env.queue.enqueue('slow', { id: 'crit' }, { priority: 'critical' });
    await env.queue.enqueue('slow', { id: 'crit-2' }, { priority: 'critical' });
    await flushMicrotasks();
    expect(started).toEqual(['a', 'b', 'crit']);
    expect(env.uno.activeCounts()).toEqual({ default: 3 });
    gate.resolve();
    await env.clock.advance(10);
    expect(started).toEqual(['a', 'b', 'crit', 'crit-2', 'normal']);
  });

  it('never exceeds queue or per-task concurrency', async () => {
    env = createEngine({ worker: { concurrency: 5, criticalSlots: 0 } });
    let running = 0;
    let maxRunning = 0;
    let limitedRunning = 0;
    let maxLimited = 0;
    const work = (limited: boolean) => async () => {
      running++;
      if (limited) limitedRunning++;
      maxRunning = Math.max(maxRunning, running);
      maxLimited = Math.max(maxLimited, limitedRunning);
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      if (limited) limitedRunning--;
    };
    env.uno.register('free', work(false));
    env.uno.register('limited', work(true), { concurrency: 2 });
    await env.uno.start();
    const items = Array.from({ length: 200 }, (_, i) => ({ task: i % 2 ? 'free' : 'limited', payload: i }));
    await env.queue.enqueueMany(items);
    for (let i = 0; i < 400 && (await env.queue.counts()).completed < 200; i++) await flushMicrotasks(5);
    expect((await env.queue.counts()).completed).toBe(200);
    expect(maxRunning).toBe(5);
    expect(maxLimited).toBe(2);
  });

  it('aging lets an old low job overtake newer normal ones', async () => {
    env = createEngine({ worker: { concurrency: 1, criticalSlots: 0, agingMs: 1000 } });
    const gate = deferred();
    const order: string[] = [];
    env.uno.register('block', () => gate.promise);
    env.uno.register('record', (p: { id: string }) => void order.push(p.id));
    await env.uno.start();
    await env.queue.enqueue('block', null);
    await flushMicrotasks();
    await env.queue.enqueue('record', { id: 'old-low' }, { priority: 'low' });
    await env.clock.advance(2000);
    await env.queue.enqueue('record', { id: 'new-normal' }, { priority: 'normal' });
    gate.resolve();
    await env.clock.advance(10);
    expect(order).toEqual(['old-low', 'new-normal']);
  });

  it('a delayed job runs no earlier than its time', async () => {
    env = createEngine();
    const ranAt: number[] = [];
    env.uno.register('later', () => void ranAt.push(env!.clock.now()));
    await env.uno.start();
    const start = env.clock.now();
    const job = await env.queue.enqueue('later', null, { delay: 5000 });
    expect(job.state).toBe('scheduled');
    await env.clock.advance(4999);
    expect(ranAt).toEqual([]);
    await env.clock.advance(1);
    expect(ranAt).toEqual([start + 5000]);
  });

  it('a producer-only instance (worker disabled) runs nothing', async () => {
    env = createEngine({ worker: { enabled: false } });
    let ran = 0;
    env.uno.register('t', () => void ran++);
    await env.uno.start();
    await env.queue.enqueue('t', null);
    await env.clock.advance(10_000);
    expect(ran).toBe(0);
    expect((await env.queue.counts()).waiting).toBe(1);
  });

  it('serves only the configured queues', async () => {
    env = createEngine({ worker: { queues: ['a'] } });
    const ran: string[] = [];
    env.uno.register('in-a', () => void ran.push('a'), { queue: 'a' });
    env.uno.register('in-b', () => void ran.push('b'), { queue: 'b' });
    await env.uno.start();
    await env.queue.enqueue('in-a', null);
    await env.queue.enqueue('in-b', null);
    await env.clock.advance(100);
    expect(ran).toEqual(['a']);
  });
});

describe('lease renewals', () => {
  it('an idle worker arms no renewal timer: it runs while jobs are held, and stops once none is', async () => {
    env = createEngine({ worker: { heartbeatMs: 7777, leaseMs: 30_000 }, monitoring: { enabled: false } });
    const { clock, storage } = env;
    // Renewal timers are the ones of 7777 ms (nothing else here uses that delay); renewals are heartbeat calls.
    let armed = 0;
    const setTimer = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn, ms) => {
      if (ms === 7777) armed++;
      return setTimer(fn, ms);
    };
    const renewed: number[] = [];
    const heartbeat = storage.heartbeat.bind(storage);
    storage.heartbeat = (leases, leaseMs) => {
      renewed.push(leases.length);
      return heartbeat(leases, leaseMs);
    };
    const gate = deferred();
    env.uno.register('held', () => gate.promise);
    await env.uno.start();
    // Idle for an hour: the first renewal round finds nothing held and arms no other.
    await clock.advance(3_600_000);
    expect(armed).toBe(1);
    expect(renewed).toEqual([]);
    // A claimed job arms the renewals again; they run every 7777 ms while it runs...
    await env.queue.enqueue('held', null);
    await clock.advance(10);
    expect(armed).toBe(2);
    await clock.advance(3 * 7777);
    expect(renewed).toEqual([1, 1, 1]);
    // ... and stop with the first round after it ended.
    gate.resolve();
    await clock.advance(10);
    expect((await env.queue.counts()).completed).toBe(1);
    const after = armed;
    await clock.advance(3_600_000);
    expect(armed - after).toBe(0);
    expect(renewed).toEqual([1, 1, 1]);
  });
});

describe('completed jobs kept or removed', () => {
  it('removeOnComplete deletes each job as it completes; a local waitForResult still gets the result', async () => {
    env = createEngine();
    env.uno.register('lean', (p: { n: number }) => p.n * 2, { removeOnComplete: true });
    env.uno.register('kept', (p: { n: number }) => p.n * 3);
    env.uno.register('failing', () => {
      throw new Error('no');
    }, { removeOnComplete: true });
    await env.uno.start();
    const lean = await env.queue.enqueue('lean', { n: 21 });
    const kept = await env.queue.enqueue('kept', { n: 1 });
    const failing = await env.queue.enqueue('failing', null);
    const result = env.queue.waitForResult(lean.id);
    await env.clock.advance(10);
    await expect(result).resolves.toBe(42);
    expect(await env.queue.getJob(lean.id)).toBeNull();
    // Too late to wait for it now: the error says why the job is gone.
    await expect(env.queue.waitForResult(lean.id)).rejects.toThrow(/removeOnComplete has its completed jobs removed at once/);
    expect((await env.queue.getJob(kept.id))!.state).toBe('completed');
    expect((await env.queue.getJob(failing.id))!.state).toBe('failed');
    // The id of the removed job is free again.
    expect((await env.queue.enqueue('lean', { n: 1 }, { jobId: lean.id })).state).toBe('waiting');
  });

  it('retention that keeps no completed jobs removes them at completion, not at the next prune', async () => {
    env = createEngine({ retention: { completed: { maxCount: 0 } }, maintenanceIntervalMs: 60_000 });
    env.uno.register('lean', () => 'x');
    env.uno.register('opted-out', () => 'y', { removeOnComplete: false });
    await env.uno.start();
    await env.clock.advance(1);
    const lean = await env.queue.enqueue('lean', null);
    const optedOut = await env.queue.enqueue('opted-out', null);
    await env.clock.advance(10);
    expect(await env.queue.getJob(lean.id)).toBeNull();
    // A task that opts out is kept as completed until retention prunes it.
    expect((await env.queue.getJob(optedOut.id))!.result).toBe('y');
    await env.uno.runMaintenance();
    expect(await env.queue.getJob(optedOut.id)).toBeNull();
  });

  it('keeps the jobs a schedule fires, so their tick id still stops a second firing', async () => {
    env = createEngine({ scheduler: { enabled: true } });
    env.uno.register('beat', () => 'ok', { removeOnComplete: true });
    await env.uno.start();
    await env.uno.scheduler.upsert('beat', { every: 1000, task: 'beat' });
    await env.clock.advance(2500);
    const page = await env.queue.list({ task: 'beat' });
    expect(page.jobs.length).toBeGreaterThanOrEqual(2);
    expect(page.jobs.every((j) => j.state === 'completed' && j.id.startsWith('sched:beat:'))).toBe(true);
  });

  it('refuses a removeOnComplete that is not a boolean, naming the task', () => {
    env = createEngine();
    expect(() => env!.uno.register('t', () => null, { removeOnComplete: 'yes' as unknown as boolean })).toThrow(
      /Task "t": Option removeOnComplete = "yes" is invalid: expected true or false/,
    );
  });
});

describe('timeouts and cancellation', () => {
  it('a timed-out attempt aborts the signal, counts as a failure and is retried', async () => {
    env = createEngine();
    const reasons: unknown[] = [];
    let calls = 0;
    env.uno.register(
      'slow',
      (_p: unknown, ctx: JobContext) => {
        calls++;
        if (calls > 1) return 'second time lucky';
        return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => {
          reasons.push(ctx.signal.reason);
          reject(ctx.signal.reason);
        }));
      },
      { timeout: 1000, attempts: 2 },
    );
    await env.uno.start();
    const job = await env.queue.enqueue('slow', null);
    await env.clock.advance(999);
    expect((await env.queue.getJob(job.id))!.state).toBe('active');
    await env.clock.advance(1);
    expect((reasons[0] as Error).name).toBe('JobTimeoutError');
    await env.clock.advance(10);
    const done = (await env.queue.getJob(job.id))!;
    expect(done.state).toBe('completed');
    expect(done.result).toBe('second time lucky');
    expect(done.errors).toHaveLength(1);
    expect(done.errors[0]).toMatchObject({ attempt: 1, name: 'JobTimeoutError', message: 'The attempt exceeded its timeout of 1000 ms and was aborted.' });
  });

  it('a handler that ignores its signal still times out; its late result is discarded', async () => {
    env = createEngine();
    const late = deferred<string>();
    env.uno.register('stubborn', () => late.promise, { timeout: 500 });
    await env.uno.start();
    const job = await env.queue.enqueue('stubborn', null);
    await env.clock.advance(500);
    late.resolve('too late');
    await flushMicrotasks();
    const after = (await env.queue.getJob(job.id))!;
    expect(after.state).toBe('failed');
    expect(after.result).toBeNull();
  });

  it('cancelling a waiting job means it never runs', async () => {
    env = createEngine({ worker: { enabled: false } });
    let ran = 0;
    env.uno.register('t', () => void ran++);
    await env.uno.start();
    const job = await env.queue.enqueue('t', null, { delay: 100 });
    expect((await env.queue.cancel(job.id)).state).toBe('cancelled');
    await env.clock.advance(1000);
    expect(ran).toBe(0);
  });

  it('cancelling a running job aborts its signal and keeps it cancelled', async () => {
    env = createEngine();
    const started = deferred();
    let reason: unknown;
    env.uno.register('long', (_p: unknown, ctx: JobContext) => {
      started.resolve();
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => {
        reason = ctx.signal.reason;
        reject(ctx.signal.reason);
      }));
    }, { attempts: 5 });
    await env.uno.start();
    const job = await env.queue.enqueue('long', null);
    await started.promise;
    await env.queue.cancel(job.id);
    await flushMicrotasks();
    expect((reason as Error).name).toBe('JobCancelledError');
    const after = (await env.queue.getJob(job.id))!;
    expect(after.state).toBe('cancelled');
    expect(after.attempt).toBe(1);
    await expect(env.queue.waitForResult(job.id)).rejects.toThrow(`Job "${job.id}" ended cancelled`);
  });
});

describe('graceful shutdown', () => {
  it('lets running jobs finish within the grace period, then hands back the rest without losing them', async () => {
    env = createEngine({ worker: { concurrency: 2, criticalSlots: 0 } });
    const quick = deferred();
    let slowSignal: AbortSignal | null = null;
    env.uno.register('quick', () => quick.promise);
    env.uno.register('slow', (_p: unknown, ctx: JobContext) => {
      slowSignal = ctx.signal;
      return new Promise(() => {});
    });
    await env.uno.start();
    const q = await env.queue.enqueue('quick', null);
    const s = await env.queue.enqueue('slow', null);
    await flushMicrotasks();
    const stopping = env.uno.stop(5000);
    await flushMicrotasks();
    quick.resolve();
    await env.clock.advance(5000);
    await stopping;
    expect((await env.queue.getJob(q.id))!.state).toBe('completed');
    const slow = (await env.queue.getJob(s.id))!;
    expect(slow.state).toBe('waiting');
    expect(slow.attempt).toBe(0);
    expect(slowSignal!.aborted).toBe(true);
  });

  it('stop is idempotent and a stopped engine refuses new jobs', async () => {
    env = createEngine();
    env.uno.register('t', () => null);
    await env.uno.start();
    const a = env.uno.stop(0);
    const b = env.uno.stop(0);
    expect(a).toBe(b);
    await a;
    await expect(env.queue.enqueue('t', null)).rejects.toThrow(/shutting down/);
  });
});

describe('jobs of tasks this process does not know', () => {
  it('are handed back untouched and excluded from later claims, so a worker that knows the task runs them', async () => {
    const old = createEngine();
    old.uno.register('known', () => 'ok');
    const errors: string[] = [];
    old.uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    // A newer producer on the same store knows a task the old worker does not.
    const producer = createEngine({ clock: old.clock, storage: old.storage, worker: { enabled: false } });
    producer.uno.register('known', () => 'ok');
    producer.uno.register('brand.new', () => 'new');
    await old.uno.start();
    await producer.uno.start();
    const fresh = await producer.queue.enqueue('brand.new', null);
    const known = await producer.queue.enqueue('known', null);
    await old.clock.advance(100);
    expect((await old.queue.getJob(known.id))!.state).toBe('completed');
    const untouched = (await old.queue.getJob(fresh.id))!;
    expect(untouched).toMatchObject({ state: 'waiting', attempt: 0, errors: [] });
    expect(errors).toEqual([expect.stringContaining('Jobs of task "brand.new" in queue "default" have no handler in this worker (it knows "known")')]);
    expect(old.uno.unservedTasks()).toEqual({ default: ['brand.new'] });
    await old.uno.stop(0);
    env = createEngine({ clock: old.clock, storage: old.storage });
    env.uno.register('brand.new', () => 'new');
    await env.uno.start();
    expect(await env.queue.waitForResult(fresh.id, { timeoutMs: 1000 })).toBe('new');
    await producer.uno.stop(0);
  });
});
