import { randomBytes } from 'node:crypto';
import { describe, it, expect } from '@jest/globals';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };

describe('PostgreSQL: lease renewals do not wait behind the app’s connection pool', () => {
  it('renews leases while handlers hold every connection of the app’s pool', async () => {
    const prefix = `leasepool_${randomBytes(4).toString('hex')}_`;
    const ds = await new DataSource({ ...PG, extra: { max: 2 } }).initialize();
    const store = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true, listen: false });
    const held = [ds.createQueryRunner(), ds.createQueryRunner()];
    try {
      await store.init();
      await store.insert([newJob({ id: 'a' })]);
      const [claimed] = await store.claim({ queue: 'q', limit: 1, leaseMs: 5000, workerId: 'w' });
      const before = (await store.get('a'))!.leaseExpiresAt!.getTime();
      // Handlers busy in long transactions: the app's pool has nothing left to give.
      for (const qr of held) {
        await qr.connect();
        await qr.startTransaction();
      }
      const lease = { id: 'a', token: claimed!.token };
      const renewal = store.heartbeat([lease], 60_000);
      // Generous: a renewal waiting for the pool would wait for as long as the handlers hold it (forever here).
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise((r) => (timer = setTimeout(() => r('stuck'), 10_000)));
      const outcome = await Promise.race([renewal.then(() => 'renewed'), stuck]);
      clearTimeout(timer);
      expect(outcome).toBe('renewed');
      for (const qr of held) {
        await qr.rollbackTransaction();
        await qr.release();
      }
      const after = (await store.get('a'))!;
      expect(after.leaseExpiresAt!.getTime()).toBeGreaterThan(before);
    } finally {
      for (const qr of held) if (!qr.isReleased) await qr.release();
      await store.close();
      await dropTables(ds, prefix);
      await ds.destroy();
    }
  }, 30_000);
});
