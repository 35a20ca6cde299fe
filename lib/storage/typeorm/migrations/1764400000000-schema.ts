import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import { createSchemaSql, dropSchemaSql, type TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';

/** Version and timestamp of the first schema; TypeORM orders migrations by the 13 digits that end a name. */
export const SCHEMA_V1 = 1764400000000;

/**
 * Apply version 1 through any `exec` (a TypeORM QueryRunner, or the store's own runner). Safe to run twice: tables
 * and indexes that exist are kept (MySQL has no `CREATE INDEX IF NOT EXISTS`, so it asks information_schema).
 */
export async function applySchemaV1(
  type: string,
  t: TableNames,
  exec: Exec,
): Promise<void> {
  const dialect = dialectOf(type);
  if (!dialect) throw new Error(`Uno Jobs migrations do not support the "${type}" database type.`);
  for (const sql of createSchemaSql(dialect.name, t)) {
    if (dialect.name === 'mysql' && /^CREATE (UNIQUE )?INDEX/.test(sql)) {
      const name = /INDEX (\S+) ON/.exec(sql)![1]!;
      const found = (await exec(
        'SELECT 1 AS x FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1',
        [t.jobs, name],
      )) as unknown[];
      if (Array.isArray(found) && found.length > 0) continue;
    }
    await exec(sql);
  }
}

/**
 * The migration class creating Uno Jobs' tables for one table prefix. Add it to your DataSource's `migrations` to
 * run it with your own migrations (see {@link unoJobsMigrations}).
 */
export function schemaMigrationV1(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsSchema', SCHEMA_V1, prefix, {
    up: (type, t, exec) => applySchemaV1(type, t, exec),
    down: async (_type, t, exec) => {
      for (const sql of dropSchemaSql(t)) await exec(sql);
    },
  });
}
