import { describe, it, beforeEach, afterEach, expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { describeJobStorage, newJob } from '../../lib/testing/conformance.js';
import { ConfigurationError } from '../../lib/contract/errors.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { tableNames } from '../../lib/storage/typeorm/schema.js';
import { migratedTables } from './sql-tables.js';

/**
 * Runs the shared conformance suite on a SQL server with one table prefix for the file (the `test` database is shared
 * with other suites), and drops every table under that prefix afterwards: a test that needs tables of its own gives
 * them a prefix starting with it (`${prefix}own_`). `ds()` is the file's DataSource.
 */
export function sqlConformance(name: string, options: DataSourceOptions, tag: string) {
  const prefix = `c4${tag}_${randomBytes(4).toString('hex')}_`;
  const { migrations: _ledger, ...tables } = tableNames(prefix);
  const ds = new DataSource(options);
  migratedTables(ds, prefix);

  describeJobStorage(
    name,
    async () => {
      for (const table of Object.values(tables)) await ds.query(`DELETE FROM ${table}`);
      return new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix });
    },
    { describe, it, beforeEach, afterEach },
    { monitoring: true },
  );

  it('without the flow-control migration, a claim names the missing table and the job waits on', async () => {
    const partial = `${prefix}noflow_`;
    const setup = new TypeormJobStorage({ dataSource: ds, tablePrefix: partial, runMigrations: true });
    await setup.init();
    await setup.close();
    for (const table of ['flow', 'rate_log']) await ds.query(`DROP TABLE ${partial}${table}`);
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: partial });
    await s.init();
    try {
      await s.insert([newJob({ id: 'waits' })]);
      const claim = { queue: 'q', limit: 2, leaseMs: 60_000, workerId: 'w' };
      for (const request of [claim, { ...claim, flow: { queue: { concurrency: 2 } } }]) {
        const error = await s.claim(request).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigurationError);
        expect(String((error as Error).message)).toMatch(new RegExp(`table "${partial}flow" is missing .*unoJobsMigrations\\(\\)`));
      }
      expect((await s.get('waits'))!.state).toBe('waiting');
    } finally {
      await s.close();
    }
  });

  return { prefix, ds: () => ds };
}
