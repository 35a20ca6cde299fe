import type { DataSource } from 'typeorm';
import { StorageError, messages } from '../../contract/errors.js';
import type { Dialect } from './dialect.js';
import { applySchemaV1, SCHEMA_V1 } from './migrations/1764400000000-schema.js';
import { applySchemaV2, SCHEMA_V2 } from './migrations/1764500000000-collation.js';
import { applySchemaV3, SCHEMA_V3 } from './migrations/1764600000000-stalls.js';
import { applyRetentionIndexes, SCHEMA_RETENTION_INDEXES } from './migrations/1764650000000-retention-indexes.js';
import { applyListingIndex, SCHEMA_LISTING_INDEX } from './migrations/1764700000000-listing-index.js';
import { applySubscriptions, SCHEMA_SUBSCRIPTIONS } from './migrations/1764750000000-subscriptions.js';
import { applyMonitoring, SCHEMA_MONITORING } from './migrations/1764800000000-monitoring.js';
import { applyAlerts, SCHEMA_ALERTS } from './migrations/1764900000000-alerts.js';
import { applyFlowControl, SCHEMA_FLOW_CONTROL } from './migrations/1764950000000-flow-control.js';
import { applyFlows, SCHEMA_FLOWS } from './migrations/1765000000000-flows.js';
import { applyGroups, SCHEMA_GROUPS } from './migrations/1765050000000-groups.js';
import { applyFlowParents, SCHEMA_FLOW_PARENTS } from './migrations/1765100000000-flow-parents.js';
import { applyTaskCounts, SCHEMA_TASK_COUNTS } from './migrations/1765150000000-task-counts.js';
import { applyLeanIndexes, SCHEMA_LEAN_INDEXES } from './migrations/1765200000000-lean-indexes.js';
import type { TableNames } from './schema.js';
import type { SqliteDatabase } from './sql-runner.js';

/** Every schema version the store knows, oldest first. */
const VERSIONS: { version: number; apply: typeof applySchemaV1 }[] = [
  { version: SCHEMA_V1, apply: applySchemaV1 },
  { version: SCHEMA_V2, apply: applySchemaV2 },
  { version: SCHEMA_V3, apply: applySchemaV3 },
  { version: SCHEMA_RETENTION_INDEXES, apply: applyRetentionIndexes },
  { version: SCHEMA_LISTING_INDEX, apply: applyListingIndex },
  { version: SCHEMA_SUBSCRIPTIONS, apply: applySubscriptions },
  { version: SCHEMA_MONITORING, apply: applyMonitoring },
  { version: SCHEMA_ALERTS, apply: applyAlerts },
  { version: SCHEMA_FLOW_CONTROL, apply: applyFlowControl },
  { version: SCHEMA_FLOWS, apply: applyFlows },
  { version: SCHEMA_GROUPS, apply: applyGroups },
  { version: SCHEMA_FLOW_PARENTS, apply: applyFlowParents },
  { version: SCHEMA_TASK_COUNTS, apply: applyTaskCounts },
  { version: SCHEMA_LEAN_INDEXES, apply: applyLeanIndexes },
];

/**
 * Bring the schema up to date with Uno Jobs' own bookkeeping table (`<prefix>migrations`), independent of the app's
 * TypeORM migrations table so the two never collide. Several processes may start at once: PostgreSQL takes a
 * transaction-scoped advisory lock (and its DDL is transactional), MySQL a named lock (`GET_LOCK`), SQLite an
 * immediate write transaction; every DDL statement is idempotent besides.
 */
export async function runMigrations(dataSource: DataSource, dialect: Dialect, t: TableNames, sqlite?: SqliteDatabase, lockTimeoutS = 60): Promise<void> {
  const type = dataSource.options.type;
  const ledger = `CREATE TABLE IF NOT EXISTS ${t.migrations} (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`;
  if (dialect.name === 'sqlite') {
    // DDL through the driver's synchronous API in one immediate transaction: nothing else interleaves.
    const db = sqlite!;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(ledger);
      const done = new Set((db.prepare(`SELECT version FROM ${t.migrations}`).all() as { version: number }[]).map((r) => Number(r.version)));
      for (const { version, apply } of VERSIONS) {
        if (done.has(version)) continue;
        await apply(type, t, async (sql, params = []) => {
          const stmt = db.prepare(sql);
          return stmt.reader ? stmt.all(...params) : stmt.run(...params);
        });
        db.prepare(`INSERT INTO ${t.migrations} (version, applied_at) VALUES (?, ?)`).run(version, Date.now());
      }
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
    return;
  }
  const qr = dataSource.createQueryRunner();
  const lockName = `uno_jobs_migrate_${t.jobs}`;
  try {
    if (dialect.name === 'postgres') {
      await qr.startTransaction();
      await qr.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [lockName]);
    } else {
      // 1: taken; 0: another session held it for the whole timeout; NULL: an error. Only 1 may go on: migrating
      // unlocked next to another process is what the lock is there to prevent.
      const [row] = (await qr.query(`SELECT GET_LOCK(?, ?) AS locked`, [lockName, lockTimeoutS])) as { locked: unknown }[];
      if (Number(row?.locked) !== 1) throw new StorageError(messages.migrationLockTimeout(lockName, lockTimeoutS));
    }
    await qr.query(ledger);
    const rows = (await qr.query(`SELECT version FROM ${t.migrations}`)) as { version: unknown }[];
    const done = new Set(rows.map((r) => Number(r.version)));
    for (const { version, apply } of VERSIONS) {
      if (done.has(version)) continue;
      await apply(type, t, (sql, params) => qr.query(sql, params));
      const placeholders = dialect.name === 'postgres' ? '$1, $2' : '?, ?';
      await qr.query(`INSERT INTO ${t.migrations} (version, applied_at) VALUES (${placeholders})`, [version, Date.now()]);
    }
    if (dialect.name === 'postgres') await qr.commitTransaction();
  } catch (error) {
    if (qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
    throw error;
  } finally {
    if (dialect.name === 'mysql') await qr.query(`SELECT RELEASE_LOCK(?)`, [lockName]).catch(() => undefined);
    await qr.release();
  }
}
