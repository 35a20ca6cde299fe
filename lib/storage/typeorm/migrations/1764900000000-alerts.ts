import type { MigrationInterface } from 'typeorm';
import { dialectOf } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { defineMigration, type Exec } from './define.js';

/** Version and timestamp of the documents table (the alert state). Independent of the other versions: it only adds a table. */
export const SCHEMA_ALERTS = 1764900000000;

/**
 * The versioned documents of the core (`readDocument`, `writeDocument`): one row per key, its JSON text and the
 * version the compare-and-set moves. The primary key serves both. Keys compare byte by byte like job ids.
 */
function createSql(type: string, t: TableNames): string {
  const dialect = dialectOf(type)?.name;
  if (!dialect) throw new Error(`Uno Jobs migrations do not support the "${type}" database type.`);
  const key = `VARCHAR(200)${dialect === 'postgres' ? ' COLLATE "C"' : ''} NOT NULL`;
  const text = dialect === 'mysql' ? 'LONGTEXT' : 'TEXT';
  const tableOptions = dialect === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
  return `CREATE TABLE IF NOT EXISTS ${t.documents} (
  doc_key ${key} PRIMARY KEY,
  data ${text} NOT NULL,
  version INTEGER NOT NULL
)${tableOptions}`;
}

/** Apply the documents table through any `exec`. Idempotent. */
export async function applyAlerts(type: string, t: TableNames, exec: Exec): Promise<void> {
  await exec(createSql(type, t));
}

/** The migration class of the documents table for one table prefix (see {@link schemaMigrationV1}). */
export function alertsMigration(prefix: string): new () => MigrationInterface {
  return defineMigration('UnoJobsAlerts', SCHEMA_ALERTS, prefix, {
    up: (type, t, exec) => applyAlerts(type, t, exec),
    down: (_type, t, exec) => exec(`DROP TABLE IF EXISTS ${t.documents}`).then(() => undefined),
  });
}
