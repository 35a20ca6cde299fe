import { describe, it, expect, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { MemoryJobStorage, UnoJobs, type JobStorage } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { ManualClock, newJob, waitFor } from '../../lib/testing/index.js';
import { deleteKeys } from '../support/redis-keys.js';
import { dropTables } from '../support/sql-tables.js';

/**
 * Retention keeps up with any completion rate, on every backend: 40,000 completed jobs (and 4,000 failed ones
 * against a configured failed.maxCount of 1,000) are put in place through the store API, as a burst at full speed
 * would leave them; an engine with the default retention then gets 60 s of its (manual) clock, and the store must
 * be back within the limits plus 10 %. The engine's timers run on a ManualClock; each step waits until no prune call
 * is in flight, so the outcome does not depend on how fast the machine is.
 */
const tag = randomBytes(4).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'uno-retention-'));
const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const MARIADB = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const tablePrefix = `uret_${tag}_`;
const redisPrefix = `uno-test-ret-${tag}`;

const COMPLETED = 40_000;
const FAILED = 4_000;
const BATCH = 2_000;

const backends: { name: string; open: (clock: ManualClock) => JobStorage; shared?: boolean }[] = [
  { name: 'memory', open: (clock) => new MemoryJobStorage({ clock }) },
  { name: 'sqlite', shared: true, open: () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: join(dir, 'r.sqlite') }, tablePrefix }) },
  { name: 'postgres', shared: true, open: () => new TypeormJobStorage({ dataSource: PG, tablePrefix }) },
  { name: 'mariadb', shared: true, open: () => new TypeormJobStorage({ dataSource: MARIADB, tablePrefix }) },
  { name: 'redis', shared: true, open: () => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: redisPrefix }) },
];

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const options of [PG, MARIADB]) {
    const ds = await new DataSource(options).initialize();
    await dropTables(ds, tablePrefix);
    await ds.destroy();
  }
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  await deleteKeys(redis, `{${redisPrefix}*`);
  await redis.quit();
});

/** Finish `n` jobs through the store API, `BATCH` per call, as completed or failed for good. */
async function finish(store: JobStorage, n: number, outcome: 'completed' | 'failed'): Promise<void> {
  for (let done = 0; done < n; done += BATCH) {
    const size = Math.min(BATCH, n - done);
    await store.insert(Array.from({ length: size }, () => newJob({ maxAttempts: 1 })));
    const claimed = await store.claim({ queue: 'q', limit: size, leaseMs: 600_000, workerId: 'filler' });
    expect(claimed).toHaveLength(size);
    if (outcome === 'completed') await store.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
    else {
      const error = { attempt: 1, name: 'Error', message: 'boom', at: new Date().toISOString() };
      await store.fail(claimed.map((c) => ({ id: c.job.id, token: c.token, error, retryDelayMs: null })));
    }
  }
}

