import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { UnoJobs, type JobPage, type JobRecord } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { waitFor } from '../../lib/testing/index.js';
import { report } from '../support/fault-scenarios.js';
import { expectEveryJobRanOnceBut, mostLeasesHeld, readRuns, WorkerProcesses, CRASH } from '../support/worker-processes.js';
import { deleteKeys } from '../support/redis-keys.js';

// Four real worker processes (test/integration/fixtures/redis-worker.mjs, running dist/: `npm test` builds it first)
// share one Redis. One is SIGKILLed mid-run. Every job must complete; a job may run twice only if it was in flight
// on the killed worker, and then its second run follows a recorded lease expiry of that worker.

const { jobs: JOBS, workers: WORKERS, concurrency: CONCURRENCY, prefetch: PREFETCH, leaseMs: LEASE_MS, holdStart: HOLD_START } = CRASH;
const connection = { host: '127.0.0.1', port: 6379 };
const prefix = `uno-test-crash-${randomUUID().slice(0, 8)}`;
const execList = `${prefix}:executions`;
const fixture = fileURLToPath(new URL('./fixtures/redis-worker.mjs', import.meta.url));

const redis = new Redis(connection);
const storage = new RedisJobStorage({ connection, prefix });
const producer = new UnoJobs({ storage, worker: { enabled: false } });
producer.register('crash.job', async () => {}, { queue: 'crash' }); // attempts: 1, the default
const workers = new WorkerProcesses(fixture, {
  UNO_PREFIX: prefix,
  UNO_CONCURRENCY: String(CONCURRENCY),
  UNO_PREFETCH: String(PREFETCH),
  UNO_LEASE_MS: String(LEASE_MS),
  UNO_EXEC_LIST: execList,
});

async function cleanUp(): Promise<void> {
  await deleteKeys(redis, `{${prefix}*`);
  await redis.del(execList);
}

beforeAll(async () => {
  await producer.start();
});

afterAll(async () => {
  await workers.stopAll();
  await producer.stop();
  await storage.close();
  await cleanUp();
  await redis.quit();
});

describe('Redis store: crash of a worker process', () => {
  it('completes every job once, re-running only the jobs in flight on the killed worker', async () => {
    // The victim's 20th handler never returns, so it surely has a job in flight when it is killed (its 2 ms jobs could
    // otherwise all be finished and written at that moment on a loaded machine).
    const [victim] = await Promise.all(Array.from({ length: WORKERS }, (_, i) => workers.start(i, i === 0 ? { UNO_HOLD_START: String(HOLD_START) } : {})));
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({ task: 'crash.job', payload: { i: i + k } }));
      ids.push(...(await producer.queue.enqueueMany(batch)).map((job) => job.id));
    }

    await waitFor(async () => (await redis.llen(execList)) >= JOBS / 4, 90_000, 'a quarter of the jobs to start');
    const victimStarts = async (): Promise<number> => (await redis.lrange(execList, 0, -1)).filter((e) => e.endsWith('|crash-worker-0|1')).length;
    await waitFor(async () => (await victimStarts()) >= HOLD_START, 90_000, 'the victim to start jobs');
    victim!.kill('SIGKILL');
    await once(victim!, 'exit');
    const killed = 'crash-worker-0';

    await waitFor(async () => (await storage.counts({ queue: 'crash' })).completed === JOBS, 150_000, 'every job to complete');
    const counts = await storage.counts({ queue: 'crash' });
    expect(counts).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: JOBS, failed: 0, cancelled: 0 });

    // Executions per job, in the order they started.
    const runs = await readRuns(redis, execList);
    const ranTwice = await expectEveryJobRanOnceBut(runs, ids, killed, mostLeasesHeld(CONCURRENCY, PREFETCH), storage);
    report('redis SIGKILL', { jobs: JOBS, lost: 0, failed: 0, ranTwice, bound: mostLeasesHeld(CONCURRENCY, PREFETCH) });

    // The killed worker held leases when it died: they were recovered by the live workers after expiry.
    // Paging through all of them with a cursor.
    const recovered: JobRecord[] = [];
    const listed = new Set<string>();
    let rows = 0;
    let cursor: string | null = null;
    do {
      const page: JobPage = await storage.list({ queue: 'crash', state: 'completed' }, { limit: 1000, cursor });
      for (const job of page.jobs) listed.add(job.id);
      rows += page.jobs.length;
      recovered.push(...page.jobs.filter((j) => j.errors.length > 0));
      cursor = page.nextCursor;
    } while (cursor);
    expect(listed.size).toBe(JOBS);
    expect(rows).toBe(JOBS);
    // The killed worker had jobs in flight: they ran again elsewhere (and a stall is recorded only for those the store
    // knew had started: by their claim, or after START_MARK_DELAY_MS).
    expect(ranTwice).toBeGreaterThan(0);
    for (const job of recovered) {
      expect(job.errors[0]!.message).toContain(killed);
      // The crash cost no attempt (attempts: 1 and still completed), and counted one stall.
      expect(job.attempt).toBe(1);
      expect(job.stalls).toBe(1);
    }
  }, 300_000);
});
