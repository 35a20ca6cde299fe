import { postgres } from '../dialect.js';
import { ASYNC_COMMIT } from './async-commit.postgres.js';
import type { TableNames } from '../schema.js';
import { rankSql } from './claim.js';
import { CHILD_MARK_SQL } from './flows.js';

/**
 * Columns a claim returns. The eight that are empty for a job's first attempt (and headers, absent unless the
 * producer traced the enqueue, and a flow child's parent link) travel as one JSON array (`extra`), NULL in the common case.
 */
export const CLAIMED_COLUMNS = `u.id, u.task, u.payload, u.priority, u.attempt, u.max_attempts, u.run_at, u.created_at, u.seq,
  CASE WHEN u.timeout_ms IS NULL AND u.backoff IS NULL AND u.progress IS NULL AND u.result IS NULL AND u.errors = '[]' AND u.logs = '[]'
    AND u.stalls = 0 AND u.headers IS NULL AND u.parent_id IS NULL
    THEN NULL ELSE json_build_array(u.timeout_ms, u.backoff, u.progress, u.result, u.errors, u.logs, u.stalls, u.headers, u.parent_id, u.on_failure)::text END AS extra`;

/**
 * PostgreSQL claim: one statement, one round trip, many jobs.
 *
 * Why this shape:
 * - `FOR UPDATE SKIP LOCKED` in the CTE lets concurrent claimers each take different rows without waiting on one
 *   another. The scan runs on the partial index `(queue, priority, run_at, seq) WHERE state IN ('waiting',
 *   'scheduled') AND group_name IS NULL` in claim order, so it reads only as many rows as it returns (the `state IN`
 *   and `group_name` terms are repeated so the planner can use the partial index). Due `scheduled` jobs are claimed directly, no promotion step needed.
 * - The UPDATE finds the chosen rows by their physical address (`ctid = ANY(ARRAY(...))`, a TID scan): the CTE
 *   holds each row's lock, so no other transaction can move it before the UPDATE of the same statement, and the
 *   TID scan costs a fifth of looking 300 ids up again in the primary key. (A join to the CTE would let the planner
 *   hash-join against a scan of the whole table, finished jobs included.)
 * - The lease comes from the database clock and the attempt is counted here, at claim. Each job gets its own token
 *   (claim token + row seq, and a flow child's mark), so fencing is per job. The first `$6` rows of `c` (claim order: `c` is materialised,
 *   as it is read twice, and read in the order its ORDER BY produced) start at once and get `started_at`; the rest
 *   wait in the worker's buffer with `started_at` NULL until it marks them, so recovery can tell them apart.
 * - It returns only what the worker cannot know ({@link CLAIMED_COLUMNS}): decoding each returned field costs the
 *   worker more than the rest of the claim (23 columns: 16 µs per job in Node; 11: 9 µs). State, start, lease,
 *   worker id and token follow from the claim itself (see `claimedRecord`).
 * - Pause: two reads of the flow table's primary key, each run once per statement (they do not depend on the row):
 *   nothing when the queue is paused, and no job of a paused task.
 * - Groups: two probes of the partial index of grouped claimable jobs (`_grouped`, empty when no job has a group),
 *   once per statement: while grouped jobs wait the statement claims nothing, and the store takes the general
 *   claim, whose lanes take turns (queries/groups.ts). The jobs it does claim are then never grouped.
 * - The text depends only on whether `priorities` and aging are used, so node-postgres prepares it once per
 *   connection. With `asyncCommit` the transaction does not wait for its WAL flush (see ASYNC_COMMIT).
 *
 * Parameters: $1 queue, $2 limit, $3 workerId, $4 leaseMs, $5 token, $6 startNow, [$7 priority levels int[]].
 */
export function claimSql(t: TableNames, opts: { priorities: boolean; agingMs?: number; asyncCommit: boolean }): string {
  const rank = rankSql(opts.agingMs, 'n.now');
  return `WITH n AS (SELECT ${postgres.nowMs} AS now${opts.asyncCommit ? `, ${ASYNC_COMMIT}` : ''}),
c AS (
  SELECT j.ctid AS tid
  FROM ${t.jobs} j, n
  WHERE j.queue = $1 AND j.state IN ('waiting', 'scheduled') AND (j.state = 'waiting' OR j.run_at <= n.now) AND j.group_name IS NULL
    AND NOT EXISTS (SELECT 1 FROM ${t.flow} p WHERE p.queue = $1 AND p.task = '' AND p.paused = 1)
    AND j.task <> ALL(ARRAY(SELECT p.task FROM ${t.flow} p WHERE p.queue = $1 AND p.paused = 1))
    AND NOT EXISTS (SELECT 1 FROM ${t.jobs} g WHERE g.queue = $1 AND g.group_name IS NOT NULL AND g.state = 'waiting')
    AND NOT EXISTS (SELECT 1 FROM ${t.jobs} g WHERE g.queue = $1 AND g.group_name IS NOT NULL AND g.state = 'scheduled' AND g.run_at <= ${postgres.nowMs})
    ${opts.priorities ? 'AND j.priority = ANY($7::int[])' : ''}
  ORDER BY ${rank}, j.run_at, j.seq
  LIMIT $2
  FOR UPDATE OF j SKIP LOCKED
)
UPDATE ${t.jobs} AS u
SET state = 'active', attempt = u.attempt + 1, worker_id = $3, lease_expires_at = n.now + $4::bigint,
    started_at = CASE WHEN u.ctid = ANY(ARRAY(SELECT tid FROM c LIMIT $6)) THEN n.now END,
    token = $5 || '.' || u.seq::text || ${CHILD_MARK_SQL('u.parent_id')}
FROM n
WHERE u.ctid = ANY(ARRAY(SELECT tid FROM c))
RETURNING ${CLAIMED_COLUMNS}, n.now AS now, ${rankSql(opts.agingMs, 'n.now').replace(/\b(priority|run_at)\b/g, 'u.$1')} AS rnk`;
}
