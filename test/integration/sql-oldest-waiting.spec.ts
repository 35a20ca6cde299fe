import { randomBytes } from 'node:crypto';
import { describe, it, expect } from '@jest/globals';
import type { DataSourceOptions } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// oldestWaiting on the three SQL databases (docs/storage-typeorm.md): a job that waits counts everywhere; a
// `scheduled` job already due but not yet promoted (no worker or maintenance runs here; the test moves its due time) counts on PostgreSQL and
// SQLite, whose claim index is partial on both states, and not on MariaDB/MySQL, whose claim index puts `state`
// before `priority`.

const databases: [string, DataSourceOptions, boolean][] = [
  ['PostgreSQL', { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' }, true],
  ['MariaDB', { type: 'mariadb', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' }, false],
  ['SQLite', { type: 'better-sqlite3', database: ':memory:' }, true],
];

describe.each(databases)('oldestWaiting on %s', (_name, dataSource, countsDueScheduled) => {
  it(countsDueScheduled ? 'counts a due scheduled job and a waiting one' : 'counts a waiting job, not a due scheduled one', async () => {
    const prefix = `oldest_${randomBytes(4).toString('hex')}_`;
    const storage = new TypeormJobStorage({ dataSource, tablePrefix: prefix, runMigrations: true, listen: false });
    await storage.init();
    try {
      const [due] = await storage.insert([newJob({ id: 'due', queue: 'd', delayMs: 60_000 })]);
      expect(due!.job.state).toBe('scheduled');
      // Due a second ago, and still `scheduled`: the store's own promotion is timed for the minute it was given.
      const dueAt = Date.now() - 1000;
      await storage.dataSource.query(`UPDATE ${prefix}jobs SET run_at = ${dueAt} WHERE id = 'due'`);
      const [waiting] = await storage.insert([newJob({ id: 'now', queue: 'w' })]);
      const rows = (await storage.dataSource.query(`SELECT state FROM ${prefix}jobs WHERE id = 'due'`)) as { state: string }[];
      expect(rows.map((r) => r.state)).toEqual(['scheduled']);
      const oldest = await storage.oldestWaiting(['d', 'w']);
      expect(oldest.w?.getTime()).toBe(waiting!.job.runAt.getTime());
      expect(oldest.d?.getTime() ?? null).toBe(countsDueScheduled ? dueAt : null);
    } finally {
      if (dataSource.type !== 'better-sqlite3') await dropTables(storage.dataSource, prefix);
      await storage.close();
    }
  });
});
