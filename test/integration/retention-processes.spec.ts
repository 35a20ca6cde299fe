import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { UnoJobs, type JobStorage } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { waitFor } from '../../lib/testing/index.js';
import { WorkerProcesses } from '../support/worker-processes.js';
import { deleteKeys } from '../support/redis-keys.js';
import { dropTables } from '../support/sql-tables.js';

/**
 * Retention with real worker processes at full speed: two workers with completed.maxCount 1,000 (a round every 100
 * jobs each finishes) process 6,000 no-op jobs. The store must stay near the limit while they run and be back at it
 * soon after the queue drains; with the old pace (1,000 jobs a minute) it held all 6,000 for a minute.
 */
const fixture = fileURLToPath(new URL('./fixtures/retention-worker.mjs', import.meta.url));
const tag = randomBytes(4).toString('hex');
const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const JOBS = 6000;
const LIMIT = 1000;

// The workers run the compiled package, which `npm test` builds before any test. Building it again here rewrote dist/
// while the other jest worker's suites were starting their processes from it: one clean-clone CI run failed a fault
// test whose worker imported a half-written module.
beforeAll(() => {
  if (!existsSync(fileURLToPath(new URL('../../dist/index.js', import.meta.url)))) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does).');
});

const backends = [
  { name: 'postgres', prefix: `uretp_${tag}_`, open: (p: string): JobStorage => new TypeormJobStorage({ dataSource: PG, tablePrefix: p }) },
  { name: 'redis', prefix: `uno-test-retp-${tag}`, open: (p: string): JobStorage => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: p }) },
];

afterAll(async () => {
  const ds = await new DataSource(PG).initialize();
  await dropTables(ds, `uretp_${tag}_`);
  await ds.destroy();
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  await deleteKeys(redis, `{uno-test-retp-${tag}*`);
  await redis.quit();
});

describe.each(backends)('retention with two worker processes on $name', ({ name, prefix, open }) => {
  it(`${JOBS} jobs at full speed leave the store near completed.maxCount ${LIMIT}`, async () => {
    const storage = open(prefix);
    const producer = new UnoJobs({ storage, worker: { enabled: false } });
    producer.register('ret.job', () => undefined, { queue: 'ret' });
    await producer.init();
    const workers = new WorkerProcesses(fixture, { UNO_BACKEND: name, UNO_PREFIX: prefix, UNO_MAX_COMPLETED: String(LIMIT) });
    try {
      await Promise.all([workers.start(0), workers.start(1)]);
      for (let i = 0; i < JOBS; i += 1000) {
        await producer.queue.enqueueMany(Array.from({ length: 1000 }, (_, k) => ({ task: 'ret.job', payload: { i: i + k } })));
      }
      let most = 0;
      await waitFor(async () => {
        const c = await storage.counts();
        most = Math.max(most, c.completed);
        return c.waiting + c.active + c.scheduled === 0;
      }, 60_000, 'the queue to drain');
      // Generous for a loaded machine: two processes' rounds (100 jobs each) and the jobs finished during one.
      expect(most).toBeLessThan(JOBS);
      await waitFor(async () => (await storage.counts()).completed <= LIMIT * 1.1, 20_000, `completed jobs back at ${LIMIT}`);
      expect((await storage.counts()).completed).toBeGreaterThanOrEqual(LIMIT);
    } finally {
      await workers.stopAll();
      await producer.stop();
      await storage.close();
    }
  }, 150_000);
});
