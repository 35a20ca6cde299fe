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

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const tag = randomBytes(4).toString('hex');
const prefix = `t4ccut_${tag}_`;
const app = `uno-ccut-${tag}`;
const admin = new DataSource(PG);

migratedTables(admin, prefix);

/** Server processes of the store's connections; `waitingBesides`: only those waiting for a lock, other than these. */
async function pidsOf(waitingBesides?: number[]): Promise<number[]> {
  const waiting = waitingBesides ? `AND wait_event_type = 'Lock' AND pid <> ALL($2::int[])` : '';
  const rows = (await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 ${waiting}`, waitingBesides ? [app, waitingBesides] : [app])) as { pid: number }[];
  return rows.map((r) => r.pid);
}

describe('PostgreSQL store: a claim whose connection dies while the server still runs it', () => {
  it('orphans no job: the retry ends the old server process before it looks for the batch, then claims once', async () => {
    const proxy = await FaultProxy.start({ host: PG.host, port: PG.port });
    // One connection in the store's pool, so the retry's is a new server process the test can tell apart.
    const store = new TypeormJobStorage({ dataSource: { ...PG, port: proxy.port, applicationName: app, extra: { max: 1 } }, tablePrefix: prefix, listen: false });
    const lock = admin.createQueryRunner();
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
      const active = (await admin.query(`SELECT id, token FROM ${prefix}jobs WHERE state = 'active' ORDER BY id`)) as { id: string; token: string }[];
      // Exactly the retry's batch is active, with the tokens the worker holds: the first try claimed nothing.
      expect(active.map((r) => [r.id, r.token])).toEqual(claimed.map((c) => [c.job.id, c.token]).sort());
      expect((await admin.query(`SELECT count(*)::int AS n FROM ${prefix}jobs WHERE state = 'waiting'`))[0].n).toBe(6);
      // The first try's process is gone (the store's connections now are the retry's and its look-ups').
      expect((await pidsOf()).filter((pid) => before.includes(pid))).toEqual([]);
    } finally {
      if (lock.isTransactionActive) await lock.rollbackTransaction();
      await lock.release();
      await store.close();
      await proxy.close();
    }
  }, 60_000);
});
