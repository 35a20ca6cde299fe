import { InvalidJobError, messages } from '../../../contract/errors.js';
import { emptyCounts, FINAL_STATES, priorityLevel, type JobCounts, type JobFilter, type JobPage, type JobRecord, type JobState, type Priority } from '../../../contract/job.js';
import { MAX_LOG_LINES, PAYLOAD_SEARCH_SCAN, searchWindow, type Lease, type ProgressUpdate } from '../../../contract/job-storage.js';
import { seqCursor } from '../../../contract/cursor.js';
import { list, type Dialect, type Op, type Stmt } from '../dialect.js';
import { CLEAR_LEASE, toRecord, type JobRow } from '../rows.js';
import { JOB_COLUMNS, type TableNames } from '../schema.js';
import { CLAIM_INDEX_PREDICATE } from '../migrations/1765050000000-groups.js';
import { TASK_INDEX_PREDICATE } from '../migrations/1765200000000-lean-indexes.js';
import { childrenEndedOp, endedChild, type Released } from './flows.js';

/**
 * Reads and operator actions: single-row or paged, not on the hot path. Writes read the row under a lock first so
 * the state test and the change are one step.
 */
const COLUMNS = JOB_COLUMNS.join(', ');

/** One job by id. */
export function getSql(t: TableNames): string {
  return `SELECT ${COLUMNS} FROM ${t.jobs} WHERE id = ?`;
}

/**
 * Newest first by insertion order; the cursor is the last row's `seq`. Reads an index in `seq` order (the primary key
 * on MySQL and SQLite), so a page costs its own rows, not the table. PostgreSQL's listing index leaves active jobs out
 * (a claim would otherwise add an entry to it for every job it takes): a page of every state there merges the
 * newest rows of that index with the newest active jobs, which the lease index `(lease_expires_at) WHERE state =
 * 'active'` holds (few: at most the workers' slots and buffers). A filter on one state reads one of the two.
 */
