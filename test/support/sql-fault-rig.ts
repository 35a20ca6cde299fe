import { beforeAll, afterAll } from '@jest/globals';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { FaultProxy } from './fault-proxy.js';
import { FaultWorkers } from './fault-workers.js';
import type { FaultRig } from './fault-scenarios.js';
import { dropTables } from './sql-tables.js';

/**
 * The rig of a SQL fault spec (postgres-faults, mariadb-faults): the store under `prefix` read directly, a producer,
 * a TCP proxy to the database, and two worker processes (test/integration/fixtures/fault-worker.mjs, backend
 * `backend`, named `<workerName>0` and `<workerName>1`) that reach the database only through the proxy. Set up before
 * the file's tests and torn down after them; call at the top level of a spec file and read `rig()` in the tests.
 */
export function sqlFaultRig(backend: 'postgres' | 'mariadb', dataSource: DataSourceOptions & { host: string; port: number }, prefix: string, workerName: string, leaseMs: number): () => FaultRig {
  const ds = new DataSource(dataSource);
  const storage = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true });
  const producer = new UnoJobs({ storage, worker: { enabled: false } });
  producer.register('fault.job', async () => {}, { queue: 'fault' });
  let rig: FaultRig | undefined;

  beforeAll(async () => {
    await ds.initialize();
    await producer.start(); // runs the migrations once, before the workers start
    const proxy = await FaultProxy.start({ host: dataSource.host, port: dataSource.port });
    const workers = new FaultWorkers({ UNO_BACKEND: backend, UNO_STORE_PORT: String(proxy.port), UNO_PREFIX: prefix, UNO_LEASE_MS: String(leaseMs) });
    rig = { storage, producer, proxy, workers, leaseMs };
    await Promise.all([workers.start(`${workerName}0`), workers.start(`${workerName}1`)]);
  });

  afterAll(async () => {
    await rig?.workers.stopAll();
    await rig?.proxy.close();
    await producer.stop();
    await storage.close();
    await dropTables(ds, prefix);
    await ds.destroy();
  });

  return () => rig!;
}
