import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';
import { CLAIM_INDEX_PREDICATE } from './1765050000000-groups.js';

/** Version and timestamp of the lean task index (PostgreSQL only; a no-op elsewhere). Only rebuilds indexes. */
export const SCHEMA_LEAN_INDEXES = 1765200000000;


/**
 * The jobs the task index keeps on PostgreSQL from this version on: those no other index holds by task, jobs waiting
 * for their children and grouped jobs waiting or scheduled. Waiting and scheduled jobs outside groups are counted
 * from the claim index, completed ones from the completed-jobs retention index, failed and cancelled ones from the
 * dead-jobs retention index, active ones from the lease index. `countsByTaskStmt` repeats this text so the planner
 * matches it to the index.
 */
export const TASK_INDEX_PREDICATE = `state = 'waiting-children' OR (group_name IS NOT NULL AND state IN ('waiting', 'scheduled'))`;

/** Each index this version rebuilds: its name after `<jobs>_`, the shape before, and the shape after. */
function shapes(t: TableNames): { name: string; before: string; after: string }[] {
  return [
    {
      name: 'claim',
      before: `(queue, priority, run_at, seq) WHERE ${CLAIM_INDEX_PREDICATE}`,
      after: `(queue, priority, run_at, seq) INCLUDE (task, state) WHERE ${CLAIM_INDEX_PREDICATE}`,
    },
    {
      name: 'done',
      before: `(finished_at, seq) WHERE state = 'completed'`,
      after: `(finished_at, seq) INCLUDE (task, queue) WHERE state = 'completed'`,
    },
    {
      name: 'dead',
      before: `(finished_at, seq) WHERE state IN ('failed', 'cancelled')`,
      after: `(finished_at, seq) INCLUDE (task, queue, state) WHERE state IN ('failed', 'cancelled')`,
    },
    {
      name: 'by_task',
      before: `(task, queue, state, run_at) WHERE state <> 'active'`,
      after: `(task, queue, state, run_at) WHERE ${TASK_INDEX_PREDICATE}`,
    },
  ].map((shape) => ({ ...shape, name: `${t.jobs}_${shape.name}` }));
}

/** Build `name` in the given shape under a temporary name, then swap it in: the old index serves until the swap. */
async function rebuild(t: TableNames, exec: Exec, name: string, shape: string): Promise<void> {
  const next = `${name}_next`;
  await exec(`DROP INDEX IF EXISTS ${next}`);
  await exec(`CREATE INDEX ${next} ON ${t.jobs} ${shape}`);
  await exec(`DROP INDEX IF EXISTS ${name}`);
  await exec(`ALTER INDEX ${next} RENAME TO ${name}`);
}

/**
 * Apply the lean indexes through any `exec`: only jobs waiting for children and grouped jobs stay in the task index,
 * and the claim and retention indexes carry the task (and the state or queue a count reads) of the jobs they hold.
 * Idempotent (each index is rebuilt to the same shape).
 *
 * Why: every insert wrote one entry to the task index, and every completion and failure another, on top of the
 * primary key, the listing index and the claim or retention index: about 3.5 µs of server CPU each
 * (docs/benchmark-log.md). The claim and retention indexes already hold exactly those jobs, so carrying the task in them
 * keeps per-task counts a read of indexes, with one index entry less per insert, completion and failure. The price:
 * a count of one task's waiting jobs reads every claimable job of its scope (one queue, or all), not only that task's,
 * as a count of all states already reads the table.
 */
export async function applyLeanIndexes(type: string, t: TableNames, exec: Exec): Promise<void> {
  if (dialectOf(type)?.name !== 'postgres') return;
  for (const { name, after } of shapes(t)) await rebuild(t, exec, name, after);
}

/** The migration class of the lean indexes for one table prefix (see {@link schemaMigrationV1}). */
export function leanIndexesMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsLeanIndexes', SCHEMA_LEAN_INDEXES, prefix, {
    up: (type, t, exec) => applyLeanIndexes(type, t, exec),
    down: async (type, t, exec) => {
      if (dialectOf(type)?.name !== 'postgres') return;
      for (const { name, before } of shapes(t)) await rebuild(t, exec, name, before);
    },
  });
}
