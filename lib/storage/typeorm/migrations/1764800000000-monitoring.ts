import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, sqlTypes, type Exec } from './define.js';

/**
 * Version and timestamp of the monitoring schema: the jobs' `headers` column and the tables of the worker registry,
 * the error patterns and the metric points.
 */
export const SCHEMA_MONITORING = 1764800000000;

/**
 * The three monitoring tables, each with the indexes its reads and prunes need (see docs/storage-typeorm.md):
 * - workers: the primary key for saves and removals, `(last_seen_at)` for the prune.
 * - error patterns: the primary key `(task, fingerprint)` for the merge, `(task, last_seen_at, fingerprint)` for one
 *   task's list and the per-task bound (in the order they read), `(last_seen_at)` for the list of every task and the prune.
 * - metric points: the primary key starts with `(resolution, bucket)`, so a range read and a prune read only their
 *   own rows.
 * Names compare byte by byte, like job ids and task names (see the subscriptions table).
 */
function createSql(type: string, t: TableNames): string[] {
  const { key, big, mysql, tableOptions } = sqlTypes(type);
  const text = mysql ? 'LONGTEXT' : 'TEXT';
  // MySQL has no CREATE INDEX IF NOT EXISTS: its indexes go inside the (idempotent) CREATE TABLE.
  const table = (name: string, body: string[], indexes: [string, string][]) => [
    `CREATE TABLE IF NOT EXISTS ${name} (\n  ${[...body, ...(mysql ? indexes.map(([ix, cols]) => `KEY ${name}_${ix} ${cols}`) : [])].join(',\n  ')}\n)${tableOptions}`,
    ...(mysql ? [] : indexes.map(([ix, cols]) => `CREATE INDEX IF NOT EXISTS ${name}_${ix} ON ${name} ${cols}`)),
  ];
  return [
    ...table(t.workers, [`id ${key(200)} PRIMARY KEY`, `data ${text} NOT NULL`, `last_seen_at ${big} NOT NULL`], [['seen', '(last_seen_at)']]),
    ...table(
      t.errorPatterns,
      [
        `task ${key(200)}`, `fingerprint ${key(64)}`, `queue ${key(100)}`, `name ${text} NOT NULL`, `pattern ${text} NOT NULL`,
        `frame ${text} NULL`, `count ${big} NOT NULL`, `first_seen_at ${big} NOT NULL`, `last_seen_at ${big} NOT NULL`,
        `samples ${text} NOT NULL`, 'PRIMARY KEY (task, fingerprint)',
      ],
      [['task', '(task, last_seen_at, fingerprint)'], ['seen', '(last_seen_at)']],
    ),
    ...table(
      t.metrics,
      [
        `resolution ${key(8)}`, `bucket ${big} NOT NULL`, `queue ${key(100)}`, `task ${key(200)}`, `name ${key(50)}`,
        'slot SMALLINT NOT NULL', `value ${big} NOT NULL`, 'PRIMARY KEY (resolution, bucket, queue, task, name, slot)',
      ],
      [],
    ),
  ];
}

/**
 * Apply the monitoring schema through any `exec`. Idempotent: tables and indexes are created if missing, and the
 * `headers` column (JSON text, NULL for a job without headers: adding a nullable column rewrites no rows) only when
 * it is not there yet.
 */
export async function applyMonitoring(type: string, t: TableNames, exec: Exec): Promise<void> {
  if (dialectOf(type)?.name === 'sqlite') {
    const columns = (await exec(`PRAGMA table_info(${t.jobs})`)) as { name: string }[];
    if (!columns.some((c) => c.name === 'headers')) await exec(`ALTER TABLE ${t.jobs} ADD COLUMN headers TEXT NULL`);
  } else {
    await exec(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS headers TEXT NULL`);
  }
  for (const sql of createSql(type, t)) await exec(sql);
}

/** The migration class of the monitoring schema for one table prefix (see {@link schemaMigrationV1}). */
export function monitoringMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsMonitoring', SCHEMA_MONITORING, prefix, {
    up: (type, t, exec) => applyMonitoring(type, t, exec),
    down: async (_type, t, exec) => {
      for (const table of [t.metrics, t.errorPatterns, t.workers]) await exec(`DROP TABLE IF EXISTS ${table}`);
      await exec(`ALTER TABLE ${t.jobs} DROP COLUMN headers`);
    },
  });
}
