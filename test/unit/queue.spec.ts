import { describe, it, expect, afterEach } from '@jest/globals';
import { MemoryJobStorage, type JobContext, type JobEventMap } from '../../lib/index.js';
import { type Lease, type ClaimRequest, type ClaimedJob } from '../../lib/storage.js';
import { flushMicrotasks, ManualClock } from '../../lib/testing/index.js';
import { createEngine, deferred } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

describe('results, progress and lookups', () => {
  it('stores the return value, progress and logs, readable by getJob and waitForResult', async () => {
    env = createEngine();
    env.uno.register('report', async (p: { userId: string }, ctx: JobContext) => {
      await ctx.progress(50);
      await ctx.log('half way');
      await ctx.progress({ step: 'upload' });
      return { url: `https://x/${p.userId}.pdf`, attempt: ctx.job.attempt };
    });
    await env.uno.start();
    const job = await env.queue.enqueue('report', { userId: 'u1' });
    const result = await env.queue.waitForResult<{ url: string }>(job.id, { timeoutMs: 1000 });
    expect(result).toEqual({ url: 'https://x/u1.pdf', attempt: 1 });
    const stored = (await env.queue.getJob(job.id))!;
    expect(stored).toMatchObject({ state: 'completed', progress: { step: 'upload' }, logs: ['half way'], attempt: 1 });
    expect(stored.finishedAt).toEqual(new Date(env.clock.now()));
  });

  it('waitForResult times out with the job state, and rejects unknown ids', async () => {
    env = createEngine({ worker: { enabled: false } });
    env.uno.register('t', () => 1);
    await env.uno.start();
    const job = await env.queue.enqueue('t', null);
    const waiting = env.queue.waitForResult(job.id, { timeoutMs: 2000 });
    const check = expect(waiting).rejects.toThrow(`Job "${job.id}" did not finish within 2000 ms (it is waiting)`);
    await env.clock.advance(2100);
    await check;
    await expect(env.queue.waitForResult('missing')).rejects.toThrow('Job "missing" does not exist');
    expect(await env.queue.getJob('missing')).toBeNull();
  });

  it('a jobId deduplicates: the second enqueue returns the first job', async () => {
    env = createEngine({ worker: { enabled: false } });
    env.uno.register('t', () => 1);
    await env.uno.start();
    const a = await env.queue.enqueue('t', { v: 1 }, { jobId: 'report-u1' });
    const b = await env.queue.enqueue('t', { v: 2 }, { jobId: 'report-u1' });
    expect(b.id).toBe('report-u1');
    expect(b.payload).toEqual({ v: 1 });
    expect(b.createdAt).toEqual(a.createdAt);
    expect((await env.queue.counts()).waiting).toBe(1);
  });

  it('lists with filters and pages, and counts per queue', async () => {
    env = createEngine({ worker: { enabled: false } });
    env.uno.register('a', () => 1, { queue: 'qa' });
    env.uno.register('b', () => 1, { queue: 'qb' });
    await env.uno.start();
    for (let i = 0; i < 7; i++) await env.queue.enqueue(i % 2 ? 'a' : 'b', { i });
    const first = await env.queue.list({ limit: 5 });
    const second = await env.queue.list({ limit: 5, cursor: first.nextCursor });
    expect(first.jobs.map((j) => (j.payload as { i: number }).i)).toEqual([6, 5, 4, 3, 2]);
    expect(second.jobs.map((j) => (j.payload as { i: number }).i)).toEqual([1, 0]);
    expect(second.nextCursor).toBeNull();
    expect((await env.queue.list({ task: 'a' })).jobs).toHaveLength(3);
    expect((await env.queue.counts('qb')).waiting).toBe(4);
    expect(() => env!.queue.list({ limit: 0 })).toThrow(/limit/);
  });
});

describe('retention', () => {
  it('prunes completed and failed jobs by age and by count', async () => {
    env = createEngine({
      retention: { completed: { maxAgeMs: 60_000, maxCount: 3 }, failed: { maxAgeMs: 10_000 } },
    });
    env.uno.register('ok', () => 1);
    env.uno.register('bad', () => { throw new Error('x'); });
    await env.uno.start();
    const ok = await env.queue.enqueueMany(Array.from({ length: 5 }, () => ({ task: 'ok', payload: null })));
    const bad = await env.queue.enqueue('bad', null);
    await env.clock.advance(10);
    await env.uno.runMaintenance();
    expect(await env.queue.getJob(ok[0]!.id)).toBeNull();
    expect(await env.queue.getJob(ok[1]!.id)).toBeNull();
    expect(await env.queue.getJob(ok[4]!.id)).not.toBeNull();
    expect((await env.queue.getJob(bad.id))!.state).toBe('failed');
    await env.clock.advance(61_000);
    await env.uno.runMaintenance();
    expect(await env.queue.getJob(bad.id)).toBeNull();
    expect((await env.queue.counts()).completed).toBe(0);
  });
});

