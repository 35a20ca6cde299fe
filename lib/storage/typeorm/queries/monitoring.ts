import { InvalidJobError, messages } from '../../../contract/errors.js';
import { PRIORITIES } from '../../../contract/job.js';
import {
  METRIC_RESOLUTION_MS,
  type ErrorPattern,
  type ErrorPatternBounds,
  type ErrorPatternFilter,
  type ErrorPatternHit,
  type MetricPoint,
  type MetricQuery,
  type MetricResolution,
  type StoredWorker,
} from '../../../contract/monitoring.js';
import { insertRows, type Dialect, type Op, type Stmt } from '../dialect.js';
import { chunks, cmp, type JobRow } from '../rows.js';
import type { TableNames } from '../schema.js';

/**
 * The monitoring records (worker registry, error patterns, metric points, oldest waiting job). Times come from the
 * database clock, like the jobs'. None of these statements is on a worker's hot path: an instance saves itself and
 * flushes its patterns and points every few seconds.
 */

/** Insert or replace a worker, seen now. */
export function saveWorkerStmt(d: Dialect, t: TableNames, id: string, data: string): Stmt {
  return {
    sql: `INSERT INTO ${t.workers} (id, data, last_seen_at) VALUES (?, ?, ${d.nowMs}) ${d.onConflict(t.workers, 'id', ['data', 'last_seen_at'])}`,
    params: [id, data],
  };
}

/** Every worker, with the database's now to age them by. */
export function listWorkersSql(d: Dialect, t: TableNames): string {
  return `SELECT id, data, last_seen_at, ${d.nowMs} AS now_ms FROM ${t.workers}`;
}

/** A row of {@link listWorkersSql} as a stored worker. */
export function toWorker(row: JobRow): StoredWorker {
  const lastSeen = Number(row.last_seen_at);
  return { id: String(row.id), data: String(row.data), lastSeenAt: new Date(lastSeen), ageMs: Math.max(0, Number(row.now_ms) - lastSeen) };
}

/** Delete the rows of `table` (workers or error patterns) not seen for more than `olderThanMs`, through its `(last_seen_at)` index. */
export function pruneSeenStmt(d: Dialect, table: string, olderThanMs: number): Stmt {
  return { sql: `DELETE FROM ${table} WHERE last_seen_at < ${d.nowMs} - ?`, params: [Math.round(olderThanMs)] };
}

/** `value` when it is a whole number >= `min` (it is spliced into SQL), or an InvalidJobError naming it. */
function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new InvalidJobError(messages.invalidOption(name, value, `a whole number >= ${min}`));
  return value;
}

const PATTERN_COLUMNS = ['task', 'fingerprint', 'queue', 'name', 'pattern', 'frame', 'count', 'first_seen_at', 'last_seen_at', 'samples'] as const;

/** Rows per statement: 10 parameters each, well within every database's limit. */
const PATTERN_CHUNK = 200;

/**
 * Merge error pattern hits, in one transaction:
 * 1. Insert the keys not stored yet, at count 0 (the unique key decides, so two instances that see a new pattern at
 *    once make one row).
 * 2. Lock every key of the batch (sorted, so two flushes lock in the same order and cannot deadlock) and read the
 *    samples: the merge of step 3 then starts from what is stored, never from a concurrent flush's stale read.
 * 3. One upsert adding the counts and writing the bounded samples, the texts and `last_seen_at`.
 * 4. Per task touched, drop the patterns beyond `maxPerTask`, seen longest ago first: the newest `maxPerTask` rows of
 *    the task are skipped through the `(task, last_seen_at, fingerprint)` index, and the rest deleted.
 */
