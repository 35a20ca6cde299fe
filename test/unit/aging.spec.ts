import { describe, it, expect, afterEach } from '@jest/globals';
import type { Priority } from '../../lib/index.js';
import { PrefetchBuffer } from '../../lib/core/prefetch.js';
import type { ClaimRequest } from '../../lib/contract/job-storage.js';
import { createEngine } from '../support/engine.js';

/**
 * What aging promises (docs/worker.md): a job ready longer than `agingMs` competes one level higher, so under a
 * steady stream of jobs one level above it, it starts within `agingMs` plus the jobs already started or claimed
 * ahead; a stream two levels above still holds it back.
 */
const AGING = 1000;
const STEP = 100;
let env: ReturnType<typeof createEngine> | null = null;
const realTimer = PrefetchBuffer.now;
afterEach(async () => {
  const stopping = env?.uno.stop(0);
  await env?.clock.advance(STEP); // handlers wait on the manual clock
  await stopping;
  env = null;
  PrefetchBuffer.now = realTimer;
});


/**
 * Concurrency 1, every handler takes 100 ms of the manual clock, and a new `streamed` job arrives every 100 ms, so
 * the worker is never idle. The old job waits from the start. Returns when (ms after the start) it started, or null.
 */
async function stream(old: Priority, streamed: Priority, prefetch: number, agingMs: number | null = AGING): Promise<number | null> {
  const e = (env = createEngine({ worker: { concurrency: 1, criticalSlots: 0, agingMs: agingMs ?? undefined, prefetch } }));
  // The prefetch sizing measures on the manual clock, each claim costing 2 ms: a buffer of about one job.
  let extra = 0;
  const t0 = e.clock.now();
  PrefetchBuffer.now = () => e.clock.now() + extra;
  const claim = e.storage.claim.bind(e.storage);
  e.storage.claim = async (request: ClaimRequest) => {
    extra += 2;
    return claim(request);
  };
  let oldStartedAt: number | null = null;
  e.uno.register('work', (id: string) => {
    if (id === 'old') oldStartedAt = e.clock.now() - t0;
    return new Promise<void>((resolve) => e.clock.setTimeout(resolve, STEP));
  });
  await e.uno.start();
  // A backlog of two streamed jobs, then the old one, then one more every step.
  await e.queue.enqueueMany([0, 1].map((i) => ({ task: 'work', payload: `s${i}`, options: { priority: streamed } })));
  await e.queue.enqueue('work', 'old', { priority: old });
  for (let i = 2; i < 60 && oldStartedAt === null; i++) {
    await e.clock.advance(STEP);
    await e.queue.enqueue('work', `s${i}`, { priority: streamed });
  }
  return oldStartedAt;
}

describe('aging', () => {
  it.each([0, 20])('an old low job starts within agingMs (plus the job running then) under a steady stream of normal jobs (prefetch %i)', async (prefetch) => {
    const startedAt = await stream('low', 'normal', prefetch);
    expect(startedAt).not.toBeNull();
    expect(startedAt!).toBeGreaterThanOrEqual(AGING - STEP); // strict priority until then
    expect(startedAt!).toBeLessThanOrEqual(AGING + 2 * STEP);
  });

  it('an old normal job starts within agingMs under a steady stream of high jobs', async () => {
    const startedAt = await stream('normal', 'high', 0);
    expect(startedAt).not.toBeNull();
    expect(startedAt!).toBeLessThanOrEqual(AGING + 2 * STEP);
  });

  it('aging lifts one level only: a steady stream of high jobs keeps an old low job waiting', async () => {
    expect(await stream('low', 'high', 0)).toBeNull(); // 6 s, six times agingMs, and it has not started
  });

  it('without aging, a steady stream of normal jobs keeps a low job waiting', async () => {
    expect(await stream('low', 'normal', 0, null)).toBeNull();
  });
});