describe('events', () => {
  it('emits typed lifecycle events in order', async () => {
    env = createEngine();
    const seen: string[] = [];
    for (const name of ['job:enqueued', 'job:active', 'job:progress', 'job:retry', 'job:completed', 'job:failed'] as const) {
      env.uno.events.on(name, (payload: JobEventMap[typeof name]) => {
        const job = 'job' in payload ? payload.job : null;
        seen.push(`${name}:${job?.task}`);
      });
    }
    let calls = 0;
    env.uno.register('flaky', async (_p: unknown, ctx: JobContext) => {
      await ctx.progress(10);
      if (++calls === 1) throw new Error('first');
      return 'ok';
    }, { attempts: 2 });
    env.uno.register('bad', () => { throw new Error('no'); });
    await env.uno.start();
    await env.queue.enqueue('flaky', null);
    await env.clock.advance(10);
    await env.queue.enqueue('bad', null);
    await env.clock.advance(10);
    expect(seen).toEqual([
      'job:enqueued:flaky', 'job:active:flaky', 'job:progress:flaky', 'job:retry:flaky',
      'job:active:flaky', 'job:progress:flaky', 'job:completed:flaky',
      'job:enqueued:bad', 'job:active:bad', 'job:failed:bad',
    ]);
  });

  it('a listener that throws is reported and never breaks the job', async () => {
    env = createEngine();
    const errors: string[] = [];
    env.uno.events.on('job:completed', () => { throw new Error('listener bug'); });
    env.uno.events.on('worker:error', ({ error, context }) => errors.push(`${context}: ${error.message}`));
    env.uno.register('t', () => 'fine');
    await env.uno.start();
    const job = await env.queue.enqueue('t', null);
    await env.clock.advance(10);
    expect((await env.queue.getJob(job.id))!.state).toBe('completed');
    expect(errors).toEqual(['listener of job:completed: listener bug']);
  });
});

/** A memory store that can pretend this worker is cut off (a network split): its heartbeats and claims fail. */
class StallableStorage extends MemoryJobStorage {
  stalled = false;
  override async heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
    if (this.stalled) throw new Error('network split');
    return super.heartbeat(leases, leaseMs);
  }
  override async claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    if (this.stalled) throw new Error('network split');
    return super.claim(request);
  }
}

describe('fencing: a zombie worker can never overwrite the new owner', () => {
  it('aborts the zombie handler and rejects its outcome after another worker took over', async () => {
    const clock = new ManualClock();
    const storage = new StallableStorage({ clock });
    env = createEngine({ clock, storage, worker: { leaseMs: 3000, heartbeatMs: 1000, concurrency: 1 } });
    const zombieDone = deferred<string>();
    let zombieSignal: AbortSignal | null = null;
    const lost: string[] = [];
    env.uno.events.on('job:lease-lost', ({ jobId }) => lost.push(jobId));
    env.uno.register('charge', (_p: unknown, ctx: JobContext) => {
      zombieSignal = ctx.signal;
      return zombieDone.promise;
    }, { attempts: 3 });
    await env.uno.start();
    const job = await env.queue.enqueue('charge', null);
    await env.clock.advance(10);
    storage.stalled = true;
    await env.clock.advance(3500); // lease expired, heartbeats failed
    await env.uno.runMaintenance(); // recovers the job
    expect((await storage.get(job.id))!.state).toBe('waiting');
    // Another worker, which can reach the store, takes the job over.
    const [owner] = await MemoryJobStorage.prototype.claim.call(storage, { queue: 'default', limit: 1, leaseMs: 30_000, workerId: 'new-owner' });
    await storage.complete([{ id: job.id, token: owner!.token, result: '"owner result"' }]);
    storage.stalled = false;
    await env.clock.advance(1000);
    // It gave the job up itself before its lease could expire (self-fencing), and wrote nothing since.
    expect(zombieSignal!.aborted).toBe(true);
    expect((zombieSignal!.reason as Error).name).toBe('LeaseLostError');
    expect((zombieSignal!.reason as Error).message).toContain('could not renew its lease');
    zombieDone.resolve('zombie result');
    await flushMicrotasks();
    const final = (await storage.get(job.id))!;
    expect(final.state).toBe('completed');
    expect(final.result).toBe('owner result');
    expect(final.errors.map((e) => e.name)).toEqual(['JobStalledError']);
    expect(lost).toEqual([job.id]);
  });
});
