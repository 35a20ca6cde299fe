import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, defineTask, type BatchItem } from '../../lib/index.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { createEngine, deferred } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

/** Settle what the workers do in a few rounds of the manual clock. */
async function settle(ms = 10, rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await env!.clock.advance(ms);
    await flushMicrotasks();
  }
}

/**
 * Registers 'resize' as a batch task (batches of 3 within 50 ms) whose batches wait for `release`, then return each
 * payload times 10; `items()` is the latest batch.
 */
function heldBatches() {
  const release = deferred();
  let latest: BatchItem<number>[] = [];
  env!.uno.register('resize', async (batch: BatchItem<number>[]) => {
    latest = batch;
    await release.promise;
    return batch.map((i) => i.payload * 10);
  }, { batch: { size: 3, waitMs: 50 } });
  return { release, items: () => latest };
}

describe('batch handlers', () => {
  it('get up to size payloads at once, the rest after waitMs; each job keeps its own result', async () => {
    env = createEngine({ worker: { concurrency: 10, criticalSlots: 0 } });
    const calls: number[][] = [];
    env.uno.register('index.documents', (items: BatchItem<{ n: number }>[]) => {
      calls.push(items.map((i) => i.payload.n));
      return items.map((i) => ({ doubled: i.payload.n * 2, job: i.ctx.job.id }));
    }, { batch: { size: 3, waitMs: 50 } });
    await env.uno.start();
    const jobs = await env.queue.enqueueMany([1, 2, 3, 4, 5].map((n) => ({ task: 'index.documents', payload: { n } })));
    await flushMicrotasks();
    expect(calls).toEqual([[1, 2, 3]]);
    await env.clock.advance(49);
    expect(calls).toHaveLength(1);
    await settle(1);
    expect(calls).toEqual([[1, 2, 3], [4, 5]]);
    for (const [i, job] of jobs.entries()) {
      const stored = (await env.queue.getJob(job.id))!;
      expect(stored.state).toBe('completed');
      expect(stored.result).toEqual({ doubled: (i + 1) * 2, job: job.id });
    }
  });

  it('an Error entry fails that job alone, which retries alone', async () => {
    env = createEngine({ worker: { concurrency: 10, criticalSlots: 0 } });
    const calls: string[][] = [];
    let failed = false;
    env.uno.register('index.documents', (items: BatchItem<string>[]) => {
      calls.push(items.map((i) => i.payload));
      return items.map((i) => {
        if (i.payload !== 'bad' || failed) return i.payload.toUpperCase();
        failed = true;
        return new Error('mapping rejected');
      });
    }, { batch: { size: 3, waitMs: 20 }, attempts: 2 });
    await env.uno.start();
    const [a, bad, c] = await env.queue.enqueueMany(['a', 'bad', 'c'].map((payload) => ({ task: 'index.documents', payload })));
    await settle(25);
    expect(calls).toEqual([['a', 'bad', 'c'], ['bad']]);
    expect((await env.queue.getJob(a!.id))!.result).toBe('A');
    expect((await env.queue.getJob(c!.id))!.attempt).toBe(1);
    const retried = (await env.queue.getJob(bad!.id))!;
    expect(retried.state).toBe('completed');
    expect(retried.attempt).toBe(2);
    expect(retried.errors.map((e) => e.message)).toEqual(['mapping rejected']);
  });

  it('a throw fails every job of the batch; a reply of the wrong length fails them with a clear error', async () => {
    env = createEngine({ worker: { concurrency: 10, criticalSlots: 0 } });
    env.uno.register('throws', () => {
      throw new Error('bulk API down');
    }, { batch: { size: 2, waitMs: 5 } });
    env.uno.register('short', (items: BatchItem[]) => items.slice(1).map(() => 'x'), { batch: { size: 2, waitMs: 5 } });
    await env.uno.start();
    const thrown = await env.queue.enqueueMany([1, 2].map((payload) => ({ task: 'throws', payload })));
    const short = await env.queue.enqueueMany([1, 2].map((payload) => ({ task: 'short', payload })));
    await settle();
    for (const job of thrown) expect((await env.queue.getJob(job.id))!.errors.at(-1)!.message).toBe('bulk API down');
    for (const job of short) {
      const stored = (await env.queue.getJob(job.id))!;
      expect(stored.state).toBe('failed');
      expect(stored.errors.at(-1)!.message).toBe(
        'The batch handler of task "short" got 2 items and returned 1 results: return one entry per item, in order (its result, or an Error to fail that job alone), or nothing to complete them all.',
      );
    }
  });

  it('a job cancelled or timed out while its batch runs ends alone; what the batch returns for it is discarded', async () => {
    env = createEngine({ worker: { concurrency: 10, criticalSlots: 0 } });
    const { release, items } = heldBatches();
    await env.uno.start();
    const [kept, cancelled, late] = await env.queue.enqueueMany([
      { task: 'resize', payload: 1 },
      { task: 'resize', payload: 2 },
      { task: 'resize', payload: 3, options: { timeout: 30 } },
    ]);
    await flushMicrotasks();
    expect(items().map((i) => i.payload)).toEqual([1, 2, 3]);
    await env.queue.cancel(cancelled!.id);
    await settle(10, 4);
    expect(items().map((i) => i.ctx.signal.aborted)).toEqual([false, true, true]);
    expect((await env.queue.getJob(late!.id))!.state).toBe('failed');
    release.resolve();
    await settle();
    const stored = await Promise.all([kept, cancelled, late].map((job) => env!.storage.get(job!.id)));
    expect(stored.map((job) => [job!.state, job!.result])).toEqual([['completed', 10], ['cancelled', null], ['failed', null]]);
    expect(stored[2]!.errors.map((e) => e.name)).toEqual(['JobTimeoutError']);
  });

  it('a job whose lease is lost while its batch runs ends alone; what the batch returns for it is not written', async () => {
    env = createEngine({ worker: { concurrency: 10, criticalSlots: 0, leaseMs: 3000, heartbeatMs: 1000 } });
    const { release, items } = heldBatches();
    const lost: string[] = [];
    env.uno.events.on('job:lease-lost', ({ jobId }) => lost.push(jobId));
    // The store answers the renewal of the second job as no longer held (another worker took it over).
    let takenOver = '';
    const heartbeat = env.storage.heartbeat.bind(env.storage);
    env.storage.heartbeat = async (...args: Parameters<typeof heartbeat>) => [...(await heartbeat(...args)), ...(args[0].some((l) => l.id === takenOver) ? [takenOver] : [])];
    await env.uno.start();
    const jobs = await env.queue.enqueueMany([1, 2, 3].map((payload) => ({ task: 'resize', payload })));
    await flushMicrotasks();
    expect(items().map((i) => i.payload)).toEqual([1, 2, 3]);
    takenOver = jobs[1]!.id;
    await settle(100, 15); // past a renewal
    expect(items().map((i) => i.ctx.signal.aborted)).toEqual([false, true, false]);
    expect(lost).toEqual([takenOver]);
    release.resolve();
    await settle();
    const stored = await Promise.all(jobs.map((job) => env!.storage.get(job.id)));
    // The second job's outcome is the new owner's to write: this worker wrote nothing for it.
    expect(stored.map((job) => [job!.state, job!.result])).toEqual([['completed', 10], ['active', null], ['completed', 30]]);
  });

  it('at shutdown a gathering batch runs when its waitMs is up within the grace period; past it, its jobs go back unrun', async () => {
    env = createEngine({ worker: { concurrency: 10, criticalSlots: 0 } });
    const calls: number[][] = [];
    env.uno.register('soon', (batch: BatchItem<number>[]) => void calls.push(batch.map((i) => i.payload)), { batch: { size: 5, waitMs: 100 } });
    env.uno.register('later', (batch: BatchItem<number>[]) => void calls.push(batch.map((i) => i.payload)), { batch: { size: 5, waitMs: 10_000 } });
    await env.uno.start();
    const soon = await env.queue.enqueueMany([1, 2].map((payload) => ({ task: 'soon', payload })));
    const later = await env.queue.enqueueMany([3, 4].map((payload) => ({ task: 'later', payload })));
    await flushMicrotasks();
    expect(calls).toEqual([]);
    const stopped = env.uno.stop(1000);
    for (let i = 0; i < 12; i++) {
      await env.clock.advance(100);
      await flushMicrotasks();
    }
    await stopped;
    expect(calls).toEqual([[1, 2]]);
    for (const job of soon) expect((await env.storage.get(job.id))!.state).toBe('completed');
    // Handed back unrun: waiting again, the attempt not counted.
    for (const job of later) expect((await env.storage.get(job.id))).toMatchObject({ state: 'waiting', attempt: 0 });
  });

  it('a reference with batch options registers a typed batch handler; returning nothing completes every job', async () => {
    env = createEngine({ worker: { concurrency: 4, criticalSlots: 0 } });
    const Index = defineTask<{ id: string }, null>('index.typed', { batch: { size: 4, waitMs: 10 } });
    const seen: string[] = [];
    env.uno.register(Index, (items: BatchItem<{ id: string }>[]) => {
      seen.push(...items.map((i) => i.payload.id));
    }, {});
    await env.uno.start();
    const jobs = await Promise.all(['a', 'b'].map((id) => env!.queue.enqueue(Index, { id })));
    await settle();
    expect(seen).toEqual(['a', 'b']);
    for (const job of jobs) expect((await env.queue.getJob(job.id))!.state).toBe('completed');
  });

  it.each([
    [{ size: 0, waitMs: 10 }],
    [{ size: 10 }],
    [{ size: 10, waitMs: -1 }],
    [{ size: 1.5, waitMs: 10 }],
    ['big'],
  ])('refuses batch %j at registration', (batch) => {
    env = createEngine();
    expect(() => env!.uno.register('t', () => null, { batch: batch as never })).toThrow(ConfigurationError);
    expect(() => env!.uno.register('t', () => null, { batch: batch as never })).toThrow(
      /batch .* is invalid: pass \{ size: a whole number >= 1 \(most jobs per handler call\), waitMs: a whole number of ms from 0 to 60000/,
    );
  });
});
