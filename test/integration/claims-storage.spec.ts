import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DataSource, type Logger as TypeormLogger, type QueryRunner } from 'typeorm';
import { ConfigurationError, StorageError, messages } from '../../lib/contract/errors.js';
import { JobStorage, type ClaimReply, type RetentionPolicy } from '../../lib/contract/job-storage.js';
import { UnoJobs } from '../../lib/core/uno-jobs.js';
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
// maxmemory-policy warning, script reloading after a server lost its script cache, the store's clock, the Redis prune
// lock, prune steps and pacing, bulk insert calls (docs/queue.md), drained marks, stores without documents, the
// memory store's capabilities. Real Redis,
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

/** Insert `n` jobs on `queue` and complete them all, 250 a call. */
async function finishMany(s: JobStorage, queue: string, n: number): Promise<void> {
  for (let done = 0; done < n; ) {
    const k = Math.min(250, n - done);
    await s.insert(Array.from({ length: k }, () => newJob({ queue })));
    const claimed = await s.claim({ queue, limit: k, leaseMs: 60_000, workerId: 'w' });
    expect(claimed).toHaveLength(k);
    expect(await s.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })))).toEqual(claimed.map(() => true));
    done += k;
  }
}
const keepCompleted = (maxCount: number): RetentionPolicy => ({ completed: { maxAgeMs: Infinity, maxCount }, failed: keepAll });

