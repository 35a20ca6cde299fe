import type { ClaimedJob } from '../../../contract/job.js';
import { priorityLevel } from '../../../contract/job.js';
import { narrowClaim, type ClaimReply, type ClaimRequest } from '../../../contract/job-storage.js';
import { list, type Dialect, type Op } from '../dialect.js';
import { bigint, textBytes, toRecord } from '../rows.js';
import { JOB_COLUMNS, type TableNames } from '../schema.js';
import { flowRoomOp, logRatesOp, pausedOfQueueSql } from './flow.js';
import { CHILD_MARK_SQL } from './flows.js';
import { groupedSql, groupPickOp } from './groups.js';

/** Order key of a claim: priority level, lowered by one for jobs ready longer than `agingMs`. */
export function rankSql(agingMs: number | undefined, nowParam: string): string {
  return agingMs ? `CASE WHEN priority > 0 AND run_at <= ${nowParam} - ${Math.floor(agingMs)} THEN priority - 1 ELSE priority END` : 'priority';
}

/**
 * The general claim (MySQL/MariaDB, SQLite, and PostgreSQL when `taskLimits` are set), in one transaction:
 *
 * 0. A paused queue returns nothing; paused tasks are excluded like tasks whose cap is 0. Flow limits (cluster-wide
 *    concurrency, rates) lock their scopes' flow rows and narrow the claim to the room they leave; what the claim
 *    takes is logged against the rates at the end.
 * 1. On MySQL, due `scheduled` jobs of the queue become `waiting` first: without partial indexes the claim index
 *    starts `(queue, state, …)`, and a single state keeps the read in index order (a filesort under
 *    `FOR UPDATE SKIP LOCKED` would lock every candidate). SQLite and PostgreSQL take due scheduled jobs directly.
 * 2. Candidates in claim order (priority with aging, then ready time, then insertion), skipping rows other claimers
 *    hold, excluding tasks whose cap is 0.
 * 3. Only candidates within the per-task caps are accepted and updated; a task that reaches its cap is excluded and
 *    step 2 repeats for the rest, at most once per capped task, so the claim never returns work the worker cannot start.
 *
 * Rejected candidates stay untouched (their row locks end with the transaction).
 */
