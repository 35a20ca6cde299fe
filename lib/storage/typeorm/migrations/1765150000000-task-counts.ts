import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';

/** Version and timestamp of the task index (jobs per state of a task). Only adds an index. */
export const SCHEMA_TASK_COUNTS = 1765150000000;

/**
 * The index `countsByTask` reads: `(task, queue, state, run_at)`, every column that count uses, so it is an index-only
 * scan of the tasks' rows (see `countsByTaskStmt`). PostgreSQL and SQLite leave active jobs out: a claim writes a new
 * row version of every job it takes, and PostgreSQL adds an entry for it to every index whose predicate the version
 * matches, so this index costs a claim nothing there (an insert and a completion one entry each, like the listing
 * index); active jobs are counted from the lease index. MySQL has no partial index: the whole table is in it.
 */
function indexSql(type: string, t: TableNames): string {
  const dialect = dialectOf(type)?.name;
  if (!dialect) throw new Error(`Uno Jobs migrations do not support the "${type}" database type.`);
  const name = `${t.jobs}_by_task`;
  return dialect === 'mysql'
    ? `CREATE INDEX ${name} ON ${t.jobs} (task, queue, state, run_at)`
    : `CREATE INDEX IF NOT EXISTS ${name} ON ${t.jobs} (task, queue, state, run_at) WHERE state <> 'active'`;
}

/** Whether MySQL/MariaDB already has the index (MySQL has no `CREATE INDEX IF NOT EXISTS`). */
async function mysqlHasIndex(t: TableNames, exec: Exec): Promise<boolean> {
  const found = (await exec(
    'SELECT 1 AS x FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1',
    [t.jobs, `${t.jobs}_by_task`],
  )) as unknown[];
  return Array.isArray(found) && found.length > 0;
}

/** Apply the task index through any `exec`. Idempotent. */
export async function applyTaskCounts(type: string, t: TableNames, exec: Exec): Promise<void> {
  if (dialectOf(type)?.name === 'mysql' && (await mysqlHasIndex(t, exec))) return;
  await exec(indexSql(type, t));
}

/** The migration class of the task index for one table prefix (see {@link schemaMigrationV1}). */
export function taskCountsMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsTaskCounts', SCHEMA_TASK_COUNTS, prefix, {
    up: (type, t, exec) => applyTaskCounts(type, t, exec),
    down: async (type, t, exec) => {
      if (dialectOf(type)?.name !== 'mysql') await exec(`DROP INDEX IF EXISTS ${t.jobs}_by_task`);
      else if (await mysqlHasIndex(t, exec)) await exec(`DROP INDEX ${t.jobs}_by_task ON ${t.jobs}`);
    },
  });
}
