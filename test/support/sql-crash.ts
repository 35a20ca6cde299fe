import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { waitFor } from '../../lib/testing/index.js';
import { report } from './fault-scenarios.js';
import { CRASH, expectEveryJobRanOnceBut, mostLeasesHeld, WorkerProcesses } from './worker-processes.js';
import { dropTables } from './sql-tables.js';

const { jobs: JOBS, workers: WORKERS, concurrency: CONCURRENCY, prefetch: PREFETCH, leaseMs: LEASE_MS, holdStart: HOLD_START } = CRASH;
const fixture = fileURLToPath(new URL('../integration/fixtures/sql-worker.mjs', import.meta.url));

/** The databases the crash test runs on, as the fixture knows them (UNO_BACKEND). */
const BACKENDS = {
  postgres: {
    name: 'PostgreSQL',
    dataSource: { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
    execTable: (table: string) => `CREATE TABLE ${table} (job_id TEXT NOT NULL, worker TEXT NOT NULL, attempt INT NOT NULL, seq BIGSERIAL PRIMARY KEY)`,
    p: (n: number) => `$${n}`,
  },
  sqlite: {
    name: 'SQLite (one file, four processes)',
    dataSource: { type: 'better-sqlite3' as const, database: join(tmpdir(), `uno-crash-${randomBytes(4).toString('hex')}.sqlite`) },
    execTable: (table: string) => `CREATE TABLE ${table} (job_id TEXT NOT NULL, worker TEXT NOT NULL, attempt INT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT)`,
    p: () => '?',
  },
  mariadb: {
    name: 'MariaDB',
    dataSource: { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' },
    execTable: (table: string) => `CREATE TABLE ${table} (job_id VARCHAR(200) NOT NULL, worker VARCHAR(200) NOT NULL, attempt INT NOT NULL, seq BIGINT AUTO_INCREMENT PRIMARY KEY)`,
    p: () => '?',
  },
};

/**
 * Four real worker processes (test/integration/fixtures/sql-worker.mjs, running dist/: `npm test` builds it first)
 * share one database. One is SIGKILLed mid-run. Every job must complete; a job may run twice only if it was in flight
 * on the killed worker, and then its second run follows a recorded lease expiry of that worker. Call at the top
 * level of a spec file.
 */
export function sqlCrashSuite(backend: keyof typeof BACKENDS): void {
  const { name, dataSource, execTable: createExecTable, p } = BACKENDS[backend];
  const prefix = `t4crash_${backend.slice(0, 2)}_${randomBytes(4).toString('hex')}_`;
  const execTable = `${prefix}exec`;
  const ds = new DataSource(dataSource);
  const storage = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true });
  const producer = new UnoJobs({ storage, worker: { enabled: false } });
  producer.register('crash.job', async () => {}, { queue: 'crash' }); // attempts: 1, the default
  const workers = new WorkerProcesses(fixture, {
    UNO_BACKEND: backend,
    UNO_PREFIX: prefix,
    UNO_CONCURRENCY: String(CONCURRENCY),
    UNO_PREFETCH: String(PREFETCH),
    UNO_LEASE_MS: String(LEASE_MS),
    UNO_EXEC_TABLE: execTable,
    ...(dataSource.type === 'better-sqlite3' ? { UNO_SQLITE_FILE: dataSource.database } : {}),
  });

  beforeAll(async () => {
    await ds.initialize();
    await producer.start(); // runs the migrations once, before the workers start
    await ds.query(createExecTable(execTable));
  });

  afterAll(async () => {
    await workers.stopAll();
    await producer.stop();
    await storage.close();
    await dropTables(ds, prefix); // the store's tables and execTable
    await ds.destroy();
    if (dataSource.type === 'better-sqlite3') for (const end of ['', '-wal', '-shm']) rmSync(`${dataSource.database}${end}`, { force: true });
  });

  /** Handler starts recorded so far, of every worker or of one. */
  const executions = async (worker?: string): Promise<number> =>
    Number(((await ds.query(`SELECT count(*) AS n FROM ${execTable}${worker ? ` WHERE worker = ${p(1)}` : ''}`, worker ? [worker] : [])) as { n: string }[])[0]!.n);
  const count = async (where: string): Promise<number> => Number(((await ds.query(`SELECT count(*) AS n FROM ${prefix}jobs WHERE ${where}`)) as { n: unknown }[])[0]!.n);

  describe(`${name} store: crash of a worker process`, () => {
    it('completes every job, re-running only the jobs in flight on the killed worker', async () => {
      // Enqueue first (bulk inserts do not then compete with four busy workers), then start the workers.
      const ids: string[] = [];
      for (let i = 0; i < JOBS; i += 1000) {
        const batch = Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({ task: 'crash.job', payload: { i: i + k } }));
        ids.push(...(await producer.queue.enqueueMany(batch)).map((job) => job.id));
      }
      // The victim's 20th handler never returns, so it surely has a job in flight when it is killed (on a loaded
      // machine its 2 ms jobs could otherwise all be finished and written at that moment: a CI run once saw none run
      // twice).
      const [victim] = await Promise.all(Array.from({ length: WORKERS }, (_, i) => workers.start(i, i === 0 ? { UNO_HOLD_START: String(HOLD_START) } : {})));

      await waitFor(async () => (await executions()) >= JOBS / 4, 90_000, 'a quarter of the jobs to start');
      // The scenario needs a victim that is working: on a loaded machine its first claims can come after the others
      // have started a quarter of the jobs.
      await waitFor(async () => (await executions('crash-worker-0')) >= HOLD_START, 90_000, 'the victim to start jobs');
      victim!.kill('SIGKILL');
      await once(victim!, 'exit');
      const killed = 'crash-worker-0';

      await waitFor(async () => (await storage.counts({ queue: 'crash' })).completed === JOBS, 150_000, 'every job to complete');
      expect(await storage.counts({ queue: 'crash' })).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: JOBS, failed: 0, cancelled: 0 });

      // Executions per job, in the order they started.
      const runs = new Map<string, { worker: string; attempt: number }[]>();
      const rows = (await ds.query(`SELECT job_id, worker, attempt FROM ${execTable} ORDER BY seq`)) as { job_id: string; worker: string; attempt: number }[];
      for (const row of rows) runs.set(row.job_id, [...(runs.get(row.job_id) ?? []), { worker: row.worker, attempt: Number(row.attempt) }]);
      const ranTwice = await expectEveryJobRanOnceBut(runs, ids, killed, mostLeasesHeld(CONCURRENCY, PREFETCH), storage);
      report(`${backend} SIGKILL`, { jobs: JOBS, lost: 0, failed: 0, ranTwice, bound: mostLeasesHeld(CONCURRENCY, PREFETCH) });

      // The killed worker had jobs in flight when it died (at least the held one): the live workers recovered them
      // after expiry and ran them again. (A stall is recorded only for handlers that ran for START_MARK_DELAY_MS or
      // were started by their claim: these 2 ms jobs mostly come back as never started, which costs them nothing.)
      expect(ranTwice).toBeGreaterThan(0);
      expect(await count('stalls > 1 OR attempt <> 1')).toBe(0);
      expect(await count(`errors <> '[]' AND errors NOT LIKE '%${killed}%'`)).toBe(0);
      // The generous waits are for a machine loaded by other work (they cost nothing when green).
    }, 300_000);
  });
}
