import { describe, it, expect, afterEach } from '@jest/globals';
import type { FailOutcome } from '../../lib/storage.js';
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
});
