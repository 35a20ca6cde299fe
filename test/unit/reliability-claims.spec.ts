import { describe, it, expect, afterEach } from '@jest/globals';
import { InvalidJobError, UnoJobs, type JobContext, type JobStorage, type RetentionPolicy } from '../../lib/index.js';
import type { CompleteOutcome, Lease } from '../../lib/storage.js';
import { flushMicrotasks, ManualClock } from '../../lib/testing/index.js';
import { createEngine, deferred, gatedHandler, prefetchTimer, runUntil } from '../support/engine.js';

// Defaults and behaviours stated in README.md and docs/reliability.md, pinned on the memory store with a manual clock.

const DAY = 24 * 60 * 60 * 1000;
const timer = prefetchTimer();
const engines: { uno: UnoJobs; clock: ManualClock }[] = [];
afterEach(async () => {
  // Moves the clock while stopping, so that a test that failed with a handler still running ends at once.
  for (const { uno, clock } of engines.splice(0)) {
    let stopped = false;
    const stopping = uno.stop(0).then(() => (stopped = true));
    for (let i = 0; i < 10 && !stopped; i++) await clock.advance(1000);
    await stopping;
  }
});

function engine(options: Parameters<typeof createEngine>[0] = {}) {
  const e = createEngine(options);
  engines.push({ uno: e.uno, clock: e.clock });
  return e;
}

describe('README: shutdown', () => {
  it('stop() with no argument gives a running job worker.shutdownGraceMs, 10 s by default, then hands it back', async () => {
    const e = engine();
    let signal: AbortSignal | null = null;
    e.uno.register('endless', (_p: unknown, ctx: JobContext) => {
      signal = ctx.signal;
      return new Promise(() => {});
    });
    await e.uno.start();
    const job = await e.queue.enqueue('endless', null);
    await flushMicrotasks();
    expect(e.uno.activeCounts()).toEqual({ default: 1 });
    let stopped = false;
    void e.uno.stop().then(() => (stopped = true));
    await e.clock.advance(9_999);
    expect(stopped).toBe(false);
    expect(signal!.aborted).toBe(false);
    expect((await e.queue.getJob(job.id))!.state).toBe('active');
    await e.clock.advance(1);
    await flushMicrotasks();
    expect(stopped).toBe(true);
    expect(signal!.aborted).toBe(true);
    expect(await e.queue.getJob(job.id)).toMatchObject({ state: 'waiting', attempt: 0 });
  });
});

describe('README: retention defaults', () => {
  it('completed jobs are kept 24 h and at most 10 000; failed ones 7 days and at most 100 000', async () => {
    const e = engine();
    const policies: RetentionPolicy[] = [];
    const prune = e.storage.prune.bind(e.storage) as JobStorage['prune'];
    e.storage.prune = async (policy, limit) => {
      policies.push(policy);
      return prune(policy, limit);
    };
    e.uno.register('t', () => null);
    await e.uno.start();
    await e.clock.advance(1); // the first periodic prune round, with the whole policy
    expect(policies[0]).toEqual({
      completed: { maxAgeMs: DAY, maxCount: 10_000 },
      failed: { maxAgeMs: 7 * DAY, maxCount: 100_000 },
    });
  });
});