describe('Redis prune lock, prune steps and bulk inserts, watched on a server of the test\'s own (MONITOR)', () => {
  let server: TestRedisServer;
  let probe: Redis; // reads keys while the store works, and sends the markers
  let watcher: Redis; // in MONITOR mode
  const seen: { args: string[]; source: string }[] = [];
  let marks = 0;
  let names: Map<string, string>; // script sha -> name
  const opened: { storage: RedisJobStorage; client: Redis }[] = [];

  beforeAll(async () => {
    server = await TestRedisServer.start([]);
    probe = new Redis({ host: '127.0.0.1', port: server.port });
    watcher = await probe.monitor();
    watcher.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args: args.map(String), source: String(source) }));
    names = new Map([...(await loadScripts())].map(([name, script]) => [script.sha, name]));
  }, 30_000);
  afterAll(async () => {
    for (const { storage, client } of opened) {
      await storage.close();
      client.disconnect();
    }
    watcher.disconnect();
    probe.disconnect();
    await server.stop();
  });

  /**
   * A store on a client of the test's own, whose EVALSHA calls go through `around` (by script name): the test may
   * act before a script is sent, or note when it is sent and when its reply comes.
   */
  const open = async () => {
    const client = new Redis({ host: '127.0.0.1', port: server.port });
    const prefix = `own-${randomUUID().slice(0, 8)}`;
    const hook = { around: (_name: string, _args: unknown[], go: () => Promise<unknown>): Promise<unknown> => go() };
    const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
    client.evalsha = ((...args: unknown[]) => hook.around(names.get(String(args[0])) ?? '?', args, () => evalsha(...args))) as typeof client.evalsha;
    const storage = new RedisJobStorage({ connection: client, prefix, logger: quiet });
    opened.push({ storage, client });
    await storage.init();
    return { storage, prefix, hook };
  };

  const marker = async () => {
    const mark = `claims-storage-mark-${++marks}`;
    await probe.echo(mark);
    await waitFor(() => seen.some((c) => c.args[0]!.toLowerCase() === 'echo' && c.args[1] === mark), 5000, `MONITOR to show ${mark}`);
    return seen.findIndex((c) => c.args[0]!.toLowerCase() === 'echo' && c.args[1] === mark);
  };
  /** What `op` resolves to, and every command the server ran meanwhile (MONITOR has shown a marker sent after it). */
  const watch = async <T>(op: () => Promise<T>) => {
    const from = await marker();
    const result = await op();
    const to = await marker();
    return { result, commands: seen.slice(from + 1, to) };
  };
  const is = (c: { args: string[] }, command: string) => c.args[0]!.toLowerCase() === command;
  const scriptOf = (c: { args: string[] }) => (is(c, 'evalsha') ? names.get(c.args[1]!) : undefined);
  /** The ARGV of an EVALSHA line: after the sha, the key count and the keys. */
  const argvOf = (c: { args: string[] }) => c.args.slice(3 + Number(c.args[2]));

  it('a prune takes {<prefix>}:prune-lock by SET NX with a random token and PX 60000, holds it through its steps and releases it with the token; two prunes use different tokens', async () => {
    // docs/storage.md, Retention: "On Redis one process prunes at a time (a lock key `{<prefix>}:prune-lock` with a
    // random token and a 60 s expiry; the others' calls return 0 at once)".
    const { storage: s, prefix, hook } = await open();
    const lock = `{${prefix}}:prune-lock`;
    await finishMany(s, 'q', 300);
    const during: { value: string | null; pttl: number }[] = [];
    hook.around = async (name, _args, go) => {
      if (name === 'prune') during.push({ value: await probe.get(lock), pttl: await probe.pttl(lock) });
      return go();
    };
    const tokens: string[] = [];
    for (const maxCount of [250, 200]) {
      during.length = 0;
      const { result, commands } = await watch(() => s.prune(keepCompleted(maxCount), 10_000));
      expect(result).toBe(50);
      const sets = commands.filter((c) => is(c, 'set') && c.args[1] === lock);
      expect(sets).toHaveLength(1);
      const [, , token, px, ms, nx] = sets[0]!.args;
      expect([px!.toUpperCase(), ms, nx!.toUpperCase()]).toEqual(['PX', '60000', 'NX']);
      expect(token).toMatch(/^[A-Za-z0-9_-]{12,}$/); // 9 random bytes, base64url
      // The step ran while the key held this token, with an expiry of at most 60 s.
      expect(during).toHaveLength(1);
      expect(during[0]!.value).toBe(token);
      expect(during[0]!.pttl).toBeGreaterThan(0);
      expect(during[0]!.pttl).toBeLessThanOrEqual(60_000);
      // SET before the first step; the unlock script, given the token, after the last; the key is gone then.
      const at = (pred: (c: { args: string[] }) => boolean) => commands.findIndex(pred);
      const unlock = at((c) => scriptOf(c) === 'unlock');
      expect(argvOf(commands[unlock]!)).toEqual([token]);
      expect(at((c) => c === sets[0])).toBeLessThan(at((c) => scriptOf(c) === 'prune'));
      expect(at((c) => scriptOf(c) === 'prune')).toBeLessThan(unlock);
      expect(await probe.exists(lock)).toBe(0);
      tokens.push(token!);
    }
    expect(tokens[0]).not.toBe(tokens[1]);

    // Held by another process: the call returns 0 at once (no size read, no script) and leaves that process's lock.
    await probe.set(lock, 'another-process', 'PX', 60_000);
    const { result, commands } = await watch(() => s.prune(keepCompleted(0), 10_000));
    expect(result).toBe(0);
    // (The list of queues may be read first.) The refused SET is the last command: no size read, no script, no unlock.
    expect(commands.filter((c) => !is(c, 'smembers')).map((c) => c.args[0]!.toLowerCase())).toEqual(['set']);
    expect(is(commands[commands.length - 1]!, 'set')).toBe(true);
    expect(await probe.get(lock)).toBe('another-process');
    expect((await s.counts()).completed).toBe(200);
    await probe.del(lock);
  });

  it('prune steps are scripts of at most 250 jobs: 1,000 over the limit take 4 prune scripts; sizes come from ZCARD, and no read goes past the oldest 250', async () => {
    // docs/storage.md, Retention: "One prune call is many small store steps: ... a script deleting at most 250 jobs on
    // Redis, each on its own"; "Redis reads sizes with `ZCARD` (O(1)) and the oldest entries of each queue's finished
    // set". docs/storage-redis.md: "each step reads the oldest 250 entries of every queue's finished set".
    const { storage: s, prefix } = await open();
    await finishMany(s, 'q', 1050);
    const one = await watch(() => s.prune(keepCompleted(50), 10_000));
    expect(one.result).toBe(1000);
    const scripts = (commands: typeof one.commands) => commands.filter((c) => scriptOf(c) === 'prune');
    // ARGV: the kind, then the ids.
    expect(scripts(one.commands).map((c) => argvOf(c).length - 1)).toEqual([250, 250, 250, 250]);
    const set = `{${prefix}:q}:completed`;
    const client = (commands: typeof one.commands) => commands.filter((c) => c.source !== 'lua');
    expect(client(one.commands).filter((c) => is(c, 'zcard')).map((c) => c.args[1])).toEqual([set]);
    // Every range read by the client is of the oldest 250 at most (indexes 0..249); no count over the set.
    const ranges = client(one.commands).filter((c) => is(c, 'zrange'));
    expect(ranges).toHaveLength(4);
    for (const r of ranges) expect([r.args[2], Number(r.args[3])]).toEqual(['0', expect.any(Number)]);
    expect(Math.max(...ranges.map((r) => Number(r.args[3])))).toBeLessThanOrEqual(249);
    expect(Math.min(...ranges.map((r) => Number(r.args[3])))).toBeGreaterThanOrEqual(0);
    expect(client(one.commands).filter((c) => ['zcount', 'zrangebyscore', 'scan', 'keys', 'zscan'].includes(c.args[0]!.toLowerCase()))).toEqual([]);
    expect((await s.counts()).completed).toBe(50);

    // Two queues, 1,000 over the limit together: each script still holds at most 250 ids.
    await finishMany(s, 'qa', 600);
    await finishMany(s, 'qb', 600);
    const two = await watch(() => s.prune(keepCompleted(250), 10_000));
    expect(two.result).toBe(1000);
    const sizes = scripts(two.commands).map((c) => argvOf(c).length - 1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(250);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(client(two.commands).filter((c) => is(c, 'zcard')).map((c) => c.args[1]).sort()).toEqual(
      ['q', 'qa', 'qb'].map((queue) => `{${prefix}:${queue}}:completed`).sort(),
    );
    for (const r of client(two.commands).filter((c) => is(c, 'zrange'))) {
      expect(r.args[2]).toBe('0');
      expect(Number(r.args[3])).toBeLessThanOrEqual(249);
    }
    expect((await s.counts()).completed).toBe(250);
  });

  it('enqueueMany of 700 jobs is one store call of 3 insert scripts (250, 250, 200 jobs), all sent before the first reply', async () => {
    // docs/queue.md: "`enqueueMany` ... inserts all in one store call (on Redis: script calls of up to 250 jobs sent
    // back to back, without waiting between them". docs/storage-redis.md: "a batch ... goes to `insert.lua` in calls of
    // at most 250 jobs per queue, sent back to back".
    const { storage: s, hook } = await open();
    const uno = new UnoJobs({ storage: s, worker: { enabled: false } });
    uno.register('bulk', () => null);
    const timeline: string[] = [];
    hook.around = (name, args, go) => {
      if (name !== 'insert') return go();
      timeline.push(`send ${args[5 + Number(args[1])]}`); // ARGV[4] (after the sha, the key count and the keys): the jobs in this call
      return go().then((reply) => (timeline.push('reply'), reply));
    };
    let storeCalls = 0;
    const insert = s.insert.bind(s);
    s.insert = (...args: Parameters<typeof insert>) => (storeCalls++, insert(...args));
    const { result, commands } = await watch(() => uno.queue.enqueueMany(Array.from({ length: 700 }, (_, i) => ({ task: 'bulk', payload: { i } }))));
    expect(result).toHaveLength(700);
    expect(storeCalls).toBe(1);
    expect(timeline).toEqual(['send 250', 'send 250', 'send 200', 'reply', 'reply', 'reply']);
    // The server ran those three calls, and no other insert.
    const inserts = commands.filter((c) => scriptOf(c) === 'insert' || scriptOf(c) === 'insert-plain');
    expect(inserts.map((c) => [scriptOf(c), Number(argvOf(c)[3])])).toEqual([['insert', 250], ['insert', 250], ['insert', 200]]);
    expect((await s.counts()).waiting).toBe(700);
  });
});

