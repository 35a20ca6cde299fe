import { randomBytes } from 'node:crypto';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { FaultWorkers } from '../support/fault-workers.js';
import { report, stalledWorker, storeOutage, type FaultRig } from '../support/fault-scenarios.js';
import { dropTables } from '../support/sql-tables.js';

// Faults between worker processes and MariaDB, as postgres-faults.spec.ts makes them on PostgreSQL: a partition, a
// reset-and-refuse outage and a worker frozen past its lease, through the same TCP proxy, with the same worker
// fixture on dist/ (defaults: attempts 1, prefetch on; a 2 s lease). A lost claim reply is tested on MariaDB by
// claim-replay.spec.ts (the claim transaction run again), not here.

const LEASE_MS = 2000;
const MY = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const prefix = `t4myfaults_${randomBytes(4).toString('hex')}_`;

const ds = new DataSource(MY);
const storage = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true });
const producer = new UnoJobs({ storage, worker: { enabled: false } });
producer.register('fault.job', async () => {}, { queue: 'fault' });
let rig: FaultRig;

beforeAll(async () => {
  await ds.initialize();
  await producer.start(); // runs the migrations once, before the workers start
  const proxy = await FaultProxy.start({ host: MY.host, port: MY.port });
  const workers = new FaultWorkers({ UNO_BACKEND: 'mariadb', UNO_STORE_PORT: String(proxy.port), UNO_PREFIX: prefix, UNO_LEASE_MS: String(LEASE_MS) });
  rig = { storage, producer, proxy, workers, leaseMs: LEASE_MS };
  await Promise.all([workers.start('myfault-w0'), workers.start('myfault-w1')]);
});

afterAll(async () => {
  await rig?.workers.stopAll();
  await rig?.proxy.close();
  await producer.stop();
  await storage.close();
  await dropTables(ds, prefix);
  await ds.destroy();
});

describe('MariaDB store: faults between the workers and the database', () => {
  it('a partition longer than the lease: no job lost or failed, only jobs caught by it run twice', async () => {
    report('mariadb partition', await storeOutage(rig, 'pause', 300));
  }, 120_000);

  it('connections reset and refused for longer than the lease: no job lost or failed, only jobs caught by it run twice', async () => {
    report('mariadb cut', await storeOutage(rig, 'cut', 300));
  }, 120_000);

  it('a worker frozen past its lease (SIGSTOP, SIGCONT): the new owner\'s outcome stands, the old one\'s writes are refused', async () => {
    report('mariadb SIGSTOP', await stalledWorker(rig));
  }, 120_000);
});
