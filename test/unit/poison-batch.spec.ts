import { describe, it, expect, afterEach } from '@jest/globals';
import type { CompleteOutcome, FailOutcome } from '../../lib/storage.js';
import { createEngine, deferred } from '../support/engine.js';

describe('one bad outcome never sinks a batch (engine on the memory store)', () => {
  let env: ReturnType<typeof createEngine> | null = null;
  afterEach(async () => {
    await env?.uno.stop(0);
    env = null;
  });

  it('an outcome the store refuses fails only its own write; the 99 jobs failing with it are recorded', async () => {
    env = createEngine({ worker: { concurrency: 100 } });
    const calls: string[][] = [];
    const fail = env.storage.fail.bind(env.storage);
    // A store that refuses one outcome (as MySQL refuses a row over max_allowed_packet): any call that carries it fails.
    env.storage.fail = async (outcomes: readonly FailOutcome[]) => {
      calls.push(outcomes.map((o) => o.id));
      if (outcomes.some((o) => o.id === 'poison')) throw new Error('the store refused the outcome of job "poison"');
      return fail(outcomes);
    };
    const errors: string[] = [];
    env.uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    const gate = deferred();
    env.uno.register('import', async () => {
      await gate.promise;
      throw new Error('upstream down');
    });
    await env.uno.start();
    for (let i = 0; i < 99; i++) await env.queue.enqueue('import', null, { jobId: `job-${i}` });
    await env.queue.enqueue('import', null, { jobId: 'poison', attempts: 2 });
    await env.clock.advance(0);
    expect(env.uno.activeCounts()).toEqual({ default: 100 });
    gate.resolve();
    // The executor retries a failed write after 50, 250 and 1000 ms, then leaves the job to lease recovery.
    for (let i = 0; i < 20; i++) await env.clock.advance(100);

    const counts = await env.storage.counts();
    expect(counts.failed).toBe(99);
    expect((await env.queue.getJob('poison'))!.state).toBe('active');
    expect(errors).toHaveLength(4);
    expect(errors[0]).toContain('the store refused the outcome of job "poison"');
    // After the batch, the poison is only ever written alone: its retries never sink another batch.
    expect(calls[0]).toHaveLength(100); // all 100 settled in one turn: one batch
    expect(calls.slice(1).filter((c) => c.includes('poison'))).toEqual(Array(4).fill(['poison']));
  });

  it('a completion the store refuses: the 99 completing with it are recorded; it is retried alone, then left to recovery', async () => {
    env = createEngine({ worker: { concurrency: 100 } });
    const calls: string[][] = [];
    const complete = env.storage.complete.bind(env.storage);
    env.storage.complete = async (outcomes: readonly CompleteOutcome[]) => {
      calls.push(outcomes.map((o) => o.id));
      if (outcomes.some((o) => o.id === 'poison')) throw new Error('the store refused the outcome of job "poison"');
      return complete(outcomes);
    };
    const errors: string[] = [];
    const seen: string[] = [];
    env.uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    env.uno.events.on('job:completed', ({ job }) => seen.push(`job:completed ${job.id}`));
    env.uno.events.on('job:lease-lost', ({ jobId }) => seen.push(`job:lease-lost ${jobId}`));
    const gate = deferred();
    env.uno.register('import', async () => {
      await gate.promise;
      return 'imported';
    });
    await env.uno.start();
    for (let i = 0; i < 99; i++) await env.queue.enqueue('import', null, { jobId: `job-${i}` });
    await env.queue.enqueue('import', null, { jobId: 'poison' });
    await env.clock.advance(0);
    expect(env.uno.activeCounts()).toEqual({ default: 100 });
    gate.resolve();
    for (let i = 0; i < 20; i++) await env.clock.advance(100);

    expect((await env.storage.counts()).completed).toBe(99);
    expect((await env.queue.getJob('poison'))!.state).toBe('active'); // unknown outcome: lease recovery decides
    expect(seen.filter((s) => s.startsWith('job:completed'))).toHaveLength(99);
    expect(seen.filter((s) => s.includes('poison'))).toEqual([]); // neither completed nor reported as a lost lease
    expect(errors).toHaveLength(4);
    expect(calls[0]).toHaveLength(100);
    expect(calls.slice(1).filter((c) => c.includes('poison'))).toEqual(Array(4).fill(['poison'])); // split from the batch, then 3 retries
    expect(env.uno.activeCounts()).toEqual({ default: 0 }); // its attempt settled: the lease is no longer held here
  });
});