describe('claim replies of memory and SQL stores carry no drained mark (docs/storage.md, "The Redis store marks its replies; the others do not")', () => {
  const cases: { name: string; open: () => JobStorage; marks: boolean; cleanup?: (s: JobStorage) => Promise<void> }[] = [
    { name: 'memory', open: () => new MemoryJobStorage({ clock: new ManualClock(Date.now()) }), marks: false },
    { name: 'sqlite', open: () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix }), marks: false },
    { name: 'postgres', open: () => new TypeormJobStorage({ dataSource: PG, tablePrefix: `${tablePrefix}dr_` }), marks: false },
    {
      name: 'mariadb',
      open: () => new TypeormJobStorage({ dataSource: MARIADB, tablePrefix: `${tablePrefix}dr_` }),
      marks: false,
      cleanup: (s) => dropTables((s as TypeormJobStorage).dataSource, `${tablePrefix}dr_`),
    },
    // The control: the same claims on Redis are marked.
    { name: 'redis', open: () => new RedisJobStorage({ connection: REDIS, prefix: `${redisTag}-${randomUUID().slice(0, 8)}`, logger: quiet }), marks: true },
  ];
  it.each(cases)('$name: a claim that took the last job, and one that found none, with a listener subscribed', async ({ open, marks, cleanup }) => {
    const s = open();
    await s.init();
    const off = s.subscribe?.(() => {});
    try {
      await s.insert([newJob({ queue: 'drain' })]);
      const replies: ClaimReply[] = [];
      for (let i = 0; i < 2; i++) replies.push(await s.claim({ queue: 'drain', limit: 5, leaseMs: 60_000, workerId: 'w' }));
      expect(replies.map((r) => r.length)).toEqual([1, 0]);
      for (const reply of replies) {
        if (marks) expect(reply.drained).toBe(true);
        else {
          expect(reply.drained).toBeUndefined();
          expect(Object.getOwnPropertyNames(reply)).not.toContain('drained');
        }
      }
    } finally {
      off?.();
      if (cleanup) await cleanup(s);
      await s.close();
    }
  });
});