export function* recordErrorPatternsOp(d: Dialect, t: TableNames, hits: readonly ErrorPatternHit[], bounds: ErrorPatternBounds): Op<void> {
  if (hits.length === 0) return;
  const sorted = [...hits].sort((a, b) => cmp(a.task, b.task) || cmp(a.fingerprint, b.fingerprint));
  const [clock] = yield { sql: `SELECT ${d.nowMs} AS now`, params: [] };
  const now = Number(clock!.now);
  const keep = wholeNumber('samples', bounds.samples, 0);
  const max = wholeNumber('maxPerTask', bounds.maxPerTask, 1);
  const values = (h: ErrorPatternHit, count: number, samples: string) => [h.task, h.fingerprint, h.queue, h.name, h.pattern, h.frame, count, now, now, samples];
  for (const batch of chunks(sorted, PATTERN_CHUNK)) {
    yield { sql: d.insertIgnore(t.errorPatterns, PATTERN_COLUMNS, batch.length, 'task, fingerprint'), params: batch.flatMap((h) => values(h, 0, '[]')) };
    const stored = yield {
      sql: `SELECT task, fingerprint, samples FROM ${t.errorPatterns} WHERE (task, fingerprint) IN (${batch.map(() => '(?, ?)').join(', ')}) ${d.forUpdate}`,
      params: batch.flatMap((h) => [h.task, h.fingerprint]),
    };
    const samples = new Map(stored.map((r) => [JSON.stringify([r.task, r.fingerprint]), JSON.parse(String(r.samples)) as string[]]));
    const merged = (h: ErrorPatternHit) => {
      const all = [...(samples.get(JSON.stringify([h.task, h.fingerprint])) ?? []), ...h.jobIds];
      return JSON.stringify(all.slice(all.length - keep));
    };
    yield {
      sql: `${insertRows(t.errorPatterns, PATTERN_COLUMNS, batch.length)} ` +
        d.onConflict(t.errorPatterns, 'task, fingerprint', ['queue', 'name', 'pattern', 'frame', 'last_seen_at', 'samples'], ['count']),
      params: batch.flatMap((h) => values(h, h.count, merged(h))),
    };
  }
  for (const task of new Set(sorted.map((h) => h.task))) {
    const [cut] = yield {
      sql: `SELECT last_seen_at, fingerprint FROM ${t.errorPatterns} WHERE task = ? ORDER BY last_seen_at DESC, fingerprint DESC LIMIT 1 OFFSET ${max}`,
      params: [task],
    };
    if (!cut) continue;
    yield {
      sql: `DELETE FROM ${t.errorPatterns} WHERE task = ? AND (last_seen_at < ? OR (last_seen_at = ? AND fingerprint <= ?))`,
      params: [task, cut.last_seen_at, cut.last_seen_at, cut.fingerprint],
    };
  }
}

