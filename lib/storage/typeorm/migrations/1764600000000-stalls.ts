import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';

/** Version and timestamp of the third schema: the per-job stall count. */
export const SCHEMA_V3 = 1764600000000;

/**
 * Apply version 3 through any `exec`: a `stalls` column counting the times a job's worker died while running its
 * handler (a crash no longer uses up an attempt; `maxStalls` bounds the crashes instead). Idempotent: PostgreSQL and
 * MariaDB add the column only if it is missing, SQLite checks its table info first. Adding a column with a constant
 * default rewrites no rows on any of the three.
 */
export async function applySchemaV3(type: string, t: TableNames, exec: Exec): Promise<void> {
  const dialect = dialectOf(type)?.name;
  if (dialect === 'sqlite') {
    const columns = (await exec(`PRAGMA table_info(${t.jobs})`)) as { name: string }[];
    if (columns.some((c) => c.name === 'stalls')) return;
    await exec(`ALTER TABLE ${t.jobs} ADD COLUMN stalls INTEGER NOT NULL DEFAULT 0`);
    return;
  }
  await exec(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS stalls INT NOT NULL DEFAULT 0`);
}

/** The migration class of version 3 for one table prefix (see {@link schemaMigrationV1}). */
export function schemaMigrationV3(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsStalls', SCHEMA_V3, prefix, {
    up: (type, t, exec) => applySchemaV3(type, t, exec),
    down: (_type, t, exec) => exec(`ALTER TABLE ${t.jobs} DROP COLUMN stalls`).then(() => undefined),
  });
}
