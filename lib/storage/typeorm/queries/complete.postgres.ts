import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { asyncCommitCte as cfg, CLEAR_LEASE, FENCE } from './async-commit.postgres.js';

/**
 * PostgreSQL completion of a batch: one fenced UPDATE joined to `unnest` of typed arrays.
 *
 * Fenced by {@link FENCE}; a batch of any size is one round trip and one prepared statement. A job whose start mark
 * had not landed yet (a short handler finishes before its mark's round trip) gets its finish time as start.
 * A flow's child (`parent_id` set) is left out, so the statement stays one UPDATE for every other job: the store
 * completes the ids it did not accept through the general transaction, which moves the parent with the child.
 *
 * SQL of the completion. $1 ids, $2 tokens, $3 results (JSON text). Returns the accepted ids.
 */
export function completeSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET state = 'completed', result = v.result, finished_at = ${postgres.nowMs}, started_at = COALESCE(j.started_at, ${postgres.nowMs}),
    ${CLEAR_LEASE}
FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, token, result)${c.from}
WHERE ${FENCE} AND j.parent_id IS NULL
RETURNING j.id`;
}

/**
 * SQL of the completion of jobs whose task keeps no completed jobs: the row is deleted, which costs PostgreSQL a
 * third less than writing it again as `completed` (no new row version, no index entry); never a flow's child, as
 * above. $1 ids, $2 tokens.
 * Returns the accepted ids.
 */
export function completeRemoveSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}DELETE FROM ${t.jobs} AS j
USING unnest($1::text[], $2::text[]) AS v(id, token)${c.from}
WHERE ${FENCE} AND j.parent_id IS NULL
RETURNING j.id`;
}
