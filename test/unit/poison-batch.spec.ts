import { describe, it, expect, afterEach } from '@jest/globals';
import type { CompleteOutcome, FailOutcome } from '../../lib/storage.js';
import { createEngine, deferred } from '../support/engine.js';

describe('one bad outcome never sinks a batch (engine on the memory store)', () => {
  let env: ReturnType<typeof createEngine> | null = null;
  afterEach(async () => {
    await env?.uno.stop(0);
    env = null;
  });

  /**
   * 100 jobs at concurrency 100 that end together, in one outcome batch, on a store whose `write` (complete or fail)
   * refuses any call that carries the outcome of job "poison" (as MySQL refuses a row over max_allowed_packet). Runs
   * them past the executor's write retries (50, 250 and 1000 ms); returns the calls' ids and the worker errors.
   * `listen` subscribes to the engine's events before it starts.
   */
  async function poisonBatch(write: 'complete' | 'fail', ended: () => unknown, poisonAttempts = 1, listen: (e: ReturnType<typeof createEngine>) => void = () => {}) {
    const e = (env = createEngine({ worker: { concurrency: 100 } }));
    listen(e);
    const calls: string[][] = [];
    const errors: string[] = [];
    const original = e.storage[write].bind(e.storage) as (outcomes: readonly (CompleteOutcome | FailOutcome)[]) => Promise<boolean[]>;
    e.storage[write] = async (outcomes: readonly (CompleteOutcome & FailOutcome)[]) => {
      calls.push(outcomes.map((o) => o.id));
      if (outcomes.some((o) => o.id === 'poison')) throw new Error('the store refused the outcome of job "poison"');
      return original(outcomes);
    };
    e.uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    const gate = deferred();
    e.uno.register('import', async () => {
      await gate.promise;
      return ended();
    });
    await e.uno.start();
    for (let i = 0; i < 99; i++) await e.queue.enqueue('import', null, { jobId: `job-${i}` });
    await e.queue.enqueue('import', null, { jobId: 'poison', attempts: poisonAttempts });
    await e.clock.advance(0);
    expect(e.uno.activeCounts()).toEqual({ default: 100 });
    gate.resolve();
    for (let i = 0; i < 20; i++) await e.clock.advance(100);
    return { e, calls, errors };
  }

  it('an outcome the store refuses fails only its own write; the 99 jobs failing with it are recorded', async () => {
    const { e, calls, errors } = await poisonBatch('fail', () => {
      throw new Error('upstream down');
    }, 2);

    const counts = await e.storage.counts();
    expect(counts.failed).toBe(99);
    expect((await e.queue.getJob('poison'))!.state).toBe('active');
    expect(errors).toHaveLength(4);
    expect(errors[0]).toContain('the store refused the outcome of job "poison"');
    // After the batch, the poison is only ever written alone: its retries never sink another batch.
    expect(calls[0]).toHaveLength(100); // all 100 settled in one turn: one batch
    expect(calls.slice(1).filter((c) => c.includes('poison'))).toEqual(Array(4).fill(['poison']));
  });

  it('a completion the store refuses: the 99 completing with it are recorded; it is retried alone, then left to recovery', async () => {
    const seen: string[] = [];
    const { e, calls, errors } = await poisonBatch('complete', () => 'imported', 1, (e) => {
      e.uno.events.on('job:completed', ({ job }) => seen.push(`job:completed ${job.id}`));
      e.uno.events.on('job:lease-lost', ({ jobId }) => seen.push(`job:lease-lost ${jobId}`));
    });

    expect((await e.storage.counts()).completed).toBe(99);
    expect((await e.queue.getJob('poison'))!.state).toBe('active'); // unknown outcome: lease recovery decides
    expect(seen.filter((s) => s.startsWith('job:completed'))).toHaveLength(99);
    expect(seen.filter((s) => s.includes('poison'))).toEqual([]); // neither completed nor reported as a lost lease
    expect(errors).toHaveLength(4);
    expect(calls[0]).toHaveLength(100);
    expect(calls.slice(1).filter((c) => c.includes('poison'))).toEqual(Array(4).fill(['poison'])); // split from the batch, then 3 retries
    expect(e.uno.activeCounts()).toEqual({ default: 0 }); // its attempt settled: the lease is no longer held here
  });
});
