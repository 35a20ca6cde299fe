import { messages } from '../../../contract/errors.js';
import { DEFAULT_ERROR_HISTORY, type Lease } from '../../../contract/job-storage.js';
import { list, type Dialect, type Op, type Rows } from '../dialect.js';
import { appendBounded, caseSet, chunks, CLEAR_LEASE } from '../rows.js';
import type { TableNames } from '../schema.js';

/** Most rows one promote or recovery round touches: bounded transactions keep locks short. */
export const MAINTENANCE_BATCH = 1000;

/**
 * Move due `scheduled` jobs to `waiting`. Uses the partial index `(run_at) WHERE state = 'scheduled'`
 * (`(state, run_at)` on MySQL, named there: a locking full scan would lock waiting jobs a claim must not skip); SKIP
 * LOCKED so processes running maintenance at once split the work instead of queueing behind each other. Returns the
 * queues that received jobs, one entry per job.
 */
export function* promoteDueOp(d: Dialect, t: TableNames): Op<string[]> {
  const due = yield {
    sql: `SELECT id, queue FROM ${d.useIndex(t.jobs, `${t.jobs}_due`)} WHERE state = 'scheduled' AND run_at <= ${d.nowMs} ORDER BY run_at LIMIT ${MAINTENANCE_BATCH} ${d.skipLocked}`,
    params: [],
  };
  if (due.length === 0) return [];
  const ids = due.map((r) => String(r.id));
  yield { sql: `UPDATE ${t.jobs} SET state = 'waiting' WHERE state = 'scheduled' AND id IN (${list(ids.length)})`, params: ids };
  return due.map((r) => String(r.queue));
}

/**
 * Jobs whose lease ran out go back to `waiting` with their attempt given back: a dead worker costs no attempt. Those
 * whose handler had started (`started_at` set) also count a stall and get a `JobStalledError` entry; the worker that
 * claims them next applies the task's `maxStalls`. Expiry is judged by the database clock on the index
 * `(lease_expires_at) WHERE state = 'active'` (`(state, lease_expires_at)`, named on MySQL as in {@link promoteDueOp}).
 * Returns the queues that received jobs, one entry per recovered job.
 */
export function* recoverExpiredOp(
  d: Dialect,
  t: TableNames,
  errorHistory = DEFAULT_ERROR_HISTORY,
): Op<{ recovered: number; stalled: number; woken: string[] }> {
  const expired = yield {
    sql: `SELECT id, queue, attempt, worker_id, started_at, errors, ${d.nowMs} AS now_ms FROM ${d.useIndex(t.jobs, `${t.jobs}_lease`)}
          WHERE state = 'active' AND lease_expires_at <= ${d.nowMs} ORDER BY lease_expires_at LIMIT ${MAINTENANCE_BATCH} ${d.skipLocked}`,
    params: [],
  };
  if (expired.length === 0) return { recovered: 0, stalled: 0, woken: [] };
  const now = Number(expired[0]!.now_ms);
  const at = new Date(now).toISOString();
  const stalled = new Map<string, string>();
  const unstarted: string[] = [];
  for (const row of expired) {
    if (row.started_at === null || row.started_at === undefined) {
      unstarted.push(String(row.id));
      continue;
    }
    const entry = { attempt: Number(row.attempt), name: 'JobStalledError', message: messages.leaseExpired(String(row.worker_id ?? 'unknown')), at };
    stalled.set(String(row.id), appendBounded(String(row.errors), JSON.stringify(entry), errorHistory));
  }
  const back = `state = 'waiting', attempt = attempt - 1, run_at = ?, ${CLEAR_LEASE}`;
  for (const batch of chunks([...stalled], 200)) {
    const set = caseSet('errors', new Map(batch));
    yield {
      sql: `UPDATE ${t.jobs} SET ${set.sql}, stalls = stalls + 1, ${back} WHERE state = 'active' AND id IN (${list(batch.length)})`,
      params: [...set.params, now, ...batch.map(([id]) => id)],
    };
  }
  for (const batch of chunks(unstarted, 500)) {
    yield { sql: `UPDATE ${t.jobs} SET ${back} WHERE state = 'active' AND id IN (${list(batch.length)})`, params: [now, ...batch] };
  }
  return { recovered: expired.length, stalled: stalled.size, woken: expired.map((r) => String(r.queue)) };
}

/** Record that the handlers of these claimed jobs started (fenced by token: a stale lease changes nothing). */
export function* markStartedOp(d: Dialect, t: TableNames, leases: readonly Lease[]): Op<void> {
  for (const batch of chunks([...leases], 500)) {
    const pairs = batch.map(() => '(id = ? AND token = ?)').join(' OR ');
    yield {
      sql: `UPDATE ${t.jobs} SET started_at = ${d.nowMs} WHERE state = 'active' AND (${pairs})`,
      params: batch.flatMap((l) => [l.id, l.token]),
    };
  }
}

