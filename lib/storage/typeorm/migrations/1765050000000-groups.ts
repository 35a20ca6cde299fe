import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, sqlTypes, type Exec } from './define.js';

/** The claim index's predicate on PostgreSQL and SQLite from this version on: claimable jobs outside groups. */
export const CLAIM_INDEX_PREDICATE = `state IN ('waiting', 'scheduled') AND group_name IS NULL`;

/** Version and timestamp of the groups schema: the jobs' group column, its indexes and the groups' turns. */
export const SCHEMA_GROUPS = 1765050000000;

/**
 * Groups (see queries/groups.ts):
 * - `group_name` on jobs, NULL for a job in no group. Adding a nullable column rewrites no rows.
 * - PostgreSQL and SQLite: two partial indexes holding grouped claimable jobs only, so a table whose jobs have no
 *   group keeps them empty and never writes them: `(queue, group_name, priority, run_at, seq)` is a group's claim
 *   order and lists the groups (one probe per group); `(queue, run_at)` of grouped `waiting` jobs answers "does any
 *   grouped job wait?" and "since when?" (a predicate the claim's reads do not imply, so they never pick it).
 *   MySQL/MariaDB have no partial indexes: a virtual column `group_state` (the state of a grouped job, NULL for any
 *   other) leads `(queue, group_state, group_name, priority, run_at, seq)`, whose entries for jobs in no group hold
 *   NULL and so do not move when their state changes (an index on `state` would be rewritten on every claim).
 * - The claim index is rebuilt to hold jobs in no group only, so reading those never steps over a group's backlog:
 *   PostgreSQL and SQLite `(queue, priority, run_at, seq) WHERE state IN ('waiting', 'scheduled') AND group_name IS
 *   NULL`, MySQL/MariaDB `(queue, plain_state, priority, run_at, seq)` on a virtual `plain_state` (the state of a job
 *   in no group, NULL for a grouped one). It is rebuilt: on a large jobs table, run this migration at a quiet moment.
 * - `<prefix>group_turns`: when each group (and, as '', the jobs in no group) of a queue was last served, so claims
 *   serve the one served longest ago first. One row per group ever served; a few bytes each.
 * Names compare byte by byte, like job ids and task names.
 */
function createSql(type: string, t: TableNames): string[] {
  const { key, big, mysql, tableOptions } = sqlTypes(type);
  const grouped = `group_name IS NOT NULL AND state IN ('waiting', 'scheduled')`;
  return [
    ...(mysql
      ? [
          `CREATE INDEX ${t.jobs}_group ON ${t.jobs} (queue, group_state, group_name, priority, run_at, seq)`,
          `DROP INDEX ${t.jobs}_claim ON ${t.jobs}`,
          `CREATE INDEX ${t.jobs}_claim ON ${t.jobs} (queue, plain_state, priority, run_at, seq)`,
        ]
      : [
          `CREATE INDEX IF NOT EXISTS ${t.jobs}_group ON ${t.jobs} (queue, group_name, priority, run_at, seq) WHERE ${grouped}`,
          `CREATE INDEX IF NOT EXISTS ${t.jobs}_grouped ON ${t.jobs} (queue, run_at) WHERE group_name IS NOT NULL AND state = 'waiting'`,
          `DROP INDEX IF EXISTS ${t.jobs}_claim`,
          `CREATE INDEX ${t.jobs}_claim ON ${t.jobs} (queue, priority, run_at, seq) WHERE ${CLAIM_INDEX_PREDICATE}`,
        ]),
    `CREATE TABLE IF NOT EXISTS ${t.groupTurns} (\n  queue ${key(100)},\n  group_name ${key(100)},\n  turn ${big} NOT NULL,\n  PRIMARY KEY (queue, group_name)\n)${tableOptions}`,
  ];
}

/** Apply the groups schema through any `exec`. Idempotent (SQLite checks its table info before adding the column). */
export async function applyGroups(type: string, t: TableNames, exec: Exec): Promise<void> {
  const dialect = dialectOf(type)?.name;
  if (dialect === 'sqlite') {
    const columns = (await exec(`PRAGMA table_info(${t.jobs})`)) as { name: string }[];
    if (!columns.some((c) => c.name === 'group_name')) await exec(`ALTER TABLE ${t.jobs} ADD COLUMN group_name VARCHAR(100) NULL`);
  } else {
    await exec(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS group_name VARCHAR(100)${dialect === 'postgres' ? ' COLLATE "C"' : ''} NULL`);
  }
  if (dialect === 'mysql') {
    await exec(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS group_state VARCHAR(16) AS (CASE WHEN group_name IS NULL THEN NULL ELSE state END) VIRTUAL`);
    await exec(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS plain_state VARCHAR(16) AS (CASE WHEN group_name IS NULL THEN state ELSE NULL END) VIRTUAL`);
  }
  for (const sql of createSql(type, t)) await exec(sql);
}

/** The migration class of the groups schema for one table prefix (see {@link schemaMigrationV1}). */
export function groupsMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsGroups', SCHEMA_GROUPS, prefix, {
    up: (type, t, exec) => applyGroups(type, t, exec),
    down: async (type, t, exec) => {
      await exec(`DROP TABLE IF EXISTS ${t.groupTurns}`);
      const mysql = dialectOf(type)?.name === 'mysql';
      for (const index of mysql ? [`${t.jobs}_group`, `${t.jobs}_claim`] : [`${t.jobs}_group`, `${t.jobs}_grouped`, `${t.jobs}_claim`]) {
        await exec(mysql ? `DROP INDEX ${index} ON ${t.jobs}` : `DROP INDEX IF EXISTS ${index}`);
      }
      await exec(mysql
        ? `CREATE INDEX ${t.jobs}_claim ON ${t.jobs} (queue, state, priority, run_at, seq)`
        : `CREATE INDEX ${t.jobs}_claim ON ${t.jobs} (queue, priority, run_at, seq) WHERE state IN ('waiting', 'scheduled')`);
      if (mysql) await exec(`ALTER TABLE ${t.jobs} DROP COLUMN plain_state, DROP COLUMN group_state`);
      await exec(`ALTER TABLE ${t.jobs} DROP COLUMN group_name`);
    },
  });
}
