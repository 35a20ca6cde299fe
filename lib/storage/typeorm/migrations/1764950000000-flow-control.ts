import type { MigrationInterface } from 'typeorm';
import type { TableNames } from '../schema.js';
import { defineMigration, sqlTypes, type Exec } from './define.js';

/** Version and timestamp of the flow-control tables (pause, cluster-wide caps, rate limits). Only adds tables. */
export const SCHEMA_FLOW_CONTROL = 1764950000000;

/**
 * - flow: one row per (queue, task), `task` '' for the whole queue. `paused` is what the claim reads; the row is also
 *   what a claim under a cluster-wide cap or rate limit locks, so two claims of one scope count one after the other.
 *   The primary key serves both.
 * - rate log: what rate-limited claims took and when (database clock), read over the last window by `(queue, task,
 *   at)` and pruned by the claims themselves.
 * Names compare byte by byte, like job ids and task names.
 */
function createSql(type: string, t: TableNames): string[] {
  const { dialect, key, big, tableOptions } = sqlTypes(type);
  return [
    `CREATE TABLE IF NOT EXISTS ${t.flow} (\n  queue ${key(100)},\n  task ${key(200)},\n  paused SMALLINT NOT NULL DEFAULT 0,\n  PRIMARY KEY (queue, task)\n)${tableOptions}`,
    `CREATE TABLE IF NOT EXISTS ${t.rateLog} (\n  queue ${key(100)},\n  task ${key(200)},\n  at ${big} NOT NULL,\n  n INTEGER NOT NULL${dialect === 'mysql' ? `,\n  KEY ${t.rateLog}_at (queue, task, at)` : ''}\n)${tableOptions}`,
    ...(dialect === 'mysql' ? [] : [`CREATE INDEX IF NOT EXISTS ${t.rateLog}_at ON ${t.rateLog} (queue, task, at)`]),
  ];
}

/** Apply the flow-control tables through any `exec`. Idempotent. */
export async function applyFlowControl(type: string, t: TableNames, exec: Exec): Promise<void> {
  for (const sql of createSql(type, t)) await exec(sql);
}

/** The migration class of the flow-control tables for one table prefix (see {@link schemaMigrationV1}). */
export function flowControlMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsFlowControl', SCHEMA_FLOW_CONTROL, prefix, {
    up: (type, t, exec) => applyFlowControl(type, t, exec),
    down: async (_type, t, exec) => {
      for (const table of [t.rateLog, t.flow]) await exec(`DROP TABLE IF EXISTS ${table}`);
    },
  });
}
