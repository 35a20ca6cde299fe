import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { END_LEASE } from '../rows.js';
import { asyncCommitCte as cfg, FENCE } from './async-commit.postgres.js';

/**
 * PostgreSQL completion of a batch: one fenced UPDATE joined to `unnest` of the ids and tokens, zipped by `ROWS FROM`
 * with the results, which come as one JSON array of their texts (as an insert's payloads do): an object result holds
 * quotes, and a `text[]` literal escapes them in JavaScript, about 1 µs per result against 0.1 for `JSON.stringify`.
 *
 * Fenced by {@link FENCE}; a batch of any size is one round trip and one prepared statement. A job whose start mark
 * had not landed yet (a short handler finishes before its mark's round trip) gets its finish time as start.
 *
 * SQL of the completion. $1 ids, $2 tokens (`text[]`), $3 results (a JSON array of JSON texts). Returns the accepted
 * ids.
 */
export function completeSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET state = 'completed', result = v.result, finished_at = ${postgres.nowMs}, started_at = COALESCE(j.started_at, ${postgres.nowMs}),
    ${END_LEASE}
FROM ROWS FROM (unnest($1::text[], $2::text[]), json_array_elements_text($3::json)) AS v(id, token, result)${c.from}
WHERE ${FENCE}
RETURNING j.id`;
}

/**
 * SQL of the completion of flow children (their tokens carry the child mark, see queries/flows.ts), which moves their
 * parents in the same statement, so in the same transaction. $1 ids, $2 tokens, $3 results, $4 notification channel.
 *
 * Why this shape: `done` completes the children (fenced as above) and returns their parents; `par` counts each
 * parent down by its children in this batch and, at 0, makes it `waiting` (or `scheduled` until its `run_at`). Two
 * statements ending children of one parent at once queue on the parent's row lock, and READ COMMITTED re-evaluates
 * the second one's `kids - n` and its `state = 'waiting-children'` test on the row the first committed (EvalPlanQual),
 * so exactly one of them releases it: a counter `UPDATE ... RETURNING`, no read before it. A completion never fails a
 * parent, so nothing cascades up (failures take the general transaction, queries/flows.ts). Rows come back tagged
 * `c` (an accepted child) or `p` (a parent this statement released), with a NOTIFY per parent now waiting. `locked`
 * takes the parents' row locks in id order first (a LockRows above the sort), so two batches that meet on two
 * parents queue instead of deadlocking (without it, 40 concurrent batches mixing children of 4 parents deadlocked
 * again and again, each found only after `deadlock_timeout`); the store still runs the statement again on one.
 * Parents are always locked after children, so a child's failure (the general transaction: child, then parents in
 * id order) cannot close a cycle either.
 */
export function completeChildrenSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `WITH n AS (SELECT ${postgres.nowMs} AS now)${c.with ? `, ${c.with}` : ''},
done AS (
  UPDATE ${t.jobs} AS j
  SET state = 'completed', result = v.result, finished_at = n.now, started_at = COALESCE(j.started_at, n.now), ${END_LEASE}
  FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, token, result), n${c.from}
  WHERE ${FENCE}
  RETURNING j.id, j.parent_id
),
ended AS (SELECT parent_id AS id, count(*)::int AS n FROM done WHERE parent_id IS NOT NULL GROUP BY parent_id),
locked AS (SELECT p.id, e.n FROM ${t.jobs} AS p JOIN ended AS e ON p.id = e.id ORDER BY p.id FOR UPDATE OF p),
par AS (
  UPDATE ${t.jobs} AS p
  SET kids = p.kids - e.n,
      state = CASE WHEN p.kids > e.n THEN p.state WHEN p.run_at > n.now THEN 'scheduled' ELSE 'waiting' END,
      run_at = CASE WHEN p.kids > e.n THEN p.run_at ELSE GREATEST(p.run_at, n.now) END
  FROM locked AS e, n
  WHERE p.id = e.id AND p.state = 'waiting-children'
  RETURNING p.id, p.state, p.run_at, p.queue
)
SELECT 'c' AS kind, id, NULL::text AS state, NULL::bigint AS run_at, NULL::text AS notified FROM done
UNION ALL
SELECT 'p', id, state, run_at, CASE WHEN state = 'waiting' THEN pg_notify($4, queue)::text END FROM par`;
}

/**
 * SQL of the completion of jobs whose task keeps no completed jobs: the row is deleted, which costs PostgreSQL a
 * third less than writing it again as `completed` (no new row version, no index entry). $1 ids, $2 tokens.
 * Returns the accepted ids.
 */
export function completeRemoveSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}DELETE FROM ${t.jobs} AS j
USING unnest($1::text[], $2::text[]) AS v(id, token)${c.from}
WHERE ${FENCE}
RETURNING j.id`;
}