describe('versioned documents on a store without them (docs/storage.md, "A store without them refuses both with a `StorageError`, and alerts say so at start")', () => {
  /** The memory store with the contract's defaults of readDocument and writeDocument. */
  class NoDocuments extends MemoryJobStorage {
    override readDocument(key: string) {
      return JobStorage.prototype.readDocument.call(this, key);
    }
    override writeDocument(key: string, expectedVersion: number | null, data: string) {
      return JobStorage.prototype.writeDocument.call(this, key, expectedVersion, data);
    }
  }

  it('readDocument and writeDocument reject with a StorageError (documentsUnsupported); an engine with alert rules fails at start', async () => {
    const s = new NoDocuments();
    const read = s.readDocument('alerts');
    await expect(read).rejects.toBeInstanceOf(StorageError);
    await expect(read).rejects.toThrow(messages.documentsUnsupported());
    const write = s.writeDocument('alerts', null, '{}');
    await expect(write).rejects.toBeInstanceOf(StorageError);
    await expect(write).rejects.toThrow(messages.documentsUnsupported());

    const clock = new ManualClock();
    const alerts = { rules: [{ type: 'backlog' as const, queue: 'q', above: 5 }], intervalMs: 1000 };
    const uno = new UnoJobs({ storage: new NoDocuments({ clock }), clock, worker: { enabled: false }, alerts });
    const started = uno.start();
    await expect(started).rejects.toBeInstanceOf(ConfigurationError);
    await expect(started).rejects.toThrow(messages.documentsUnsupported());
    await uno.stop().catch(() => undefined);
    // The control: the memory store keeps documents, and the same engine starts.
    const ok = new UnoJobs({ storage: new MemoryJobStorage({ clock }), clock, worker: { enabled: false }, alerts });
    await ok.start();
    await ok.stop();
  });
});

describe('the memory store\'s row of the capability table (docs/storage.md)', () => {
  // "| memory | this page | no | yes | at once | no | yes | yes (substring) |": shared by processes, push wake-ups, cancel
  // notices, transactional enqueue, flows, payload search.
  it('not shared by processes, push wake-ups, no transactional enqueue, flows, payload search; a cancel notice arrives at once', async () => {
    const s = new MemoryJobStorage({ clock: new ManualClock() });
    expect(s.capabilities).toEqual({ push: true, distributed: false, transactions: false, flows: true, groups: true, payloadSearch: true });
    const cancelled: string[] = [];
    const off = s.subscribeCancels!((id) => cancelled.push(id));
    await s.insert([newJob({ id: 'active-one' })]);
    await s.claim({ queue: 'q', limit: 1, leaseMs: 60_000, workerId: 'w' });
    await s.cancel('active-one');
    expect(cancelled).toEqual(['active-one']); // by the time cancel returned, nothing awaited in between
    off?.();
    const woken: string[] = [];
    s.subscribe!((queue) => woken.push(queue));
    await s.insert([newJob({ queue: 'pushed' })]);
    await waitFor(() => woken.includes('pushed'), 5000, 'the wake-up of queue pushed');
    expect((await s.list({ payloadContains: 'needle' }, { limit: 10 })).jobs).toEqual([]);
  });
});

