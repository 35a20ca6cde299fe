import { describe, it, expect, afterEach } from '@jest/globals';
import type { Priority } from '../../lib/index.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { createEngine, deferred, prefetchTimer } from '../support/engine.js';

/**
 * Priorities with prefetch on, on the memory store with a manual clock: a job never starts while a job of higher
 * priority, ready at least one claim round trip earlier, has not started. (The same rules on every backend, in real
 * time: test/integration/priority.spec.ts.)
 */
let env: ReturnType<typeof createEngine> | null = null;
/** The sizing's timer: handlers take no time, each claim 2 ms, so the buffer grows to its cap. */
const timer = prefetchTimer();
let open: (() => void) | null = null;
afterEach(async () => {
  open?.();
  open = null;
  await env?.clock.advance(10);
  await env?.uno.stop(0);
  env = null;
});

/**
 * Concurrency 1 with the default critical reserve slot and prefetch capped at `prefetch`, as on a remote store (every
 * claim recorded). `gate` holds the only regular slot once `hold()` started it; `record` logs start order.
 */
async function setup(prefetch: number) {
  const e = (env = createEngine({ worker: { concurrency: 1, prefetch } }));
  const requests = timer.remote(e.storage);
  const gate = deferred();
  open = gate.resolve;
  const started: string[] = [];
  let warm = 0;
  e.uno.register('quick', () => void warm++);
  e.uno.register('gate', () => gate.promise);
  e.uno.register('record', (id: string) => void started.push(id));
  await e.uno.start();
  // Quick jobs first, so the buffer is sized (to its cap: handlers take no time on the sizing's timer).
  await e.queue.enqueueMany(Array.from({ length: 20 }, () => ({ task: 'quick', payload: null })));
  await e.clock.advance(10);
  expect(warm).toBe(20);
  await e.queue.enqueue('gate', null);
  await e.clock.advance(10);
  const enqueue = (id: string, priority: Priority) => e.queue.enqueue('record', id, { priority });
  const state = async (id: string) => (await e.queue.getJob(id))!.state;
  return { ...e, requests, gate, started, enqueue, state };
}

describe('priorities with prefetch', () => {
  it('six jobs enqueued low, normal, high, low, high, normal behind a running job start high, high, normal, normal, low, low', async () => {
    const e = await setup(1); // a buffer of one job, as with handlers slower than a claim
    const plan: Priority[] = ['low', 'normal', 'high', 'low', 'high', 'normal'];
    for (const [i, priority] of plan.entries()) {
      await e.enqueue(`${priority}-${i}`, priority);
      await e.clock.advance(1); // a claim round trip
    }
    e.gate.resolve();
    await e.clock.advance(10);
    expect(e.started).toEqual(['high-2', 'high-4', 'normal-1', 'normal-5', 'low-0', 'low-3']);
  });

  it('a high job arriving while the buffer is full of low ones starts before the remaining lows, FIFO kept', async () => {
    const e = await setup(20);
    const lows = await e.queue.enqueueMany(Array.from({ length: 50 }, (_, i) => ({ task: 'record', payload: `low-${i}`, options: { priority: 'low' as const } })));
    await e.clock.advance(1);
    // The buffer holds as many lows as its sizing wants (and no refill is due); the rest wait in the store.
    const states = await Promise.all(lows.map((j) => e.state(j.id)));
    expect(states.filter((s) => s === 'active').length).toBeGreaterThan(1);
    expect(states.filter((s) => s === 'waiting').length).toBeGreaterThan(1);
    await e.enqueue('high', 'high');
    await e.clock.advance(1);
    // The probe asked for what outranks the buffered lows only.
    expect(e.requests.at(-1)!.priorities).toEqual(['critical', 'high', 'normal']);
    e.gate.resolve();
    await e.clock.advance(10);
    expect(e.started).toEqual(['high', ...lows.map((_, i) => `low-${i}`)]);
  });

  it('a critical job starts in the reserve slot while every slot is busy and the buffer is full', async () => {
    const e = await setup(20);
    await e.queue.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ task: 'record', payload: `low-${i}`, options: { priority: 'low' as const } })));
    await e.clock.advance(1);
    await e.enqueue('critical', 'critical');
    await flushMicrotasks(); // one claim round trip, no time passing
    expect(e.started).toEqual(['critical']); // in the reserve slot, while the gate holds the regular one
  });

  it('a burst of high jobs larger than the buffer all start before any buffered low one', async () => {
    const e = await setup(20);
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'record', payload: `low-${i}`, options: { priority: 'low' as const } })));
    await e.clock.advance(1);
    // More than the leases this worker may hold (2 × (1 + 1 + 20) = 44, 21 taken): probes wait for room as jobs end.
    await e.queue.enqueueMany(Array.from({ length: 60 }, (_, i) => ({ task: 'record', payload: `high-${i}`, options: { priority: 'high' as const } })));
    await e.clock.advance(1);
    e.gate.resolve();
    for (let i = 0; i < 50 && e.started.length < 80; i++) await e.clock.advance(10);
    expect(e.started).toEqual([...Array.from({ length: 60 }, (_, i) => `high-${i}`), ...Array.from({ length: 20 }, (_, i) => `low-${i}`)]);
  });

  it('a job of the same priority as the buffered ones is not probed for: it stays in the store, behind them', async () => {
    const e = await setup(20);
    await e.queue.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ task: 'record', payload: `normal-${i}` })));
    await e.clock.advance(1);
    const before = e.requests.length;
    const late = await e.enqueue('normal-late', 'normal');
    await e.clock.advance(1);
    expect(e.requests.slice(before).map((r) => r.priorities)).toEqual([['critical', 'high']]);
    expect(await e.state(late.id)).toBe('waiting');
    e.gate.resolve();
    await e.clock.advance(10);
    expect(e.started).toEqual([...Array.from({ length: 30 }, (_, i) => `normal-${i}`), 'normal-late']);
  });

  it('nothing to probe for when only critical jobs are buffered, and no probe without a wake-up', async () => {
    const e = await setup(20);
    await e.queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ task: 'record', payload: `crit-${i}`, options: { priority: 'critical' as const } })));
    await e.clock.advance(1);
    // The reserve slot runs them one by one; meanwhile nothing outranks what is buffered.
    expect(e.requests.filter((r) => r.priorities && r.priorities.length > 1)).toEqual([]);
    e.gate.resolve();
    await e.clock.advance(10);
    const before = e.requests.length;
    await e.clock.advance(3); // no wake-up, no poll yet: no claim
    expect(e.requests.length).toBe(before);
  });
});
