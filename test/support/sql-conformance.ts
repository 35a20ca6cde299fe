import { describe, it, beforeEach, afterEach, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { describeJobStorage } from '../../lib/testing/conformance.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';

/**
 * Runs the shared conformance suite on a SQL server with one table prefix for the file (the `test` database is shared
 * with other suites), and drops every prefix listed in `prefixes` afterwards. `ds()` is the file's DataSource.
 */
export function sqlConformance(name: string, options: DataSourceOptions, tag: string) {
  const prefix = `c4${tag}_${randomBytes(4).toString('hex')}_`;
  const prefixes = [prefix];
  let ds: DataSource;

  beforeAll(async () => {
    ds = await new DataSource(options).initialize();
    const setup = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true });
    await setup.init();
    await setup.close();
  });

  afterAll(async () => {
    for (const p of prefixes) {
      for (const table of ['jobs', 'schedules', 'subscriptions', 'migrations']) await ds.query(`DROP TABLE IF EXISTS ${p}${table}`);
    }
    await ds.destroy();
  });

  describeJobStorage(
    name,
    async () => {
      await ds.query(`DELETE FROM ${prefix}jobs`);
      await ds.query(`DELETE FROM ${prefix}schedules`);
      await ds.query(`DELETE FROM ${prefix}subscriptions`);
      return new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix });
    },
    { describe, it, beforeEach, afterEach },
  );

  return { prefix, prefixes, ds: () => ds };
}
