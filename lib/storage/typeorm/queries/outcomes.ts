import { DEFAULT_ERROR_HISTORY, type CompleteOutcome, type FailOutcome, type Lease, type ReleasedLease } from '../../../contract/job-storage.js';
import { list, type Dialect, type Op } from '../dialect.js';
import { appendBounded, bigint, caseSet, chunks, CLEAR_LEASE, END_LEASE, type JobRow } from '../rows.js';
import type { TableNames } from '../schema.js';
import { CHILD_COLUMNS, childrenEndedOp, endedChild, type EndedChild, type Released } from './flows.js';

/**
 * Worker writes on MySQL/MariaDB and SQLite (PostgreSQL: complete/fail/heartbeat.postgres.ts): complete, fail, heartbeat and
 * release, each for a whole batch in one transaction.
 *
 * Why this shape: the rows are read with a row lock first (`FOR UPDATE`; SQLite's write transaction is already
 * exclusive), so the fencing decision — state `active` and the claim's token — and the write cannot be separated
 * by another claimer; MariaDB has no UPDATE ... RETURNING to learn which rows matched otherwise. The writes then
 * touch only the accepted ids, with per-row values in `CASE id WHEN …` so a batch is one statement.
 */
function* owned(d: Dialect, t: TableNames, leases: readonly Lease[], columns: string): Op<{ accepted: boolean[]; rows: Map<string, JobRow>; now: number }> {
  const rows = new Map<string, JobRow>();
  let now = 0;
  for (const batch of chunks([...new Set(leases.map((l) => l.id))], 500)) {
    const found = yield {
      sql: `SELECT id, token, state, ${d.nowMs} AS now_ms, ${columns} FROM ${t.jobs} WHERE id IN (${list(batch.length)}) ${d.forUpdate}`,
      params: batch,
    };
    for (const row of found) {
      rows.set(String(row.id), row);
      now = Number(row.now_ms);
    }
  }
  const taken = new Set<string>();
  // A lease listed twice is accepted once, as a second write after the first would be fenced out.
  const accepted = leases.map((lease) => {
    const row = rows.get(lease.id);
    const ok = !!row && row.state === 'active' && row.token === lease.token && !taken.has(lease.id);
    if (ok) taken.add(lease.id);
    return ok;
  });
  return { accepted, rows, now };
}

/**
 * Record successful attempts; outcomes with `remove` delete their job instead (never a flow's child: its parent
 * reads its result). A flow's child that completes moves its parent in the same transaction (queries/flows.ts).
 */
export function* completeOp(d: Dialect, t: TableNames, outcomes: readonly CompleteOutcome[]): Op<{ accepted: boolean[] } & Released> {
  const { accepted, rows, now } = yield* owned(d, t, outcomes, `queue, ${CHILD_COLUMNS}`);
  const results = new Map<string, unknown>();
  const removed: string[] = [];
  const ended: EndedChild[] = [];
  outcomes.forEach((o, i) => {
    if (!accepted[i]) return;
    const child = endedChild(rows.get(o.id), o.id, 'completed');
    if (child) ended.push(child);
    if (o.remove && !child) removed.push(o.id);
    else results.set(o.id, o.result);
  });
  for (const batch of chunks(removed, 500)) yield { sql: `DELETE FROM ${t.jobs} WHERE id IN (${list(batch.length)})`, params: batch };
  for (const batch of chunks([...results], 200)) {
    const set = caseSet('result', new Map(batch));
    yield {
      // A short handler can finish before its start mark lands: then its finish time stands in for its start.
      sql: `UPDATE ${t.jobs} SET state = 'completed', ${set.sql}, finished_at = ?, started_at = COALESCE(started_at, ?), ${END_LEASE}
            WHERE id IN (${list(batch.length)})`,
      params: [...set.params, now, now, ...batch.map(([id]) => id)],
    };
  }
  const released = ended.length ? yield* childrenEndedOp(d, t, ended, now) : NONE;
  return { accepted, ...released };
}

const NONE: Released = { woken: [], dueAt: [] };

