import { describe, it, expect, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { MemoryJobStorage, UnoJobs, type JobStorage, type Priority } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { waitFor } from '../../lib/testing/index.js';
import { deferred } from '../support/engine.js';
import { dropTables } from '../support/sql-tables.js';

/**
 * The priority rule on every backend, with the defaults a user gets (prefetch on for the shared stores, attempts 1,
 * one critical reserve slot): a job never starts while a job of higher priority, ready in the same queue at least
 * one claim round trip earlier, has not started; FIFO within one priority. The unit version with a manual clock is
 * test/unit/priority-prefetch.spec.ts.
 */
const tag = randomBytes(4).toString('hex');
const sqliteFile = join(tmpdir(), `uno-prio-${tag}.sqlite`);
const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const MARIADB = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const tablePrefix = `upr_${tag}_`;
const redisPrefix = `upr-${tag}`;

const backends: { name: string; open: () => JobStorage }[] = [
  { name: 'memory', open: () => new MemoryJobStorage() },
  { name: 'sqlite', open: () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: sqliteFile }, tablePrefix }) },
  { name: 'postgres', open: () => new TypeormJobStorage({ dataSource: PG, tablePrefix }) },
  { name: 'mariadb', open: () => new TypeormJobStorage({ dataSource: MARIADB, tablePrefix }) },
  { name: 'redis', open: () => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: redisPrefix }) },
];

afterAll(async () => {
  rmSync(sqliteFile, { force: true });
  for (const options of [PG, MARIADB]) {
    const ds = await new DataSource(options).initialize();
    await dropTables(ds, tablePrefix);
    await ds.destroy();
  }
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  const keys = await redis.keys(`{${redisPrefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let queues = 0;

/**
 * One engine with a queue of its own at concurrency 1 (the store is shared by the cases of one backend): `gate` holds the only regular slot until the test opens it, `record`
 * logs the order jobs start in, `quick` and `step` warm the prefetch sizing up (short or 50 ms handlers).
 */
async function engine(open: () => JobStorage) {
  const storage = open();
  // Ids the worker's claims returned: "claimed ahead" means the worker holds the job, not only that the store has
  // marked it active (on a loaded machine the claim's reply can still be on its way when the test moves on).
  const received = new Set<string>();
  const claim = storage.claim.bind(storage);
  storage.claim = async (request) => {
    const claimed = await claim(request);
    for (const c of claimed) received.add(c.job.id);
    return claimed;
  };
  const q = `q${++queues}`;
  const uno = new UnoJobs({ storage, queues: { [q]: { concurrency: 1 } } });
  const gate = deferred();
  let gateStarted = false;
  const started: string[] = [];
  let warm = 0;
  uno.register('gate', () => ((gateStarted = true), gate.promise), { queue: q });
  uno.register('record', (id: string) => void started.push(id), { queue: q });
  uno.register('quick', () => void warm++, { queue: q });
  uno.register('step', () => sleep(50).then(() => void warm++), { queue: q });
  await uno.start();
  // The jobs under test come from a producer with a connection of its own, as from another process: its inserts
  // reach the worker through the store's wake-ups (pub/sub, NOTIFY) or the worker's poll, not a local call.
  const producerStorage = storage instanceof MemoryJobStorage ? storage : open();
  const producer = new UnoJobs({ storage: producerStorage, worker: { enabled: false } });
  for (const task of ['gate', 'record', 'quick', 'step']) producer.register(task, () => undefined, { queue: q });
  await producer.start();
  const prefetching = storage.capabilities.distributed;
  const state = async (id: string) => (await uno.queue.getJob(id))!.state;
  return {
    uno,
    producer: producer.queue,
    q,
    started,
    gate,
    prefetching,
    state,
    async warmUp(task: 'quick' | 'step', n: number) {
      await uno.queue.enqueueMany(Array.from({ length: n }, () => ({ task, payload: null })));
      await waitFor(() => warm === n, 20_000, 'the warm-up jobs');
      await waitFor(async () => (await uno.queue.counts(q)).completed >= n, 20_000, 'their outcomes');
    },
    async holdSlot() {
      await uno.queue.enqueue('gate', null);
      await waitFor(() => gateStarted, 10_000, 'the gate job to start');
    },
    /** Wait until the claim loop holds these jobs (claimed into its buffer); without prefetch nothing is claimed ahead. */
    async claimedAhead(ids: string[]) {
      if (!prefetching) return;
      await waitFor(() => ids.every((id) => received.has(id)), 10_000, 'the jobs to be claimed ahead');
      expect((await Promise.all(ids.map(state))).every((s) => s === 'active')).toBe(true);
    },
    async close() {
      gate.resolve();
      await uno.stop(5000);
      await producer.stop();
      await storage.close();
      if (producerStorage !== storage) await producerStorage.close();
    },
  };
}

describe.each(backends)('priorities with prefetch on $name', ({ open }) => {
  it('six jobs enqueued low, normal, high, low, high, normal behind a running job start high, high, normal, normal, low, low', async () => {
    const e = await engine(open);
    try {
      await e.warmUp('step', 3); // handlers slower than a claim: the buffer holds about one job
      await e.holdSlot();
      const plan: Priority[] = ['low', 'normal', 'high', 'low', 'high', 'normal'];
      const ids: string[] = [];
      for (const [i, priority] of plan.entries()) {
        const job = await e.producer.enqueue('record', `${priority}-${i}`, { priority });
        ids.push(job.id);
        if (i === 0) await e.claimedAhead([job.id]); // the first one waits in the buffer
      }
      await e.claimedAhead(ids.filter((_, i) => plan[i] !== 'low')); // ready well over a claim round trip before the slot frees
      e.gate.resolve();
      await waitFor(() => e.started.length === 6, 10_000, 'the six jobs');
      expect(e.started).toEqual(['high-2', 'high-4', 'normal-1', 'normal-5', 'low-0', 'low-3']);
    } finally {
      await e.close();
    }
  }, 60_000);

  it('with a full buffer of low jobs, a critical job starts in the reserve slot at once and a high one before the remaining lows', async () => {
    const e = await engine(open);
    try {
      await e.warmUp('quick', 100); // handlers far shorter than a claim: the buffer grows to hundreds of jobs
      await e.holdSlot();
      const lows = await e.producer.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ task: 'record', payload: `low-${i}`, options: { priority: 'low' as const } })));
      await e.claimedAhead([lows[0]!.id]);
      await sleep(100); // let the claims that fill the buffer settle
      const critical = await e.producer.enqueue('record', 'critical', { priority: 'critical' });
      // Every regular slot is busy and the buffer is full: the critical job takes the reserve slot.
      await waitFor(() => e.started.includes('critical'), 10_000, 'the critical job to start while the gate runs');
      expect(e.started).toEqual(['critical']);
      expect(await e.state(critical.id)).not.toBe('waiting');
      const high = await e.producer.enqueue('record', 'high', { priority: 'high' });
      await e.claimedAhead([high.id]);
      e.gate.resolve();
      await waitFor(() => e.started.length === 302, 20_000, 'every job');
      expect(e.started.slice(0, 3)).toEqual(['critical', 'high', 'low-0']);
      // FIFO within the low level, however the lows were split between buffer and store.
      expect(e.started.slice(2)).toEqual(lows.map((_, i) => `low-${i}`));
    } finally {
      await e.close();
    }
  }, 60_000);
});
