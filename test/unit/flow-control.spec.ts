import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, UnoJobs } from '../../lib/index.js';
import { createEngine, gatedHandler, runUntil } from '../support/engine.js';

// Cluster-wide limits in the core, on the memory store: two engines on one store stand in for two processes.
// Across real processes: test/integration/flow-control-processes.spec.ts.

const engines: UnoJobs[] = [];
afterEach(async () => {
  for (const uno of engines.splice(0)) await uno.stop(0);
});

describe('globalConcurrency', () => {
  it('never runs more jobs of a task than its cap across two engines, whatever their own concurrency', async () => {
    const a = createEngine({ worker: { concurrency: 5 } });
    const b = new UnoJobs({ storage: a.storage, clock: a.clock, worker: { concurrency: 5 } });
    engines.push(a.uno, b);
    const gated = gatedHandler();
    for (const uno of [a.uno, b]) {
      uno.register('capped', gated.handler, { globalConcurrency: 2 });
      await uno.start();
    }
    await a.queue.enqueueMany(Array.from({ length: 8 }, (_, i) => ({ task: 'capped', payload: i })));
    // One job finishes at a time; each time the cap is filled again (by whichever engine claims first), never passed.
    for (let done = 0; done < 8; done++) {
      await runUntil(async () => gated.running === Math.min(2, 8 - done));
      expect(gated.running).toBe(Math.min(2, 8 - done));
      gated.releaseOldest();
      await runUntil(async () => (await a.queue.counts()).completed === done + 1);
    }
    expect(gated.most).toBe(2);
  });

  it('refuses a bad globalConcurrency or rateLimit, naming it and the way to write it', () => {
    const { uno } = createEngine();
    expect(() => uno.register('t', () => null, { globalConcurrency: 0 })).toThrow(ConfigurationError);
    expect(() => uno.register('t', () => null, { rateLimit: { max: 50, per: 0 } })).toThrow(/Rate limit \{"max":50,"per":0\} for task "t" is invalid: pass \{ max, per \}/);
    const bad = createEngine({ queues: { default: { rateLimit: { max: 1.5, per: 1000 } } } });
    bad.uno.register('t', () => null);
    engines.push(bad.uno);
    return expect(bad.uno.start()).rejects.toThrow(/Rate limit .* for queue "default" is invalid/);
  });
});

describe('rateLimit', () => {
  it('starts no more than max jobs per window of the store clock, and the rest when the window moves on', async () => {
    const e = createEngine({ worker: { concurrency: 10 } });
    engines.push(e.uno);
    const started: number[] = [];
    e.uno.register('limited', () => void started.push(e.clock.now()), { rateLimit: { max: 3, per: 1000 } });
    await e.uno.start();
    const t0 = e.clock.now();
    await e.queue.enqueueMany(Array.from({ length: 7 }, (_, i) => ({ task: 'limited', payload: i })));
    await runUntil(async () => started.length === 3);
    await runUntil(async () => false); // nothing more within the window
    expect(started).toHaveLength(3);
    await e.clock.advance(1000);
    await runUntil(async () => started.length === 6);
    expect(started).toHaveLength(6);
    await e.clock.advance(1000);
    await runUntil(async () => (await e.queue.counts()).completed === 7);
    expect(started.map((t) => Math.floor((t - t0) / 1000))).toEqual([0, 0, 0, 1, 1, 1, 2]);
  });
});

describe('rateLimit: the held claim\'s wait', () => {
  it('a worker held by a rate limit claims again when the limit lets a job through, not before, even with a longer poll interval', async () => {
    const e = createEngine({ worker: { concurrency: 10, pollIntervalMs: 60_000 } });
    engines.push(e.uno);
    const claimsAt: number[] = [];
    const claim = e.storage.claim.bind(e.storage);
    e.storage.claim = (request) => (claimsAt.push(e.clock.now()), claim(request));
    const started: number[] = [];
    e.uno.register('limited', () => void started.push(e.clock.now()), { rateLimit: { max: 3, per: 5000 } });
    await e.uno.start();
    const t0 = e.clock.now();
    await e.queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ task: 'limited', payload: i })));
    await runUntil(async () => (await e.queue.counts()).completed === 3);
    await runUntil(async () => false);
    const held = claimsAt.length;
    // Up to the end of the window, in steps of 250 ms: no claim at all (no polling while held).
    for (let ms = 250; ms < 5000; ms += 250) {
      await e.clock.advance(250);
      await runUntil(async () => false);
    }
    expect(claimsAt.length).toBe(held);
    expect(started).toHaveLength(3);
    // The window moves on: the worker claims at once, 55 s before its poll would have.
    await e.clock.advance(250);
    await runUntil(async () => (await e.queue.counts()).completed === 5);
    expect(started.map((t) => t - t0)).toEqual([0, 0, 0, 5000, 5000]);
    expect(claimsAt.slice(held).every((t) => t - t0 === 5000)).toBe(true);
  });
});

describe('ctx.rateLimited', () => {
  it('hands the job back due after retryAfterMs, without using an attempt', async () => {
    const e = createEngine();
    engines.push(e.uno);
    const runs: number[] = [];
    e.uno.register('api.call', (_p, ctx) => {
      runs.push(ctx.job.attempt);
      if (runs.length === 1) ctx.rateLimited(5000);
      return 'ok';
    }, { attempts: 1 });
    await e.uno.start();
    const job = await e.queue.enqueue('api.call', null);
    await runUntil(async () => (await e.queue.getJob(job.id))!.state === 'scheduled');
    expect(await e.queue.getJob(job.id)).toMatchObject({ state: 'scheduled', attempt: 0, errors: [] });
    await e.clock.advance(5000);
    await runUntil(async () => (await e.queue.getJob(job.id))!.state === 'completed');
    expect(await e.queue.getJob(job.id)).toMatchObject({ state: 'completed', attempt: 1, result: 'ok' });
    expect(runs).toEqual([1, 1]);
  });

  it('refuses a wait that is not a whole number of ms', async () => {
    const e = createEngine();
    engines.push(e.uno);
    const errors: string[] = [];
    e.uno.register('api.call', (_p, ctx) => {
      try {
        ctx.rateLimited(-1);
      } catch (error) {
        errors.push((error as Error).message);
      }
    });
    await e.uno.start();
    await e.queue.enqueue('api.call', null);
    await runUntil(async () => errors.length === 1);
    expect(errors[0]).toMatch(/ctx\.rateLimited\(-1\): pass how long to wait .* a whole number of ms from 0 to/);
  });
});
