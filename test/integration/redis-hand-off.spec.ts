import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll, afterEach } from '@jest/globals';
import { Redis } from 'ioredis';
import { UnoJobs } from '../../lib/index.js';
import type { ClaimRequest } from '../../lib/storage.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
import { HAND_OFF_HOLD_MS } from '../../lib/storage/redis/hand-offs.js';
import { expectEveryJobRanOnceBut, mostLeasesHeld, readRuns, WorkerProcesses } from '../support/worker-processes.js';
import { deleteKeys, subscriptionsConfirmed } from '../support/redis-keys.js';

// The hand-off (docs/storage-redis.md): a worker whose claim found its queue empty is parked in Redis, and the next
// one-job insert claims the job for it in the insert's own script. These tests check what the insert writes, that the
// worker's next claim gets the job without another claim script, and what happens when the parked worker cannot take
// it: paused queue, a claim for fewer slots, a worker that stopped, died, or froze with the job.

const connection = { host: '127.0.0.1', port: 6379 };
const prefix = `uno-test-handoff-${randomUUID().slice(0, 8)}`;
const redis = new Redis(connection);
const stores: RedisJobStorage[] = [];
let n = 0;

/**
 * A store with a wake-up listener (as a worker pool has), its subscriptions confirmed to the store itself: a claim
 * parks only then. Redis counts a subscriber (NUMSUB) before the store has read the confirmation, so that alone
 * raced the first claim (a clean-clone CI run once found nothing parked).
 */
async function store(): Promise<{ storage: RedisJobStorage; pokes: string[]; p: string }> {
  const p = `${prefix}-${++n}`;
  const storage = new RedisJobStorage({ connection, prefix: p });
  stores.push(storage);
  await storage.init();
  const pokes: string[] = [];
  storage.subscribe((queue) => pokes.push(queue));
  await waitFor(async () => ((await redis.pubsub('NUMSUB', `${p}:wake`)) as [string, number])[1] === 1, 5000, 'the subscription');
  await subscriptionsConfirmed(storage);
  return { storage, pokes, p };
}

const claim = (over: Partial<ClaimRequest> = {}): ClaimRequest => ({ queue: 'q', limit: 10, leaseMs: 30_000, workerId: 'w1', startNow: 2, ...over });
const parked = (p: string) => redis.zrange(`{${p}:q}:parked`, '0', '-1');

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await deleteKeys(redis, `{${prefix}*`);
  await redis.quit();
});

