import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob } from '../../lib/testing/index.js';

// Every pooled connection killed at once on MariaDB (a failover or a restart), as postgres-terminate.spec.ts does on
// PostgreSQL: reads and claim transactions right after it succeed on fresh connections. The store runs in a
// database of its own, so KILL reaches its connections and no other test file's.

const MY = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '' };
const database = `uno_kill_${randomBytes(4).toString('hex')}`;
const admin = new DataSource({ ...MY, database: 'test' });

/** KILL every connection of the store's database; returns how many there were. */
async function killAll(): Promise<number> {
  const rows = (await admin.query(`SELECT id FROM information_schema.processlist WHERE db = ?`, [database])) as { id: number }[];
  for (const { id } of rows) await admin.query(`KILL ${Number(id)}`).catch(() => {}); // one may have ended meanwhile
  return rows.length;
}

beforeAll(async () => {
  await admin.initialize();
  await admin.query(`CREATE DATABASE ${database}`);
});

afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${database}`);
  await admin.destroy();
});

describe('MariaDB store: every pooled connection killed at once', () => {
  it('reads and claim transactions right after it succeed on fresh connections', async () => {
    const store = new TypeormJobStorage({ dataSource: { ...MY, database }, runMigrations: true });
    await store.init();
    try {
      await store.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `k${i}` })));
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: 8 }, () => store.counts()));
        expect(await killAll()).toBeGreaterThan(1);
        expect((await store.counts()).waiting + (await store.counts()).active).toBe(10);
        await Promise.all(Array.from({ length: 8 }, () => store.get('k0')));
        await killAll();
        // A claim is a transaction on MariaDB: it takes one job, once.
        const claimed = await store.claim({ queue: 'q', limit: 1, leaseMs: 60_000, workerId: 'w' });
        expect(claimed).toHaveLength(1);
        expect((await store.counts()).active).toBe(round + 1);
      }
    } finally {
      await store.close();
    }
  });
});
