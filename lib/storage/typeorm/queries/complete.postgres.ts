import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { asyncCommitCte as cfg, CLEAR_LEASE } from './async-commit.postgres.js';

/**
 * PostgreSQL completion of a batch: one fenced UPDATE joined to `unnest` of typed arrays.
 *
 * Why: the fencing check (`state = 'active' AND token = v.token`) sits in the WHERE clause of the write itself, so
 * it is atomic without a prior read, and `RETURNING` says which outcomes were accepted. A batch of 100 outcomes is
 * one round trip and one prepared statement. The join to the batch is left to the planner (a hash join against the
 * active rows, or index lookups by id): an `id = ANY($1)` filter would compare every active row with every id.
 *
 * SQL of the completion. $1 ids, $2 tokens, $3 results (JSON text). Returns the accepted ids.
 */
export function completeSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET state = 'completed', result = v.result, finished_at = ${postgres.nowMs}, ${CLEAR_LEASE}
FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, token, result)${c.from}
WHERE j.id = v.id AND j.token = v.token AND j.state = 'active'
RETURNING j.id`;
}

