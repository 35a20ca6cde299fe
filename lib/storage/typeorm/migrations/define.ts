import type { MigrationInterface, QueryRunner } from 'typeorm';
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
