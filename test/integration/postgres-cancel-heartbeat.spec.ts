import { describe, it, expect, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { waitFor } from '../../lib/testing/index.js';
import { deferred, waitsForAbort } from '../support/engine.js';
import { dropTables } from '../support/sql-tables.js';

/**
 * PostgreSQL with `listen: false` sends no cancel notices (docs/storage-typeorm.md): a worker learns that another
 * process cancelled its running job only when its next heartbeat finds the lease gone, and must then end the job as a
 * cancellation (JobCancelledError, `job:cancelled`), not as a lost lease. Two stores on one table prefix stand in for
 * two processes: each has its own connections, and the worker's hears nothing from the other's cancel. The lease is
 * 3 s, so the heartbeat comes every second.
 */
const DB = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const prefix = `uno_cxhb_${randomBytes(4).toString('hex')}_`;
const LEASE_MS = 3000;
const stores: TypeormJobStorage[] = [];
const open = (listen: boolean) => {
  const store = new TypeormJobStorage({ dataSource: DB, tablePrefix: prefix, listen });
  stores.push(store);
  return store;
};

afterAll(async () => {
  await dropTables(stores[0]!.dataSource, prefix);
  for (const store of stores) await store.close();
});

describe('PostgreSQL with listen: false: a cancel from another process', () => {
  it('ends the running job at the next heartbeat as a cancellation, not a lost lease', async () => {
    const admin = new UnoJobs({ storage: open(true), worker: { enabled: false } });
    const workerStore = open(false);
    const worker = new UnoJobs({ storage: workerStore, worker: { concurrency: 1, leaseMs: LEASE_MS } });
    const seen: string[] = [];
    worker.events.on('job:active', ({ job }) => seen.push(`active ${job.id}`));
    worker.events.on('job:cancelled', ({ jobId }) => seen.push(`cancelled ${jobId}`));
    worker.events.on('job:lease-lost', ({ jobId }) => seen.push(`lease-lost ${jobId}`));
    const reasons: unknown[] = [];
    const started = deferred();
    worker.register('long', waitsForAbort(started.resolve, reasons));
    admin.register('long', () => null);
    try {
      await admin.start(); // creates the tables
      await worker.start();
      expect(workerStore.subscribeCancels(() => undefined)).toBeNull(); // no notice path: only the heartbeat can tell
      const job = await admin.queue.enqueue('long', null);
      await started.promise;
      await admin.queue.cancel(job.id);
      await waitFor(() => reasons.length > 0, 15_000, 'the running job to be aborted at a heartbeat');
      expect(reasons.map((r) => (r as Error).name)).toEqual(['JobCancelledError']);
      await waitFor(() => seen.length >= 2, 5_000, 'the job:cancelled event');
      expect(seen).toEqual([`active ${job.id}`, `cancelled ${job.id}`]);
      expect((await admin.queue.getJob(job.id))!.state).toBe('cancelled');
    } finally {
      await worker.stop(0);
      await admin.stop(0);
    }
  }, 40_000);
});