describe('README: bad payloads are refused with an error that says what to do', () => {
  const cycle: Record<string, unknown> = { x: 1 };
  cycle.self = cycle;
  it.each([
    ['a function', { f: () => 1 }, 'pass ids instead of class instances or functions'],
    ['a BigInt', { n: 10n }, 'convert BigInt to string'],
    ['a cycle', cycle, 'Pass plain data (objects, arrays, strings, finite numbers, booleans, null)'],
    ['a __proto__ key', JSON.parse('{"ok":{"__proto__":{"admin":true}}}'), 'Rename the key.'],
    ['over 1 MiB', { big: 'x'.repeat(1024 * 1024) }, 'Store large data elsewhere (a bucket, a table) and pass its id, or raise maxPayloadBytes'],
  ])('%s: the error carries the advice', async (_what, payload, advice) => {
    const e = engine();
    e.uno.register('t', () => null);
    const refused = await e.queue.enqueue('t', payload).then(() => null, (error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidJobError);
    expect((refused as Error).message).toContain(advice);
  });
});

describe('README: globalConcurrency and rateLimit per queue (queues[name]), on the engine', () => {
  it('globalConcurrency on a queue: at most that many of its jobs run at once, across tasks and engines', async () => {
    const options = { worker: { concurrency: 5 }, queues: { q: { globalConcurrency: 1 } } };
    const a = engine(options);
    const b = new UnoJobs({ ...options, storage: a.storage, clock: a.clock });
    engines.push({ uno: b, clock: a.clock });
    const gated = gatedHandler();
    for (const uno of [a.uno, b]) {
      uno.register('one', gated.handler, { queue: 'q' });
      uno.register('two', gated.handler, { queue: 'q' });
      await uno.start();
    }
    await a.queue.enqueueMany([0, 1, 2, 3].map((i) => ({ task: i % 2 ? 'one' : 'two', payload: i })));
    await runUntil(async () => false); // every engine had its chance to claim
    expect(gated.running).toBe(1);
    for (let done = 0; done < 4; done++) {
      await runUntil(async () => gated.running === 1);
      expect(gated.running).toBe(1);
      gated.releaseOldest();
      await runUntil(async () => (await a.queue.counts()).completed === done + 1);
    }
    expect((await a.queue.counts()).completed).toBe(4);
    expect(gated.most).toBe(1);
  });

  it('rateLimit on a queue: no more than max of its jobs start per window, across tasks', async () => {
    const e = engine({ worker: { concurrency: 10 }, queues: { q: { rateLimit: { max: 2, per: 1000 } } } });
    const started: number[] = [];
    const handler = () => void started.push(e.clock.now());
    e.uno.register('one', handler, { queue: 'q' });
    e.uno.register('two', handler, { queue: 'q' });
    await e.uno.start();
    const t0 = e.clock.now();
    await e.queue.enqueueMany([0, 1, 2, 3, 4].map((i) => ({ task: i % 2 ? 'one' : 'two', payload: i })));
    await runUntil(async () => false);
    expect(started).toHaveLength(2);
    await e.clock.advance(1000);
    await runUntil(async () => started.length === 4);
    await e.clock.advance(1000);
    await runUntil(async () => (await e.queue.counts()).completed === 5);
    expect(started.map((t) => Math.floor((t - t0) / 1000))).toEqual([0, 0, 1, 1, 2]);
  });
});

describe('reliability.md: outcome writes the store refuses', () => {
  it('are retried three times, 50, 250 and 1000 ms apart, then left to lease recovery', async () => {
    const e = engine();
    const calls: number[] = [];
    const errors: string[] = [];
    e.storage.complete = async (_outcomes: readonly CompleteOutcome[]) => {
      calls.push(e.clock.now());
      throw new Error('the store is unreachable');
    };
    e.uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    e.uno.register('t', () => 'done');
    await e.uno.start();
    const job = await e.queue.enqueue('t', null);
    await e.clock.advance(0);
    expect(calls).toHaveLength(1);
    await e.clock.advance(5000);
    expect(calls.slice(1).map((at, i) => at - calls[i]!)).toEqual([50, 250, 1000]);
    expect(errors).toEqual(Array(4).fill('the store is unreachable'));
    expect((await e.queue.getJob(job.id))!.state).toBe('active'); // outcome unknown: lease recovery decides
    expect(e.uno.activeCounts()).toEqual({ default: 0 });
  });
});

describe('reliability.md: a handler started from the prefetch buffer', () => {
  it('is recorded as started once it has run for 100 ms, not before', async () => {
    const e = engine({ worker: { concurrency: 1, prefetch: 20, criticalSlots: 0 } });
    timer.remote(e.storage); // claims look remote, so the adaptive buffer fills
    const marked: string[] = [];
    const markStarted = e.storage.markStarted.bind(e.storage);
    e.storage.markStarted = async (leases: readonly Lease[]) => {
      marked.push(...leases.map((l) => l.id));
      return markStarted(leases);
    };
    const gates = [deferred(), deferred()];
    e.uno.register('quick', () => undefined);
    e.uno.register('block', (n: number) => gates[n]!.promise);
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'quick', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 20);
    await e.clock.advance(1000); // any sweep left from the quick jobs has run
    marked.length = 0;
    const [first, second] = await e.queue.enqueueMany([0, 1].map((n) => ({ task: 'block', payload: n })));
    await runUntil(async () => (await e.queue.counts()).active === 2);
    expect((await e.queue.getJob(first!.id))!.startedAt).toBeInstanceOf(Date); // started by its claim
    gates[0]!.resolve(); // the second starts from the buffer now
    await runUntil(async () => (await e.queue.getJob(first!.id))!.state === 'completed');
    expect((await e.queue.getJob(second!.id))!.startedAt).toBeNull();
    await e.clock.advance(99);
    expect(marked).toEqual([]);
    expect((await e.queue.getJob(second!.id))!.startedAt).toBeNull();
    await e.clock.advance(1);
    expect(marked).toEqual([second!.id]);
    expect((await e.queue.getJob(second!.id))!.startedAt).toBeInstanceOf(Date);
    gates[1]!.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 22);
  });
});
