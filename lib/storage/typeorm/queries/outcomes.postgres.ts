import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';

/**
 * PostgreSQL worker writes: each a single fenced UPDATE over a whole batch, joined to `unnest` of typed arrays.
 *
 * Why: the fencing check (`state = 'active' AND token = v.token`) sits in the WHERE clause of the write itself, so
 * it is atomic without a prior read, and `RETURNING id` says which outcomes were accepted. A batch of 100 outcomes
 * is one round trip and one prepared statement; rows are found through the unique index on `id`.
 */
const CLEAR_LEASE = 'token = NULL, worker_id = NULL, lease_expires_at = NULL';

/** $1 ids, $2 tokens, $3 results (JSON text). Returns the accepted ids. */
export function completeSql(t: TableNames): string {
  return `UPDATE ${t.jobs} AS j
SET state = 'completed', result = v.result, finished_at = ${postgres.nowMs}, ${CLEAR_LEASE}
FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, token, result)
WHERE j.id = v.id AND j.token = v.token AND j.state = 'active'
RETURNING j.id`;
}

/**
 * $1 ids, $2 tokens, $3 errors (JSON text of one entry each), $4 retry delays in ms (NULL: fail for good),
 * $5 notification channel. The error is appended to the stored JSON array as text, so long histories are not
 * re-parsed; jobs that are ready again at once notify their queue.
 */
export function failSql(t: TableNames): string {
  return `WITH n AS (SELECT ${postgres.nowMs} AS now)
UPDATE ${t.jobs} AS j
SET state = CASE WHEN v.delay IS NULL THEN 'failed' WHEN v.delay > 0 THEN 'scheduled' ELSE 'waiting' END,
    errors = CASE WHEN j.errors = '[]' THEN '[' || v.error || ']' ELSE left(j.errors, -1) || ',' || v.error || ']' END,
    finished_at = CASE WHEN v.delay IS NULL THEN n.now ELSE NULL END,
    run_at = CASE WHEN v.delay IS NULL THEN j.run_at ELSE n.now + v.delay END,
    ${CLEAR_LEASE}
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, token, error, delay), n
WHERE j.id = v.id AND j.token = v.token AND j.state = 'active'
RETURNING j.id, j.state, j.run_at, CASE WHEN j.state = 'waiting' THEN pg_notify($5, j.queue)::text END AS notified`;
}

/** $1 ids, $2 tokens, $3 lease ms. Returns the ids whose lease is still held (and now extended). */
export function heartbeatSql(t: TableNames): string {
  return `UPDATE ${t.jobs} AS j
SET lease_expires_at = ${postgres.nowMs} + $3::bigint
FROM unnest($1::text[], $2::text[]) AS v(id, token)
WHERE j.id = v.id AND j.token = v.token AND j.state = 'active'
RETURNING j.id`;
}
