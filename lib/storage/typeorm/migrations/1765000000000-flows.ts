import type { MigrationInterface } from 'typeorm';
import type { TableNames } from '../schema.js';
import { defineMigration, sqlTypes, type Exec } from './define.js';

/** Version and timestamp of the flow-control schema: the dedupe keys table. */
export const SCHEMA_FLOWS = 1765000000000;

/**
 * The dedupe keys: one row per (task, key) naming the job that holds it, and until when (`expires_at`, store clock ms)
 * for a `window` key (NULL for `debounce` and `replace`). The primary key is the only read: an insert takes the row
 * (insert-or-keep, then a locking read), so concurrent inserts of one key serialise on it. `job_id` is indexed for
 * retention, which deletes a key with the job it names. Names compare byte by byte, like job ids and task names.
 */
function createSql(type: string, t: TableNames): string[] {
  const { key, big, mysql, tableOptions } = sqlTypes(type);
  const index = `${t.dedupe}_job`;
  return [
    `CREATE TABLE IF NOT EXISTS ${t.dedupe} (
  task ${key(200)},
  dkey ${key(200)},
  job_id ${key(200)},
  expires_at ${big} NULL,
  PRIMARY KEY (task, dkey)${mysql ? `,\n  KEY ${index} (job_id)` : ''}
)${tableOptions}`,
    ...(mysql ? [] : [`CREATE INDEX IF NOT EXISTS ${index} ON ${t.dedupe} (job_id)`]),
  ];
}

/** Apply the flow-control schema through any `exec`. Idempotent. */
export async function applyFlows(type: string, t: TableNames, exec: Exec): Promise<void> {
  for (const sql of createSql(type, t)) await exec(sql);
}

/** The migration class of the flow-control schema for one table prefix (see {@link schemaMigrationV1}). */
export function flowsMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsFlows', SCHEMA_FLOWS, prefix, {
    up: (type, t, exec) => applyFlows(type, t, exec),
    down: (_type, t, exec) => exec(`DROP TABLE IF EXISTS ${t.dedupe}`).then(() => undefined),
  });
}
