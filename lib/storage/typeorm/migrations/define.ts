import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from '../dialect.js';
import { tableNames, type TableNames } from '../schema.js';

/** Runs SQL through a migration's query runner. */
export type Exec = (sql: string, params?: unknown[]) => Promise<unknown>;

/**
 * A TypeORM migration class for one table prefix. Its name ends with the version's 13-digit timestamp (TypeORM orders
 * migrations by it) and carries the prefix, so two prefixes in one database are two migrations.
 */
export function defineMigration(
  title: string,
  version: number,
  prefix: string,
  steps: {
    up: (type: string, t: TableNames, exec: Exec) => Promise<void>;
    down: (type: string, t: TableNames, exec: Exec) => Promise<void>;
  },
): new () => MigrationInterface {
  const t = tableNames(prefix);
  const name = `${title}${prefix.replace(/[^A-Za-z0-9]/g, '')}${version}`;
  const run = (step: typeof steps.up, queryRunner: QueryRunner) =>
    step(queryRunner.connection.options.type, t, (sql, params) => queryRunner.query(sql, params));
  const migration = class implements MigrationInterface {
    name = name;
    async up(queryRunner: QueryRunner): Promise<void> {
      await run(steps.up, queryRunner);
    }
    async down(queryRunner: QueryRunner): Promise<void> {
      await run(steps.down, queryRunner);
    }
  };
  Object.defineProperty(migration, 'name', { value: name });
  return migration;
}

/**
 * The column and table spellings the migrations share for a TypeORM database `type`: `key(n)` a NOT NULL name of up
 * to n characters compared byte by byte (COLLATE "C" on PostgreSQL; MySQL tables are utf8mb4_bin), `big` a 64-bit
 * integer, and the MySQL table options. Throws for a database Uno Jobs does not support.
 */
export function sqlTypes(type: string) {
  const dialect = dialectOf(type)?.name;
  if (!dialect) throw new Error(`Uno Jobs migrations do not support the "${type}" database type.`);
  const mysql = dialect === 'mysql';
  return {
    dialect,
    mysql,
    key: (n: number) => `VARCHAR(${n})${dialect === 'postgres' ? ' COLLATE "C"' : ''} NOT NULL`,
    big: dialect === 'sqlite' ? 'INTEGER' : 'BIGINT',
    tableOptions: mysql ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '',
  };
}
