import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';

/** Version and timestamp of the flow links: a child's parent, its failure policy and a parent's count of children. */
export const SCHEMA_FLOW_PARENTS = 1765100000000;

/**
 * Three nullable columns of the jobs table, NULL on every job outside a flow:
 * - `parent_id`, `on_failure`: a child's parent and what its failure does to it (`fail`, `ignore`, `continue`);
 * - `kids`: on a parent, how many of its children have not ended yet. The write that ends a child locks its parent's
 *   row and counts it down in the same transaction; the one that reaches 0 releases the parent. A counter under the
 *   row lock (rather than counting siblings) is what keeps two children ending at once in two processes from both
 *   seeing the other unfinished (MySQL's REPEATABLE READ would show each the other's old state).
 *
 * The index on `parent_id` serves `children(parentId)` and the cancel cascade. It is partial (`parent_id IS NOT
 * NULL`) on PostgreSQL and SQLite, so rows outside flows never enter it and their claims and completions write no
 * entry in it; MySQL has no partial indexes, but InnoDB writes a secondary index only when its column changes, and
 * `parent_id` never does after the insert. Adding nullable columns without a default rewrites no rows.
 */
function steps(type: string, t: TableNames): { columns: [string, string][]; index: string } {
  const dialect = dialectOf(type)?.name;
  if (!dialect) throw new Error(`Uno Jobs migrations do not support the "${type}" database type.`);
  const id = `VARCHAR(200)${dialect === 'postgres' ? ' COLLATE "C"' : ''} NULL`;
  const name = `${t.jobs}_parent`;
  return {
    columns: [['parent_id', id], ['on_failure', 'VARCHAR(8) NULL'], ['kids', 'INTEGER NULL']],
    index: dialect === 'mysql'
      ? `CREATE INDEX IF NOT EXISTS ${name} ON ${t.jobs} (parent_id)`
      : `CREATE INDEX IF NOT EXISTS ${name} ON ${t.jobs} (parent_id) WHERE parent_id IS NOT NULL`,
  };
}

/** Apply the flow links through any `exec`. Idempotent (SQLite checks its table info; the others `IF NOT EXISTS`). */
export async function applyFlowParents(type: string, t: TableNames, exec: Exec): Promise<void> {
  const { columns, index } = steps(type, t);
  if (dialectOf(type)?.name === 'sqlite') {
    const have = new Set(((await exec(`PRAGMA table_info(${t.jobs})`)) as { name: string }[]).map((c) => c.name));
    for (const [column, def] of columns) if (!have.has(column)) await exec(`ALTER TABLE ${t.jobs} ADD COLUMN ${column} ${def}`);
  } else {
    for (const [column, def] of columns) await exec(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS ${column} ${def}`);
  }
  await exec(index);
}

/** The migration class of the flow links for one table prefix (see {@link schemaMigrationV1}). */
export function flowParentsMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsFlowParents', SCHEMA_FLOW_PARENTS, prefix, {
    up: (type, t, exec) => applyFlowParents(type, t, exec),
    down: async (type, t, exec) => {
      const mysql = dialectOf(type)?.name === 'mysql';
      await exec(mysql ? `DROP INDEX IF EXISTS ${t.jobs}_parent ON ${t.jobs}` : `DROP INDEX IF EXISTS ${t.jobs}_parent`);
      for (const column of ['kids', 'on_failure', 'parent_id']) await exec(`ALTER TABLE ${t.jobs} DROP COLUMN ${column}`);
    },
  });
}
