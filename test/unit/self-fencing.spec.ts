import { describe, it, expect, afterEach } from '@jest/globals';
import { ManualClock, SHUTDOWN_WRITE_MS } from '../../lib/contract/clock.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import type { ClaimedJob } from '../../lib/contract/job.js';
import type { ClaimRequest, Lease } from '../../lib/contract/job-storage.js';
import type { JobContext } from '../../lib/index.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { createEngine, deferred } from '../support/engine.js';

/** A memory store that can stop answering: calls then fail (`split`) or never settle (`hang`). */
class FlakyStorage extends MemoryJobStorage {
  mode: 'ok' | 'split' | 'hang' = 'ok';
  heartbeats = 0;
  private gate<T>(call: () => Promise<T>): Promise<T> {
    if (this.mode === 'split') return Promise.reject(new Error('network split'));
    if (this.mode === 'hang') return new Promise<T>(() => {});
    return call();
  }
  override heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
    this.heartbeats++;
    return this.gate(() => super.heartbeat(leases, leaseMs));
  }
  override release(leases: readonly Lease[]): Promise<void> {
    return this.gate(() => super.release(leases));
  }
  override promoteDue(): Promise<number> {
    return this.gate(() => super.promoteDue());
  }
}

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  if (env) (env.storage as FlakyStorage).mode = 'ok';
  await env?.uno.stop(0);
  env = null;
});

/** An engine with a 3 s lease renewed every second, running one job whose handler waits for the test. */
async function runningJob(mode: 'split' | 'hang') {
  const clock = new ManualClock();
  const storage = new FlakyStorage({ clock });
  const e = (env = createEngine({ clock, storage, worker: { leaseMs: 3000, heartbeatMs: 1000, concurrency: 1 }, maintenanceIntervalMs: 60_000 }));
  const done = deferred();
  const aborted: { at: number; reason: Error }[] = [];
  e.uno.register('slow', (_p: unknown, ctx: JobContext) => {
    ctx.signal.addEventListener('abort', () => aborted.push({ at: clock.now(), reason: ctx.signal.reason as Error }));
    return done.promise;
  });
  await e.uno.start();
  const job = await e.queue.enqueue('slow', null);
  await clock.advance(10);
  expect((await storage.get(job.id))!.state).toBe('active');
  storage.mode = mode;
  return { e, clock, storage, job, done, aborted };
}

describe('self-fencing: a worker that cannot renew its lease gives the job up before the store can', () => {
  it('aborts the handler before its lease expires in the store, and writes no outcome', async () => {
    const { clock, storage, job, done, aborted } = await runningJob('split');
    const leaseEnd = (await storage.get(job.id))!.leaseExpiresAt!.getTime();
    await clock.advance(2600);
    expect(aborted).toEqual([]); // renewals failed, but the lease it holds is still good for a while
    await clock.advance(300);
    expect(aborted).toHaveLength(1);
    expect(aborted[0]!.reason.name).toBe('LeaseLostError');
    expect(aborted[0]!.reason.message).toContain('could not renew its lease');
    expect(aborted[0]!.at).toBeLessThan(leaseEnd); // before another worker could take the job over
    done.resolve();
    await flushMicrotasks();
    storage.mode = 'ok';
    const stored = (await storage.get(job.id))!;
    expect(stored.state).toBe('active'); // no outcome written: the store recovers it
    expect(stored.errors).toEqual([]);
    await clock.advance(500);
    expect(await storage.recoverExpired()).toEqual({ recovered: 1, stalled: 1 });
    const back = (await storage.get(job.id))!;
    expect(back.state).toBe('waiting');
    expect(back.attempt).toBe(0);
  });

  it('a renewal that never answers does not stop the next ones, and the job is still given up in time', async () => {
    const { clock, storage, job, aborted } = await runningJob('hang');
    const leaseEnd = (await storage.get(job.id))!.leaseExpiresAt!.getTime();
    const before = storage.heartbeats;
    await clock.advance(2900);
    expect(storage.heartbeats - before).toBeGreaterThanOrEqual(2);
    expect(aborted).toHaveLength(1);
    expect(aborted[0]!.at).toBeLessThan(leaseEnd);
  });
});

/** A memory store whose next claim answers only after `delayMs` on the manual clock (a reply held up by a partition). */
class LateClaimStorage extends MemoryJobStorage {
  delayMs = 0;
  constructor(private readonly manual: ManualClock) {
    super({ clock: manual });
  }
  override async claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    const claimed = await super.claim(request);
    if (claimed.length === 0 || this.delayMs === 0) return claimed;
    const delay = this.delayMs;
    this.delayMs = 0;
    await new Promise((resolve) => this.manual.setTimeout(() => resolve(undefined), delay));
    return claimed;
  }
}

