import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, type Priority } from '../../lib/index.js';
import { type ClaimedJob } from '../../lib/storage.js';
import { PrefetchBuffer } from '../../lib/core/prefetch.js';
import { newJobRecord } from '../../lib/contract/job.js';
import type { TaskDefinition } from '../../lib/core/task-registry.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { createEngine, deferred, prefetchTimer, runUntil } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
/** The sizing's timer, driven by the test: handlers take no time, each claim takes 2 ms. */
const timer = prefetchTimer();
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

/**
 * An engine whose store takes 2 ms per claim on the sizing's timer (a remote store's round trip), with every claim
 * request recorded. Handlers take no time on that timer, so the adaptive buffer grows to its cap.
 */
function remoteLike(worker: Record<string, unknown>) {
  const e = createEngine({ worker: { criticalSlots: 0, ...worker } });
  return { ...e, requests: timer.remote(e.storage) };
}

describe('prefetch', () => {
  it('claims ahead of free slots when handlers are much shorter than a claim, in far fewer round trips', async () => {
    const e = (env = remoteLike({ concurrency: 2, prefetch: 50 }));
    let ran = 0;
    e.uno.register('t', () => void ran++);
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ task: 't', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 300);
    expect(ran).toBe(300);
    expect(Math.max(...e.requests.map((r) => r.limit))).toBeGreaterThan(2);
    expect(Math.max(...e.requests.map((r) => r.limit))).toBeLessThanOrEqual(2 + 50);
    // Two jobs per claim would take 150 claims.
    expect(e.requests.length).toBeLessThan(40);
  });

  it('prefetch 0 claims only for free slots', async () => {
    const e = (env = remoteLike({ concurrency: 2, prefetch: 0 }));
    e.uno.register('t', () => undefined);
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 60 }, (_, i) => ({ task: 't', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 60);
    expect((await e.queue.counts()).completed).toBe(60);
    expect(Math.max(...e.requests.map((r) => r.limit))).toBeLessThanOrEqual(2);
  });

  /** Warm the sizing up with quick jobs, then leave `n` jobs buffered behind one that blocks the only slot. */
  async function bufferedBehindBlock(n: number, worker: Record<string, unknown> = {}) {
    const e = (env = remoteLike({ concurrency: 1, prefetch: 20, ...worker }));
    const gate = deferred();
    const ran: string[] = [];
    e.uno.register('quick', () => undefined);
    e.uno.register('block', () => gate.promise);
    e.uno.register('record', (p: { id: string }) => void ran.push(p.id));
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'quick', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 20);
    const ids = await e.queue.enqueueMany([
      { task: 'block', payload: null },
      ...Array.from({ length: n }, (_, i) => ({ task: 'record', payload: { id: `r${i}` } })),
    ]);
    await runUntil(async () => (await e.queue.counts()).active === n + 1);
    expect((await e.queue.counts()).active).toBe(n + 1); // one running, n held in this process's buffer
    return { e, gate, ran, records: ids.slice(1).map((j) => j.id) };
  }

  it('a buffered job that is cancelled never runs', async () => {
    const { e, gate, ran, records } = await bufferedBehindBlock(3);
    expect((await e.queue.cancel(records[1]!)).state).toBe('cancelled');
    gate.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 20 + 3);
    expect(ran).toEqual(['r0', 'r2']);
    expect((await e.queue.getJob(records[1]!))!.state).toBe('cancelled');
  });

  it('shutdown hands buffered jobs back at once, while the running one still has its grace period', async () => {
    const { e, gate, ran, records } = await bufferedBehindBlock(4);
    const stopping = e.uno.stop(60_000);
    await runUntil(async () => (await e.queue.counts()).waiting === 4);
    for (const id of records) {
      const job = (await e.queue.getJob(id))!;
      expect(job.state).toBe('waiting');
      expect(job.attempt).toBe(0); // handed back, not counted as an attempt
    }
    gate.resolve();
    await stopping;
    expect(ran).toEqual([]);
    expect((await e.queue.counts()).completed).toBe(21);
  });

  it('heartbeats renew buffered leases, so a job waiting longer than its lease still runs once', async () => {
    const { e, gate, ran } = await bufferedBehindBlock(3, { leaseMs: 1000, heartbeatMs: 300 });
    const lost: string[] = [];
    e.uno.events.on('job:lease-lost', ({ jobId }) => lost.push(jobId));
    for (let t = 0; t < 5000; t += 100) {
      await e.clock.advance(100);
      await e.uno.runMaintenance(); // would recover any expired lease
    }
    gate.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 24);
    expect(ran).toEqual(['r0', 'r1', 'r2']);
    expect(lost).toEqual([]);
    expect((await e.queue.list({ state: 'completed', limit: 100 })).jobs.filter((j) => j.attempt !== 1)).toEqual([]);
  });

  it('holds no more payload bytes than prefetchBytes, whatever the job cap, and still runs every job once', async () => {
    const { e, gate, ran, records } = await bufferedBehindBlock(0, { prefetchBytes: 5000 });
    // 20 jobs of about 1 KB behind the blocked slot: the job cap (20) would buffer all of them.
    const big = await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'record', payload: { id: `b${i}`, pad: 'x'.repeat(990) } })));
    await runUntil(async () => e.requests.length > 40);
    for (let i = 0; i < 50; i++) await flushMicrotasks(5);
    const held = (await e.queue.counts()).active - 1;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(5);
    const handedBack = await Promise.all(big.map((j) => e.queue.getJob(j.id)));
    expect(handedBack.filter((j) => j!.state === 'waiting').length).toBe(20 - held);
    gate.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 20 + 1 + 20);
    expect(ran.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `b${i}`).sort());
    for (const id of [...records, ...big.map((j) => j.id)]) expect((await e.queue.getJob(id))!.attempt).toBe(1);
  });

  it('refuses a prefetch that is not a whole number >= 0, naming the option', async () => {
    // The worker-wide setting as the engine is built; a queue's own setting when the worker starts.
    expect(() => createEngine({ worker: { prefetch: -1 } })).toThrow(expect.objectContaining({ name: ConfigurationError.name, message: expect.stringContaining('worker.prefetch') }));
    const e = createEngine({ queues: { default: { prefetch: -1 } } });
    e.uno.register('t', () => undefined);
    await expect(e.uno.start()).rejects.toThrow(expect.objectContaining({ name: ConfigurationError.name, message: expect.stringContaining('queues.default.prefetch') }));
  });
});

