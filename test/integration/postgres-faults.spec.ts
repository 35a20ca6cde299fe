import { randomBytes } from 'node:crypto';
import { describe, it } from '@jest/globals';
import { lostClaimReply, report, stalledWorker, storeOutage } from '../support/fault-scenarios.js';
import { sqlFaultRig } from '../support/sql-fault-rig.js';

// Faults between worker processes and PostgreSQL, made by a TCP proxy the test drives (test/support/fault-proxy.ts):
// a partition, a reset-and-refuse outage, a lost claim reply, and a worker frozen past its lease. The workers run
// test/integration/fixtures/fault-worker.mjs on dist/ with the defaults (attempts: 1, prefetch on) and a 2 s lease;
// their pools and LISTEN connection all go through the proxy.

const LEASE_MS = 2000;
const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const prefix = `t4faults_${randomBytes(4).toString('hex')}_`;

const rig = sqlFaultRig('postgres', PG, prefix, 'fault-w', LEASE_MS);

describe('PostgreSQL store: faults between the workers and the database', () => {
  it('a partition longer than the lease: no job lost or failed, only jobs caught by it run twice', async () => {
    report('postgres partition', await storeOutage(rig(), 'pause', 300));
  }, 120_000);

  it('connections reset and refused for longer than the lease: no job lost or failed, only jobs caught by it run twice', async () => {
    report('postgres cut', await storeOutage(rig(), 'cut', 300));
  }, 120_000);

  it('a lost claim reply orphans no job: the retried claim gets the same batch, which runs once, unchanged', async () => {
    // The claim travels as a prepared statement named after the jobs table (see PostgresFastPath). Its answer is
    // lost whole, up to ReadyForQuery ('Z', length 5): the server has ended the claim's transaction by then. (A
    // connection that dies while the server still commits is another fault: see docs/reliability.md.)
    const readyForQuery = Buffer.from([0x5a, 0, 0, 0, 5]);
    report('postgres lost claim reply', await lostClaimReply(rig(), Buffer.from(`uno_${prefix}jobs_claim_a_`), (reply) => reply.includes(readyForQuery)));
  }, 120_000);

  it('a worker frozen past its lease (SIGSTOP, SIGCONT): the new owner\'s outcome stands, the old one\'s writes are refused', async () => {
    report('postgres SIGSTOP', await stalledWorker(rig()));
  }, 120_000);
});