/** Most rows one prune step (one short transaction) deletes. */
export const PRUNE_STEP = 500;

/** The finished states one retention rule covers: `failed` holds cancelled jobs too. */
export type PruneKind = 'completed' | 'failed';

const STATES: Record<PruneKind, string> = {
  completed: `state = 'completed'`,
  failed: `state IN ('failed', 'cancelled')`,
};

/**
 * Which rows of a kind are beyond retention: every row up to a position in `(finished_at, seq)` order. The count and
 * age rules each cut the oldest rows off, so together they cut the longer of the two prefixes.
 */
export type PruneCut = { kind: PruneKind } & ({ before: number } | { upTo: { finishedAt: number; seq: number } });

/**
 * Where each rule cuts, read once per prune call. The count rule looks up the row `maxCount` places from the newest
 * through the kind's index (`(finished_at, seq) WHERE <states>` on PostgreSQL and SQLite, `(state, finished_at, seq)`
 * on MySQL): it reads at most `maxCount` index entries, never the table, and no `COUNT(*)`. Before that walk it reads
 * the span of `seq` over the jobs that are not active (both ends of the listing index or primary key): a table whose
 * span is within `maxCount` cannot hold more finished jobs than that, so the walk, which would read every finished
 * job to find no row, is skipped. Rounds run every tenth of `maxCount` completions, so a store below its limit paid
 * that walk over and over. Null: nothing to delete.
 */
export function* pruneCutOp(d: Dialect, t: TableNames, kind: PruneKind, rule: { maxAgeMs: number; maxCount: number }): Op<PruneCut | null> {
  const byAge = Number.isFinite(rule.maxAgeMs);
  const byCount = Number.isFinite(rule.maxCount);
  if (!byAge && !byCount) return null;
  // PostgreSQL: the walk below must read the index in order. Without statistics (autovacuum off, or a table that
  // grew since its last ANALYZE) the planner guesses a dozen completed jobs and picks a bitmap scan of all of them
  // and a sort: 5.8 ms for 11,000 completed jobs against 1.6 ms for the index walk (docs/benchmark-log.md, issue 17).
  // Sorting off for the rest of this transaction only (it holds nothing but the walk) leaves the walk no other plan.
  const noSort = d.name === 'postgres' && byCount ? `, set_config('enable_sort', 'off', true) AS no_sort` : '';
  const [head] = yield { sql: `SELECT ${d.nowMs} AS now, (${seqSpanSql(d, t)}) AS span, (${oldestSql(d, t, kind)}) AS oldest${noSort}`, params: [] };
  // The age rule cuts only when the oldest finished job of the kind is older than its limit: a round then costs no
  // delete statement when nothing has aged out (which, with a 24 h limit, is most of them).
  const oldest = head?.oldest === null || head?.oldest === undefined ? null : Number(head.oldest);
  const before = byAge && oldest !== null && oldest < Number(head!.now) - rule.maxAgeMs ? Number(head!.now) - rule.maxAgeMs : null;
  const maxCount = Math.max(0, Math.floor(rule.maxCount));
  if (byCount && Number(head?.span ?? 0) > maxCount) {
    const [edge] = yield {
      sql: `SELECT finished_at, seq FROM ${t.jobs} WHERE ${STATES[kind]} ORDER BY finished_at DESC, seq DESC LIMIT 1 OFFSET ${maxCount}`,
      params: [],
    };
    // The count cut reaches at least as far as the age cut: it covers every row the age rule would delete too.
    if (edge && (before === null || Number(edge.finished_at) >= before)) {
      return { kind, upTo: { finishedAt: Number(edge.finished_at), seq: Number(edge.seq) } };
    }
  }
  return before === null ? null : { kind, before };
}

/**
 * The finish time of the oldest job of a kind (NULL when there is none): the first entry of the kind's index. MySQL
 * reads `(state, finished_at, seq)` once per state, as `state IN (..)` there is a range it would scan.
 */
function oldestSql(d: Dialect, t: TableNames, kind: PruneKind): string {
  if (d.name === 'mysql' && kind === 'failed') {
    const one = (state: string) => `SELECT MIN(finished_at) AS m FROM ${t.jobs} WHERE state = '${state}'`;
    return `SELECT MIN(m) FROM (${one('failed')} UNION ALL ${one('cancelled')}) AS oldest`;
  }
  return `SELECT MIN(finished_at) FROM ${t.jobs} WHERE ${STATES[kind]}`;
}