describe('Redis hand-off to a parked worker', () => {
  it('an insert claims the job for the parked worker, one per free slot, and its next claim gets it with the lease age', async () => {
    const { storage, pokes, p } = await store();
    expect(await storage.claim(claim())).toHaveLength(0);
    expect(await parked(p)).toHaveLength(1);

    const a = newJob({ id: 'a', maxAttempts: 1, payload: JSON.stringify({ text: 'two\nlines, Zoë ☃', n: 2 }), headers: { trace: 'x' }, timeoutMs: 5000 });
    const inserted = Date.now();
    await storage.insert([a]);
    const insertedAt = performance.now();
    // Claimed by the insert's own script: active for w1 before any claim of the worker ran.
    const stored = (await storage.get('a'))!;
    expect(stored).toMatchObject({ state: 'active', workerId: 'w1', attempt: 1 });
    expect(stored.startedAt!.getTime()).toBeGreaterThanOrEqual(inserted - 1000);
    await waitFor(() => pokes.includes('q'), 5000, 'the worker to be woken');

    await new Promise((resolve) => setTimeout(resolve, 50));
    const claimedAt = performance.now();
    const reply = await storage.claim(claim());
    expect(reply.map((c) => c.job.id)).toEqual(['a']);
    // Decoded from the hand-off's message, the job is what Redis stores (payload, spec, lease, start and all).
    expect(reply[0]!.job).toEqual(await storage.get('a'));
    expect(reply[0]!.job).toMatchObject({ state: 'active', attempt: 1, workerId: 'w1', payload: JSON.parse(a.payload), maxAttempts: 1, timeoutMs: 5000 });
    // The lease began before the insert returned: the worker counts its deadline from no later than that.
    expect(reply.leaseAgeMs).toBeGreaterThanOrEqual(claimedAt - insertedAt);
    expect(reply.drained).toBe(true);
    // Its payload's UTF-8 size, which the prefetch buffer weighs it by, comes with it as from a claim's reply.
    expect(reply[0]!.payloadBytes).toBe(Buffer.byteLength(a.payload, 'utf8'));
    // The token is the job's fencing token: the completion is accepted.
    expect(await storage.complete([{ id: 'a', token: reply[0]!.token, result: '1' }])).toEqual([true]);
    expect((await storage.get('a'))!.state).toBe('completed');

    // Two free slots: the second insert takes the last one, the third waits in the queue as usual.
    await storage.insert([newJob({ id: 'b' })]);
    expect((await storage.get('b'))!.state).toBe('active');
    expect(await parked(p)).toHaveLength(0);
    await storage.insert([newJob({ id: 'c' })]);
    expect((await storage.get('c'))!.state).toBe('waiting');
  });

  it('parks no worker that claims for a priority, for no free slot, with task or flow limits; hands nothing of a paused queue, a batch, a delayed, grouped or deduplicated job', async () => {
    const { storage, p } = await store();
    await storage.claim(claim({ priorities: ['critical'] }));
    await storage.claim(claim({ workerId: 'w2', startNow: 0 }));
    await storage.claim(claim({ workerId: 'w3', taskLimits: { 'test.task': 5 } }));
    await storage.claim(claim({ workerId: 'w4', flow: { queue: { concurrency: 5 } } }));
    expect(await parked(p)).toHaveLength(0);

    await storage.claim(claim());
    expect(await parked(p)).toHaveLength(1);
    await storage.insert([newJob({ id: 'd1', delayMs: 60_000 })]);
    await storage.insert([newJob({ id: 'g1', group: 'tenant-1' })]);
    await storage.insert([newJob({ id: 'm1' }), newJob({ id: 'm2' })]);
    await storage.insert([newJob({ id: 'k1', dedupe: { mode: 'window', key: 'k', ttlMs: 60_000 } })]);
    expect((await Promise.all(['d1', 'g1', 'm1', 'm2', 'k1'].map(async (id) => (await storage.get(id))!.state)))).toEqual(['scheduled', 'waiting', 'waiting', 'waiting', 'waiting']);
    expect(await parked(p)).toHaveLength(1);

    await storage.pause({ queue: 'q' });
    expect(await parked(p)).toHaveLength(0);
    await storage.insert([newJob({ id: 'x' })]);
    expect((await storage.get('x'))!.state).toBe('waiting');
  });

  it('a handed job the worker cannot take (no free slot now, or not claimed in time) goes back to waiting, attempt not counted', async () => {
    const { storage, p } = await store();
    await storage.claim(claim());
    await storage.insert([newJob({ id: 'full' })]);
    expect((await storage.get('full'))!.state).toBe('active');
    await waitFor(async () => (await redis.hget(`{${p}:q}:job:full`, 'worker')) === 'w1', 5000, 'the hand-off');
    // Its next claim has no slot to start a job in: the job is released, and the claim takes it back as usual.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const reply = await storage.claim(claim({ startNow: 0 }));
    await waitFor(async () => (await storage.get('full'))!.state !== 'active' || reply.length > 0, 5000, 'the release');
    const all = reply.length > 0 ? reply : await storage.claim(claim({ startNow: 0 }));
    expect(all.map((c) => c.job.id)).toEqual(['full']);
    expect(all[0]!.job.attempt).toBe(1);

    // Parked again; a job that no claim collects goes back after the hold.
    const { storage: other, p: p2 } = await store();
    await other.claim(claim({ startNow: 1 }));
    await other.insert([newJob({ id: 'held' })]);
    expect((await other.get('held'))!.state).toBe('active');
    await new Promise((resolve) => setTimeout(resolve, HAND_OFF_HOLD_MS + 300));
    await waitFor(async () => (await other.get('held'))!.state === 'waiting', 5000, 'the hold to end');
    expect((await other.get('held'))!.attempt).toBe(0);
    expect(await parked(p2)).toHaveLength(0);
  });

  it('an entry parked longer ago than its lease is dropped by the next insert, and the job waits', async () => {
    const { storage, p } = await store();
    await storage.claim(claim({ leaseMs: 50 }));
    expect(await parked(p)).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 120));
    await storage.insert([newJob({ id: 'late' })]);
    expect((await storage.get('late'))!.state).toBe('waiting');
    expect(await parked(p)).toHaveLength(0);
  });

  it('a store that closes takes its workers out of the parked set', async () => {
    const { storage, p } = await store();
    await storage.claim(claim());
    expect(await parked(p)).toHaveLength(1);
    await storage.close();
    expect(await parked(p)).toHaveLength(0);
    const producer = new RedisJobStorage({ connection, prefix: p });
    stores.push(producer);
    await producer.init();
    await producer.insert([newJob({ id: 'after' })]);
    expect((await producer.get('after'))!.state).toBe('waiting');
  });

  it('a worker parks soon after it starts (no job, no poll), and leaves the parked set when its pool stops (the store staying open)', async () => {
    // No listener of the test's own: the pool's is the only one.
    const p = `${prefix}-${++n}`;
    const storage = new RedisJobStorage({ connection, prefix: p });
    stores.push(storage);
    const uno = new UnoJobs({ storage, worker: { concurrency: 2, pollIntervalMs: 60_000 } });
    uno.register('ping', async () => {});
    await uno.start();
    await waitFor(async () => (await redis.zcard(`{${p}:default}:parked`)) === 1, 5000, 'the worker to park');
    await uno.stop();
    await waitFor(async () => (await redis.zcard(`{${p}:default}:parked`)) === 0, 5000, 'the unpark');
    const job = await storage.insert([newJob({ id: 'after-stop', queue: 'default', task: 'ping' })]);
    expect(job[0]!.job.state).toBe('waiting');
    expect((await storage.get('after-stop'))!.state).toBe('waiting');
  });

  it('an idle worker process runs each enqueued job through the hand-off: one claim per job, none after it', async () => {
    const { storage, p } = await store();
    const uno = new UnoJobs({ storage, worker: { concurrency: 4, pollIntervalMs: 60_000 } });
    const started: string[] = [];
    let claims = 0;
    uno.events.on('storage:claim', () => claims++);
    uno.register('ping', async (_payload, ctx) => void started.push(ctx.job.id));
    await uno.start();
    try {
      await waitFor(async () => (await redis.zcard(`{${p}:default}:parked`)) === 1, 5000, 'the worker to park');
      for (let i = 0; i < 12; i++) {
        const job = await uno.queue.enqueue('ping', { i });
        await waitFor(() => started.includes(job.id), 10_000, `job ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await waitFor(async () => (await uno.queue.counts()).completed === 12, 5000, 'every job to complete');
      // The first claim parked the worker with 4 slots; each job after that is handed over (its claim is answered
      // in this process) and the worker claims again only when its parked slots are used up: 12 jobs, 4 slots a
      // parking, so 3 parking claims, each of which found nothing.
      expect(claims).toBeGreaterThanOrEqual(12);
      expect(claims).toBeLessThanOrEqual(12 + 4 + 2);
    } finally {
      await uno.stop();
    }
  });
});

describe('Redis hand-off: a parked worker process that dies', () => {
  const fixture = fileURLToPath(new URL('./fixtures/redis-worker.mjs', import.meta.url));
  const p = `${prefix}-proc`;
  const execList = `${p}:executions`;
  const workers = new WorkerProcesses(fixture, { UNO_PREFIX: p, UNO_CONCURRENCY: '2', UNO_PREFETCH: '0', UNO_LEASE_MS: '1500', UNO_EXEC_LIST: execList });
  const storage = new RedisJobStorage({ connection, prefix: p });
  const producer = new UnoJobs({ storage, worker: { enabled: false } });
  producer.register('crash.job', async () => {}, { queue: 'crash' }); // attempts: 1, the default
  const parkedIn = () => redis.zrange(`{${p}:crash}:parked`, '0', '-1');

  beforeAll(async () => {
    await producer.start();
  });
  afterAll(async () => {
    await workers.stopAll();
    await producer.stop();
    await storage.close();
    await redis.del(execList);
  });

  it('killed while parked: the insert finds no one listening and the job waits for a live worker', async () => {
    const victim = await workers.start(0);
    await waitFor(async () => (await parkedIn()).length === 1, 10_000, 'the worker to park');
    const [member] = await parkedIn();
    const channel = member!.split('\n')[0]!;
    victim.kill('SIGKILL');
    await waitFor(async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] === 0, 10_000, 'Redis to drop the dead connection');
    const job = await producer.queue.enqueue('crash.job', {});
    expect((await producer.queue.getJob(job.id))!.state).toBe('waiting');
    expect(await parkedIn()).toEqual([]);
    await workers.start(1);
    await waitFor(async () => (await producer.queue.getJob(job.id))!.state === 'completed', 10_000, 'a live worker to run it');
    expect(await redis.lrange(execList, 0, -1)).toEqual([`${job.id}|crash-worker-1|1`]);
    await workers.stopAll();
  });

  it('jobs enqueued one by one to idle workers, one SIGKILLed mid-run: every job completes, only its in-flight jobs run twice', async () => {
    await redis.del(execList);
    const before = (await storage.counts({ queue: 'crash' })).completed;
    const procs = await Promise.all([10, 11, 12].map((i) => workers.start(i)));
    await waitFor(async () => (await parkedIn()).length === 3, 10_000, 'the three workers to park');
    const ids: string[] = [];
    const JOBS = 300;
    for (let i = 0; i < JOBS; i++) {
      const job = await producer.queue.enqueue('crash.job', { i });
      ids.push(job.id);
      // The first job meets three parked workers: the insert itself claims it for one of them.
      if (i === 0) expect((await producer.queue.getJob(job.id))!.state).not.toBe('waiting');
      if (i === 100) procs[0]!.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    // Every one of these jobs completed (the earlier tests' jobs count too): none is left for lease recovery to run later.
    await waitFor(async () => (await storage.counts({ queue: 'crash' })).completed === before + JOBS, 30_000, 'every job to complete');
    // Executions per job, in the order they started.
    const runs = await readRuns(redis, execList);
    // Concurrency 2, no prefetch: the killed worker held at most its slots' and its handed jobs' leases.
    await expectEveryJobRanOnceBut(runs, ids, 'crash-worker-10', mostLeasesHeld(2, 0), storage);
    expect((await storage.counts({ queue: 'crash' })).failed).toBe(0);
    await workers.stopAll();
  }, 60_000);

  it('frozen with a handed job, then killed: the job is recovered when its lease expires and runs once (attempts: 1)', async () => {
    await redis.del(execList);
    const victim = await workers.start(2);
    await waitFor(async () => (await parkedIn()).some((m) => m.includes('\ncrash-worker-2\n')), 10_000, 'the worker to park');
    // A worker parks only once Redis confirmed its subscriptions: the hand-off channel has its listener.
    const channel = (await parkedIn()).find((m) => m.includes('\ncrash-worker-2\n'))!.split('\n')[0]!;
    expect(((await redis.pubsub('NUMSUB', channel)) as [string, number])[1]).toBe(1);
    victim.kill('SIGSTOP');
    let job;
    try {
      job = await producer.queue.enqueue('crash.job', {});
      // Handed to the frozen process: its connection is open, so Redis published the claim to it.
      expect((await producer.queue.getJob(job.id))!).toMatchObject({ state: 'active', workerId: 'crash-worker-2' });
    } finally {
      victim.kill('SIGKILL');
    }
    await workers.start(3);
    await waitFor(async () => (await producer.queue.getJob(job.id))!.state === 'completed', 20_000, 'recovery and a run elsewhere');
    const done = (await producer.queue.getJob(job.id))!;
    expect(done.attempt).toBe(1);
    expect(await redis.lrange(execList, 0, -1)).toEqual([`${job.id}|crash-worker-3|1`]);
  });
});
