import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { asyncCommitCte as cfg, FENCE } from './async-commit.postgres.js';

/**
 * PostgreSQL lease renewal of a batch: one fenced UPDATE joined to `unnest`; the ids it does not return have lost
 * their lease (taken over, cancelled, finished).
 *
 * Fenced by {@link FENCE}; a batch of any size is one round trip and one prepared statement.
 *
 * $1 ids, $2 tokens, $3 lease ms. Returns the ids whose lease is still held (and now extended).
 */
export function heartbeatSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET lease_expires_at = ${postgres.nowMs} + $3::bigint
FROM unnest($1::text[], $2::text[]) AS v(id, token)${c.from}
WHERE ${FENCE}
RETURNING j.id`;
}

/**
 * PostgreSQL start marks of a batch of prefetched jobs (see `JobStorage.markStarted`): the same fenced UPDATE over
 * `unnest` as a heartbeat, one round trip and one prepared statement. `started_at` is in no index, so PostgreSQL can
 * write the new row version as a heap-only tuple on the same page.
 *
 * $1 ids, $2 tokens. Returns the ids marked.
 */
export function markStartedSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `${c.with ? `WITH ${c.with}\n` : ''}UPDATE ${t.jobs} AS j
SET started_at = ${postgres.nowMs}
FROM unnest($1::text[], $2::text[]) AS v(id, token)${c.from}
WHERE ${FENCE}
RETURNING j.id`;
}