export function* listOp(d: Dialect, t: TableNames, filter: JobFilter, page: { limit: number; cursor?: string | null }): Op<JobPage> {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of [['state', filter.state], ['task', filter.task], ['queue', filter.queue]] as const) {
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  const cursor = seqCursor(page.cursor);
  if (cursor !== null) {
    where.push('seq < ?');
    params.push(cursor);
  }
  const limit = Math.max(1, Math.floor(page.limit));
  const select = (extra: string[], columns = COLUMNS, rows = limit + 1) => {
    const terms = [...extra, ...where];
    return `SELECT ${columns} FROM ${t.jobs} ${terms.length ? `WHERE ${terms.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${rows}`;
  };
  const split = d.name === 'postgres' && filter.state === undefined;
  const read = (columns: string, rows: number, pre: unknown[] = []): Stmt =>
    split
      ? { sql: `(${select([`state <> 'active'`], columns, rows)}) UNION ALL (${select([`state = 'active'`], columns, rows)}) ORDER BY seq DESC LIMIT ${rows}`, params: [...pre, ...params, ...pre, ...params] }
      : { sql: select([], columns, rows), params: [...pre, ...params] };
  if (filter.payloadContains !== undefined) return yield* searchOp(d, t, filter.payloadContains, limit, read);
  const rows = yield read(COLUMNS, limit + 1);
  const more = rows.length > limit;
  const slice = rows.slice(0, limit);
  return { jobs: slice.map(toRecord), nextCursor: more ? String(slice[slice.length - 1]!.seq) : null };
}

/**
 * A payload search, bounded: the scan window (the newest {@link PAYLOAD_SEARCH_SCAN} rows of the other filters, read
 * through the listing's own index) comes back as ids with a hit flag, never payloads; then the hits' rows are read by
 * id. A search for rare text therefore costs the window, not the table.
 */
function* searchOp(d: Dialect, t: TableNames, text: string, limit: number, read: (columns: string, rows: number, pre?: unknown[]) => Stmt): Op<JobPage> {
  const test = d.contains('payload', text);
  const window = yield read(`id, seq, CASE WHEN ${test.sql} THEN 1 ELSE 0 END AS hit`, PAYLOAD_SEARCH_SCAN, test.params);
  const { rows: hits, nextCursor } = searchWindow(window, (row) => Number(row.hit) === 1, limit, (row) => String(row.seq));
  if (hits.length === 0) return { jobs: [], nextCursor };
  const found = yield { sql: `SELECT ${COLUMNS} FROM ${t.jobs} WHERE id IN (${list(hits.length)})`, params: hits.map((row) => row.id) };
  const bySeq = found.sort((a, b) => Number(b.seq) - Number(a.seq));
  return { jobs: bySeq.map(toRecord), nextCursor };
}

/**
 * Jobs per state. A `scheduled` job that is already due counts as `waiting`, as it is claimable. One statement, run
 * on its own without a transaction (dashboards and health checks poll it).
 */
export function countsStmt(d: Dialect, t: TableNames, queue?: string): Stmt {
  return {
    sql: `SELECT CASE WHEN state = 'scheduled' AND run_at <= ${d.nowMs} THEN 'waiting' ELSE state END AS s, COUNT(*) AS n
          FROM ${t.jobs} ${queue === undefined ? '' : 'WHERE queue = ?'} GROUP BY 1`,
    params: queue === undefined ? [] : [queue],
  };
}

/**
 * Jobs per (task, state) of some tasks, from indexes that hold every column the count reads.
 * - MySQL has no partial index: all states come from the task index of migration 1765150000000 `(task, queue, state,
 *   run_at)`.
 * - SQLite: that index without active jobs (a claim would otherwise write an entry to it for every job it takes);
 *   they are counted from the lease index `(lease_expires_at) WHERE state = 'active'`, which holds few rows (the
 *   workers' slots and buffers).
 * - PostgreSQL (migration 1765200000000): each state from the index that already holds it. Waiting and scheduled
 *   jobs outside groups from the claim index (which carries task and state), completed, failed and cancelled jobs
 *   from the retention indexes (which carry task and queue), active jobs from the lease index, the rest (waiting for
 *   children, grouped) from the task index, which keeps only those. So an insert, a completion and a failure each
 *   write one index entry less; a count of waiting jobs reads the claim index of its scope (or the table, whichever
 *   the planner prices lower), not only the task's entries.
 */
export function countsByTaskStmt(d: Dialect, t: TableNames, tasks: readonly string[], queue?: string): Stmt {
  const scope = `task IN (${tasks.map(() => '?').join(', ')})${queue === undefined ? '' : ' AND queue = ?'}`;
  const params = queue === undefined ? [...tasks] : [...tasks, queue];
  const state = `CASE WHEN state = 'scheduled' AND run_at <= ${d.nowMs} THEN 'waiting' ELSE state END`;
  if (d.name === 'mysql') {
    return { sql: `SELECT task, ${state} AS s, COUNT(*) AS n FROM ${t.jobs} WHERE ${scope} GROUP BY task, s`, params };
  }
  const active = `SELECT task, 'active' AS s, COUNT(*) AS n FROM ${t.jobs} WHERE state = 'active' AND ${scope} GROUP BY task`;
  if (d.name === 'sqlite') {
    return {
      sql: `SELECT task, ${state} AS s, COUNT(*) AS n FROM ${t.jobs} WHERE ${scope} AND state <> 'active' GROUP BY task, 2
          UNION ALL
          ${active}`,
      params: [...params, ...params],
    };
  }
  return {
    sql: `SELECT task, ${state} AS s, COUNT(*) AS n FROM ${t.jobs} WHERE ${scope} AND ${CLAIM_INDEX_PREDICATE} GROUP BY task, 2
          UNION ALL
          SELECT task, 'completed' AS s, COUNT(*) AS n FROM ${t.jobs} WHERE ${scope} AND state = 'completed' GROUP BY task
          UNION ALL
          SELECT task, state AS s, COUNT(*) AS n FROM ${t.jobs} WHERE ${scope} AND state IN ('failed', 'cancelled') GROUP BY task, 2
          UNION ALL
          SELECT task, ${state} AS s, COUNT(*) AS n FROM ${t.jobs} WHERE ${scope} AND (${TASK_INDEX_PREDICATE}) GROUP BY task, 2
          UNION ALL
          ${active}`,
    params: [...params, ...params, ...params, ...params, ...params],
  };
}

/** The counts of {@link countsByTaskStmt}'s rows, with every task asked for (all zeros without a row). */
export function countsByTaskOf(tasks: readonly string[], rows: readonly JobRow[]): Record<string, JobCounts> {
  const byTask = new Map(tasks.map((task) => [task, emptyCounts()]));
  for (const row of rows) {
    const counts = byTask.get(String(row.task));
    if (counts) counts[String(row.s) as JobState] += Number(row.n);
  }
  return Object.fromEntries(byTask);
}

/** The counts of {@link countsStmt}'s rows. */
export function countsOf(rows: readonly JobRow[]): JobCounts {
  const counts = emptyCounts();
  for (const row of rows) counts[String(row.s) as JobState] += Number(row.n);
  return counts;
}

function* locked(d: Dialect, t: TableNames, id: string): Op<Record<string, unknown> | undefined> {
  const [row] = yield { sql: `SELECT ${COLUMNS}, token, ${d.nowMs} AS now_ms FROM ${t.jobs} WHERE id = ? ${d.forUpdate}`, params: [id] };
  return row;
}

/**
 * Cancel a job unless it is final; an active job loses its lease (token cleared), so its worker is fenced out. With
 * `notify` (PostgreSQL with LISTEN) the id of an active job is sent on that channel, so the worker holding it aborts
 * it now: NOTIFY inside the transaction is delivered at commit, and never if it rolls back. A cancelled flow child
 * counts as failed for its parent, in the same transaction (queries/flows.ts).
 */
export function* cancelOp(d: Dialect, t: TableNames, id: string, notify: string | null = null): Op<{ job: JobRecord | null } & Released> {
  const row = yield* locked(d, t, id);
  if (!row) return { job: null, woken: [], dueAt: [] };
  if (FINAL_STATES.includes(String(row.state) as JobState)) return { job: toRecord(row), woken: [], dueAt: [] };
  const now = Number(row.now_ms);
  yield {
    sql: `UPDATE ${t.jobs} SET state = 'cancelled', finished_at = ?, ${CLEAR_LEASE} WHERE id = ?`,
    params: [now, id],
  };
  if (notify !== null && row.state === 'active') yield { sql: 'SELECT pg_notify(?, ?)', params: [notify, id] };
  const child = endedChild(row, id, 'cancelled');
  const released = child ? yield* childrenEndedOp(d, t, [child], now) : { woken: [], dueAt: [] };
  return { job: toRecord({ ...row, state: 'cancelled', finished_at: row.now_ms, worker_id: null, lease_expires_at: null }), ...released };
}

/**
 * Jobs cancelled at or after a time (database clock), for the cancel poll of databases without LISTEN. Only jobs
 * that were claimed at some point (`attempt > 0`; a job cancelled in a worker's prefetch buffer has not started) can
 * have a worker to tell. The state list repeats the finished-jobs index's condition so that SQLite uses that partial
 * index; MySQL/MariaDB range-scan its (state, finished_at) prefix.
 */
export function cancelledSinceSql(t: TableNames): string {
  return `SELECT id, finished_at FROM ${t.jobs}
          WHERE state IN ('completed', 'failed', 'cancelled') AND state = 'cancelled' AND finished_at >= ? AND attempt > 0`;
}

/**
 * Run a failed or cancelled job again: attempts and stalls reset to 0, error history kept, ready now. A flow's child
 * whose parent still waits for its children (its other children run on) is waited for again: the parent's count of
 * children not ended goes back up, under the parent's row lock (see queries/flows.ts).
 */
export function* retryOp(d: Dialect, t: TableNames, id: string): Op<JobRecord | null> {
  const row = yield* locked(d, t, id);
  if (!row) return null;
  if (row.state !== 'failed' && row.state !== 'cancelled') return toRecord(row);
  yield {
    sql: `UPDATE ${t.jobs} SET state = 'waiting', attempt = 0, stalls = 0, finished_at = NULL, run_at = ?, ${CLEAR_LEASE} WHERE id = ?`,
    params: [Number(row.now_ms), id],
  };
  if (row.parent_id !== null && row.parent_id !== undefined) {
    const [parent] = yield { sql: `SELECT state FROM ${t.jobs} WHERE id = ? ${d.forUpdate}`, params: [row.parent_id] };
    if (parent?.state === 'waiting-children') yield { sql: `UPDATE ${t.jobs} SET kids = kids + 1 WHERE id = ?`, params: [row.parent_id] };
  }
  return toRecord({ ...row, state: 'waiting', attempt: 0, stalls: 0, finished_at: null, run_at: row.now_ms });
}

/** Run a scheduled job now: waiting, ready at the database's now, attempts and history unchanged. */
export function* promoteOp(d: Dialect, t: TableNames, id: string): Op<JobRecord | null> {
  const row = yield* locked(d, t, id);
  if (!row) return null;
  if (row.state !== 'scheduled') return toRecord(row);
  yield { sql: `UPDATE ${t.jobs} SET state = 'waiting', run_at = ? WHERE id = ?`, params: [Number(row.now_ms), id] };
  return toRecord({ ...row, state: 'waiting', run_at: row.now_ms });
}

/**
 * Delete a job that is not active, and the dedupe key naming it (through the keys' job_id index). In a flow, a child
 * that had not ended leaves its parent's count (the parent runs once the others end, as if this one had completed),
 * and a deleted parent's children stay, their parent link cleared.
 */
export function* removeOp(d: Dialect, t: TableNames, id: string): Op<{ job: JobRecord | null } & Released> {
  const row = yield* locked(d, t, id);
  if (!row) return { job: null, woken: [], dueAt: [] };
  if (row.state === 'active') throw new InvalidJobError(messages.removeActive(id));
  yield { sql: `DELETE FROM ${t.jobs} WHERE id = ?`, params: [id] };
  yield { sql: `DELETE FROM ${t.dedupe} WHERE job_id = ?`, params: [id] };
  if (row.state === 'waiting-children') yield { sql: `UPDATE ${t.jobs} SET parent_id = NULL, on_failure = NULL WHERE parent_id = ?`, params: [id] };
  const child = FINAL_STATES.includes(String(row.state) as JobState) ? null : endedChild(row, id, 'completed');
  const released = child ? yield* childrenEndedOp(d, t, [child], Number(row.now_ms)) : { woken: [], dueAt: [] };
  return { job: toRecord(row), ...released };
}

/**
 * Another priority for a waiting or scheduled job. The claim orders by (priority, run_at, seq), so the job takes its
 * place in the new level by when it became ready; the claim index follows the row.
 */
export function* changePriorityOp(d: Dialect, t: TableNames, id: string, priority: Priority): Op<JobRecord | null> {
  const row = yield* locked(d, t, id);
  if (!row) return null;
  if (row.state !== 'waiting' && row.state !== 'scheduled') return toRecord(row);
  const level = priorityLevel(priority);
  if (Number(row.priority) !== level) yield { sql: `UPDATE ${t.jobs} SET priority = ? WHERE id = ?`, params: [level, id] };
  return toRecord({ ...row, priority: level });
}

/** Store progress and/or append a log line (the newest `update.logLines`, default {@link MAX_LOG_LINES}, kept); false when fenced out. */
export function* progressOp(d: Dialect, t: TableNames, lease: Lease, update: ProgressUpdate): Op<boolean> {
  const [row] = yield { sql: `SELECT state, token, logs FROM ${t.jobs} WHERE id = ? ${d.forUpdate}`, params: [lease.id] };
  if (!row || row.state !== 'active' || row.token !== lease.token) return false;
  const sets: string[] = [];
  const params: unknown[] = [];
  if (update.progress !== undefined) {
    sets.push('progress = ?');
    params.push(update.progress);
  }
  if (update.log !== undefined) {
    const logs = JSON.parse(String(row.logs)) as string[];
    logs.push(update.log);
    const keep = update.logLines ?? MAX_LOG_LINES;
    if (logs.length > keep) logs.splice(0, logs.length - keep);
    sets.push('logs = ?');
    params.push(JSON.stringify(logs));
  }
  if (sets.length) yield { sql: `UPDATE ${t.jobs} SET ${sets.join(', ')} WHERE id = ?`, params: [...params, lease.id] };
  return true;
}
