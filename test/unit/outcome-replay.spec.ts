import { describe, it, expect, afterEach } from '@jest/globals';
import type { CompleteOutcome, FailOutcome } from '../../lib/storage.js';
import { ManualClock } from '../../lib/contract/clock.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { createEngine } from '../support/engine.js';

// The store commits an outcome, then the connection dies before the reply arrives: the executor's retry is refused
// (the lease is gone with the write it cannot see). It must report what happened, not a lease loss.

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

function lossyEngine() {
  const e = (env = createEngine());
  const seen: string[] = [];
  for (const name of ['job:completed', 'job:retry', 'job:failed', 'job:lease-lost'] as const) e.uno.events.on(name, () => seen.push(name));
  const lose = { complete: 1, fail: 1 };
  const complete = e.storage.complete.bind(e.storage);
  e.storage.complete = async (outcomes: readonly CompleteOutcome[]) => {
    const accepted = await complete(outcomes);
    if (lose.complete-- > 0) throw new Error('connection lost after commit');
    return accepted;
  };
  const fail = e.storage.fail.bind(e.storage);
  e.storage.fail = async (outcomes: readonly FailOutcome[]) => {
    const accepted = await fail(outcomes);
    if (lose.fail-- > 0) throw new Error('connection lost after commit');
    return accepted;
  };
  return { e, seen };
}

describe('an outcome applied but whose reply was lost', () => {
  it('a completion is reported as completed, not as a lost lease', async () => {
    const { e, seen } = lossyEngine();
    e.uno.register('ok', () => ({ done: true }));
    await e.uno.start();
    const job = await e.queue.enqueue('ok', null);
    await e.clock.advance(2000); // past the executor's write retries
    expect((await e.queue.getJob(job.id))!.state).toBe('completed');
    expect(seen).toEqual(['job:completed']);
  });

  it('a failure is recorded once and reported as a retry, not as a lost lease', async () => {
    const { e, seen } = lossyEngine();
    let runs = 0;
    e.uno.register('flaky', () => {
      if (runs++ === 0) throw new Error('first try fails');
      return 'second try';
    }, { attempts: 2 });
    await e.uno.start();
    const job = await e.queue.enqueue('flaky', null);
    await e.clock.advance(2000);
    const stored = (await e.queue.getJob(job.id))!;
    expect(stored.state).toBe('completed');
    expect(stored.errors.map((x) => x.message)).toEqual(['first try fails']);
    expect(seen).toEqual(['job:retry', 'job:completed']);
  });
});

describe('an outcome write that failed while the store was unreachable', () => {
  it('a run that this process started again meanwhile reports its own completion; the rewrite of the first does not claim it', async () => {
    const e = (env = createEngine({ worker: { concurrency: 1, leaseMs: 1000 }, maintenanceIntervalMs: 100 }));
    const seen: string[] = [];
    e.uno.events.on('job:completed', ({ job }) => seen.push(`completed ${job.id} attempt ${job.attempt}`));
    // The store unreachable for this worker's outcomes (until `down` goes false) and lease renewals (until
    // `renewals` does): nothing of them is written.
    let down = false;
    let renewals = true;
    const unreachable = () => Promise.reject(new Error('connect ECONNREFUSED'));
    const complete = e.storage.complete.bind(e.storage);
    e.storage.complete = (outcomes: readonly CompleteOutcome[]) => (down ? unreachable() : complete(outcomes));
    const heartbeat = e.storage.heartbeat.bind(e.storage);
    e.storage.heartbeat = (...args: Parameters<typeof heartbeat>) => (down || !renewals ? unreachable() : heartbeat(...args));
    let runs = 0;
    e.uno.register('same', () => {
      runs++;
      if (runs === 1) [down, renewals] = [true, false]; // the outage begins as the first run ends
      return 'same result'; // what a deterministic handler returns every time
    });
    await e.uno.start();
    const job = await e.queue.enqueue('same', null);
    // The first run's completion fails, and so do its retries at 50 and 300 ms; the worker gives the job up at
    // 900 ms (its lease less a tenth); outcomes go through again from 950, renewals from 1,050.
    for (let t = 0; t < 950; t += 50) await e.clock.advance(50);
    down = false;
    await e.clock.advance(100);
    renewals = true;
    // Recovery hands the job back at 1,000 ms, this worker runs it again and completes it; then the first run's last
    // retry (1,300 ms after its first failure) is refused and reads back a completion that is not its own.
    for (let t = 0; t < 2000; t += 50) await e.clock.advance(50);
    expect(runs).toBe(2);
    expect((await e.queue.getJob(job.id))!).toMatchObject({ state: 'completed', result: 'same result' });
    expect(seen).toEqual([`completed ${job.id} attempt 1`]);
  });
});

describe('an outcome write that failed while another process ran the job again', () => {
  it('the other process reports the completion; the first, whose completion was never written, reports a lost lease', async () => {
    const clock = new ManualClock();
    const store = new MemoryJobStorage({ clock });
    const seen: string[] = [];
    // Worker A is cut off from the store (its outcomes until `outcomes` is true again; its renewals and claims for
    // good) as its run ends; worker B, another process on the same store, is not.
    let cut = false;
    let outcomes = true;
    const refused = () => Promise.reject(new Error('connect ECONNREFUSED'));
    const complete = store.complete.bind(store);
    const heartbeat = store.heartbeat.bind(store);
    const claim = store.claim.bind(store);
    const through = new Proxy(store, {
      get(target, key) {
        if (key === 'complete') return (o: readonly CompleteOutcome[]) => (cut && !outcomes ? refused() : complete(o));
        if (key === 'heartbeat') return (...args: Parameters<typeof heartbeat>) => (cut ? refused() : heartbeat(...args));
        if (key === 'claim') return (...args: Parameters<typeof claim>) => (cut ? refused() : claim(...args));
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const uno = (worker: string, storage: typeof store) => {
      const e = createEngine({ storage, clock, worker: { id: worker, concurrency: 1, leaseMs: 1000 }, maintenanceIntervalMs: 100 });
      for (const name of ['job:completed', 'job:lease-lost'] as const) e.uno.events.on(name, () => seen.push(`${worker} ${name}`));
      let runs = 0;
      e.uno.register('same', () => {
        runs++;
        if (worker === 'worker-a') [cut, outcomes] = [true, false];
        return 'same result'; // what a deterministic handler returns every time
      });
      return { e, runs: () => runs };
    };
    const first = uno('worker-a', through);
    await first.e.uno.start();
    const job = await first.e.queue.enqueue('same', null);
    await clock.advance(0);
    expect(first.runs()).toBe(1);
    const second = uno('worker-b', store);
    await second.e.uno.start();
    try {
      // A's completion fails, as do its retries at 50 and 300 ms; its outcomes get through again from 950 ms, in
      // time for its last retry at 1,300 ms. Recovery puts the job back at 1,000 ms, and B runs and completes it.
      for (let t = 0; t < 950; t += 50) await clock.advance(50);
      outcomes = true;
      for (let t = 0; t < 2000; t += 50) await clock.advance(50);
      expect([first.runs(), second.runs()]).toEqual([1, 1]);
      expect((await second.e.queue.getJob(job.id))!).toMatchObject({ state: 'completed', result: 'same result', workerId: 'worker-b' });
      expect(seen.sort()).toEqual(['worker-a job:lease-lost', 'worker-b job:completed']);
    } finally {
      await first.e.uno.stop(0);
      await second.e.uno.stop(0);
    }
  });
});
