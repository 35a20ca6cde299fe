import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';

/**
 * PostgreSQL worker writes: each a single fenced UPDATE over a whole batch, joined to `unnest` of typed arrays.
 *
 * Why: the fencing check (`state = 'active' AND token = v.token`) sits in the WHERE clause of the write itself, so
 * it is atomic without a prior read, and `RETURNING id` says which outcomes were accepted. A batch of 100 outcomes
 * is one round trip and one prepared statement. The join to the batch is left to the planner (a hash join against
 * the active rows, or index lookups by id): an `id = ANY($1)` filter would compare every active row with every id.
 */
const CLEAR_LEASE = 'token = NULL, worker_id = NULL, lease_expires_at = NULL';

/**
 * A select-list item that turns off `synchronous_commit` for the statement's own (implicit) transaction only: the
 * commit returns without waiting for the WAL flush, which is most of a small write's latency. Used for claims,
 * heartbeats and outcomes, never for inserts: if PostgreSQL itself crashes, the last few hundred ms of such commits
 * can be forgotten, and the worst outcome is that those jobs run again (at-least-once); an acknowledged enqueue is
 * never lost.
 */
export const ASYNC_COMMIT = `set_config('synchronous_commit', 'off', true) AS async_commit`;

/** The `WITH` clause carrying {@link ASYNC_COMMIT}, joined into each write below when enabled. */
const cfg = (on: boolean) => (on ? { with: `cfg AS (SELECT ${ASYNC_COMMIT})`, from: ', cfg' } : { with: '', from: '' });

/** $1 ids, $2 tokens, $3 results (JSON text). Returns the accepted ids. */
export function completeSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET state = 'completed', result = v.result, finished_at = ${postgres.nowMs}, ${CLEAR_LEASE}
FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, token, result)${c.from}
WHERE j.id = v.id AND j.token = v.token AND j.state = 'active'
RETURNING j.id`;
}

/**
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

/** $1 ids, $2 tokens, $3 lease ms. Returns the ids whose lease is still held (and now extended). */
export function heartbeatSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET lease_expires_at = ${postgres.nowMs} + $3::bigint
FROM unnest($1::text[], $2::text[]) AS v(id, token)${c.from}
WHERE j.id = v.id AND j.token = v.token AND j.state = 'active'
RETURNING j.id`;
}
