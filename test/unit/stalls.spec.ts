import { describe, it, expect, afterEach } from '@jest/globals';
import type { JobError } from '../../lib/index.js';
import { START_MARK_DELAY_MS } from '../../lib/core/start-marks.js';
import type { ClaimRequest, Lease } from '../../lib/contract/job-storage.js';
import { createEngine, deferred, prefetchTimer, runUntil } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
const timer = prefetchTimer();
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

/** An engine whose claims take 2 ms on the prefetch sizing's timer (so the buffer fills), recording starts. */
function bufferingEngine(worker: Record<string, unknown>, options: Record<string, unknown> = {}) {
  const e = (env = createEngine({ worker: { criticalSlots: 0, ...worker }, ...options }));
  const startNow: number[] = [];
  const marked: Lease[] = [];
  timer.remote(e.storage);
  const claim = e.storage.claim.bind(e.storage);
  e.storage.claim = async (request: ClaimRequest) => {
    const claimed = await claim(request);
    startNow.push(Math.min(request.startNow ?? 0, claimed.length));
    return claimed;
  };
  const markStarted = e.storage.markStarted.bind(e.storage);
  e.storage.markStarted = async (leases: readonly Lease[]) => {
    marked.push(...leases);
    return markStarted(leases);
  };
  return { ...e, startNow, marked };
}


describe('a crash is not an attempt: starts are recorded', () => {
  it('short handlers cost no start write: their claim or their completion records the start', async () => {
    const e = bufferingEngine({ concurrency: 2, prefetch: 50 });
    e.uno.register('t', () => undefined);
    await e.uno.start();
    const jobs = await e.queue.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ task: 't', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 300);
    expect((await e.queue.counts()).completed).toBe(300);
    expect(e.startNow.reduce((a, b) => a + b, 0)).toBeLessThan(300); // the buffer was used
    expect(e.marked).toEqual([]);
    for (const { id } of jobs) expect((await e.queue.getJob(id))!.startedAt).toBeInstanceOf(Date);
  });

  it('a handler started from the buffer is recorded once it runs past the delay; jobs still buffered are not', async () => {
    const e = bufferingEngine({ concurrency: 1, prefetch: 20 });
    const gates = [deferred(), deferred()];
    e.uno.register('quick', () => undefined);
    e.uno.register('block', (n: number) => gates[n]!.promise);
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'quick', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 20);
    const [first, second, ...buffered] = await e.queue.enqueueMany([
      { task: 'block', payload: 0 },
      { task: 'block', payload: 1 },
      ...Array.from({ length: 3 }, (_, i) => ({ task: 'quick', payload: i })),
    ]);
    await runUntil(async () => (await e.queue.counts()).active === 5);
    expect((await e.queue.counts()).active).toBe(5);
    expect((await e.queue.getJob(first!.id))!.startedAt).toBeInstanceOf(Date); // started by its claim
    gates[0]!.resolve(); // the second blocker starts from the buffer
    await runUntil(async () => (await e.queue.getJob(first!.id))!.state === 'completed');
    expect((await e.queue.getJob(second!.id))!.startedAt).toBeNull();
    await e.clock.advance(START_MARK_DELAY_MS);
    expect(e.marked.map((l) => l.id)).toEqual([second!.id]);
    expect((await e.queue.getJob(second!.id))!.startedAt).toBeInstanceOf(Date);
    for (const job of buffered) expect((await e.queue.getJob(job.id))!.startedAt).toBeNull();
    gates[1]!.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 25);
    for (const job of buffered) expect((await e.queue.getJob(job.id))!.startedAt).toBeInstanceOf(Date);
    expect(e.marked).toHaveLength(1); // the short ones finished before their delay
  });
});

