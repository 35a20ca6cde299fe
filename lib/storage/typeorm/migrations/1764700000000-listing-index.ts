import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';

/** Version and timestamp of the partial listing index (PostgreSQL only; a no-op elsewhere). */
export const SCHEMA_LISTING_INDEX = 1764700000000;

/**
 * The listing index without active jobs. A claim writes a new row version of every job it takes, and PostgreSQL adds
 * an entry for it to every index whose predicate the version matches: the plain `(seq)` index of the retention
 * migration took one per claim as well as one per insert and completion (measured in docs/benchmark-log.md). Active
 * jobs are few (at most the workers' slots and prefetch buffers), and `list` reads them through the lease index
 * `(lease_expires_at) WHERE state = 'active'` and merges them in (see `listOp`), so this index leaves them out and
 * costs a claim nothing.
 */
function listingIndexSql(t: TableNames): string {
  return `CREATE INDEX IF NOT EXISTS ${t.jobs}_listing ON ${t.jobs} (seq) WHERE state <> 'active'`;
}

/**
 * Apply the listing index through any `exec`: create `<jobs>_listing` and drop the `<jobs>_seq` index it replaces.
 * Idempotent. MySQL and SQLite list through their primary key `seq` and need nothing.
 */
export async function applyListingIndex(type: string, t: TableNames, exec: Exec): Promise<void> {
  if (dialectOf(type)?.name !== 'postgres') return;
  await exec(listingIndexSql(t));
  await exec(`DROP INDEX IF EXISTS ${t.jobs}_seq`);
}

/** The migration class of the listing index for one table prefix (see {@link schemaMigrationV1}). */
export function listingIndexMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsListingIndex', SCHEMA_LISTING_INDEX, prefix, {
    up: (type, t, exec) => applyListingIndex(type, t, exec),
    down: async (type, t, exec) => {
      if (dialectOf(type)?.name !== 'postgres') return;
      await exec(`CREATE INDEX IF NOT EXISTS ${t.jobs}_seq ON ${t.jobs} (seq)`);
      await exec(`DROP INDEX IF EXISTS ${t.jobs}_listing`);
    },
  });
}
