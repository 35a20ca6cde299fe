import { randomBytes } from 'node:crypto';
import { describe, it, expect, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { mysqlHasSkipLocked, mysqlWithoutSkipLocked } from '../../lib/storage/typeorm/dialect.js';
import { newJob } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// Servers without SKIP LOCKED (MariaDB before 10.6, MySQL before 8) get claims that wait on row locks instead
// (docs/storage-typeorm.md). The version check, and the fallback run on the MariaDB of the test setup: two stores
// claiming the same queue at once hand every job out exactly once.

const MY = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const prefix = `rowlocks_${randomBytes(4).toString('hex')}_`;
const admin = new DataSource(MY);

afterAll(async () => {
  if (admin.isInitialized) {
    await dropTables(admin, prefix);
    await admin.destroy();
  }
});

describe('MySQL/MariaDB without SKIP LOCKED', () => {
  it('is told apart by the server version', () => {
    expect(['10.5.23-MariaDB', '10.4.0-MariaDB-log', '5.7.44', '5.7.44-log'].map(mysqlHasSkipLocked)).toEqual([false, false, false, false]);
    expect(['10.6.0-MariaDB', '10.11.6-MariaDB-0+deb12u1', '11.4.2-MariaDB', '8.0.36', '8.4.0'].map(mysqlHasSkipLocked)).toEqual([true, true, true, true, true]);
  });

  it('claims on waiting row locks: two stores claiming at once hand every job out once', async () => {
    await admin.initialize();
    const stores = [0, 1].map(() => new TypeormJobStorage({ dataSource: MY, tablePrefix: prefix, runMigrations: true }));
    for (const store of stores) {
      // As on an old server: the version check answers "no SKIP LOCKED".
      (store as unknown as { mysqlDialect: () => Promise<unknown> }).mysqlDialect = async () => mysqlWithoutSkipLocked();
      await store.init();
      expect((store as unknown as { sql: { dialect: { skipLocked: string } } }).sql.dialect.skipLocked).toBe('FOR UPDATE');
    }
    try {
      await stores[0]!.insert(Array.from({ length: 300 }, (_, i) => newJob({ id: `j${i}` })));
      const claimed = await Promise.all(stores.map(async (store, w) => {
        const ids: string[] = [];
        // Bounded: a claim that handed out jobs twice would otherwise never come back empty.
        for (let round = 0; round < 100; round++) {
          const batch = await store.claim({ queue: 'q', limit: 7, leaseMs: 60_000, workerId: `w${w}` });
          if (batch.length === 0) break;
          ids.push(...batch.map((c) => c.job.id));
        }
        return ids;
      }));
      const all = claimed.flat();
      expect(all).toHaveLength(300);
      expect(new Set(all).size).toBe(300);
      expect(claimed.every((ids) => ids.length > 0)).toBe(true); // both took part
      expect((await stores[0]!.counts()).active).toBe(300);
    } finally {
      for (const store of stores) await store.close();
    }
  });
});