export function* claimOp(d: Dialect, t: TableNames, req: ClaimRequest, token: string, replay = false): Op<ClaimReply> {
  if (replay) {
    // This transaction runs again after the connection died: if the first run committed, hand its jobs out again.
    const mine = yield { sql: claimedBySql(t, '?', '?'), params: tokenRange(token) };
    if (mine.length) return claimedRows(mine);
  }
  // Paused (see queries/flow.ts): nothing of a paused queue, and a paused task as if its cap were 0.
  const paused = (yield { sql: pausedOfQueueSql(t), params: [req.queue] }).map((r) => String(r.task));
  if (paused.includes('')) return [];
  // The clock, and whether grouped jobs wait (then lanes take turns: queries/groups.ts), in one read.
  const [clock] = yield { sql: `SELECT ${d.nowMs} AS now, ${groupedSql(d, t)} AS grouped`, params: [req.queue, req.queue] };
  let now = Number(clock!.now);
  const grouped = Number(clock!.grouped) === 1;
  // Cluster-wide limits narrow the claim to the room they leave (see queries/flow.ts). Their clock is read once the
  // scopes are locked, so the time this claim logs against a rate is never earlier than its jobs' start.
  const flow = req.flow;
  let heldMs: number | undefined;
  if (flow) {
    const room = yield* flowRoomOp(d, t, req.queue, flow);
    now = room.now;
    heldMs = room.heldMs;
    req = narrowClaim(req, room.queue, room.tasks);
  }
  const reply = (jobs: ClaimedJob[]): ClaimReply => (heldMs === undefined ? jobs : Object.assign(jobs, { heldMs }));
  if (req.limit <= 0) return reply([]);
  const inline = d.name !== 'mysql';
  if (!inline) {
    yield { sql: `UPDATE ${t.jobs} SET state = 'waiting' WHERE state = 'scheduled' AND run_at <= ? AND queue = ?`, params: [now, req.queue] };
  }
  const caps = req.taskLimits ? new Map(Object.entries(req.taskLimits)) : new Map<string, number>();
  const excluded = new Set([...[...caps].filter(([, cap]) => cap <= 0).map(([task]) => task), ...paused]);
  const levels = req.priorities ? req.priorities.map(priorityLevel) : null;
  // Typed: PostgreSQL would read an untyped `? - n` as an integer, too small for a time in ms.
  const rank = rankSql(req.agingMs, bigint(d, '?'));
  // MySQL with aging orders by an expression (a filesort): pick candidates without locks, then lock just those.
  const twoPhase = d.name === 'mysql' && !!req.agingMs;
  const claimed: string[] = [];
  const order = new Map<string, number>();
  let took = new Map<string, number>();
  if (grouped) {
    // The jobs in no group are one lane among the groups: the same candidates as below, their share of the claim.
    const params: unknown[] = [...(req.agingMs ? [now] : []), req.queue, ...(inline ? [now] : []), ...(levels ?? []), ...excluded];
    const select = `SELECT id, task, ${rank} AS rnk FROM ${t.jobs} WHERE ${plainWhere(inline, levels, excluded)} ORDER BY rnk, run_at, seq`;
    const pick = yield* groupPickOp(d, t, req, flow, now, excluded, caps, { select, params });
    took = pick.took;
    pick.ids.forEach((id, i) => order.set(id, i));
    if (pick.ids.length) {
      yield activateStmt(d, t, req, token, now, pick.ids, pick.ids.slice(0, Math.max(0, req.startNow ?? 0)));
      claimed.push(...pick.ids);
    }
  }
  while (!grouped && claimed.length < req.limit) {
    const need = req.limit - claimed.length;
    const rankParams = req.agingMs ? [now] : [];
    const params: unknown[] = [...rankParams, req.queue, ...(inline ? [now] : []), ...(levels ?? []), ...excluded];
    const where = plainWhere(inline, levels, excluded);
    // Through the claim index on MySQL, always: in index order the read stops at LIMIT and SKIP LOCKED locks only the
    // rows it returns. MariaDB's optimizer scans the whole table and sorts once most of a small table is waiting; that
    // locks every row read, and a concurrent locking read of any other statement passing over a waiting job made this
    // claim skip it, so it ran after every job behind it (test/integration/priority.spec.ts, mariadb-plans.spec.ts).
    const select = `SELECT id, task, ${rank} AS rnk FROM ${d.useIndex(t.jobs, `${t.jobs}_claim`)} WHERE ${where} ORDER BY rnk, run_at, seq LIMIT ${need}`;
    let candidates;
    if (twoPhase) {
      const ids = (yield { sql: select, params }).map((r) => String(r.id));
      if (ids.length === 0) break;
      candidates = yield {
        sql: `SELECT id, task, ${rank} AS rnk FROM ${d.useIndex(t.jobs, `${t.jobs}_id`)} WHERE id IN (${list(ids.length)}) AND state = 'waiting' ORDER BY rnk, run_at, seq ${d.skipLocked}`,
        params: [...rankParams, ...ids],
      };
    } else {
      candidates = yield { sql: `${select} ${d.skipLocked}`, params };
    }
    if (candidates.length === 0) break;
    const accepted: string[] = [];
    let rejected = false;
    for (const row of candidates) {
      const task = String(row.task);
      const cap = caps.get(task);
      if (cap !== undefined) {
        if (cap <= 0) {
          rejected = true;
          excluded.add(task);
          continue;
        }
        caps.set(task, cap - 1);
        if (cap - 1 === 0) excluded.add(task);
      }
      const id = String(row.id);
      order.set(id, order.size);
      accepted.push(id);
      took.set(task, (took.get(task) ?? 0) + 1);
    }
    if (accepted.length) {
      // The first `startNow` jobs in claim order start at once; the rest wait in the worker's buffer, not started.
      yield activateStmt(d, t, req, token, now, accepted, accepted.slice(0, Math.max(0, (req.startNow ?? 0) - claimed.length)));
      claimed.push(...accepted);
    }
    // Fewer rows than asked: the database has nothing more to offer. Otherwise only a rejection (a task reached its
    // cap, and is now excluded) is a reason to look again.
    if (candidates.length < need || !rejected) break;
  }
  if (claimed.length === 0) return reply([]);
  if (flow) yield* logRatesOp(t, req.queue, flow, took, now);
  const rows = yield { sql: `SELECT ${JOB_COLUMNS.join(', ')}, token FROM ${t.jobs} WHERE id IN (${list(claimed.length)})`, params: claimed };
  return reply(rows
    .map((row) => ({ job: toRecord(row), token: String(row.token), payloadBytes: textBytes(row.payload) }))
    .sort((a, b) => order.get(a.job.id)! - order.get(b.job.id)!));
}

