import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import type { JobStorage } from '../../lib/contract/job-storage.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { loadScripts } from '../../lib/storage/redis/scripts.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { ManualClock, newJob, waitFor } from '../../lib/testing/index.js';
import { deleteKeys } from '../support/redis-keys.js';
import { TestRedisServer } from '../support/redis-server.js';
import { dropTables } from '../support/sql-tables.js';

// Claims of docs/storage.md, docs/storage-redis.md and docs/storage-typeorm.md that no other test pins: retention
// counted across queues, dedupe keys left by removeOnComplete, the NOTIFY channels, the SQL index layout, the
// maxmemory-policy warning, script reloading after a server lost its script cache, the store's clock. Real Redis,
// PostgreSQL, MariaDB and SQLite; every key and table of this file's prefixes is deleted afterwards.

const REDIS = { host: '127.0.0.1', port: 6379 };
const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const MARIADB = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const tag = randomBytes(4).toString('hex');
const redisTag = `uno-test-cstore-${tag}`;
const tablePrefix = `cstore_${tag}_`;
const quiet = { warn: () => {} };
const admin = new Redis(REDIS);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const keepAll = { maxAgeMs: Infinity, maxCount: Infinity };

afterAll(async () => {
  await deleteKeys(admin, `{${redisTag}*`);
  await admin.quit();
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
  await client.connect();
  await dropTables(client, tablePrefix);
  await client.end();
});

/** A store of each kind whose records the test reads back; `tick` lets the store's clock move past the last finish. */
interface Backend {
  name: string;
  open: () => { storage: JobStorage; tick: () => Promise<void> };
}

const realTick = async () => void (await sleep(3)); // a lower bound only: each finish lands on a later millisecond of the store's clock
const backends: Backend[] = [
  {
    name: 'memory',
    open: () => {
      const clock = new ManualClock(Date.now());
      return { storage: new MemoryJobStorage({ clock }), tick: async () => void (await clock.advance(3)) };
    },
  },
  {
    name: 'sqlite',
    open: () => ({ storage: new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix }), tick: realTick }),
  },
  {
    name: 'redis',
    open: () => ({ storage: new RedisJobStorage({ connection: REDIS, prefix: `${redisTag}-${randomUUID().slice(0, 8)}`, logger: quiet }), tick: realTick }),
  },
];

describe.each(backends)('retention counts across queues ($name)', ({ open }) => {
  // docs/storage-redis.md, Limits: "Retention counts (maxCount) are global across queues, as in every store."
  // docs/storage-redis.md: "each step reads the oldest 250 entries of every queue's finished set and deletes the
  // globally oldest".
  it('maxCount keeps the newest finished jobs of all queues together, not per queue; failed and cancelled count as one kind', async () => {
    const { storage: s, tick } = open();
    await s.init();
    try {
      await s.insert([...['a1', 'a2', 'a3'].map((id) => newJob({ id, queue: 'ra' })), ...['b1', 'b2', 'b3'].map((id) => newJob({ id, queue: 'rb' }))]);
      // Finished in this order across the two queues: a1, a2, b1, a3, b2, b3.
      for (const [id, queue] of [['a1', 'ra'], ['a2', 'ra'], ['b1', 'rb'], ['a3', 'ra'], ['b2', 'rb'], ['b3', 'rb']] as const) {
        const [c] = await s.claim({ queue, limit: 1, leaseMs: 60_000, workerId: 'w' });
        expect(c!.job.id).toBe(id);
        expect(await s.complete([{ id, token: c!.token, result: 'null' }])).toEqual([true]);
        await tick();
      }
      const completed = { completed: { maxAgeMs: Infinity, maxCount: 3 }, failed: keepAll };
      expect(await s.prune(completed, 100)).toBe(3);
      const left = async (ids: string[]) => (await Promise.all(ids.map(async (id) => ((await s.get(id)) ? id : null)))).filter(Boolean);
      expect(await left(['a1', 'a2', 'b1', 'a3', 'b2', 'b3'])).toEqual(['a3', 'b2', 'b3']);
      expect(await s.prune(completed, 100)).toBe(0);
      expect((await s.counts()).completed).toBe(3);

      // One failed job on ra, then one cancelled on rb: with failed.maxCount 1 the older of the two goes.
      await s.insert([newJob({ id: 'fa', queue: 'ra', maxAttempts: 1 }), newJob({ id: 'cb', queue: 'rb' })]);
      const [f] = await s.claim({ queue: 'ra', limit: 1, leaseMs: 60_000, workerId: 'w' });
      await s.fail([{ id: 'fa', token: f!.token, error: { attempt: 1, name: 'Error', message: 'x', at: new Date().toISOString() }, retryDelayMs: null }]);
      await tick();
      expect((await s.cancel('cb'))!.state).toBe('cancelled');
      await tick();
      expect(await s.prune({ completed: keepAll, failed: { maxAgeMs: Infinity, maxCount: 1 } }, 100)).toBe(1);
      expect(await left(['fa', 'cb'])).toEqual(['cb']);
    } finally {
      await s.close();
    }
  });
});

