import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { asyncCommitCte as cfg } from './async-commit.postgres.js';

/**
 * PostgreSQL lease renewal of a batch: one fenced UPDATE joined to `unnest`; the ids it does not return have lost
 * their lease (taken over, cancelled, finished).
 *
 * Why: the fencing check (`state = 'active' AND token = v.token`) sits in the WHERE clause of the write itself, so
 * it is atomic without a prior read, and `RETURNING` says which outcomes were accepted. A batch of 100 outcomes is
 * one round trip and one prepared statement. The join to the batch is left to the planner (a hash join against the
 * active rows, or index lookups by id): an `id = ANY($1)` filter would compare every active row with every id.
 *
 * $1 ids, $2 tokens, $3 lease ms. Returns the ids whose lease is still held (and now extended).
 */
export function heartbeatSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET lease_expires_at = ${postgres.nowMs} + $3::bigint
FROM unnest($1::text[], $2::text[]) AS v(id, token)${c.from}
WHERE j.id = v.id AND j.token = v.token AND j.state = 'active'
RETURNING j.id`;
}
