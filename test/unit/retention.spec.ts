import { describe, it, expect, afterEach } from '@jest/globals';
import type { JobStorage, RetentionPolicy } from '../../lib/index.js';
import { createEngine } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

/** Record every prune call the engine makes. */
function spyPrune(storage: JobStorage): { policy: RetentionPolicy; limit: number; removed: number }[] {
  const calls: { policy: RetentionPolicy; limit: number; removed: number }[] = [];
  const prune = storage.prune.bind(storage);
  storage.prune = async (policy, limit) => {
    const removed = await prune(policy, limit);
    calls.push({ policy, limit, removed });
    return removed;
  };
  return calls;
}

describe('retention pacing', () => {
  it('keeps the store near its limit while jobs complete at full speed, long before the prune interval', async () => {
    // maxCount 200: a round starts every 100 completed jobs (a tenth of maxCount, at least 100).
    env = createEngine({ retention: { completed: { maxCount: 200 } } });
    const { uno, queue, clock } = env;
    uno.register('quick', () => 'ok');
    let done = 0;
    const samples: Promise<number>[] = [];
    uno.events.on('job:completed', () => {
      if (++done % 50 === 0) samples.push(queue.counts().then((c) => c.completed));
    });
    await uno.start();
    await queue.enqueueMany(Array.from({ length: 3000 }, (_, i) => ({ task: 'quick', payload: { i } })));
    for (let i = 0; i < 100 && done < 3000; i++) await clock.advance(10); // one second of engine time at most
    expect(done).toBe(3000);
    await clock.advance(10);
    const seen = await Promise.all(samples);
    expect(seen).toHaveLength(60);
    // Bounded all along: the limit, plus the jobs finished between two rounds and during one.
    expect(Math.max(...seen)).toBeLessThanOrEqual(200 + 2 * 100);
    expect((await queue.counts()).completed).toBeLessThanOrEqual(200 + 100);
  });

  it('a round started by finished jobs prunes only the kind that piled up', async () => {
    env = createEngine({ retention: { completed: { maxCount: 100 } } });
    const { uno, queue, clock, storage } = env;
    const calls = spyPrune(storage);
    uno.register('quick', () => 'ok');
    await uno.start();
    await clock.advance(1); // the first periodic round: nothing to prune yet
    expect(calls.map((c) => c.removed)).toEqual([0]);
    expect(calls[0]!.policy.failed.maxCount).toBe(100_000);
    calls.length = 0;
    await queue.enqueueMany(Array.from({ length: 150 }, () => ({ task: 'quick', payload: null })));
    await clock.advance(10);
    // 100 completions started a round for completed jobs only; the failed rule keeps everything in it.
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls[0]!.policy.failed).toEqual({ maxAgeMs: Infinity, maxCount: Infinity });
    expect(calls[0]!.policy.completed.maxCount).toBe(100);
    expect((await queue.counts()).completed).toBeLessThanOrEqual(150);
  });

  it('after a round that found the store over its limits, the next comes after the maintenance interval, not the prune interval', async () => {
    env = createEngine({ retention: { completed: { maxCount: 10 } }, maintenanceIntervalMs: 1000 });
    const { uno, queue, clock, storage } = env;
    // Completed jobs put in place behind the engine's back (another process, say): only rounds on a timer see them.
    await storage.insert(Array.from({ length: 30 }, (_, i) => ({
      id: `j${i}`, task: 'x', queue: 'default', payload: 'null', priority: 'normal' as const, maxAttempts: 1,
      delayMs: 0, runAt: null, timeoutMs: null, backoff: null,
    })));
    const claimed = await storage.claim({ queue: 'default', limit: 30, leaseMs: 60_000, workerId: 'w' });
    const calls = spyPrune(storage);
    // Limit 10_000 per call: a call that deletes everything over comes back short and ends the round.
    await storage.complete(claimed.slice(0, 15).map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
    await uno.start();
    await clock.advance(1);
    expect(calls.map((c) => c.removed)).toEqual([5]);
    await storage.complete(claimed.slice(15).map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
    await clock.advance(1000);
    expect(calls.map((c) => c.removed)).toEqual([5, 15]);
    expect((await queue.counts()).completed).toBe(10);
    // Within the limits now: the next periodic round waits for the prune interval (60 s).
    await clock.advance(1000);
    expect(calls).toHaveLength(3);
    await clock.advance(59_000);
    expect(calls).toHaveLength(3);
    await clock.advance(1000);
    expect(calls).toHaveLength(4);
  });
});