/** The store, with the number of prune calls in flight counted. */
function tracked(store: JobStorage): { storage: JobStorage; pruning: () => number } {
  let pruning = 0;
  const storage = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === 'prune') {
        return async (...args: Parameters<JobStorage['prune']>) => {
          pruning++;
          try {
            return await target.prune(...args);
          } finally {
            pruning--;
          }
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { storage, pruning: () => pruning };
}

describe.each(backends)('retention on $name', ({ open }) => {
  it(`${COMPLETED} completed and ${FAILED} failed jobs are pruned to the limits within 60 s`, async () => {
    const clock = new ManualClock();
    const store = open(clock);
    await store.init();
    const { storage, pruning } = tracked(store);
    const uno = new UnoJobs({ storage, clock, retention: { failed: { maxCount: 1_000 } } });
    try {
      await finish(store, COMPLETED, 'completed');
      await finish(store, FAILED, 'failed');
      expect(await store.counts()).toMatchObject({ completed: COMPLETED, failed: FAILED });
      uno.register('test.task', () => undefined, { queue: 'q' });
      await uno.start();
      for (let s = 0; s < 60; s++) {
        await clock.advance(1000);
        await waitFor(() => pruning() === 0, 60_000, 'prune calls to settle');
      }
      const counts = await store.counts();
      expect(counts.completed).toBeLessThanOrEqual(11_000);
      expect(counts.completed).toBeGreaterThanOrEqual(10_000); // the default maxCount is kept, not more is deleted
      expect(counts.failed).toBeLessThanOrEqual(1_100);
      expect(counts.failed).toBeGreaterThanOrEqual(1_000);
    } finally {
      await uno.stop(0);
      await store.close();
    }
  }, 180_000);
});

describe.each(backends.filter((b) => b.shared))('two pruners on one $name store', ({ open }) => {
  it('split the excess: the store ends at its limit and every job is counted as deleted once', async () => {
    const clock = new ManualClock();
    const [a, b] = [open(clock), open(clock)];
    await a.init();
    await b.init();
    try {
      await a.prune({ completed: { maxAgeMs: Infinity, maxCount: 0 }, failed: { maxAgeMs: Infinity, maxCount: 0 } }, 1e9);
      await finish(a, 3000, 'completed');
      const policy = { completed: { maxAgeMs: Infinity, maxCount: 500 }, failed: { maxAgeMs: Infinity, maxCount: Infinity } };
      // Calls of 600 (several steps each), as the engine's rounds do: again while a call comes back full.
      const round = async (s: JobStorage) => {
        let removed = 0;
        for (let n = 600; n === 600; removed += n) n = await s.prune(policy, 600);
        return removed;
      };
      const [ra, rb] = await Promise.all([round(a), round(b)]);
      // A pruner that found its share taken may stop early; one more call finishes what it left.
      const rest = await round(a);
      expect(ra + rb + rest).toBe(2500);
      expect((await a.counts()).completed).toBe(500);
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);
});

describe.each(backends.filter((b) => b.shared))('several pruners while jobs complete on one $name store', ({ open }) => {
  // The count rule promises the newest maxCount completed jobs. Four stores prune at once, round after round, while a
  // fifth completes jobs in batches: no sample may ever see fewer completed jobs than the limit (or than were
  // completed), and at the end exactly the newest maxCount are left. With a waiting backlog widening the seq span,
  // one completed job above the limit must still be cut, and none at the limit.
  it('never keep fewer than maxCount, and cut whatever is above it', async () => {
    const clock = new ManualClock();
    const stores = [open(clock), open(clock), open(clock), open(clock), open(clock)];
    for (const s of stores) await s.init();
    const [filler, ...pruners] = stores as [JobStorage, ...JobStorage[]];
    const LIMIT = 300;
    const policy = { completed: { maxAgeMs: Infinity, maxCount: LIMIT }, failed: { maxAgeMs: Infinity, maxCount: Infinity } };
    try {
      await filler.prune({ completed: { maxAgeMs: Infinity, maxCount: 0 }, failed: { maxAgeMs: Infinity, maxCount: 0 } }, 1e9);
      const order: string[] = []; // completed job ids, oldest batch first
      let committed = 0;
      let done = false;
      const complete = async (n: number) => {
        const jobs = Array.from({ length: n }, () => newJob({ maxAttempts: 1 }));
        await filler.insert(jobs);
        // SKIP LOCKED may pass over rows a concurrent prune holds locks near (MariaDB's next-key locks: 41 of 50 once
        // in a full run), so the rest is claimed again. A later part completes at a later ms (the 2 ms pause), so the
        // completion order stays the (finished_at, seq) order that retention keeps by.
        let left = n;
        for (let tries = 0; left > 0 && tries < 100; tries++) {
          if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 2));
          const claimed = await filler.claim({ queue: 'q', limit: left, leaseMs: 600_000, workerId: 'filler' });
          if (claimed.length === 0) continue;
          // Claims read in seq order: the batch's order is its completion order's tie-break.
          await filler.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
          order.push(...claimed.map((c) => c.job.id));
          committed += claimed.length;
          left -= claimed.length;
        }
        expect(left).toBe(0);
      };
      const prunerLoop = async (s: JobStorage) => {
        while (!done) await s.prune(policy, 200);
      };
      const sampler = async () => {
        let samples = 0;
        while (!done) {
          const floor = Math.min(LIMIT, committed);
          const { completed } = await filler.counts();
          expect(completed).toBeGreaterThanOrEqual(floor);
          samples++;
        }
        return samples;
      };
      const loops = [...pruners.map(prunerLoop), sampler()];
      for (let i = 0; i < 40; i++) await complete(50);
      done = true;
      const [samples] = (await Promise.all(loops)).slice(-1) as [number];
      expect(samples).toBeGreaterThan(0);
      await Promise.all(pruners.map((s) => s.prune(policy, 1e9)));
      expect((await filler.counts()).completed).toBe(LIMIT);
      const kept = (await Promise.all(order.slice(-LIMIT - 50).map((id) => filler.get(id)))).map((j) => j !== null);
      expect(kept).toEqual([...Array<boolean>(50).fill(false), ...Array<boolean>(LIMIT).fill(true)]);

      // A backlog of waiting jobs widens the seq span past the limit: the walk must still run, and cut exactly one.
      await filler.insert(Array.from({ length: 2000 }, () => newJob({ queue: 'backlog', maxAttempts: 1 })));
      expect(await pruners[0]!.prune(policy, 1e9)).toBe(0); // at the limit: nothing to cut
      await complete(1);
      expect(await pruners[1]!.prune(policy, 1e9)).toBe(1);
      // The one cut is of the oldest batch left (which of its jobs is the backend's tie-break: they finished together).
      const oldest = await Promise.all(order.slice(-LIMIT - 1, -LIMIT + 49).map((id) => filler.get(id)));
      expect(oldest.filter((j) => j === null)).toHaveLength(1);
      expect((await filler.counts()).completed).toBe(LIMIT);
    } finally {
      for (const s of stores) await s.close();
    }
  }, 120_000);
});