describe('prune pacing caps at 1,000 finished jobs (docs/storage.md, "a tenth of that kind\'s `maxCount` (between 100 and 1,000 jobs)")', () => {
  class CountingStorage extends MemoryJobStorage {
    readonly calls: RetentionPolicy[] = [];
    override prune(policy: RetentionPolicy, limit: number) {
      this.calls.push(policy);
      return super.prune(policy, limit);
    }
  }

  it('with maxCount 50,000 a round of the kind starts at the 1,000th job finished here, and again at the 2,000th (not every 5,000)', async () => {
    const clock = new ManualClock();
    const storage = new CountingStorage({ clock });
    const uno = new UnoJobs({ storage, clock, retention: { completed: { maxCount: 50_000 }, failed: { maxCount: 50_000 } }, worker: { concurrency: 50 } });
    uno.register('ok', () => null);
    uno.register('bad', () => {
      throw new Error('no');
    });
    /** Rounds started by finished jobs of one kind: the other kind's rule keeps everything in them. */
    const paced = (kind: 'completed' | 'failed') =>
      storage.calls.filter((p) => p[kind].maxCount === 50_000 && p[kind === 'completed' ? 'failed' : 'completed'].maxCount === Infinity).length;
    const run = async (task: 'ok' | 'bad', n: number, kind: 'completed' | 'failed', total: number) => {
      await uno.queue.enqueueMany(Array.from({ length: n }, (_, i) => ({ task, payload: { i }, options: { attempts: 1 } })));
      // 10 ms steps of the engine's clock, 5 s at most: far from the 60 s periodic round.
      for (let i = 0; i < 500 && (await uno.queue.counts())[kind] < total; i++) await clock.advance(10);
      expect((await uno.queue.counts())[kind]).toBe(total);
      await clock.advance(10);
    };
    await uno.start();
    try {
      await clock.advance(1); // the first periodic round: both kinds
      expect(storage.calls.length).toBeGreaterThanOrEqual(1);
      expect(storage.calls.every((p) => p.completed.maxCount === 50_000 && p.failed.maxCount === 50_000)).toBe(true);
      const periodic = storage.calls.length;

      await run('ok', 999, 'completed', 999);
      expect(paced('completed')).toBe(0);
      await run('ok', 1, 'completed', 1000);
      expect(paced('completed')).toBe(1);
      await run('ok', 999, 'completed', 1999);
      expect(paced('completed')).toBe(1);
      await run('ok', 1, 'completed', 2000);
      expect(paced('completed')).toBe(2);

      await run('bad', 999, 'failed', 999);
      expect(paced('failed')).toBe(0);
      await run('bad', 1, 'failed', 1000);
      expect(paced('failed')).toBe(1);
      // No periodic round came meanwhile: every other call was a paced one.
      expect(storage.calls.length).toBe(periodic + 3);
    } finally {
      await uno.stop(0);
    }
  });
});

