import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from '../dialect.js';
import { createSchemaSql, dropSchemaSql, tableNames, type TableNames } from '../schema.js';

/** Version and timestamp of the first schema; TypeORM orders migrations by the 13 digits that end a name. */
export const SCHEMA_V1 = 1764400000000;

/**
 * Apply version 1 through any `exec` (a TypeORM QueryRunner, or the store's own runner). Safe to run twice: tables
 * and indexes that exist are kept (MySQL has no `CREATE INDEX IF NOT EXISTS`, so it asks information_schema).
 */
export async function applySchemaV1(
  type: string,
  t: TableNames,
  exec: (sql: string, params?: unknown[]) => Promise<unknown>,
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
  const t = tableNames(prefix);
  const name = `UnoJobsSchema${prefix.replace(/[^A-Za-z0-9]/g, '')}${SCHEMA_V1}`;
  const migration = class implements MigrationInterface {
    name = name;
    async up(queryRunner: QueryRunner): Promise<void> {
      await applySchemaV1(queryRunner.connection.options.type, t, (sql, params) => queryRunner.query(sql, params));
    }
    async down(queryRunner: QueryRunner): Promise<void> {
      for (const sql of dropSchemaSql(t)) await queryRunner.query(sql);
    }
  };
  Object.defineProperty(migration, 'name', { value: name });
  return migration;
}
