import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { asyncCommitCte as cfg, CLEAR_LEASE, FENCE } from './async-commit.postgres.js';

/**
 * PostgreSQL completion of a batch: one fenced UPDATE joined to `unnest` of typed arrays.
 *
 * Fenced by {@link FENCE}; a batch of any size is one round trip and one prepared statement. A job whose start mark
 * had not landed yet (a short handler finishes before its mark's round trip) gets its finish time as start.
 *
 * SQL of the completion. $1 ids, $2 tokens, $3 results (JSON text). Returns the accepted ids.
 */
export function completeSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET state = 'completed', result = v.result, finished_at = ${postgres.nowMs}, started_at = COALESCE(j.started_at, ${postgres.nowMs}),
    ${CLEAR_LEASE}
FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, token, result)${c.from}
WHERE ${FENCE}
RETURNING j.id`;
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
