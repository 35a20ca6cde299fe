import { randomBytes } from 'node:crypto';
import { describe, it } from '@jest/globals';
import { report, stalledWorker, storeOutage } from '../support/fault-scenarios.js';
import { sqlFaultRig } from '../support/sql-fault-rig.js';

// Faults between worker processes and MariaDB, as postgres-faults.spec.ts makes them on PostgreSQL: a partition, a
// reset-and-refuse outage and a worker frozen past its lease, through the same TCP proxy, with the same worker
// fixture on dist/ (defaults: attempts 1, prefetch on; a 2 s lease). A lost claim reply is tested on MariaDB by
// claim-replay.spec.ts (the claim transaction run again), not here.

const LEASE_MS = 2000;
const MY = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const prefix = `t4myfaults_${randomBytes(4).toString('hex')}_`;

const rig = sqlFaultRig('mariadb', MY, prefix, 'myfault-w', LEASE_MS);

describe('MariaDB store: faults between the workers and the database', () => {
  it('a partition longer than the lease: no job lost or failed, only jobs caught by it run twice', async () => {
    report('mariadb partition', await storeOutage(rig(), 'pause', 300));
  }, 120_000);

  it('connections reset and refused for longer than the lease: no job lost or failed, only jobs caught by it run twice', async () => {
    report('mariadb cut', await storeOutage(rig(), 'cut', 300));
  }, 120_000);

  it('a worker frozen past its lease (SIGSTOP, SIGCONT): the new owner\'s outcome stands, the old one\'s writes are refused', async () => {
    report('mariadb SIGSTOP', await stalledWorker(rig()));
  }, 120_000);
});
