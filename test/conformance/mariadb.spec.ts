import { describe, it, beforeAll, expect } from '@jest/globals';
import { DataSource } from 'typeorm';
import { sqlConformance } from '../support/sql-conformance.js';
import { newJob, waitFor } from '../../lib/testing/conformance.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { unoJobsMigrations } from '../../lib/storage/typeorm/migrations/index.js';
import { StorageError } from '../../lib/contract/errors.js';
import { mysql as mysqlDialect } from '../../lib/storage/typeorm/dialect.js';
import { runMigrations } from '../../lib/storage/typeorm/migrate.js';
import { tableNames } from '../../lib/storage/typeorm/schema.js';

const MY = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const db = sqlConformance('TypeORM MariaDB', MY, 'my');
const { prefix } = db;
let ds: DataSource;
beforeAll(() => {
  ds = db.ds();
});

describe('TypeORM MariaDB specifics', () => {
  it('opens, migrates and closes its own connection; reports no push', async () => {
    const own = `${prefix}own_`;
    const s = new TypeormJobStorage({ dataSource: MY, tablePrefix: own });
    await s.init();
    expect(s.capabilities).toEqual({ push: false, distributed: true, transactions: true, flows: true, groups: true, payloadSearch: true });
    await s.insert([newJob({ id: 'Case' }), newJob({ id: 'case' })]);
    // utf8mb4_bin: ids differing only in case are two jobs, as on the other databases.
    expect((await s.counts()).waiting).toBe(2);
    const owned = s.dataSource;
    await s.close();
    expect(owned.isInitialized).toBe(false);
  });

  it('database down at init gives a StorageError', async () => {
    const s = new TypeormJobStorage({ dataSource: { ...MY, port: 1, connectTimeout: 2000 } });
    const error = await s.init().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(String((error as Error).message)).toMatch(/Cannot reach the mariadb/);
  });

  it('the shipped migrations run through TypeORM’s own runner', async () => {
    const mig = `${prefix}mig_`;
    const app = await new DataSource({ ...MY, migrations: unoJobsMigrations({ tablePrefix: mig }), migrationsTableName: `${mig}typeorm_migrations` }).initialize();
    try {
      // Every version is recorded; the second (byte-wise collation) changes nothing here (the columns are
      // utf8mb4_bin), nor do the retention one (MySQL's (state, finished_at, seq) index already serves pruning) and the
      // listing one (MySQL lists through its primary key, seq); the sixth adds the subscriptions table, the seventh the
      // jobs' headers and the monitoring tables, the eighth the documents table (alert state), the ninth the
      // flow-control tables, the tenth the dedupe keys, the eleventh the jobs' group columns and the group turns, the
      // twelfth the flow links of the jobs table, the thirteenth the task index; the fourteenth (lean indexes) is
      // PostgreSQL's only.
      expect((await app.runMigrations()).length).toBe(14);
      const s = new TypeormJobStorage({ dataSource: app, tablePrefix: mig });
      await s.init();
      await s.insert([newJob({ id: 'm1' })]);
      expect((await s.claim({ queue: 'q', limit: 1, leaseMs: 1000, workerId: 'w' })).length).toBe(1);
      await s.saveSubscriptions([{ event: 'e', task: 't', queue: 'q', priority: 'high', attempts: 2 }]);
      expect(await s.subscriptions('e')).toEqual([{ event: 'e', task: 't', queue: 'q', priority: 'high', attempts: 2 }]);
      await s.insert([newJob({ id: 'h1', headers: { traceparent: 'x' } })]);
      expect((await s.get('h1'))!.headers).toEqual({ traceparent: 'x' });
      await s.addMetrics([{ resolution: 'minute', bucket: 0, queue: 'q', task: 't', name: 'n', slot: 0, value: 2 }]);
      expect((await s.readMetrics({ resolution: 'minute', from: 0, to: 1 })).map((p) => p.value)).toEqual([2]);
      expect(await s.writeDocument('alerts', null, '{}')).toBe(true);
      expect(await s.writeDocument('alerts', null, '{}')).toBe(false);
      expect(await s.writeDocument('alerts', 1, '{"b":1}')).toBe(true);
      expect(await s.readDocument('alerts')).toEqual({ data: '{"b":1}', version: 2 });
      const [keyed] = await s.insert([newJob({ dedupe: { key: 'k', mode: 'window', ttlMs: 60_000 } })]);
      expect((await s.insert([newJob({ dedupe: { key: 'k', mode: 'window', ttlMs: 60_000 } })]))[0]!.job.id).toBe(keyed!.job.id);
      expect((await s.countsByTask(['test.task']))['test.task']).toMatchObject({ waiting: 2, active: 1 });
      await s.insert([newJob({ id: 'g1', group: 'tenant-1' })]);
      expect((await s.get('g1'))!.group).toBe('tenant-1');
      const parent = newJob({ awaitChildren: true });
      await s.insert([parent, newJob({ queue: 'q2', parent: { id: parent.id, onFailure: 'fail' } })]);
      expect((await s.children(parent.id))!.map((c) => c.parent)).toEqual([{ id: parent.id, onFailure: 'fail' }]);
      await s.close();
      const byTask = async () => Number(((await app.query(`SELECT COUNT(*) AS n FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?`, [`${mig}jobs`, `${mig}jobs_by_task`])) as { n: number | string }[])[0]!.n);
      expect(await byTask()).toBeGreaterThan(0);
      await app.undoLastMigration();
      expect(await byTask()).toBeGreaterThan(0);
      await app.undoLastMigration();
      expect(await byTask()).toBe(0);
      await app.undoLastMigration();
      // Columns of the jobs table still there among `names`.
      const columns = async (...names: string[]) => Number(((await app.query(
        `SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND column_name IN (${names.map(() => '?').join(', ')})`,
        [`${mig}jobs`, ...names],
      )) as { n: number | string }[])[0]!.n);
      expect(await columns('parent_id', 'on_failure', 'kids')).toBe(0);
      await app.undoLastMigration();
      expect(await columns('group_name', 'plain_state', 'group_state')).toBe(0);
      for (let i = 0; i < 10; i++) await app.undoLastMigration();
      const [{ n }] = (await app.query(`SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`, [`${mig}jobs`])) as { n: number | string }[];
      expect(Number(n)).toBe(0);
    } finally {
      await app.destroy();
    }
  });

  it('the adaptive poll wakes idle subscribers for jobs another process inserted', async () => {
    const a = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, pollIntervalMs: 200 });
    const b = new TypeormJobStorage({ dataSource: MY, tablePrefix: prefix });
    await a.init();
    await b.init();
    try {
      const woken: string[] = [];
      const off = a.subscribe((q) => woken.push(q));
      await new Promise((resolve) => setTimeout(resolve, 50)); // the first probe records where the table stands
      await b.insert([newJob({ id: 'remote', queue: 'remote-q' })]);
      await waitFor(() => woken.includes('remote-q'), 3000, 'a polled wake-up');
      off();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('migrations refuse to go on when another process holds the migration lock (GET_LOCK returned 0)', async () => {
    const locked = `${prefix}lock_`;
    const lockName = `uno_jobs_migrate_${tableNames(locked).jobs}`;
    const holder = ds.createQueryRunner();
    await holder.query('SELECT GET_LOCK(?, 0)', [lockName]);
    try {
      const run = runMigrations(ds, mysqlDialect, tableNames(locked), undefined, 1);
      await expect(run).rejects.toThrow(StorageError);
      await expect(runMigrations(ds, mysqlDialect, tableNames(locked), undefined, 1)).rejects.toThrow(
        `Could not take the migration lock "${lockName}" within 1 s: another process is migrating Uno Jobs' tables`,
      );
      const [row] = (await ds.query('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [tableNames(locked).migrations])) as { n: unknown }[];
      expect(Number(row!.n)).toBe(0);
    } finally {
      await holder.query('SELECT RELEASE_LOCK(?)', [lockName]);
      await holder.release();
    }
    await runMigrations(ds, mysqlDialect, tableNames(locked), undefined, 1);
  });

  it('a store\'s init waits up to 60 s for the migration lock by default, and migrates once it is free', async () => {
    const locked = `${prefix}wait_`;
    const lockName = `uno_jobs_migrate_${tableNames(locked).jobs}`;
    const holder = ds.createQueryRunner();
    await holder.query('SELECT GET_LOCK(?, 0)', [lockName]);
    const storage = new TypeormJobStorage({ dataSource: ds, tablePrefix: locked, runMigrations: true });
    let initDone = false;
    const init = storage.init().then(() => (initDone = true));
    try {
      // The waiting statement, as the server shows it: the lock's name and the time it waits for.
      let waiting: string | undefined;
      await waitFor(async () => {
        const rows = (await ds.query(`SELECT info FROM information_schema.processlist WHERE info LIKE 'SELECT GET_LOCK(%'`)) as { info: string }[];
        waiting = rows.map((r) => String(r.info)).find((q) => q.includes(lockName));
        return waiting !== undefined;
      }, 10_000, 'init to wait for the lock');
      expect(waiting).toMatch(new RegExp(`GET_LOCK\\('${lockName}', 60\\)`));
      expect(initDone).toBe(false);
    } finally {
      await holder.query('SELECT RELEASE_LOCK(?)', [lockName]);
      await holder.release();
    }
    await init;
    expect(await storage.counts()).toMatchObject({ waiting: 0 }); // the tables are there
    await storage.close();
  });
});
