import { randomUUID } from 'node:crypto';
import { describe, it, expect, afterEach } from '@jest/globals';
import { Redis } from 'ioredis';
import { messages } from '../../lib/contract/errors.js';
import { UnoJobs } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { ID_INDEX_TABLE_FIELD } from '../../lib/storage/redis/codec.js';
import { sleep, waitFor } from '../../lib/testing/conformance-helpers.js';
import { report } from '../support/fault-scenarios.js';
import { TestRedisServer } from '../support/redis-server.js';

// Redis itself restarts (SIGKILL, then started again on the same port and directory): a redis-server this test
// owns, on a spare port, so the shared server is never touched. Without persistence everything is gone and the
// store must say so; with an append-only file fsynced on every write, no job is lost.

const LEASE_MS = 2000;
let server: TestRedisServer | null = null;
let uno: UnoJobs | null = null;

afterEach(async () => {
  await uno?.stop(2000);
  await uno?.storage.close();
  await server?.stop();
  uno = server = null;
});

/** An engine with a worker on the test server, recording runs and worker errors. */
async function engine(port: number) {
  const prefix = `uno-restart-${randomUUID().slice(0, 8)}`;
  const storage = new RedisJobStorage({ connection: { host: '127.0.0.1', port }, prefix });
  uno = new UnoJobs({ storage, worker: { leaseMs: LEASE_MS }, maintenanceIntervalMs: 250 });
  const runs = new Map<string, number>();
  const errors: Error[] = [];
  uno.register('restart.job', async (_payload, ctx) => {
    runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
    await sleep(20);
  }); // attempts: 1, the default
  uno.events.on('worker:error', ({ error }) => errors.push(error));
  await uno.start();
  return { uno, storage, prefix, runs, errors };
}

describe('Redis store: Redis restarted', () => {
  it('without persistence the jobs are gone, and the store says so once, with the cause and the fix', async () => {
    server = await TestRedisServer.start(['--appendonly', 'no']);
    const { uno, storage, prefix, runs, errors } = await engine(server.port);
    await uno.queue.enqueueMany(Array.from({ length: 50 }, (_, i) => ({ task: 'restart.job', payload: { i }, options: { delay: 3_600_000 } })));
    expect((await storage.counts()).scheduled).toBe(50);

    await server.crashAndRestart();
    const lost = messages.redisDataLost(`127.0.0.1:${server.port}`, prefix);
    await waitFor(() => errors.some((e) => e.message === lost), 30_000, 'the data-loss error');
    expect(errors.find((e) => e.message === lost)!.name).toBe('StorageError');
    // Gone, as the message says; the store carries on with what Redis holds now.
    expect(await storage.counts()).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: 0, failed: 0, cancelled: 0 });
    // The id index is a hash table again (written with the new marker), before any job is inserted.
    const admin = new Redis(server.port);
    expect(await admin.hkeys(`{${prefix}}:ids`)).toEqual([ID_INDEX_TABLE_FIELD]);
    await admin.quit();
    const job = await uno.queue.enqueue('restart.job', { after: true });
    await waitFor(() => runs.has(job.id), 30_000, 'a job enqueued after the restart to run');
    // Said once, not every maintenance round.
    await sleep(1000);
    expect(errors.filter((e) => e.message === lost)).toHaveLength(1);
  }, 90_000);

  // everysec too: a crash of the Redis process (not of the machine) loses no acknowledged write either, since Redis
  // writes the append-only file before it replies; only the fsync waits, for an OS crash or power loss to matter.
  it.each(['always', 'everysec'])('with appendonly yes and appendfsync %s: restarted mid-run, no job lost or failed', async (fsync) => {
    server = await TestRedisServer.start(['--appendonly', 'yes', '--appendfsync', fsync]);
    const { uno, storage, prefix, runs, errors } = await engine(server.port);
    const n = 300;
    const ids = (await uno.queue.enqueueMany(Array.from({ length: n }, (_, i) => ({ task: 'restart.job', payload: { i } })))).map((j) => j.id);
    await waitFor(() => runs.size >= n / 4, 60_000, 'a quarter of the jobs to run');
    expect((await storage.counts()).completed).toBeLessThan(n);

    await server.crashAndRestart();
    const restarted = Date.now();
    await waitFor(async () => (await storage.counts()).completed === n, 60_000, 'every job to complete');
    const recoverMs = Date.now() - restarted;

    expect(await storage.counts()).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: n, failed: 0, cancelled: 0 });
    expect(errors.map((e) => e.message)).not.toContain(messages.redisDataLost(`127.0.0.1:${server.port}`, prefix));
    let ranTwice = 0;
    for (const id of ids) {
      const job = (await storage.get(id))!;
      expect(job.attempt).toBe(1);
      expect(runs.get(id)).toBeGreaterThanOrEqual(1);
      expect(runs.get(id)).toBeLessThanOrEqual(2);
      if (runs.get(id) === 2) ranTwice++;
    }
    report(`redis restart (AOF ${fsync})`, { jobs: n, lost: 0, failed: 0, ranTwice, recoverMs });
  }, 90_000);
});