describe('start marks: each buffered handler recorded once, in the sweep after its delay', () => {
  it('a handler still running at a later sweep is not written again; one started later waits for its own delay', async () => {
    const e = bufferingEngine({ concurrency: 2, prefetch: 20 });
    const gates = [deferred(), deferred(), deferred(), deferred()];
    e.uno.register('quick', () => undefined);
    e.uno.register('block', (n: number) => gates[n]!.promise);
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'quick', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 20);
    const [x, y, b, c] = await e.queue.enqueueMany([0, 1, 2, 3].map((n) => ({ task: 'block', payload: n })));
    await runUntil(async () => (await e.queue.counts()).active === 4);
    expect((await e.queue.getJob(x!.id))!.startedAt).toBeInstanceOf(Date); // x and y started by their claim
    expect((await e.queue.getJob(y!.id))!.startedAt).toBeInstanceOf(Date);
    gates[0]!.resolve(); // b starts from the buffer now
    await runUntil(async () => (await e.queue.getJob(x!.id))!.state === 'completed');
    await e.clock.advance(START_MARK_DELAY_MS / 2);
    gates[1]!.resolve(); // c starts from the buffer half a delay later
    await runUntil(async () => (await e.queue.getJob(y!.id))!.state === 'completed');
    await e.clock.advance(START_MARK_DELAY_MS / 2);
    expect(e.marked.map((l) => l.id)).toEqual([b!.id]);
    expect((await e.queue.getJob(c!.id))!.startedAt).toBeNull();
    await e.clock.advance(START_MARK_DELAY_MS);
    expect(e.marked.map((l) => l.id)).toEqual([b!.id, c!.id]); // b, still running, not again
    await e.clock.advance(START_MARK_DELAY_MS * 3);
    expect(e.marked).toHaveLength(2);
    gates[2]!.resolve();
    gates[3]!.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 24);
    expect(e.marked).toHaveLength(2);
  });
});

describe('maxStalls: the poison-pill guard', () => {
  /** Put a job through `stalls` worker deaths in the store: claimed as started, lease expired, recovered. */
  async function stalledJob(e: ReturnType<typeof createEngine>, task: string, stalls: number) {
    const job = await e.queue.enqueue(task, { n: 1 });
    for (let i = 0; i < stalls; i++) {
      // Only this task's job: others set up earlier wait in the same queue.
      const taskLimits = Object.fromEntries(e.uno.taskNames().map((name) => [name, name === task ? 1 : 0]));
      await e.storage.claim({ queue: 'default', limit: 1, leaseMs: 100, workerId: `dead-${i}`, startNow: 1, taskLimits });
      await e.clock.advance(200);
      expect(await e.storage.recoverExpired()).toEqual({ recovered: 1, stalled: 1 });
    }
    const stored = (await e.storage.get(job.id))!;
    expect(stored.stalls).toBe(stalls);
    expect(stored.attempt).toBe(0);
    expect(stored.state).toBe('waiting');
    return job;
  }

  it('a job within maxStalls (default 1) runs; past it, it fails with JobStalledError without running', async () => {
    const e = (env = createEngine());
    const ran: number[] = [];
    const failed: JobError[] = [];
    e.uno.events.on('job:failed', ({ error }) => failed.push(error));
    e.uno.register('once', () => void ran.push(1));
    e.uno.register('twice', () => void ran.push(2));
    const once = await stalledJob(e, 'once', 1);
    const twice = await stalledJob(e, 'twice', 2);
    await e.uno.start();
    await runUntil(async () => (await e.queue.counts()).waiting === 0 && (await e.queue.counts()).active === 0);
    expect(ran).toEqual([1]);
    expect((await e.queue.getJob(once.id))!.state).toBe('completed');
    const given = (await e.queue.getJob(twice.id))!;
    expect(given.state).toBe('failed');
    const last = given.errors.at(-1)!;
    expect(last.name).toBe('JobStalledError');
    expect(last.message).toContain('its worker died 2 times while running it (maxStalls 1)');
    expect(failed.map((f) => f.name)).toEqual(['JobStalledError']);
  });

  it('maxStalls per task wins over the module option', async () => {
    const e = (env = createEngine({ worker: { maxStalls: 0 } }));
    const ran: string[] = [];
    e.uno.register('strict', () => void ran.push('strict'));
    e.uno.register('lenient', () => void ran.push('lenient'), { maxStalls: 3 });
    const strict = await stalledJob(e, 'strict', 1);
    const lenient = await stalledJob(e, 'lenient', 3);
    await e.uno.start();
    await runUntil(async () => (await e.queue.counts()).waiting === 0 && (await e.queue.counts()).active === 0);
    expect(ran).toEqual(['lenient']);
    expect((await e.queue.getJob(strict.id))!.state).toBe('failed');
    expect((await e.queue.getJob(lenient.id))!.state).toBe('completed');
  });

  it('refuses a maxStalls that is not a whole number >= 0', () => {
    const e = (env = createEngine());
    expect(() => e.uno.register('bad', () => undefined, { maxStalls: -1 })).toThrow('maxStalls -1 is invalid: pass a whole number >= 0');
    expect(() => e.uno.register('bad2', () => undefined, { maxStalls: 1.5 })).toThrow('maxStalls 1.5 is invalid');
  });
});