describe('self-fencing: a claim answered past the worker\'s own deadline', () => {
  it('hands the jobs back unstarted instead of running them on leases about to expire', async () => {
    const clock = new ManualClock();
    const storage = new LateClaimStorage(clock);
    const e = (env = createEngine({ clock, storage, worker: { leaseMs: 3000, heartbeatMs: 1000, concurrency: 2 }, maintenanceIntervalMs: 60_000 }));
    const runs: string[] = [];
    const aborted: string[] = [];
    e.uno.register('late', async (_p: unknown, ctx: JobContext) => {
      runs.push(ctx.job.id);
      ctx.signal.addEventListener('abort', () => aborted.push(ctx.job.id));
      await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), 1000));
    });
    await e.uno.start();
    await clock.advance(500);
    // Claimed at 500 (store lease until 3500, this worker's own deadline 3200); the reply arrives at 3300.
    storage.delayMs = 2800;
    const jobs = await e.queue.enqueueMany([{ task: 'late', payload: 1 }, { task: 'late', payload: 2 }]);
    await clock.advance(2800);
    // Another worker's maintenance recovers the leases that ran out at 3500.
    await clock.advance(300);
    await storage.recoverExpired();
    await clock.advance(2000);
    await flushMicrotasks();
    // Each ran once, on a lease claimed in time, and was never aborted: attempt 1, no stall.
    expect(aborted).toEqual([]);
    expect(runs.sort()).toEqual(jobs.map((j) => j.id).sort());
    for (const job of jobs) {
      expect(await storage.get(job.id)).toMatchObject({ state: 'completed', attempt: 1, stalls: 0, errors: [] });
    }
  });
});

describe('bounded shutdown', () => {
  it('stop() returns within the grace period plus the shutdown wait when the store never answers', async () => {
    const { e, clock } = await runningJob('hang');
    let stopped = false;
    void e.uno.stop(1000).then(() => (stopped = true));
    await clock.advance(1000 + SHUTDOWN_WRITE_MS - 50);
    expect(stopped).toBe(false);
    await clock.advance(SHUTDOWN_WRITE_MS + 100); // the release and the housekeeping round each wait at most this long
    expect(stopped).toBe(true);
  });

  it('a job handed back at shutdown gets no outcome, even when the release fails: lease expiry puts it back, attempt not counted', async () => {
    const { e, clock, storage, job, aborted } = await runningJob('split'); // release (and renewals) fail; outcome writes would not
    let stopped = false;
    void e.uno.stop(0).then(() => (stopped = true));
    await clock.advance(SHUTDOWN_WRITE_MS + 100); // the failed release; the last housekeeping round waits at most this long
    expect(stopped).toBe(true);
    expect(aborted.map((a) => a.reason.message)).toEqual([`Job "${job.id}" was handed back to the queue because this worker is shutting down: another worker runs it again without using an attempt. Stop work when ctx.signal aborts, and give handlers time with worker.shutdownGraceMs.`]);
    await flushMicrotasks();
    expect(await storage.get(job.id)).toMatchObject({ state: 'active', errors: [] });
    storage.mode = 'ok';
    await clock.advance(3000 - SHUTDOWN_WRITE_MS);
    expect(await storage.recoverExpired()).toEqual({ recovered: 1, stalled: 1 });
    expect(await storage.get(job.id)).toMatchObject({ state: 'waiting', attempt: 0 });
  });
});

describe('lease deadlines', () => {
  it('a settled job leaves no deadline behind: the pool keeps one per lease it holds, not one per job since the last renewal', async () => {
    const clock = new ManualClock();
    const e = (env = createEngine({ clock, worker: { leaseMs: 60_000, heartbeatMs: 20_000, concurrency: 5 }, maintenanceIntervalMs: 60_000 }));
    const gate = deferred();
    let done = 0;
    e.uno.register('quick', async () => void done++);
    e.uno.register('held', () => gate.promise);
    await e.uno.start();
    const held = await e.queue.enqueue('held', null);
    await e.queue.enqueueMany(Array.from({ length: 40 }, () => ({ task: 'quick', payload: null })));
    for (let i = 0; i < 200 && done < 40; i++) await clock.advance(1);
    expect(done).toBe(40);
    await flushMicrotasks();
    // Internal: the pool's deadlines by token (see WorkerPool.selfFence). No renewal ran (heartbeatMs is 20 s).
    const pool = (e.uno as unknown as { pool: { leaseUntil: Map<string, number> } }).pool;
    expect(pool.leaseUntil.size).toBe(1);
    expect((await e.storage.get(held.id))!.state).toBe('active');
    gate.resolve();
  });
});