describe('dedupe keys of a job deleted at completion (removeOnComplete)', () => {
  // docs/storage-redis.md: "a `debounce` or `replace` key ... (a job deleted at completion, `removeOnComplete`, leaves
  // it until the key is used again)". docs/storage-typeorm.md: "a job deleted at completion (`removeOnComplete`) leaves
  // its row until the key is used again, which then points it at the new job."
  const cases: { name: string; open: () => { storage: JobStorage; holder: (queue: string, task: string, key: string) => Promise<string | null> } }[] = [
    {
      name: 'redis',
      open: () => {
        const prefix = `${redisTag}-${randomUUID().slice(0, 8)}`;
        const storage = new RedisJobStorage({ connection: REDIS, prefix, logger: quiet });
        return { storage, holder: (queue, task, key) => admin.get(`{${prefix}:${queue}}:dd:${JSON.stringify([task, key])}`) };
      },
    },
    {
      name: 'sqlite',
      open: () => {
        const storage = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix });
        const holder = async (_queue: string, task: string, key: string) => {
          const rows = (await storage.dataSource.query(`SELECT job_id FROM ${tablePrefix}dedupe_keys WHERE task = ? AND dkey = ?`, [task, key])) as { job_id: string }[];
          return rows[0]?.job_id ?? null;
        };
        return { storage, holder };
      },
    },
  ];

  it.each(cases)('$name: the key stays naming the deleted job until an insert of the key creates a job and points it there', async ({ open }) => {
    const { storage: s, holder } = open();
    await s.init();
    try {
      for (const mode of ['debounce', 'replace'] as const) {
        const key = `k-${mode}`;
        const queue = `q-${mode}`;
        const keyed = () => newJob({ task: 't', queue, dedupe: { key, mode, ttlMs: null } });
        const [first] = await s.insert([keyed()]);
        expect(first!.created).toBe(true);
        const [c] = await s.claim({ queue, limit: 1, leaseMs: 60_000, workerId: 'w' });
        expect(c!.job.id).toBe(first!.job.id);
        expect(await s.complete([{ id: c!.job.id, token: c!.token, result: 'null', remove: true }])).toEqual([true]);
        expect(await s.get(first!.job.id)).toBeNull();
        expect([mode, await holder(queue, 't', key)]).toEqual([mode, first!.job.id]); // left behind by the completion
        const [second] = await s.insert([keyed()]);
        expect([mode, second!.created]).toEqual([mode, true]);
        expect(second!.job.id).not.toBe(first!.job.id);
        expect([mode, await holder(queue, 't', key)]).toEqual([mode, second!.job.id]);
      }
    } finally {
      await s.close();
    }
  });
});

