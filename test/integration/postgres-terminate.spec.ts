import { describe, it, expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
import { migratedTables } from '../support/sql-tables.js';

// Connections killed under the store (pg_terminate_backend): no job is lost, no lease outlives its expiry, and the
// store keeps working on fresh connections (the pool replaces dead ones, LISTEN reconnects).

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const tag = randomBytes(4).toString('hex');
const prefix = `t4term_${tag}_`;
const app = `uno-term-${tag}`;
const admin = new DataSource(PG);

const terminateAll = async (): Promise<number> =>
  ((await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [app])) as unknown[]).length;

migratedTables(admin, prefix);

/** A store of its own connections (named `app`, so terminateAll reaches them) on an emptied table, closed after `fn`. */
async function withStore(fn: (store: TypeormJobStorage) => Promise<void>): Promise<void> {
  await admin.query(`DELETE FROM ${prefix}jobs`);
  const store = new TypeormJobStorage({ dataSource: { ...PG, applicationName: app }, tablePrefix: prefix, listen: false });
  await store.init();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

describe('PostgreSQL store: connections killed with pg_terminate_backend', () => {
  it('a claim killed while it waits inside the database changes nothing, and is retried on a fresh connection', async () => {
    await admin.query(`DELETE FROM ${prefix}jobs`);
    const store = new TypeormJobStorage({ dataSource: { ...PG, applicationName: app }, tablePrefix: prefix, listen: false });
    await store.init();
    const locker = admin.createQueryRunner();
    try {
      await store.insert(Array.from({ length: 50 }, (_, i) => newJob({ id: `k${i}` })));
      // Hold the table so the claim statement blocks inside PostgreSQL, then kill its backend right there.
      await locker.startTransaction();
      // Should the test fail midway, PostgreSQL ends the lock holder itself rather than stall the other tests.
      await locker.query(`SET LOCAL idle_in_transaction_session_timeout = '15s'`);
      await locker.query(`LOCK TABLE ${prefix}jobs IN ACCESS EXCLUSIVE MODE`);
      const claim = store.claim({ queue: 'q', limit: 50, leaseMs: 10_000, workerId: 'victim' });
      const waiting = async () =>
        ((await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [app])) as { pid: number }[]).map((r) => r.pid);
      let first: number[] = [];
      await waitFor(async () => (first = await waiting()).length === 1, 5000, 'the claim to wait on the lock');
      await admin.query(`SELECT pg_terminate_backend($1)`, [first[0]]);
      // The store retries once on a fresh connection: that attempt waits on the lock in turn.
      await waitFor(async () => {
        const now = await waiting();
        return now.length === 1 && now[0] !== first[0];
      }, 5000, 'the retried claim to wait on the lock');
      await locker.commitTransaction();
      // The killed attempt left no trace: the retry gets every job, each counted once.
      const claimed = await claim;
      expect(claimed).toHaveLength(50);
      expect(claimed.every((c) => c.job.attempt === 1)).toBe(true);
      expect(await store.counts()).toMatchObject({ waiting: 0, active: 50 });
    } finally {
      if (locker.isTransactionActive) await locker.rollbackTransaction();
      await locker.release();
      await store.close();
    }
  });

  /**
   * Start a claim of the 20 waiting jobs while the table is locked, kill `kills` of its tries while each waits on the
   * lock (a killed backend can still be listed for a moment: skip it), then release the lock. The claim comes back
   * wrapped, so that a kill that never happened fails the test here rather than pass for the claim's own failure.
   */
  const claimKilled = async (store: TypeormJobStorage, kills: number) => {
    const locker = admin.createQueryRunner();
    try {
      await locker.startTransaction();
      // Should the test fail midway, PostgreSQL ends the lock holder itself rather than stall the other tests.
      await locker.query(`SET LOCAL idle_in_transaction_session_timeout = '15s'`);
      await locker.query(`LOCK TABLE ${prefix}jobs IN ACCESS EXCLUSIVE MODE`);
      const claim = store.claim({ queue: 'q', limit: 20, leaseMs: 10_000, workerId: 'victim' });
      claim.catch(() => undefined);
      const killed: number[] = [];
      for (let kill = 0; kill < kills; kill++) {
        await waitFor(async () => {
          const rows = (await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [app])) as { pid: number }[];
          const fresh = rows.find((r) => !killed.includes(r.pid));
          if (!fresh) return false;
          await admin.query(`SELECT pg_terminate_backend($1)`, [fresh.pid]);
          killed.push(fresh.pid);
          return true;
        }, 5000, `try ${kill + 1} of the claim to wait on the lock, and be killed`);
      }
      await locker.commitTransaction();
      return { claim };
    } finally {
      if (locker.isTransactionActive) await locker.rollbackTransaction();
      await locker.release();
    }
  };

  it('a claim killed twice takes every job on its third try, each counted once', async () => {
    await withStore(async (store) => {
      await store.insert(Array.from({ length: 20 }, (_, i) => newJob({ id: `t${i}` })));
      const claimed = await (await claimKilled(store, 2)).claim;
      expect(claimed.map((c) => c.job.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `t${i}`).sort());
      expect(claimed.every((c) => c.job.attempt === 1)).toBe(true);
      expect(await store.counts()).toMatchObject({ waiting: 0, active: 20 });
    });
  });

  it('a claim killed on each of its three tries fails cleanly and leaves every job waiting', async () => {
    await withStore(async (store) => {
      await store.insert(Array.from({ length: 20 }, (_, i) => newJob({ id: `t${i}` })));
      await expect((await claimKilled(store, 3)).claim).rejects.toThrow(/terminating connection/);
      expect(await store.counts()).toMatchObject({ waiting: 20, active: 0 });
      expect(await store.claim({ queue: 'q', limit: 20, leaseMs: 1000, workerId: 'next' })).toHaveLength(20);
    });
  });

  it('a lease taken by a claim whose connection then died expires and the job is recovered', async () => {
    await withStore(async (store) => {
      await store.insert([newJob({ id: 'orphan' })]);
      // The claim committed, then the connection and the worker are gone before anything else is written.
      await store.claim({ queue: 'q', limit: 1, leaseMs: 500, workerId: 'gone' });
      expect(await terminateAll()).toBeGreaterThan(0);
      expect((await store.recoverExpired()).recovered).toBe(0);
      await waitFor(async () => (await store.recoverExpired()).recovered === 1, 5000, 'the orphaned lease to be recovered');
      const job = (await store.get('orphan'))!;
      expect(job.state).toBe('waiting');
      expect(job.leaseExpiresAt).toBeNull();
      // The claim's reply never reached a worker: the job never started, so it comes back unchanged.
      expect(job.attempt).toBe(0);
      expect(job.stalls).toBe(0);
      expect(job.errors).toEqual([]);
    });
  });

  it('reads and transactions right after every pooled connection was killed succeed on fresh connections', async () => {
    await withStore(async (store) => {
      await store.insert([newJob({ id: 'kept' })]);
      // A failover or restart kills every pooled connection at once; the pool learns of its idle ones only as their
      // sockets report it, so a statement's retry can draw another dead one.
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: 8 }, () => store.counts()));
        expect(await terminateAll()).toBeGreaterThan(1);
        expect((await store.counts()).waiting).toBe(1);
        await Promise.all(Array.from({ length: 8 }, () => store.get('kept')));
        await terminateAll();
        expect((await store.list({}, { limit: 10 })).jobs.map((j) => j.id)).toEqual(['kept']);
      }
    });
  });

  it('a worker whose connections are killed again and again still completes every job', async () => {
    await admin.query(`DELETE FROM ${prefix}jobs`);
    const JOBS = 600;
    const storage = new TypeormJobStorage({ dataSource: { ...PG, applicationName: app }, tablePrefix: prefix });
    const uno = new UnoJobs({
      storage,
      worker: { concurrency: 20, leaseMs: 1000, pollIntervalMs: 100 },
      retention: { completed: { maxCount: 1e9 } },
      maintenanceIntervalMs: 200,
    });
    const runs = new Map<string, number>();
    uno.register('term.job', async (_p, ctx) => {
      runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 1));
    });
    await uno.start();
    let kills = 0;
    const kill = () => terminateAll().then((n) => void (kills += n), () => undefined);
    await kill(); // the pool's and the LISTEN connection, right after start
    // 40 rounds of kills, 150 ms apart, while the jobs are enqueued and run. A fixed number of rounds, not a time:
    // on a loaded machine a reconnect can take longer than the gap, and kills that never stop would then allow no
    // progress at all, which would test the machine rather than the store.
    let rounds = 0;
    const killer = setInterval(() => {
      if (++rounds >= 40) clearInterval(killer);
      void kill();
    }, 150);
    const completed = async () => (await storage.counts().catch(() => null))?.completed ?? -1;
    try {
      for (let i = 0; i < JOBS; i += 200) {
        const batch = Array.from({ length: 200 }, (_, k) => ({ task: 'term.job', payload: { i: i + k } }));
        // An enqueue can hit a killed connection too; the caller retries, as an app would.
        await waitFor(() => uno.queue.enqueueMany(batch).then(() => true, () => false), 60_000, 'an enqueue to succeed');
      }
      // The wait bounds a hang, not a speed: every kill costs a reconnect and every lost lease its expiry.
      await waitFor(async () => (await completed()) === JOBS, 120_000, 'every job to complete after the connection kills');
    } finally {
      clearInterval(killer);
    }
    const counts = await storage.counts();
    expect(counts).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: JOBS, failed: 0, cancelled: 0 });
    expect(runs.size).toBe(JOBS);
    expect(kills).toBeGreaterThan(0); // the kills really hit the store's connections
    await uno.stop(1000);
    await storage.close();
  }, 240_000);
});
