import type { MigrationInterface } from 'typeorm';
import { DEFAULT_TABLE_PREFIX } from '../schema.js';
import { schemaMigrationV1 } from './1764400000000-schema.js';
import { schemaMigrationV2 } from './1764500000000-collation.js';
import { schemaMigrationV3 } from './1764600000000-stalls.js';
import { retentionIndexesMigration } from './1764650000000-retention-indexes.js';
import { listingIndexMigration } from './1764700000000-listing-index.js';
import { subscriptionsMigration } from './1764750000000-subscriptions.js';
import { monitoringMigration } from './1764800000000-monitoring.js';
import { alertsMigration } from './1764900000000-alerts.js';
import { flowControlMigration } from './1764950000000-flow-control.js';
import { flowsMigration } from './1765000000000-flows.js';
import { groupsMigration } from './1765050000000-groups.js';
import { flowParentsMigration } from './1765100000000-flow-parents.js';
import { taskCountsMigration } from './1765150000000-task-counts.js';
import { leanIndexesMigration } from './1765200000000-lean-indexes.js';

export { applySchemaV1, schemaMigrationV1, SCHEMA_V1 } from './1764400000000-schema.js';
export { applySchemaV2, schemaMigrationV2, SCHEMA_V2 } from './1764500000000-collation.js';
export { applySchemaV3, schemaMigrationV3, SCHEMA_V3 } from './1764600000000-stalls.js';
export { applyRetentionIndexes, retentionIndexesMigration, SCHEMA_RETENTION_INDEXES } from './1764650000000-retention-indexes.js';
export { applyListingIndex, listingIndexMigration, SCHEMA_LISTING_INDEX } from './1764700000000-listing-index.js';
export { applySubscriptions, subscriptionsMigration, SCHEMA_SUBSCRIPTIONS } from './1764750000000-subscriptions.js';
export { applyMonitoring, monitoringMigration, SCHEMA_MONITORING } from './1764800000000-monitoring.js';
export { applyAlerts, alertsMigration, SCHEMA_ALERTS } from './1764900000000-alerts.js';
export { applyFlowControl, flowControlMigration, SCHEMA_FLOW_CONTROL } from './1764950000000-flow-control.js';
export { applyFlows, flowsMigration, SCHEMA_FLOWS } from './1765000000000-flows.js';
export { applyGroups, groupsMigration, SCHEMA_GROUPS } from './1765050000000-groups.js';
export { applyFlowParents, flowParentsMigration, SCHEMA_FLOW_PARENTS } from './1765100000000-flow-parents.js';
export { applyTaskCounts, taskCountsMigration, SCHEMA_TASK_COUNTS } from './1765150000000-task-counts.js';
export { applyLeanIndexes, leanIndexesMigration, SCHEMA_LEAN_INDEXES } from './1765200000000-lean-indexes.js';

/**
 * Uno Jobs' schema migrations for a table prefix, oldest first, to add to your own DataSource so they run with
 * your migrations (`migration:run`, or `migrationsRun: true`). Set `runMigrations: false` (the default for a
 * DataSource you pass) on the store then.
 *
 * @example
 * new DataSource({ type: 'postgres', ..., migrations: [...unoJobsMigrations(), ...myMigrations] })
 * UnoJobsModule.forRoot({ storage: new TypeormJobStorage({ dataSource }) })
 */
export function unoJobsMigrations(options: { tablePrefix?: string } = {}): (new () => MigrationInterface)[] {
  const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
  return [schemaMigrationV1(prefix), schemaMigrationV2(prefix), schemaMigrationV3(prefix), retentionIndexesMigration(prefix),
    listingIndexMigration(prefix), subscriptionsMigration(prefix), monitoringMigration(prefix), alertsMigration(prefix), flowControlMigration(prefix), flowsMigration(prefix),
    groupsMigration(prefix),
    flowParentsMigration(prefix),
    taskCountsMigration(prefix),
    leanIndexesMigration(prefix)];
}
