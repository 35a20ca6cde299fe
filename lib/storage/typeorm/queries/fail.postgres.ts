import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { asyncCommitCte as cfg, CLEAR_LEASE } from './async-commit.postgres.js';

/**
 * PostgreSQL failure of a batch (retry later, retry now, or fail for good): one fenced UPDATE joined to `unnest`.
 *
 * Why: the fencing check (`state = 'active' AND token = v.token`) sits in the WHERE clause of the write itself, so
 * it is atomic without a prior read, and `RETURNING` says which outcomes were accepted. A batch of 100 outcomes is
 * one round trip and one prepared statement. The join to the batch is left to the planner (a hash join against the
 * active rows, or index lookups by id): an `id = ANY($1)` filter would compare every active row with every id.
 *
 * $1 ids, $2 tokens, $3 errors (JSON text of one entry each), $4 retry delays in ms (NULL: fail for good),
 * $5 notification channel. The error is appended to the stored JSON array as text, so long histories are not
 * re-parsed; jobs that are ready again at once notify their queue.
 */
export function failSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `WITH n AS (SELECT ${postgres.nowMs} AS now)${c.with ? `, ${c.with}` : ''}
UPDATE ${t.jobs} AS j
SET state = CASE WHEN v.delay IS NULL THEN 'failed' WHEN v.delay > 0 THEN 'scheduled' ELSE 'waiting' END,
    errors = CASE WHEN j.errors = '[]' THEN '[' || v.error || ']' ELSE left(j.errors, -1) || ',' || v.error || ']' END,
    finished_at = CASE WHEN v.delay IS NULL THEN n.now ELSE NULL END,
    run_at = CASE WHEN v.delay IS NULL THEN j.run_at ELSE n.now + v.delay END,
    ${CLEAR_LEASE}
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, token, error, delay), n${c.from}
WHERE j.id = v.id AND j.token = v.token AND j.state = 'active'
RETURNING j.id, j.state, j.run_at, CASE WHEN j.state = 'waiting' THEN pg_notify($5, j.queue)::text END AS notified`;
}

