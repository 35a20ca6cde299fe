import { describe, it, expect, afterEach } from '@jest/globals';
import { MemoryJobStorage, type JobEventMap } from '../../lib/index.js';
import { type Lease } from '../../lib/storage.js';
import { flushMicrotasks, ManualClock } from '../../lib/testing/index.js';
import { createEngine, deferred } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

describe('a handler that ignores its timeout', () => {
  it('keeps its slot until it really returns: with concurrency 1 the next job waits, and job:overdue reports it', async () => {
    env = createEngine({ worker: { concurrency: 1 } }); // defaults otherwise: attempts 1, one critical reserve slot
    const late = deferred<string>();
    const started: string[] = [];
    env.uno.register('stubborn', () => {
      started.push('stubborn');
      return late.promise; // never looks at ctx.signal
    }, { timeout: 1000 });
    env.uno.register('next', () => void started.push('next'));
    const overdue: JobEventMap['job:overdue'][] = [];
    env.uno.events.on('job:overdue', (e) => overdue.push(e));
    await env.uno.start();
    const stubborn = await env.queue.enqueue('stubborn', null);
    await flushMicrotasks();
    const next = await env.queue.enqueue('next', null);

    await env.clock.advance(1000);
    // The outcome is written at the timeout, as before...
    const failed = (await env.queue.getJob(stubborn.id))!;
    expect(failed.state).toBe('failed');
    expect(failed.errors.map((e) => e.name)).toEqual(['JobTimeoutError']);
    // ...but the handler still runs, so its slot stays taken.
    expect(overdue).toHaveLength(1);
    expect(overdue[0]).toMatchObject({ job: { id: stubborn.id, task: 'stubborn' }, reason: 'JobTimeoutError', overdue: 1 });
    expect(env.uno.overdueCounts()).toEqual({ default: 1 });
    expect(env.uno.activeCounts()).toEqual({ default: 0 });
    await env.clock.advance(10_000); // polls and heartbeats come and go
    expect(started).toEqual(['stubborn']);
    expect((await env.queue.getJob(next.id))!.state).toBe('waiting');

    late.resolve('too late');
    await env.clock.advance(10);
    expect(started).toEqual(['stubborn', 'next']);
    expect(env.uno.overdueCounts()).toEqual({ default: 0 });
    expect((await env.queue.getJob(next.id))!.state).toBe('completed');
    const after = (await env.queue.getJob(stubborn.id))!;
    expect(after.state).toBe('failed');
    expect(after.result).toBeNull();
  });

  it('a handler that honours its signal is not overdue, even when it takes a few ticks to return', async () => {
    env = createEngine({ worker: { concurrency: 1 } });
    const overdue: unknown[] = [];
    env.uno.events.on('job:overdue', (e) => overdue.push(e));
    env.uno.register('polite', async (_p: unknown, ctx) => {
      await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      await Promise.resolve(); // cleanup of its own before it returns
    }, { timeout: 1000 });
    await env.uno.start();
    const job = await env.queue.enqueue('polite', null);
    await env.clock.advance(1000);
    expect((await env.queue.getJob(job.id))!.errors.map((e) => e.name)).toEqual(['JobTimeoutError']);
    expect(overdue).toEqual([]);
    expect(env.uno.overdueCounts()).toEqual({ default: 0 });
  });

  it('a cancelled handler that ignores its signal keeps its slot too', async () => {
    env = createEngine({ worker: { concurrency: 1 } });
    const late = deferred();
    const started: string[] = [];
    env.uno.register('stubborn', () => {
      started.push('stubborn');
      return late.promise;
    });
    env.uno.register('next', () => void started.push('next'));
    const overdue: JobEventMap['job:overdue'][] = [];
    env.uno.events.on('job:overdue', (e) => overdue.push(e));
    await env.uno.start();
    const stubborn = await env.queue.enqueue('stubborn', null);
    await flushMicrotasks();
    await env.queue.enqueue('next', null);
    await env.queue.cancel(stubborn.id);
    await env.clock.advance(10_000);
    expect((await env.queue.getJob(stubborn.id))!.state).toBe('cancelled');
    expect(overdue.map((e) => e.reason)).toEqual(['JobCancelledError']);
    expect(started).toEqual(['stubborn']);
    late.resolve();
    await env.clock.advance(10);
    expect(started).toEqual(['stubborn', 'next']);
    expect(env.uno.overdueCounts()).toEqual({ default: 0 });
  });

  it('a handler that lost its lease and ignores its signal keeps its slot too', async () => {
    // Its renewals fail (a network split), so the worker gives the job up itself before the lease runs out.
    const clock = new ManualClock();
    const storage = new (class extends MemoryJobStorage {
      split = false;
      override heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
        return this.split ? Promise.reject(new Error('network split')) : super.heartbeat(leases, leaseMs);
      }
    })({ clock });
    env = createEngine({ clock, storage, worker: { concurrency: 1, leaseMs: 1000 } });
    const late = deferred();
    const started: string[] = [];
    env.uno.register('stubborn', () => {
      started.push('stubborn');
      return late.promise;
    });
    env.uno.register('next', () => void started.push('next'));
    const overdue: JobEventMap['job:overdue'][] = [];
    env.uno.events.on('job:overdue', (e) => overdue.push(e));
    await env.uno.start();
    await env.queue.enqueue('stubborn', null);
    await flushMicrotasks();
    await env.queue.enqueue('next', null);
    storage.split = true;
    await env.clock.advance(1500);
    expect(overdue.map((e) => e.reason)).toEqual(['LeaseLostError']);
    expect(started).toEqual(['stubborn']);
    storage.split = false;
    late.resolve();
    await env.clock.advance(10);
    expect(started.slice(0, 2)).toEqual(['stubborn', 'next']);
  });
});