describe('SQL prune steps: one transaction per step, at most 500 rows each (docs/storage.md, "a transaction deleting at most 500 rows on SQL")', () => {
  // "One prune call is many small store steps: a transaction deleting at most 500 rows on SQL, ... each on its own".
  // Each case opens a store on a DataSource it can watch and reports every DELETE of the jobs table with the
  // transaction it ran in and the rows it deleted.
  type Deletion = { tx: number; rows: number };
  const own = `${tablePrefix}ps_`;
  const isJobsDelete = (sql: string) => new RegExp(`^(WITH gone AS \\()?DELETE FROM\\W*${own}jobs\\W`).test(sql.trim());
  const cases: { name: string; open: () => Promise<{ storage: TypeormJobStorage; deletions: Deletion[]; close: () => Promise<void> }> }[] = [
    {
      name: 'sqlite',
      open: async () => {
        const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
        await ds.initialize();
        type Statement = { run: (...params: unknown[]) => { changes: number } };
        const db = (ds.driver as unknown as { databaseConnection: { prepare: (sql: string) => Statement; transaction: (fn: (...a: unknown[]) => unknown) => unknown } }).databaseConnection;
        const deletions: Deletion[] = [];
        let tx = 0;
        const transaction = db.transaction.bind(db);
        db.transaction = (fn) => transaction((...a: unknown[]) => (tx++, fn(...a)));
        const prepare = db.prepare.bind(db);
        db.prepare = (sql) => {
          const statement = prepare(sql);
          if (isJobsDelete(sql)) {
            const run = statement.run.bind(statement);
            statement.run = (...params) => {
              const result = run(...params);
              deletions.push({ tx, rows: result.changes });
              return result;
            };
          }
          return statement;
        };
        const storage = new TypeormJobStorage({ dataSource: ds, tablePrefix: own, runMigrations: true });
        return { storage, deletions, close: async () => {
          await storage.close();
          await ds.destroy();
        } };
      },
    },
    {
      name: 'postgres',
      open: async () => {
        const ds = new DataSource({ ...PG });
        await ds.initialize();
        type Result = { rows: Record<string, unknown>[] };
        type Client = { query: (...args: unknown[]) => unknown };
        const pool = (ds.driver as unknown as { master: { connect: (...args: unknown[]) => unknown } }).master;
        const deletions: Deletion[] = [];
        let txs = 0;
        const watched = new WeakMap<Client, { tx: number }>();
        const watch = (client: Client) => {
          if (watched.has(client)) return client;
          const state = { tx: 0 };
          watched.set(client, state);
          const query = client.query.bind(client);
          client.query = (...args: unknown[]) => {
            const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text ?? '';
            if (text === 'BEGIN') state.tx = ++txs;
            const out = query(...args);
            if (isJobsDelete(text) && out instanceof Promise) {
              const tx = state.tx;
              void out.then((r: Result) => deletions.push({ tx, rows: Number(r.rows[0]!.n) }), () => undefined);
            }
            return out;
          };
          return client;
        };
        const connect = pool.connect.bind(pool);
        pool.connect = (...args: unknown[]) => {
          const callback = args[0] as ((error: unknown, client: Client, release: unknown) => void) | undefined;
          if (typeof callback === 'function') return connect((error: unknown, client: Client, release: unknown) => callback(error, client && watch(client), release));
          return (connect() as Promise<Client>).then(watch);
        };
        const storage = new TypeormJobStorage({ dataSource: ds, tablePrefix: own, runMigrations: true, listen: false });
        return { storage, deletions, close: async () => {
          await storage.close();
          await ds.destroy();
        } };
      },
    },
    {
      name: 'mariadb',
      open: async () => {
        const deletions: Deletion[] = [];
        let txs = 0;
        const txOf = new WeakMap<object, number>();
        const logger: TypeormLogger = {
          logQuery: (query: string, parameters?: unknown, runner?: QueryRunner) => {
            if (!runner) return;
            if (/^START TRANSACTION/i.test(query)) txOf.set(runner, ++txs);
            // The DELETE names its rows by id: one parameter a row.
            if (isJobsDelete(query)) deletions.push({ tx: txOf.get(runner) ?? 0, rows: (parameters as unknown[]).length });
          },
          logQueryError: () => undefined,
          logQuerySlow: () => undefined,
          logSchemaBuild: () => undefined,
          logMigration: () => undefined,
          log: () => undefined,
        };
        const storage = new TypeormJobStorage({ dataSource: { ...MARIADB, logger }, tablePrefix: own });
        return { storage, deletions, close: async () => {
          await dropTables(storage.dataSource, own);
          await storage.close();
        } };
      },
    },
  ];

  it.each(cases)('$name: 1,200 completed jobs over the limit go in 3 transactions of 500, 500 and 200 rows', async ({ open }) => {
    const { storage: s, deletions, close } = await open();
    await s.init();
    try {
      await finishMany(s, 'q', 1250);
      deletions.length = 0;
      expect(await s.prune(keepCompleted(50), 10_000)).toBe(1200);
      expect(deletions.map((d) => d.rows)).toEqual([500, 500, 200]);
      // Each DELETE in a transaction of its own.
      expect(deletions.every((d) => d.tx > 0)).toBe(true);
      expect(new Set(deletions.map((d) => d.tx)).size).toBe(3);
      expect((await s.counts()).completed).toBe(50);
    } finally {
      await close();
    }
  });
});
