import { PRIORITIES, priorityLevel } from '../../../contract/job.js';
import type { Subscription } from '../../../contract/job-storage.js';
import { insertRows, type Dialect, type Stmt } from '../dialect.js';
import { cmp } from '../rows.js';
import type { TableNames } from '../schema.js';

const COLUMNS = ['event', 'task', 'queue', 'priority', 'attempts'] as const;

/**
 * Insert or update many subscriptions in one statement. Rows are deduplicated (the last one of a key wins) and sorted
 * by key: PostgreSQL refuses an `ON CONFLICT DO UPDATE` that touches one row twice, and instances starting together
 * then lock the rows they share in the same order, so their saves cannot deadlock.
 */
export function saveSubscriptionsStmt(d: Dialect, t: TableNames, subscriptions: readonly Subscription[]): Stmt {
  const byKey = new Map<string, Subscription>();
  for (const s of subscriptions) byKey.set(JSON.stringify([s.event, s.task]), s);
  const rows = [...byKey.values()].sort((a, b) => cmp(a.event, b.event) || cmp(a.task, b.task));
  return {
    sql: `${insertRows(t.subscriptions, COLUMNS, rows.length)} ${d.onConflict(t.subscriptions, 'event, task', ['queue', 'priority', 'attempts'])}`,
    params: rows.flatMap((s) => [s.event, s.task, s.queue, priorityLevel(s.priority), s.attempts]),
  };
}

/** The subscriptions of one event (through the primary key, whose first column is `event`), or all of them. */
export function subscriptionsStmt(t: TableNames, event?: string): Stmt {
  const columns = COLUMNS.join(', ');
  return event === undefined
    ? { sql: `SELECT ${columns} FROM ${t.subscriptions}`, params: [] }
    : { sql: `SELECT ${columns} FROM ${t.subscriptions} WHERE event = ?`, params: [event] };
}

/** A row of {@link subscriptionsStmt} as a subscription. */
export function toSubscription(row: Record<string, unknown>): Subscription {
  return {
    event: String(row.event),
    task: String(row.task),
    queue: String(row.queue),
    priority: PRIORITIES[Number(row.priority)]!,
    attempts: Number(row.attempts),
  };
}
