import { describe, it, expect, afterEach } from '@jest/globals';
import { InvalidJobError, StorageError, UnoJobs } from '../../lib/index.js';
import { JobStorage } from '../../lib/storage.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { createEngine, deferred, prefetchTimer, runUntil } from '../support/engine.js';

// Pause and resume in the core, on the memory store: `worker` runs jobs, `admin` (another engine on the same store,
// standing in for another process) pauses and resumes. Cross-process runs: test/integration/flow-control-processes.spec.ts.

let env: ReturnType<typeof createEngine> | null = null;
let admin: UnoJobs | null = null;
const timer = prefetchTimer();

afterEach(async () => {
  await admin?.stop(0);
  await env?.uno.stop(0);
  env = admin = null;
});

function twoEngines(worker: Record<string, unknown> = {}) {
  const e = (env = createEngine({ worker: { leaseMs: 60_000, ...worker } }));
  admin = new UnoJobs({ storage: e.storage, clock: e.clock, worker: { enabled: false } });
  return { e, admin };
}

describe('pause and resume', () => {
  it('a paused queue starts nothing more anywhere, running jobs finish, and resume wakes the worker', async () => {
    const { e, admin } = twoEngines({ concurrency: 1, criticalSlots: 0 });
    const gate = deferred();
    const ran: number[] = [];
    e.uno.register('t', async (n: number) => {
      ran.push(n);
      if (n === 0) await gate.promise;
    });
    await e.uno.start();
    await e.queue.enqueueMany([0, 1, 2].map((n) => ({ task: 't', payload: n })));
    await runUntil(async () => ran.length === 1);
    await admin.pause('default');
    expect(await admin.queue.listPaused()).toEqual([{ queue: 'default', task: null }]);
    gate.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 1);
    for (let i = 0; i < 20; i++) await flushMicrotasks(5);
    expect(ran).toEqual([0]);
    expect((await e.queue.counts()).waiting).toBe(2);

    expect(await admin.resume('default')).toBe(true);
    expect(await admin.resume('default')).toBe(false);
    await runUntil(async () => (await e.queue.counts()).completed === 3);
    expect(ran).toEqual([0, 1, 2]);
  });

  it('pausing one task hands back its prefetched jobs (no attempt used) and leaves other tasks running', async () => {
    const { e, admin } = twoEngines({ concurrency: 1, criticalSlots: 0, prefetch: 20 });
    timer.remote(e.storage);
    const gate = deferred();
    const ran: string[] = [];
    e.uno.register('warm', () => undefined);
    e.uno.register('block', () => gate.promise);
    e.uno.register('a', (p: string) => void ran.push(p));
    e.uno.register('b', (p: string) => void ran.push(p));
    await e.uno.start();
    // Short jobs first, so the buffer has measured claims and handler times and prefetches.
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'warm', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 20);
    await e.queue.enqueueMany([
      { task: 'block', payload: null },
      { task: 'a', payload: 'a1' },
      { task: 'b', payload: 'b1' },
      { task: 'a', payload: 'a2' },
    ]);
    await runUntil(async () => (await e.queue.counts()).active === 4);
    expect((await e.queue.counts()).active).toBe(4); // block running, three buffered

    await admin.pause({ queue: 'default', task: 'a' });
    await runUntil(async () => (await e.queue.counts()).active === 2);
    const a = (await e.queue.list({ task: 'a' })).jobs;
    expect(a.map((j) => [j.state, j.attempt])).toEqual([['waiting', 0], ['waiting', 0]]);
    gate.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 22);
    for (let i = 0; i < 20; i++) await flushMicrotasks(5);
    expect(ran).toEqual(['b1']);

    expect(await admin.resume({ queue: 'default', task: 'a' })).toBe(true);
    await runUntil(async () => (await e.queue.counts()).completed === 24);
    expect(ran).toEqual(['b1', 'a1', 'a2']);
  });

  it('without pause notices from the store, the worker reads listPaused at its heartbeat and hands back then', async () => {
    const { e, admin } = twoEngines({ concurrency: 1, criticalSlots: 0, prefetch: 20 });
    e.storage.subscribePauses = () => null; // as the MySQL/MariaDB and SQLite stores
    timer.remote(e.storage);
    const gate = deferred();
    e.uno.register('warm', () => undefined);
    e.uno.register('block', () => gate.promise);
    e.uno.register('a', () => undefined);
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'warm', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 20);
    await e.queue.enqueueMany([{ task: 'block', payload: null }, { task: 'a', payload: 1 }, { task: 'a', payload: 2 }]);
    await runUntil(async () => (await e.queue.counts()).active === 3);
    await admin.pause('default');
    for (let i = 0; i < 20; i++) await flushMicrotasks(5);
    expect((await e.queue.counts()).active).toBe(3); // not told yet
    await e.clock.advance(20_000); // the first heartbeat (leaseMs 60 s / 3)
    await runUntil(async () => (await e.queue.counts()).active === 1);
    expect(await e.queue.counts()).toMatchObject({ active: 1, waiting: 2 });
    gate.resolve();
  });

  it('jobs of a claim that was on its way when the pause arrived go back instead of starting', async () => {
    const { e, admin } = twoEngines({ concurrency: 2, criticalSlots: 0 });
    const ran: number[] = [];
    e.uno.register('t', (n: number) => void ran.push(n));
    // The pause lands after the store ran the claim and before its reply reaches the worker.
    const claim = e.storage.claim.bind(e.storage);
    let pauseNext = true;
    e.storage.claim = async (request) => {
      const reply = await claim(request);
      if (pauseNext && reply.length > 0) {
        pauseNext = false;
        await admin.pause('default');
      }
      return reply;
    };
    await e.uno.start();
    await e.queue.enqueueMany([1, 2].map((n) => ({ task: 't', payload: n })));
    await runUntil(async () => (await e.queue.counts()).waiting === 2 && !pauseNext);
    for (let i = 0; i < 20; i++) await flushMicrotasks(5);
    expect(ran).toEqual([]);
    expect((await e.queue.list({ state: 'waiting' })).jobs.map((j) => j.attempt)).toEqual([0, 0]);
    await admin.resume('default');
    await runUntil(async () => (await e.queue.counts()).completed === 2);
    expect(ran.sort()).toEqual([1, 2]);
  });

  it('refuses a bad target with the way to name one, and a store that cannot pause with a StorageError', async () => {
    const e = (env = createEngine());
    await expect(e.uno.pause({ queue: 'default', task: '' })).rejects.toThrow(InvalidJobError);
    await expect(e.uno.pause({ queue: 'default', task: '' })).rejects.toThrow(/a task is named by a string of 1\.\.200 characters/);
    await expect(e.uno.pause('bad queue!')).rejects.toThrow(InvalidJobError);
    // A store that keeps the contract's defaults: no pause.
    const storage = Object.assign(new MemoryJobStorage(), { pause: JobStorage.prototype.pause, listPaused: JobStorage.prototype.listPaused });
    const plain = new UnoJobs({ storage, worker: { enabled: false } });
    await expect(plain.pause('default')).rejects.toThrow(StorageError);
    await expect(plain.queue.listPaused()).rejects.toThrow(/cannot pause queues or tasks/);
    await plain.stop();
  });
});
