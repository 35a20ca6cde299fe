/**
 * SQL storage for Uno Jobs through TypeORM (PostgreSQL, MySQL/MariaDB, SQLite). Import from `@uno/jobs/typeorm`;
 * it loads `typeorm` (a peer dependency), so apps on other stores never need it.
 *
 * @example
 * import { TypeormJobStorage, unoJobsMigrations } from '@uno/jobs/typeorm';
 * @packageDocumentation
 */
export { TypeormJobStorage, type TypeormStorageOptions } from './storage/typeorm/typeorm.storage.js';
export {
  unoJobsMigrations, schemaMigrationV1, SCHEMA_V1, schemaMigrationV2, SCHEMA_V2, schemaMigrationV3, SCHEMA_V3,
  retentionIndexesMigration, SCHEMA_RETENTION_INDEXES, listingIndexMigration, SCHEMA_LISTING_INDEX,
  subscriptionsMigration, SCHEMA_SUBSCRIPTIONS, monitoringMigration, SCHEMA_MONITORING, alertsMigration, SCHEMA_ALERTS, flowControlMigration, SCHEMA_FLOW_CONTROL, flowsMigration, SCHEMA_FLOWS, groupsMigration, SCHEMA_GROUPS,
  flowParentsMigration, SCHEMA_FLOW_PARENTS,
  taskCountsMigration, SCHEMA_TASK_COUNTS,
  leanIndexesMigration, SCHEMA_LEAN_INDEXES,
} from './storage/typeorm/migrations/index.js';
export { DEFAULT_TABLE_PREFIX, tableNames, type TableNames } from './storage/typeorm/schema.js';
