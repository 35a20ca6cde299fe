import { messages } from '../../../core/errors.js';
import { DEFAULT_ERROR_HISTORY, type Lease, type RetentionPolicy } from '../../job-storage.js';
import { list, type Dialect, type Op } from '../dialect.js';
import { appendBounded, caseSet, chunks } from '../rows.js';
import type { TableNames } from '../schema.js';

/** Most rows one promote or recovery round touches: bounded transactions keep locks short. */
export const MAINTENANCE_BATCH = 1000;

/**
 * Move due `scheduled` jobs to `waiting`. Uses the partial index `(run_at) WHERE state = 'scheduled'`
 * (`(state, run_at)` on MySQL); SKIP LOCKED so processes running maintenance at once split the work instead of
 * queueing behind each other. Returns the queues that received jobs, one entry per job.
 */
export function* promoteDueOp(d: Dialect, t: TableNames): Op<string[]> {
  const due = yield {
    sql: `SELECT id, queue FROM ${t.jobs} WHERE state = 'scheduled' AND run_at <= ${d.nowMs} ORDER BY run_at LIMIT ${MAINTENANCE_BATCH} ${d.skipLocked}`,
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
 * `(lease_expires_at) WHERE state = 'active'`. Returns the queues that received jobs, one entry per recovered job.
 */
export function* recoverExpiredOp(
  d: Dialect,
  t: TableNames,
  errorHistory = DEFAULT_ERROR_HISTORY,
): Op<{ recovered: number; stalled: number; woken: string[] }> {
  const expired = yield {
    sql: `SELECT id, queue, attempt, worker_id, started_at, errors, ${d.nowMs} AS now_ms FROM ${t.jobs}
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
  const back = `state = 'waiting', attempt = attempt - 1, run_at = ?, token = NULL, worker_id = NULL, lease_expires_at = NULL`;
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

/**
 * Delete finished jobs beyond retention, oldest first, at most `limit` rows: completed jobs by the `completed`
 * rule, failed and cancelled jobs together by the `failed` rule. Counts and picks use the index
 * `(state, finished_at, seq)` where there is one (PostgreSQL scans: see schema.ts); the DELETE repeats the state test so a job retried meanwhile is never removed.
 */
export function* pruneOp(d: Dialect, t: TableNames, policy: RetentionPolicy, limit: number): Op<number> {
  const [clock] = yield { sql: `SELECT ${d.nowMs} AS now`, params: [] };
  const now = Number(clock!.now);
  let removed = 0;
  for (const [rule, states] of [[policy.completed, ['completed']], [policy.failed, ['failed', 'cancelled']]] as const) {
    if (removed >= limit) break;
    const inStates = `state IN (${states.map((s) => `'${s}'`).join(', ')})`;
    const [total] = yield { sql: `SELECT COUNT(*) AS n FROM ${t.jobs} WHERE ${inStates}`, params: [] };
    const excess = Number.isFinite(rule.maxCount) ? Math.max(0, Number(total!.n) - rule.maxCount) : 0;
    let old = 0;
    if (Number.isFinite(rule.maxAgeMs)) {
      const [aged] = yield { sql: `SELECT COUNT(*) AS n FROM ${t.jobs} WHERE ${inStates} AND finished_at < ?`, params: [now - rule.maxAgeMs] };
      old = Number(aged!.n);
    }
    const take = Math.min(limit - removed, Math.max(excess, old));
    if (take <= 0) continue;
    const victims = yield { sql: `SELECT id FROM ${t.jobs} WHERE ${inStates} ORDER BY finished_at, seq LIMIT ${take}`, params: [] };
    for (const batch of chunks(victims.map((r) => r.id), 500)) {
      const result = yield { sql: `DELETE FROM ${t.jobs} WHERE ${inStates} AND id IN (${list(batch.length)})`, params: batch };
      removed += result.affected ?? batch.length;
    }
  }
  return removed;
}