describe('PostgreSQL NOTIFY channels (docs/storage-typeorm.md, "LISTEN/NOTIFY and polling")', () => {
  // "the statements that make a job ready (insert, a retry with no delay, promotion, recovery, release, retry) call
  // pg_notify('<prefix>jobs', queue)"; "the cancel transaction calls pg_notify('<prefix>jobs_cancel', id) when the job
  // was active".
  const own = `${tablePrefix}pg_`;
  let listener: pg.Client;
  let s: TypeormJobStorage;
  const seen: { channel: string; payload: string }[] = [];
  const heard = (channel: string, payload: string) => seen.filter((n) => n.channel === channel && n.payload === payload).length;
  let markers = 0;

  beforeAll(async () => {
    listener = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
    await listener.connect();
    listener.on('notification', (n) => seen.push({ channel: n.channel, payload: n.payload ?? '' }));
    await listener.query(`LISTEN "${own}jobs"`);
    await listener.query(`LISTEN "${own}jobs_cancel"`);
    s = new TypeormJobStorage({ dataSource: PG, tablePrefix: own });
    await s.init();
  });

  afterAll(async () => {
    await s.close();
    await listener.end();
  });

  /**
   * Every NOTIFY committed before now has arrived: one for a marker queue was sent after them, and a listener gets
   * notifications in commit order.
   */
  const settle = async () => {
    const marker = `marker-${++markers}`;
    await s.insert([newJob({ queue: marker })]);
    await waitFor(() => heard(`${own}jobs`, marker) === 1, 5000, `the NOTIFY of ${marker}`);
  };
  /** `op` sends one NOTIFY of `queue` on <prefix>jobs. */
  const notifies = async (queue: string, op: () => Promise<unknown>) => {
    await settle();
    const before = heard(`${own}jobs`, queue);
    await op();
    await settle();
    expect([queue, heard(`${own}jobs`, queue) - before]).toEqual([queue, 1]);
  };
  const claimOne = async (queue: string) => (await s.claim({ queue, limit: 1, leaseMs: 60_000, workerId: 'w' }))[0]!;
  const error = { attempt: 1, name: 'Error', message: 'x', at: new Date().toISOString() };

  it('insert, release, a retry with no delay, retry, promote, promotion of due jobs and lease recovery each NOTIFY the queue', async () => {
    await notifies('n-insert', () => s.insert([newJob({ queue: 'n-insert' })]));

    await notifies('n-release', () => s.insert([newJob({ queue: 'n-release' })]));
    const released = await claimOne('n-release');
    await notifies('n-release', () => s.release([{ id: released.job.id, token: released.token }]));

    await notifies('n-again', () => s.insert([newJob({ queue: 'n-again' })]));
    const again = await claimOne('n-again');
    await notifies('n-again', () => s.fail([{ id: again.job.id, token: again.token, error, retryDelayMs: 0 }]));

    await notifies('n-retry', () => s.insert([newJob({ queue: 'n-retry', maxAttempts: 1 })]));
    const failed = await claimOne('n-retry');
    await s.fail([{ id: failed.job.id, token: failed.token, error, retryDelayMs: null }]);
    await notifies('n-retry', () => s.retry(failed.job.id));

    const [later] = await s.insert([newJob({ queue: 'n-promote', delayMs: 3_600_000 })]);
    await notifies('n-promote', () => s.promote(later!.job.id));

    // Due and expired by moving the stored times back (the store would promote a job it delayed itself on a timer).
    const [due] = await s.insert([newJob({ queue: 'n-due', delayMs: 3_600_000 })]);
    await s.dataSource.query(`UPDATE ${own}jobs SET run_at = run_at - 7200000 WHERE id = $1`, [due!.job.id]);
    await notifies('n-due', () => s.promoteDue());
    expect((await s.get(due!.job.id))!.state).toBe('waiting');

    await notifies('n-recover', () => s.insert([newJob({ queue: 'n-recover' })]));
    const expired = await claimOne('n-recover');
    await s.dataSource.query(`UPDATE ${own}jobs SET lease_expires_at = lease_expires_at - 120000 WHERE id = $1`, [expired.job.id]);
    await notifies('n-recover', () => s.recoverExpired());
    expect((await s.get(expired.job.id))!.state).toBe('waiting');
    // A claim makes nothing ready: it sends none.
    await notifies('n-claim', () => s.insert([newJob({ queue: 'n-claim' })]));
    await settle();
    await claimOne('n-claim');
    await settle();
    expect(heard(`${own}jobs`, 'n-claim')).toBe(1);
  });

  it('cancelling an active job sends its id on <prefix>jobs_cancel; cancelling a waiting job sends nothing there', async () => {
    const [waiting, active] = await s.insert([newJob({ queue: 'n-cancel-w' }), newJob({ queue: 'n-cancel-a' })]);
    await claimOne('n-cancel-a');
    await s.cancel(waiting!.job.id);
    await s.cancel(active!.job.id);
    await waitFor(() => heard(`${own}jobs_cancel`, active!.job.id) === 1, 5000, 'the cancel notice');
    await settle();
    expect(seen.filter((n) => n.channel === `${own}jobs_cancel`).map((n) => n.payload)).toEqual([active!.job.id]);
  });
});

