import type { PauseTarget } from '../../../contract/job-storage.js';
import type { Dialect, Stmt } from '../dialect.js';
import type { TableNames } from '../schema.js';

/** Mark a queue (task '') or task paused, creating its flow row when it has none. Idempotent. */
export function pauseStmt(d: Dialect, t: TableNames, target: PauseTarget): Stmt {
  return {
    sql: d.upsert(t.flow, ['queue', 'task', 'paused'], 'queue, task', ['paused']),
    params: [target.queue, target.task ?? '', 1],
  };
}

/** What is paused in one queue: '' for the queue itself, else task names (through the primary key). */
export const pausedOfQueueSql = (t: TableNames): string => `SELECT task FROM ${t.flow} WHERE queue = ? AND paused = 1`;