describe('PrefetchBuffer', () => {
  const definition = {} as TaskDefinition;
  const job = (id: string, priority: Priority, readyAgoMs = 0): ClaimedJob => ({
    job: newJobRecord(
      { id, task: 't', queue: 'q', priority, payload: 'null', maxAttempts: 1, delayMs: 0, runAt: null, timeoutMs: null, backoff: null },
      'active',
      1_000_000 - readyAgoMs,
      1_000_000 - readyAgoMs,
    ),
    token: `tok-${id}`,
  });

  it('holds about two claim round trips of work: next to none for slow handlers, up to the cap for fast ones', () => {
    const buffer = new PrefetchBuffer(400, 10);
    expect(buffer.target()).toBe(0); // nothing measured yet
    buffer.noteClaim(2);
    buffer.noteRun(1000);
    expect(buffer.target()).toBe(1); // 2 round trips × 10 slots × 2 ms / 1 s, rounded up
    const fast = new PrefetchBuffer(400, 10);
    fast.noteClaim(2);
    fast.noteRun(0.01);
    expect(fast.target()).toBe(400);
    const mid = new PrefetchBuffer(400, 10);
    mid.noteClaim(2);
    mid.noteRun(1);
    expect(mid.target()).toBe(40);
    const off = new PrefetchBuffer(0, 10);
    off.noteClaim(2);
    off.noteRun(0.01);
    expect(off.target()).toBe(0);
  });

  it('hands out the highest priority first, FIFO within a level, an aged job one level up (ahead of newer ones there)', () => {
    const buffer = new PrefetchBuffer(10, 1, undefined, 1000);
    const now = 1_000_000;
    for (const [id, priority, ago] of [['n1', 'normal', 0], ['l-old', 'low', 5000], ['c1', 'critical', 0], ['n2', 'normal', 0], ['h1', 'high', 0], ['l-new', 'low', 0]] as const) {
      buffer.push({ bytes: 0, claimed: job(id, priority, ago), definition });
    }
    const order: string[] = [];
    for (let b = buffer.take(() => true, false, now); b; b = buffer.take(() => true, false, now)) order.push(b.claimed.job.id);
    expect(order).toEqual(['c1', 'h1', 'l-old', 'n1', 'n2', 'l-new']);
    expect(buffer.size).toBe(0);
  });

  it('ages jobs while they wait in the buffer: a low job pushed fresh competes as normal once agingMs has passed', () => {
    const buffer = new PrefetchBuffer(10, 1, undefined, 1000);
    const now = 1_000_000;
    buffer.push({ bytes: 0, claimed: job('low', 'low', 0), definition });
    buffer.push({ bytes: 0, claimed: job('normal', 'normal', 0), definition });
    expect(buffer.take(() => true, false, now + 999)!.claimed.job.id).toBe('normal');
    buffer.push({ bytes: 0, claimed: job('normal-2', 'normal', -500), definition }); // ready after the low one
    expect(buffer.take(() => true, false, now + 1000)!.claimed.job.id).toBe('low');
  });

  it.each([[undefined], [1000]])('counts the bytes of the jobs it holds down as they leave, with agingMs %p', (agingMs) => {
    // With aging, take() once forgot to count the bytes down: the budget filled up for good, and the buffer then
    // refused every job (each went back to the store).
    const buffer = new PrefetchBuffer(10, 1, 300, agingMs);
    const now = 1_000_000;
    for (let round = 0; round < 3; round++) {
      for (const id of ['a', 'b']) {
        expect(buffer.fits(100)).toBe(true);
        buffer.push({ bytes: 100, claimed: job(`${id}${round}`, 'normal'), definition });
      }
      expect(buffer.bytes).toBe(200);
      expect(buffer.take(() => true, false, now)).toBeDefined();
      expect(buffer.bytes).toBe(100);
      expect(buffer.remove(`b${round}`)).toBe(true);
      expect(buffer.bytes).toBe(0);
    }
  });

  it('skips jobs the caller cannot start yet and takes only critical ones from the reserve', () => {
    const buffer = new PrefetchBuffer(10, 1);
    for (const [id, priority] of [['a', 'normal'], ['b', 'normal'], ['c', 'critical']] as const) {
      buffer.push({ bytes: 0, claimed: job(id, priority), definition });
    }
    expect(buffer.take((b) => b.claimed.job.id !== 'c', false)?.claimed.job.id).toBe('a');
    expect(buffer.take(() => true, true)?.claimed.job.id).toBe('c');
    expect(buffer.take(() => true, true)).toBeUndefined();
    expect(buffer.remove('b')).toBe(true);
    expect(buffer.remove('b')).toBe(false);
    expect(buffer.size).toBe(0);
  });
});
