import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';

/**
 * Version and timestamp of the retention indexes. Independent of the other versions (it only adds indexes), so it
 * may be ordered before or after any schema change that adds columns.
 */
export const SCHEMA_RETENTION_INDEXES = 1764650000000;

function indexes(type: string, t: TableNames): { name: string; sql: string }[] {
  const dialect = dialectOf(type)?.name;
  const ix = (name: string, body: string, where: string) => ({
    name: `${t.jobs}_${name}`,
    sql: `CREATE INDEX IF NOT EXISTS ${t.jobs}_${name} ON ${t.jobs} ${body}${where ? ` WHERE ${where}` : ''}`,
  });
  const dead = ix('dead', '(finished_at, seq)', `state IN ('failed', 'cancelled')`);
  if (dialect === 'postgres') {
    return [
      // Pruning reads each kind from its oldest end and finds the count limit `maxCount` entries from its newest
      // end. Partial: a job enters the index once, when it finishes, and claims and leases never touch it.
      ix('done', '(finished_at, seq)', `state = 'completed'`),
      dead,
      // Listing pages newest first (and the idle poll's MAX(seq)). Every row version enters it, which costs each
      // claim and completion one index entry: measured in docs/benchmark-log.md. Migration 1764700000000 replaces it
      // with a partial index that claims do not write.
      ix('seq', '(seq)', ''),
    ];
  }
  // SQLite already reads completed jobs in order from (state, finished_at, seq); failed and cancelled together
  // need their own partial index to be read oldest first without a sort. MySQL has no partial indexes: its
  // (state, finished_at, seq) index serves both rules.
  if (dialect === 'sqlite') return [dead];
  return [];
}

/** Apply the retention indexes through any `exec`. Idempotent. */
export async function applyRetentionIndexes(type: string, t: TableNames, exec: Exec): Promise<void> {
  for (const { sql } of indexes(type, t)) await exec(sql);
}

/** The migration class of the retention indexes for one table prefix (see {@link schemaMigrationV1}). */
export function retentionIndexesMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsRetentionIndexes', SCHEMA_RETENTION_INDEXES, prefix, {
    up: (type, t, exec) => applyRetentionIndexes(type, t, exec),
    down: async (type, t, exec) => {
      for (const { name } of indexes(type, t)) await exec(`DROP INDEX IF EXISTS ${name}`);
    },
  });
}
