import { randomBytes } from 'node:crypto';
import { describe, it, expect, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { statementName } from '../../lib/storage/typeorm/postgres-fast-path.js';
import { newJob } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// Hot statements are prepared by name on each connection. With the longest table prefix (41 characters) the names
// of the claim statements for two aging thresholds used to be cut to the same 63 characters, and the second claim
// failed on a connection that had prepared the first.

const prefix = `p${randomBytes(20).toString('hex')}`.slice(0, 40) + '_';
const ds = new DataSource({ type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test', extra: { max: 1 } });

afterAll(async () => {
  await dropTables(ds, prefix);
  await ds.destroy();
});

describe('PostgreSQL prepared statement names with a 41-character table prefix', () => {
  it('stay unique, so claims with different aging thresholds both work on one connection', async () => {
    expect(prefix).toHaveLength(41);
    await ds.initialize();
    const store = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true, listen: false });
    await store.init();
    await store.insert([newJob({ id: 'a' }), newJob({ id: 'b' })]);
    const first = await store.claim({ queue: 'q', limit: 1, leaseMs: 60_000, workerId: 'w', agingMs: 1_000_000 });
    const second = await store.claim({ queue: 'q', limit: 1, leaseMs: 60_000, workerId: 'w', agingMs: 1_000_001 });
    expect([...first, ...second].map((c) => c.job.id).sort()).toEqual(['a', 'b']);
    await store.close();
  });

  it('names fit in 63 characters and differ whenever table or key differ', () => {
    const table = `${prefix}jobs`;
    const names = ['claim_a_1000000', 'claim_a_1000001', 'claim_p_1000000'].map((key) => statementName(table, key));
    expect(new Set(names).size).toBe(3);
    for (const name of names) expect(name.length).toBeLessThanOrEqual(63);
    expect(statementName('uno_jobs', 'fail')).toBe('uno_uno_jobs_fail');
  });
});
