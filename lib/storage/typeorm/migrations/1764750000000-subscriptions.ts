import type { MigrationInterface } from 'typeorm';
import type { TableNames } from '../schema.js';
import { defineMigration, sqlTypes, type Exec } from './define.js';

/**
 * Version and timestamp of the subscriptions table. Independent of the other versions (it only adds a table), so it
 * may be ordered before or after any change to the jobs table.
 */
export const SCHEMA_SUBSCRIPTIONS = 1764750000000;

/**
 * The durable event subscriptions: one row per (event, task), with what a producer needs to insert the task's job
 * without its code (queue, priority level as in the jobs table, attempts). The primary key serves both reads: one
 * event's subscribers, and the upsert by key. Names compare byte by byte on every database, like job ids and task
 * names (`COLLATE "C"` on PostgreSQL, `utf8mb4_bin` on MySQL, SQLite's BINARY default).
 */
function createSql(type: string, t: TableNames): string {
  const { key, tableOptions } = sqlTypes(type);
  return `CREATE TABLE IF NOT EXISTS ${t.subscriptions} (
  event ${key(200)},
  task ${key(200)},
  queue ${key(100)},
  priority SMALLINT NOT NULL,
  attempts INTEGER NOT NULL,
  PRIMARY KEY (event, task)
)${tableOptions}`;
}

/** Apply the subscriptions table through any `exec`. Idempotent. */
export async function applySubscriptions(type: string, t: TableNames, exec: Exec): Promise<void> {
  await exec(createSql(type, t));
}

/** The migration class of the subscriptions table for one table prefix (see {@link schemaMigrationV1}). */
export function subscriptionsMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsSubscriptions', SCHEMA_SUBSCRIPTIONS, prefix, {
    up: (type, t, exec) => applySubscriptions(type, t, exec),
    down: (_type, t, exec) => exec(`DROP TABLE IF EXISTS ${t.subscriptions}`).then(() => undefined),
  });
}