/** Stored patterns, most recently seen first: one task's through `(task, last_seen_at, …)`, all through `(last_seen_at)`. */
export function listErrorPatternsStmt(t: TableNames, filter: ErrorPatternFilter): Stmt {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of [['task', filter.task], ['queue', filter.queue]] as const) {
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  const limit = wholeNumber('limit', filter.limit ?? 100, 1);
  return {
    sql: `SELECT ${PATTERN_COLUMNS.join(', ')} FROM ${t.errorPatterns} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
      `ORDER BY last_seen_at DESC, fingerprint DESC LIMIT ${limit}`,
    params,
  };
}

/** A row of {@link listErrorPatternsStmt} as an error pattern. */
export function toErrorPattern(row: JobRow): ErrorPattern {
  return {
    fingerprint: String(row.fingerprint),
    task: String(row.task),
    queue: String(row.queue),
    name: String(row.name),
    pattern: String(row.pattern),
    frame: row.frame === null || row.frame === undefined ? null : String(row.frame),
    count: Number(row.count),
    firstSeenAt: new Date(Number(row.first_seen_at)),
    lastSeenAt: new Date(Number(row.last_seen_at)),
    sampleJobIds: JSON.parse(String(row.samples)) as string[],
  };
}

const METRIC_COLUMNS = ['resolution', 'bucket', 'queue', 'task', 'name', 'slot', 'value'] as const;
const METRIC_KEY = 'resolution, bucket, queue, task, name, slot';

/** Points per statement: 7 parameters each, within SQLite's and PostgreSQL's parameter limits. */
export const METRIC_CHUNK = 1000;

/**
 * Add points to the stored counters: one multi-row upsert per {@link METRIC_CHUNK} points that adds each value to the
 * stored one (`value = value + excluded value`), so concurrent writers add up exactly. Points are sorted by key:
 * writers lock shared rows in the same order.
 */
export function* addMetricsOp(d: Dialect, t: TableNames, points: readonly MetricPoint[]): Op<void> {
  const sorted = [...points].sort((a, b) => cmp(a.resolution, b.resolution) || a.bucket - b.bucket || cmp(a.queue, b.queue) || cmp(a.task, b.task) || cmp(a.name, b.name) || a.slot - b.slot);
  for (const batch of chunks(sorted, METRIC_CHUNK)) {
    yield {
      sql: `${insertRows(t.metrics, METRIC_COLUMNS, batch.length)} ${d.onConflict(t.metrics, METRIC_KEY, [], ['value'])}`,
      params: batch.flatMap((p) => [p.resolution, p.bucket, p.queue, p.task, p.name, p.slot, p.value]),
    };
  }
}

/** Points of one resolution whose bucket starts in [from, to), through the primary key `(resolution, bucket, …)`. */
export function readMetricsStmt(t: TableNames, query: MetricQuery): Stmt {
  let sql = `SELECT ${METRIC_COLUMNS.join(', ')} FROM ${t.metrics} WHERE resolution = ? AND bucket >= ? AND bucket < ?`;
  const params: unknown[] = [query.resolution, query.from, query.to];
  for (const [column, value] of [['queue', query.queue], ['task', query.task]] as const) {
    if (value === undefined) continue;
    sql += ` AND ${column} = ?`;
    params.push(value);
  }
  return { sql: `${sql} ORDER BY bucket`, params };
}

/** A row of {@link readMetricsStmt} as a point. */
export function toMetricPoint(row: JobRow): MetricPoint {
  return {
    resolution: String(row.resolution) as MetricResolution,
    bucket: Number(row.bucket),
    queue: String(row.queue),
    task: String(row.task),
    name: String(row.name),
    slot: Number(row.slot),
    value: Number(row.value),
  };
}

/** One delete per resolution of the buckets before its cut, each a range of the primary key. */
export function pruneMetricsStmts(t: TableNames, before: Readonly<Record<MetricResolution, number>>): Stmt[] {
  return (Object.keys(METRIC_RESOLUTION_MS) as MetricResolution[]).map((resolution) => ({
    sql: `DELETE FROM ${t.metrics} WHERE resolution = ? AND bucket < ?`,
    params: [resolution, before[resolution]],
  }));
}

/**
 * When the longest-waiting ready job of each queue became ready. The claim index holds each queue's ready jobs by
 * priority and then `run_at`, so the oldest of one priority is its first entry: one index probe per queue and
 * priority (`ORDER BY run_at LIMIT 1`), and the smallest of a queue's four is its answer. PostgreSQL and SQLite
 * count due `scheduled` jobs too (their partial index holds both states, in `run_at` order); MySQL's index puts
 * `state` before `priority`, so it probes `waiting` only (due jobs turn `waiting` at the next promotion or claim).
 * The claim index holds jobs in no group only (migration 1765050000000): grouped ones are probed in their own index.
 */
export function oldestWaitingStmt(d: Dialect, t: TableNames, queues: readonly string[]): Stmt {
  const ready = d.name === 'mysql' ? `plain_state = 'waiting'` : `state IN ('waiting', 'scheduled') AND run_at <= ${d.nowMs} AND group_name IS NULL`;
  const probes: string[] = [];
  const params: unknown[] = [];
  const probe = (where: string, queue: string) => {
    probes.push(`SELECT queue, run_at FROM (SELECT queue, run_at FROM ${t.jobs} WHERE queue = ? AND ${where} ORDER BY run_at LIMIT 1) AS p${probes.length}`);
    params.push(queue);
  };
  for (const queue of queues) {
    for (let level = 0; level < PRIORITIES.length; level++) probe(`priority = ${level} AND ${ready}`, queue);
    // Grouped jobs: PostgreSQL and SQLite read their own partial index in run_at order; MySQL reads its group index
    // (by group, then priority: the grouped waiting jobs of the queue are read, only when there are any).
    if (d.name === 'mysql') probe(`group_state = 'waiting'`, queue);
    else {
      probe(`group_name IS NOT NULL AND state = 'waiting'`, queue);
      probe(`group_name IS NOT NULL AND state = 'scheduled' AND run_at <= ${d.nowMs}`, queue);
    }
  }
  return { sql: probes.join(' UNION ALL '), params };
}

/** The answer of {@link oldestWaitingStmt}'s rows: every queue asked, null when it has no ready job. */
export function oldestOf(queues: readonly string[], rows: readonly JobRow[]): Record<string, Date | null> {
  const oldest = new Map<string, number>();
  for (const row of rows) {
    const queue = String(row.queue);
    oldest.set(queue, Math.min(Number(row.run_at), oldest.get(queue) ?? Infinity));
  }
  return Object.fromEntries(queues.map((queue) => {
    const at = oldest.get(queue);
    return [queue, at === undefined ? null : new Date(at)];
  }));
}