/** Record failed attempts; returns the acceptance flags and the queues that have a job ready again. */
export function* failOp(d: Dialect, t: TableNames, outcomes: readonly FailOutcome[]): Op<{ accepted: boolean[]; woken: string[]; dueAt: number[] }> {
  const { accepted, rows, now } = yield* owned(d, t, outcomes, `queue, errors, ${CHILD_COLUMNS}`);
  const errors = new Map<string, string>();
  const state = new Map<string, string>();
  const runAt = new Map<string, number>();
  const failed: string[] = [];
  const woken = new Set<string>();
  const dueAt: number[] = [];
  outcomes.forEach((o, i) => {
    if (!accepted[i]) return;
    const row = rows.get(o.id)!;
    errors.set(o.id, appendBounded(String(row.errors), JSON.stringify(o.error), o.errorHistory ?? DEFAULT_ERROR_HISTORY));
    if (o.retryDelayMs === null) return void failed.push(o.id);
    // A retry is not an end: a flow's parent keeps waiting.
    const due = now + Math.max(0, Math.round(o.retryDelayMs));
    state.set(o.id, due > now ? 'scheduled' : 'waiting');
    runAt.set(o.id, due);
    if (due > now) dueAt.push(due);
    else woken.add(String(row.queue));
  });
  for (const batch of chunks(failed, 200)) {
    const set = caseSet('errors', new Map(batch.map((id) => [id, errors.get(id)])));
    yield {
      sql: `UPDATE ${t.jobs} SET state = 'failed', ${set.sql}, finished_at = ?, ${CLEAR_LEASE} WHERE id IN (${list(batch.length)})`,
      params: [...set.params, now, ...batch],
    };
  }
  const ended = failed.map((id) => endedChild(rows.get(id), id, 'failed')).filter((c) => c !== null);
  if (ended.length) {
    const released = yield* childrenEndedOp(d, t, ended, now);
    released.woken.forEach((q) => woken.add(q));
    dueAt.push(...released.dueAt);
  }
  for (const batch of chunks([...state.keys()], 200)) {
    const e = caseSet('errors', new Map(batch.map((id) => [id, errors.get(id)])));
    const s = caseSet('state', new Map(batch.map((id) => [id, state.get(id)])));
    const r = caseSet('run_at', new Map(batch.map((id) => [id, runAt.get(id)])), (x) => bigint(d, x));
    yield {
      sql: `UPDATE ${t.jobs} SET ${e.sql}, ${s.sql}, ${r.sql}, ${CLEAR_LEASE} WHERE id IN (${list(batch.length)})`,
      params: [...e.params, ...s.params, ...r.params, ...batch],
    };
  }
  return { accepted, woken: [...woken], dueAt };
}

/** Extend leases; returns the ids whose lease is no longer held. */
export function* heartbeatOp(d: Dialect, t: TableNames, leases: readonly Lease[], leaseMs: number): Op<string[]> {
  const { accepted } = yield* owned(d, t, leases, 'queue');
  const keep = [...new Set(leases.filter((_, i) => accepted[i]).map((l) => l.id))];
  for (const batch of chunks(keep, 500)) {
    yield { sql: `UPDATE ${t.jobs} SET lease_expires_at = ${d.nowMs} + ? WHERE id IN (${list(batch.length)})`, params: [Math.round(leaseMs), ...batch] };
  }
  const held = new Set(keep);
  return [...new Set(leases.map((l) => l.id).filter((id) => !held.has(id)))];
}

/** Hand claimed jobs back without counting the attempt; returns the queues to wake. */
export function* releaseOp(d: Dialect, t: TableNames, leases: readonly ReleasedLease[]): Op<string[]> {
  const { accepted, rows } = yield* owned(d, t, leases, 'queue');
  const now = leases.filter((l, i) => accepted[i] && !l.delayMs);
  const ids = [...new Set(now.map((l) => l.id))];
  for (const batch of chunks(ids, 500)) {
    yield {
      sql: `UPDATE ${t.jobs} SET state = 'waiting', attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END, run_at = ${d.nowMs}, ${CLEAR_LEASE} WHERE id IN (${list(batch.length)})`,
      params: [...batch],
    };
  }
  // Handed back with a delay (a rate limit the handler hit): scheduled, due after it.
  for (const lease of leases.filter((l, i) => accepted[i] && l.delayMs)) {
    yield {
      sql: `UPDATE ${t.jobs} SET state = 'scheduled', attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END, run_at = ${d.nowMs} + ?, ${CLEAR_LEASE} WHERE id = ?`,
      params: [Math.round(lease.delayMs!), lease.id],
    };
  }
  return [...new Set(ids.map((id) => String(rows.get(id)!.queue)))];
}
