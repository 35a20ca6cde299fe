import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';

/** Version and timestamp of the second schema: byte-wise collation of the text keys on PostgreSQL. */
export const SCHEMA_V2 = 1764500000000;

/** Text columns of the jobs table that are compared or indexed, with their declared length. */
const KEYS: [string, number][] = [['id', 200], ['task', 200], ['queue', 100], ['state', 16], ['worker_id', 200], ['token', 64]];

function alter(t: TableNames, collation: string): string[] {
  return [
    `ALTER TABLE ${t.jobs} ${KEYS.map(([c, n]) => `ALTER COLUMN ${c} TYPE VARCHAR(${n}) COLLATE ${collation}`).join(', ')}`,
    `ALTER TABLE ${t.schedules} ALTER COLUMN name TYPE VARCHAR(200) COLLATE ${collation}`,
  ];
}

/**
 * Apply version 2 through any `exec`. PostgreSQL only: job ids, task and queue names and tokens compare byte by byte
 * (`COLLATE "C"`), as they already do on MySQL (`utf8mb4_bin`) and SQLite.
 *
 * Why: every claim and completion looks ids up in, and adds entries to, the primary-key index, and under a
 * linguistic collation (`en_US.UTF-8` and the like) each comparison is a `strcoll` call; "C" compares with memcmp.
 * Sorting 200,000 UUIDs here takes 95 ms under "C" against 200 ms under `C.UTF-8`. Equality is unchanged (both are
 * deterministic), so no stored id changes meaning. The statement rebuilds the indexes on these columns; it is
 * idempotent.
 */
export async function applySchemaV2(type: string, t: TableNames, exec: Exec): Promise<void> {
  if (dialectOf(type)?.name !== 'postgres') return;
  for (const sql of alter(t, '"C"')) await exec(sql);
}

/** The migration class of version 2 for one table prefix (see {@link schemaMigrationV1}). */
export function schemaMigrationV2(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsCollation', SCHEMA_V2, prefix, {
    up: (type, t, exec) => applySchemaV2(type, t, exec),
    down: async (type, t, exec) => {
      if (dialectOf(type)?.name !== 'postgres') return;
      for (const sql of alter(t, '"default"')) await exec(sql);
    },
  });
}