/**
 * An upper bound of the number of finished jobs: `MAX(seq) - MIN(seq) + 1` over the jobs that are not active (NULL
 * when there are none). Two index look-ups: the primary key on MySQL and SQLite, the listing index `(seq) WHERE state
 * <> 'active'` on PostgreSQL.
 */
function seqSpanSql(d: Dialect, t: TableNames): string {
  return `SELECT MAX(seq) - MIN(seq) + 1 FROM ${t.jobs}${d.name === 'postgres' ? ` WHERE state <> 'active'` : ''}`;
}

/**
 * One bounded step: delete up to `limit` of the oldest rows before the cut, in one short transaction, and return how
 * many went. The pick reads the kind's index from its oldest end and stops after `limit` rows; SKIP LOCKED lets
 * processes pruning at once split the rows. The DELETE repeats the state test, so a job retried meanwhile stays.
 */
export function* pruneStepOp(d: Dialect, t: TableNames, cut: PruneCut, limit: number): Op<number> {
  const states = STATES[cut.kind];
  const where =
    'before' in cut
      ? { sql: 'finished_at < ?', params: [cut.before] }
      : // The leading `finished_at <= ?` is a range the index can seek on; the rest settles ties at the cut by seq.
        { sql: 'finished_at <= ? AND (finished_at < ? OR seq <= ?)', params: [cut.upTo.finishedAt, cut.upTo.finishedAt, cut.upTo.seq] };
  const pick = (column: string) => `SELECT ${column} FROM ${t.jobs} WHERE ${states} AND ${where.sql} ORDER BY finished_at, seq LIMIT ${limit}`;
  if (d.name === 'postgres') {
    // The pick must read the index from its oldest end and stop after `limit` rows. Without statistics the planner
    // guesses a few rows before the cut and picks a bitmap scan of all of them and a sort (which, under the row locks,
    // cannot stop early): 11.6 ms for a step of 500 with 11,000 rows before the cut, 2.1 ms in index order. Sorting
    // goes off for this step's transaction only, as in {@link pruneCutOp}: one short statement more per step.
    yield { sql: `SELECT set_config('enable_sort', 'off', true) AS no_sort`, params: [] };
    // One statement: the rows are locked as they are picked, so their ctid holds until the DELETE finds them by it (a
    // TID scan: half the cost of looking each id up again in the primary key), with the dedupe keys naming them. The
    // DELETE's own state test reads `state || ''` so that it matches no partial index: guessing few rows of the kind,
    // the planner would otherwise read them all through the kind's index and test each ctid against the picked ones
    // (18 ms for a step of 500 among 6,000 completed jobs, 1.4 ms by TID).
    // The dedupe keys go in the same statement; while the keys table holds none (apps that dedupe nothing), a one-time
    // test skips looking the step's ids up there: 2.2 to 1.8 ms a step of 500 (docs/benchmark-log.md, 2 December).
    const recheck = STATES[cut.kind].replace(/^state /, `(state || '') `);
    const [row] = yield {
      sql: `WITH gone AS (DELETE FROM ${t.jobs} WHERE ctid = ANY(ARRAY(${pick('ctid')} ${d.skipLocked})) AND ${recheck} RETURNING id), ` +
        `keys AS (DELETE FROM ${t.dedupe} WHERE job_id IN (SELECT id FROM gone) AND EXISTS (SELECT 1 FROM ${t.dedupe})) ` +
        `SELECT count(*)::int AS n FROM gone`,
      params: where.params,
    };
    return Number(row?.n ?? 0);
  }
  let victims: Rows;
  if (d.name === 'mysql' && cut.kind === 'failed') {
    // No partial indexes on MySQL: `state IN (..)` on (state, finished_at, seq) is two ranges, which MySQL would
    // merge with a sort of every row before the cut. Each state's range read in order, then merged, stays at `limit`.
    const one = (state: string) => `(SELECT id, finished_at, seq FROM ${t.jobs} WHERE state = '${state}' AND ${where.sql} ORDER BY finished_at, seq LIMIT ${limit})`;
    victims = yield {
      sql: `SELECT id FROM (${one('failed')} UNION ALL ${one('cancelled')}) AS oldest ORDER BY finished_at, seq LIMIT ${limit}`,
      params: [...where.params, ...where.params],
    };
  } else {
    victims = yield { sql: `${pick('id')} ${d.skipLocked}`, params: where.params };
  }
  if (victims.length === 0) return 0;
  const ids = victims.map((r) => r.id);
  const result = yield { sql: `DELETE FROM ${t.jobs} WHERE ${states} AND id IN (${list(victims.length)})`, params: ids };
  // The dedupe keys naming them go too (through the keys' job_id index).
  yield { sql: `DELETE FROM ${t.dedupe} WHERE job_id IN (${list(ids.length)})`, params: ids };
  return result.affected ?? victims.length;
}