/**
 * Where a claim's candidates in no group are: the queue's claimable jobs (on MySQL `waiting` only: due jobs were
 * promoted first), of the priorities asked, not of excluded tasks. Parameters: queue, [now], [levels], [excluded].
 * Grouped jobs are never among them (they are claimed by lanes: queries/groups.ts); on an index read of jobs in no
 * group the term filters nothing.
 */
function plainWhere(inline: boolean, levels: number[] | null, excluded: ReadonlySet<string>): string {
  // MySQL: `plain_state`, the state of a job in no group, leads its claim index (migration 1765050000000).
  let where = `queue = ?`;
  where += inline ? ` AND state IN ('waiting', 'scheduled') AND (state = 'waiting' OR run_at <= ?) AND group_name IS NULL` : ` AND plain_state = 'waiting'`;
  if (levels) where += ` AND priority IN (${list(levels.length)})`;
  if (excluded.size) where += ` AND task NOT IN (${list(excluded.size)})`;
  return where;
}

/**
 * Activate claimed jobs: the first `startIds` in claim order start at once, at the claim's clock `now` (under a rate
 * limit, the instant the claim is counted at); the rest wait in the worker's buffer, not started. One token per job
 * (claim token + row seq, then a flow child's mark): fencing is per job, and no two claims share one. The lease starts
 * when the rows change, not when the transaction began: a slow claim does not shorten it.
 */
function activateStmt(d: Dialect, t: TableNames, req: ClaimRequest, token: string, now: number, ids: readonly string[], startIds: readonly string[]) {
  const started = startIds.length ? `CASE WHEN id IN (${list(startIds.length)}) THEN ${now} ELSE NULL END` : 'NULL';
  return {
    sql: `UPDATE ${t.jobs} SET state = 'active', attempt = attempt + 1, started_at = ${started}, worker_id = ?,
          lease_expires_at = ${d.nowMs} + ?,
          token = ${d.name === 'mysql' ? `CONCAT(?, '.', seq, ${CHILD_MARK_SQL()})` : `? || '.' || CAST(seq AS TEXT) || ${CHILD_MARK_SQL()}`} WHERE id IN (${list(ids.length)})`,
    params: [...startIds, req.workerId, Math.round(req.leaseMs), token, ...ids],
  };
}

/**
 * The jobs a claim with this claim token holds (every job token is `<claim token>.<seq>`): how a claim that runs again
 * after a lost reply finds what its first run took, instead of claiming more and orphaning those until their leases
 * expire. A range on the token rather than LIKE: the claim token may contain `_`. Runs only on such a retry.
 */
export function claimedBySql(t: TableNames, from: string, to: string): string {
  return `SELECT ${JOB_COLUMNS.join(', ')}, token FROM ${t.jobs} WHERE state = 'active' AND token >= ${from} AND token < ${to}`;
}

/** Bounds of {@link claimedBySql} for a claim token ('/' follows '.' in byte order). */
export const tokenRange = (token: string): [string, string] => [`${token}.`, `${token}/`];

/** Rows of {@link claimedBySql} as claimed jobs, in claim order (priority, ready time, insertion). */
export function claimedRows(rows: Record<string, unknown>[]): ClaimedJob[] {
  rows.sort((a, b) => Number(a.priority) - Number(b.priority) || Number(a.run_at) - Number(b.run_at) || Number(a.seq) - Number(b.seq));
  return rows.map((row) => ({ job: toRecord(row), token: String(row.token), payloadBytes: textBytes(row.payload) }));
}
