import { describe, it, expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { migratedTables } from '../support/sql-tables.js';

// A claim whose connection dies while PostgreSQL is still running it. The test holds a lock on the jobs table, so the
// claim's server process waits for it; the proxy then resets the claim's connection. Left alone, that process would
// claim its batch once the lock goes, after the store's retry had looked for the batch and found nothing: the batch
// would be orphaned until its lease ran out. The retry ends that process first (pg_terminate_backend, waiting for it
// to exit), so only the retry's own claim takes jobs.
//
// The same with a transaction whose connection dies while PostgreSQL still runs its COMMIT: the general claim path
// (task limits that bind), which claims in a transaction. A deferred trigger on the jobs table makes the first commit
// wait for an advisory lock the test holds; the proxy then resets that connection. Every PostgreSQL transaction ends
// its server process before it runs again, so that commit rolls back instead of landing behind the retry's look-up.
//
// And a general-path claim whose statement ran and whose reply was lost, with only the client's side of the connection
// reset (a network that dies silently): its server process sits in the transaction with the rows locked until it
// hears of the loss. Ended the same way, it leaves every job it had locked claimable at once.

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const tag = randomBytes(4).toString('hex');
const prefix = `t4ccut_${tag}_`;
const app = `uno-ccut-${tag}`;
const LOCK_KEY = 0x4b435554; // the advisory lock the first commit waits for
const admin = new DataSource(PG);

migratedTables(admin, prefix);

/** Server processes of the store's connections; `waitingBesides`: only those waiting for a lock, other than these. */
async function pidsOf(waitingBesides?: number[]): Promise<number[]> {
  const waiting = waitingBesides ? `AND wait_event_type = 'Lock' AND pid <> ALL($2::int[])` : '';
  const rows = (await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 ${waiting}`, waitingBesides ? [app, waitingBesides] : [app])) as { pid: number }[];
  return rows.map((r) => r.pid);
}

/**
 * A store behind a fault proxy with one connection in its pool, so the retry's is a new server process the test can
 * tell apart, and a connection of the test's own to hold locks with.
 */
async function rig() {
  const proxy = await FaultProxy.start({ host: PG.host, port: PG.port });
  const store = new TypeormJobStorage({ dataSource: { ...PG, port: proxy.port, applicationName: app, extra: { max: 1 } }, tablePrefix: prefix, listen: false });
  return { proxy, store, lock: admin.createQueryRunner() };
}

describe('PostgreSQL store: a claim whose connection dies while the server still runs it', () => {
  it('orphans no job: the retry ends the old server process before it looks for the batch, then claims once', async () => {
    const { proxy, store, lock } = await rig();
    try {
      await store.init();
      await store.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `j${i}` })));
      const before = await pidsOf();
      await lock.connect();
      await lock.startTransaction();
      await lock.query(`LOCK TABLE ${prefix}jobs IN SHARE MODE`);

      const reset = proxy.resetAfterRequest(Buffer.from(`uno_${prefix}jobs_claim_a_`), 300);
      const claiming = store.claim({ queue: 'q', limit: 4, leaseMs: 30_000, workerId: 'w1' });
      await reset;
      // The first try's process still waits for the lock (its client is gone). The retry runs on a new connection:
      // wait until its claim waits for the lock too, then let both go.
      await waitFor(async () => (await pidsOf(before)).length > 0, 10_000, "the retry's claim to wait for the lock");
      await lock.commitTransaction();
      const claimed = await claiming;

      expect(claimed).toHaveLength(4);
      const active = (await admin.query(`SELECT id, token FROM ${prefix}jobs WHERE queue = 'q' AND state = 'active' ORDER BY id`)) as { id: string; token: string }[];
      // Exactly the retry's batch is active, with the tokens the worker holds: the first try claimed nothing.
      expect(active.map((r) => [r.id, r.token])).toEqual(claimed.map((c) => [c.job.id, c.token]).sort());
      expect((await admin.query(`SELECT count(*)::int AS n FROM ${prefix}jobs WHERE queue = 'q' AND state = 'waiting'`))[0].n).toBe(6);
      // The first try's process is gone (the store's connections now are the retry's and its look-ups').
      expect((await pidsOf()).filter((pid) => before.includes(pid))).toEqual([]);
    } finally {
      if (lock.isTransactionActive) await lock.rollbackTransaction();
      await lock.release();
      await store.close();
      await proxy.close();
    }
  }, 60_000);

  it('orphans no job when the COMMIT of a general-path claim was still running: the old server process is ended first', async () => {
    const { proxy, store, lock } = await rig();
    const gate = `${prefix}gate`;
    try {
      await store.init();
      await store.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `k${i}`, queue: 'commit' })));
      // Only the first commit that updated jobs waits (a sequence: not rolled back with the transaction that drew it).
      await admin.query(`CREATE SEQUENCE ${gate}_seq`);
      await admin.query(`CREATE FUNCTION ${gate}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF nextval('${gate}_seq') = 1 THEN PERFORM pg_advisory_xact_lock(${LOCK_KEY}); END IF;
          RETURN NULL;
        END $$`);
      await admin.query(`CREATE CONSTRAINT TRIGGER ${gate} AFTER UPDATE ON ${prefix}jobs DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION ${gate}()`);
      const before = await pidsOf();
      await lock.connect();
      await lock.query(`SELECT pg_advisory_lock(${LOCK_KEY})`);

      const reset = proxy.resetAfterRequest('COMMIT', 300);
      // The task's limit (3) is below the claim's (4): the general path, a transaction.
      const claiming = store.claim({ queue: 'commit', limit: 4, leaseMs: 30_000, workerId: 'w1', taskLimits: { 'test.task': 3 } });
      await reset;
      const claimed = await claiming;
      // Let the first try's commit go, if its process still waits, and wait until that process is gone.
      await lock.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`);
      await waitFor(async () => (await pidsOf()).every((pid) => !before.includes(pid)), 10_000, "the first try's server process to exit");

      expect(claimed).toHaveLength(3);
      const active = (await admin.query(`SELECT id, token FROM ${prefix}jobs WHERE queue = 'commit' AND state = 'active' ORDER BY id`)) as { id: string; token: string }[];
      // Exactly the retry's batch is active, with the tokens the worker holds: the first try committed nothing.
      expect(active.map((r) => [r.id, r.token])).toEqual(claimed.map((c) => [c.job.id, c.token]).sort());
      expect((await admin.query(`SELECT count(*)::int AS n FROM ${prefix}jobs WHERE queue = 'commit' AND state = 'waiting'`))[0].n).toBe(7);
      // The first commit did wait at the gate (the test made the case it means to).
      expect(Number((await admin.query(`SELECT last_value FROM ${gate}_seq`))[0].last_value)).toBeGreaterThan(1);
    } finally {
      await lock.release();
      await store.close();
      await proxy.close();
      await admin.query(`DROP TRIGGER IF EXISTS ${gate} ON ${prefix}jobs`);
      await admin.query(`DROP FUNCTION IF EXISTS ${gate}()`);
      await admin.query(`DROP SEQUENCE IF EXISTS ${gate}_seq`);
    }
  }, 60_000);
  it('leaves no row locked by a claim whose connection died half-open inside its transaction', async () => {
    const { proxy, store, lock } = await rig();
    try {
      await store.init();
      await store.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `h${i}`, queue: 'open' })));
      const before = await pidsOf();
      // The general path's claim statement runs and locks its rows; its reply never arrives, and only the client's
      // side is reset: the server's process sits in the transaction with the locks, and hears nothing.
      const reset = proxy.resetAfterRequest('SKIP LOCKED', 300, { halfOpen: true });
      const claimed = await store.claim({ queue: 'open', limit: 4, leaseMs: 30_000, workerId: 'w1', taskLimits: { 'test.task': 3 } });
      await reset;
      expect(claimed).toHaveLength(3);
      // No row is held any more: a second claim takes every job left.
      const rest = await store.claim({ queue: 'open', limit: 10, leaseMs: 30_000, workerId: 'w2' });
      expect(rest.map((c) => c.job.id).sort()).toEqual(
        Array.from({ length: 10 }, (_, i) => `h${i}`).filter((id) => !claimed.some((c) => c.job.id === id)),
      );
      expect((await pidsOf()).filter((pid) => before.includes(pid))).toEqual([]);
    } finally {
      await lock.release();
      await store.close();
      await proxy.close();
    }
  }, 60_000);
});