describe('SQL tables and indexes (docs/storage-typeorm.md, "Tables and indexes")', () => {
  it('SQLite: partial claim, due, lease, retention, task, parent and group indexes; keys and indexes of the other tables; ids unique in the database', async () => {
    const s = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix });
    await s.init();
    try {
      const db = s.dataSource;
      /** Each index of `table` as "(columns) WHERE predicate", the primary key as "PRIMARY (columns)". */
      const shapes = async (table: string) => {
        const out: string[] = [];
        const pk = (await db.query(`SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, [table])) as { name: string }[];
        if (pk.length) out.push(`PRIMARY (${pk.map((c) => c.name).join(', ')})`);
        const indexes = (await db.query(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, [table])) as { name: string; sql: string }[];
        for (const { name, sql } of indexes) {
          const columns = (await db.query(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, [name])) as { name: string }[];
          const where = /\sWHERE\s(.*)$/s.exec(sql)?.[1]?.replace(/\s+/g, ' ');
          out.push(`${/^CREATE UNIQUE/.test(sql) ? 'UNIQUE ' : ''}(${columns.map((c) => c.name).join(', ')})${where ? ` WHERE ${where}` : ''}`);
        }
        return out;
      };
      const t = (name: string) => `${tablePrefix}${name}`;
      const jobs = await shapes(t('jobs'));
      expect(jobs).toEqual(expect.arrayContaining([
        'PRIMARY (seq)',
        'UNIQUE (id)',
        // The claim index holds claimable jobs in no group only (migration 1765050000000 narrowed it).
        "(queue, priority, run_at, seq) WHERE state IN ('waiting', 'scheduled') AND group_name IS NULL",
        "(run_at) WHERE state = 'scheduled'",
        "(lease_expires_at) WHERE state = 'active'",
        "(finished_at, seq) WHERE state IN ('failed', 'cancelled')",
        "(task, queue, state, run_at) WHERE state <> 'active'",
        '(parent_id) WHERE parent_id IS NOT NULL',
        "(queue, group_name, priority, run_at, seq) WHERE group_name IS NOT NULL AND state IN ('waiting', 'scheduled')",
        "(queue, run_at) WHERE group_name IS NOT NULL AND state = 'waiting'",
      ]));
      expect(jobs.some((shape) => shape.startsWith('(state, finished_at, seq)'))).toBe(true); // pruning
      expect(await shapes(t('workers'))).toEqual(expect.arrayContaining(['PRIMARY (id)', '(last_seen_at)']));
      expect(await shapes(t('error_patterns'))).toEqual(expect.arrayContaining(['PRIMARY (task, fingerprint)', '(task, last_seen_at, fingerprint)', '(last_seen_at)']));
      expect(await shapes(t('metric_points'))).toEqual(['PRIMARY (resolution, bucket, queue, task, name, slot)']);
      expect(await shapes(t('documents'))).toEqual(['PRIMARY (doc_key)']);
      expect(await shapes(t('flow'))).toEqual(['PRIMARY (queue, task)']);
      expect(await shapes(t('rate_log'))).toEqual(['(queue, task, at)']);
      expect(await shapes(t('dedupe_keys'))).toEqual(expect.arrayContaining(['PRIMARY (task, dkey)', '(job_id)']));
      expect(await shapes(t('group_turns'))).toEqual(['PRIMARY (queue, group_name)']);
      expect(await shapes(t('subscriptions'))).toEqual(['PRIMARY (event, task)']);

      // "duplicates are refused by the database itself": a second row with a stored id, written past the store.
      await s.insert([newJob({ id: 'taken' })]);
      const copy = `INSERT INTO ${t('jobs')} (id, task, queue, priority, state, attempt, max_attempts, run_at, created_at, payload, errors, logs)
        SELECT id, task, queue, priority, state, attempt, max_attempts, run_at, created_at, payload, errors, logs FROM ${t('jobs')} WHERE id = 'taken'`;
      await expect(db.query(copy)).rejects.toThrow(/UNIQUE constraint failed/);
    } finally {
      await s.close();
    }
  });

  it('MariaDB: no partial indexes; virtual plain_state and group_state lead the claim and group indexes; no retention or listing index; ids unique in the database', async () => {
    const own = `${tablePrefix}my_`;
    const s = new TypeormJobStorage({ dataSource: MARIADB, tablePrefix: own });
    await s.init();
    let db: DataSource | null = null;
    try {
      db = s.dataSource;
      const rows = (await db.query(
        `SELECT INDEX_NAME AS i, NON_UNIQUE AS u, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ', ') AS c
         FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? GROUP BY INDEX_NAME, NON_UNIQUE`,
        [`${own}jobs`],
      )) as { i: string; u: number | string; c: string }[];
      const shapes = rows.map((r) => `${r.i === 'PRIMARY' ? 'PRIMARY ' : Number(r.u) === 0 ? 'UNIQUE ' : ''}(${r.c})`).sort();
      expect(shapes).toEqual([
        '(parent_id)',
        '(queue, group_state, group_name, priority, run_at, seq)',
        '(queue, plain_state, priority, run_at, seq)',
        '(state, finished_at, seq)',
        '(state, lease_expires_at)',
        '(state, run_at)',
        '(task, queue, state, run_at)',
        'PRIMARY (seq)',
        'UNIQUE (id)',
      ]);
      const virtual = (await db.query(
        `SELECT COLUMN_NAME AS name, EXTRA AS extra FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND COLUMN_NAME IN ('group_state', 'plain_state') ORDER BY COLUMN_NAME`,
        [`${own}jobs`],
      )) as { name: string; extra: string }[];
      expect(virtual).toEqual([{ name: 'group_state', extra: 'VIRTUAL GENERATED' }, { name: 'plain_state', extra: 'VIRTUAL GENERATED' }]);
      // A grouped job's state is in group_state, a job in no group's in plain_state.
      await s.insert([newJob({ id: 'plain' }), newJob({ id: 'grouped', group: 'g' })]);
      const states = (await db.query(`SELECT id, plain_state AS p, group_state AS g FROM ${own}jobs ORDER BY id`)) as { id: string; p: string | null; g: string | null }[];
      expect(states).toEqual([{ id: 'grouped', p: null, g: 'waiting' }, { id: 'plain', p: 'waiting', g: null }]);
      const copy = `INSERT INTO ${own}jobs (id, task, queue, priority, state, attempt, max_attempts, run_at, created_at, payload, errors, logs)
        SELECT id, task, queue, priority, state, attempt, max_attempts, run_at, created_at, payload, errors, logs FROM ${own}jobs WHERE id = 'plain'`;
      await expect(db.query(copy)).rejects.toThrow(/Duplicate entry/);
    } finally {
      if (db) await dropTables(db, own);
      await s.close();
    }
  });
});

describe('Redis on a server of the test\'s own', () => {
  let server: TestRedisServer;
  let own: Redis;
  beforeAll(async () => {
    server = await TestRedisServer.start(['--maxmemory-policy', 'allkeys-lru']);
    own = new Redis({ host: '127.0.0.1', port: server.port });
  }, 30_000);
  afterAll(async () => {
    own.disconnect();
    await server.stop();
  });
  const storeOn = (warn: (message: string) => void = () => {}) =>
    new RedisJobStorage({ connection: { host: '127.0.0.1', port: server.port }, prefix: `own-${randomUUID().slice(0, 8)}`, logger: { warn } });

  it('warns at start-up when maxmemory-policy is not noeviction, naming the policy, and starts anyway', async () => {
    // docs/storage-redis.md: "At start-up the store reads maxmemory-policy and warns when it is not noeviction."
    const warnings: string[] = [];
    const s = storeOn((m) => warnings.push(m));
    await s.init();
    try {
      expect(warnings).toEqual([expect.stringContaining('Redis maxmemory-policy is "allkeys-lru"')]);
      await s.insert([newJob({ id: 'works' })]);
      expect((await s.get('works'))!.state).toBe('waiting');
    } finally {
      await s.close();
    }
  });

  it('loads every script at start (SCRIPT LOAD) and runs them by EVALSHA; after the server lost them, sends each body once through EVAL', async () => {
    // docs/storage-redis.md, Scripts: "They are loaded once (SCRIPT LOAD) and called with EVALSHA; a server that lost
    // them (restart, failover, a new Cluster node) gets the script body once through EVAL."
    await own.script('FLUSH');
    const s = storeOn();
    await s.init();
    try {
      const shas = [...(await loadScripts()).values()].map((script) => script.sha);
      expect(await own.script('EXISTS', ...shas)).toEqual(shas.map(() => 1));
      const calls = async () => {
        const info = await own.info('commandstats');
        const of = (command: string) => Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
        return { eval: of('eval'), evalsha: of('evalsha') };
      };
      await own.config('RESETSTAT');
      await s.insert([newJob({ id: 'j1' })]);
      expect((await calls()).eval).toBe(0);
      expect((await calls()).evalsha).toBeGreaterThan(0);

      await own.script('FLUSH'); // as a restarted server or a new Cluster node
      await own.config('RESETSTAT');
      for (const id of ['j2', 'j3']) await s.insert([newJob({ id })]);
      for (let i = 0; i < 2; i++) await s.claim({ queue: 'q', limit: 1, leaseMs: 60_000, workerId: 'w' });
      // Two scripts ran twice each (the one-job insert and the plain claim): each body went once.
      expect((await calls()).eval).toBe(2);
      expect((await s.counts()).active).toBe(2);
      expect((await s.get('j3'))!.state).toBe('waiting');
    } finally {
      await s.close();
    }
  });
});

describe.each([
  { name: 'redis', open: () => new RedisJobStorage({ connection: REDIS, prefix: `${redisTag}-${randomUUID().slice(0, 8)}`, logger: quiet }) },
  { name: 'sqlite', open: () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix }) },
  { name: 'postgres', open: () => new TypeormJobStorage({ dataSource: PG, tablePrefix: `${tablePrefix}clk_`, listen: false }) },
  { name: 'mariadb', open: () => new TypeormJobStorage({ dataSource: MARIADB, tablePrefix: `${tablePrefix}clk_` }) },
])('due times and leases by the store\'s clock, not the worker\'s ($name)', ({ name, open }) => {
  // docs/storage-redis.md, Clock: "Lease expiry and due times are computed inside the scripts from Redis' `TIME`, never
  // from the workers' clocks." docs/storage-typeorm.md, Clock: "Every due time and lease is computed and compared by the
  // database ...: a worker whose clock is minutes off neither runs delayed jobs early nor steals leases that are still
  // valid."
  const SKEW = 10 * 60_000;
  it('a worker whose clock runs 10 minutes ahead does not claim a delayed job early, leases from the store\'s now, and recovers no live lease', async () => {
    const s = open();
    await s.init();
    const trueNow = Date.now; // the real clock, kept before this process's clock is moved
    try {
      // Only Date moves (frozen 10 minutes ahead); timers and I/O run as usual.
      jest.useFakeTimers({
        now: trueNow() + SKEW,
        doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback',
          'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
      });
      expect(Date.now() - trueNow()).toBeGreaterThan(SKEW - 5000);
      const [later] = await s.insert([newJob({ queue: 'clk-later', delayMs: 60_000 })]);
      expect(later!.job.state).toBe('scheduled');
      // Due one minute after the store's now; the worker's clock would have put it 11 minutes out.
      expect(later!.job.runAt.getTime() - trueNow()).toBeLessThan(SKEW / 2);
      expect(await s.claim({ queue: 'clk-later', limit: 1, leaseMs: 60_000, workerId: 'w' })).toEqual([]);
      await s.promoteDue();
      expect((await s.get(later!.job.id))!.state).toBe('scheduled');

      await s.insert([newJob({ id: 'clk-held', queue: 'clk-now' })]);
      const [held] = await s.claim({ queue: 'clk-now', limit: 1, leaseMs: 60_000, workerId: 'w' });
      expect(held!.job.leaseExpiresAt!.getTime() - trueNow()).toBeLessThan(SKEW / 2);
      expect(held!.job.leaseExpiresAt!.getTime()).toBeGreaterThan(trueNow());
      expect(await s.recoverExpired()).toMatchObject({ recovered: 0 });
      expect((await s.get('clk-held'))!.state).toBe('active');
      expect(await s.heartbeat([{ id: 'clk-held', token: held!.token }], 60_000)).toEqual([]); // still its lease
    } finally {
      jest.useRealTimers();
      if (name === 'mariadb') await dropTables((s as TypeormJobStorage).dataSource, `${tablePrefix}clk_`);
      await s.close();
    }
  });
});
