import { beforeAll, afterAll } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';

/** What runs SQL for {@link dropTables}: a TypeORM DataSource (any of the three databases) or a node-postgres client. */
export interface SqlHandle {
  query(sql: string, params?: unknown[]): Promise<unknown>;
  /** A DataSource's options tell the database type; a handle without them is PostgreSQL. */
  options?: { type: string };
}

const FIND: Record<'postgres' | 'mysql' | 'sqlite', string> = {
  postgres: `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1`,
  mysql: `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?`,
  sqlite: `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'`,
};

/**
 * Drop every table whose name starts with `prefix` (a test's cleanup of its own table prefix, sub-prefixes included):
 * the store's tables whatever migrations added them, and any table the test made under the same prefix. `_` and `%`
 * in the prefix are matched literally.
 */
export async function dropTables(db: SqlHandle, prefix: string): Promise<void> {
  const type = db.options?.type ?? 'postgres';
  const dialect = type === 'better-sqlite3' ? 'sqlite' : type === 'mysql' || type === 'mariadb' ? 'mysql' : 'postgres';
  const rows = async (sql: string, params: unknown[] = []) => {
    const result = await db.query(sql, params);
    return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { name: string }[];
  };
  const quote = dialect === 'mysql' ? '`' : '"';
  for (const { name } of await rows(FIND[dialect], [`${prefix.replace(/[\\%_]/g, '\\$&')}%`])) {
    await db.query(`DROP TABLE IF EXISTS ${quote}${name}${quote}`);
  }
}

/**
 * A spec file's tables under `prefix`, through `admin` (a DataSource not yet initialised): before the file's tests,
 * connect and run the store's migrations; after them, drop the tables and disconnect. Call at the top level of a spec.
 */
export function migratedTables(admin: DataSource, prefix: string): void {
  beforeAll(async () => {
    await admin.initialize();
    const setup = new TypeormJobStorage({ dataSource: admin, tablePrefix: prefix, runMigrations: true });
    await setup.init();
    await setup.close();
  });
  afterAll(async () => {
    await dropTables(admin, prefix);
    await admin.destroy();
  });
}
