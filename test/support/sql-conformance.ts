import { describe, it, beforeEach, afterEach, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { describeJobStorage } from '../../lib/testing/conformance.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { tableNames } from '../../lib/storage/typeorm/schema.js';
import { dropTables } from './sql-tables.js';

/**
 * Runs the shared conformance suite on a SQL server with one table prefix for the file (the `test` database is shared
 * with other suites), and drops every table under that prefix afterwards: a test that needs tables of its own gives
 * them a prefix starting with it (`${prefix}own_`). `ds()` is the file's DataSource.
 */
export function sqlConformance(name: string, options: DataSourceOptions, tag: string) {
  const prefix = `c4${tag}_${randomBytes(4).toString('hex')}_`;
  const { migrations: _ledger, ...tables } = tableNames(prefix);
  let ds: DataSource;

  beforeAll(async () => {
    ds = await new DataSource(options).initialize();
    const setup = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true });
    await setup.init();
    await setup.close();
  });

  afterAll(async () => {
    await dropTables(ds, prefix);
    await ds.destroy();
  });

  describeJobStorage(
    name,
    async () => {
      for (const table of Object.values(tables)) await ds.query(`DELETE FROM ${table}`);
      return new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix });
    },
    { describe, it, beforeEach, afterEach },
    { monitoring: true },
  );

  return { prefix, ds: () => ds };
}
